"""G²-LSTM and the sharpened sigmoid (paper 003): gradient checks in training mode with frozen
noise, the noise itself (per element, per step, seeded, frozen), evaluation mode, and the
sharpened cell against an LSTM whose gate weights are divided by τ."""

import numpy as np
import pytest

import npslim
from npslim import backend
from npslim.gradcheck import check_cell

from conftest import random_inputs

TOL = 1e-6


def make(name, dtype="float64", seed=0, m=4, n=6, **options):
    return npslim.cells.make(name, input_size=m, hidden_size=n, seed=seed, dtype=dtype, **options)


def host(a):
    return backend.to_host(a)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_forward(cell, X, state0, noise, tau):
    """Paper 003 eqs. 11-16 written out step by step in plain NumPy (no shared code)."""
    P = {k: host(v) for k, v in cell.params.items()}
    y, c = (host(s) for s in state0)
    Ys = []
    for t in range(X.shape[0]):
        x = host(X[t])
        pre = {g: x @ P[f"W_{g}"] + y @ P[f"R_{g}"] + P[f"b_{g}"] for g in "zifo"}
        for g in "if":
            if f"p_{g}" in P:
                pre[g] = pre[g] + P[f"p_{g}"] * c
        eps = (0.0, 0.0) if noise is None else host(noise[t])
        i = sigmoid((pre["i"] + eps[0]) / tau)
        f = sigmoid((pre["f"] + eps[1]) / tau)
        c = np.tanh(pre["z"]) * i + c * f
        o = sigmoid(pre["o"] + (P["p_o"] * c if "p_o" in P else 0.0))
        y = np.tanh(c) * o
        Ys.append(y)
    return np.stack(Ys), (y, c)


# ---------------------------------------------------------------- gradient checks
# (both cells in training mode with their defaults: the registry-wide check, tests/test_gradcheck.py)
@pytest.mark.parametrize("name,options", [("g2lstm", {"peepholes": True, "tau": 0.5}),
                                          ("sharpened", {"peepholes": True}),
                                          ("g2lstm", {"tau": 2.0})])
def test_gradcheck_options(name, options):
    errors = check_cell(make(name, **options), T=3, B=2, seed=3)
    assert max(errors.values()) < TOL, errors


def test_g2lstm_gradcheck_eval_mode():
    errors = check_cell(make("g2lstm").eval(), T=4, B=2, seed=4)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("name", ["sharpened", "g2lstm"])
def test_calls_leave_the_cell_unchanged(name):
    """Stateless: forward and backward (in either mode) rebind no attribute of the cell."""
    cell = make(name)
    before = {k: id(v) for k, v in vars(cell).items()}
    X = np.random.default_rng(0).standard_normal((3, 2, 4))
    for mode in (cell.train, cell.eval):
        mode()
        Y, _, cache = cell.forward(X)
        cell.backward(np.ones_like(Y), cache)
    cell.train()
    assert {k: id(v) for k, v in vars(cell).items()} == before


