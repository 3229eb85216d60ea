"""Losses by task kind, the metrics made from them, and the evaluation of a model on a split."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend, losses
from .. import tasks as task_registry
from ..validate import checked_on_host
from .models import batch_to_device, model_dtype, model_xp
from .tbptt import carried_state, tbptt_chunks

__all__ = ["Minibatch", "minibatch", "minibatch_loss", "metrics_from_sums", "evaluate", "check_model_fits_task"]

_LN2 = math.log(2.0)


class Minibatch(NamedTuple):
    """One minibatch on the model's device, with what the host knows about it: X, targets,
    lengths (or None) and the mask of scored positions (or None: all) as device arrays, and
    ``count``, the number of scored positions, a Python int (counted on the host)."""
    X: object
    targets: object
    lengths: object
    mask: object
    count: int


def minibatch(kind, X, targets, lengths, xp, dtype):
    """A :class:`Minibatch` from the HOST arrays of a task: the mask of scored positions and
    their number are made on the host, then everything moves to the device in one copy each.

    The mask: "*-each" tasks with lengths score steps t < length; "classify-each" scores only
    targets other than IGNORE; "*-last" tasks and full-length sequences score all (mask None).
    ``count`` is in the units the loss averages over: positions (times the output size for
    regression, whose loss averages over every element)."""
    T, B = X.shape[:2]
    mask = None
    if kind.endswith("-each") and lengths is not None:
        mask = np.arange(T)[:, None] < lengths[None, :]                                # (T, B) valid steps
    if kind == "classify-each":
        scored = targets != task_registry.IGNORE
        mask = scored if mask is None else mask & scored
    positions = (T * B if kind.endswith("-each") else B) if mask is None else int(mask.sum())
    per = int(np.prod(targets.shape[(1 if kind.endswith("-last") else 2):])) if kind.startswith("regress") else 1
    X, targets, lengths = batch_to_device(X, targets, lengths, xp, dtype)
    mask = None if mask is None else backend.to_device(mask, xp)
    return Minibatch(X, targets, lengths, mask, positions * per)


def minibatch_loss(kind, out, batch):
    """(mean loss, d out, number correct or None) of one :class:`Minibatch` whose count is not 0;
    the loss and the number correct stay on the device (nothing is read)."""
    if kind.startswith("classify"):
        loss, dout = losses.softmax_cross_entropy(out, batch.targets, batch.mask)
        hit = out.argmax(axis=-1) == batch.targets
        return loss, dout, (hit if batch.mask is None else hit & batch.mask).sum()
    if kind == "multilabel-each":                               # Bernoulli NLL per frame, summed over labels
        loss, dout = losses.bernoulli_nll(out, batch.targets, batch.mask)
        return loss, dout, None
    loss, dout = losses.mean_squared_error(out, batch.targets, batch.mask)
    return loss, dout, None


class Sums:
    """Running sums of an epoch or an evaluation: Σ loss · count and the number correct on the
    device (added to without reading anything), the number of scored positions on the host."""

    def __init__(self, xp):
        self.xp, self.count = xp, 0
        self._device = xp.zeros(2, dtype=xp.float64)                  # [Σ loss · count, Σ correct]

    def add(self, loss, count, correct):
        self._device[0] += loss * count
        if correct is not None:
            self._device[1] += correct
        self.count += count

    def metrics(self, task):
        """The task's metrics of the sums (one read from the device)."""
        loss_sum, correct = backend.to_host(self._device).tolist()
        return metrics_from_sums(task.kind, loss_sum, self.count, int(correct), task.metric)


def metrics_from_sums(kind, loss_sum, count, correct, metric=None):
    """Mean loss and the task's metrics from sums over positions (perplexity and bits per
    character only for a language model, ``metric`` "bpc")."""
    loss = loss_sum / count if count else math.nan
    if kind.startswith("classify"):
        m = {"loss": loss, "accuracy": correct / count if count else math.nan}
        if metric == "bpc":
            m["perplexity"] = math.exp(min(loss, 700.0)) if math.isfinite(loss) else math.nan     # exp(loss)
            m["bpc"] = loss / _LN2                                                              # loss / ln 2
        return m
    if kind == "multilabel-each":
        return {"loss": loss, "nll": loss}                     # nats per frame
    return {"loss": loss, "mse": loss}


def evaluate(model, task, split="test", batch_size=1024, tbptt=None):
    """Metrics of ``model`` on ``split`` of ``task`` in evaluation mode, in stored order.

    Returns {"loss", "accuracy"} for classification (and "perplexity", "bpc" when the task's metric
    is "bpc": a language model), {"loss", "mse"} for
    regression, {"loss", "nll"} for "multilabel-each".  ``tbptt=k`` (per-step tasks) runs each
    batch in windows of k steps with the state carried across them: the same outputs as one
    pass, in a k-step memory.  The model is put back in training mode afterwards if it was in it."""
    xp, dtype, was_training = model_xp(model), model_dtype(model), model.training
    check_model_fits_task(model, task)
    model.eval()
    sums = Sums(xp)

    def add(X, y, lengths):
        batch = minibatch(task.kind, X, y, lengths, xp, dtype)
        out = model.forward(batch.X, batch.lengths)
        if batch.count:                                 # a TBPTT window may score nothing
            loss, _, hits = minibatch_loss(task.kind, out, batch)
            sums.add(loss, batch.count, hits)
    try:
        with np.errstate(all="ignore"), checked_on_host():   # a diverged model is reported by its NaN loss
            for X, y, lengths in task.batches(split, batch_size):
                if tbptt is None:
                    add(X, y, lengths)
                elif lengths is not None:
                    raise ValueError(f"tbptt: windows need sequences of one length; {task.name!r} has lengths")
                else:
                    with carried_state(model):
                        for Xc, yc in tbptt_chunks(X, y, tbptt):
                            add(Xc, yc, None)
    finally:
        if was_training:
            model.train()
    return sums.metrics(task)


def check_model_fits_task(model, task):
    """Refuse a model whose sizes cannot take the task's values: an Embedding first with fewer
    ids than the task's vocabulary, or fewer output classes than the task's.  With the task's own
    checks (ids, lengths, class ids and probabilities, made on the host when the Task is made),
    this is what lets training and evaluation skip the device-side value checks
    (:func:`npslim.validate.checked_on_host`)."""
    from ..layers import Embedding
    first, last = model[0], model[-1]
    if task.tokens and isinstance(first, Embedding) and first.vocab < task.vocab_size:
        raise ValueError(f"model: its Embedding takes ids in [0, {first.vocab}), task {task.name!r} has ids in "
                         f"[0, {task.vocab_size})")
    classes = getattr(last, "output_size", None)
    if task.kind.startswith("classify") and classes is not None and classes < task.output_size:
        raise ValueError(f"model: its last layer gives {classes} class scores, task {task.name!r} has "
                         f"{task.output_size} classes")
