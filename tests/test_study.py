"""npslim.study: the plan, the Dask runner (a real LocalCluster), the store, resume, the analysis."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from npslim.study import analysis, runner, space as space_mod
from npslim.study.store import Store, StudyError, open_folder

ROOT = Path(__file__).resolve().parents[1]
#: a tiny study: trials of about a second on one core
TINY_SPACE = {"hidden_size": {"dist": "int_loguniform", "low": 4, "high": 16},
              "lr": {"dist": "loguniform", "low": 1e-3, "high": 1e-1},
              "momentum": {"dist": "one_minus_loguniform", "low": 0.01, "high": 1.0},
              "input_noise": {"dist": "uniform", "low": 0.0, "high": 0.2}}
TINY_TASK = {"T": 10, "n_train": 200, "n_test": 100}
CELLS = ["lstm", "nfg", "cifg"]


def tiny_definition(trials=4, epochs=2, seed=0, cells=CELLS):
    return runner.make_definition("adding", cells, trials, seed=seed, space=TINY_SPACE, task_options=TINY_TASK,
                                  epochs=epochs, batch_size=8, patience=None)


def rows(folder):
    with sqlite3.connect(Path(folder) / "results.sqlite") as db:
        return db.execute("SELECT trial_id, status, recorded_at FROM trials").fetchall()


@pytest.fixture(scope="module")
def client():
    c, cluster = runner.start_client(workers=2)
    yield c
    c.close()
    cluster.close()


# ---------------------------------------------------------------------------- plan and space
def test_draws_are_reproducible_independent_per_cell_and_in_range():
    a = space_mod.draw_trials(["lstm", "nfg"], 50, 7, space_mod.SearchSpace())
    b = space_mod.draw_trials(["lstm", "nfg"], 50, 7, space_mod.SearchSpace())
    assert a == b and len(a) == 100 and len({t["trial_id"] for t in a}) == 100
    assert [t["params"] for t in a[:50]] != [t["params"] for t in a[50:]]          # each cell its own draws
    assert space_mod.draw_trials(["lstm"], 3, 7, space_mod.SearchSpace()) == a[:3]  # not tied to the count
    p = np.array([[t["params"][k] for k in ("hidden_size", "lr", "momentum", "input_noise")] for t in a])
    assert p[:, 0].min() >= 20 and p[:, 0].max() <= 200 and np.all(p[:, 0] == np.round(p[:, 0]))
    assert 1e-6 <= p[:, 1].min() and p[:, 1].max() <= 1e-2
    assert 0.0 <= p[:, 2].min() and p[:, 2].max() <= 0.99 and 0 <= p[:, 3].min() and p[:, 3].max() <= 1
    assert np.median(np.log10(p[:, 1])) == pytest.approx(-4, abs=0.6)               # log-uniform, not uniform


# ---------------------------------------------------------------------------- the runner on a LocalCluster
def test_local_cluster_study_records_every_trial_once(client, tmp_path):
    summary = runner.run_study(tmp_path / "s", tiny_definition(), client=client, progress=False)
    got = rows(tmp_path / "s")
    assert summary["recorded"] == summary["planned"] == 12 and len(got) == 12
    assert {r[0] for r in got} == {f"{c}/{k:04d}" for c in CELLS for k in range(4)}
    assert all(r[1] == "ok" for r in got)
    _, results = analysis.load(tmp_path / "s")
    r = results[0]
    assert r["n_params"] > r["cell_params"] > 0 and r["seconds"] > 0 and r["cpu_seconds"] > 0 and r["test"] is not None
    assert len({r["worker"] for r in results}) == 2                                  # both workers ran trials
    again = runner.run_study(tmp_path / "s", client=client, progress=False)          # resume: nothing to do
    assert again["ran"] == 0 and rows(tmp_path / "s") == got


def test_killed_worker_mid_study_still_records_exactly_the_plan(client, tmp_path):
    killed = []

    def kill_a_busy_worker(result):
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys] or list(client.processing())
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    runner.run_study(tmp_path / "s", tiny_definition(seed=1), client=client, progress=False,
                     on_record=kill_a_busy_worker)
    got = rows(tmp_path / "s")
    assert killed and len(got) == 12 and len({r[0] for r in got}) == 12
    assert all(status == "ok" for _, status, _ in got)                              # the lost trial was rerun
    client.wait_for_workers(2, timeout=60)


def test_rerun_command_repeats_a_trial_alone(tmp_path):
    definition = tiny_definition(trials=1, cells=["cifg"])
    trial = definition["planned"][0]
    setup = {k: definition[k] for k in ("task", "task_options", "training")}
    result = runner.run_trial(trial, setup)
    words = result["command"].split()
    assert words[:2] == ["npslim", "train"]
    from npslim import cli
    out = tmp_path / "rerun"
    assert cli.main(words[1:words.index("--out")] + ["--out", str(out), "--no-progress"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["val_mse"] for h in history] == [h["val_mse"] for h in result["history"]]


def test_a_failing_trial_is_recorded_as_failed_with_its_reason(tmp_path):
    definition = tiny_definition(trials=1, cells=["lstm"])
    trial = dict(definition["planned"][0], params=dict(definition["planned"][0]["params"], lr=1e6))
    setup = {k: definition[k] for k in ("task", "task_options", "training")}
    result = runner.run_trial(trial, setup)
    assert result["status"] == "failed" and "diverged" in result["reason"]
    with Store(tmp_path / "r.sqlite", "x") as store:
        assert store.record(result) is True and store.record(dict(result, status="ok")) is False
        assert [r["status"] for r in store.results()] == ["failed"]                # the first record stays


def test_killed_client_resumes_without_losing_or_repeating_a_trial(tmp_path):
    folder = tmp_path / "s"
    args = [sys.executable, "-m", "npslim.cli", "study", "--cells", ",".join(CELLS), "--task", "adding",
            "--task-option", "T=10", "--limit", "200", "--limit-test", "100", "--trials", "4", "--epochs", "3",
            "--batch-size", "8", "--workers", "2", "--no-progress", "--out", str(folder)]
    space = tmp_path / "space.json"
    space.write_text(json.dumps(TINY_SPACE))
    args[args.index("--out"):args.index("--out")] = ["--space", str(space)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if (folder / "results.sqlite").exists() and len(rows(folder)) >= 3:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)                  # the client and the cluster it started
        proc.wait()
    before = rows(folder)
    assert 3 <= len(before) < 12, proc.stdout.read().decode()[-2000:]
    done = subprocess.run([sys.executable, "-m", "npslim.cli", "study", "--resume", str(folder), "--workers", "2",
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    after = rows(folder)
    assert len(after) == 12 and len({r[0] for r in after}) == 12
    assert set(before) <= set(after)                         # what was recorded stays exactly as it was
    assert f"{12 - len(before)} run now" in done.stdout


def test_study_on_a_separately_started_scheduler_and_worker(tmp_path):
    """`dask scheduler` and `dask worker` in two processes, as docs/study.md shows."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(info)], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not info.exists() and time.time() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard"], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        summary = runner.run_study(tmp_path / "s", tiny_definition(trials=2, cells=["lstm"]), scheduler=address,
                                   progress=False)
        assert summary["recorded"] == summary["planned"] == 2 and summary["failed"] == 0
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_is_one_clear_line(tmp_path):
    with pytest.raises(StudyError, match=r"^--cells: unknown cell 'lstmx'; registered cells: lstm, "):
        runner.make_definition("adding", ["lstm", "lstmx"], 2)
    with pytest.raises(StudyError, match=r"^space: empty search space"):
        runner.make_definition("adding", ["lstm"], 2, space={"lr": 0.01})
    with pytest.raises(StudyError, match=r"^space: empty search space"):
        runner.make_definition("adding", ["lstm"], 2, space={})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()                                               # a port nobody listens on
    start = time.time()
    with pytest.raises(StudyError, match=rf"^--scheduler: no Dask scheduler answered at tcp://127.0.0.1:{port} "):
        runner.start_client(scheduler=f"tcp://127.0.0.1:{port}", timeout=2)
    assert time.time() - start < 30
    open_folder(tmp_path / "s", tiny_definition(seed=0))[1].close()
    with pytest.raises(StudyError, match=r"^--out: .* holds a different study \(id [0-9a-f]{16}: task adding"):
        open_folder(tmp_path / "s", tiny_definition(seed=5))
    open_folder(tmp_path / "s", tiny_definition(seed=0))[1].close()            # the same study: continues


