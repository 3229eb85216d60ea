"""Subnormal deltas in long sequences (issue 4): ``lstm`` backward with the subnormal flush on and off.

With the loss on the last step only (dY zero except dY[T−1]) the deltas carried back through
T = 784 steps (sequential MNIST) decay geometrically into subnormal floats, which many CPUs
process far slower than normal ones.  npslim flushes them to zero every ``FLUSH_EVERY`` steps
(``npslim.cells.base.SubnormalFlush``; switch: ``cell.FLUSH_SUBNORMALS``).  Prints, in one
process and interleaved: the backward time with the flush off and on (ratio off/on: above 1,
the flush saves time), the number of subnormal values in the carried deltas (δyᵗ, δcᵗ after
every step) and in δX with the flush off and on, and the flush's cost when nothing decays
(the loss on every step).

    python benchmarks/bench_subnormal.py [--T 784] [--B 32] [--n 100] [--forget-bias F] [--dtype float32]

``--forget-bias`` sets b_f (default: the initialisation's draw): a larger forget gate makes the
gradient decay more slowly, so it spends more steps in the subnormal range.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_min, machine_line  # noqa: E402

import npslim  # noqa: E402


def subnormal_count(a):
    """Number of nonzero values below the smallest normal of a's dtype."""
    a = np.abs(np.asarray(a))
    return int(np.count_nonzero((a > 0) & (a < np.finfo(a.dtype).tiny)))


def count_carried(cell, dY, cache):
    """Run one backward and count subnormal values in the carried deltas after every step (read
    through the ``_recurrent_backward`` hook, before the flush).  Returns (values, steps, dX)."""
    seen = {"values": 0, "steps": 0}
    hook = cell._recurrent_backward

    def counting(t, d, da, dnext, work):
        hook(t, d, da, dnext, work)
        k = sum(subnormal_count(a) for a in dnext)
        seen["values"] += k
        seen["steps"] += bool(k)
    cell._recurrent_backward = counting
    try:
        dX, _ = cell.backward(dY, cache)
    finally:
        del cell._recurrent_backward
    cell.zero_grad()
    return seen["values"], seen["steps"], dX


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=784)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--m", type=int, default=1)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--forget-bias", type=float, default=None, help="set b_f to this value (default: as drawn)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    T, B, m, n = args.T, args.B, args.m, args.n

    rng = np.random.default_rng(0)
    cell = npslim.cells.make("lstm", m, n, seed=0, dtype=args.dtype)
    if args.forget_bias is not None:
        cell.params["b_f"][...] = args.forget_bias
    X = rng.standard_normal((T, B, m)).astype(args.dtype)
    _, _, cache = cell.forward(X)
    dY_last = np.zeros((T, B, n), dtype=args.dtype)
    dY_last[-1] = rng.standard_normal((B, n))                  # the loss on the last step only
    dY_all = rng.standard_normal((T, B, n)).astype(args.dtype)  # the loss on every step: nothing decays

    def backward(dY, flush):
        def run():
            cell.FLUSH_SUBNORMALS = flush
            cell.backward(dY, cache)
        return run

    times = interleaved_min({"last_off": backward(dY_last, False), "last_on": backward(dY_last, True),
                             "all_off": backward(dY_all, False), "all_on": backward(dY_all, True)},
                            repeats=args.repeats)
    counts = {}
    for flush in (False, True):
        cell.FLUSH_SUBNORMALS = flush
        counts[flush] = count_carried(cell, dY_last, cache)
    cell.FLUSH_SUBNORMALS = True

    print(machine_line())
    print(f"lstm T={T} B={B} m={m} n={n} {args.dtype}, b_f "
          f"{'as drawn' if args.forget_bias is None else args.forget_bias}; FLUSH_EVERY={cell.FLUSH_EVERY}")
    print("loss on the last step only:")
    print(f"  backward  flush off {times['last_off'] * 1e3:8.2f} ms   on {times['last_on'] * 1e3:8.2f} ms   "
          f"off/on {times['last_off'] / times['last_on']:.2f}")
    for flush, label in ((False, "off"), (True, "on ")):
        values, steps, dX = counts[flush]
        print(f"  flush {label}: {values:8d} subnormal values in the carried deltas, over {steps:4d} of {T} steps; "
              f"{subnormal_count(dX):6d} in dX")
    print("loss on every step (no decay: the flush's cost):")
    print(f"  backward  flush off {times['all_off'] * 1e3:8.2f} ms   on {times['all_on'] * 1e3:8.2f} ms   "
          f"on/off {times['all_on'] / times['all_off']:.3f}")


if __name__ == "__main__":
    main()
