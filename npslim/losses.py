"""Losses, each returning the mean loss and its gradient with respect to the logits::

    loss, dlogits = f(logits, targets, mask=None)

``loss`` is a float64 of the logits' backend: a NumPy float64 (which is a Python float) for NumPy
logits, a 0-d CuPy array for CuPy ones, read with ``float(loss)`` when needed, so that a training
step need not wait for the GPU.  ``dlogits`` is an array of the logits' shape, dtype and backend.
The mean is over VALID positions: ``mask`` (bool, or 0/1 numbers; other non-negative values act
as weights; a negative one is refused) marks them, and ``mask=None`` means all.  The targets of the
two sigmoid losses are probabilities: a value outside [0, 1] is refused.  Every loss is written in a numerically
stable form (log-sum-exp; log(1 + e^x) = max(x, 0) + log1p(e^{−|x|})), so no logit
overflows, and its gradient is derived by hand next to it.

=============================  =====================  ===================  ========================
function                       logits                 targets              mask
=============================  =====================  ===================  ========================
softmax_cross_entropy          (..., K)               (...) int in [0, K)  (...)  e.g. (B,), (T, B)
sigmoid_binary_cross_entropy   any                    same shape, 0..1     a leading prefix of shape
bernoulli_nll                  (..., K) (K notes)     same shape, 0/1      (...)  e.g. (T, B)
mean_squared_error             any                    same shape           a leading prefix of shape
=============================  =====================  ===================  ========================
"""
from __future__ import annotations

import numpy as np

from . import backend
from .validate import check_values


def softmax_cross_entropy(logits, targets, mask=None):
    r"""Mean softmax cross-entropy over the valid positions.

    Per sequence: logits (B, K), targets (B,); per step: logits (T, B, K), targets (T, B),
    mask (T, B).  With w the mask and N = Σ w::

        log pₖ = aₖ − max(a) − log Σⱼ exp(aⱼ − max(a))        (log-sum-exp)
        L      = −(1/N) Σ_positions w · log p_target
        δa     = (w/N) (p − onehot(target))

    Targets at masked-out positions are ignored (any value, e.g. −1 padding).
    """
    xp, dtype = _check_logits("logits", logits, min_ndim=1)
    K, lead = logits.shape[-1], tuple(logits.shape[:-1])
    w, count = _weights(xp, mask, lead, dtype, exact=True)
    t = _check_class_targets(xp, targets, lead, K, w)
    shifted = logits - logits.max(axis=-1, keepdims=True)                      # a − max(a)
    e = xp.exp(shifted)
    sumexp = e.sum(axis=-1, keepdims=True)
    picked = xp.take_along_axis(shifted, t[..., None], axis=-1)[..., 0]
    nll = xp.log(sumexp[..., 0]) - picked                                      # −log p_target
    p = e / sumexp                                                             # softmax
    dlogits = p - (xp.arange(K) == t[..., None])                              # p − onehot
    return _mean(nll, w, count), _scale(dlogits, w, count).astype(dtype, copy=False)   # (w/N)(p − onehot)


def sigmoid_binary_cross_entropy(logits, targets, mask=None):
    r"""Mean sigmoid binary cross-entropy over the valid elements.

    Elementwise, for logit x and target y in [0, 1] (w the mask broadcast over the trailing
    axes, N = number of valid elements)::

        ℓ  = −y log σ(x) − (1 − y) log(1 − σ(x)) = max(x, 0) − x y + log1p(exp(−|x|))
        L  = (1/N) Σ w ℓ
        δx = (w/N) (σ(x) − y)
    """
    xp, dtype = _check_logits("logits", logits, min_ndim=0)
    y = _check_probability_targets(_check_float_targets(xp, targets, tuple(logits.shape), dtype))
    w, count = _weights(xp, mask, tuple(logits.shape), dtype, exact=False)
    ell, dsig = _bce(xp, logits, y)
    return _mean(ell, w, count), _scale(dsig, w, count)                        # δx = (w/N)(σ(x) − y)