@pytest.mark.parametrize("argv, expected", [
    (["--cells", "lstm,nope", "--task", "adding", "--out", "{d}"], "--cells: unknown cell 'nope'"),
    (["--cells", "lstm", "--task", "adding", "--space", "{space}", "--out", "{d}"], "--space: space: empty search"),
    (["--cells", "lstm", "--task", "adding", "--scheduler", "tcp://127.0.0.1:9", "--out", "{d}"],
     "--scheduler: no Dask scheduler answered"),
    (["--resume", "{d}"], "--resume: {d} holds no study"),
])
def test_cli_errors_are_one_line(tmp_path, argv, expected):
    from npslim import cli
    (tmp_path / "space.json").write_text("{}")
    fill = {"d": str(tmp_path / "s"), "space": str(tmp_path / "space.json")}
    with pytest.raises(SystemExit) as exc:
        cli.main(["study", *(a.format(**fill) for a in argv)])
    assert str(exc.value).startswith(expected.format(**fill)) and "\n" not in str(exc.value)


# ---------------------------------------------------------------------------- the analysis
def synthetic_study(folder, trials=30):
    """A store where the answer is known: the score is a bump in log10(lr) (best at 1e-3) plus small
    noise; nfg is 0.1 worse by construction; hidden size, momentum and input noise do nothing.  (Each
    cell draws its own learning rates, so a clean variant's mean differs by chance: Holm at α = 0.05
    flags one falsely in at most 5 % of seeds; these fixed draws are not such a case.)"""
    definition = runner.make_definition("adding", ["lstm", "cifg", "nfg", "np"], trials,
                                        seed=3, task_options=TINY_TASK)
    definition, store = open_folder(folder, definition)
    rng = np.random.default_rng(0)
    with store:
        for t in definition["planned"]:
            score = 1.0 - 0.05 * abs(np.log10(t["params"]["lr"]) + 3) + rng.normal(0, 0.01)
            score -= 0.1 if t["cell"] == "nfg" else 0.0
            store.record(dict(t, status="ok", reason=None, metric="mse", val=-score + rng.normal(0, 0.01),
                              test=-score, seconds=1.0, n_params=100, cell_params=80))
    return definition


