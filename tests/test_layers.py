"""Layers: every backward gradient-checked in float64, padded batches equal to their sequences run one
by one, dropout's modes, and bad input refused by name."""
import numpy as np
import pytest

import npslim
from npslim import backend
from npslim.cells.lstm import LSTM
from npslim.gradcheck import check_function
from npslim.layers import Bidirectional, Dense, Dropout, Embedding, GaussianNoise, Recurrent, Stack

TOL = 1e-6
F64 = "float64"


def host(a):
    return backend.to_host(a)


def run(layer, x, lengths=None):
    return layer.forward(x, lengths) if layer.takes_lengths else layer.forward(x)


class Flat:
    """Several arrays seen as ONE vector (what ``check_function`` perturbs, element by element).

    ``check_function`` measures each array's errors against a floor of 1e-3 · (its largest
    gradient).  In a deep composite, the first layer's gradients are 10⁻³–10⁻⁴ of the loss
    scale, so the float64 rounding of the loss itself (~1e-16, divided by eps = 1e-5) is
    already ~1e-6 of such an array's floor, whatever the backward does.  Checked as one
    vector, every element's error is measured against the largest gradient of the whole
    model instead: a wrong term still shows as an error of order 1."""

    def __init__(self, arrays):
        self.arrays = list(arrays)
        self.offsets = np.cumsum([0] + [a.size for a in self.arrays])
        self.shape = (int(self.offsets[-1]),)

    def _at(self, idx):
        k = idx[0]
        j = int(np.searchsorted(self.offsets, k, side="right")) - 1
        a = self.arrays[j]
        return a, np.unravel_index(k - self.offsets[j], a.shape)

    def __getitem__(self, idx):
        a, i = self._at(idx)
        return a[i]

    def __setitem__(self, idx, value):
        a, i = self._at(idx)
        a[i] = value

    def __array__(self, dtype=None, copy=None):
        return np.concatenate([np.ravel(host(a)) for a in self.arrays])


def check_flat(loss_of, arrays, analytic):
    """One worst error for all ``arrays`` together (name -> array; analytic: name -> gradient)."""
    names = list(arrays)
    flat = {"all": Flat([arrays[k] for k in names])}
    grad = {"all": np.concatenate([np.ravel(host(analytic[k])) for k in names])}
    return check_function(loss_of, flat, grad)


def gradcheck_layer(layer, x, lengths=None, seed=0, check_input=True, flat=False):
    """Check every parameter (and the input) of ``layer`` on L = Σ w ⊙ out, w random.
    ``flat``: one error for everything together (see :class:`Flat`)."""
    rng = np.random.default_rng(seed)
    with layer.noise_frozen():
        out, cache = run(layer, x, lengths)
        w = rng.standard_normal(out.shape)
        layer.zero_grad()
        dx = layer.backward(w, cache)
        analytic = {k: g.copy() for k, g in layer.grads.items()}
        arrays = dict(layer.params)
        if check_input:
            arrays["x"], analytic["x"] = x, dx

        def loss_of():
            return float((run(layer, x, lengths)[0] * w).sum())

        if flat:
            return check_flat(loss_of, arrays, analytic)
        errors = check_function(loss_of, arrays, analytic)
    assert set(errors) == set(layer.params) | ({"x"} if check_input else set())
    return errors


def assert_small(errors, what):
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{what}: worst {worst} error {errors[worst]:.2e}; all {errors}"


def randn(rng, *shape):
    return rng.standard_normal(shape)


LENGTHS = np.array([5, 2, 1, 4])       # T = 5, B = 4: a full sequence, short ones, a length-1 one


# ---------------------------------------------------------------------------- Dense
@pytest.mark.parametrize("shape", [(3, 4), (5, 3, 4), (2, 2, 2, 4)])
def test_dense_gradcheck(shape):
    layer = Dense(4, 3, seed=1, dtype=F64)
    x = randn(np.random.default_rng(0), *shape)
    errors = gradcheck_layer(layer, x)
    assert_small(errors, f"Dense on {shape}")


def test_dense_is_affine_on_the_last_axis():
    layer = Dense(4, 3, seed=1, dtype=F64)
    x = randn(np.random.default_rng(0), 5, 2, 4)
    out, _ = layer.forward(x)
    np.testing.assert_allclose(out, np.einsum("tbi,io->tbo", x, layer.params["W"]) + layer.params["b"],
                               rtol=1e-13, atol=1e-13)
    assert layer.num_params() == 4 * 3 + 3


