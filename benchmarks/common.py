"""Shared timing helpers for the benchmarks (timing lives here, never in tests)."""
from __future__ import annotations

import os
import platform
import time

import numpy as np

CONFIGS = [(100, 32, 32, 100), (28, 32, 28, 50), (784, 32, 1, 100), (100, 64, 128, 128), (50, 128, 256, 512)]


def interleaved_min(functions, repeats=5, min_time=0.2):
    """Time each function in ``functions`` (name -> callable), interleaved round by round so that
    machine noise hits all alike; each round runs a function enough times to last ``min_time``.
    Returns name -> best seconds per call."""
    for f in functions.values():      # warm up (allocations, BLAS threads)
        f()
    reps = {}
    for name, f in functions.items():
        t0 = time.perf_counter()
        f()
        reps[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-6)))
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            t0 = time.perf_counter()
            for _ in range(reps[name]):
                f()
            best[name] = min(best[name], (time.perf_counter() - t0) / reps[name])
    return best


def machine_line():
    try:
        import threadpoolctl
        blas = ", ".join(f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                         for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    except Exception:
        blas = "?"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}, "
            f"numpy {np.__version__}; BLAS: {blas}")
