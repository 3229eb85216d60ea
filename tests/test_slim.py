"""Salem's slim LSTMs (npslim/cells/slim.py): lstm1, lstm2, lstm3 (Lu & Salem 2017) and lstm6,
lstm_c6 (Akandeh & Salem 2019).

Besides the registry-wide checks (tests/test_gradcheck.py, tests/test_contract.py, which see each
cell with its default options), this file checks every activation and a few forget values, the
parameter layout, the equivalence of lstm1-3 with the vanilla LSTM whose removed pieces are zero,
an independent NumPy reference of lstm_c6 and lstm6, and that the removed work really is gone.
"""

import numpy as np
import pytest

import npslim
import npslim.inspect
from npslim import backend
from npslim.gradcheck import check_cell

from conftest import random_inputs

TOL = 1e-6
M, N = 4, 6

# every configuration checked here: (name, options)
CONFIGS = ([("lstm1", {}), ("lstm2", {}), ("lstm3", {})]
           + [("lstm6", {"activation": a}) for a in ("sigmoid", "tanh", "relu")]
           + [("lstm_c6", {"activation": a}) for a in ("sigmoid", "tanh", "relu")]
           + [("lstm6", {"forget": -0.8, "activation": "tanh"}), ("lstm_c6", {"forget": 0.95})])
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in opts.items()) if opts else name for name, opts in CONFIGS]


def host(a):
    return backend.to_host(a)


def make(name, dtype="float64", seed=0, m=M, n=N, **options):
    return npslim.cells.make(name, input_size=m, hidden_size=n, seed=seed, dtype=dtype, **options)


# ---------------------------------------------------------------- gradient checks
# each cell with its defaults: the registry-wide check (tests/test_gradcheck.py); here the other options
OPTIONED = [(c, i) for c, i in zip(CONFIGS, IDS) if c[1] and c[1] != {"activation": "sigmoid"}]


@pytest.mark.parametrize("T", [1, 5])
@pytest.mark.parametrize("name, options", [c for c, _ in OPTIONED], ids=[i for _, i in OPTIONED])
def test_gradcheck(name, options, T):
    cell = make(name, **options)
    errors = check_cell(cell, T=T, B=3, seed=10 + T)
    assert set(errors) == set(cell.params) | {"X", "y0", "c0"}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{name} {options} T={T}: worst {worst} {errors[worst]:.2e}; all {errors}"


# ---------------------------------------------------------------- parameter layout
LAYOUT = {   # name -> {param: shape} at m = 4, n = 6: the removed pieces are not allocated
    "lstm1": {"W_z": (M, N), **{f"R_{g}": (N, N) for g in "zifo"}, **{f"b_{g}": (N,) for g in "zifo"}},
    "lstm2": {"W_z": (M, N), **{f"R_{g}": (N, N) for g in "zifo"}, "b_z": (N,)},
    "lstm3": {"W_z": (M, N), "R_z": (N, N), **{f"b_{g}": (N,) for g in "zifo"}},
    "lstm6": {"W_z": (M, N), "R_z": (N, N), "b_z": (N,)},
    "lstm_c6": {"W_z": (M, N), "r_z": (N,), "b_z": (N,)},
}
STORAGE = {   # the stacked storage that holds them (one contiguous slab each)
    "lstm1": {"W": (M, N), "R": (N, 4 * N), "b": (4 * N,)},
    "lstm2": {"W": (M, N), "R": (N, 4 * N), "b": (N,)},
    "lstm3": {"W": (M, N), "R": (N, N), "b": (4 * N,)},
    "lstm6": {"W": (M, N), "R": (N, N), "b": (N,)},
    "lstm_c6": {"W": (M, N), "r_z": (N,), "b": (N,)},
}


