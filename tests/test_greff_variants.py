"""Greff's eight one-change variants of the LSTM (npslim/cells/greff.py): nig, nfg, nog, niaf, noaf,
cifg, np, fgr.

Besides the registry-wide checks (tests/test_gradcheck.py, tests/test_contract.py), this file checks
that each variant is the vanilla LSTM with exactly its one change: a removed gate is the vanilla gate
forced to 1, np is lstm(peepholes=False), cifg's forget gate is exactly 1 − i, fgr with its nine
matrices at zero is the vanilla LSTM, and fgr carries its gates as state; plus gradient checks
without peepholes and the parameter counts by hand.
"""
import numpy as np
import pytest

import npslim
from npslim import backend
from npslim.gradcheck import check_cell

from conftest import random_inputs

TOL = 1e-6
M, N = 4, 6
VARIANTS = ("nig", "nfg", "nog", "niaf", "noaf", "cifg", "np", "fgr")


def host(a):
    return backend.to_host(a)


def make(name, seed=0, **options):
    return npslim.cells.make(name, input_size=M, hidden_size=N, seed=seed, dtype="float64", **options)


def run(cell, X, state0, dY, dstate):
    """Forward and backward from zero gradients: (Y, state, dX, dstate0, grads), all on the host."""
    cell.zero_grad()
    Y, state, cache = cell.forward(X, state0)
    dX, dstate0 = cell.backward(dY, cache, dstate)
    return (host(Y), [host(s) for s in state], host(dX), [host(s) for s in dstate0],
            {k: host(g).copy() for k, g in cell.grads.items()})


# ---------------------------------------------------------------- gradient checks
# (each variant with its defaults: the registry-wide check, tests/test_gradcheck.py)
@pytest.mark.parametrize("name", ["nig", "nfg", "nog", "cifg", "fgr"])
def test_gradcheck_without_peepholes(name):
    cell = make(name, peepholes=False)
    assert not any(k.startswith("p_") for k in cell.params)
    errors = check_cell(cell, T=3, B=2, seed=7)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{name} peepholes=False: worst {worst} {errors[worst]:.2e}"


def test_gradcheck_sees_cifg_forget_path():
    """Dropping the forget path's (negative) contribution to δī is caught."""
    cell = make("cifg")
    cell.forget_gate_backward = lambda d, dc, c_prev, f, loop: None
    errors = check_cell(cell, T=3, B=2)
    assert errors["W_i"] > 1e-3 and errors["b_i"] > 1e-3


# ---------------------------------------------------------------- parameter counts
BY_HAND = {   # (m, n) = (4, 6): mn = 24, n² = 36, one gate block mn + n² + n = 66
    "lstm": 4 * 66 + 3 * 6,     # 282
    "nig": 3 * 66 + 2 * 6,      # 210
    "nfg": 3 * 66 + 2 * 6,      # 210
    "nog": 3 * 66 + 2 * 6,      # 210
    "niaf": 4 * 66 + 3 * 6,     # 282
    "noaf": 4 * 66 + 3 * 6,     # 282
    "cifg": 3 * 66 + 2 * 6,     # 210
    "np": 4 * 66,               # 264
    "fgr": 4 * 66 + 3 * 6 + 9 * 36,   # 606
}


@pytest.mark.parametrize("name", ("lstm",) + VARIANTS)
def test_param_count(name):
    cls = npslim.cells.get(name)
    assert make(name).num_params() == cls.param_count(M, N) == BY_HAND[name]
    # the docstring's formula against param_count at other sizes: tests/test_param_tables.py


@pytest.mark.parametrize("name, by_hand", [("nig", 198), ("nfg", 198), ("nog", 198), ("cifg", 198),
                                           ("niaf", 264), ("noaf", 264), ("fgr", 264 + 324)])
def test_param_count_without_peepholes(name, by_hand):
    cell = make(name, peepholes=False)
    assert cell.options() == {"peepholes": False}
    assert cell.num_params() == type(cell).param_count(M, N, peepholes=False) == by_hand


REMOVED = {"nig": "i", "nfg": "f", "nog": "o", "cifg": "f"}


@pytest.mark.parametrize("name", sorted(REMOVED))
def test_removed_gate_has_no_parameters(name):
    gate = REMOVED[name]
    cell = make(name)
    assert gate not in cell.GATE_ORDER
    for p in ("W", "R", "b", "p"):
        assert f"{p}_{gate}" not in cell.params
    assert cell.W.shape == (M, 3 * N) and cell.R.shape == (N, 3 * N) and cell.b.shape == (3 * N,)
    assert sorted(k for k in cell.params if k.startswith("p_")) == sorted(f"p_{g}" for g in "ifo" if g != gate)