# ---------------------------------------------------------------------------- Embedding
def test_embedding_gradcheck_with_repeated_ids():
    layer = Embedding(5, 3, seed=2, dtype=F64, init_scale=1.0)
    ids = np.array([[0, 1, 1], [4, 1, 0], [1, 1, 3]])       # repeated ids: the scatter-add must sum them
    errors = gradcheck_layer(layer, ids, check_input=False)
    assert_small(errors, "Embedding")


def test_embedding_lookup_and_scatter_add():
    layer = Embedding(6, 2, seed=0, dtype=F64)
    ids = np.array([[2, 2], [5, 0], [2, 5]])
    out, cache = layer.forward(ids)
    np.testing.assert_array_equal(out, layer.params["E"][ids])
    dout = randn(np.random.default_rng(1), 3, 2, 2)
    layer.zero_grad()
    assert layer.backward(dout, cache) is None                 # integer ids get no gradient
    expected = np.zeros((6, 2))
    for t in range(3):
        for b in range(2):
            expected[ids[t, b]] += dout[t, b]
    np.testing.assert_allclose(layer.grads["E"], expected, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------- Dropout
@pytest.mark.parametrize("variational", [False, True])
def test_dropout_gradcheck_with_frozen_mask(variational):
    layer = Dropout(0.3, variational=variational, seed=4)
    x = randn(np.random.default_rng(0), 4, 3, 5)
    assert_small(gradcheck_layer(layer, x), f"Dropout(variational={variational})")


@pytest.mark.parametrize("variational", [False, True])
def test_dropout_eval_is_identity(variational):
    layer = Dropout(0.5, variational=variational).eval()
    x = randn(np.random.default_rng(0), 4, 3, 5)
    out, cache = layer.forward(x)
    np.testing.assert_array_equal(out, x)
    dout = randn(np.random.default_rng(1), 4, 3, 5)
    np.testing.assert_array_equal(layer.backward(dout, cache), dout)


@pytest.mark.parametrize("variational", [False, True])
def test_dropout_train_keeps_expectation(variational):
    p = 0.3
    layer = Dropout(p, variational=variational, seed=7).train()
    x = 1.0 + np.random.default_rng(0).random((20, 400, 50))
    out, cache = layer.forward(x)
    dropped = out == 0
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - p), rtol=1e-13)   # inverted scaling
    assert abs(out.mean() / x.mean() - 1) < 0.01                                     # E[out] = x
    dout = np.ones_like(x)
    np.testing.assert_allclose(layer.backward(dout, cache), out / x, rtol=1e-13)     # δx = dout ⊙ m
    if variational:     # one mask per sequence and feature, the same at every step
        assert (dropped == dropped[:1]).all()
    else:
        assert not (dropped == dropped[:1]).all()


def test_dropout_is_seeded_and_draws_fresh_masks():
    x = np.ones((3, 4, 5))
    a, b = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    first = a.forward(x)[0]
    np.testing.assert_array_equal(first, b.forward(x)[0])
    assert not np.array_equal(first, a.forward(x)[0])             # a new mask each call
    assert np.array_equal(Dropout(0.0).forward(x)[0], x)            # p = 0 is the identity


def test_dropout_keeps_dtype_and_does_not_write_into_x():
    x = np.random.default_rng(0).random((3, 2, 4)).astype("float32")
    before = x.copy()
    out, _ = Dropout(0.5).forward(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------------------- GaussianNoise
def test_gaussian_noise_adds_sigma_eps_in_training_and_passes_gradients_through():
    x = np.random.default_rng(0).random((20, 300, 12))
    before = x.copy()
    layer = GaussianNoise(0.5, seed=3)
    out, cache = layer.forward(x)
    np.testing.assert_array_equal(x, before)                                        # x untouched
    noise = out - x
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.5) < 0.01               # out = x + σ ε
    assert not np.array_equal(out, layer.forward(x)[0])                             # a fresh draw each call
    np.testing.assert_array_equal(out, GaussianNoise(0.5, seed=3).forward(x)[0])    # seeded
    dout = np.random.default_rng(1).random(x.shape)
    np.testing.assert_array_equal(layer.backward(dout, cache), dout)                # δx = dout
    np.testing.assert_array_equal(layer.eval().forward(x)[0], x)                    # evaluation: identity
    np.testing.assert_array_equal(GaussianNoise(0.0).forward(x)[0], x)              # σ = 0: identity
    assert GaussianNoise(0.5).forward(x.astype("float32"))[0].dtype == np.float32
    with GaussianNoise(0.5, seed=1).noise_frozen() as frozen:
        np.testing.assert_array_equal(frozen.forward(x)[0], frozen.forward(x)[0])
    with pytest.raises(ValueError, match="std: expected a finite noise standard deviation >= 0, got -1"):
        GaussianNoise(-1)


