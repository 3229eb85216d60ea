"""Gradient clipping by the global norm (torch.nn.utils.clip_grad_norm_)."""
from __future__ import annotations

from collections.abc import Mapping

from .. import backend
from ..validate import number as _number
from .optimizers import _is_array

__all__ = ["clip_grad_norm", "global_sq_norm"]

def clip_grad_norm(grads, max_norm):
    """Scale all gradients IN PLACE so that their global 2-norm is at most ``max_norm``, as
    torch.nn.utils.clip_grad_norm_::

        ‖g‖ = √(Σ_k Σ g_k²)                 (over every array of ``grads``)
        g_k ← g_k · min(1, max_norm / (‖g‖ + 1e-6))

    ``grads``: dict name -> array (or a list of arrays).  Returns ‖g‖ before clipping, a float64
    of the gradients' backend: a NumPy float64 (a Python float) on the host, a 0-d array on the
    GPU, where nothing is read back (a non-finite ‖g‖ makes every gradient NaN, as in torch)."""
    arrays = list(grads.values()) if isinstance(grads, Mapping) else list(grads)
    if not arrays:
        raise ValueError("grads: expected at least one array, got none")
    for k, g in enumerate(arrays):
        if not _is_array(g):
            raise TypeError(f"grads: expected numpy or cupy arrays, got {type(g).__module__}.{type(g).__name__} "
                            f"at position {k}")
    max_norm = _number("max_norm", max_norm, low=0.0, low_open=True)
    xp = backend.xp_of(*arrays)
    total = xp.sqrt(global_sq_norm(arrays))                          # ‖g‖   (in float64, on the device)
    coef = xp.minimum(1.0, max_norm / (total + 1e-6))                # min(1, max_norm / (‖g‖ + 1e-6))
    for g in arrays:
        g *= coef.astype(g.dtype)                                    # g ← g · coef
    return total

def global_sq_norm(arrays):
    """Σ_k Σ g_k² over the arrays, in float64, on their device."""
    xp = backend.xp_of(*arrays)
    return sum(xp.sum(g * g, dtype=xp.float64) for g in arrays)