# ---------------------------------------------------------------- the noise
def test_forward_matches_the_paper_equations():
    for options in ({}, {"peepholes": True, "tau": 0.5}):
        cell = make("g2lstm", **options)
        X, state0, _, _ = random_inputs(cell, 4, 3)
        Y, (yT, cT), cache = cell.forward(X, state0)
        assert cache["noise"].shape == (4, 2, 3, 6) and cache["tau"] == cell.tau
        Yref, (yref, cref) = reference_forward(cell, X, state0, cache["noise"], cell.tau)
        np.testing.assert_allclose(host(Y), Yref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(host(cT), cref, rtol=1e-12, atol=1e-12)


def test_noise_per_element_per_step_per_gate():
    cell = make("g2lstm")
    X, _, _, _ = random_inputs(cell, 5, 3)
    noise = host(cell.forward(X)[2]["noise"])               # (T, 2, B, n)
    assert np.all(np.isfinite(noise))
    assert len(np.unique(noise)) == noise.size              # every element its own draw
    for t in range(4):
        assert not np.allclose(noise[t], noise[t + 1])      # differs across steps
    assert not np.allclose(noise[:, 0], noise[:, 1])        # input and forget gates differ
    # logistic: mean 0, variance π²/3
    big = host(make("g2lstm", n=50).forward(random_inputs(make("g2lstm", n=50), 40, 25)[0])[2]["noise"])
    assert abs(big.mean()) < 0.05 and abs(big.var() - np.pi ** 2 / 3) < 0.15


def test_same_seed_same_noise_and_fresh_draws():
    a, b, c = make("g2lstm", seed=5), make("g2lstm", seed=5), make("g2lstm", seed=6)
    X, _, _, _ = random_inputs(a, 3, 2)
    na1, nb1, nc1 = (host(cell.forward(X)[2]["noise"]) for cell in (a, b, c))
    np.testing.assert_array_equal(na1, nb1)
    assert not np.allclose(na1, nc1)
    na2 = host(a.forward(X)[2]["noise"])
    assert not np.allclose(na1, na2)                        # outside noise_frozen: a new draw each forward
    np.testing.assert_array_equal(na2, host(b.forward(X)[2]["noise"]))


def test_noise_frozen_reuses_the_first_draw_per_shape():
    cell = make("g2lstm")
    X, _, _, _ = random_inputs(cell, 3, 2)
    X5, _, _, _ = random_inputs(cell, 5, 2)
    with cell.noise_frozen():
        Y1, _, c1 = cell.forward(X)
        Y2, _, c2 = cell.forward(X)
        n5 = cell.forward(X5)[2]["noise"]
        with cell.noise_frozen():                            # nested: still the same draw
            Y3, _, c3 = cell.forward(X)
        np.testing.assert_array_equal(host(Y1), host(Y2))
        np.testing.assert_array_equal(host(Y1), host(Y3))
        assert c1["noise"] is c2["noise"] is c3["noise"]
        assert n5.shape == (5, 2, 2, 6) and n5 is cell.forward(X5)[2]["noise"]
    Y4 = cell.forward(X)[0]
    assert not np.allclose(host(Y1), host(Y4))              # thawed: a fresh draw


def test_gumbel_gates_are_closer_to_binary():
    cell = make("g2lstm", m=8, n=32)
    X, _, _, _ = random_inputs(cell, 20, 16)
    train_gates = cell.gate_activations(cell.forward(X)[2])
    eval_gates = cell.eval().gate_activations(cell.forward(X)[2])
    for g in "if":
        near = lambda a: np.mean((host(a) < 0.1) | (host(a) > 0.9))  # noqa: E731
        assert near(train_gates[g]) > near(eval_gates[g]) + 0.15


# ---------------------------------------------------------------- modes
def test_eval_is_deterministic_and_differs_from_training():
    cell = make("g2lstm")
    X, state0, _, _ = random_inputs(cell, 5, 3)
    Ytrain = host(cell.forward(X, state0)[0])
    cell.eval()
    Y1, _, cache = cell.forward(X, state0)
    Y2 = cell.forward(X, state0)[0]
    np.testing.assert_array_equal(host(Y1), host(Y2))
    assert cache["noise"] is None and cache["tau"] == 1.0
    assert np.max(np.abs(Ytrain - host(Y1))) > 1e-3


def test_eval_is_the_vanilla_lstm():
    """Evaluation uses the plain gates σ(ā) (paper 003: same model, only training differs)."""
    for peepholes in (False, True):
        g2 = make("g2lstm", peepholes=peepholes, seed=2).eval()
        lstm = make("lstm", peepholes=peepholes, seed=9)
        for k in g2.params:
            lstm.params[k][...] = g2.params[k]
        X, state0, dY, dstate = random_inputs(g2, 4, 3)
        Ya, sa, ca = g2.forward(X, state0)
        Yb, sb, cb = lstm.forward(X, state0)
        np.testing.assert_allclose(host(Ya), host(Yb), rtol=1e-13, atol=1e-14)
        dXa, _ = g2.backward(dY, ca, dstate)
        dXb, _ = lstm.backward(dY, cb, dstate)
        np.testing.assert_allclose(host(dXa), host(dXb), rtol=1e-12, atol=1e-14)
        for k in g2.grads:
            np.testing.assert_allclose(host(g2.grads[k]), host(lstm.grads[k]), rtol=1e-12, atol=1e-14)


def test_backward_uses_the_temperature_of_its_forward():
    cell = make("g2lstm", tau=0.5)
    X, state0, dY, dstate = random_inputs(cell, 4, 2)
    _, _, cache = cell.forward(X, state0)
    dX_train, _ = cell.backward(dY, cache, dstate)
    cell.eval()                                              # mode switched between forward and backward
    dX_eval_mode, _ = cell.backward(dY, cache, dstate)
    np.testing.assert_array_equal(host(dX_train), host(dX_eval_mode))


def test_sharpened_is_deterministic_in_both_modes():
    cell = make("sharpened")
    X, state0, _, _ = random_inputs(cell, 3, 2)
    Y1, _, cache = cell.forward(X, state0)
    Y2 = cell.eval().forward(X, state0)[0]
    np.testing.assert_array_equal(host(Y1), host(Y2))
    assert cache["noise"] is None and cache["tau"] == 0.2


# ---------------------------------------------------------------- sharpened = LSTM with W, R, b / τ
@pytest.mark.parametrize("peepholes", [False, True])
def test_sharpened_equals_lstm_with_scaled_gate_weights(peepholes):
    tau = 0.2
    sharp = make("sharpened", peepholes=peepholes, tau=tau, seed=1)
    lstm = make("lstm", peepholes=peepholes, seed=7)
    scaled = {f"{w}_{g}" for w in ("W", "R", "b", "p") for g in "if"}
    for k, v in sharp.params.items():
        lstm.params[k][...] = v / tau if k in scaled else v
    X, state0, dY, dstate = random_inputs(sharp, 5, 3)
    Ys, ss, cs = sharp.forward(X, state0)
    Yl, sl, cl = lstm.forward(X, state0)
    np.testing.assert_allclose(host(Ys), host(Yl), rtol=1e-12, atol=1e-13)
    for a, b in zip(ss, sl):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-13)
    dXs, d0s = sharp.backward(dY, cs, dstate)
    dXl, d0l = lstm.backward(dY, cl, dstate)
    np.testing.assert_allclose(host(dXs), host(dXl), rtol=1e-11, atol=1e-13)
    for a, b in zip(d0s, d0l):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-11, atol=1e-13)
    for k in sharp.grads:     # θ' = θ/τ  =>  ∂L/∂θ = ∂L/∂θ' / τ
        expected = host(lstm.grads[k]) / tau if k in scaled else host(lstm.grads[k])
        np.testing.assert_allclose(host(sharp.grads[k]), expected, rtol=1e-11, atol=1e-13, err_msg=k)