def bernoulli_nll(logits, targets, mask=None):
    r"""Multi-label Bernoulli negative log-likelihood (polyphonic music), summed over the last
    axis, averaged over the valid positions of the others.

    logits (T, B, K) (K = 88 notes), targets (T, B, K) 0/1, mask (T, B); N = Σ w::

        L  = (1/N) Σ_{t,b} w_{t,b} Σ_k [max(x, 0) − x y + log1p(exp(−|x|))]_{t,b,k}
        δx = (w/N) (σ(x) − y)
    """
    xp, dtype = _check_logits("logits", logits, min_ndim=1)
    y = _check_probability_targets(_check_float_targets(xp, targets, tuple(logits.shape), dtype))
    w, count = _weights(xp, mask, tuple(logits.shape[:-1]), dtype, exact=True)
    ell, dsig = _bce(xp, logits, y)
    nll = ell.sum(axis=-1)                                                     # Σ_k ℓ
    return _mean(nll, w, count), _scale(dsig, w, count)                        # δx = (w/N)(σ(x) − y)


def mean_squared_error(predictions, targets, mask=None):
    r"""Mean squared error over the valid elements (N of them, w the mask)::

        L  = (1/N) Σ w (p − y)²
        δp = (2w/N) (p − y)
    """
    xp, dtype = _check_logits("predictions", predictions, min_ndim=0)
    y = _check_float_targets(xp, targets, tuple(predictions.shape), dtype)
    w, count = _weights(xp, mask, tuple(predictions.shape), dtype, exact=False)
    diff = predictions - y                                                     # p − y
    return _mean(diff * diff, w, count), _scale(2 * diff, w, count)            # δp = (2w/N)(p − y)


# ---------------------------------------------------------------------------- helpers
def _bce(xp, x, y):
    """ℓ = max(x, 0) − x y + log1p(e) and σ(x) − y, elementwise, with e = exp(−|x|) ≤ 1 (never
    overflows).  σ(x) − y is formed without cancellation:

        x ≥ 0:  σ − y = ((1 − y) − y e) / (1 + e)        x < 0:  σ − y = (e (1 − y) − y) / (1 + e)
    """
    e = xp.exp(-xp.abs(x))                                                     # e = exp(−|x|)
    ell = xp.maximum(x, 0) - x * y + xp.log1p(e)                               # ℓ
    one_minus_y = 1 - y
    dsig = xp.where(x >= 0, one_minus_y - y * e, e * one_minus_y - y)
    dsig /= 1 + e                                                              # σ(x) − y
    return ell, dsig


def _scale(g, w, count):
    """g ⊙ w / N, in place (w None: no mask), 1/N rounded to g's dtype first."""
    g *= (1.0 / count).astype(g.dtype)
    if w is not None:
        g *= _expand(w, g.ndim)
    return g


def _expand(w, ndim):
    """The mask, with trailing unit axes so it broadcasts over the rest of an ndim array."""
    return w.reshape(tuple(w.shape) + (1,) * (ndim - w.ndim))


def _mean(values, w, count):
    """(1/N) Σ w · values, accumulated in float64, left on the device (a NumPy float64 on the host)."""
    if w is not None:
        values = values * _expand(w, values.ndim)
    return values.sum(dtype=np.float64) / count


def _check_logits(arg, a, min_ndim):
    if not (isinstance(a, np.ndarray) or backend.is_device_array(a)):
        raise TypeError(f"{arg}: expected a float32 or float64 array, got {type(a).__module__}.{type(a).__name__}")
    if a.dtype.name not in backend.DTYPES:
        raise TypeError(f"{arg}: expected dtype float32 or float64, got {a.dtype.name}")
    if a.ndim < min_ndim or a.size == 0:
        raise ValueError(f"{arg}: expected a non-empty array with at least {min_ndim} axis "
                         f"(the last one the classes), got shape {tuple(a.shape)}")
    return backend.xp_of(a), a.dtype


