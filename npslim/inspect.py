"""Look inside a cell: its gate activations, step by step, straight from the forward cache.

    gates = npslim.inspect.gates(cell, X)     # {"i": (T, B, n), "f": ..., "o": ...}

These are the arrays behind the gate histograms and per-step heat maps of Li et al. 2018
(figures 1, 3 and 4).  Nothing is recomputed: the forward pass already keeps
every activation for its backward pass, and this hands them out (as host NumPy arrays).
"""
from __future__ import annotations

from . import backend


def gates(cell, X, state0=None):
    """Run ``cell.forward(X, state0)`` and return {gate name: (T, B, n) NumPy array} of its gate
    activations.  Cells without gates (``rnn``) return {}."""
    _, _, cache = cell.forward(X, state0)
    return {name: backend.to_host(a).copy() for name, a in cell.gate_activations(cache).items()}
