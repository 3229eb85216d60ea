"""The ``npslim`` command.

    npslim gradcheck            gradient-check every registered cell, one line each
    npslim cells -m 28 -n 50    every registered cell with its parameter count and formula
    npslim train --cell gru     train one cell on one task; writes a run folder
    npslim train --task imdb --limit 2000
                                the same on a real dataset (a subset of 2000 training reviews)
    npslim compare --task digits-rows --cells lstm,gru,cifg,lstm_c6
                                train several cells on one task: a table and one figure of all curves
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from pathlib import Path

from . import cells as cell_registry


def _parse_options(pairs):
    """['proj_size=4', 'tau=0.5'] -> {'proj_size': 4, 'tau': 0.5} (a dict passes through)"""
    if isinstance(pairs, dict):
        return dict(pairs)
    options = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--option: expected KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        else:
            value = {"true": True, "false": False}.get(value.lower(), value)
        options[key] = value
    return options


def cmd_gradcheck(args):
    from .gradcheck import check_cell
    names = args.cells.split(",") if args.cells else cell_registry.names()
    print("gradient check: float64, fourth-order central differences (h = 1e-3; 1e-5 for relu cells), "
          "loss = random weighted sum of outputs and final state")
    print(f"sizes m={args.input_size} n={args.hidden_size} B={args.batch}, T in {args.steps}; "
          f"pass: worst relative error < {args.tol:g}\n")
    header = f"{'cell':<10} {'params':>7}  " + "  ".join(f"{'T=' + str(T):>9}" for T in args.steps) + \
        f"  {'worst array':<12} result"
    print(header)
    print("-" * len(header))
    failed = []
    start = time.perf_counter()
    for name in names:
        cls = cell_registry.get(name)
        cell = cell_registry.make(name, args.input_size, args.hidden_size, seed=args.seed, dtype="float64",
                                  **cls.GRADCHECK_OPTIONS)
        worst, worst_array, per_T = 0.0, "", []
        for T in args.steps:
            errors = check_cell(cell, T=T, B=args.batch, seed=args.seed + T)
            arr = max(errors, key=errors.get)
            per_T.append(errors[arr])
            if errors[arr] >= worst:
                worst, worst_array = errors[arr], arr
        ok = worst < args.tol
        if not ok:
            failed.append(name)
        print(f"{name:<10} {cell.num_params():>7}  " + "  ".join(f"{e:>9.1e}" for e in per_T)
              + f"  {worst_array:<12} {'ok' if ok else 'FAIL'}", flush=True)
    print(f"\n{len(names) - len(failed)} of {len(names)} cells pass ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


def cmd_cells(args):
    options = _parse_options(args.option)
    m, n = args.input_size, args.hidden_size
    print(f"every registered cell at input size m={m}, hidden size n={n}"
          + (f", options {options}" if options else "") + "\n")
    header = f"{'cell':<10} {'parameters':>12}  formula"
    print(header)
    print("-" * 78)
    import inspect
    notes = []
    for name in cell_registry.names():
        cls = cell_registry.get(name)
        accepted = inspect.signature(cls.__init__).parameters
        opts = {k: v for k, v in options.items() if k in accepted}
        try:
            count = f"{cls.param_count(m, n, **opts):,}"
        except (ValueError, TypeError) as exc:
            notes.append(f"[{len(notes) + 1}] {name}: {exc}")
            count = f"n/a [{len(notes)}]"
        print(f"{name:<10} {count:>12}  {cls.PARAM_FORMULA}")
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        if args.verbose and summary:
            print(f"{'':<10} {'':>12}  {summary}")
    if notes:
        print()
        print("\n".join(notes))
    return 0


# ---------------------------------------------------------------------------- train / compare
#: the defaults of ``npslim train`` and ``npslim compare``, chosen so that
#: ``npslim compare --task digits-rows --cells lstm,gru,cifg,lstm_c6`` takes well under a minute on
#: two CPU cores and the LSTM reaches >= 0.97 test accuracy (0.98-0.99 over seeds)
TRAIN_DEFAULTS = dict(task="digits-rows", cell="lstm", cells="lstm,gru,cifg,lstm_c6", hidden_size=64, epochs=30,
                      batch_size=32, optimizer="adam", lr=1e-2, clip=5.0, schedule="none", patience=None,
                      val_fraction=0.0, tbptt=None, seed=0, dtype="float32", threads=1)

#: per-task defaults of --hidden-size, --epochs, --batch-size, --lr and --tbptt for the real datasets
#: (the other tasks take TRAIN_DEFAULTS).  Hidden sizes as the papers (Lu & Salem, file 001: MNIST rows
#: n = 50, pixels n = 100, IMDB n = 128 with 128-wide embeddings); the epochs are short budgets
#: for two CPU cores (the papers train 100-200 epochs), see ``npslim train --help``.
TASK_DEFAULTS = {
    "mnist-rows": dict(hidden_size=50, epochs=10, batch_size=32, lr=2e-3),
    "mnist-pixels": dict(hidden_size=100, epochs=3, batch_size=32, lr=1e-3),
    "imdb": dict(hidden_size=128, epochs=3, batch_size=32, lr=1e-3),
    "chorales": dict(hidden_size=128, epochs=50, batch_size=8, lr=1e-2),
    "shakespeare-chars": dict(hidden_size=256, epochs=2, batch_size=32, lr=5e-3, tbptt=50),
    "vowels": dict(hidden_size=64, epochs=40, batch_size=16, lr=1e-2),
}
#: the options TASK_DEFAULTS may set (each is None on the command line unless given)
PER_TASK = ("hidden_size", "epochs", "batch_size", "lr", "tbptt")


def task_defaults(task):
    """The training defaults of ``task``: TRAIN_DEFAULTS updated by its TASK_DEFAULTS entry."""
    return dict(TRAIN_DEFAULTS, **TASK_DEFAULTS.get(task, {}))


def _resolve_defaults(args):
    """Fill the per-task options left out on the command line from the task's defaults."""
    d = task_defaults(args.task)
    for key in PER_TASK:
        if getattr(args, key) is None:
            setattr(args, key, d[key])
    if args.tbptt == 0:                     # --tbptt 0: full BPTT, also where the task's default is a window
        args.tbptt = None
    return args


