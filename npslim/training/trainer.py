"""The :class:`Trainer` (see :mod:`npslim.train`): epochs, the divergence guard, early stopping,
schedules, checkpoints and bit-exact resume."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .. import backend, model_io, optim
from ..files import jsonable, load_npz, save_npz_atomic
from ..optim.clipping import global_sq_norm
from ..model import Model
from ..tasks import Task
from ..validate import checked_on_host, integer, number
from .checkpoint import CHECKPOINT_FORMAT, json_value, prefixed, rng_states, set_rng_states
from .metrics import Sums, check_model_fits_task, evaluate, metrics_from_sums, minibatch, minibatch_loss
from .models import model_dtype, model_xp
from .tbptt import carried_state, tbptt_chunks

__all__ = ["TrainingDiverged", "Trainer", "SCHEDULES", "EVAL_POSITIONS"]

#: ``schedule=`` names -> the npslim.optim class (None: constant rate)
SCHEDULES = {"none": None, "step": optim.StepLR, "exp": optim.ExponentialLR,
             "plateau": optim.ReduceLROnPlateau, "loss": optim.LossDrivenLR}


#: the most time steps × sequences of one evaluation batch when ``eval_batch_size`` is None
#: (1024 sequences up to T = 128; fewer for longer ones: 167 for pixel MNIST's 784 steps)
EVAL_POSITIONS = 2 ** 17


class TrainingDiverged(RuntimeError):
    """A NaN or infinite loss, gradient or parameter stopped training.

    Attributes: ``epoch`` (1-based), ``step`` (1-based minibatch or chunk within the epoch, None for
    an end-of-epoch check), ``quantity`` ("loss", "gradient norm", "learning rate η₀·exp(loss)" when
    the loss-driven schedule's rate overflows, "parameter ..."), ``value``,
    ``checkpoint`` (the path of the last good checkpoint, or None when none was written)."""

    def __init__(self, message, *, epoch, step, quantity, value, checkpoint):
        super().__init__(message)
        self.epoch, self.step, self.quantity, self.value, self.checkpoint = epoch, step, quantity, value, checkpoint


class Trainer:
    """Train ``model`` on ``task`` (see the module docstring).

    Arguments::

        optimizer, lr, optimizer_options   npslim.optim name ("adam", "sgd", ...), rate, other keywords
        clip            clip the global gradient norm to this (None or 0: off; the norm is still checked)
        schedule        "none", "step", "exp", "plateau" (on the monitored value) or "loss" (Lu & Salem 2017's
                        η = η₀·exp(C), η₀ = lr: epoch 1 at η₀, epoch k at η₀·exp(C), C the mean training loss of
                        epoch k − 1, as the authors' code; schedule_options={"per": "step"}: npslim's own
                        per-minibatch variant); schedule_options: its keywords
        batch_size      training minibatch size (evaluation uses eval_batch_size; None: 1024 sequences, fewer
                        for long ones, so that a batch holds at most EVAL_POSITIONS steps)
        patience        early stopping: stop after this many epochs without improvement (None: never)
        monitor         the history key deciding "best" and early stopping; default val_<metric> with
                        val_fraction > 0, else test_<metric> (then "best" is selected on the test split,
                        an optimistic estimate: ``npslim.runs_io.selected_on(monitor)``)
        val_fraction    hold this fraction of the training split out as validation (seeded split;
                        default 0.1; 0: no validation split)
        tbptt           truncated BPTT window in steps (per-step tasks only; None: full BPTT)
        seed            seeds the shuffling and the validation split (build the model with a seed too)
        out             folder for checkpoint.npz (every epoch) and best.npz (each new best); None: none
        progress        tqdm bars (per epoch, leave=False, postfix loss and metric); desc: their label

    ``fit(epochs)`` trains until ``epochs`` epochs are complete in total (so after a resume it
    continues to the same end), returns ``history``; ``best`` is {"epoch", "value", "monitor"}."""

    def __init__(self, model, task, *, optimizer="adam", lr=1e-2, optimizer_options=None, clip=5.0,
                 schedule="none", schedule_options=None, batch_size=32, eval_batch_size=None, patience=None,
                 monitor=None, val_fraction=0.1, tbptt=None, seed=0, out=None, progress=True, desc=None):
        if not isinstance(model, Model):
            raise TypeError(f"model: expected an npslim.model.Model (e.g. build_model(task, 'lstm')), "
                            f"got {type(model).__name__}")
        if not isinstance(task, Task):
            raise TypeError(f"task: expected an npslim.tasks.Task (e.g. npslim.tasks.make('adding')), "
                            f"got {type(task).__name__}")
        check_model_fits_task(model, task)
        self.model, self.task = model, task
        self.xp, self.dtype = model_xp(model), model_dtype(model)
        self.batch_size = integer("batch_size", batch_size, 1)
        self.clip = None if clip is None else (number("clip", clip, low=0.0, what="(0 or None: no clipping)") or None)
        self.patience = None if patience is None else integer("patience", patience, 1)
        self.tbptt = None if tbptt is None else integer("tbptt", tbptt, 1)
        if eval_batch_size is None:                 # bound the forward caches of long sequences
            steps = min(self.tbptt or task.num_steps, task.num_steps)
            eval_batch_size = min(1024, max(self.batch_size, EVAL_POSITIONS // steps))
        self.eval_batch_size = integer("eval_batch_size", eval_batch_size, 1)
        if self.tbptt is not None and not task.kind.endswith("-each"):
            raise ValueError(f"tbptt: truncated BPTT needs a per-step task ('*-each'); {task.name!r} is "
                             f"{task.kind!r} (one target at the last step), train it with tbptt=None")
        if self.tbptt is not None and task.lengths_train is not None:
            raise ValueError(f"tbptt: truncated BPTT needs sequences of one length; {task.name!r} has "
                             f"variable lengths, train it with tbptt=None")
        self.seed = integer("seed", seed, 0)
        self.val_fraction = number("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5EED]))
        self._fit_task = _split_validation(task, self.val_fraction, self.seed) if self.val_fraction else task
        self.splits = ("val", "test") if self.val_fraction else ("test",)

        self.optimizer_name, self.optimizer_options = optimizer, dict(optimizer_options or {})
        self.optimizer = optim.make(optimizer, model.params(), model.grads(), lr=lr, **self.optimizer_options)
        self.lr = float(lr)

        metric = task.metric
        self.monitor = monitor or f"{self.splits[0]}_{metric}"
        keys = [f"{split}_{k}" for split in ("train", *self.splits)
                for k in metrics_from_sums(task.kind, 1.0, 1, 0, metric)]      # the keys of the history
        if self.monitor not in keys:
            raise ValueError(f"monitor: expected one of {keys}, got {self.monitor!r}")
        self.mode = "max" if self.monitor.endswith(("accuracy",)) else "min"
        self.schedule_name, self.schedule_options = schedule or "none", dict(schedule_options or {})
        if self.schedule_name not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {sorted(SCHEDULES)}, got {schedule!r}")
        cls = SCHEDULES[self.schedule_name]
        if cls is None:
            self.schedule = None
        elif cls is optim.LossDrivenLR:
            self.schedule = cls(self.optimizer, **{"eta0": self.lr, **self.schedule_options})
            self.schedule.start()                                           # epoch 1 at η₀
        elif cls is optim.ReduceLROnPlateau:
            self.schedule = cls(self.optimizer, **{"mode": self.mode, **self.schedule_options})
        else:
            self.schedule = cls(self.optimizer, **self.schedule_options)

        self.out = None if out is None else Path(out)
        self.progress, self.desc = bool(progress), desc
        self.history = []
        self.epoch = 0                  # epochs completed
        self.step_count = 0             # optimizer steps taken
        self.best = {"monitor": self.monitor, "epoch": None, "value": None}
        self.bad_epochs = 0
        self.stopped_early = False
        self.last_checkpoint = None

    # ------------------------------------------------------------------ configuration
    def config(self):
        """The settings that rebuild this trainer (config.json)."""
        return {"optimizer": self.optimizer_name, "lr": self.lr, "optimizer_options": self.optimizer_options,
                "clip": self.clip, "schedule": self.schedule_name, "schedule_options": self.schedule_options,
                "batch_size": self.batch_size, "eval_batch_size": self.eval_batch_size,
                "patience": self.patience, "monitor": self.monitor, "val_fraction": self.val_fraction,
                "tbptt": self.tbptt, "seed": self.seed}

    @property
    def checkpoint_path(self):
        return None if self.out is None else self.out / "checkpoint.npz"

    @property
    def best_path(self):
        return None if self.out is None else self.out / "best.npz"

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split="test"):
        """Metrics on "test", "val" (the held-out part of train) or "train" (in evaluation mode)."""
        if split == "val":
            if not self.val_fraction:
                raise ValueError("split: 'val' needs val_fraction > 0")
            return evaluate(self.model, self._fit_task, "test", self.eval_batch_size, self.tbptt)
        if split == "train":
            return evaluate(self.model, self._fit_task, "train", self.eval_batch_size, self.tbptt)
        return evaluate(self.model, self.task, split, self.eval_batch_size, self.tbptt)

    # ------------------------------------------------------------------ training
    def fit(self, epochs):
        """Train until ``epochs`` epochs are complete (or early stopping); returns the history."""
        epochs = integer("epochs", epochs, 0)
        tqdm = _progress_bar_class()
        bar = tqdm(total=epochs, initial=min(self.epoch, epochs), desc=self.desc or self.task.name,
                   unit="epoch", disable=not self.progress, leave=True, dynamic_ncols=True)
        try:
            while self.epoch < epochs and not self.stopped_early:
                record = self._epoch(epochs, tqdm)
                bar.update(1)
                bar.set_postfix({k: _short(record[k]) for k in ("train_loss", self.monitor) if k in record})
        finally:
            bar.close()
        return self.history

    def _epoch(self, epochs, tqdm):
        epoch = self.epoch + 1
        n_batches = math.ceil(self._fit_task.n_train / self.batch_size)
        record = {"epoch": epoch, "lr": self.optimizer.lr}
        sums, guard = Sums(self.xp), _Guard(self.xp, read_each_step=backend.name_of(self.xp) == "numpy")
        self.model.train()
        start = time.perf_counter()
        bar = tqdm(total=n_batches, desc=f"{self.desc or self.task.name} epoch {epoch}/{epochs}", unit="batch",
                   leave=False, disable=not self.progress, dynamic_ncols=True)
        shown = start
        try:
            step = 0
            with checked_on_host():                 # the Task checked its values; check_model_fits_task the sizes
                for X, y, lengths in self._fit_task.batches("train", self.batch_size, self.rng):
                    if self.tbptt is None:
                        step += 1
                        self._step(self._minibatch(X, y, lengths), epoch, step, sums, guard)
                    else:
                        with carried_state(self.model):
                            for Xc, yc in tbptt_chunks(X, y, self.tbptt):
                                step += 1
                                self._step(self._minibatch(Xc, yc, None), epoch, step, sums, guard)
                    bar.update(1)
                    if not bar.disable and time.perf_counter() - shown > 1.0:     # the running means: one read a second
                        shown = time.perf_counter()
                        bar.set_postfix({k: _short(v) for k, v in sums.metrics(self.task).items()
                                         if k in ("loss", "accuracy", "mse", "bpc", "nll")}, refresh=False)
            guard.check(self, epoch)                # on a GPU: the one read of the epoch's losses and norms
        finally:
            bar.close()
        record["seconds"] = time.perf_counter() - start
        self._check_parameters(epoch)
        record.update({f"train_{k}": v for k, v in sums.metrics(self.task).items()})
        start = time.perf_counter()
        for split in self.splits:
            record.update({f"{split}_{k}": v for k, v in self.evaluate(split).items()})
        record["eval_seconds"] = time.perf_counter() - start
        self._end_of_epoch(record)
        return record

    def _minibatch(self, X, y, lengths):
        return minibatch(self.task.kind, X, y, lengths, self.xp, self.dtype)

    def _step(self, batch, epoch, step, sums, guard):
        """One optimizer step on one minibatch (or TBPTT window), guarded against NaN/Inf.
        Nothing is read from the device (except the loss, for a per-step loss-driven schedule)."""
        model = self.model
        with np.errstate(all="ignore"):             # the guard reports non-finite values precisely
            out = model.forward(batch.X, batch.lengths)
            if batch.count == 0:                    # a TBPTT window with no scored step: carry the state only
                return
            loss, dout, correct = minibatch_loss(self.task.kind, out, batch)
            model.zero_grad()
            model.backward(dout)
            grads = model.grads()
            if self.clip:
                norm = optim.clip_grad_norm(grads, self.clip)
            else:
                norm = self.xp.sqrt(global_sq_norm(list(grads.values())))
            guard.record(self, epoch, step, loss, norm)     # on the host: raises here, before the update
            if isinstance(self.schedule, optim.LossDrivenLR) and self.schedule.per == "step":
                try:
                    self.schedule.update(float(backend.to_host(loss)))     # η = η₀·exp(C of this minibatch)
                except ValueError:                                          # exp(C) overflows: C > 700
                    raise self._diverged("learning rate η₀·exp(loss)", math.inf, epoch, step) from None
            self.optimizer.step()
        self.step_count += 1
        sums.add(loss, batch.count, correct)

    def _check_parameters(self, epoch):
        bad = model_io.nonfinite(self.model.params())                       # one read
        if bad:
            raise self._diverged(f"parameter {bad[0]!r}", math.nan, epoch, None)

    def _diverged(self, quantity, value, epoch, step, applied=None):
        where = f"epoch {epoch}, step {step}" if step is not None else f"the end of epoch {epoch}"
        if self.last_checkpoint is not None:
            keep = f"the last good checkpoint is {self.last_checkpoint} (epoch {epoch - 1})"
        elif self.out is not None:
            keep = "no checkpoint had been written yet"
        else:
            keep = "no checkpoints are kept (out=None)"
        return TrainingDiverged(
            f"training diverged: non-finite {quantity} ({value}) at {where} "
            f"(after {self.step_count if applied is None else applied} optimizer "
            f"steps); training stopped; {keep}. Try a smaller learning rate or gradient clipping.",
            epoch=epoch, step=step, quantity=quantity, value=value, checkpoint=self.last_checkpoint)

    def _end_of_epoch(self, record):
        if isinstance(self.schedule, optim.LossDrivenLR) and self.schedule.per == "epoch":
            try:                                                            # first: an overflow leaves no trace
                self.schedule.update(record["train_loss"])                  # next epoch: η₀·exp(C of this one)
            except ValueError:                                              # exp(C) overflows: C > 700
                raise self._diverged("learning rate η₀·exp(loss)", math.inf, record["epoch"], None) from None
        value = record[self.monitor]
        better = (self.best["value"] is None
                  or (value > self.best["value"] if self.mode == "max" else value < self.best["value"]))
        if better:
            self.best.update(epoch=record["epoch"], value=value)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if isinstance(self.schedule, optim.ReduceLROnPlateau):
            self.schedule.step(value)
        elif self.schedule is not None and not isinstance(self.schedule, optim.LossDrivenLR):
            self.schedule.step()
        if self.patience is not None and self.bad_epochs >= self.patience:
            self.stopped_early = True
        record["best"] = bool(better)
        self.history.append(record)
        self.epoch = record["epoch"]
        if self.out is not None:
            self.last_checkpoint = self.save_checkpoint(self.checkpoint_path)
            if better:
                self.save_checkpoint(self.best_path)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """Everything a bit-exact resume needs, as a flat dict of host arrays and JSON strings:
        "model/<param>", "optimizer/<key>", "schedule/<key>", "rng" (every generator's
        bit_generator.state), "history", "trainer" (epoch, steps, best, early-stopping counters),
        "config", "format"."""
        d = {"format": np.array(CHECKPOINT_FORMAT), "epoch": np.array(self.epoch)}
        d.update({f"model/{k}": v for k, v in self.model.state_dict().items()})
        d.update({f"optimizer/{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.schedule is not None:
            d.update({f"schedule/{k}": v for k, v in self.schedule.state_dict().items()})
        d["rng"] = np.array(json.dumps(rng_states(self.model, self.rng)))
        d["history"] = np.array(json.dumps(jsonable(self.history)))
        d["trainer"] = np.array(json.dumps(jsonable({
            "epoch": self.epoch, "step_count": self.step_count, "best": self.best, "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early})))
        d["config"] = np.array(json.dumps(jsonable(self.config())))
        d["model_config"] = np.array(json.dumps(jsonable(model_io.model_config(self.model))))
        return d

    def load_state_dict(self, d):
        """Restore a ``state_dict()`` (as read back by :func:`load_npz`) into this trainer, whose
        model, task and settings must match the ones that wrote it."""
        fmt = str(d["format"]) if "format" in d else None
        if fmt != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint: expected format {CHECKPOINT_FORMAT!r}, got {fmt!r}")
        missing = [k for k in _CHECKPOINT_KEYS if k not in d]
        if missing:
            raise KeyError(f"checkpoint: missing entries {missing}")
        model_io.check_finite(prefixed(d, "model/"), "checkpoint")
        self.model.load_state_dict(prefixed(d, "model/"))
        self.optimizer.load_state_dict(prefixed(d, "optimizer/"))
        saved_schedule = prefixed(d, "schedule/")
        if (self.schedule is None) != (not saved_schedule):
            raise ValueError(f"checkpoint: schedule mismatch; this trainer has {self.schedule_name!r}, the checkpoint "
                             f"{'one' if saved_schedule else 'none'}")
        if self.schedule is not None:
            self.schedule.load_state_dict(saved_schedule)
        set_rng_states(self.model, self.rng, json_value(d["rng"]))
        self.history = json_value(d["history"])
        t = json_value(d["trainer"])
        self.epoch, self.step_count = int(t["epoch"]), int(t["step_count"])
        self.best, self.bad_epochs, self.stopped_early = dict(t["best"]), int(t["bad_epochs"]), bool(t["stopped_early"])
        return self

    def save_checkpoint(self, path):
        """Write ``state_dict()`` to ``path`` atomically; returns the path.  Refuses (ValueError,
        nothing written) while a parameter is NaN or infinite: a checkpoint is always a good state."""
        model_io.check_finite(self.model.params(), f"checkpoint {path}")
        return save_npz_atomic(path, self.state_dict())

    def load_checkpoint(self, path):
        """Restore this trainer from a checkpoint file; ``fit`` then continues bit-exactly.  A corrupt
        file, or one with non-finite parameters, raises :class:`npslim.model_io.CorruptFile` naming it."""
        d = model_io.read_npz(path, what="checkpoint", required=_CHECKPOINT_KEYS,
                              json_keys=("rng", "history", "trainer", "config"), remedy=_CORRUPT_REMEDY)
        try:
            model_io.check_finite(prefixed(d, "model/"), str(path))
        except ValueError as exc:
            raise model_io.CorruptFile(f"{exc}; {_CORRUPT_REMEDY}") from None
        self.load_state_dict(d)
        self.last_checkpoint = Path(path)
        return self


#: what every checkpoint holds besides the model/, optimizer/ and schedule/ entries
_CHECKPOINT_KEYS = ("format", "epoch", "rng", "history", "trainer", "config")
_CORRUPT_REMEDY = ("restore it from a copy, or delete it and train again (best.npz next to it may still hold "
                   "the best epoch: npslim.model.load)")


def _split_validation(task, fraction, seed):
    """A copy of ``task`` whose train split is the rest of the training sequences and whose "test"
    split is a validation part of ``fraction`` of them (a seeded permutation)."""
    import dataclasses
    X, y, lengths = task.split("train")
    N = X.shape[1]
    if N < 2:
        raise ValueError(f"val_fraction: a validation split needs at least 2 training sequences, task {task.name!r} "
                         f"has {N}; pass val_fraction=0 (--val-fraction 0)")
    n_val = min(N - 1, max(1, int(round(fraction * N))))
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0xA1])).permutation(N)
    val, rest = np.sort(order[:n_val]), np.sort(order[n_val:])
    per_step = task.kind.endswith("-each")

    def take(idx):
        return (np.ascontiguousarray(X[:, idx]), np.ascontiguousarray(y[:, idx] if per_step else y[idx]),
                None if lengths is None else lengths[idx].copy())
    (Xr, yr, lr), (Xv, yv, lv) = take(rest), take(val)
    return dataclasses.replace(task, X_train=Xr, targets_train=yr, lengths_train=lr,
                               X_test=Xv, targets_test=yv, lengths_test=lv)


def _progress_bar_class():
    """tqdm's notebook bar inside Jupyter with ipywidgets, its text bar elsewhere (without the
    warning tqdm.auto gives in a notebook that lacks ipywidgets)."""
    import warnings
    from tqdm import TqdmWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


class _Guard:
    """The divergence guard of one epoch: the loss and the gradient norm of every step, kept on
    the device.  On the host (``read_each_step``: reading costs nothing) each step is checked as
    it is recorded, so training stops before the optimizer applies it; on a GPU they are read
    once, at the end of the epoch, and the first non-finite one is reported all the same."""

    def __init__(self, xp, read_each_step):
        self.xp, self.read_each_step, self.steps, self.values = xp, read_each_step, [], []

    def record(self, trainer, epoch, step, loss, norm):
        self.steps.append((step, trainer.step_count))                  # the step, the optimizer steps before it
        self.values.append(self.xp.stack([loss, norm]))
        if self.read_each_step:
            self.check(trainer, epoch)

    def check(self, trainer, epoch):
        if not self.values:
            return
        values, steps = backend.to_host(self.xp.stack(self.values)), self.steps    # (steps, 2): loss, norm
        self.steps, self.values = [], []
        bad = ~np.isfinite(values)
        if bad.any():
            k, which = np.argwhere(bad)[0]
            step, applied = steps[k]
            raise trainer._diverged(("loss", "gradient norm")[which], float(values[k, which]), epoch, step, applied)


def _short(v):
    return f"{v:.4g}" if isinstance(v, float) else v
