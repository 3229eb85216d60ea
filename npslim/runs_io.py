"""A finished (or interrupted) run folder, read back: the model, its task and its history.

    run = npslim.load_run("runs/20260101-120000-digits-rows-lstm")     # an `npslim train` folder
    run = npslim.load_run("runs/...-lstm-gru", cell="gru")             # one cell of an `npslim compare` folder
    runs = npslim.load_runs("runs/...-lstm-gru")                       # every cell: {"lstm": Run, "gru": Run}
    run.model.predict(X, lengths)          # the model of the best epoch (which="last": the last epoch)
    run.task                               # {"name", "kind", "metric", "input_size", ..., "options"}
    run.history                            # one dict per epoch, as history.json
    run.best                               # {"monitor", "epoch", "value", "selected_on"}
    run.evaluate("test")                   # rebuilds the task (its data) and evaluates the model

"Best" is the epoch with the best monitored value; ``best["selected_on"]`` says on which split it
was chosen: "validation" (the default: a part held out of the training split) or "test" (a run
trained with ``--val-fraction 0``: its best test score is an optimistic estimate).
"""
from __future__ import annotations

import json
from pathlib import Path

from . import model_io

__all__ = ["Run", "load_run", "load_runs", "selected_on"]

_WHICH = {"best": "best.npz", "last": "checkpoint.npz"}


class Run:
    """One trained model and what it came from.  Attributes: ``folder``, ``cell``, ``checkpoint``
    (the file the model was read from), ``model``, ``task`` (a description; ``make_task()`` rebuilds
    the Task itself), ``history``, ``best``, ``config`` (the folder's config.json)."""

    def __init__(self, folder, cell, checkpoint, model, task, history, best, config):
        self.folder, self.cell, self.checkpoint = folder, cell, checkpoint
        self.model, self.task, self.history, self.best, self.config = model, task, history, best, config

    def make_task(self):
        """The :class:`npslim.tasks.Task` the model was trained on (the same seed and options: the same data)."""
        from . import tasks
        return tasks.make(self.task["name"], seed=self.task["seed"], **self.task["options"])

    def evaluate(self, split="test", task=None):
        """The model's metrics on ``split`` of the run's task (``task``: an already built one)."""
        from .train import evaluate
        return evaluate(self.model, task or self.make_task(), split)

    def __repr__(self):
        b = self.best
        best = (f"best {b['monitor']} {b['value']:.4g} at epoch {b['epoch']} (selected on the {b['selected_on']} "
                f"split)" if b.get("epoch") is not None else "no best epoch")
        return (f"Run({str(self.folder)!r}, cell={self.cell!r}, task={self.task['name']!r}, "
                f"epochs={len(self.history)}, {best}, model from {self.checkpoint.name})")


def selected_on(monitor):
    """The split a monitored history key chooses the best epoch on: "validation", "test" or "train"."""
    return {"val": "validation", "test": "test", "train": "train"}.get(str(monitor).split("_")[0], "unknown")


def _config(folder):
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"folder: expected a run folder written by `npslim train` or `npslim compare` "
                                f"(with config.json), got {folder}")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise model_io.CorruptFile(f"{path}: not valid JSON ({exc}); the run's settings cannot be read") from None


def load_runs(folder, which="best"):
    """Every cell of a run folder: {cell: Run} (one entry for an ``npslim train`` folder)."""
    config = _config(folder)
    return {cell: load_run(folder, cell, which) for cell in config["cells"]}


def load_run(folder, cell=None, which="best"):
    """The run in ``folder``, with the model of its best epoch (``which="best"``, best.npz) or of its
    last completed epoch (``which="last"``, checkpoint.npz).  ``cell`` picks one cell of a compare
    folder (needed when it holds several)."""
    folder = Path(folder)
    if which not in _WHICH:
        raise ValueError(f"which: expected one of {sorted(_WHICH)}, got {which!r}")
    config = _config(folder)
    cells = list(config["cells"])
    if cell is None:
        if len(cells) != 1:
            raise ValueError(f"cell: {folder} is a compare run of {cells}; pass cell=one of them, "
                             f"or use npslim.load_runs(folder) for all")
        cell = cells[0]
    if cell not in cells:
        raise ValueError(f"cell: expected one of {cells} (the cells of {folder}), got {cell!r}")
    sub = folder / cell if config["command"] == "compare" else folder
    path = sub / _WHICH[which]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; the run stopped before its first epoch completed "
                                f"(continue it with --resume {folder})")
    last = sub / _WHICH["last"]
    state = model_io.read_npz(last if last.is_file() else path, what="checkpoint",
                              required=("history", "trainer"), json_keys=("history", "trainer"),
                              remedy="restore it from a copy")
    history = json.loads(str(state["history"].item()))
    trainer = json.loads(str(state["trainer"].item()))
    d = model_io.read_npz(path, what="checkpoint", required=("format",), remedy="restore it from a copy")
    model = model_io.load(path) if "model_config" in d else _rebuild(config, cell, d)
    task = dict(model.info.get("task") or {})
    task.update(name=config["task"], options=dict(config["task_options"]), seed=config["trainer"]["seed"])
    best = dict(trainer["best"], selected_on=selected_on(trainer["best"]["monitor"]))
    return Run(folder, cell, path, model, task, history, best, config)


def _rebuild(config, cell, d):
    """The model of a checkpoint written before checkpoints held their model config: rebuilt from
    config.json as the CLI built it (this needs the task's data)."""
    from . import tasks
    from .runs import cell_options_for
    from .train import build_model
    t = config["trainer"]
    task = tasks.make(config["task"], seed=t["seed"], **config["task_options"])
    options = cell_options_for(config["cells"], config["cell_options"])[cell]
    model = build_model(task, cell, config["hidden_size"], seed=t["seed"], dtype=config["dtype"],
                        input_noise=config.get("input_noise", 0.0), **options)
    params = {k[len("model/"):]: v for k, v in d.items() if k.startswith("model/")}
    model_io.check_finite(params, "checkpoint")
    return model.load_state_dict(params).eval()
