"""LSTMP, F-LSTM and G-LSTM (Kuchaiev & Ginsburg 2017, file 002): table 1 to the unit, gradient
checks at sizes where m, n, p and r all differ, and cross-checks between the three cells (G-LSTM
with one group is LSTMP; F-LSTM is LSTMP with W = W₂W₁; LSTMP with P = I is the peephole-free LSTM)."""
import numpy as np
import pytest

import npslim
from npslim import backend
from npslim.cells.projection import FLSTM, GLSTM, LSTMP
from npslim.gradcheck import check_cell

from conftest import random_inputs

TOL = 1e-6

# sizes where every dimension differs, so a transposed or swapped weight cannot pass
CASES = {
    "lstmp": dict(input_size=5, hidden_size=6, proj_size=3),
    "flstm": dict(input_size=5, hidden_size=6, proj_size=3, rank=2),
    "glstm": dict(input_size=6, hidden_size=6, proj_size=4, groups=2),      # m_k = 3, n_k = 3, p_k = 2
    "glstm3": dict(input_size=9, hidden_size=6, proj_size=3, groups=3),     # m_k = 3, n_k = 2, p_k = 1
}


def make(case, dtype="float64", seed=0):
    name = "glstm" if case.startswith("glstm") else case
    return npslim.cells.make(name, seed=seed, dtype=dtype, **CASES[case])


def host(a):
    return backend.to_host(a)


def run(cell, X, state0, dY, dstate):
    """forward + backward from zero gradients: (Y, state, dX, dstate0, grads) on the host."""
    cell.zero_grad()
    Y, state, cache = cell.forward(X, state0)
    dX, dstate0 = cell.backward(dY, cache, dstate)
    return (host(Y), tuple(map(host, state)), host(dX), tuple(map(host, dstate0)),
            {k: host(g).copy() for k, g in cell.grads.items()})


# ---------------------------------------------------------------- table 1 of the paper
# Two layers, p = 1024, n = 8192.  Layer 1's input is the embedding (1024 wide = p), layer 2's is
# layer 1's projection (p): so m = p = 1024 for both, and the count is twice one layer's.  Biases
# (4n) and the projection P (pn) are counted; every number then matches to the unit.
P_, N_ = 1024, 8192
TABLE1 = [
    ("LSTMP", LSTMP, {}, 151_060_480),
    ("F-LSTM F512", FLSTM, {"rank": 512}, 52_494_336),
    ("G-LSTM G-2", GLSTM, {"groups": 2}, 83_951_616),
    ("G-LSTM G-4", GLSTM, {"groups": 4}, 50_397_184),
    ("G-LSTM G-8", GLSTM, {"groups": 8}, 33_619_968),
]


@pytest.mark.parametrize("label, cls, options, expected", TABLE1, ids=[row[0] for row in TABLE1])
def test_table1(label, cls, options, expected):
    layer = cls.param_count(P_, N_, proj_size=P_, **options)
    assert 2 * layer == expected, f"{label}: 2 × {layer:,} = {2 * layer:,}, paper {expected:,}"


