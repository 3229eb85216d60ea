"""Property tests (Hypothesis) over every registered cell and over the recurrent layers: random
sizes, dtypes, sequence lengths and inputs.  A cell keeps its shapes and dtype, gives finite outputs
and gradients for finite inputs, and gives the same results step by step as over the whole sequence
(forward and backward); a layer with lengths gives each sequence what it gives that sequence alone.
Few examples each, derandomized (the same examples every run), no deadline: fast on 2 shared cores."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import npslim
from npslim.layers import Bidirectional, Recurrent

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def cells(draw, name, dtypes=("float32", "float64")):
    """Cell ``name`` (eval mode: a stochastic cell's noise off) at random sizes, dtype and seed."""
    m, n = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    dtype, seed = draw(st.sampled_from(dtypes)), draw(st.integers(0, 2 ** 16))
    try:
        cell = npslim.cells.make(name, m, n, seed=seed, dtype=dtype)
    except ValueError:                      # sizes this cell's defaults do not fit (e.g. groups)
        assume(False)
    return cell.eval()


def arrays(draw, dtype, shape, bound):
    return draw(hnp.arrays(dtype, shape, elements=st.floats(-bound, bound, allow_nan=False, width=32)))


@st.composite
def cell_inputs(draw, name, dtypes=("float32", "float64"), bound=10.0):
    cell = draw(cells(name, dtypes))
    T, B = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    X = arrays(draw, cell.dtype, (T, B, cell.input_size), bound)
    state0 = tuple(arrays(draw, cell.dtype, (B, s), 1.0) for s in cell.state_sizes())
    dY = arrays(draw, cell.dtype, (T, B, cell.output_size), 1.0)
    dstate = tuple(arrays(draw, cell.dtype, (B, s), 1.0) for s in cell.state_sizes())
    return cell, X, state0, dY, dstate


def run(cell, X, state0, dY, dstate):
    cell.zero_grad()
    Y, state, cache = cell.forward(X, state0)
    dX, dstate0 = cell.backward(dY, cache, dstate)
    return Y, state, dX, dstate0, {k: g.copy() for k, g in cell.grads.items()}


@pytest.mark.parametrize("name", npslim.cells.names())
@settings(max_examples=4, **SETTINGS)
@given(data=st.data())
def test_cell_shapes_dtypes_and_finite_results(name, data):
    """Shapes and dtype are kept; finite inputs (|x| up to 1000: saturated gates) give finite results."""
    cell, X, state0, dY, dstate = data.draw(cell_inputs(name, bound=1e3))
    T, B = X.shape[:2]
    with np.errstate(over="raise", invalid="raise", divide="raise"):      # underflow is fine
        Y, state, dX, dstate0, grads = run(cell, X, state0, dY, dstate)
    assert Y.shape == (T, B, cell.output_size) and dX.shape == X.shape
    assert [s.shape for s in state] == [s.shape for s in dstate0] == [(B, w) for w in cell.state_sizes()]
    assert {k: g.shape for k, g in grads.items()} == {k: p.shape for k, p in cell.params.items()}
    for a in (Y, *state, dX, *dstate0, *grads.values()):
        assert a.dtype == cell.dtype
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("name", npslim.cells.names())
@settings(max_examples=3, **SETTINGS)
@given(data=st.data())
def test_cell_step_by_step_equals_whole_sequence(name, data):
    cell, X, state0, dY, dstate = data.draw(cell_inputs(name, dtypes=("float64",)))
    T = X.shape[0]
    Y, state, dX, dstate0, grads = run(cell, X, state0, dY, dstate)

    caches, Ys, s = [], [], state0
    for t in range(T):
        Yt, s, c = cell.forward(X[t:t + 1], s)
        Ys.append(Yt[0])
        caches.append(c)
    np.testing.assert_allclose(np.stack(Ys), Y, rtol=1e-10, atol=1e-12)
    for a, b in zip(s, state):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)

    cell.zero_grad()
    ds, dXs = dstate, [None] * T
    for t in reversed(range(T)):
        dXt, ds = cell.backward(dY[t:t + 1], caches[t], ds)
        dXs[t] = dXt[0]
    np.testing.assert_allclose(np.stack(dXs), dX, rtol=1e-9, atol=1e-11)
    for a, b in zip(ds, dstate0):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    for k, g in cell.grads.items():
        np.testing.assert_allclose(g, grads[k], rtol=1e-9, atol=1e-11, err_msg=k)


