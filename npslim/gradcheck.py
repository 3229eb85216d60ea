"""Finite-difference gradient checks: the proof of every backward pass.

The loss is a random weighted sum of every output and of the final state,

    L = Σ w_Y ⊙ Y + Σ_k w_k ⊙ state_k

so ``dY = w_Y`` and ``dstate = (w_k)``.  Every element of every parameter, of the input X and
of the initial state is moved by ±h and ±2h, and the fourth-order central difference

    ∂L/∂θ ≈ (L(θ − 2h) − 8 L(θ − h) + 8 L(θ + h) − L(θ + 2h)) / 12h,    h = 1e-3

is compared with the gradient backward gave.  Its truncation error is O(h⁴) ≈ 1e-12, which lets
h be large enough that rounding in L stays near 1e-13: about a hundred times more accurate than
the two-point (L(θ + h) − L(θ − h)) / 2h, for twice the evaluations.  The error of one array is the worst elementwise

    |analytic − numeric| / max(|analytic| + |numeric|, floor),  floor = 1e-3 · max |numeric| of that array

(the floor keeps elements that are zero up to rounding from dividing by nothing).  In float64 a
correct backward gives errors around 1e-9 or below; a wrong one gives errors of order 1e-3 to 1.  Weights, biases, peepholes and the initial state are all random and nonzero.
"""
from __future__ import annotations

import numpy as np

from . import backend


def _perturbations(cell, X, state0):
    """(name, array) for every array the check moves: parameters, X, each initial-state array."""
    items = list(cell.params.items())
    items.append(("X", X))
    for name, s in zip(cell.STATE, state0):
        items.append((f"{name}0", s))
    return items


def relative_error(analytic, numeric):
    """Worst elementwise relative error with a floor of 1e-3 · max |numeric| (see the module text)."""
    a = backend.to_host(analytic).astype(np.float64).ravel()
    b = backend.to_host(numeric).astype(np.float64).ravel()
    if a.size == 0:
        return 0.0
    floor = max(1e-3 * float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


STENCIL = ((-2, 1.0), (-1, -8.0), (1, 8.0), (2, -1.0))   # (offset in h, weight) of the 12h stencil


def numeric_gradient(loss_of, a, eps=1e-3):
    """∂L/∂a by the fourth-order central difference, perturbing ``a`` in place and restoring it."""
    numeric = np.zeros(tuple(a.shape), dtype=np.float64)
    for idx in np.ndindex(*a.shape):
        old = a[idx].item()
        total = 0.0
        for offset, weight in STENCIL:
            a[idx] = old + offset * eps
            total += weight * loss_of()
        a[idx] = old
        numeric[idx] = total / (12 * eps)
    return numeric


def check_function(loss_of, arrays, analytic, eps=1e-3):
    """Generic check.  ``loss_of()`` evaluates the loss from the current contents of ``arrays``
    (name -> array, perturbed in place and restored); ``analytic`` maps name -> gradient.
    Returns name -> worst relative error."""
    return {name: relative_error(analytic[name], numeric_gradient(loss_of, a, eps))
            for name, a in arrays.items()}


def _is_smooth(cell):
    """False when the cell uses an activation with a kink (relu)."""
    from .activations import Activation
    found = [v for v in list(vars(cell).values()) + [getattr(type(cell), a, None) for a in ("g", "h")]
             if isinstance(v, Activation)]
    return all(a.smooth for a in found)


def check_cell(cell, T=5, B=3, seed=0, eps=None):
    """Gradient-check ``cell`` on a random (T, B, m) input with a random initial state.

    The cell must be float64.  Stochastic cells are checked with their noise frozen.  ``eps``
    defaults to h = 1e-3, or to 1e-5 for a cell with a relu, whose kink the stencil's ±2h must
    not straddle.  Returns a dict: array name (every parameter, "X", and "<state>0") -> worst
    relative error.
    """
    if eps is None:
        eps = 1e-3 if _is_smooth(cell) else 1e-5
    if cell.dtype != np.float64:
        raise TypeError(f"cell: gradient checks need a float64 cell, got dtype {cell.dtype.name}; "
                        f"make it with dtype='float64'")
    xp = cell.xp
    rng = np.random.default_rng(seed)
    X = backend.to_device(rng.standard_normal((T, B, cell.input_size)), xp)
    state0 = tuple(backend.to_device(0.5 * rng.standard_normal((B, size)), xp) for size in cell.state_sizes())
    wY = backend.to_device(rng.standard_normal((T, B, cell.output_size)), xp)
    wS = tuple(backend.to_device(rng.standard_normal((B, size)), xp) for size in cell.state_sizes())

    with cell.noise_frozen():
        def loss_of():
            Y, state, _ = cell.forward(X, state0)
            total = (Y * wY).sum().item()                      # .item(): one explicit read from the device
            for s, w in zip(state, wS):
                total += (s * w).sum().item()
            return total

        saved = {name: g.copy() for name, g in cell.grads.items()}
        cell.zero_grad()
        _, _, cache = cell.forward(X, state0)
        dX, dstate0 = cell.backward(wY, cache, dstate=wS)
        analytic = {name: g.copy() for name, g in cell.grads.items()}
        analytic["X"] = dX
        for name, ds in zip(cell.STATE, dstate0):
            analytic[f"{name}0"] = ds
        arrays = dict(_perturbations(cell, X, state0))
        errors = check_function(loss_of, arrays, analytic, eps=eps)
        for name, g in saved.items():          # leave the cell's gradients as they were
            cell.grads[name][...] = g
    return errors


def check_all(T=5, B=3, input_size=4, hidden_size=6, seed=0, names=None):
    """Check every registered cell (float64); returns name -> (worst error, per-array errors)."""
    from . import cells
    results = {}
    for name in names or cells.names():
        cell = cells.make(name, input_size=input_size, hidden_size=hidden_size, seed=seed,
                          dtype="float64", **cells.get(name).GRADCHECK_OPTIONS)
        errors = check_cell(cell, T=T, B=B, seed=seed)
        results[name] = (max(errors.values()), errors)
    return results