# ---------------------------------------------------------------------------- Recurrent
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_recurrent_lstm_gradcheck(lengths, return_sequences):
    layer = Recurrent("lstm", 3, 4, return_sequences=return_sequences, seed=0, dtype=F64)
    x = randn(np.random.default_rng(100), 5, 4, 3)
    assert_small(gradcheck_layer(layer, x, lengths), f"Recurrent(lstm) lengths={lengths}")


@pytest.mark.parametrize("name", npslim.cells.names())
def test_recurrent_gradcheck_every_cell_padded(name):
    options = npslim.cells.get(name).GRADCHECK_OPTIONS
    layer = Recurrent(name, 4, 6, seed=1, dtype=F64, **options)
    x = randn(np.random.default_rng(0), 5, 4, 4)
    assert_small(gradcheck_layer(layer, x, LENGTHS), f"Recurrent({name}) padded")


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_bidirectional_gradcheck(lengths, return_sequences):
    layer = Bidirectional("lstm", 3, 2, return_sequences=return_sequences, seed=1, dtype=F64)
    x = randn(np.random.default_rng(0), 5, 4, 3)
    assert_small(gradcheck_layer(layer, x, lengths), f"Bidirectional lengths={lengths}")


def test_stack_gradcheck_padded():
    layer = Stack({"rnn": Recurrent("lstm", 3, 4, seed=1, dtype=F64),
                   "drop": Dropout(0.25, variational=True, seed=2),
                   "birnn": Bidirectional("lstm", 4, 2, return_sequences=False, seed=3, dtype=F64),
                   "out": Dense(4, 3, seed=4, dtype=F64)})
    x = randn(np.random.default_rng(0), 5, 4, 3)
    assert_small(gradcheck_layer(layer, x, LENGTHS, flat=True), "Stack (one floor for all its arrays)")


