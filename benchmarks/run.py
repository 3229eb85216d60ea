"""npslim against PyTorch as users run them: each library alone in its own process.

    python benchmarks/run.py --report                 # the full set, 3 rounds, then the profile and the docs
                                                      # (about 12 minutes on 2 quiet cores)
    python benchmarks/run.py --quick --out /tmp/q.json  # 1 round, shorter timings (about 3 minutes)
    python benchmarks/run.py --npslim ../old-commit   # benchmark another checkout (e.g. a git worktree)
    python benchmarks/run.py --only lstm,epoch --threads 1
    python benchmarks/report.py --readme              # regenerate docs/benchmarks.md, its figure, README's claim

Every measurement is one fresh process (``benchmarks/worker.py``) per (case, library, threads); the
runner goes round by round, alternating which library goes first, and reports for each the median
over rounds of each process's median call, with the spread (min and max over rounds).  Cases:

  lstm    forward+backward of one LSTM layer, npslim ``lstm`` (peepholes off) against ``nn.LSTM``,
          float32, the five (T, B, m, n) of CONFIGS, at each thread count
  cells   forward+backward of every registered npslim cell, ratio to npslim's ``lstm`` (CELL_CONFIGS)
  epoch   a training epoch Embedding -> LSTM -> Dense on synthetic IMDB-shaped data (vocabulary 20k,
          length 80, embedding 128, n = 128, batch 32, EPOCH_BATCHES minibatches), npslim's Trainer
          against a plain PyTorch loop (Adam lr 1e-3, global-norm clip 5)
  job     wall time of the README's first command, ``npslim compare --task digits-rows --cells
          lstm,gru,cifg,lstm_c6`` (in the environment a user has: its own thread default)

Settings (both libraries at their best, see docs/benchmarks.md for the measurements behind them):
  threads   OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = t, and torch.set_num_threads(t)
  BLAS      OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (set on some machines for old OpenBLAS builds, they
            slow a current one) are removed together from the workers' environment; the kernel then
            chosen is recorded from threadpoolctl
  malloc    MALLOC_TUNED for torch (glibc: large allocations kept on the heap rather than mmap'd and
            returned, so backward's big temporaries do not page-fault on every call); ``--tune``
            measures it, jemalloc when installed, and torch's oneDNN switch
  oneDNN    torch.backends.mkldnn.enabled = True (torch's default; off was 2-3x slower in a check here)

Writes JSON (``--out``, default benchmarks/results/baseline.json: the stored table that
``report.py`` turns into docs/benchmarks.md and ``check_regression.py`` compares fresh runs against;
pass another ``--out`` for a run that should not replace it).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
BASELINE = HERE / "results" / "baseline.json"
CONFIGS = [(100, 32, 32, 100), (28, 32, 28, 50), (784, 32, 1, 100), (100, 64, 128, 128), (50, 128, 256, 512)]
CELL_CONFIGS = [(100, 32, 32, 100), (50, 128, 256, 512)]
EPOCH_BATCHES = 100
JOB = ["compare", "--task", "digits-rows", "--cells", "lstm,gru,cifg,lstm_c6"]
KINDS = ("lstm", "cells", "epoch", "job")
MALLOC_TUNED = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2 ** 20), "MALLOC_TRIM_THRESHOLD_": str(2 ** 30),
                "MALLOC_TOP_PAD_": str(256 * 2 ** 20)}
SETTINGS = {"torch": {"mkldnn": True, "malloc": "tuned"}, "npslim": {"malloc": "default"}}
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
JEMALLOC_PATHS = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2",
                  "/usr/lib64/libjemalloc.so.2")
FULL = {"rounds": 3, "min_time": 1.0, "min_reps": 3, "epoch_batches": EPOCH_BATCHES, "epoch_reps": 1}
QUICK = {"rounds": 1, "min_time": 0.3, "min_reps": 2, "epoch_batches": 30, "epoch_reps": 1}


def jemalloc_path():
    return next((p for p in JEMALLOC_PATHS if Path(p).exists()), None)


def worker_env(npslim_path, threads=None, malloc="default"):
    """The environment of one worker: the checkout under test first on PYTHONPATH, the thread
    variables (None: left as the user has them), the BLAS overrides removed, malloc as asked."""
    env = dict(os.environ)
    for k in BLAS_OVERRIDES:                     # both together, never one alone
        env.pop(k, None)
    for k in (*MALLOC_TUNED, "MALLOC_ARENA_MAX", "LD_PRELOAD"):
        env.pop(k, None)
    if threads is not None:
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[k] = str(threads)
    if malloc == "tuned":
        env.update(MALLOC_TUNED)
    elif malloc == "jemalloc":
        env["LD_PRELOAD"] = jemalloc_path()
    elif malloc != "default":
        raise ValueError(f"malloc: expected default, tuned or jemalloc, got {malloc!r}")
    env["PYTHONPATH"] = os.pathsep.join([str(npslim_path)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return env


def run_worker(spec, npslim_path, settings=None):
    settings = settings or SETTINGS[spec["lib"]]
    if spec["lib"] == "torch":
        spec = dict(spec, mkldnn=settings.get("mkldnn", True))
    env = worker_env(npslim_path, spec["threads"], settings.get("malloc", "default"))
    proc = subprocess.run([sys.executable, str(WORKER), json.dumps(spec)], env=env, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed for {spec}:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["settings"] = settings
    return out


def run_job(npslim_path):
    """Wall time of the README's main command in a fresh process (the user's thread defaults)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "npslim.cli", *JOB, "--no-progress", "--out", str(Path(tmp) / "run")]
        env = worker_env(npslim_path)
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(k, None)                     # the CLI's own default (--threads)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"job failed:\n{proc.stderr[-3000:]}")
    return {"spec": {"kind": "job", "lib": "npslim", "command": "npslim " + " ".join(JOB), "threads": None},
            "times": [wall], "median": wall, "min": wall, "max": wall, "n": 1,
            "info": {"stdout_tail": proc.stdout[-600:]}}