def _task_options(args):
    """--task-option pairs, with --limit / --limit-test as the task's n_train / n_test."""
    from . import tasks
    options = _parse_options(args.task_option)
    accepted = tasks.options(args.task)
    for flag, dest, key in (("--limit", "limit", "n_train"), ("--limit-test", "limit_test", "n_test")):
        value = getattr(args, dest, None)
        if value is None:
            continue
        if key not in accepted:
            raise SystemExit(f"{flag}: task {args.task!r} has a fixed size (it takes {sorted(accepted) or 'no options'})")
        options[key] = value
    return options


def _make_task(name, seed, options):
    """tasks.make, with a missing dataset reported as the datasets package words it (how to fetch it)."""
    from . import tasks
    from .datasets import DataNotFound
    try:
        return tasks.make(name, seed=seed, **options)
    except DataNotFound as exc:
        raise SystemExit(f"task {name!r}: {exc}")


def _describe(task, args):
    """One line: the task's size and shapes and the training settings."""
    inputs = (f"token ids, vocabulary {task.vocab_size}, embedding {task.embed_size}" if task.tokens
              else f"m = {task.input_size}")
    return (f"task {task.name}: {task.n_train} train / {task.n_test} test sequences, T = {task.num_steps}, "
            f"{inputs}, {task.output_size} outputs; hidden size {args.hidden_size}, {args.epochs} epochs, "
            f"{args.optimizer} lr {args.lr:g}, batch {args.batch_size}"
            + (f", tbptt {args.tbptt}" if args.tbptt else "") + f", seed {args.seed}")


