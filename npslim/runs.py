"""Runs of ``npslim train`` and ``npslim compare``: the run folder, the models and trainers built from
the parsed options, training, resuming, and what a run writes (config.json, history, curves, gate
histograms, results).  :mod:`npslim.cli` parses the command line and hands the options here.

    folder/config.json      the command, the task and its options, the cells, the trainer's settings
    folder/history.json     one record per epoch (compare: per cell), history.csv the same as a table
    folder/curves.png       loss and metric per epoch; gates.png: gate histograms on test sequences
    folder/checkpoint.npz   the last epoch (``npslim train --resume folder``), best.npz the best one
                            (chosen on the validation split by default); compare: one subfolder per cell,
                            continued together by ``npslim compare --resume folder``
    folder/results.txt      compare: the table it printed; results.json the same rows

Reading a run folder back (the model, task, history) is :mod:`npslim.runs_io`; the settings (defaults,
recipes, options) are :mod:`npslim.run_settings`.
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
from . import tasks
from .files import FolderInUse, folder_lock, remove_temporaries, write_json_atomic, write_text_atomic
from .runs_io import selected_on
from .run_settings import (GLOBAL, PER_TASK, RECIPE_SETS, TRAIN_DEFAULTS, apply_recipe,  # noqa: F401
                           cell_options_for, parse_options, resolve_defaults, task_defaults, task_options)

__all__ = ["TRAIN_DEFAULTS", "PER_TASK", "task_defaults", "resolve_defaults", "apply_recipe", "parse_options",
           "task_options", "cell_options_for", "blas_threads", "threads_of", "train", "compare"]


def _make_task(name, seed, options):
    """tasks.make, with a missing dataset reported as the datasets package words it (how to fetch it)."""
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
            + (f", schedule {args.schedule}" if args.schedule not in (None, "none") else "")
            + (f", init {args.init}" if getattr(args, "init", "npslim") not in (None, "npslim") else "")
            + (f", tbptt {args.tbptt}" if args.tbptt else "") + f", seed {args.seed}"
            + (f"; recipe {args.recipe} (python -m npslim.recipes {args.recipe} says what its authors ran)"
               if getattr(args, "recipe", None) else ""))


def _run_folder(out, task, cells):
    """--out, or ./runs/<timestamp>-<task>-<cells>/ (made unique); not created here (:func:`_claimed`)."""
    if out:
        return Path(out)
    base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{'-'.join(cells)}"
    folder, k = base, 1
    while folder.exists():
        k += 1
        folder = base.with_name(f"{base.name}-{k}")
    return folder


#: the files whose presence means a folder holds trained state (in it, or in a compare run's cell folders)
_SAVED = ("checkpoint.npz", "best.npz", "results.json")


@contextlib.contextmanager
def _claimed(folder, new):
    """Create ``folder`` and hold its lock inside the block (one run per folder at a time; a second
    is refused at once), after removing the temporary files of writes that a kill interrupted.  For a
    ``new`` run, a folder that holds trained state is refused (nothing saved is ever replaced); one
    with no checkpoint (a run stopped in its first epoch) is reused, and says so."""
    if new:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(folder):
            held = sorted({p.name for name in _SAVED for p in (*folder.glob(name), *folder.glob(f"*/{name}"))})
            if new and held:
                raise SystemExit(f"--out: {folder} already holds a run ({', '.join(held)}); choose another folder, "
                                 f"or continue that run with: npslim train --resume {folder}")
            for path in remove_temporaries(folder):
                print(f"removed {path} (a temporary file of a write that was interrupted)", flush=True)
            if new and (folder / "config.json").exists():
                print(f"reusing {folder}: it holds no checkpoint (an earlier run stopped before its first "
                      f"epoch ended)", flush=True)
            yield folder
    except FolderInUse as exc:
        raise SystemExit(f"--{'out' if new else 'resume'}: {exc}") from None


def _build(args, task, cell, folder, options, desc=None):
    """The model and the trainer of one cell, from the parsed options (``options``: the cell's, checked);
    creates nothing on disk, so every argument is checked before a run folder exists."""
    from .train import Trainer, build_model
    from .initializers import initialize
    model = build_model(task, cell, args.hidden_size, seed=args.seed, dtype=args.dtype,
                        input_noise=args.input_noise, **options)
    initialize(model, getattr(args, "init", None) or "npslim", seed=args.seed)
    trainer = Trainer(model, task, optimizer=args.optimizer, lr=args.lr,
                      optimizer_options=parse_options(args.optimizer_option, "--optimizer-option"), clip=args.clip,
                      schedule=args.schedule,
                      schedule_options=parse_options(args.schedule_option, "--schedule-option"),
                      batch_size=args.batch_size, patience=args.patience, monitor=args.monitor,
                      val_fraction=args.val_fraction, tbptt=args.tbptt, seed=args.seed, out=folder,
                      progress=not args.no_progress, desc=desc or cell)
    return model, trainer


def _config(args, command, cells, task, trainers, options):
    """What config.json records; ``options`` (cell -> its checked options) are saved as one dict
    that :func:`cell_options_for` gives back to each cell on resume."""
    from . import __version__
    import numpy as np
    from .backend import get_backend
    return {"command": command, "argv": sys.argv[1:], "recipe": getattr(args, "recipe", None),
            "init": getattr(args, "init", None) or "npslim", "task": args.task, "task_options": task.options,
            "cells": cells, "cell_options": {k: v for o in options.values() for k, v in o.items()}, "hidden_size": args.hidden_size,
            "epochs": args.epochs, "input_noise": args.input_noise,
            "dtype": args.dtype, "threads": args.threads, "no_progress": args.no_progress,
            "trainer": next(iter(trainers.values())).config() if trainers else None,
            "parameters": {c: t.model.num_params() for c, t in trainers.items()},
            "versions": {"npslim": __version__, "numpy": np.__version__, "python": platform.python_version()},
            "backend": get_backend()}


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
            "best_test": _best_test(trainer), "selected_on": selected_on(trainer.monitor),
            "stopped_early": trainer.stopped_early}


def _best_test(trainer):
    """The test metric at the best epoch (the one chosen on ``trainer.monitor``)."""
    epoch = trainer.best["epoch"]
    return None if epoch is None else trainer.history[epoch - 1].get(f"test_{trainer.task.metric}")


def _selection_note(monitor):
    """How the best epoch was chosen, in words; a choice made on the test split is flagged."""
    where = selected_on(monitor)
    if where == "test":
        return (f"best epoch chosen on {monitor}, the TEST split itself (--val-fraction 0): the test score at "
                f"that epoch is an optimistic estimate")
    return f"best epoch chosen on {monitor} ({where} split)"


def _plots(folder, trainer, name="gates.png"):
    from .plots import plot_gate_histograms
    from .train import cell_inputs
    X = cell_inputs(trainer.model, trainer.task.X_test[:, :256])        # token ids: their embeddings
    return plot_gate_histograms(trainer.model, X, Path(folder) / name,
                                title=f"{trainer.desc}: gate activations on {X.shape[1]} test sequences")


@contextlib.contextmanager
def blas_threads(n):
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


def threads_of(args):
    """The BLAS threads of a train or compare run: --threads, or with --resume the run's own (the same
    reduction order, the same bits)."""
    if args.resume:
        config = Path(args.resume) / "config.json"
        return json.loads(config.read_text()).get("threads", args.threads) if config.exists() else args.threads
    return args.threads


def train(args):
    if args.resume:
        return _resume(args)
    resolve_defaults(args)
    if args.cell not in cell_registry.names():
        raise SystemExit(f"--cell: expected one of {cell_registry.names()}, got {args.cell!r}")
    if args.cell not in cell_registry.names():
        raise SystemExit(f"--cell: expected one of {cell_registry.names()}, got {args.cell!r}")
    options = cell_options_for([args.cell], parse_options(args.option, "-o/--option"),
                               getattr(args, "recipe_cell_options", None))[args.cell]
    task = _make_task(args.task, args.seed, task_options(args))
    folder = _run_folder(args.out, args.task, [args.cell])
    model, trainer = _build(args, task, args.cell, folder, options)
    with _claimed(folder, new=True):
        print(f"run folder: {folder}", flush=True)
        print(_describe(task, args), flush=True)
        write_json_atomic(folder / "config.json", _config(args, "train", [args.cell], task, {args.cell: trainer},
                                                              {args.cell: options}))
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
        print(f"best {s['monitor']} {s['best']:.4f} at epoch {s['best_epoch']}"
              + (f" (test {trainer.task.metric} there {s['best_test']:.4f})" if s["best_test"] is not None
                 and not s["monitor"].startswith("test_") else "")
              + f"; final {s['final']:.4f}; {s['seconds_per_epoch']:.2f} s per epoch"
              + ("; stopped early" if s["stopped_early"] else ""))
        print(_selection_note(s["monitor"]))
    if failure:
        print(failure, file=sys.stderr)
    print(f"wrote {folder}")
    return 1 if failure else 0


def _saved_args(args, command):
    """(folder, config, the run's own options, task) of the run in --resume DIR, made by ``command``."""
    folder = Path(args.resume)
    if not (folder / "config.json").exists():
        raise SystemExit(f"--resume: expected a {command} run folder with config.json, got {folder}")
    config = json.loads((folder / "config.json").read_text())
    if config["command"] != command:
        raise SystemExit(f"--resume: {folder} holds a {config['command']!r} run; resume it with "
                         f"npslim {config['command']} --resume {folder}")
    t = config["trainer"]
    saved = argparse.Namespace(
        task=config["task"], hidden_size=config["hidden_size"], dtype=config["dtype"],
        option=config["cell_options"], optimizer=t["optimizer"], lr=t["lr"], optimizer_option=t["optimizer_options"],
        clip=t["clip"], schedule=t["schedule"], schedule_option=t["schedule_options"],
        batch_size=t["batch_size"], patience=t["patience"], monitor=t["monitor"], val_fraction=t["val_fraction"],
        tbptt=t["tbptt"], seed=t["seed"], threads=config.get("threads", args.threads), no_progress=args.no_progress,
        init=config.get("init", "npslim"),
        input_noise=config.get("input_noise", 0.0),
        epochs=args.epochs if args.epochs is not None else config["epochs"])
    return folder, config, saved, _make_task(saved.task, saved.seed, config["task_options"])


def _load_checkpoint(trainer, path):
    """trainer.load_checkpoint, a corrupt file reported in one line."""
    from .model_io import CorruptFile
    try:
        trainer.load_checkpoint(path)
    except CorruptFile as exc:
        raise SystemExit(f"--resume: {exc}") from None


def _resume(args):
    """Continue the run in --resume DIR from its checkpoint.npz, with its own config.json."""
    folder, config, saved, task = _saved_args(args, "train")
    cell = config["cells"][0]
    model, trainer = _build(saved, task, cell, folder, cell_options_for([cell], saved.option)[cell])
    with _claimed(folder, new=False):
        if not (folder / "checkpoint.npz").exists():        # stopped in its first epoch: start it again
            print(f"run folder: {folder} (no checkpoint yet: training from epoch 0 with its config.json)", flush=True)
            return _finish_train(saved, folder, trainer)
        _load_checkpoint(trainer, folder / "checkpoint.npz")
        if trainer.stopped_early or trainer.epoch >= saved.epochs:
            why = (f"stopped early at epoch {trainer.epoch} (patience {trainer.patience}); nothing to resume"
                   if trainer.stopped_early else
                   f"already at epoch {trainer.epoch}; pass --epochs N (N > {trainer.epoch}) to train further")
            raise SystemExit(f"--resume: {folder} is {why}")
        print(f"run folder: {folder} (resumed after epoch {trainer.epoch})", flush=True)
        return _finish_train(saved, folder, trainer)


def compare(args):
    if args.resume:
        saved, folder, task, cells, trainers = _resume_compare(args)
        with _claimed(folder, new=False):
            return _compare_cells(saved, folder, task, cells, trainers)
    resolve_defaults(args)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in cell_registry.names()]
    if unknown or not cells:
        raise SystemExit(f"--cells: expected registered cells ({', '.join(cell_registry.names())}), got "
                         f"{', '.join(map(repr, unknown)) if unknown else repr(args.cells)}")
    options = cell_options_for(cells, parse_options(args.option, "-o/--option"),
                               getattr(args, "recipe_cell_options", None))
    task = _make_task(args.task, args.seed, task_options(args))
    folder = _run_folder(args.out, args.task, cells)
    trainers = {cell: _build(args, task, cell, folder / cell, options[cell])[1] for cell in cells}
    with _claimed(folder, new=True):
        return _compare(args, task, cells, folder, trainers, options)