def test_analysis_ranks_the_driving_hyperparameter_first_and_flags_only_the_worse_variant(tmp_path):
    from npslim.study.report import write_report
    synthetic_study(tmp_path / "s")
    out = write_report(tmp_path / "s")
    assert [r["cell"] for r in out["welch"] if r["significant"]] == ["nfg"]
    assert next(r for r in out["welch"] if r["cell"] == "nfg")["verdict"] == "worse"      # mse: higher is worse
    pooled = out["fanova"]["pooled"]["single"]                  # lr first of the hyperparameters, then the cell
    assert sorted(pooled, key=pooled.get, reverse=True)[:2] in (["lr", "cell"], ["cell", "lr"])
    assert pooled["lr"] + pooled["cell"] > 0.8
    for cell, v in out["fanova"]["per_cell"].items():
        assert max(v["single"], key=v["single"].get) == "lr", cell
    text = out["path"].read_text()
    assert "| nfg |" in text and "worse" in text and "fANOVA" in text
    for name in ("boxplots.png", "marginals.png", "time_vs_params.png", "results.csv"):
        assert (tmp_path / "s" / "report" / name).stat().st_size > 0


def test_holm_matches_its_definition():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    assert np.allclose(analysis.holm(p), [0.04, 0.09, 0.09, 0.2])        # 4·0.01, max(3·0.03, .04), 2·0.04, 0.2