def test_table1_formulas_by_hand():
    m = p = P_
    n = N_
    assert 2 * (4 * n * (m + p) + 4 * n + p * n) == 151_060_480
    assert 2 * (512 * (m + p) + 4 * n * 512 + 4 * n + p * n) == 52_494_336
    for k, expected in ((2, 83_951_616), (4, 50_397_184), (8, 33_619_968)):
        assert 2 * (k * (4 * n // k) * ((m + p) // k) + 4 * n + p * n) == expected


@pytest.mark.parametrize("case", list(CASES))
def test_param_count_equals_num_params(case):
    cell = make(case)
    assert cell.num_params() == type(cell).param_count(cell.input_size, cell.hidden_size, **cell.options())
    assert set(cell.grads) == set(cell.params)


def test_param_names_and_shapes():
    lstmp, flstm, glstm = make("lstmp"), make("flstm"), make("glstm")
    assert {k: v.shape for k, v in lstmp.params.items()} == {
        **{f"W_{g}": (5, 6) for g in "zifo"}, **{f"R_{g}": (3, 6) for g in "zifo"},
        **{f"b_{g}": (6,) for g in "zifo"}, "P": (6, 3)}
    assert {k: v.shape for k, v in flstm.params.items()} == {
        "W1_x": (5, 2), "W1_y": (3, 2), **{f"W2_{g}": (2, 6) for g in "zifo"},
        **{f"b_{g}": (6,) for g in "zifo"}, "P": (6, 3)}
    assert {k: v.shape for k, v in glstm.params.items()} == {
        **{f"W_{g}": (2, 3, 3) for g in "zifo"}, **{f"R_{g}": (2, 2, 3) for g in "zifo"},
        **{f"b_{g}": (6,) for g in "zifo"}, "P": (6, 4)}
    # the views are live: the input-gate block of group 1 is W[1, :, n_k:2n_k]
    glstm.params["W_i"][1][...] = 7.0
    assert np.all(host(glstm.W)[1, :, 3:6] == 7.0) and not np.any(host(glstm.W)[0] == 7.0)


def test_defaults_and_options():
    cell = npslim.cells.make("lstmp", 4, 6)
    assert cell.proj_size == 6 and cell.options() == {"proj_size": 6}
    f = npslim.cells.make("flstm", 4, 6, proj_size=4)
    assert f.rank == 2 and f.options() == {"proj_size": 4, "rank": 2}
    assert npslim.cells.make("flstm", 4, 6, proj_size=4, rank=3).options() == {"proj_size": 4, "rank": 3}
    g = npslim.cells.make("glstm", 4, 6)
    assert g.groups == 2 and g.options() == {"proj_size": 6, "groups": 2}
    assert npslim.cells.make("glstm", 6, 6, groups=3).options() == {"proj_size": 6, "groups": 3}
    rebuilt = eval(repr(make("glstm3")), {"npslim": npslim})
    assert rebuilt.options() == {"proj_size": 3, "groups": 3}


def test_bad_options_refused():
    with pytest.raises(ValueError, match=r"proj_size: expected a positive integer, got 0"):
        npslim.cells.make("lstmp", 4, 6, proj_size=0)
    with pytest.raises(ValueError, match=r"rank: expected a positive integer, got 1.5"):
        npslim.cells.make("flstm", 4, 6, rank=1.5)
    with pytest.raises(ValueError, match=r"groups: expected a number of groups that divides .*"
                                         r"input_size = 4, proj_size = 5 not divisible by 3"):
        npslim.cells.make("glstm", 4, 6, proj_size=5, groups=3)
    with pytest.raises(ValueError, match=r"hidden_size = 6 not divisible by 4"):
        npslim.cells.make("glstm", 4, 6, proj_size=4, groups=4)
    with pytest.raises(ValueError, match=r"groups: expected a number of groups"):
        GLSTM.param_count(4, 6, groups=4)


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("case", list(CASES))
def test_shapes_and_gate_activations(case):
    cell = make(case)
    T, B = 4, 3
    n, p = cell.hidden_size, cell.proj_size
    assert cell.output_size == p and cell.state_sizes() == (p, n)
    X, state0, dY, dstate = random_inputs(cell, T, B)
    Y, (y, c), cache = cell.forward(X, state0)
    assert Y.shape == (T, B, p) and y.shape == (B, p) and c.shape == (B, n)
    np.testing.assert_array_equal(host(Y[-1]), host(y))
    gates = cell.gate_activations(cache)
    assert set(gates) == {"i", "f", "o"}
    for a in gates.values():
        assert a.shape == (T, B, n) and np.all((host(a) > 0) & (host(a) < 1))
    dX, (dy0, dc0) = cell.backward(dY, cache, dstate)
    assert dX.shape == X.shape and dy0.shape == (B, p) and dc0.shape == (B, n)
    with pytest.raises(ValueError, match=rf"state0\['y'\]: expected shape \({B}, {p}\)"):
        cell.forward(X, (c, c))                   # y must be p wide, not n


# ---------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("T", [1, 5])
@pytest.mark.parametrize("case", ["glstm3"])   # lstmp, flstm, glstm (k = 2): the registry-wide check
def test_gradcheck(case, T):
    cell = make(case)
    errors = check_cell(cell, T=T, B=3, seed=T)
    assert set(errors) == set(cell.params) | {"X", "y0", "c0"}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{case} T={T}: worst {worst} error {errors[worst]:.2e}; all {errors}"


def test_gradcheck_catches_a_wrong_projection_gradient():
    """The check can fail here: a δP off by 10% is caught."""
    cell = make("lstmp")
    original = LSTMP.backward

    def broken(self, dY, cache, dstate=None):
        before = self.grads["P"].copy()
        out = original(self, dY, cache, dstate)
        self.grads["P"][...] = before + 1.1 * (self.grads["P"] - before)
        return out

    cell.backward = broken.__get__(cell)
    errors = check_cell(cell, T=3, B=2)
    assert errors["P"] > 1e-3 and errors["W_z"] < TOL


# ---------------------------------------------------------------- step by step
@pytest.mark.parametrize("case", list(CASES))
def test_step_by_step_equals_whole_sequence(case):
    cell = make(case)
    T = 5
    X, state0, dY, dstate = random_inputs(cell, T, 3)
    Y, state, dX, dstate0, grads = run(cell, X, state0, dY, dstate)

    caches, s = [], state0
    for t in range(T):
        Yt, s, cache = cell.forward(X[t:t + 1], s)
        np.testing.assert_allclose(host(Yt)[0], Y[t], rtol=1e-12, atol=1e-13)
        caches.append(cache)
    for a, b in zip(s, state):
        np.testing.assert_allclose(host(a), b, rtol=1e-12, atol=1e-13)

    cell.zero_grad()
    ds = dstate
    for t in reversed(range(T)):
        dXt, ds = cell.backward(dY[t:t + 1], caches[t], ds)
        np.testing.assert_allclose(host(dXt)[0], dX[t], rtol=1e-10, atol=1e-12)
    for a, b in zip(ds, dstate0):
        np.testing.assert_allclose(host(a), b, rtol=1e-10, atol=1e-12)
    for k, g in cell.grads.items():
        np.testing.assert_allclose(host(g), grads[k], rtol=1e-10, atol=1e-12, err_msg=k)


# ---------------------------------------------------------------- cross-checks between the cells
def test_glstm_one_group_equals_lstmp():
    g = npslim.cells.make("glstm", 5, 6, proj_size=3, groups=1, seed=1, dtype="float64")
    p = npslim.cells.make("lstmp", 5, 6, proj_size=3, seed=2, dtype="float64")
    p.W[...] = g.W[0]
    p.R[...] = g.R[0]
    p.b[...] = g.b
    p.P[...] = g.P
    args = random_inputs(p, 5, 3)
    Yg, sg, dXg, dsg, gg = run(g, *args)
    Yp, sp, dXp, dsp, gp = run(p, *args)
    np.testing.assert_allclose(Yg, Yp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dXg, dXp, rtol=1e-12, atol=1e-14)
    for a, b in zip(sg + dsg, sp + dsp):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert set(gg) == set(gp)
    for k in gp:
        np.testing.assert_allclose(gg[k].reshape(gp[k].shape), gp[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_glstm_equals_lstmp_with_block_diagonal_weights():
    """k = 3 groups against LSTMP whose W_g, R_g are block-diagonal with G-LSTM's blocks W_g[j],
    R_g[j]: every (gate, group) block of the batched views must land on its own units, and the
    gradients of G-LSTM are the diagonal blocks of LSTMP's."""
    m, n, p, k = 9, 6, 3, 3
    mk, nk, pk = m // k, n // k, p // k
    g = npslim.cells.make("glstm", m, n, proj_size=p, groups=k, seed=1, dtype="float64")
    ref = npslim.cells.make("lstmp", m, n, proj_size=p, seed=2, dtype="float64")
    for gate in GLSTM.GATE_ORDER:
        for name, w in (("W", mk), ("R", pk)):
            block = ref.params[f"{name}_{gate}"]
            block[...] = 0.0
            for j in range(k):
                block[j * w:(j + 1) * w, j * nk:(j + 1) * nk] = g.params[f"{name}_{gate}"][j]
    ref.b[...] = g.b
    ref.P[...] = g.P
    args = random_inputs(ref, 5, 4)
    Yg, sg, dXg, dsg, gg = run(g, *args)
    Yp, sp, dXp, dsp, gp = run(ref, *args)
    np.testing.assert_allclose(Yg, Yp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dXg, dXp, rtol=1e-12, atol=1e-14)
    for a, b in zip(sg + dsg, sp + dsp):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for key in gp:
        name, gate = key.split("_") if "_" in key else (key, None)
        if name in ("W", "R"):
            w = mk if name == "W" else pk
            for j in range(k):
                np.testing.assert_allclose(gg[key][j], gp[key][j * w:(j + 1) * w, j * nk:(j + 1) * nk],
                                           rtol=1e-12, atol=1e-14, err_msg=f"{key}[{j}]")
        else:
            np.testing.assert_allclose(gg[key], gp[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_flstm_equals_lstmp_with_W_set_to_W2_W1():
    f = npslim.cells.make("flstm", 5, 6, proj_size=3, rank=2, seed=1, dtype="float64")
    p = npslim.cells.make("lstmp", 5, 6, proj_size=3, seed=2, dtype="float64")
    W1x, W1y, W2 = host(f.W1_x), host(f.W1_y), host(f.W2)
    p.W[...] = W1x @ W2                  # row-vector form of the paper's W = W₂ W₁ (x columns)
    p.R[...] = W1y @ W2                  #                                         (y columns)
    p.b[...] = f.b
    p.P[...] = f.P
    args = random_inputs(p, 5, 3)
    Yf, sf, dXf, dsf, gf = run(f, *args)
    Yp, sp, dXp, dsp, gp = run(p, *args)
    np.testing.assert_allclose(Yf, Yp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dXf, dXp, rtol=1e-11, atol=1e-14)
    for a, b in zip(sf + dsf, sp + dsp):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)
    # the factor gradients are the chain rule through W = W₁W₂ (row form) and R = W₁ᵧW₂
    dW, dR = host(p._grad_storage["W"]), host(p._grad_storage["R"])
    np.testing.assert_allclose(gf["W1_x"], dW @ W2.T, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(gf["W1_y"], dR @ W2.T, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(host(f._grad_storage["W2"]), W1x.T @ dW + W1y.T @ dR, rtol=1e-11, atol=1e-14)
    for k in ("P", "b_z", "b_i", "b_f", "b_o"):
        np.testing.assert_allclose(gf[k], gp[k], rtol=1e-11, atol=1e-14, err_msg=k)


def test_lstmp_with_identity_projection_equals_lstm_without_peepholes():
    p = npslim.cells.make("lstmp", 5, 6, seed=1, dtype="float64")          # proj_size defaults to n
    ref = npslim.cells.make("lstm", 5, 6, peepholes=False, seed=2, dtype="float64")
    for name in ("W", "R", "b"):
        ref._storage[name][...] = p._storage[name]
    p.P[...] = np.eye(6)
    args = random_inputs(p, 5, 3)
    out_p, out_ref = run(p, *args), run(ref, *args)
    for a, b in zip(out_p[:1] + out_p[1] + out_p[2:3] + out_p[3], out_ref[:1] + out_ref[1] + out_ref[2:3] + out_ref[3]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for k in out_ref[4]:
        np.testing.assert_allclose(out_p[4][k], out_ref[4][k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_glstm_groups_are_independent():
    """Group j's cell units (the n/k units it owns in every gate) see only x_j and y_j: changing
    x_2 at step 0 leaves the cell state of groups 1 and 3 at step 0 unchanged, and changes group 2's."""
    cell = make("glstm3")                                  # m = 9, n = 6, p = 3, k = 3
    X, state0, _, _ = random_inputs(cell, 2, 4)
    _, _, c1 = cell.forward(X, state0)
    X2 = X.copy()
    X2[0, :, 3:6] += 1.0                                   # x_2 of step 0
    _, _, c2 = cell.forward(X2, state0)
    C1, C2 = host(c1["C"])[1], host(c2["C"])[1]           # c⁰
    np.testing.assert_array_equal(C1[:, 0:2], C2[:, 0:2])
    np.testing.assert_array_equal(C1[:, 4:6], C2[:, 4:6])
    assert np.all(np.abs(C1[:, 2:4] - C2[:, 2:4]) > 1e-6)
    # and y_2⁻¹ only reaches group 2's units too
    y0 = state0[0].copy()
    y0[:, 1] += 1.0
    _, _, c3 = cell.forward(X, (y0, state0[1]))
    C3 = host(c3["C"])[1]
    np.testing.assert_array_equal(C1[:, [0, 1, 4, 5]], C3[:, [0, 1, 4, 5]])
    assert np.all(np.abs(C1[:, 2:4] - C3[:, 2:4]) > 1e-6)


@pytest.mark.parametrize("case", ["lstmp", "flstm", "glstm"])
def test_float32(case):
    cell = make(case, dtype="float32")
    ref = make(case, dtype="float64")
    args64 = random_inputs(ref, 4, 3)
    args32 = tuple(a.astype(np.float32) if hasattr(a, "astype") else tuple(s.astype(np.float32) for s in a)
                   for a in args64)
    Y32, Y64 = run(cell, *args32)[0], run(ref, *args64)[0]
    assert Y32.dtype == np.float32
    np.testing.assert_allclose(Y32, Y64, rtol=1e-4, atol=1e-5)