def _run_folder(out, task, cells):
    """--out, or ./runs/<timestamp>-<task>-<cells>/ (made unique); created.  A folder that already
    holds a run is refused: a new run never overwrites what an earlier one saved."""
    if out:
        folder = Path(out)
        held = [name for name in ("config.json", "checkpoint.npz", "best.npz", "results.json")
                if (folder / name).exists()]
        if held:
            raise SystemExit(f"--out: {folder} already holds a run ({', '.join(held)}); choose another folder, "
                             f"or continue that run with: npslim train --resume {folder}")
    else:
        base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{'-'.join(cells)}"
        folder, k = base, 1
        while folder.exists():
            k += 1
            folder = base.with_name(f"{base.name}-{k}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cell_options(name, options):
    """The options of ``options`` that cell ``name`` accepts."""
    import inspect
    accepted = inspect.signature(cell_registry.get(name).__init__).parameters
    return {k: v for k, v in options.items() if k in accepted}


def _build(args, task, cell, folder, desc=None):
    """The model and the trainer of one cell, from the parsed options."""
    from .train import Trainer, build_model
    model = build_model(task, cell, args.hidden_size, seed=args.seed, dtype=args.dtype,
                        input_noise=args.input_noise, **_cell_options(cell, _parse_options(args.option)))
    trainer = Trainer(model, task, optimizer=args.optimizer, lr=args.lr,
                      optimizer_options=_parse_options(args.optimizer_option), clip=args.clip,
                      schedule=args.schedule, schedule_options=_parse_options(args.schedule_option),
                      batch_size=args.batch_size, patience=args.patience, monitor=args.monitor,
                      val_fraction=args.val_fraction, tbptt=args.tbptt, seed=args.seed, out=folder,
                      progress=not args.no_progress, desc=desc or cell)
    return model, trainer


def _config(args, command, cells, task, trainers):
    from . import __version__
    import numpy as np
    from .backend import get_backend
    return {"command": command, "argv": sys.argv[1:], "task": args.task, "task_options": task.options,
            "cells": cells, "cell_options": _parse_options(args.option), "hidden_size": args.hidden_size,
            "epochs": args.epochs, "input_noise": args.input_noise,
            "dtype": args.dtype, "threads": args.threads, "no_progress": args.no_progress,
            "trainer": next(iter(trainers.values())).config() if trainers else None,
            "parameters": {c: t.model.num_params() for c, t in trainers.items()},
            "versions": {"npslim": __version__, "numpy": np.__version__, "python": platform.python_version()},
            "backend": get_backend()}


def _write_json(path, obj):
    from .train import _jsonable
    Path(path).write_text(json.dumps(_jsonable(obj, strict=True), indent=1) + "\n")


def _fit(trainer, epochs):
    """Train; returns None or the TrainingDiverged message."""
    from .train import TrainingDiverged
    try:
        trainer.fit(epochs)
    except TrainingDiverged as exc:
        return str(exc)
    return None


def _summary(trainer):
    """One row of the results: parameters, seconds per epoch, best and final monitored metric."""
    hist = trainer.history
    cell = next(layer for layer in trainer.model.layers.values() if hasattr(layer, "cell")).cell
    return {"cell": cell.name, "cell_params": cell.num_params(), "params": trainer.model.num_params(),
            "epochs": len(hist),
            "seconds_per_epoch": sum(r["seconds"] for r in hist) / len(hist) if hist else float("nan"),
            "monitor": trainer.monitor, "best": trainer.best["value"], "best_epoch": trainer.best["epoch"],
            "final": hist[-1][trainer.monitor] if hist else None,
            "best_test": _best_test(trainer), "stopped_early": trainer.stopped_early}


def _best_test(trainer):
    key = f"test_{trainer.task.metric}"
    values = [r[key] for r in trainer.history if r.get(key) is not None]
    if not values:
        return None
    return max(values) if trainer.task.metric == "accuracy" else min(values)


def _plots(folder, trainer, name="gates.png"):
    from .plots import plot_gate_histograms
    from .train import cell_inputs
    X = cell_inputs(trainer.model, trainer.task.X_test[:, :256])        # token ids: their embeddings
    return plot_gate_histograms(trainer.model, X, Path(folder) / name,
                                title=f"{trainer.desc}: gate activations on {X.shape[1]} test sequences")


@contextlib.contextmanager
def _blas_threads(n):
    """Limit the BLAS thread pool to ``n`` threads inside the block (0: leave it alone)."""
    if not n:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:          # scikit-learn brings it; without it the library default stays
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def cmd_train(args):
    threads = args.threads
    if args.resume:              # the run's own thread count: the same reduction order, the same bits
        config = Path(args.resume) / "config.json"
        threads = json.loads(config.read_text()).get("threads", threads) if config.exists() else threads
    with _blas_threads(threads):
        return _train(args)


def _train(args):
    if args.resume:
        return _resume(args)
    if args.cell not in cell_registry.names():
        raise SystemExit(f"--cell: expected one of {cell_registry.names()}, got {args.cell!r}")
    _resolve_defaults(args)
    task = _make_task(args.task, args.seed, _task_options(args))
    folder = _run_folder(args.out, args.task, [args.cell])
    print(f"run folder: {folder}", flush=True)
    print(_describe(task, args), flush=True)
    model, trainer = _build(args, task, args.cell, folder)
    _write_json(folder / "config.json", _config(args, "train", [args.cell], task, {args.cell: trainer}))
    return _finish_train(args, folder, trainer)


def _finish_train(args, folder, trainer):
    from .plots import plot_curves
    from .train import write_history
    print(f"{trainer.desc} on {trainer.task.name}: {trainer.model.num_params():,} parameters "
          f"(cell {_summary(trainer)['cell_params']:,}), {args.epochs} epochs", flush=True)
    failure = _fit(trainer, args.epochs)
    write_history(folder, trainer.history)
    if trainer.history:
        plot_curves(trainer.history, folder / "curves.png", metric=trainer.task.metric,
                    title=f"{trainer.desc} on {trainer.task.name}")
    if failure is None:
        _plots(folder, trainer)
    s = _summary(trainer)
    if trainer.history:
        print(f"best {s['monitor']} {s['best']:.4f} at epoch {s['best_epoch']}; final {s['final']:.4f}; "
              f"{s['seconds_per_epoch']:.2f} s per epoch" + ("; stopped early" if s["stopped_early"] else ""))
    if failure:
        print(failure, file=sys.stderr)
    print(f"wrote {folder}")
    return 1 if failure else 0


def _resume(args):
    """Continue the run in --resume DIR from its checkpoint.npz, with its own config.json."""
    folder = Path(args.resume)
    if not (folder / "config.json").exists() or not (folder / "checkpoint.npz").exists():
        raise SystemExit(f"--resume: expected a train run folder with config.json and checkpoint.npz, got {folder}")
    config = json.loads((folder / "config.json").read_text())
    if config["command"] != "train":
        raise SystemExit(f"--resume: {folder} holds a {config['command']!r} run; only 'train' runs resume")
    t = config["trainer"]
    saved = argparse.Namespace(
        task=config["task"], hidden_size=config["hidden_size"], dtype=config["dtype"],
        option=config["cell_options"], optimizer=t["optimizer"], lr=t["lr"], optimizer_option=t["optimizer_options"],
        clip=t["clip"], schedule=t["schedule"], schedule_option=t["schedule_options"],
        batch_size=t["batch_size"], patience=t["patience"], monitor=t["monitor"], val_fraction=t["val_fraction"],
        tbptt=t["tbptt"], seed=t["seed"], threads=config.get("threads", args.threads), no_progress=args.no_progress,
        input_noise=config.get("input_noise", 0.0),
        epochs=args.epochs if args.epochs is not None else config["epochs"])
    task = _make_task(saved.task, saved.seed, config["task_options"])
    cell = config["cells"][0]
    model, trainer = _build(saved, task, cell, folder)
    trainer.load_checkpoint(folder / "checkpoint.npz")
    print(f"run folder: {folder} (resumed after epoch {trainer.epoch})", flush=True)
    return _finish_train(saved, folder, trainer)


def cmd_compare(args):
    with _blas_threads(args.threads):
        return _compare(args)


def _compare(args):
    from .plots import plot_curves
    from .train import write_history
    asked = [c.strip() for c in args.cells.split(",") if c.strip()]
    cells = [c for c in asked if c in cell_registry.names()]
    skipped = [c for c in asked if c not in cells]
    if skipped:
        print(f"skipped (not registered): {', '.join(skipped)}; registered cells: {', '.join(cell_registry.names())}",
              flush=True)
    if not cells:
        raise SystemExit("--cells: none of the given cells is registered")
    _resolve_defaults(args)
    task = _make_task(args.task, args.seed, _task_options(args))
    folder = _run_folder(args.out, args.task, cells)
    print(f"run folder: {folder}", flush=True)
    print(_describe(task, args), flush=True)
    trainers, failures = {}, {}
    start = time.perf_counter()
    for cell in cells:
        _, trainers[cell] = _build(args, task, cell, folder / cell)
    _write_json(folder / "config.json", _config(args, "compare", cells, task, trainers))
    for cell, trainer in trainers.items():
        failures[cell] = _fit(trainer, args.epochs)
        s = _summary(trainer)
        line = (f"{cell}: best test {task.metric} {s['best_test']:.4f}, {s['seconds_per_epoch']:.3f} s per epoch"
                if trainer.history else f"{cell}: no epoch completed")
        print(line + (f"  [{failures[cell]}]" if failures[cell] else ""), flush=True)
        if failures[cell] is None:
            _plots(folder / cell, trainer)
    histories = {cell: t.history for cell, t in trainers.items()}
    write_history(folder, histories)
    plot_curves(histories, folder / "curves.png", metric=task.metric,
                title=f"{', '.join(cells)} on {task.name} (hidden size {args.hidden_size})")
    rows = [_summary(t) for t in trainers.values()]
    table = _table(rows, task.metric, failures)
    (folder / "results.txt").write_text(table + "\n")
    _write_json(folder / "results.json", rows)
    print()
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.1f} s; wrote {folder} (config.json, history.json, history.csv, "
          f"curves.png, results.txt, and per cell: checkpoint.npz, best.npz, gates.png)")
    return 1 if any(failures.values()) else 0


