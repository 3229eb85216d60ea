"""Seconds per training epoch of one study trial (docs/study.md, "Scale on paper").

A trial of ``npslim study`` trains online (batch 1, SGD with Nesterov momentum, as Greff et al. 2017)
and evaluates the validation and test splits after every epoch.  This times such epochs, one BLAS
thread, for the Greff stand-in tasks at the hidden sizes 20, 63 (the geometric middle of [20, 200])
and 200, for the vanilla LSTM and FGR (the variant with the most parameters).  It reports wall
seconds and CPU seconds of this process: on a shared machine the CPU seconds are the better
estimate of what the epoch costs on a free core.

    python benchmarks/bench_study.py [--tasks vowels,chorales] [--sizes 20,63,200] [--cells lstm,fgr]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line  # noqa: E402

from threadpoolctl import threadpool_limits  # noqa: E402

from npslim import tasks  # noqa: E402
from npslim.study.runner import TRAINING_DEFAULTS  # noqa: E402
from npslim.train import Trainer, build_model  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="vowels,chorales")
    p.add_argument("--sizes", default="20,63,200")
    p.add_argument("--cells", default="lstm,fgr")
    p.add_argument("--epochs", type=int, default=1, help="epochs timed per configuration (default 1)")
    args = p.parse_args(argv)
    print(machine_line())
    print(f"{'task':<10} {'cell':<6} {'n':>4} {'params':>8} {'wall s/epoch':>13} {'cpu s/epoch':>12}")
    with threadpool_limits(limits=1, user_api="blas"):
        for name in args.tasks.split(","):
            task = tasks.make(name, seed=0)
            for cell in args.cells.split(","):
                for n in (int(s) for s in args.sizes.split(",")):
                    model = build_model(task, cell, n, seed=0, input_noise=0.1)
                    trainer = Trainer(model, task, optimizer="sgd", lr=1e-3,
                                      optimizer_options={"momentum": 0.9, "nesterov": True}, clip=None,
                                      batch_size=1, val_fraction=TRAINING_DEFAULTS["val_fraction"], seed=0,
                                      progress=False)
                    wall, cpu = time.perf_counter(), time.process_time()
                    trainer.fit(args.epochs)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    print(f"{name:<10} {cell:<6} {n:>4} {model.num_params():>8,} {wall / args.epochs:>13.2f} "
                          f"{cpu / args.epochs:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
