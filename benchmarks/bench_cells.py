"""Every registered cell: forward+backward time and FLOPs at (T, B, m, n) = (100, 32, 32, 100) and
(50, 128, 256, 512), float32.

FLOPs are the products' work, 6·P·T·B for P weights that each take part in one multiply-add per
step and example (2 forward, 4 backward: the input gradient and the weight gradient); elementwise
work is not counted.  Options per cell: lstmp p = n/2; flstm p = n/2, r = n/4; glstm p = n/2, k = 2;
lstm6 / lstm_c6 forget f = 0.5.

    python benchmarks/bench_cells.py [--cells a,b,...] [--configs T,B,m,n ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_min, machine_line  # noqa: E402

import npslim  # noqa: E402

CONFIGS = [(100, 32, 32, 100), (50, 128, 256, 512)]


def options_for(name, n):
    return {"lstmp": {"proj_size": n // 2},
            "flstm": {"proj_size": n // 2, "rank": n // 4},
            "glstm": {"proj_size": n // 2, "groups": 2}}.get(name, {})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", help="comma-separated names (default: every registered cell)")
    ap.add_argument("--configs", nargs="*")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    names = args.cells.split(",") if args.cells else npslim.cells.names()
    configs = [tuple(int(v) for v in c.split(",")) for c in args.configs] if args.configs else CONFIGS
    print(machine_line())
    for T, B, m, n in configs:
        print(f"\n(T, B, m, n) = {(T, B, m, n)}")
        print(f"{'cell':<10} {'params':>10} {'GFLOP':>8} {'f+b ms':>9} {'GFLOP/s':>8} {'vs lstm':>8}")
        rng = np.random.default_rng(0)
        X = rng.standard_normal((T, B, m)).astype(np.float32)
        cells = {}
        for name in names:
            cell = npslim.cells.make(name, m, n, **options_for(name, n)).eval()
            dY = rng.standard_normal((T, B, cell.output_size)).astype(np.float32)

            def run(cell=cell, dY=dY):
                _, _, cache = cell.forward(X)
                cell.backward(dY, cache)
            cells[name] = (cell, run)
        times = interleaved_min({k: v[1] for k, v in cells.items()}, repeats=args.repeats, min_time=0.3)
        base = times.get("lstm")
        for name, (cell, _) in cells.items():
            flops = 6.0 * cell.num_params() * T * B
            rel = f"{times[name] / base:>8.2f}" if base else ""
            print(f"{name:<10} {cell.num_params():>10,} {flops / 1e9:>8.3f} {times[name] * 1e3:>9.2f} "
                  f"{flops / times[name] / 1e9:>8.2f} {rel}", flush=True)


if __name__ == "__main__":
    main()
