"""Finite-difference gradient checks: the proof of every backward pass.

The loss is a random weighted sum of every output and of the final state,

    L = Σ w_Y ⊙ Y + Σ_k w_k ⊙ state_k

so ``dY = w_Y`` and ``dstate = (w_k)``.  Every element of every parameter, of the input X and
of the initial state is moved by ±eps and the central difference (L(+) − L(−)) / 2eps is
compared with the gradient backward gave.  The error of one array is the worst elementwise

    |analytic − numeric| / max(|analytic| + |numeric|, floor),  floor = 1e-3 · max |numeric| of that array

(the floor keeps elements that are zero up to rounding from dividing by nothing).  In float64
with eps = 1e-5 a correct backward gives errors around 1e-9 or below; a wrong one gives errors
of order 1.  Weights, biases, peepholes and the initial state are all random and nonzero.
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


def check_function(loss_of, arrays, analytic, eps=1e-5):
    """Generic check.  ``loss_of()`` evaluates the loss from the current contents of ``arrays``
    (name -> array, perturbed in place and restored); ``analytic`` maps name -> gradient.
    Returns name -> worst relative error."""
    errors = {}
    for name, a in arrays.items():
        host = backend.to_host(a)
        numeric = np.zeros(host.shape, dtype=np.float64)
        flat_index = np.ndindex(host.shape)
        for idx in flat_index:
            old = a[idx].item()
            a[idx] = old + eps
            lp = loss_of()
            a[idx] = old - eps
            lm = loss_of()
            a[idx] = old
            numeric[idx] = (lp - lm) / (2 * eps)
        errors[name] = relative_error(analytic[name], numeric)
    return errors


def check_cell(cell, T=5, B=3, seed=0, eps=1e-5):
    """Gradient-check ``cell`` on a random (T, B, m) input with a random initial state.

    The cell must be float64.  Stochastic cells are checked with their noise frozen.
    Returns a dict: array name (every parameter, "X", and "<state>0") -> worst relative error.
    """
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
            total = float((Y * wY).sum())
            for s, w in zip(state, wS):
                total += float((s * w).sum())
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