def _one_by_one(make_layer, return_sequences):
    """A padded batch and its sequences run alone: same outputs, input gradients, weight gradients."""
    T, B, m = 5, 4, 3
    rng = np.random.default_rng(0)
    x = randn(rng, T, B, m)
    x[T - 1, 1:3] = 1e3          # garbage in the padding must not leak into anything
    layer = make_layer(return_sequences)
    out, cache = layer.forward(x, LENGTHS)
    n = out.shape[-1]
    dout = randn(rng, *out.shape)
    if return_sequences:
        dout_padded = dout.copy()
        dout_padded[np.arange(T)[:, None] >= LENGTHS[None, :]] = 1e3     # ignored at padded steps
    else:
        dout_padded = dout
    layer.zero_grad()
    dx = layer.backward(dout_padded, cache)
    grads = {k: g.copy() for k, g in layer.grads.items()}

    total = {k: np.zeros_like(g) for k, g in grads.items()}
    for b, L in enumerate(LENGTHS):
        xb = x[:L, b:b + 1].copy()
        ob, cb = layer.forward(xb)
        if return_sequences:
            np.testing.assert_allclose(out[:L, b], ob[:, 0], rtol=1e-12, atol=1e-13)
            np.testing.assert_array_equal(out[L:, b], np.zeros((T - L, n)))      # zeros at padded steps
            db = dout[:L, b:b + 1]
        else:
            np.testing.assert_allclose(out[b], ob[0], rtol=1e-12, atol=1e-13)
            db = dout[b:b + 1]
        layer.zero_grad()
        dxb = layer.backward(db, cb)
        np.testing.assert_allclose(dx[:L, b], dxb[:, 0], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(dx[L:, b], np.zeros((T - L, m)))           # no gradient into padding
        for k in total:
            total[k] += layer.grads[k]
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("return_sequences", [True, False])
def test_recurrent_padded_batch_equals_one_by_one(return_sequences):
    _one_by_one(lambda rs: Recurrent("lstm", 3, 4, return_sequences=rs, seed=1, dtype=F64), return_sequences)


@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_padded_batch_equals_one_by_one(return_sequences):
    _one_by_one(lambda rs: Bidirectional("lstm", 3, 4, return_sequences=rs, seed=1, dtype=F64), return_sequences)


def test_bidirectional_reads_each_valid_part_backwards():
    T, B, m = 5, 4, 3
    x = randn(np.random.default_rng(0), T, B, m)
    layer = Bidirectional("lstm", m, 2, seed=1, dtype=F64)
    out, _ = layer.forward(x, LENGTHS)
    for b, L in enumerate(LENGTHS):
        Yb, _, _ = layer.bw.cell.forward(x[:L, b:b + 1][::-1].copy())
        np.testing.assert_allclose(out[:L, b, 2:], Yb[::-1, 0], rtol=1e-12, atol=1e-13)
    last, _ = Bidirectional("lstm", m, 2, return_sequences=False, seed=1, dtype=F64).forward(x, LENGTHS)
    np.testing.assert_allclose(last[:, :2], out[LENGTHS - 1, np.arange(B), :2], rtol=1e-12)   # fw: last valid
    np.testing.assert_allclose(last[:, 2:], out[0, :, 2:], rtol=1e-12)                        # bw: position 0


def test_bidirectional_directions_differ_and_params_are_named():
    layer = Bidirectional("lstm", 3, 2, seed=0)
    assert set(layer.params) == {f"{d}.cell.{k}" for d in ("fw", "bw") for k in layer.fw.cell.params}
    assert not np.array_equal(layer.params["fw.cell.W_z"], layer.params["bw.cell.W_z"])
    assert layer.num_params() == 2 * LSTM.param_count(3, 2)
    assert layer.output_size == 4


def test_recurrent_final_state_and_stateful():
    T, B, m = 6, 3, 2
    x = randn(np.random.default_rng(0), T, B, m)
    full = Recurrent("lstm", m, 4, seed=1, dtype=F64)
    out, cache = full.forward(x)
    _, state, _ = full.cell.forward(x)
    for a, b in zip(full.final_state(cache), state):
        np.testing.assert_array_equal(a, b)
    # stateful: two halves carry the state and give the whole sequence
    halves = Recurrent("lstm", m, 4, seed=1, dtype=F64, stateful=True)
    first, _ = halves.forward(x[:3])
    second, _ = halves.forward(x[3:])
    np.testing.assert_allclose(np.concatenate([first, second]), out, rtol=1e-12, atol=1e-13)
    halves.reset_state()
    np.testing.assert_allclose(halves.forward(x[:3])[0], first, rtol=0, atol=0)


def test_final_state_with_lengths_uses_states_at():
    """With lengths, the final state is the state after each sequence's last valid step
    (Cell.states_at); a cell whose cache cannot report it gives a clear error instead."""
    x = randn(np.random.default_rng(0), 5, 4, 3)
    layer = Recurrent("lstm", 3, 4, seed=1, dtype=F64)
    _, cache = layer.forward(x, LENGTHS)
    for b, L in enumerate(LENGTHS):
        _, (y, c), _ = layer.cell.forward(x[:L, b:b + 1].copy())
        np.testing.assert_allclose(layer.final_state(cache)[0][b], y[0], rtol=1e-12)
        np.testing.assert_allclose(layer.final_state(cache)[1][b], c[0], rtol=1e-12)

    class NoStates(LSTM):            # a user cell whose cache keeps no per-step states
        def forward(self, X, state0=None):
            Y, state, cache = super().forward(X, state0)
            cache = dict(cache)
            del cache["states"]
            return Y, state, cache

    layer = Recurrent(NoStates(3, 4, seed=1, dtype=F64))
    _, cache = layer.forward(x, LENGTHS)
    with pytest.raises(ValueError, match="states_at"):
        layer.final_state(cache)


def test_modes_and_zero_grad_reach_the_cells():
    layer = Stack([Bidirectional("lstm", 3, 2), Dropout(0.5), Recurrent("lstm", 4, 2)])
    layer.eval()
    assert not layer.layers["0"].fw.cell.training and not layer.layers["1"].training
    assert not layer.layers["2"].cell.training
    layer.train()
    assert layer.layers["0"].bw.cell.training and layer.layers["2"].cell.training
    for g in layer.grads.values():
        g[...] = 1
    layer.zero_grad()
    assert all(not host(g).any() for g in layer.grads.values())


def test_nothing_writes_into_arguments():
    rng = np.random.default_rng(0)
    x = randn(rng, 5, 4, 3)
    layer = Stack([Bidirectional("lstm", 3, 2, seed=1, dtype=F64), Dropout(0.3, seed=2),
                   Recurrent("lstm", 4, 2, return_sequences=False, dtype=F64), Dense(2, 3, dtype=F64)])
    x0, L0 = x.copy(), LENGTHS.copy()
    out, cache = layer.forward(x, LENGTHS)
    dout = randn(rng, *out.shape)
    d0 = dout.copy()
    dx1 = layer.backward(dout, cache)
    dx2 = layer.backward(dout, cache)               # the cache is intact: backward repeats
    np.testing.assert_array_equal(dx1, dx2)
    for a, b in ((x, x0), (LENGTHS, L0), (dout, d0)):
        np.testing.assert_array_equal(a, b)


def test_float32_layers():
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype("float32")
    layer = Stack([Bidirectional("lstm", 3, 2), Dense(4, 5)])
    out, cache = layer.forward(x, np.array([4, 2]))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out), cache).dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


