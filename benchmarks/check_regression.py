"""Compare a fresh benchmark run against the stored table; exit 1 if anything slowed down by more than 15%.

    python benchmarks/check_regression.py                         # fresh run with the stored table's settings
    python benchmarks/check_regression.py --quick --only lstm     # a shorter fresh run
    python benchmarks/check_regression.py --fresh other.json      # compare two result files
    python benchmarks/check_regression.py --ratios-only           # another machine: only the ratios

Compared, each as "fresh / stored − 1" (positive: slower):
  time|...   npslim's median seconds per case (lstm, cell, epoch, job): meaningful on the same machine only
  ratio|...  npslim/torch (lstm, epoch) and cell/lstm, per round then median: less sensitive to the machine
A metric is flagged when it grew by more than ``--tolerance`` (0.15).  Cases missing from either
run are listed, not flagged.  This is a benchmark script, not a test: it takes minutes and needs a
quiet machine to mean anything.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402

TOLERANCE = 0.15


def metrics(result, ratios_only=False):
    """name -> value (higher is worse) from a results dict of run.main()."""
    out = {k: v["median"] for k, v in run.ratios(result).items()}
    if not ratios_only:
        out.update({f"time|{k}": v["median"] for k, v in run.summarize(result["records"]).items() if "|npslim|" in k})
    return out


def compare(stored, fresh, tolerance=TOLERANCE):
    """Rows (name, stored, fresh, change, flagged) for the metrics in both, and the names in one only."""
    rows = []
    for name in sorted(set(stored) & set(fresh)):
        change = fresh[name] / stored[name] - 1.0
        rows.append((name, stored[name], fresh[name], change, change > tolerance))
    return rows, sorted(set(stored) ^ set(fresh))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default=str(run.BASELINE), help="the stored table (default %(default)s)")
    ap.add_argument("--fresh", help="a results file to compare (default: run the benchmark now)")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest accepted slowdown (default 0.15)")
    ap.add_argument("--ratios-only", action="store_true", help="compare only the ratios (another machine)")
    ap.add_argument("--quick", action="store_true", help="fresh run: run.py --quick")
    ap.add_argument("--only", help="fresh run: run.py --only (default: the kinds in the stored table)")
    ap.add_argument("--npslim", default=str(HERE.parent), help="fresh run: the checkout to benchmark")
    args = ap.parse_args(argv)
    stored = json.loads(Path(args.baseline).read_text())
    if args.fresh:
        fresh = json.loads(Path(args.fresh).read_text())
    else:
        kinds = sorted({r["spec"]["kind"] for r in stored["records"]})
        only = args.only or ",".join("cells" if k == "cell" else k for k in kinds)
        out = Path(tempfile.mkdtemp()) / "fresh.json"
        argv_run = ["--npslim", args.npslim, "--out", str(out), "--only", only,
                    "--threads", ",".join(str(t) for t in stored["threads"])]
        argv_run += ["--quick"] if args.quick else ["--rounds", str(stored["params"]["rounds"])]
        fresh = run.main(argv_run)
        print(f"fresh run: {out}")
    rows, unmatched = compare(metrics(stored, args.ratios_only), metrics(fresh, args.ratios_only), args.tolerance)
    print(f"stored {stored['date']} ({stored.get('commit')}), fresh {fresh['date']} ({fresh.get('commit')}); "
          f"tolerance +{args.tolerance:.0%}")
    print(f"{'metric':<48} {'stored':>10} {'fresh':>10} {'change':>8}")
    for name, a, b, change, flagged in rows:
        unit = 1e3 if name.startswith("time|") else 1.0
        print(f"{name:<48} {a * unit:>10.3f} {b * unit:>10.3f} {change:>+8.1%}{'  SLOWER' if flagged else ''}")
    if unmatched:
        print(f"in one run only (not compared): {', '.join(unmatched)}")
    slower = [r for r in rows if r[4]]
    print(f"{len(slower)} of {len(rows)} metrics slower by more than {args.tolerance:.0%}" if slower
          else f"no regression: all {len(rows)} metrics within +{args.tolerance:.0%}")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
