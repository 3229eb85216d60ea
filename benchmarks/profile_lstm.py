"""Where the time of npslim's ``lstm`` forward+backward goes: matrix products, elementwise work, the rest.

    python benchmarks/profile_lstm.py [--threads 1] [--out benchmarks/results/profile.json] [--npslim PATH]

One traced forward+backward records every NumPy call the cell makes (ufuncs, including ``@`` and
``xp.matmul``, through ``__array_ufunc__``; functions such as ``np.dot`` or ``np.copyto`` through
``__array_function__``): its operands' shapes, strides, dtypes and which memory they share (the
arrays the cell allocates are traced from ``np.empty``/``np.zeros``/... onwards).  The calls are
then replayed, untraced, on arrays of the same layout (same strides, same offsets inside the same
allocations, so the workspace reuse is the cell's): the products alone give the GEMM time, the
other calls the elementwise time (each call's C-level dispatch included; the same calls on
one-element arrays give that fixed cost alone: "call overhead").  The rest of the
measured forward+backward is Python: the interpreter running the cell's code, indexing, slicing,
views and copies by assignment (``a[...] = b``), allocation.

Products = ``matmul`` (and ``dot``/``einsum``/``tensordot`` if used): exactly the products npslim
makes, in the order and layouts it makes them.  Untraced totals are timed in the same process,
interleaved with the replays, best of ``--repeats`` (min_time each), one BLAS thread by default.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIGS = [(100, 32, 32, 100), (28, 32, 28, 50), (784, 32, 1, 100), (100, 64, 128, 128), (50, 128, 256, 512)]
GEMM = {"matmul", "dot", "einsum", "tensordot", "inner", "vdot"}
ALLOCATORS = ("empty", "zeros", "ones", "empty_like", "zeros_like", "ones_like", "full", "full_like")


class Trace:
    calls = []            # (name, callable, operand records, kwargs records)
    depth = 0


def _root(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _operand(a):
    """A record of an array operand (its layout and place in its allocation), or the value itself."""
    if isinstance(a, np.ndarray):
        root = _root(a)
        ptr, rptr = a.__array_interface__["data"][0], root.__array_interface__["data"][0]
        return ("array", a.shape, a.strides, a.dtype.str, (rptr, root.nbytes), ptr - rptr)
    if isinstance(a, tuple):
        return ("tuple", tuple(_operand(v) for v in a))
    return ("value", a)


class Traced(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain_in = [i.view(np.ndarray) if isinstance(i, Traced) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Traced) else o for o in kwargs["out"])
        if Trace.depth == 0:
            Trace.calls.append((ufunc.__name__, getattr(ufunc, method) if method != "__call__" else ufunc,
                                [_operand(i) for i in plain_in], {k: _operand(v) for k, v in kwargs.items()}))
        return _wrap(getattr(ufunc, method)(*plain_in, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        if Trace.depth == 0:
            Trace.calls.append((func.__name__, func, [_operand(_plain(a)) for a in args],
                                {k: _operand(_plain(v)) for k, v in kwargs.items()}))
        Trace.depth += 1
        try:
            result = func(*[_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()})
        finally:
            Trace.depth -= 1
        return _wrap(result)


def _plain(a):
    if isinstance(a, Traced):
        return a.view(np.ndarray)
    if isinstance(a, (tuple, list)):
        return type(a)(_plain(v) for v in a)
    return a


def _wrap(r):
    if isinstance(r, np.ndarray) and not isinstance(r, Traced):
        return r.view(Traced)
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    return r


def traced_run(cell, X, dY):
    """One forward+backward with every array the cell allocates traced; returns the recorded calls."""
    saved = {name: getattr(np, name) for name in ALLOCATORS}

    def traced(f):
        return lambda *a, **k: _wrap(f(*a, **k))
    for name, f in saved.items():
        setattr(np, name, traced(f))
    Trace.calls = []
    try:
        _, _, cache = cell.forward(X.view(Traced))
        cell.backward(dY.view(Traced), cache)
    finally:
        for name, f in saved.items():
            setattr(np, name, f)
    return list(Trace.calls)


def replay_plan(calls, tiny=False):
    """The calls as (name, callable, args, kwargs) on fresh arrays of the same layouts: one fresh
    buffer per allocation the cell used, so views share memory as the cell's did.  ``tiny``: every
    array one element (of the same number of dimensions), to time the calls' fixed cost alone."""
    rng = np.random.default_rng(0)
    buffers = {}

    def build(op):
        kind = op[0]
        if kind == "tuple":
            return tuple(build(v) for v in op[1])
        if kind == "value":
            return op[1]
        _, shape, strides, dtype, root, offset = op
        if tiny:
            return np.full((1,) * len(shape), 0.5, dtype=dtype)
        if root not in buffers:
            n = root[1] // np.dtype(dtype).itemsize + 1
            buffers[root] = (rng.standard_normal(n) * 0.5).astype(dtype)
        return np.ndarray(shape, dtype=dtype, buffer=buffers[root], offset=offset, strides=strides)
    return [(name, f, [build(a) for a in args], {k: build(v) for k, v in kw.items()}) for name, f, args, kw in calls]


