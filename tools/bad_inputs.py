"""Try the bad inputs of issue 11 ("Defects found", all but the checkpoint ones) as a new user would, and
classify each outcome:

    clear     an exception (or a CLI exit status != 0) with a one-line message that names the argument
              (a key word given per case), no traceback
    obscure   an exception or CLI failure otherwise (a traceback, a message naming something internal)
    silent    the bad input was accepted, or a wrong result came back without an error
    ok        a valid input that must work (e.g. --dtype float64) did work

    PYTHONPATH=$PWD python tools/bad_inputs.py            # one line per case, then the counts
    PYTHONPATH=$PWD python tools/bad_inputs.py -v         # also each outcome's message

Each CLI case runs ``python -m npslim.cli`` from the current PYTHONPATH in a fresh temporary folder.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

CASES = []


def case(name, key=None, valid=False):
    """Register a case.  ``key``: a word a clear message must contain.  ``valid``: the input is
    valid and must work (a failure is obscure)."""
    def deco(fn):
        CASES.append((name, key, valid, fn))
        return fn
    return deco


class Silent(Exception):
    """The case detected a silently wrong result."""


def cli(*argv, cwd, timeout=300, env=None):
    e = dict(os.environ, OPENBLAS_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "npslim.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=e)


class CliFailure(Exception):
    def __init__(self, proc):
        self.proc = proc
        super().__init__((proc.stderr.strip() or proc.stdout.strip()))


def expect_failure(proc):
    """A CLI run that must fail: raise CliFailure (classified from its stderr) or Silent when it exits 0."""
    if proc.returncode == 0:
        raise Silent(f"exit 0: {proc.stdout.strip().splitlines()[-1:] }")
    raise CliFailure(proc)


QUICK = ("--task", "adding", "--task-option", "T=10", "--epochs", "1", "--limit", "64", "--limit-test", "64",
         "--no-progress", "-n", "8")


# ----------------------------------------------------------------------------------- Python API
@case("Trainer on adding, dtype float64", valid=True)
def _(tmp):
    import npslim.tasks
    from npslim.train import Trainer, build_model
    task = npslim.tasks.make("adding", T=10, n_train=32, n_test=16)
    model = build_model(task, "lstm", 4, dtype="float64")
    Trainer(model, task, progress=False).fit(1)


@case("schedule='loss' divergence (eta0 huge)", key="TrainingDiverged")
def _(tmp):
    import npslim.tasks
    from npslim.train import Trainer, TrainingDiverged, build_model
    task = npslim.tasks.make("adding", T=10, n_train=64, n_test=16)
    model = build_model(task, "lstm", 4)
    try:
        Trainer(model, task, schedule="loss", lr=50.0, clip=None, progress=False, out=tmp / "run").fit(3)
    except TrainingDiverged as exc:
        raise RuntimeError("TrainingDiverged: " + str(exc).splitlines()[0]) from None


@case("make('lstm', peepholes='false') is off", valid=True)
def _(tmp):
    import npslim
    if npslim.cells.make("lstm", 2, 3, peepholes="false").peepholes:
        raise Silent("peepholes on")


@case("make('lstm', peepholes='maybe')", key="peepholes")
def _(tmp):
    import npslim
    npslim.cells.make("lstm", 2, 3, peepholes="maybe")
    raise Silent("accepted")


@case("Recurrent(return_sequences='no') is False", valid=True)
def _(tmp):
    from npslim.layers import Recurrent
    if Recurrent("lstm", 2, 3, return_sequences="no").return_sequences:
        raise Silent("return_sequences True")


@case("make('lstm', foo=1) (unknown option)", key="peepholes")
def _(tmp):
    import npslim
    npslim.cells.make("lstm", 2, 3, foo=1)
    raise Silent("accepted")


@case("make('lstm', dtype=None)", key="dtype")
def _(tmp):
    import npslim
    npslim.cells.make("lstm", 2, 3, dtype=None)
    raise Silent("accepted")


@case("cell.options() lists every option", valid=True)
def _(tmp):
    import npslim
    opts = npslim.cells.make("lstm", 2, 3).options()
    if "peepholes" not in opts:
        raise Silent(f"options() = {opts}")


@case("help(npslim.cells.make) lists each cell's options", valid=True)
def _(tmp):
    import npslim
    doc = npslim.cells.make.__doc__ or ""
    if "peepholes" not in doc or "proj_size" not in doc:
        raise Silent("options not in the docstring")


def _cells(a, b, dtype_a="float64", dtype_b="float64", n_b=3):
    import npslim
    A = npslim.cells.make(a, 2, 3, seed=0, dtype=dtype_a)
    B = npslim.cells.make(b, 2, n_b, seed=1, dtype=dtype_b)
    X = np.random.default_rng(0).standard_normal((4, 2, 2)).astype(dtype_b)
    _, _, cache = B.forward(X)
    return A, cache


@case("backward with the cache of another lstm (other weights)", key="cache")
def _(tmp):
    A, cache = _cells("lstm", "lstm")
    A.backward(np.ones((4, 2, 3)), cache)
    raise Silent("wrong gradients returned")


@case("backward: float32 cache into a float64 cell", key="cache")
def _(tmp):
    A, cache = _cells("lstm", "lstm", dtype_b="float32")
    A.backward(np.ones((4, 2, 3)), cache)
    raise Silent("wrong gradients returned")


@case("backward: rnn fed a gru cache", key="cache")
def _(tmp):
    A, cache = _cells("rnn", "gru")
    A.backward(np.ones((4, 2, 3)), cache)
    raise Silent("wrong gradients returned")


@case("backward: cache None", key="cache")
def _(tmp):
    import npslim
    npslim.cells.make("gru", 2, 3, dtype="float64").backward(np.ones((4, 2, 3)), None)
    raise Silent("accepted")


@case("backward: cache of a cell of another size", key="cache")
def _(tmp):
    A, cache = _cells("gru", "gru", n_b=5)
    A.backward(np.ones((4, 2, 3)), cache)
    raise Silent("accepted")


@case("NaN in padded steps with Recurrent(lengths=...)", valid=True)
def _(tmp):
    from npslim.layers import Recurrent
    layer = Recurrent("lstm", 2, 3, dtype="float64")
    X = np.random.default_rng(0).standard_normal((5, 2, 2))
    X[3:, 0] = np.nan                                   # sequence 0 has length 3: padding is NaN
    out, cache = layer.forward(X, np.array([3, 5]))
    layer.zero_grad()
    dX = layer.backward(np.ones_like(out), cache)
    if not (np.isfinite(out).all() and np.isfinite(dX[:3, 0]).all()
            and all(np.isfinite(g).all() for g in layer.grads.values())):
        raise Silent("NaN outputs or gradients")


@case("BCE targets outside [0, 1]", key="targets")
def _(tmp):
    from npslim import losses
    losses.sigmoid_binary_cross_entropy(np.zeros((3, 2)), np.full((3, 2), 2.0))
    raise Silent("accepted")


@case("Bernoulli NLL targets outside [0, 1]", key="targets")
def _(tmp):
    from npslim import losses
    losses.bernoulli_nll(np.zeros((2, 3, 4)), np.full((2, 3, 4), -1.0))
    raise Silent("accepted")


@case("negative mask weights", key="mask")
def _(tmp):
    from npslim import losses
    losses.mean_squared_error(np.zeros((3, 2)), np.ones((3, 2)), mask=np.array([1.0, -1.0, 1.0]))
    raise Silent("accepted")


@case("make('lstm', seed=-1)", key="seed")
def _(tmp):
    import npslim
    npslim.cells.make("lstm", 2, 3, seed=-1)
    raise Silent("accepted")


@case("Embedding(init_scale=-1)", key="init_scale")
def _(tmp):
    from npslim.layers import Embedding
    Embedding(10, 4, init_scale=-1)
    raise Silent("accepted")


def _trainer(**kw):
    import npslim.tasks
    from npslim.train import Trainer, build_model
    task = npslim.tasks.make("adding", T=5, n_train=8, n_test=4)
    kw.setdefault("task", task)
    return Trainer(build_model(task, "lstm", 3), progress=False, **kw)


@case("Trainer(clip='a')", key="clip")
def _(tmp):
    _trainer(clip="a")
    raise Silent("accepted")


@case("Trainer(task=None)", key="task")
def _(tmp):
    _trainer(task=None)
    raise Silent("accepted")


for _mod in ("datasets", "train", "plots"):
    @case(f"import npslim; npslim.{_mod}", valid=True)
    def _(tmp, _mod=_mod):
        proc = subprocess.run([sys.executable, "-c", f"import npslim; npslim.{_mod}"], capture_output=True,
                              text=True)
        if proc.returncode:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------- CLI
@case("npslim train --dtype float64", valid=True)
def _(tmp):
    proc = cli("train", "--dtype", "float64", *QUICK, "--out", "r", cwd=tmp)
    if proc.returncode:
        raise CliFailure(proc)


@case("npslim train --epochs -1 (and no folder left)", key="--epochs")
def _(tmp):
    proc = cli("train", "--epochs", "-1", "--out", "r", "--no-progress", cwd=tmp)
    if (tmp / "r").exists() and proc.returncode:
        raise Silent(f"failed but left a folder {sorted(p.name for p in (tmp / 'r').iterdir())}: "
                     + proc.stderr.strip().splitlines()[-1])
    expect_failure(proc)


@case("npslim train --monitor bogus (and no folder left)", key="monitor")
def _(tmp):
    proc = cli("train", *QUICK, "--monitor", "bogus", "--out", "r", cwd=tmp)
    if (tmp / "r").exists() and proc.returncode:
        raise Silent(f"failed but left a folder {sorted(p.name for p in (tmp / 'r').iterdir())}: "
                     + proc.stderr.strip().splitlines()[-1])
    expect_failure(proc)


@case("--resume a folder with only config.json (killed in epoch 1)", valid=True)
def _(tmp):
    proc = cli("train", *QUICK, "--out", "r", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    for f in (tmp / "r").iterdir():
        if f.name != "config.json":
            f.unlink()
    proc = cli("train", "--resume", "r", "--no-progress", cwd=tmp)
    if proc.returncode:
        raise CliFailure(proc)


@case("two trainings on one --out at once (3 attempts)", key="--out")
def _(tmp):
    """Both start together; before the fix whether the second is refused depends on timing, so any of
    three attempts in which both ran counts as silently wrong."""
    e = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    first_failure = None
    for attempt in range(3):
        args = ("train", "--task", "adding", "--epochs", "2", "--limit", "300", "--no-progress", "-n", "8",
                "--out", f"r{attempt}")
        procs = [subprocess.Popen([sys.executable, "-m", "npslim.cli", *args], cwd=tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=e) for _ in range(2)]
        results = [(p.wait(300), p.stderr.read()) for p in procs]
        failed = [err for rc, err in results if rc]
        if not failed:
            raise Silent(f"both ran (attempt {attempt + 1})")
        first_failure = first_failure or failed[0]
    raise CliFailure(subprocess.CompletedProcess([], 1, "", first_failure))


@case("stray .checkpoint.npz.*.part.npz cleaned on resume", valid=True)
def _(tmp):
    proc = cli("train", *QUICK, "--out", "r", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    stray = tmp / "r" / ".checkpoint.npz.abc123.part.npz"
    stray.write_bytes(b"half")
    proc = cli("train", "--resume", "r", "--epochs", "2", "--no-progress", cwd=tmp)
    if proc.returncode:
        raise CliFailure(proc)
    if stray.exists():
        raise Silent("stray temporary file left")


@case("npslim train -o foo=bar", key="foo")
def _(tmp):
    expect_failure(cli("train", *QUICK, "-o", "foo=bar", "--out", "r", cwd=tmp))


@case("npslim train -o =5", key="-o")
def _(tmp):
    expect_failure(cli("train", *QUICK, "-o", "=5", "--out", "r", cwd=tmp))


@case("npslim train -o peepholes=maybe", key="peepholes")
def _(tmp):
    expect_failure(cli("train", *QUICK, "-o", "peepholes=maybe", "--out", "r", cwd=tmp))


@case("npslim train --limit 0", key="--limit")
def _(tmp):
    proc = cli("train", "--task", "adding", "--epochs", "1", "--limit", "0", "--no-progress", "--out", "r", cwd=tmp)
    expect_failure(proc)


@case("npslim train --lr -1", key="lr")
def _(tmp):
    expect_failure(cli("train", *QUICK, "--lr", "-1", "--out", "r", cwd=tmp))


@case("npslim train --task-option T=abc", key="T")
def _(tmp):
    expect_failure(cli("train", *QUICK, "--task-option", "T=abc", "--out", "r", cwd=tmp))


@case("npslim train --batch-size 0", key="batch")
def _(tmp):
    expect_failure(cli("train", *QUICK, "--batch-size", "0", "--out", "r", cwd=tmp))


@case("npslim train --schedule loss --lr 50 (divergence)", key="diverged")
def _(tmp):
    proc = cli("train", *QUICK, "--schedule", "loss", "--lr", "50", "--clip", "0",
               "--out", "r", cwd=tmp)
    expect_failure(proc)


@case("npslim compare --cells lstm,foo", key="foo")
def _(tmp):
    expect_failure(cli("compare", "--cells", "lstm,foo", *QUICK, "--out", "r", cwd=tmp))


@case("npslim train --resume on a finished run", key="already")
def _(tmp):
    proc = cli("train", *QUICK, "--out", "r", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    proc = cli("train", "--resume", "r", "--no-progress", cwd=tmp)
    if "already" in proc.stdout + proc.stderr and "--epochs" in proc.stdout + proc.stderr:
        raise RuntimeError((proc.stdout + proc.stderr).strip().splitlines()[-1])
    expect_failure(proc)


@case("npslim --version", valid=True)
def _(tmp):
    proc = cli("--version", cwd=tmp)
    if proc.returncode or not proc.stdout.strip():
        raise CliFailure(proc)


@case("npslim train --threads -1", key="--threads")
def _(tmp):
    expect_failure(cli("train", *QUICK, "--threads", "-1", "--out", "r", cwd=tmp))


@case("npslim cells -m 0", key="-m")
def _(tmp):
    expect_failure(cli("cells", "-m", "0", cwd=tmp))


@case("npslim cells lstmp (a cell's options)", valid=True)
def _(tmp):
    proc = cli("cells", "lstmp", cwd=tmp)
    if proc.returncode:
        raise CliFailure(proc)
    if "proj_size" not in proc.stdout:
        raise Silent("options not listed")


# ----------------------------------------------------------------------------------- running
def classify(key, valid, fn, tmp):
    try:
        fn(tmp)
    except Silent as exc:
        return "silent", str(exc)
    except CliFailure as exc:
        text = exc.proc.stderr.strip() or exc.proc.stdout.strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if valid:
            return "obscure", (lines[-1] if lines else f"exit {exc.proc.returncode}")
        one_line = len(lines) == 1 and "Traceback" not in text
        last = lines[-1] if lines else ""
        ok = one_line and (key is None or key.lower() in last.lower())
        return ("clear" if ok else "obscure"), (last if one_line else f"[{len(lines)} lines] {last}")
    except BaseException as exc:                      # noqa: BLE001  (SystemExit too: a Python call must not exit)
        msg = f"{type(exc).__name__}: {exc}"
        if valid:
            return "obscure", msg.splitlines()[0] if msg else repr(exc)
        one_line = "\n" not in str(exc).strip()
        ok = one_line and not isinstance(exc, (SystemExit, AttributeError, KeyError))
        ok = ok and (key is None or key.lower() in msg.lower())
        return ("clear" if ok else "obscure"), msg.splitlines()[0] if msg else repr(exc)
    return ("ok" if valid else "silent"), ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", default=None, help="only the cases whose name contains this")
    args = ap.parse_args()
    counts = {"ok": 0, "clear": 0, "obscure": 0, "silent": 0}
    start = time.perf_counter()
    for name, key, valid, fn in CASES:
        if args.k and args.k not in name:
            continue
        with tempfile.TemporaryDirectory() as d:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                verdict, msg = classify(key, valid, fn, Path(d))
        counts[verdict] += 1
        print(f"{verdict:<8} {name}" + (f"\n         {msg[:200]}" if args.verbose and msg else ""), flush=True)
    total = sum(counts.values())
    print(f"\n{total} cases: {counts['ok'] + counts['clear']} right ({counts['ok']} valid inputs work, "
          f"{counts['clear']} clear one-line errors), {counts['obscure']} obscure, {counts['silent']} silently "
          f"wrong ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
