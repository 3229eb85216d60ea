"""Cell-specific checks of rnn, gru and mgu: gradient checks of every rnn activation, forward passes
against small NumPy references written here independently of the cells (and one MGU step worked
out by hand), exact parameter counts, gate activations and options."""
import numpy as np
import pytest

import npslim
import npslim.inspect
from npslim import backend
from npslim.gradcheck import check_cell

from conftest import make_cell, random_inputs

TOL = 1e-6


def host(a):
    return backend.to_host(a)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def P(cell):
    """The cell's parameters as host arrays, by name."""
    return {k: host(v) for k, v in cell.params.items()}


# ---------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_rnn_gradcheck(activation, T):
    cell = make_cell("rnn", activation=activation)
    errors = check_cell(cell, T=T, B=3, seed=10 + T)
    assert set(errors) == {"W", "R", "b", "X", "y0"}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"rnn {activation} T={T}: worst {worst} {errors[worst]:.2e}"


@pytest.mark.parametrize("name", ["gru", "mgu"])
def test_gated_gradcheck_unequal_sizes(name):
    # m > n and B = 1 (the registry check uses m = 4 < n = 6, B = 3)
    cell = make_cell(name, input_size=7, hidden_size=3)
    errors = check_cell(cell, T=4, B=1, seed=2)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{name}: worst {worst} {errors[worst]:.2e}"


# ---------------------------------------------------------------- NumPy references
def reference_rnn(p, X, y, phi):
    Y = []
    for x in X:
        y = phi(x @ p["W"] + y @ p["R"] + p["b"])
        Y.append(y)
    return np.stack(Y), y


def reference_gru(p, X, y):
    Y = []
    for x in X:
        r = sigmoid(x @ p["W_r"] + y @ p["R_r"] + p["b_r"])
        u = sigmoid(x @ p["W_u"] + y @ p["R_u"] + p["b_u"])
        n = np.tanh(x @ p["W_z"] + p["b_z"] + r * (y @ p["R_z"] + p["b_Rz"]))
        y = (1 - u) * n + u * y
        Y.append(y)
    return np.stack(Y), y


def reference_mgu(p, X, y):
    Y = []
    for x in X:
        f = sigmoid(x @ p["W_f"] + y @ p["R_f"] + p["b_f"])
        candidate = np.tanh(x @ p["W_y"] + (f * y) @ p["R_y"] + p["b_y"])
        y = (1 - f) * y + f * candidate
        Y.append(y)
    return np.stack(Y), y


