"""One measurement in one fresh process, started by ``benchmarks/run.py`` (never imports both libraries).

    python benchmarks/worker.py '{"kind": "lstm", "lib": "torch", "config": [100, 32, 32, 100], ...}'

Prints one JSON line: the spec, the median, min and max seconds of the timed calls (or epochs), and
what the process really ran with (threads, BLAS kernel via threadpoolctl, torch's oneDNN switch,
the npslim file imported).  The runner sets the environment (thread variables, malloc tuning,
PYTHONPATH to the npslim checkout under test); this file only applies what needs code:
``torch.set_num_threads`` and ``torch.backends.mkldnn.enabled``.

Kinds:
  lstm   forward+backward of one LSTM layer, float32, peepholes off, input gradient included
         (npslim: ``cells.make("lstm")``; torch: ``nn.LSTM`` with ``X.requires_grad``)
  cell   forward+backward of one registered npslim cell (options as benchmarks/bench_cells.py)
  epoch  a training epoch Embedding(20000, 128) -> LSTM(128) -> Dense(2) on synthetic IMDB-shaped
         data (T = 80, batch 32, ``batches`` minibatches), Adam lr 1e-3, global-norm clip 5:
         npslim's Trainer (training time of ``fit``, evaluation excluded) or a plain PyTorch loop
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

VOCAB, MAXLEN, EMBED, HIDDEN, BATCH, CLASSES, CLIP, LR = 20000, 80, 128, 128, 32, 2, 5.0, 1e-3


def timed_calls(f, min_time, min_reps, warmup=1):
    """Seconds of each call of ``f`` after ``warmup`` calls, until ``min_time`` and ``min_reps`` are reached."""
    for _ in range(warmup):
        f()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return times


def cell_options(name, n):
    return {"lstmp": {"proj_size": n // 2},
            "flstm": {"proj_size": n // 2, "rank": n // 4},
            "glstm": {"proj_size": n // 2, "groups": 2}}.get(name, {})


def npslim_fb(name, T, B, m, n):
    import npslim
    opts = {"peepholes": False} if name == "lstm" else cell_options(name, n)
    cell = npslim.cells.make(name, m, n, dtype="float32", **opts).eval()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((T, B, m)).astype(np.float32)
    dY = rng.standard_normal((T, B, cell.output_size)).astype(np.float32)

    def run():
        _, _, cache = cell.forward(X)
        cell.backward(dY, cache)
    return run


def torch_fb(T, B, m, n):
    import torch
    torch.manual_seed(0)
    module = torch.nn.LSTM(m, n)
    X = torch.randn(T, B, m, requires_grad=True)
    dY = torch.randn(T, B, n)

    def run():
        Y, _ = module(X)
        Y.backward(dY)
    return run


def synthetic_imdb(batches, seed=0):
    """Token ids (T, N) uniform in [2, VOCAB), labels (N,) in {0, 1}: IMDB's shapes, not its words."""
    rng = np.random.default_rng(seed)
    N = batches * BATCH
    return (rng.integers(2, VOCAB, size=(MAXLEN, N)).astype(np.int32),
            rng.integers(0, CLASSES, size=N).astype(np.int64))


def npslim_epoch(batches):
    import npslim.tasks
    import npslim.train
    X, y = synthetic_imdb(batches)
    Xte, yte = synthetic_imdb(1, seed=1)
    task = npslim.tasks.Task(name="imdb-shaped", kind="classify-last", input_size=VOCAB, output_size=CLASSES,
                             metric="accuracy", X_train=X, targets_train=y, X_test=Xte, targets_test=yte,
                             vocab_size=VOCAB, embed_size=EMBED)
    model = npslim.train.build_model(task, "lstm", hidden_size=HIDDEN, seed=0, embed_size=EMBED,
                                     peepholes=False)
    trainer = npslim.train.Trainer(model, task, optimizer="adam", lr=LR, clip=CLIP, batch_size=BATCH,
                                   progress=False, seed=0)

    def run():
        trainer.fit(trainer.epoch + 1)
        return trainer.history[-1]["seconds"]              # the training loop only, not the evaluation
    return run


def torch_epoch(batches):
    import torch
    X, y = synthetic_imdb(batches)
    Xt, yt = torch.from_numpy(X.astype(np.int64)), torch.from_numpy(y)
    torch.manual_seed(0)
    embed, lstm = torch.nn.Embedding(VOCAB, EMBED), torch.nn.LSTM(EMBED, HIDDEN)
    dense = torch.nn.Linear(HIDDEN, CLASSES)
    params = [*embed.parameters(), *lstm.parameters(), *dense.parameters()]
    opt = torch.optim.Adam(params, lr=LR)
    rng = np.random.default_rng(0)

    def run():
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(Xt.shape[1]))
        for k in range(0, Xt.shape[1], BATCH):
            idx = order[k:k + BATCH]
            Y, _ = lstm(embed(Xt[:, idx]))
            loss = torch.nn.functional.cross_entropy(dense(Y[-1]), yt[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, CLIP)
            opt.step()
        return time.perf_counter() - start
    return run


def environment(lib):
    info = {"pid": os.getpid(), "env": {k: os.environ.get(k) for k in (
        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
        "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX", "LD_PRELOAD")}}
    try:
        import threadpoolctl
        info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                                                       "architecture", "threading_layer")}
                               for p in threadpoolctl.threadpool_info()]
    except ImportError:
        info["threadpools"] = []
    info["numpy"] = np.__version__
    if lib == "torch":
        import torch
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                    mkldnn=bool(torch.backends.mkldnn.enabled))
    else:
        import npslim
        info["npslim_file"] = npslim.__file__
    return info


def main(spec):
    lib, threads = spec["lib"], int(spec["threads"])
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = bool(spec.get("mkldnn", True))
    kind = spec["kind"]
    if kind == "epoch":
        run = (torch_epoch if lib == "torch" else npslim_epoch)(int(spec["batches"]))
        run()                                               # warm-up epoch (allocations, first touches)
        times = [run() for _ in range(int(spec.get("reps", 1)))]
    else:
        T, B, m, n = spec["config"]
        if kind == "lstm":
            run = torch_fb(T, B, m, n) if lib == "torch" else npslim_fb("lstm", T, B, m, n)
        elif kind == "cell":
            run = npslim_fb(spec["cell"], T, B, m, n)
        else:
            raise ValueError(f"kind: expected lstm, cell or epoch, got {kind!r}")
        times = timed_calls(run, float(spec.get("min_time", 1.0)), int(spec.get("min_reps", 3)))
    print(json.dumps({"spec": spec, "median": statistics.median(times), "min": min(times), "max": max(times),
                      "n": len(times), "times": times if len(times) <= 10 else None,
                      "info": environment(lib)}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