def test_np_has_no_peephole_option():
    cell = make("np")
    assert cell.options() == {} and not any(k.startswith("p_") for k in cell.params)
    with pytest.raises(ValueError, match="takes no option 'peepholes'"):
        make("np", peepholes=True)
    with pytest.raises(TypeError, match="peepholes"):
        npslim.cells.get("np").param_count(M, N, peepholes=True)


# ---------------------------------------------------------------- one change each
def copy_shared(src, dst):
    """dst.params[k] ← src.params[k] for every name both cells have; returns the names."""
    shared = set(src.params) & set(dst.params)
    for k in shared:
        dst.params[k][...] = src.params[k]
    return shared


@pytest.mark.parametrize("name", ["nig", "nfg", "nog"])
def test_removed_gate_is_the_vanilla_gate_forced_to_one(name):
    """nig (nfg, nog) = lstm whose gate has zero W, R and peephole and bias +40: σ(40) = 1 in float64."""
    gate = REMOVED[name]
    variant, vanilla = make(name, seed=3), make("lstm", seed=4)
    shared = copy_shared(variant, vanilla)
    assert shared == set(variant.params)                      # the variant adds nothing of its own
    for p in ("W", "R", "p"):
        vanilla.params[f"{p}_{gate}"][...] = 0.0
    vanilla.params[f"b_{gate}"][...] = 40.0
    X, state0, dY, dstate = random_inputs(variant, 6, 3, seed=5)
    Yv, sv, dXv, dsv, gv = run(variant, X, state0, dY, dstate)
    Yl, sl, dXl, dsl, gl = run(vanilla, X, state0, dY, dstate)
    assert np.all(host(vanilla.forward(X, state0)[2]["S"][:, vanilla._k[gate]]) == 1.0)
    np.testing.assert_allclose(Yv, Yl, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dXv, dXl, rtol=1e-12, atol=1e-14)
    for a, b in zip(sv + dsv, sl + dsl):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for k in shared:
        np.testing.assert_allclose(gv[k], gl[k], rtol=1e-12, atol=1e-14, err_msg=k)
    for p in ("W", "R", "b", "p"):                             # the forced gate learns nothing
        assert not np.any(gl[f"{p}_{gate}"])


def test_np_equals_lstm_without_peepholes():
    a, b = make("np", seed=5), make("lstm", seed=5, peepholes=False)
    assert set(a.params) == set(b.params)
    for k in a.params:                                         # same seed, same draws
        np.testing.assert_array_equal(host(a.params[k]), host(b.params[k]))
    copy_shared(a, b)
    X, state0, dY, dstate = random_inputs(a, 5, 3, seed=6)
    ra, rb = run(a, X, state0, dY, dstate), run(b, X, state0, dY, dstate)
    np.testing.assert_array_equal(ra[0], rb[0])
    np.testing.assert_array_equal(ra[2], rb[2])
    for x, y in zip(ra[1] + ra[3], rb[1] + rb[3]):
        np.testing.assert_array_equal(x, y)
    for k in ra[4]:
        np.testing.assert_array_equal(ra[4][k], rb[4][k], err_msg=k)


def test_cifg_forget_gate_is_one_minus_input_gate():
    cell = make("cifg")
    X, state0, _, _ = random_inputs(cell, 5, 3, seed=7)
    _, _, cache = cell.forward(X, state0)
    gates = cell.gate_activations(cache)
    assert set(gates) == {"i", "f", "o"}
    i, f = host(gates["i"]), host(gates["f"])
    assert i.shape == f.shape == (5, 3, N)
    np.testing.assert_array_equal(f, 1.0 - i)
    assert 0 < i.min() and i.max() < 1