PHI = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": lambda a: np.maximum(a, 0.0)}


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_rnn_matches_reference(activation):
    cell = make_cell("rnn", activation=activation)
    X, (y0,), _, _ = random_inputs(cell, 5, 3)
    Y, (yT,), _ = cell.forward(X, (y0,))
    rY, ryT = reference_rnn(P(cell), host(X), host(y0), PHI[activation])
    np.testing.assert_allclose(host(Y), rY, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(yT), ryT, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,reference", [("gru", reference_gru), ("mgu", reference_mgu)])
@pytest.mark.parametrize("T", [1, 5])
def test_gated_matches_reference(name, reference, T):
    cell = make_cell(name)
    X, (y0,), _, _ = random_inputs(cell, T, 3)
    Y, (yT,), _ = cell.forward(X, (y0,))
    rY, ryT = reference(P(cell), host(X), host(y0))
    np.testing.assert_allclose(host(Y), rY, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(yT), ryT, rtol=1e-12, atol=1e-12)


def test_mgu_one_step_by_hand():
    """m = n = 1, weights chosen so every pre-activation is 0:
    f̄ = 0.2·1 − 0.5·0.4 + 0 = 0  -> f = 1/2;   f·y⁻ = 0.2
    ȳ = 0.3·1 − 1.5·0.2 + 0 = 0  -> ỹ = 0;     y = (1 − ½)·0.4 + ½·0 = 0.2
    and then with b_y = atanh(0.6): ỹ = 0.6, y = 0.2 + 0.3 = 0.5."""
    cell = npslim.cells.make("mgu", 1, 1, dtype="float64")
    for name, value in {"W_f": 0.2, "R_f": -0.5, "b_f": 0.0, "W_y": 0.3, "R_y": -1.5, "b_y": 0.0}.items():
        cell.params[name][...] = value
    X = backend.to_device(np.ones((1, 1, 1)), cell.xp)
    y0 = backend.to_device(np.full((1, 1), 0.4), cell.xp)
    Y, (y1,), cache = cell.forward(X, (y0,))
    assert host(Y)[0, 0, 0] == pytest.approx(0.2, abs=1e-15)
    assert host(cell.gate_activations(cache)["f"])[0, 0, 0] == pytest.approx(0.5, abs=1e-15)
    cell.params["b_y"][...] = np.arctanh(0.6)
    Y, _, _ = cell.forward(X, (y0,))
    assert host(Y)[0, 0, 0] == pytest.approx(0.5, abs=1e-15)


def test_gates_that_hold_the_state():
    """A saturated gate that keeps yᵗ⁻¹: GRU's update gate u → 1, MGU's forget gate f → 0."""
    for name, bias in (("gru", "b_u"), ("mgu", "b_f")):
        cell = make_cell(name)
        cell.params[bias][...] = 60.0 if name == "gru" else -60.0
        X, (y0,), _, _ = random_inputs(cell, 4, 3)
        Y, _, _ = cell.forward(X, (y0,))
        for t in range(4):
            np.testing.assert_allclose(host(Y[t]), host(y0), rtol=0, atol=1e-12, err_msg=f"{name} t={t}")


# ---------------------------------------------------------------- parameter counts
@pytest.mark.parametrize("m,n", [(1, 100), (28, 50), (128, 128), (4, 6)])
def test_param_counts(m, n):
    formulas = {"rnn": m * n + n * n + n,
                "gru": 3 * (m * n + n * n + n) + n,
                "mgu": 2 * (m * n + n * n + n)}
    for name, expected in formulas.items():
        cls = npslim.cells.get(name)
        assert cls.param_count(m, n) == expected, name
        if m * n <= 1000:
            assert npslim.cells.make(name, m, n).num_params() == expected, name
    # against torch's counts: nn.RNN has one bias more (b_hh), nn.GRU two (b_hr, b_hz)
    assert formulas["rnn"] == (m * n + n * n + 2 * n) - n
    assert formulas["gru"] == 3 * (m * n + n * n + 2 * n) - 2 * n
    assert npslim.cells.get("gru").PARAM_FORMULA == "3(mn + n² + n) + n"
    assert npslim.cells.get("mgu").PARAM_FORMULA == "2(mn + n² + n)"
    assert npslim.cells.get("rnn").PARAM_FORMULA == "mn + n² + n"


def test_parameter_names():
    assert set(make_cell("rnn").params) == {"W", "R", "b"}
    assert set(make_cell("gru").params) == {f"{w}_{g}" for w in "WRb" for g in "ruz"} | {"b_Rz"}
    assert set(make_cell("mgu").params) == {f"{w}_{g}" for w in "WRb" for g in "fy"}


def test_gru_stacked_layout():
    cell = make_cell("gru")           # GATE_ORDER r, u, z: u is block 1 of W, R and b
    assert type(cell).GATE_ORDER == ("r", "u", "z")
    cell.params["b_u"][...] = 3.0
    assert np.all(host(cell.b)[6:12] == 3.0) and not np.any(host(cell.b)[:6] == 3.0)
    assert np.shares_memory(cell.params["W_z"], cell.W)


# ---------------------------------------------------------------- gate activations
@pytest.mark.parametrize("name,gates", [("gru", {"r", "u"}), ("mgu", {"f"}), ("rnn", set())])
def test_gate_activations(name, gates):
    T, B = 5, 3
    cell = make_cell(name)
    X, state0, _, _ = random_inputs(cell, T, B)
    _, _, cache = cell.forward(X, state0)
    acts = cell.gate_activations(cache)
    assert set(acts) == gates
    for gate, a in acts.items():
        assert a.shape == (T, B, cell.hidden_size), gate
        assert np.all((host(a) > 0) & (host(a) < 1)), gate
        assert any(np.shares_memory(a, v) for v in cache.values() if hasattr(v, "shape")), \
            f"{gate}: not a view of the cache"
    assert set(npslim.inspect.gates(cell, X, state0)) == gates


def test_gru_gates_match_reference():
    cell = make_cell("gru")
    X, (y0,), _, _ = random_inputs(cell, 1, 3)
    _, _, cache = cell.forward(X, (y0,))
    p, x, y = P(cell), host(X)[0], host(y0)
    acts = cell.gate_activations(cache)
    np.testing.assert_allclose(host(acts["r"])[0], sigmoid(x @ p["W_r"] + y @ p["R_r"] + p["b_r"]), rtol=1e-12)
    np.testing.assert_allclose(host(acts["u"])[0], sigmoid(x @ p["W_u"] + y @ p["R_u"] + p["b_u"]), rtol=1e-12)


# ---------------------------------------------------------------- options
def test_rnn_options():
    assert make_cell("rnn").options() == {"activation": "tanh"}
    cell = make_cell("rnn", activation="relu")
    assert cell.options() == {"activation": "relu"}
    assert "activation='relu'" in repr(cell)
    with pytest.raises(ValueError, match=r"activation: expected one of \('tanh', 'sigmoid', 'relu'\), got 'identity'"):
        make_cell("rnn", activation="identity")
    assert make_cell("gru").options() == {} and make_cell("mgu").options() == {}


def test_float32_runs():
    for name in ("rnn", "gru", "mgu"):
        cell = make_cell(name, dtype="float32")
        X, state0, dY, dstate = random_inputs(cell, 3, 2)
        Y, state, cache = cell.forward(X, state0)
        dX, (dy0,) = cell.backward(dY, cache, dstate)
        assert Y.dtype == dX.dtype == dy0.dtype == np.float32
        assert all(g.dtype == np.float32 for g in cell.grads.values())