# ---------------------------------------------------------------------------- bad input
def test_bad_lengths_are_refused_by_name():
    layer = Recurrent("lstm", 3, 2)
    x = np.zeros((5, 4, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"lengths: expected values in 1\.\.5"):
        layer.forward(x, np.array([6, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"lengths: expected values in 1\.\.5"):
        layer.forward(x, np.array([0, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"lengths: expected shape \(4,\)"):
        layer.forward(x, np.array([5, 5]))
    with pytest.raises(TypeError, match="lengths: expected an integer array"):
        layer.forward(x, np.array([5.0, 1, 1, 1]))
    with pytest.raises(ValueError, match="lengths"):
        Bidirectional("lstm", 3, 2).forward(x, [5, 5, 5, 9])


def test_bad_arrays_are_refused_by_name():
    with pytest.raises(TypeError, match="ids: expected an integer array"):
        Embedding(5, 2).forward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"ids: expected ids in \[0, 5\)"):
        Embedding(5, 2).forward(np.array([[0, 5]]))
    with pytest.raises(ValueError, match=r"x: expected shape"):
        Dense(4, 2).forward(np.zeros((3, 5), dtype="float32"))
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        Dense(4, 2).forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="X: expected"):
        Recurrent("lstm", 3, 2).forward(np.zeros((5, 4, 2), dtype="float32"))
    layer = Recurrent("lstm", 3, 2, return_sequences=False)
    _, cache = layer.forward(np.zeros((5, 4, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"dout: expected a 2-d array of shape \(4, 2\)"):
        layer.backward(np.zeros((5, 4, 2), dtype="float32"), cache)
    with pytest.raises(ValueError, match="x: variational dropout expects a time-major"):
        Dropout(0.5, variational=True).forward(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="x: expected a float32 or float64"):
        Dropout(0.5).forward(np.zeros((4, 3), dtype=int))


def test_bad_construction_is_refused_by_name():
    with pytest.raises(ValueError, match=r"p: expected a finite number >= 0.0 and < 1.0 \(the drop probability\), got 1.0"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="vocab: expected a positive integer"):
        Embedding(0, 3)
    with pytest.raises(ValueError, match="cell: expected one of"):
        Recurrent("no-such-cell", 3, 2)
    with pytest.raises(ValueError, match="input_size, hidden_size"):
        Recurrent("lstm")
    with pytest.raises(ValueError, match="hidden_size: expected 2"):
        Recurrent(LSTM(3, 2), 3, 5)
    with pytest.raises(TypeError, match="cell options"):
        Recurrent(LSTM(3, 2), peepholes=False)
    with pytest.raises(ValueError, match="must agree"):
        Bidirectional((LSTM(3, 2), LSTM(3, 4)))
    with pytest.raises(ValueError, match="without '.'"):
        Stack({"a.b": Dense(2, 2)})
    with pytest.raises(TypeError, match=r"layers\['0'\]: expected an npslim.layers.Layer"):
        Stack([LSTM(3, 2)])
