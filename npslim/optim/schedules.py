"""Learning-rate schedules: each sets ``optimizer.lr`` and saves its state (see :mod:`npslim.optim`)."""
from __future__ import annotations

import math
from collections.abc import Mapping

from ..validate import choice, integer, number as _number
from .optimizers import Optimizer, _host_scalar, _saved_scalar

__all__ = ["Schedule", "StepLR", "ExponentialLR", "ReduceLROnPlateau", "LossDrivenLR"]


class Schedule:
    """Base class of the learning-rate schedules: each sets ``optimizer.lr`` and keeps its own
    state in ``state_dict()`` (a flat dict of Python scalars)."""

    FIELDS = ()

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an npslim.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer

    def state_dict(self):
        d = {"schedule": type(self).__name__}
        d.update({k: getattr(self, k) for k in self.FIELDS})
        return d

    def load_state_dict(self, d):
        if not isinstance(d, Mapping):
            raise TypeError(f"d: expected a dict from state_dict(), got {type(d).__name__}")
        kind = _saved_scalar(d.get("schedule"))
        if kind != type(self).__name__:
            raise ValueError(f"d['schedule']: expected {type(self).__name__!r}, got {kind!r}")
        missing = [k for k in self.FIELDS if k not in d]
        if missing:
            raise KeyError(f"d: missing {missing}")
        for k in self.FIELDS:
            setattr(self, k, _saved_scalar(d[k]))

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS) + ")"


class StepLR(Schedule):
    """η_e = η_base · γ^⌊e / step_size⌋ after e calls of ``step()`` (one per epoch), as torch's StepLR."""

    FIELDS = ("base_lr", "step_size", "gamma", "epoch")

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = integer("step_size", step_size, 1)
        self.gamma = _number("gamma", gamma, low=0.0)
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        """End of an epoch: set and return the new rate."""
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.epoch // self.step_size)   # η_base γ^⌊e/s⌋
        return self.optimizer.lr


class ExponentialLR(Schedule):
    """η_e = η_base · γ^e after e calls of ``step()``, as torch's ExponentialLR."""

    FIELDS = ("base_lr", "gamma", "epoch")

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = _number("gamma", gamma, low=0.0)
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        """End of an epoch: set and return the new rate."""
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** self.epoch                # η_base γ^e
        return self.optimizer.lr


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by ``factor`` when ``step(metric)`` has seen no improvement for more than
    ``patience`` epochs (torch's ReduceLROnPlateau rules)::

        better:  m < best·(1 − threshold)  (mode "min", "rel")     m < best − threshold  ("min", "abs")
                 m > best·(1 + threshold)  (mode "max", "rel")     m > best + threshold  ("max", "abs")
        bad epochs > patience  →  η ← max(η · factor, min_lr)  (if it changes by more than eps),
                                  then ``cooldown`` epochs in which bad epochs are not counted
    """

    FIELDS = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps",
              "best", "num_bad_epochs", "cooldown_counter", "epoch")

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        super().__init__(optimizer)
        self.mode = choice("mode", mode, ("min", "max"))
        self.threshold_mode = choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.patience, self.cooldown = integer("patience", patience, 0), integer("cooldown", cooldown, 0)
        self.factor = _number("factor", factor, low=0.0, high=1.0, high_open=True)
        self.threshold = _number("threshold", threshold, low=0.0)
        self.min_lr = _number("min_lr", min_lr, low=0.0)
        self.eps = _number("eps", eps, low=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.epoch = 0

    def _is_better(self, m):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return m < (self.best * (1.0 - self.threshold) if rel else self.best - self.threshold)
        return m > (self.best * (1.0 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metric):
        """End of an epoch with its monitored ``metric`` (e.g. the validation loss); returns the rate."""
        m = _number("metric", _host_scalar("metric", metric))
        self.epoch += 1
        if self._is_better(m):
            self.best, self.num_bad_epochs = m, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.optimizer.lr * self.factor, self.min_lr)   # η ← max(η·factor, min_lr)
            if self.optimizer.lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.optimizer.lr


class LossDrivenLR(Schedule):
    """The loss-driven learning rate of Lu & Salem 2017 (section III-A): "an exponential
    function of training loss, η = η₀·exp(C), where η₀ is the learning rate coefficient and C is the
    training loss" — a large rate while the loss is large, shrinking towards η₀ as it falls::

        η = η₀ · exp(C)

    ``update(loss)`` sets ``optimizer.lr`` from a training loss and returns it.  When it is called
    is ``per``:

    * ``per="epoch"`` (the default; what the authors ran): their Keras code (jingweimo/Modified-LSTM,
      ``mnist_imdb_lstm.py``) sets the rate in a callback's ``on_epoch_end`` from the epoch's logged
      training loss, so epoch 1 runs at η₀ and epoch k at η₀·exp(C_{k−1}), C_{k−1} the mean
      training loss of epoch k − 1.  ``start()`` sets η₀ for the first epoch.
    * ``per="step"``: npslim's own variant, not the paper's: the rate follows the loss of every
      minibatch (η = η₀·exp(C) of the minibatch, before its step).  A single bad minibatch then
      multiplies the rate by exp(C), which can feed on itself and diverge.

    ``last_loss`` is NaN until the first ``update``.  (The paper tried η₀ = 1e-2 … 1e-5 with RMSprop.)
    """

    FIELDS = ("eta0", "per", "last_loss")
    PER = ("epoch", "step")

    def __init__(self, optimizer, eta0, per="epoch"):
        super().__init__(optimizer)
        self.eta0 = _number("eta0", eta0, low=0.0, low_open=True)
        self.per = choice("per", per, self.PER)
        self.last_loss = math.nan

    def load_state_dict(self, d):
        """A checkpoint written before ``per`` existed was per-minibatch: it resumes so."""
        if isinstance(d, Mapping) and "per" not in d:
            d = dict(d, per="step")
        super().load_state_dict(d)

    def start(self):
        """Before the first epoch: η = η₀ (the first epoch has no previous loss)."""
        self.optimizer.lr = self.eta0
        return self.optimizer.lr

    def update(self, loss):
        """Set ``optimizer.lr = η₀·exp(loss)``; ``loss`` a finite scalar (or 1-element array)."""
        C = _number("loss", _host_scalar("loss", loss))
        if C > 700.0:
            raise ValueError(f"loss: η₀·exp({C}) overflows a float; expected a training loss below 700")
        self.optimizer.lr = self.eta0 * math.exp(C)                    # η = η₀ exp(C)
        self.last_loss = C
        return self.optimizer.lr
