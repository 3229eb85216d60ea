"""Run a study's trials on Dask and record each one as it finishes.

    definition = make_definition("vowels", ["lstm", "nfg", "cifg"], trials=20, seed=0)    # Greff's space
    summary = run_study("studies/vowels", definition, workers=2)     # embedded LocalCluster, 2 processes
    summary = run_study("studies/vowels")                            # resume: only the missing trials
    summary = run_study("studies/vowels", scheduler="tcp://127.0.0.1:8786")   # an existing cluster

One trial = one ``npslim train`` run: the cell with the drawn hidden size, SGD with Nesterov momentum
(Greff et al. 2017) at the drawn learning rate and momentum, Gaussian input noise of the drawn std, a
validation split held out of train for selection and early stopping, the test split for reporting
(the test metric of the epoch with the best validation metric).  :func:`run_trial` runs it on a
worker with BLAS pinned to one thread and returns a plain dict; a trial that raises (a diverged
training, a bad configuration) comes back as ``status = "failed"`` with the reason, so it is
recorded once and never retried.  A worker process that dies mid-trial is different: the Dask
scheduler reruns its trial on another worker (up to ``distributed.scheduler.allowed-failures``
deaths, 3 by default; after that the trial is recorded as failed, "KilledWorker").

The client writes each result to the study's SQLite store the moment it arrives (one
transaction, primary key (study, trial)), so a killed client loses at most the trials then in
flight, and ``run_study(folder)`` later runs exactly the ones not recorded.
"""
from __future__ import annotations

import logging
import os
import platform
import socket
import time
from pathlib import Path

from .space import SearchSpace, draw_trials
from .store import FORMAT, StudyError, open_folder

__all__ = ["TRAINING_DEFAULTS", "make_definition", "run_trial", "rerun_command", "start_client", "run_study"]

#: how each trial trains (Greff et al. 2017 train online, batch 1, with early stopping on validation;
#: they name no gradient clipping, so none; the epoch cap and patience are npslim's budget)
TRAINING_DEFAULTS = {"epochs": 30, "batch_size": 1, "patience": 5, "val_fraction": 0.2, "clip": None,
                     "dtype": "float32"}
#: environment of the LocalCluster's worker processes, set before they start: one BLAS thread each
WORKER_ENV = {"OMP_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "VECLIB_MAXIMUM_THREADS": 1,
              "NUMEXPR_NUM_THREADS": 1}