@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_parameter_layout(name):
    cell = make(name)
    assert {k: tuple(v.shape) for k, v in cell.params.items()} == LAYOUT[name]
    assert {k: tuple(v.shape) for k, v in cell._storage.items()} == STORAGE[name]
    assert cell.num_params() == sum(int(np.prod(s)) for s in STORAGE[name].values())
    assert cell.num_params() == type(cell).param_count(M, N)
    assert not cell.peep and "p_i" not in cell.params                   # no peepholes anywhere


# ---------------------------------------------------------------- lstm1-3 = vanilla LSTM with zeros
REMOVED = {   # what each cell takes out of the peephole-free LSTM
    "lstm1": ["W_i", "W_f", "W_o"],
    "lstm2": ["W_i", "W_f", "W_o", "b_i", "b_f", "b_o"],
    "lstm3": ["W_i", "W_f", "W_o", "R_i", "R_f", "R_o"],
}


@pytest.mark.parametrize("name", sorted(REMOVED))
def test_equals_vanilla_lstm_with_removed_pieces_zero(name):
    """lstm1/2/3 give the same outputs and gradients as make("lstm", peepholes=False) whose
    removed weights are set to zero: an independent check of the slim loops and layout."""
    slim = make(name, seed=3)
    vanilla = make("lstm", seed=4, peepholes=False)
    assert set(slim.params) | set(REMOVED[name]) == set(vanilla.params)
    for k in vanilla.params:
        vanilla.params[k][...] = slim.params[k] if k in slim.params else 0.0
    X, state0, dY, dstate = random_inputs(slim, T=6, B=3, seed=5)

    Ys, ss, cs = slim.forward(X, state0)
    Yv, sv, cv = vanilla.forward(X, state0)
    np.testing.assert_allclose(host(Ys), host(Yv), rtol=1e-12, atol=1e-14)
    for a, b in zip(ss, sv):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-14)
    for gate, act in vanilla.gate_activations(cv).items():
        np.testing.assert_allclose(host(slim.gate_activations(cs)[gate]), host(act), rtol=1e-12, atol=1e-14)

    slim.zero_grad(), vanilla.zero_grad()
    dXs, d0s = slim.backward(dY, cs, dstate)
    dXv, d0v = vanilla.backward(dY, cv, dstate)
    np.testing.assert_allclose(host(dXs), host(dXv), rtol=1e-11, atol=1e-13)
    for a, b in zip(d0s, d0v):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-11, atol=1e-13)
    for k in slim.grads:
        np.testing.assert_allclose(host(slim.grads[k]), host(vanilla.grads[k]), rtol=1e-11, atol=1e-13,
                                   err_msg=k)


# ---------------------------------------------------------------- gates
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_lstm3_gates_are_constant_over_time():
    cell = make("lstm3")
    X, state0, _, _ = random_inputs(cell, T=7, B=4, seed=2)
    gates = npslim.inspect.gates(cell, X, state0)
    assert set(gates) == {"i", "f", "o"}
    for g, a in gates.items():
        assert a.shape == (7, 4, N)
        want = sigmoid(host(cell.params[f"b_{g}"]))                    # σ(b_g), every step, every row
        np.testing.assert_allclose(a, np.broadcast_to(want, a.shape), rtol=1e-14, atol=0, err_msg=g)
    # a different input and initial state change nothing in the gates
    other = npslim.inspect.gates(cell, 3.0 * X[::-1].copy(), tuple(-s for s in state0))
    for g in gates:
        np.testing.assert_array_equal(gates[g], other[g])


@pytest.mark.parametrize("name", ["lstm1", "lstm2"])
def test_lstm1_lstm2_gates_follow_the_state(name):
    """gate = σ(R_g yᵗ⁻¹ + b_g) (lstm1) or σ(R_g yᵗ⁻¹) (lstm2), recomputed from the outputs."""
    cell = make(name)
    X, state0, _, _ = random_inputs(cell, T=5, B=3, seed=4)
    Y, _, cache = cell.forward(X, state0)
    Yprev = np.concatenate([host(state0[0])[None], host(Y)[:-1]])
    gates = cell.gate_activations(cache)
    assert set(gates) == {"i", "f", "o"}
    for g in "ifo":
        bias = host(cell.params[f"b_{g}"]) if name == "lstm1" else 0.0
        want = sigmoid(Yprev @ host(cell.params[f"R_{g}"]) + bias)
        np.testing.assert_allclose(host(gates[g]), want, rtol=1e-12, atol=1e-14, err_msg=g)
        assert np.ptp(host(gates[g]), axis=0).max() > 1e-3              # they do vary over time


