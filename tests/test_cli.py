"""Every ``npslim`` subcommand, run as a user would (a subprocess), on a tiny budget."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from npslim.train import load_npz

TINY = ["-n", "6", "--epochs", "2", "--no-progress"]


def npslim(*args, cwd=None, timeout=180):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "npslim", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)
    return proc


@pytest.mark.parametrize("command, options", [
    ("train", ["--task", "--cell", "--hidden-size", "--epochs", "--batch-size", "--optimizer", "--lr", "--clip",
               "--schedule", "--patience", "--seed", "--out", "--no-progress", "--resume", "--tbptt", "--dtype"]),
    ("compare", ["--task", "--cells", "--hidden-size", "--epochs", "--batch-size", "--optimizer", "--lr", "--clip",
                 "--patience", "--seed", "--out", "--no-progress"]),
    ("gradcheck", ["--cells", "--tol"]),
    ("cells", ["--input-size", "--hidden-size"]),
])
def test_help_explains_every_option(command, options):
    proc = npslim(command, "--help")
    assert proc.returncode == 0, proc.stderr
    for option in options:
        assert option in proc.stdout, option
    assert "show this help message" in proc.stdout


def test_train_writes_a_run_folder_and_resumes_bit_exactly(tmp_path):
    run = tmp_path / "run"
    proc = npslim("train", "--task", "digits-rows", "--cell", "gru", *TINY, "--seed", "3", "--out", run)
    assert proc.returncode == 0, proc.stderr
    assert str(run) in proc.stdout and "best val_accuracy" in proc.stdout
    for name in ("config.json", "history.json", "history.csv", "curves.png", "gates.png", "checkpoint.npz",
                 "best.npz"):
        assert (run / name).stat().st_size > 0, name
    config = json.loads((run / "config.json").read_text())
    assert config["cells"] == ["gru"] and config["trainer"]["seed"] == 3 and config["hidden_size"] == 6
    assert len(json.loads((run / "history.json").read_text())) == 2
    assert len((run / "history.csv").read_text().splitlines()) == 3

    proc = npslim("train", "--resume", run, "--epochs", "3", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "resumed after epoch 2" in proc.stdout
    straight = tmp_path / "straight"
    proc = npslim("train", "--cell", "gru", "-n", "6", "--epochs", "3", "--no-progress", "--seed", "3",
                  "--out", straight)
    assert proc.returncode == 0, proc.stderr
    a, b = load_npz(run / "checkpoint.npz"), load_npz(straight / "checkpoint.npz")
    assert int(a["epoch"]) == int(b["epoch"]) == 3
    for key in a:
        if key.startswith("model/"):
            assert np.array_equal(a[key], b[key]), key

    # a new run into a folder that holds one is refused, and the saved run is untouched
    before = (run / "checkpoint.npz").read_bytes()
    proc = npslim("train", "--cell", "gru", *TINY, "--out", run)
    assert proc.returncode != 0 and "already holds a run" in proc.stderr and "--resume" in proc.stderr
    assert (run / "checkpoint.npz").read_bytes() == before


def test_train_default_folder_and_divergence(tmp_path):
    proc = npslim("train", "--cell", "lstm", "--optimizer", "sgd", "--lr", "1e38", "--clip", "0", *TINY, cwd=tmp_path)
    assert proc.returncode == 1
    assert "training diverged: non-finite loss" in proc.stderr and "at epoch 1, step" in proc.stderr
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-digits-rows-lstm") and str(folder.relative_to(tmp_path)) in proc.stdout
    assert (folder / "config.json").exists() and (folder / "history.json").exists()


def test_compare_prints_the_table_and_writes_one_figure(tmp_path):
    out = tmp_path / "cmp"
    proc = npslim("compare", "--task", "digits-rows", "--cells", "lstm,no_such_cell,lstm_c6", *TINY, "--out", out)
    assert proc.returncode == 1 and "'no_such_cell'" in proc.stderr and not out.exists()
    proc = npslim("compare", "--task", "digits-rows", "--cells", "lstm,lstm_c6", *TINY, "--out", out)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(k for k, line in enumerate(lines) if line.startswith("cell "))
    assert "parameters" in lines[header] and "s/epoch" in lines[header] and "test accuracy at best epoch" in lines[header]
    rows = [line.split() for line in lines[header + 2: header + 4]]
    assert [r[0] for r in rows] == ["lstm", "lstm_c6"]
    assert all(0.0 <= float(r[4]) <= 1.0 for r in rows)
    for name in ("config.json", "history.json", "history.csv", "curves.png", "results.txt",
                 "lstm/checkpoint.npz", "lstm/gates.png", "lstm_c6/checkpoint.npz"):
        assert (out / name).stat().st_size > 0, name
    assert set(json.loads((out / "history.json").read_text())) == {"lstm", "lstm_c6"}
    assert str(out) in proc.stdout


def test_gradcheck_and_cells():
    proc = npslim("gradcheck", "--cells", "lstm,gru", "-T", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 of 2 cells pass" in proc.stdout
    proc = npslim("cells", "-m", "28", "-n", "50")
    assert proc.returncode == 0, proc.stderr
    lstm = next(line for line in proc.stdout.splitlines() if line.startswith("lstm "))
    assert "15,950" in lstm            # 4(mn + n² + n) + 3n at m = 28, n = 50
