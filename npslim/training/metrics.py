"""Losses by task kind, the metrics made from them, and the evaluation of a model on a split."""
from __future__ import annotations

import math

import numpy as np

from .. import losses
from .. import tasks as task_registry
from .models import batch_to_device, model_dtype, model_xp
from .tbptt import carried_state, tbptt_chunks

__all__ = ["minibatch_loss", "metrics_from_sums", "evaluate"]

_LN2 = math.log(2.0)


def minibatch_loss(kind, out, targets, lengths, xp):
    """(mean loss, d out, number of scored positions, number correct or None) of one minibatch."""
    mask = None
    if kind.endswith("-each") and lengths is not None:
        mask = xp.arange(out.shape[0])[:, None] < lengths[None, :]                     # (T, B) valid steps
    if kind.startswith("classify"):
        if kind == "classify-each":
            scored = targets != task_registry.IGNORE
            mask = scored if mask is None else mask & scored
        count = out.shape[0] if mask is None else mask.sum().item()
        if count == 0:                                          # a TBPTT window with nothing scored
            return 0.0, xp.zeros_like(out), 0, 0
        loss, dout = losses.softmax_cross_entropy(out, targets, mask)
        hit = out.argmax(axis=-1) == targets
        correct = (hit.sum() if mask is None else (hit & mask).sum()).item()
        return loss, dout, count, correct
    if kind == "multilabel-each":                               # Bernoulli NLL per frame, summed over labels
        loss, dout = losses.bernoulli_nll(out, targets, mask)
        count = out.shape[0] * out.shape[1] if mask is None else mask.sum().item()
        return loss, dout, count, None
    loss, dout = losses.mean_squared_error(out, targets, mask)
    per = int(np.prod(out.shape[(1 if mask is None else mask.ndim):]))
    count = (out.shape[0] if mask is None else mask.sum().item()) * per
    return loss, dout, count, None


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
    model.eval()
    loss_sum, count, correct = 0.0, 0, 0

    def add(X, y, lengths):
        nonlocal loss_sum, count, correct
        with np.errstate(all="ignore"):                # a diverged model is reported by its NaN loss
            out = model.forward(X, lengths)
            loss, _, n, hits = minibatch_loss(task.kind, out, y, lengths, xp)
        loss_sum += loss * n
        count += n
        correct += hits or 0
    try:
        for X, y, lengths in task.batches(split, batch_size):
            X, y, lengths = batch_to_device(X, y, lengths, xp, dtype)
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
    return metrics_from_sums(task.kind, loss_sum, count, correct, task.metric)