def make_definition(task, cells, trials, *, seed=0, space=None, task_options=None, **training):
    """The plan of a study (what study.json holds): checks every argument, draws every trial.

    ``cells``: registered cell names; ``trials``: per cell; ``space``: a SearchSpace, a dict or
    None (Greff's); ``task_options``: as ``npslim.tasks.make`` takes them (n_train, n_test, ...);
    ``training``: overrides of :data:`TRAINING_DEFAULTS`."""
    from .. import __version__
    from .. import cells as cell_registry
    from .. import tasks
    if isinstance(cells, str):
        cells = [c.strip() for c in cells.split(",") if c.strip()]
    cells = list(cells)
    if not cells:
        raise StudyError("--cells: expected at least one cell name, got none")
    unknown = [c for c in cells if c not in cell_registry.names()]
    if unknown:
        raise StudyError(f"--cells: unknown cell {unknown[0]!r}; registered cells: {', '.join(cell_registry.names())}")
    if len(set(cells)) != len(cells):
        raise StudyError(f"--cells: each cell once, got {','.join(cells)}")
    if task not in tasks.names():
        raise StudyError(f"--task: expected one of {', '.join(tasks.names())}, got {task!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise StudyError(f"--trials: expected an int >= 1 (trials per cell), got {trials!r}")
    unknown = sorted(set(training) - set(TRAINING_DEFAULTS))
    if unknown:
        raise StudyError(f"training: unknown setting {unknown[0]!r}; expected some of {sorted(TRAINING_DEFAULTS)}")
    training = dict(TRAINING_DEFAULTS, **training)
    try:
        space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        probe = _make_task(task, seed, task_options or {})      # checks the options and that the data are here
    except (ValueError, TypeError) as exc:
        raise StudyError(str(exc).splitlines()[0]) from None
    return {"format": FORMAT, "task": task, "task_options": dict(task_options or {}), "metric": probe.metric,
            "mode": "max" if probe.metric == "accuracy" else "min", "cells": cells, "trials": trials,
            "seed": int(seed), "space": space.to_dict(), "training": training,
            "planned": draw_trials(cells, trials, seed, space),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": {"npslim": __version__, "python": platform.python_version()}}


def _make_task(name, seed, options):
    from .. import tasks
    from ..datasets import DataNotFound
    try:
        return tasks.make(name, seed=seed, **options)
    except DataNotFound as exc:
        raise ValueError(f"--task: {name!r}: {exc}") from None


def run_trial(trial, setup):
    """Train one planned trial (on a Dask worker); returns its record, never raises for a failed trial.

    ``setup``: {"task", "task_options", "training"} of the study.  The record holds the trial's
    configuration, "status" ("ok" or "failed") and "reason", the task "metric", "val" (its best
    validation value), "test" (the test value of that epoch), "best_epoch", "epochs",
    "stopped_early", "seconds" (wall time of the whole trial), "cpu_seconds" (its CPU time), "n_params",
    "cell_params",
    "history", "worker" (host:pid) and "command" (the ``npslim train`` line that repeats it)."""
    from threadpoolctl import threadpool_limits

    from ..train import TrainingDiverged
    start, cpu = time.perf_counter(), time.process_time()
    record = dict(trial, status="ok", reason=None, worker=f"{socket.gethostname()}:{os.getpid()}",
                  command=rerun_command(trial, setup))
    trainer = None
    with threadpool_limits(limits=1, user_api="blas"):          # one core per trial, whatever the environment
        try:
            trainer = _trainer(trial, setup)
            trainer.fit(setup["training"]["epochs"])
        except TrainingDiverged as exc:
            record.update(status="failed", reason=str(exc))
        except Exception as exc:                                  # a failed trial is a result, not a retry
            record.update(status="failed", reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
    record["seconds"] = time.perf_counter() - start
    record["cpu_seconds"] = time.process_time() - cpu        # this worker's CPU time: the cost on a free core
    if trainer is not None:
        record.update(_outcome(trainer))
    return record


def _trainer(trial, setup):
    """The Trainer of one trial: exactly what ``rerun_command`` makes ``npslim train`` build."""
    from ..train import Trainer, build_model
    p, t = trial["params"], setup["training"]
    task = _make_task(setup["task"], trial["seed"], setup["task_options"])
    model = build_model(task, trial["cell"], p["hidden_size"], seed=trial["seed"], dtype=t["dtype"],
                        input_noise=p["input_noise"])
    options = {"momentum": p["momentum"], "nesterov": p["momentum"] > 0}       # SGD with Nesterov momentum
    return Trainer(model, task, optimizer="sgd", lr=p["lr"], optimizer_options=options, clip=t["clip"],
                   batch_size=t["batch_size"], patience=t["patience"], val_fraction=t["val_fraction"],
                   seed=trial["seed"], out=None, progress=False)


def _outcome(trainer):
    """Metrics of a trained (or stopped) trial: best validation value, the test value of its epoch."""
    metric, hist, best = trainer.task.metric, trainer.history, trainer.best
    at_best = hist[best["epoch"] - 1] if best["epoch"] else {}
    rnn = trainer.model["rnn"]
    return {"metric": metric, "monitor": trainer.monitor, "val": best["value"],
            "test": at_best.get(f"test_{metric}"), "best_epoch": best["epoch"], "epochs": len(hist),
            "stopped_early": trainer.stopped_early, "n_params": trainer.model.num_params(),
            "cell_params": rnn.cell.num_params(),
            "train_seconds": sum(r["seconds"] + r["eval_seconds"] for r in hist), "history": hist}


def rerun_command(trial, setup):
    """The ``npslim train`` command line that repeats ``trial`` alone (same seed, same result)."""
    p, t = trial["params"], setup["training"]
    opts = dict(setup["task_options"])
    words = ["npslim", "train", "--task", setup["task"]]
    for flag, key in (("--limit", "n_train"), ("--limit-test", "n_test")):
        if opts.get(key) is not None:
            words += [flag, str(opts.pop(key))]
    for key, value in opts.items():
        if value is not None:
            words += ["--task-option", f"{key}={value}"]
    words += ["--cell", trial["cell"], "-n", str(p["hidden_size"]), "--optimizer", "sgd", "--lr", repr(p["lr"]),
              "--optimizer-option", f"momentum={p['momentum']!r}",
              "--optimizer-option", f"nesterov={'true' if p['momentum'] > 0 else 'false'}",
              "--input-noise", repr(p["input_noise"]), "--batch-size", str(t["batch_size"]),
              "--epochs", str(t["epochs"]), "--val-fraction", repr(t["val_fraction"]),
              "--clip", repr(t["clip"] or 0), "--dtype", t["dtype"], "--seed", str(trial["seed"])]
    if t["patience"] is not None:
        words += ["--patience", str(t["patience"])]
    return " ".join(words + ["--out", f"runs/{trial['trial_id'].replace('/', '-')}"])


def start_client(workers=None, scheduler=None, timeout=5):
    """(client, cluster): a client of the scheduler at ``scheduler`` (cluster None), or of a new
    LocalCluster of ``workers`` single-threaded worker processes (default: one per core) whose
    BLAS pools are pinned to one thread before they start.  A scheduler that does not answer
    within ``timeout`` seconds is a StudyError."""
    import dask
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            return Client(scheduler, timeout=timeout), None
        except Exception as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StudyError(f"--scheduler: no Dask scheduler answered at {scheduler} within {timeout} s ({why})") \
                from None
    workers = workers or os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise StudyError(f"--workers: expected an int >= 1, got {workers!r}")
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENV)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_study(folder, definition=None, *, workers=None, scheduler=None, client=None, progress=True,
              on_record=None):
    """Run every planned trial of the study in ``folder`` that is not recorded yet.

    ``definition`` (from :func:`make_definition`) starts a new study in ``folder`` (or continues
    the same one there); None resumes the folder's own.  Execution: ``client`` (a
    ``distributed.Client`` you made), else the scheduler at ``scheduler``, else a LocalCluster of
    ``workers`` processes.  ``on_record(result)`` is called after each result is stored.
    Returns {"folder", "id", "planned", "recorded", "failed", "ran", "seconds"}."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    from tqdm.auto import tqdm
    start = time.perf_counter()
    definition, store = open_folder(folder, definition)
    planned, cluster, own = definition["planned"], None, client is None
    try:
        done = store.done()
        # round-robin over the cells (trial 0 of every cell, then trial 1, ...): an interrupted study is balanced
        todo = sorted((t for t in planned if t["trial_id"] not in done), key=lambda t: t["index"])
        if todo and own:
            client, cluster = start_client(workers, scheduler)
        setup = {k: definition[k] for k in ("task", "task_options", "training")}
        bar = tqdm(total=len(planned), initial=len(planned) - len(todo), unit="trial", disable=not progress,
                   desc=f"study {definition['task']}", dynamic_ncols=True)
        try:
            futures = {client.submit(run_trial, t, setup, key=f"npslim-{definition['id']}-{t['trial_id']}",
                                     pure=False, retries=1): t for t in todo}
            for future in as_completed(futures):
                trial = futures.pop(future)
                if future.status == "error" and isinstance(future.exception(), KilledWorker):
                    result = dict(trial, status="failed", reason=f"KilledWorker: {future.exception()}"[:500])
                elif future.status != "finished":
                    raise StudyError(f"trial {trial['trial_id']}: {future.status} "
                                     f"({future.exception() if future.status == 'error' else 'scheduler lost?'}); "
                                     f"resume with: npslim study --resume {folder}")
                else:
                    result = future.result()
                store.record(result)
                future.release()
                bar.update(1)
                if on_record is not None:
                    on_record(result)
        finally:
            bar.close()
        results = store.results()
        return {"folder": str(Path(folder)), "id": definition["id"], "planned": len(planned),
                "recorded": len(results), "failed": sum(r["status"] != "ok" for r in results), "ran": len(todo),
                "seconds": time.perf_counter() - start}
    finally:
        store.close()
        if own and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