def _same_backend(arg, a, xp):
    if not (isinstance(a, np.ndarray) or backend.is_device_array(a)):
        raise TypeError(f"{arg}: expected an array, got {type(a).__module__}.{type(a).__name__}")
    want = backend.name_of(xp)
    if backend.backend_of(a) != want:
        raise TypeError(f"{arg}: expected a {want} array (the logits' backend), got a {backend.backend_of(a)} "
                        f"array; move it with npslim.backend.to_device / to_host")


def _check_class_targets(xp, targets, lead, K, w):
    """Integer class ids of shape ``lead`` in [0, K) wherever the mask is on; returns ids that are
    safe to gather with (masked-out positions replaced by 0)."""
    _same_backend("targets", targets, xp)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets: expected integer class ids, got dtype {targets.dtype.name}")
    if tuple(targets.shape) != lead:
        raise ValueError(f"targets: expected shape {lead} (the logits' shape without the class axis), "
                         f"got {tuple(targets.shape)}")
    t = targets if w is None else xp.where(w != 0, targets, 0)
    lo, hi = (t.min().item(), t.max().item()) if check_values(t) else (0, 0)
    if lo < 0 or hi >= K:
        raise ValueError(f"targets: expected class ids in [0, {K}) (K = logits.shape[-1]) at valid positions, "
                         f"got values in [{lo}, {hi}]")
    return t


def _check_float_targets(xp, targets, shape, dtype):
    """Numeric targets of ``shape``, as the logits' dtype."""
    _same_backend("targets", targets, xp)
    if targets.dtype.kind not in "biuf":
        raise TypeError(f"targets: expected numeric targets, got dtype {targets.dtype.name}")
    if tuple(targets.shape) != shape:
        raise ValueError(f"targets: expected shape {shape} (same as the logits), got {tuple(targets.shape)}")
    return targets.astype(dtype, copy=False)


def _check_probability_targets(y):
    """Targets of a sigmoid loss: probabilities, every value in [0, 1] (two scalars read)."""
    lo, hi = (y.min().item(), y.max().item()) if y.size and check_values(y) else (0.0, 0.0)
    if not (0.0 <= lo and hi <= 1.0):                       # NaN fails both comparisons
        raise ValueError(f"targets: expected probabilities in [0, 1] (0/1 labels for a Bernoulli loss), "
                         f"got values in [{lo:g}, {hi:g}]")
    return y


def _weights(xp, mask, shape, dtype, exact):
    """(w, N): w the mask as ``dtype`` (None without a mask) and N the number of valid elements
    (a float64 of the mask's backend).  ``exact``: the mask has exactly ``shape``; otherwise any
    leading prefix of it (the trailing axes all count).  The two value checks read the device
    only outside :func:`npslim.validate.checked_on_host`."""
    if mask is None:
        return None, np.float64(np.prod(shape, dtype=np.int64))
    _same_backend("mask", mask, xp)
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"mask: expected a bool or numeric array, got dtype {mask.dtype.name}")
    ok = tuple(mask.shape) == shape if exact else tuple(mask.shape) == shape[:mask.ndim]
    if not ok:
        want = f"{shape}" if exact else f"{shape} or a leading part of it"
        raise ValueError(f"mask: expected shape {want}, got {tuple(mask.shape)}")
    w = mask.astype(dtype)
    per = int(np.prod(shape[mask.ndim:], dtype=np.int64))
    count = w.sum(dtype=np.float64) * per                                      # N
    if check_values(w):
        lowest = w.min().item() if w.size else 0.0
        if not lowest >= 0:                                 # NaN fails it too
            raise ValueError(f"mask: expected weights >= 0 (bool, 0/1 or non-negative numbers), "
                             f"got a minimum of {lowest:g}")
        if not count.item() > 0:
            raise ValueError(f"mask: expected at least one valid position, got a mask summing to "
                             f"{count.item() / per:g}")
    return w, count


__all__ = ["softmax_cross_entropy", "sigmoid_binary_cross_entropy", "bernoulli_nll", "mean_squared_error"]