@pytest.mark.parametrize("name", ["lstm6", "lstm_c6"])
def test_constant_gate_cells_report_no_gates(name):
    cell = make(name)
    X, _, _, _ = random_inputs(cell, T=3, B=2)
    assert npslim.inspect.gates(cell, X) == {}


# ---------------------------------------------------------------- options
@pytest.mark.parametrize("name", ["lstm6", "lstm_c6"])
@pytest.mark.parametrize("bad", [1.0, -1.0, 1.5, -3, float("nan"), float("inf"), -float("inf")])
def test_forget_refused(name, bad):
    with pytest.raises(ValueError, match=rf"forget: expected a finite number with \|forget\| < 1.*got {bad!r}"):
        make(name, forget=bad)


@pytest.mark.parametrize("bad", ["0.5", None, True, [0.5]])
def test_forget_must_be_a_number(bad):
    with pytest.raises(TypeError, match=rf"forget: expected a real number .*got {bad!r}".replace("[", r"\[")):
        make("lstm6", forget=bad)


@pytest.mark.parametrize("bad", ["identity", "softplus", None])
def test_activation_refused(bad):
    with pytest.raises(ValueError,
                       match=r"activation: expected one of \('sigmoid', 'tanh', 'relu'\), got " + repr(bad)):
        make("lstm_c6", activation=bad)


def test_defaults_and_options_round_trip():
    cell = make("lstm6")
    assert cell.forget == 0.59 and cell.activation == "sigmoid" and cell.options() == {"forget": 0.59, "activation": "sigmoid"}
    cell = make("lstm_c6", forget=np.float32(-0.25), activation="relu")
    assert cell.options() == {"forget": -0.25, "activation": "relu"}
    again = npslim.cells.make("lstm_c6", M, N, **cell.options())
    assert again.forget == cell.forget and again.g is again.h and again.h.name == "relu"
    assert "forget=-0.25" in repr(cell) and "activation='relu'" in repr(cell)
    for name in ("lstm1", "lstm2", "lstm3"):
        assert make(name).options() == {"gate": "sigmoid"}


def test_forget_value_is_used():
    """cᵗ = f cᵗ⁻¹ + zᵗ: with the same weights, the difference of two forget values is carried exactly."""
    a, b = make("lstm_c6", forget=0.5), make("lstm_c6", forget=-0.5)
    X, state0, _, _ = random_inputs(a, T=1, B=2)
    _, (_, ca), _ = a.forward(X, state0)
    _, (_, cb), _ = b.forward(X, state0)
    np.testing.assert_allclose(host(ca) - host(cb), host(state0[1]), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- step by step = whole sequence
@pytest.mark.parametrize("name, options", CONFIGS, ids=IDS)
def test_step_by_step_equals_whole_sequence(name, options):
    T, B = 5, 3
    cell = make(name, **options)
    X, state0, dY, dstate = random_inputs(cell, T, B, seed=7)
    cell.zero_grad()
    Y, state, cache = cell.forward(X, state0)
    dX, dstate0 = cell.backward(dY, cache, dstate)
    grads = {k: host(g).copy() for k, g in cell.grads.items()}

    caches, s = [], state0
    for t in range(T):
        Yt, s, c = cell.forward(X[t:t + 1], s)
        np.testing.assert_allclose(host(Yt)[0], host(Y)[t], rtol=1e-13, atol=1e-14)
        caches.append(c)
    for a, b in zip(s, state):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-13, atol=1e-14)

    cell.zero_grad()
    ds = dstate
    for t in reversed(range(T)):
        dXt, ds = cell.backward(dY[t:t + 1], caches[t], ds)
        np.testing.assert_allclose(host(dXt)[0], host(dX)[t], rtol=1e-11, atol=1e-13)
    for a, b in zip(ds, dstate0):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-11, atol=1e-13)
    for k, g in cell.grads.items():
        np.testing.assert_allclose(host(g), grads[k], rtol=1e-11, atol=1e-13, err_msg=k)


