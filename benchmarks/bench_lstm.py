"""npslim ``lstm`` (peepholes off) against ``torch.nn.LSTM``: forward and forward+backward, float32,
in one process, interleaved.  Prints the ratio npslim/torch per configuration (below 1: npslim faster).

    python benchmarks/bench_lstm.py [--threads N] [--configs T,B,m,n ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CONFIGS, interleaved_min, machine_line  # noqa: E402

import npslim  # noqa: E402


def bench(T, B, m, n, torch, repeats):
    rng = np.random.default_rng(0)
    cell = npslim.cells.make("lstm", m, n, peepholes=False, dtype="float32")
    module = npslim.interop.to_torch(cell)
    X = rng.standard_normal((T, B, m)).astype(np.float32)
    dY = rng.standard_normal((T, B, n)).astype(np.float32)
    Xt, dYt = torch.from_numpy(X), torch.from_numpy(dY)

    def np_forward():
        cell.forward(X)

    def np_train():
        Y, _, cache = cell.forward(X)
        cell.backward(dY, cache)

    def torch_forward():
        with torch.no_grad():
            module(Xt)

    def torch_train():
        Y, _ = module(Xt)
        Y.backward(dYt)

    return interleaved_min({"np_f": np_forward, "t_f": torch_forward, "np_fb": np_train, "t_fb": torch_train},
                           repeats=repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="threads for torch (default: torch's own choice)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--configs", nargs="*", help="T,B,m,n tuples (default: the five of issue 2)")
    args = ap.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = [tuple(int(v) for v in c.split(",")) for c in args.configs] if args.configs else CONFIGS
    print(machine_line() + f"; torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"{'(T, B, m, n)':<22} {'fwd np ms':>10} {'fwd torch':>10} {'ratio':>6}   "
          f"{'f+b np ms':>10} {'f+b torch':>10} {'ratio':>6}")
    for T, B, m, n in configs:
        r = bench(T, B, m, n, torch, args.repeats)
        print(f"{str((T, B, m, n)):<22} {r['np_f'] * 1e3:>10.2f} {r['t_f'] * 1e3:>10.2f} {r['np_f'] / r['t_f']:>6.2f}   "
              f"{r['np_fb'] * 1e3:>10.2f} {r['t_fb'] * 1e3:>10.2f} {r['np_fb'] / r['t_fb']:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
