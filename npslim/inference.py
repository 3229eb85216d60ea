"""Predictions of a trained model on new sequences: ``model.predict`` and ``model.predict_proba``.

Inputs are time-major host arrays, as everywhere in npslim: X (T, N, m) features (any real dtype,
cast to the model's) or (T, N) integer token ids for a model that starts with an Embedding;
``lengths`` (N,) valid steps per sequence (padding at the end), None: all T.  The model runs in
evaluation mode (no dropout; stochastic gates at their expectation), in batches of sequences,
each batch from the zero state; the mode it was in is restored.  What comes back (host NumPy)
depends on the model's ``head``::

    head        predict                                  predict_proba
    softmax     class ids  (N,) or (T, N)      int64     probabilities (N, K) or (T, N, K)
    sigmoid     0/1 labels (N, K) or (T, N, K) int64     probabilities, same shape
    identity    values     (N, k) or (T, N, k)           (refused: a regression has no probabilities)
    None        the raw outputs of the last layer        (refused)

Per-step outputs at padded steps (t >= lengths[n]) are −1 (ids, labels) or NaN (values,
probabilities): they are not predictions.
"""
from __future__ import annotations

import numpy as np

from . import backend

__all__ = ["predict", "predict_proba", "outputs"]

#: the most time steps × sequences of one batch (as the trainer's evaluation)
POSITIONS = 2 ** 17


def _input_spec(model):
    """(token ids?, feature size or vocabulary, dtype) of the model's first layer that is not a
    shape-keeping one (Dropout, GaussianNoise: they read whatever the next layer reads)."""
    from .layers import Dropout, Embedding, GaussianNoise

    def first_of(layers):
        return next((layer for layer in layers if not isinstance(layer, (Dropout, GaussianNoise))),
                    next(iter(layers)))
    first = first_of(list(model.layers.values()))
    while hasattr(first, "layers"):                       # a Stack as first layer
        first = first_of(list(first.layers.values()))
    if isinstance(first, Embedding):
        return True, first.vocab, first.dtype
    size = getattr(first, "input_size", getattr(first, "in_size", None))
    return False, size, first.dtype


def _check(model, X, lengths):
    tokens, size, dtype = _input_spec(model)
    if isinstance(X, (list, tuple)):
        X = np.asarray(X)
    if not isinstance(X, np.ndarray):
        raise TypeError(f"X: expected a NumPy array, got {type(X).__module__}.{type(X).__name__}")
    if tokens:
        if X.ndim != 2 or X.dtype.kind not in "iu":
            raise ValueError(f"X: expected integer token ids of shape (T, N) (time-major), got {X.dtype.name} "
                             f"{X.shape}")
        if X.size and (X.min() < 0 or X.max() >= size):
            raise ValueError(f"X: expected token ids in [0, {size}), got values in [{X.min()}, {X.max()}]")
    else:
        if X.ndim != 3 or X.shape[2] != size:
            raise ValueError(f"X: expected shape (T, N, {size}) (time-major: steps, sequences, features), "
                             f"got {X.shape}")
        if X.dtype.kind not in "fiub":
            raise TypeError(f"X: expected real numbers, got dtype {X.dtype.name}")
        X = X.astype(dtype, copy=False)
        if not np.isfinite(X).all():
            raise ValueError("X: expected finite values, got NaN or inf")
    T, N = X.shape[:2]
    if T < 1 or N < 1:
        raise ValueError(f"X: expected at least one step and one sequence, got shape {X.shape}")
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.dtype.kind not in "iu" or lengths.shape != (N,):
            raise ValueError(f"lengths: expected integers of shape ({N},), got {lengths.dtype.name} {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths: expected values in 1..{T}, got values in [{lengths.min()}, {lengths.max()}]")
        lengths = lengths.astype(np.int64)
    return X, lengths


def outputs(model, X, lengths=None, batch_size=None):
    """The last layer's outputs for X (host NumPy, N on axis 0 for (N, K), axis 1 for (T, N, K))
    and the validated lengths."""
    X, lengths = _check(model, X, lengths)
    T, N = X.shape[:2]
    if batch_size is None:
        batch_size = min(1024, max(1, POSITIONS // T))
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    xp = backend.xp_of(*model.params().values())
    was_training = model.training
    model.eval()
    parts = []
    try:
        for s in range(0, N, int(batch_size)):
            model.reset_state()
            Xb = backend.to_device(X[:, s:s + batch_size], xp)
            lb = None if lengths is None else backend.to_device(lengths[s:s + batch_size], xp)
            parts.append(backend.to_host(model.forward(Xb, lb)))
    finally:
        model.reset_state()
        if was_training:
            model.train()
    out = np.concatenate(parts, axis=parts[0].ndim - 2)
    return out, lengths


def _padded(out, lengths):
    """(T, N) mask of padded steps for per-step outputs, else None."""
    if lengths is None or out.ndim != 3:
        return None
    return np.arange(out.shape[0])[:, None] >= lengths[None, :]


def predict(model, X, lengths=None, batch_size=None):
    """Class ids, 0/1 labels or values (see the module docstring)."""
    out, lengths = outputs(model, X, lengths, batch_size)
    pad = _padded(out, lengths)
    if model.head == "softmax":
        pred = out.argmax(axis=-1).astype(np.int64)
        if pad is not None:
            pred[pad] = -1
        return pred
    if model.head == "sigmoid":
        pred = (out > 0).astype(np.int64)                  # σ(a) > 1/2  ⇔  a > 0
    else:
        pred = out
    if pad is not None:
        pred[pad] = -1 if model.head == "sigmoid" else np.nan
    return pred


def predict_proba(model, X, lengths=None, batch_size=None):
    """Class probabilities (softmax) or label probabilities (sigmoid); see the module docstring."""
    if model.head not in ("softmax", "sigmoid"):
        raise ValueError(f"predict_proba: the model's head is {model.head!r}; probabilities need a 'softmax' "
                         f"(classes) or 'sigmoid' (labels) head; use predict for its outputs")
    out, lengths = outputs(model, X, lengths, batch_size)
    out = out.astype(np.float64)
    if model.head == "softmax":
        e = np.exp(out - out.max(axis=-1, keepdims=True))
        prob = e / e.sum(axis=-1, keepdims=True)                       # softmax(a)_k = e^{a_k} / Σ_j e^{a_j}
    else:
        prob = 0.5 * (1.0 + np.tanh(0.5 * out))                        # σ(a), without overflow
    pad = _padded(prob, lengths)
    if pad is not None:
        prob[pad] = np.nan
    return prob