def test_cifg_cell_update():
    """cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ (1 − iᵗ), from the cached activations."""
    cell = make("cifg")
    X, state0, _, _ = random_inputs(cell, 4, 2, seed=8)
    _, _, cache = cell.forward(X, state0)
    S, C = host(cache["S"]), host(cache["C"])
    z, i = S[:, cell._k["z"]], S[:, cell._k["i"]]
    np.testing.assert_allclose(C[1:], z * i + C[:-1] * (1 - i), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name, attr", [("niaf", "g"), ("noaf", "h")])
def test_identity_activation(name, attr):
    """niaf: zᵗ = z̄ᵗ; noaf: yᵗ = cᵗ ⊙ oᵗ; the other activation stays tanh."""
    cell = make(name)
    assert getattr(cell, attr).name == "identity"
    assert getattr(cell, "h" if attr == "g" else "g").name == "tanh"
    X, state0, _, _ = random_inputs(cell, 4, 2, seed=9)
    Y, _, cache = cell.forward(X, state0)
    if name == "noaf":
        S, C = host(cache["S"]), host(cache["C"])
        np.testing.assert_allclose(host(Y), C[1:] * S[:, cell._k["o"]], rtol=1e-13, atol=1e-15)
    else:   # z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z, left as it is
        Xh, Yall = host(X), host(cache["Y"])
        zbar = Xh @ host(cell.params["W_z"]) + Yall[:-1] @ host(cell.params["R_z"]) + host(cell.params["b_z"])
        np.testing.assert_allclose(host(cache["S"])[:, cell._k["z"]], zbar, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- fgr
def test_fgr_layout_and_live_views():
    cell = make("fgr")
    assert cell.STATE == ("y", "c", "ifo") and cell.state_sizes() == (N, N, 3 * N)
    names = [f"R_{a}{b}" for a in "ifo" for b in "ifo"]
    assert all(cell.params[k].shape == (N, N) for k in names)
    # R_if: how fᵗ⁻¹ enters īᵗ = rows of f (block 1), columns of i (block 0) of the stacked R_g
    cell.params["R_if"][...] = 5.0
    assert np.all(host(cell.R_g)[N:2 * N, :N] == 5.0)
    assert np.count_nonzero(host(cell.R_g) == 5.0) == N * N
    cell.grads["R_of"][...] = 1.0
    assert np.all(host(cell._grad_storage["R_g"])[N:2 * N, 2 * N:] == 1.0)


def test_fgr_with_zero_gate_recurrence_is_the_vanilla_lstm():
    fgr, vanilla = make("fgr", seed=1), make("lstm", seed=2)
    shared = copy_shared(fgr, vanilla)
    assert shared == set(vanilla.params)
    for a in "ifo":
        for b in "ifo":
            fgr.params[f"R_{a}{b}"][...] = 0.0
    X, state0, dY, dstate = random_inputs(fgr, 5, 3, seed=3)   # g⁻¹ random: it meets zero matrices
    dstate = dstate[:2] + (0 * dstate[2],)                        # the vanilla LSTM has no gᵀ⁻¹ to weigh
    Yf, sf, dXf, dsf, gf = run(fgr, X, state0, dY, dstate)
    Yl, sl, dXl, dsl, gl = run(vanilla, X, state0[:2], dY, dstate[:2])
    np.testing.assert_allclose(Yf, Yl, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dXf, dXl, rtol=1e-12, atol=1e-14)
    for a, b in zip(sf[:2] + dsf[:2], sl + dsl):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert not np.any(dsf[2])                                     # nothing reaches g⁻¹ through zeros
    for k in shared:
        np.testing.assert_allclose(gf[k], gl[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_fgr_state_is_the_last_gates():
    cell = make("fgr")
    X, state0, _, _ = random_inputs(cell, 4, 3, seed=4)
    _, (y, c, g), cache = cell.forward(X, state0)
    gates = cell.gate_activations(cache)
    np.testing.assert_array_equal(host(g), np.concatenate([host(gates[k][-1]) for k in "ifo"], axis=1))


def test_fgr_step_by_step_equals_whole_sequence():
    T, B = 5, 3
    cell = make("fgr", seed=6)
    X, state0, dY, dstate = random_inputs(cell, T, B, seed=7)
    Y, state, dX, dstate0, grads = run(cell, X, state0, dY, dstate)

    caches, Ys, s = [], [], state0
    for t in range(T):
        Yt, s, cache = cell.forward(X[t:t + 1], s)
        Ys.append(host(Yt)[0])
        caches.append(cache)
    np.testing.assert_allclose(np.stack(Ys), Y, rtol=1e-12, atol=1e-14)
    assert len(s) == 3
    for a, b in zip(s, state):
        np.testing.assert_allclose(host(a), b, rtol=1e-12, atol=1e-14)

    cell.zero_grad()
    ds, dXs = dstate, [None] * T
    for t in reversed(range(T)):
        dXt, ds = cell.backward(dY[t:t + 1], caches[t], ds)
        dXs[t] = host(dXt)[0]
    np.testing.assert_allclose(np.stack(dXs), dX, rtol=1e-10, atol=1e-13)
    assert len(ds) == 3 and np.any(host(ds[2]))
    for a, b in zip(ds, dstate0):
        np.testing.assert_allclose(host(a), b, rtol=1e-10, atol=1e-13)
    for k, g in cell.grads.items():
        np.testing.assert_allclose(host(g), grads[k], rtol=1e-10, atol=1e-13, err_msg=k)