def _compare(args, task, cells, folder, trainers, options):
    print(f"run folder: {folder}", flush=True)
    print(_describe(task, args), flush=True)
    write_json_atomic(folder / "config.json", _config(args, "compare", cells, task, trainers, options))
    return _compare_cells(args, folder, task, cells, trainers)


def _resume_compare(args):
    """The settings, task and trainers of the compare run in --resume DIR, each cell restored from its
    checkpoint.npz (a cell without one starts from scratch; a finished one trains no more)."""
    folder, config, saved, task = _saved_args(args, "compare")
    cells, trainers = config["cells"], {}
    options = cell_options_for(cells, saved.option)
    for cell in cells:
        _, trainers[cell] = _build(saved, task, cell, folder / cell, options[cell])
        checkpoint = folder / cell / "checkpoint.npz"
        if checkpoint.exists():
            _load_checkpoint(trainers[cell], checkpoint)
    print(f"run folder: {folder} (resumed: " + ", ".join(f"{c} after epoch {t.epoch}" for c, t in trainers.items())
          + f"; training to epoch {saved.epochs})", flush=True)
    return saved, folder, task, cells, trainers


def _compare_cells(args, folder, task, cells, trainers):
    """Train every cell in turn, then write the histories, the figure and the results table."""
    from .plots import plot_curves
    from .train import write_history
    failures = {}
    start = time.perf_counter()
    for cell, trainer in trainers.items():
        failures[cell] = _fit(trainer, args.epochs)
        s = _summary(trainer)
        line = (f"{cell}: test {task.metric} at the best epoch {s['best_test']:.4f}, "
                f"{s['seconds_per_epoch']:.3f} s per epoch" if trainer.history else f"{cell}: no epoch completed")
        print(line + (f"  [{failures[cell]}]" if failures[cell] else ""), flush=True)
        if failures[cell] is None:
            _plots(folder / cell, trainer)
    histories = {cell: t.history for cell, t in trainers.items()}
    write_history(folder, histories)
    plot_curves(histories, folder / "curves.png", metric=task.metric,
                title=f"{', '.join(cells)} on {task.name} (hidden size {args.hidden_size})")
    rows = [_summary(t) for t in trainers.values()]
    table = _table(rows, task.metric, failures) + "\n" + _selection_note(next(iter(trainers.values())).monitor)
    write_text_atomic(folder / "results.txt", table + "\n")
    write_json_atomic(folder / "results.json", rows)
    print()
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.1f} s; wrote {folder} (config.json, history.json, history.csv, "
          f"curves.png, results.txt, and per cell: checkpoint.npz, best.npz, gates.png)")
    return 1 if any(failures.values()) else 0


def _table(rows, metric, failures):
    best = f"test {metric} at best epoch"
    header = f"{'cell':<10} {'parameters':>10} {'(cell)':>8} {'s/epoch':>8} {best:>24} {'best epoch':>10}"
    lines = [header, "-" * len(header)]
    for r in rows:
        score = "diverged" if failures.get(r["cell"]) and r["best_test"] is None else \
            (f"{r['best_test']:.4f}" if r["best_test"] is not None else "-")
        lines.append(f"{r['cell']:<10} {r['params']:>10,} {r['cell_params']:>8,} {r['seconds_per_epoch']:>8.3f} "
                     f"{score:>24} {r['best_epoch'] if r['best_epoch'] is not None else '-':>10}")
    return "\n".join(lines)