def schedule(kinds, threads, cell_names, p):
    """The specs of one round, in order; ``lib_first`` decides which library opens each pair."""
    def pair(base, r):
        libs = ["npslim", "torch"] if r % 2 == 0 else ["torch", "npslim"]
        return [dict(base, lib=lib) for lib in libs]
    rounds = []
    for r in range(p["rounds"]):
        specs = []
        if "lstm" in kinds:
            for T, B, m, n in CONFIGS:
                for t in threads:
                    specs += pair({"kind": "lstm", "config": [T, B, m, n], "threads": t,
                                   "min_time": p["min_time"], "min_reps": p["min_reps"]}, r)
        if "cells" in kinds:
            for cfg in CELL_CONFIGS:
                names = cell_names if r % 2 == 0 else cell_names[::-1]
                specs += [{"kind": "cell", "lib": "npslim", "cell": c, "config": list(cfg), "threads": 1,
                           "min_time": p["min_time"], "min_reps": p["min_reps"]} for c in names]
        if "epoch" in kinds:
            for t in threads:
                specs += pair({"kind": "epoch", "threads": t, "batches": p["epoch_batches"],
                               "reps": p["epoch_reps"]}, r)
        if "job" in kinds:
            specs.append({"kind": "job", "lib": "npslim", "threads": None})
        rounds.append(specs)
    return rounds


def key(spec):
    """One line of the results table: what was measured, apart from the round."""
    k = [spec["kind"], spec["lib"], f"t{spec['threads']}"]
    if spec.get("cell"):
        k.append(spec["cell"])
    if spec.get("config"):
        k.append(",".join(str(v) for v in spec["config"]))
    return "|".join(k)