def best_time(f, repeats, min_time):
    f()
    best = float("inf")
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            f()
            n += 1
            if time.perf_counter() - t0 >= min_time:
                break
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def profile(T, B, m, n, repeats, min_time):
    import npslim
    cell = npslim.cells.make("lstm", m, n, peepholes=False, dtype="float32").eval()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((T, B, m)).astype(np.float32)
    dY = rng.standard_normal((T, B, n)).astype(np.float32)
    calls = traced_run(cell, X, dY)
    plan = replay_plan(calls)
    gemm = [(f, a, k) for name, f, a, k in plan if name in GEMM]
    elem = [(f, a, k) for name, f, a, k in plan if name not in GEMM]
    elem_tiny = [(f, a, k) for name, f, a, k in replay_plan(calls, tiny=True) if name not in GEMM]

    def total():
        _, _, cache = cell.forward(X)
        cell.backward(dY, cache)

    def run(ops):
        def go():
            with np.errstate(all="ignore"):
                for f, a, k in ops:
                    f(*a, **k)
        return go
    # interleave the three timings, so machine noise hits all alike
    t_total = t_gemm = t_elem = t_calls = float("inf")
    for _ in range(repeats):
        t_total = min(t_total, best_time(total, 1, min_time))
        t_gemm = min(t_gemm, best_time(run(gemm), 1, min_time))
        t_elem = min(t_elem, best_time(run(elem), 1, min_time))
        t_calls = min(t_calls, best_time(run(elem_tiny), 1, min_time))
    counts = {}
    for name, *_ in calls:
        counts[name] = counts.get(name, 0) + 1
    gflop = sum(2.0 * np.prod(a[0][1]) * a[1][1][-1] for name, _, a, _ in calls if name == "matmul"
                and a[0][0] == "array" and a[1][0] == "array") / 1e9
    return {"config": [T, B, m, n], "total": t_total, "gemm": t_gemm, "elementwise": t_elem,
            "rest": t_total - t_gemm - t_elem,
            "elementwise_call_overhead": t_calls, "calls": len(calls), "gemm_calls": len(gemm),
            "elementwise_calls": len(elem), "calls_per_step": len(calls) / T, "gemm_gflop": gflop,
            "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--npslim", default=str(HERE.parent), help="the npslim checkout to profile")
    ap.add_argument("--out", default=str(HERE / "results" / "profile.json"))
    ap.add_argument("--label", default="")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(args.npslim).resolve()))
    import threadpoolctl
    sys.path.insert(0, str(HERE))
    from run import _now, git_describe, machine
    rows = []
    with threadpoolctl.threadpool_limits(args.threads):
        blas = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        print(f"{'(T, B, m, n)':<22} {'total ms':>9} {'GEMM':>8} {'elementw.':>9} {'rest':>8} {'calls/step':>10}")
        for T, B, m, n in CONFIGS:
            r = profile(T, B, m, n, args.repeats, args.min_time)
            rows.append(r)
            print(f"{str((T, B, m, n)):<22} {r['total'] * 1e3:9.2f} {r['gemm'] * 1e3:8.2f} "
                  f"{r['elementwise'] * 1e3:9.2f} {r['rest'] * 1e3:8.2f} {r['calls_per_step']:10.1f}", flush=True)
    result = {"date": _now(), "label": args.label, "threads": args.threads, "blas": blas, "machine": machine(),
              "npslim": str(Path(args.npslim).resolve()), "commit": git_describe(args.npslim),
              "numpy": np.__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        print("note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; run.py's workers unset both, "
              "run this as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...` to match", file=sys.stderr)
    main()