def _table(rows, metric, failures):
    best = f"best test {metric}"
    header = f"{'cell':<10} {'parameters':>10} {'(cell)':>8} {'s/epoch':>8} {best:>18} {'epoch':>6}"
    lines = [header, "-" * len(header)]
    for r in rows:
        score = "diverged" if failures.get(r["cell"]) and r["best_test"] is None else \
            (f"{r['best_test']:.4f}" if r["best_test"] is not None else "-")
        lines.append(f"{r['cell']:<10} {r['params']:>10,} {r['cell_params']:>8,} {r['seconds_per_epoch']:>8.3f} "
                     f"{score:>18} {r['best_epoch'] if r['best_epoch'] is not None else '-':>6}")
    return "\n".join(lines)


def _add_training_options(p, compare):
    """The options shared by ``train`` and ``compare``."""
    from . import optim, tasks
    from .train import SCHEDULES
    d = TRAIN_DEFAULTS
    p.add_argument("--task", default=d["task"], choices=tasks.names(), metavar="TASK",
                   help=f"the task to train on: {', '.join(tasks.names())} (default {d['task']}: scikit-learn's "
                        f"8x8 digits, one row per step; the real datasets, table below, need their data: "
                        f"bash datasets/fetch.sh)")
    p.add_argument("--task-option", action="append", metavar="KEY=VALUE",
                   help="a task option, e.g. T=100 for adding, permuted=true for mnist-pixels, maxlen=500 for imdb "
                        "(repeatable; see npslim.tasks.options(name))")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on a seeded random subset of N training sequences (the task option n_train; "
                        "default: all); for quick runs on the real datasets")
    p.add_argument("--limit-test", type=int, default=None, metavar="N",
                   help="evaluate on a seeded random subset of N test sequences (the task option n_test; "
                        "default: all)")
    if compare:
        p.add_argument("--cells", default=d["cells"],
                       help=f"comma-separated registered cells to compare, trained one after the other with the "
                            f"same seed; unregistered names are skipped with a note (default {d['cells']})")
    else:
        p.add_argument("--cell", default=d["cell"], help=f"the registered cell to train (default {d['cell']}; "
                                                         f"`npslim cells` lists them)")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                   help="a cell option, e.g. peepholes=false or proj_size=32 (repeatable; applied to the cells "
                        "that take it)")
    p.add_argument("-n", "--hidden-size", type=int, default=None,
                   help=f"hidden size n of the recurrent cell (default {d['hidden_size']}; per task: table below)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"number of passes over the training split (default {d['epochs']}; per task: table "
                        f"below; with --resume, the total to reach, default the run's own)")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"training minibatch size (default {d['batch_size']}; per task: table below)")
    p.add_argument("--optimizer", default=d["optimizer"], choices=optim.names(),
                   help=f"optimizer, PyTorch's update rules (default {d['optimizer']})")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d['lr']:g}; per task: table "
                                                          f"below; with --schedule loss it is eta0)")
    p.add_argument("--optimizer-option", action="append", metavar="KEY=VALUE",
                   help="another optimizer keyword, e.g. momentum=0.9 or weight_decay=1e-4 (repeatable)")
    p.add_argument("--clip", type=float, default=d["clip"],
                   help=f"clip the global gradient norm to this value; 0 turns clipping off "
                        f"(default {d['clip']:g})")
    p.add_argument("--schedule", default=d["schedule"], choices=sorted(SCHEDULES),
                   help="learning-rate schedule: none, step (StepLR, needs step_size), exp (ExponentialLR, needs "
                        "gamma), plateau (ReduceLROnPlateau on the monitored value), loss (Lu & Salem's "
                        "lr = eta0 * exp(training loss)) (default none)")
    p.add_argument("--schedule-option", action="append", metavar="KEY=VALUE",
                   help="a schedule keyword, e.g. gamma=0.9 or step_size=10 (repeatable)")
    p.add_argument("--patience", type=int, default=d["patience"],
                   help="early stopping: stop after this many epochs without a better monitored value "
                        "(default: never stop early)")
    p.add_argument("--monitor", default=None,
                   help="history key that decides the best epoch and early stopping, e.g. test_loss "
                        "(default: val_<metric> with --val-fraction, else test_<metric>)")
    p.add_argument("--val-fraction", type=float, default=d["val_fraction"],
                   help="hold this fraction of the training split out as a validation split (default 0: none; "
                        "the tasks ship a train and a test split)")
    p.add_argument("--tbptt", type=int, default=None,
                   help="truncated BPTT window in steps, for per-step tasks such as sine, copy or "
                        "shakespeare-chars (default: full backpropagation through time; 50 for shakespeare-chars; "
                        "0: full BPTT)")
    p.add_argument("--input-noise", type=float, default=0.0, metavar="STD",
                   help="Gaussian noise of this std added to the inputs in training (Greff et al. 2017; default 0)")
    p.add_argument("--dtype", default=d["dtype"], choices=["float32", "float64"],
                   help=f"floating-point type of the parameters and the arithmetic (default {d['dtype']})")
    p.add_argument("--seed", type=int, default=d["seed"],
                   help=f"seed of the weights, the shuffling and the synthetic task data; the same seed repeats "
                        f"a run (default {d['seed']})")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder to write the run into (default ./runs/<timestamp>-<task>-<cells>/)")
    p.add_argument("--threads", type=int, default=d["threads"],
                   help=f"BLAS threads (default {d['threads']}: the per-step matrix products of small recurrent "
                        f"models run fastest on one thread; 0 leaves the library's default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps paragraphs as usual, but keeps indented lines (tables) as they are."""

    def _fill_text(self, text, width, indent):
        out = []
        for para in text.split("\n\n"):
            if para.startswith(" "):
                out.append("\n".join(indent + line for line in para.splitlines()))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


def _defaults_table():
    """The per-task defaults, as the epilog of train and compare."""
    from . import tasks
    rows = [("task", "hidden", "epochs", "batch", "lr", "tbptt")]
    for name in tasks.names():
        d = task_defaults(name)
        rows.append((name, str(d["hidden_size"]), str(d["epochs"]), str(d["batch_size"]), f"{d['lr']:g}",
                     str(d["tbptt"] or "-")))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  " + "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    return ("defaults per task (options given on the command line win; optimizer adam, clip 5 for all):\n\n"
            + "\n".join(lines) + "\n\n"
            "The real datasets (mnist-rows, mnist-pixels, imdb, chorales, shakespeare-chars, vowels) are read "
            "from npslim's cache (bash datasets/fetch.sh fetches them); without them the command says how to get "
            "them.  --limit N trains on N sequences of them (shakespeare-chars: N segments of 200 characters).  "
            "imdb follows Lu & Salem (file 001): 20,000 words, the last 80 words of each review, embedding 128, "
            "n = 128; Akandeh & Salem's setting (file 000) is --task-option vocab_size=5000 --task-option "
            "maxlen=500 --task-option embed_size=32 -n 100.")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="npslim",
        description="npslim: recurrent cells in NumPy with hand-derived, gradient-checked backward passes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gradcheck", help="gradient-check every registered cell",
                       description="Check every registered cell's backward pass against central finite "
                                   "differences in float64 (random weights, biases, peepholes and initial state); "
                                   "exit status 1 if any cell fails.")
    p.add_argument("--cells", help="comma-separated cell names (default: every registered cell)")
    p.add_argument("-m", "--input-size", type=int, default=4, help="input size m (default 4)")
    p.add_argument("-n", "--hidden-size", type=int, default=6, help="hidden size n (default 6)")
    p.add_argument("-B", "--batch", type=int, default=3, help="batch size (default 3)")
    p.add_argument("-T", "--steps", type=int, nargs="+", default=[1, 5], help="sequence lengths (default 1 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and loss weights (default 0)")
    p.add_argument("--tol", type=float, default=1e-6, help="largest relative error that passes (default 1e-6)")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("cells", help="list every registered cell with its parameter count",
                       description="Print every registered cell with its parameter count at the given sizes "
                                   "and its parameter-count formula.")
    p.add_argument("-m", "--input-size", type=int, default=32, help="input size m (default 32)")
    p.add_argument("-n", "--hidden-size", type=int, default=100, help="hidden size n (default 100)")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                   help="a cell option, e.g. proj_size=64 or groups=2 (repeatable; applied to the cells that take it)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each cell's one-line summary")
    p.set_defaults(func=cmd_cells)

    p = sub.add_parser(
        "train", help="train one cell on one task",
        description="Train one recurrent cell (a Recurrent layer, then a Dense read-out; softmax cross-entropy or "
                    "mean squared error) on one task, with a progress bar, evaluation after every epoch, "
                    "checkpoints and a guard that stops on a NaN/Inf loss or gradient.  Writes a run folder: "
                    "config.json, history.json, history.csv, curves.png (loss and metric), gates.png (gate "
                    "histograms), checkpoint.npz (last epoch, for --resume) and best.npz (best epoch); prints its "
                    "path.  Exit status 1 if training diverged.")
    p.formatter_class, p.epilog = _HelpFormatter, _defaults_table()
    _add_training_options(p, compare=False)
    p.add_argument("--resume", metavar="DIR",
                   help="continue the train run in DIR from its checkpoint.npz with its own config.json (only "
                        "--epochs and --no-progress are taken from this command line); the result equals an "
                        "uninterrupted run bit for bit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare", help="train several cells on one task and compare them",
        description="Train several cells on one task, one after the other with the same settings and seed, "
                    "then print a table (cell, parameters of the model and of the cell, seconds per training "
                    "epoch, best test metric and its epoch) and write one figure of all curves.  Writes a run "
                    "folder: config.json, history.json, history.csv (a cell column), curves.png, results.txt, "
                    "results.json, and per cell a subfolder with checkpoint.npz, best.npz and gates.png; prints "
                    "its path.  The defaults train lstm, gru, cifg and lstm_c6 on digits-rows in well under a "
                    "minute on two CPU cores.")
    p.formatter_class, p.epilog = _HelpFormatter, _defaults_table()
    _add_training_options(p, compare=True)
    p.set_defaults(func=cmd_compare)

    from .study import cli as study_cli
    study_cli.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