def summarize(records):
    """key -> {median, min, max, spread, rounds}: the median over rounds of each process's median."""
    by = {}
    for r in records:
        by.setdefault(key(r["spec"]), []).append(r["median"])
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v),
                "spread": (max(v) - min(v)) / statistics.median(v), "rounds": len(v)} for k, v in by.items()}


def ratios(result):
    """name -> {median, min, max} of npslim/torch per round (lstm and epoch cases, each thread count)
    and of each cell / lstm per round; from a results dict of main()."""
    per_round = {}
    for rec in result["records"]:
        s = rec["spec"]
        per_round.setdefault(key(s), {})[rec.get("round", 0)] = rec["median"]
    out = {}
    for k, rounds in per_round.items():
        kind, lib, threads, *rest = k.split("|")
        if kind in ("lstm", "epoch") and lib == "npslim":
            other = per_round.get("|".join([kind, "torch", threads, *rest]), {})
            name = "|".join(["ratio", kind, threads, *rest])
        elif kind == "cell":
            other = per_round.get("|".join([kind, lib, threads, "lstm", *rest[1:]]), {})
            name = "|".join(["ratio", kind, threads, *rest])
        else:
            continue
        values = [rounds[r] / other[r] for r in rounds if r in other]
        if values:
            out[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def git_describe(path):
    try:
        head = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def machine():
    info = {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L2 cache", "L3 cache",
                                "Hypervisor vendor"):
                info[name.strip()] = value.strip()
    except OSError:
        pass
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    info["blas_overrides_in_env"] = {k: os.environ[k] for k in BLAS_OVERRIDES if k in os.environ}
    return info


def tune(npslim_path, p, out, label=""):
    """Torch's settings measured: malloc default / tuned / jemalloc (if installed) x oneDNN on / off,
    lstm forward+backward at 1 thread; and npslim with malloc default / tuned."""
    variants = [("torch", {"mkldnn": mk, "malloc": ma}) for mk in (True, False)
                for ma in ("default", "tuned") + (("jemalloc",) if jemalloc_path() else ())]
    variants += [("npslim", {"malloc": ma}) for ma in ("default", "tuned") + (("jemalloc",) if jemalloc_path() else ())]
    records = []
    for r in range(p["rounds"]):
        for lib, settings in (variants if r % 2 == 0 else variants[::-1]):
            for cfg in CONFIGS:
                spec = {"kind": "lstm", "lib": lib, "config": list(cfg), "threads": 1,
                        "min_time": p["min_time"], "min_reps": p["min_reps"]}
                rec = run_worker(spec, npslim_path, settings)
                rec["spec"]["variant"] = json.dumps(settings, sort_keys=True)
                records.append(rec)
                print(f"  {lib:<6} {rec['spec']['variant']:<42} {cfg} {rec['median'] * 1e3:9.2f} ms", flush=True)
    table = {}
    for rec in records:
        k = (rec["spec"]["lib"], rec["spec"]["variant"], ",".join(map(str, rec["spec"]["config"])))
        table.setdefault(k, []).append(rec["median"])
    result = {"kind": "tune", "date": _now(), "label": label, "machine": machine(), "params": p,
              "jemalloc": jemalloc_path(),
              "table": [{"lib": a, "variant": b, "config": c, "median": statistics.median(v)}
                        for (a, b, c), v in table.items()]}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npslim", default=str(HERE.parent), help="the npslim checkout to benchmark (default: this one)")
    ap.add_argument("--out", default=str(BASELINE), help="JSON results file (default: the stored table, "
                    "benchmarks/results/baseline.json, which report.py and check_regression.py read)")
    ap.add_argument("--only", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}")
    ap.add_argument("--threads", default="1,2", help="thread counts for lstm and epoch (default 1,2)")
    ap.add_argument("--cells", help="cells for the cells case (default: every registered cell of the checkout)")
    ap.add_argument("--rounds", type=int, help=f"rounds (default {FULL['rounds']}, --quick {QUICK['rounds']})")
    ap.add_argument("--quick", action="store_true", help="1 round, shorter timings, 30-batch epoch")
    ap.add_argument("--tune", action="store_true", help="measure the malloc and oneDNN settings instead")
    ap.add_argument("--label", default="", help="free text stored with the results (e.g. 'loaded machine')")
    ap.add_argument("--report", action="store_true", help="then profile lstm (profile_lstm.py, 1 thread) and "
                    "regenerate docs/benchmarks.md, its figure and README's speed sentence (report.py --readme)")
    args = ap.parse_args(argv)
    p = dict(QUICK if args.quick else FULL)
    if args.rounds:
        p["rounds"] = args.rounds
    npslim_path = Path(args.npslim).resolve()
    if not (npslim_path / "npslim" / "__init__.py").exists():
        ap.error(f"--npslim: expected an npslim checkout (a folder holding npslim/__init__.py), got {npslim_path}")
    if args.tune:
        return tune(npslim_path, p, args.out if args.out != str(BASELINE) else str(HERE / "results" / "tune.json"),
                    args.label)
    kinds = [k for k in args.only.split(",") if k]
    bad = sorted(set(kinds) - set(KINDS))
    if bad:
        ap.error(f"--only: expected names among {','.join(KINDS)}, got {','.join(bad)}")
    threads = [int(t) for t in args.threads.split(",")]
    if args.cells:
        cell_names = args.cells.split(",")
    elif "cells" in kinds:
        cell_names = json.loads(subprocess.run(
            [sys.executable, "-c", "import json, npslim; print(json.dumps(list(npslim.cells.names())))"],
            env=worker_env(npslim_path), capture_output=True, text=True, check=True).stdout)
    else:
        cell_names = []
    rounds = schedule(kinds, threads, cell_names, p)
    total = sum(len(r) for r in rounds)
    started, records, done, commit = time.perf_counter(), [], 0, git_describe(npslim_path)
    print(f"npslim {npslim_path} ({commit}); {total} processes in {len(rounds)} rounds", flush=True)
    for r, specs in enumerate(rounds):
        for spec in specs:
            rec = run_job(npslim_path) if spec["kind"] == "job" else run_worker(spec, npslim_path)
            rec["round"] = r
            records.append(rec)
            done += 1
            print(f"[{done}/{total} {time.perf_counter() - started:6.0f}s] round {r} {key(rec['spec']):<40} "
                  f"{rec['median'] * 1e3:10.2f} ms", flush=True)
    info = next((rec["info"] for rec in records if rec["spec"]["lib"] == "torch"), {})
    blas = next((rec["info"].get("threadpools") for rec in records if rec["info"].get("threadpools")), [])
    result = {"date": _now(), "label": args.label, "argv": list(sys.argv[1:] if argv is None else argv), "npslim": str(npslim_path), "commit": commit,
              "machine": machine(), "params": p, "threads": threads, "settings": SETTINGS,
              "malloc_tuned": MALLOC_TUNED, "configs": CONFIGS, "cell_configs": CELL_CONFIGS,
              "versions": {"numpy": next((rec["info"]["numpy"] for rec in records if "numpy" in rec["info"]), None),
                           "torch": info.get("torch"), "blas": blas},
              "seconds": time.perf_counter() - started, "summary": summarize(records), "records": records}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out} ({result['seconds']:.0f} s)")
    if args.report:
        profile = out.parent / "profile.json"
        subprocess.run([sys.executable, str(HERE / "profile_lstm.py"), "--npslim", str(npslim_path), "--out",
                        str(profile), "--label", args.label], env=worker_env(npslim_path, 1), check=True)
        subprocess.run([sys.executable, str(HERE / "report.py"), "--results", str(out), "--profile", str(profile),
                        "--readme"], check=True)
    return result


if __name__ == "__main__":
    main()