@st.composite
def padded_batches(draw):
    """(cell name, lengths (B,) in 1..T, X (T, B, m), return_sequences)."""
    name = draw(st.sampled_from(["lstm", "gru", "rnn", "fgr", "lstmp", "mgu"]))
    m, T = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    lengths = np.array(draw(st.lists(st.integers(1, T), min_size=1, max_size=4)), dtype=np.int64)
    X = arrays(draw, np.float64, (T, len(lengths), m), 3.0)
    return name, lengths, X, draw(st.booleans())


def alone(layer_forward, X, lengths):
    """Each sequence run by itself, trimmed to its length."""
    return [layer_forward(np.ascontiguousarray(X[:L, b:b + 1])) for b, L in enumerate(lengths)]


@settings(max_examples=30, **SETTINGS)
@given(padded_batches())
def test_recurrent_with_lengths_equals_each_sequence_alone(case):
    name, lengths, X, return_sequences = case
    T, B, m = X.shape
    layer = Recurrent(name, m, 3, return_sequences=return_sequences, seed=1, dtype="float64")
    rng = np.random.default_rng(int(lengths.sum()))
    dout = rng.standard_normal((T, B, layer.output_size) if return_sequences else (B, layer.output_size))

    out, cache = layer.forward(X, lengths)
    layer.zero_grad()
    dX = layer.backward(dout, cache)
    batch_grads = {k: g.copy() for k, g in layer.grads.items()}

    layer.zero_grad()
    for b, L in enumerate(lengths):
        xb = np.ascontiguousarray(X[:L, b:b + 1])
        ob, cb = layer.forward(xb)
        db = dout[:L, b:b + 1] if return_sequences else dout[b:b + 1]
        dxb = layer.backward(np.ascontiguousarray(db), cb)
        if return_sequences:
            np.testing.assert_allclose(out[:L, b], ob[:, 0], rtol=1e-12, atol=1e-13)
            assert np.all(out[L:, b] == 0)
        else:
            np.testing.assert_allclose(out[b], ob[0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(dX[:L, b], dxb[:, 0], rtol=1e-10, atol=1e-12)
        assert np.all(dX[L:, b] == 0)
        for s, s_alone in zip(layer.final_state(cache), layer.final_state(cb)):
            np.testing.assert_allclose(s[b], s_alone[0], rtol=1e-12, atol=1e-13)
    for k, g in layer.grads.items():                          # the sum over the sequences alone
        np.testing.assert_allclose(batch_grads[k], g, rtol=1e-9, atol=1e-11, err_msg=k)


@settings(max_examples=20, **SETTINGS)
@given(padded_batches())
def test_bidirectional_with_lengths_equals_each_sequence_alone(case):
    name, lengths, X, return_sequences = case
    T, B, m = X.shape
    layer = Bidirectional(name, m, 2, return_sequences=return_sequences, seed=2, dtype="float64")
    out, _ = layer.forward(X, lengths)
    for b, (ob, _) in enumerate(alone(layer.forward, X, lengths)):
        L = lengths[b]
        if return_sequences:
            np.testing.assert_allclose(out[:L, b], ob[:, 0], rtol=1e-12, atol=1e-13)
            assert np.all(out[L:, b] == 0)
        else:
            np.testing.assert_allclose(out[b], ob[0], rtol=1e-12, atol=1e-13)

