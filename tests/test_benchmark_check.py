"""The regression check's comparison logic (benchmarks/check_regression.py) on made-up results: no timing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import check_regression  # noqa: E402
import run  # noqa: E402


def record(kind, lib, threads, seconds, rnd, config=None, cell=None):
    spec = {"kind": kind, "lib": lib, "threads": threads}
    if config:
        spec["config"] = config
    if cell:
        spec["cell"] = cell
    return {"spec": spec, "median": seconds, "round": rnd}


def results(npslim_lstm, torch_lstm, gru=None):
    """Two rounds of one lstm case (npslim, torch), and optionally a gru and lstm cell case."""
    recs = []
    for r, (a, b) in enumerate(zip(npslim_lstm, torch_lstm)):
        recs += [record("lstm", "npslim", 1, a, r, [100, 32, 32, 100]),
                 record("lstm", "torch", 1, b, r, [100, 32, 32, 100])]
        if gru:
            recs += [record("cell", "npslim", 1, gru[r], r, [100, 32, 32, 100], "gru"),
                     record("cell", "npslim", 1, a, r, [100, 32, 32, 100], "lstm")]
    return {"records": recs, "summary": run.summarize(recs)}


def test_ratios_are_taken_per_round_then_median():
    res = results([2.0, 3.0], [1.0, 1.0], gru=[1.0, 1.5])
    rat = run.ratios(res)
    assert rat["ratio|lstm|t1|100,32,32,100"] == {"median": 2.5, "min": 2.0, "max": 3.0}
    assert rat["ratio|cell|t1|gru|100,32,32,100"]["median"] == 0.5
    assert not any(k.startswith("ratio|lstm|t1") and "torch" in k for k in rat)


def test_slowdown_over_tolerance_is_flagged_and_others_not():
    stored = check_regression.metrics(results([1.0, 1.0], [1.0, 1.0]))
    same = check_regression.metrics(results([1.1, 1.1], [1.0, 1.0]))          # +10%: within 15%
    slower = check_regression.metrics(results([1.2, 1.2], [1.0, 1.0]))        # +20%: flagged
    rows, unmatched = check_regression.compare(stored, same)
    assert not unmatched and rows and not any(r[4] for r in rows)
    rows, _ = check_regression.compare(stored, slower)
    flagged = {r[0] for r in rows if r[4]}
    assert flagged == {"ratio|lstm|t1|100,32,32,100", "time|lstm|npslim|t1|100,32,32,100"}
    assert abs(dict((r[0], r[3]) for r in rows)["time|lstm|npslim|t1|100,32,32,100"] - 0.2) < 1e-12


def test_faster_is_never_flagged_and_ratios_only_ignores_times():
    stored = check_regression.metrics(results([1.0, 1.0], [1.0, 1.0]), ratios_only=True)
    # a slower machine on which npslim gained on torch
    fresh = check_regression.metrics(results([2.0, 2.0], [4.0, 4.0]), ratios_only=True)
    assert all(k.startswith("ratio|") for k in stored)
    rows, _ = check_regression.compare(stored, fresh)
    assert rows and not any(r[4] for r in rows)


def test_cases_in_one_run_only_are_listed_not_flagged():
    rows, unmatched = check_regression.compare({"time|a": 1.0, "time|b": 1.0}, {"time|a": 1.0, "time|c": 9.0})
    assert [r[0] for r in rows] == ["time|a"] and unmatched == ["time|b", "time|c"]
