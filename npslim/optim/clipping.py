"""Gradient clipping by the global norm (torch.nn.utils.clip_grad_norm_)."""
from __future__ import annotations

import math
from collections.abc import Mapping

from .. import backend
from ..validate import number as _number
from .optimizers import _is_array

__all__ = ["clip_grad_norm"]


def clip_grad_norm(grads, max_norm):
    """Scale all gradients IN PLACE so that their global 2-norm is at most ``max_norm``, as
    torch.nn.utils.clip_grad_norm_::

        ‖g‖ = √(Σ_k Σ g_k²)                 (over every array of ``grads``)
        g_k ← g_k · min(1, max_norm / (‖g‖ + 1e-6))

    ``grads``: dict name -> array (or a list of arrays).  Returns ‖g‖ before clipping, a float."""
    arrays = list(grads.values()) if isinstance(grads, Mapping) else list(grads)
    if not arrays:
        raise ValueError("grads: expected at least one array, got none")
    for k, g in enumerate(arrays):
        if not _is_array(g):
            raise TypeError(f"grads: expected numpy or cupy arrays, got {type(g).__module__}.{type(g).__name__} "
                            f"at position {k}")
    max_norm = _number("max_norm", max_norm, low=0.0, low_open=True)
    xp = backend.xp_of(*arrays)
    total_sq = sum(xp.sum(g * g, dtype=xp.float64) for g in arrays)   # Σ_k Σ g_k²   (in float64, on the device)
    total = math.sqrt(total_sq.item())                               # ‖g‖
    coef = min(1.0, max_norm / (total + 1e-6))                       # min(1, max_norm / (‖g‖ + 1e-6))
    for g in arrays:
        g *= coef                                                    # g ← g · coef
    return total