# ---------------------------------------------------------------- options, validation
@pytest.mark.parametrize("name,default", [("g2lstm", 0.9), ("sharpened", 0.2)])
def test_options_and_defaults(name, default):
    cell = make(name)
    assert cell.tau == default and not cell.peepholes and cell.options() == {"tau": default, "peepholes": False}
    assert cell.num_params() == 4 * (4 * 6 + 36 + 6)
    other = make(name, tau=0.5, peepholes=True)
    assert other.options() == {"tau": 0.5, "peepholes": True}
    assert other.num_params() == type(other).param_count(4, 6, **other.options()) == 4 * (4 * 6 + 36 + 6) + 18
    assert "tau=0.5" in repr(other)


@pytest.mark.parametrize("name", ["g2lstm", "sharpened"])
@pytest.mark.parametrize("tau", [0, -0.5, float("nan"), float("inf"), True, "0.9"])
def test_bad_tau(name, tau):
    with pytest.raises(ValueError, match=r"tau: expected a finite number > 0"):
        make(name, tau=tau)


def test_float32():
    cell = make("g2lstm", dtype="float32")
    X, state0, dY, dstate = random_inputs(cell, 4, 2)
    Y, state, cache = cell.forward(X, state0)
    assert Y.dtype == np.float32 and cache["noise"].dtype == np.float32
    dX, _ = cell.backward(dY, cache, dstate)
    assert dX.dtype == np.float32 and np.all(np.isfinite(host(dX)))


def test_cupy_matches_numpy_with_the_same_noise():
    if not backend.cupy_available():
        pytest.skip("CuPy with a GPU is not available")
    ref = make("g2lstm", peepholes=True)
    with backend.use_backend("cupy"):
        gpu = make("g2lstm", peepholes=True)
    X, state0, dY, dstate = random_inputs(ref, 4, 3)
    Xg, s0g, dYg, dsg = random_inputs(gpu, 4, 3)
    Yr, _, cr = ref.forward(X, state0)
    Yg, _, cg = gpu.forward(Xg, s0g)
    np.testing.assert_array_equal(host(cr["noise"]), host(cg["noise"]))   # drawn on the host
    np.testing.assert_allclose(host(Yg), host(Yr), rtol=1e-10, atol=1e-12)
    dXr, _ = ref.backward(dY, cr, dstate)
    dXg, _ = gpu.backward(dYg, cg, dsg)
    np.testing.assert_allclose(host(dXg), host(dXr), rtol=1e-9, atol=1e-12)