# ---------------------------------------------------------------- independent NumPy references
PHI = {   # φ and φ' written from the pre-activation, independently of npslim.activations
    "sigmoid": (sigmoid, lambda a: sigmoid(a) * (1.0 - sigmoid(a))),
    "tanh": (np.tanh, lambda a: 1.0 / np.cosh(a) ** 2),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(a.dtype)),
}


@pytest.mark.parametrize("activation", sorted(PHI))
def test_lstm_c6_one_step_against_numpy_reference(activation):
    """One step of LSTM_C6 by hand, forward and backward:
        z̄ = x W + r ⊙ y0 + b,  c = f c0 + φ(z̄),  y = φ(c)
        δc = (Δ + δy_T) ⊙ φ'(c) + δc_T,  δz̄ = δc ⊙ φ'(z̄)
        δW = xᵀ δz̄,  δr = Σ_b y0 ⊙ δz̄,  δb = Σ_b δz̄,  δx = δz̄ Wᵀ,  δy0 = r ⊙ δz̄,  δc0 = f δc"""
    f = 0.7
    cell = make("lstm_c6", forget=f, activation=activation, m=3, n=5)
    phi, dphi = PHI[activation]
    W, r, b = (host(cell.params[k]).copy() for k in ("W_z", "r_z", "b_z"))
    X, state0, dY, dstate = random_inputs(cell, T=1, B=4, seed=9)
    x, (y0, c0), (dyT, dcT) = host(X)[0], map(host, state0), map(host, dstate)

    zbar = x @ W + r * y0 + b
    c = f * c0 + phi(zbar)
    y = phi(c)
    dc = (host(dY)[0] + dyT) * dphi(c) + dcT
    dzbar = dc * dphi(zbar)
    ref = {"W_z": x.T @ dzbar, "r_z": (y0 * dzbar).sum(0), "b_z": dzbar.sum(0)}

    Y, (yT, cT), cache = cell.forward(X, state0)
    np.testing.assert_allclose(host(Y)[0], y, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(host(yT), y, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(host(cT), c, rtol=1e-13, atol=1e-15)
    cell.zero_grad()
    dX, (dy0, dc0) = cell.backward(dY, cache, dstate)
    np.testing.assert_allclose(host(dX)[0], dzbar @ W.T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(host(dy0), r * dzbar, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(host(dc0), f * dc, rtol=1e-12, atol=1e-15)
    for k, want in ref.items():
        np.testing.assert_allclose(host(cell.grads[k]), want, rtol=1e-12, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("name", ["lstm6", "lstm_c6"])
@pytest.mark.parametrize("activation", sorted(PHI))
def test_lstm6_sequence_against_numpy_reference(name, activation):
    """cᵗ = f cᵗ⁻¹ + φ(W_z xᵗ + U yᵗ⁻¹ + b_z), yᵗ = φ(cᵗ) over several steps, U = R_z or diag(r_z)."""
    f = -0.4
    cell = make(name, forget=f, activation=activation)
    phi, _ = PHI[activation]
    W, b = host(cell.params["W_z"]), host(cell.params["b_z"])
    U = host(cell.params["R_z"]) if name == "lstm6" else np.diag(host(cell.params["r_z"]))
    X, state0, _, _ = random_inputs(cell, T=6, B=3, seed=11)
    Y, state, _ = cell.forward(X, state0)
    x, (y, c) = host(X), map(host, state0)
    for t in range(6):
        c = f * c + phi(x[t] @ W + y @ U + b)
        y = phi(c)
        np.testing.assert_allclose(host(Y)[t], y, rtol=1e-12, atol=1e-14, err_msg=f"t={t}")
    np.testing.assert_allclose(host(state[1]), c, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- the removed work is gone
def _record_products(monkeypatch):
    """Record (a.shape, b.shape) of every np.matmul and every np.einsum call (NumPy backend)."""
    if backend.get_backend() != "numpy":
        pytest.skip("counts NumPy's products")
    calls = {"matmul": [], "einsum": []}
    matmul, einsum = np.matmul, np.einsum

    def rec_matmul(a, b, *args, **kw):
        calls["matmul"].append((tuple(a.shape), tuple(b.shape)))
        return matmul(a, b, *args, **kw)

    def rec_einsum(spec, *ops, **kw):
        calls["einsum"].append(spec)
        return einsum(spec, *ops, **kw)
    monkeypatch.setattr(np, "matmul", rec_matmul)
    monkeypatch.setattr(np, "einsum", rec_einsum)
    return calls


# the second operand of every product at m = 4, n = 6, T = 5, B = 3 (TB = 15 rows).
# forward: the input projection, then one product per step;
# backward: Rᵀ δāᵗ per step, then δW = Xᵀ δā, δR = Yᵀ δā, δx = δā Wᵀ (lstm_c6: δr_z is an einsum)
TB = 15
PRODUCTS = {
    "lstm1": ([(M, N)] + [(N, 4 * N)] * 5,                              # W_z only; R of all four blocks
              [(4 * N, N)] * 5 + [(TB, N), (TB, 4 * N), (N, M)]),
    "lstm2": ([(M, N)] + [(N, 4 * N)] * 5,
              [(4 * N, N)] * 5 + [(TB, N), (TB, 4 * N), (N, M)]),
    "lstm3": ([(M, N)] + [(N, N)] * 5,                                  # W_z only; R_z only
              [(N, N)] * 5 + [(TB, N), (TB, N), (N, M)]),
    "lstm6": ([(M, N)] + [(N, N)] * 5,
              [(N, N)] * 5 + [(TB, N), (TB, N), (N, M)]),
    "lstm_c6": ([(M, N)],                                               # nothing inside either loop
                [(TB, N), (N, M)]),
}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products_cover_only_the_blocks_that_exist(name, monkeypatch):
    cell = make(name)
    X, state0, dY, dstate = random_inputs(cell, T=5, B=3)
    calls = _record_products(monkeypatch)
    _, _, cache = cell.forward(X, state0)
    forward = [b for _, b in calls["matmul"]]
    assert calls["matmul"][0][0] == (TB, M)                            # all steps in one product
    del calls["matmul"][:]
    cell.backward(dY, cache, dstate)
    backward = [b for _, b in calls["matmul"]]
    assert (forward, backward) == PRODUCTS[name]
    assert calls["einsum"] == (["tbn,tbn->n"] if name == "lstm_c6" else [])


@pytest.mark.parametrize("name, loop_products", [("lstm_c6", 0), ("lstm6", 1), ("lstm3", 1)])
def test_products_per_step(name, loop_products, monkeypatch):
    """lstm_c6's loops are elementwise: its number of products does not grow with T."""
    cell = make(name)
    counts = {}
    for T in (2, 9):
        X, state0, dY, dstate = random_inputs(cell, T=T, B=3)
        calls = _record_products(monkeypatch)
        _, _, cache = cell.forward(X, state0)
        cell.backward(dY, cache, dstate)
        counts[T] = len(calls["matmul"]) + len(calls["einsum"])
        monkeypatch.undo()
    assert counts[9] - counts[2] == 2 * loop_products * (9 - 2)       # forward + backward, per step
