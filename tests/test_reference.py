"""Every fast cell equals its textbook cell in npslim.reference: outputs, final state, δX, the
initial-state gradients and every parameter gradient, float64, with random non-zero weights,
biases, peepholes, initial state, output and final-state gradients."""
import inspect

import numpy as np
import pytest

import npslim
from npslim import reference
from npslim.backend import to_host

TOL = 1e-12          # max |fast − reference| / max |reference|, per compared array
T, B = 5, 3

# (family, cell options, reference options): m, n (and p) sizes that every option accepts
CASES = [
    ("rnn", {}, {}),
    ("rnn", {"activation": "sigmoid"}, {"activation": "sigmoid"}),
    ("rnn", {"activation": "relu"}, {"activation": "relu"}),
    ("gru", {}, {}),
    ("lstm", {}, {}),
    ("lstm", {"peepholes": False}, {}),
    ("glstm", {"groups": 2, "proj_size": 4}, {}),
    ("glstm", {"groups": 3, "proj_size": 3}, {}),
]


def _setup(name, options, seed=0):
    """A float64 fast cell with every parameter set to random non-zero values (|v| in [0.1, 1]), and
    random non-zero X, initial state, dY and final-state gradient (host arrays)."""
    rng = np.random.default_rng(seed)
    cell = npslim.cells.make(name, 6, 6, seed=seed, dtype="float64", **options)
    for value in cell.params.values():              # live views: together, every stored array
        host = rng.uniform(0.1, 1.0, value.shape) * rng.choice([-1.0, 1.0], value.shape)
        value[...] = npslim.backend.to_device(host, cell.xp)
    cell.zero_grad()
    p = {k: to_host(v).copy() for k, v in cell.params.items()}
    assert all(np.all(v != 0) for v in p.values())
    X = rng.standard_normal((T, B, cell.input_size))
    state0 = tuple(0.5 * rng.standard_normal((B, s)) for s in cell.state_sizes())
    dY = rng.standard_normal((T, B, cell.output_size))
    dstate = tuple(rng.standard_normal((B, s)) for s in cell.state_sizes())
    return cell, p, X, state0, dY, dstate


def _fast(cell, X, state0, dY, dstate):
    dev = lambda a: npslim.backend.to_device(a, cell.xp)  # noqa: E731
    Y, final, cache = cell.forward(dev(X), tuple(map(dev, state0)))
    dX, dstate0 = cell.backward(dev(dY), cache, tuple(map(dev, dstate)))
    arrays = {"Y": Y, "dX": dX, **{f"{s}_final": a for s, a in zip(cell.STATE, final)},
              **{f"d{s}0": a for s, a in zip(cell.STATE, dstate0)}, **cell.grads}
    return {k: to_host(v) for k, v in arrays.items()}


def _reference(name, p, X, state0, dY, dstate, **options):
    forward, backward = getattr(reference, f"{name}_forward"), getattr(reference, f"{name}_backward")
    one = len(state0) == 1                     # rnn, gru: the state is y itself, not a tuple
    Y, final, caches = forward(X, state0[0] if one else state0, p, **options)
    dX, dstate0, grads = backward(dY, caches, p, dstate[0] if one else dstate)
    final, dstate0 = ((final,), (dstate0,)) if one else (final, dstate0)
    states = ("y",) if one else ("y", "c")
    return {"Y": Y, "dX": dX, **{f"{s}_final": a for s, a in zip(states, final)},
            **{f"d{s}0": a for s, a in zip(states, dstate0)}, **grads}


def _max_rel(fast, ref):
    assert set(fast) == set(ref)
    return {k: float(np.max(np.abs(fast[k] - ref[k])) / np.max(np.abs(ref[k]))) for k in ref}


@pytest.mark.parametrize("name, options, ref_options", CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for n, o, _ in CASES])
def test_fast_cell_equals_reference(name, options, ref_options):
    cell, p, X, state0, dY, dstate = _setup(name, options)
    errors = _max_rel(_fast(cell, X, state0, dY, dstate), _reference(name, p, X, state0, dY, dstate, **ref_options))
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{name} {options}: worst {worst} {errors[worst]:.1e}; all {errors}"


def test_reference_default_final_state_gradient_is_zero():
    cell, p, X, state0, dY, dstate = _setup("glstm", {"groups": 2, "proj_size": 4})
    zeros = tuple(np.zeros_like(a) for a in dstate)
    ref0 = _reference("glstm", p, X, state0, dY, zeros)
    Y, final, caches = reference.glstm_forward(X, state0, p)
    dX, dstate0, grads = reference.glstm_backward(dY, caches, p)
    assert np.array_equal(dX, ref0["dX"]) and np.array_equal(dstate0[1], ref0["dc0"])
    assert all(np.array_equal(grads[k], ref0[k]) for k in grads)


@pytest.mark.parametrize("family", ["rnn", "gru", "lstm", "glstm"])
def test_step_pair_fits_one_screen(family):
    lines = sum(len(inspect.getsource(getattr(reference, f"{family}_step_{d}")).splitlines())
                for d in ("forward", "backward"))
    assert lines <= 60, f"{family}_step_forward + {family}_step_backward: {lines} lines, expected ≤ 60"
