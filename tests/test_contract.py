"""The one contract, checked on every registered cell: step-by-step equals whole-sequence, nothing
writes into its arguments, missing gradients are zeros, and bad input is refused by name."""
import numpy as np
import pytest

import npslim
from npslim import backend

from conftest import make_cell, random_inputs

NAMES = npslim.cells.names()


def host(a):
    return backend.to_host(a)


@pytest.mark.parametrize("name", NAMES)
def test_step_by_step_equals_whole_sequence(name):
    T, B = 4, 3
    cell = make_cell(name).eval()
    X, state0, dY, dstate = random_inputs(cell, T, B)

    cell.zero_grad()
    Y, state, cache = cell.forward(X, state0)
    dX, dstate0 = cell.backward(dY, cache, dstate)
    grads = {k: host(g).copy() for k, g in cell.grads.items()}

    # forward one step at a time, carrying the state
    caches, Ys, s = [], [], state0
    for t in range(T):
        Yt, s, c = cell.forward(X[t:t + 1], s)
        Ys.append(host(Yt)[0])
        caches.append(c)
    np.testing.assert_allclose(np.stack(Ys), host(Y), rtol=1e-12, atol=1e-12)
    for a, b in zip(s, state):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-12)

    # backward one step at a time, carrying the state gradient
    cell.zero_grad()
    ds, dXs = dstate, [None] * T
    for t in reversed(range(T)):
        dXt, ds = cell.backward(dY[t:t + 1], caches[t], ds)
        dXs[t] = host(dXt)[0]
    np.testing.assert_allclose(np.stack(dXs), host(dX), rtol=1e-10, atol=1e-12)
    for a, b in zip(ds, dstate0):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-10, atol=1e-12)
    for k, g in cell.grads.items():
        np.testing.assert_allclose(host(g), grads[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", NAMES)
def test_nothing_writes_into_arguments_and_backward_repeats(name):
    cell = make_cell(name).eval()
    X, state0, dY, dstate = random_inputs(cell, 3, 2)
    before = [host(a).copy() for a in (X, dY, *state0, *dstate)]
    Y, state, cache = cell.forward(X, state0)
    cache_copy = {k: host(v).copy() for k, v in cache.items() if hasattr(v, "shape")}
    cell.zero_grad()
    dX1, ds1 = cell.backward(dY, cache, dstate)
    g1 = {k: host(g).copy() for k, g in cell.grads.items()}
    dX2, ds2 = cell.backward(dY, cache, dstate)
    for a, b in zip(before, (X, dY, *state0, *dstate)):
        np.testing.assert_array_equal(a, host(b))
    for k, v in cache_copy.items():
        np.testing.assert_array_equal(v, host(cache[k]), err_msg=f"backward changed cache[{k!r}]")
    np.testing.assert_array_equal(host(dX1), host(dX2))
    for a, b in zip(ds1, ds2):
        np.testing.assert_array_equal(host(a), host(b))
    for k, g in cell.grads.items():      # accumulated twice
        np.testing.assert_allclose(host(g), 2 * g1[k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_missing_gradients_are_zeros(name):
    cell = make_cell(name).eval()
    X, _, dY, _ = random_inputs(cell, 3, 2)
    Y, state, cache = cell.forward(X)                     # state0=None: zeros
    assert Y.shape == (3, 2, cell.output_size) and Y.dtype == cell.dtype
    assert len(state) == len(cell.STATE)
    cell.zero_grad()
    dX, ds0 = cell.backward(dY, cache)                    # dstate=None: zeros
    zeros = tuple(cell.xp.zeros_like(s) for s in state)
    cell.zero_grad()
    dXz, dsz = cell.backward(dY, cache, zeros)
    np.testing.assert_array_equal(host(dX), host(dXz))
    assert all(d is not None for d in ds0)
    _, ds_none = cell.backward(cell.xp.zeros_like(dY), cache)
    for d in ds_none:
        assert not np.any(host(d))


@pytest.mark.parametrize("name", NAMES)
def test_param_count_formula(name):
    cell = make_cell(name)
    assert cell.num_params() == type(cell).param_count(cell.input_size, cell.hidden_size, **cell.options())
    assert cell.PARAM_FORMULA
    assert set(cell.grads) == set(cell.params)
    for k in cell.params:
        assert cell.grads[k].shape == cell.params[k].shape


@pytest.mark.parametrize("name", NAMES)
def test_float32_default_and_seeded(name):
    a = npslim.cells.make(name, 4, 6, seed=3, **npslim.cells.get(name).GRADCHECK_OPTIONS)
    b = npslim.cells.make(name, 4, 6, seed=3, **npslim.cells.get(name).GRADCHECK_OPTIONS)
    assert a.dtype == np.float32
    for k in a.params:
        assert a.params[k].dtype == np.float32
        np.testing.assert_array_equal(host(a.params[k]), host(b.params[k]))


def test_params_are_live_views():
    cell = make_cell("lstm")
    cell.params["b_f"][...] = 7.0
    assert np.all(host(cell.b)[2 * 6:3 * 6] == 7.0)     # GATE_ORDER z, i, f, o: f is block 2


# ---------------------------------------------------------------- bad input
def _cell_and_x():
    cell = make_cell("lstm")
    X, state0, dY, dstate = random_inputs(cell, 5, 3)
    return cell, X, state0


def test_wrong_rank():
    cell, X, _ = _cell_and_x()
    with pytest.raises(ValueError, match=r"X: expected a 3-d array .* got 2-d shape \(5, 4\)"):
        cell.forward(X[:, 0])


def test_wrong_feature_size():
    cell, X, _ = _cell_and_x()
    with pytest.raises(ValueError, match=r"X: expected shape \(·, ·, 4\).*got \(5, 3, 3\)"):
        cell.forward(X[..., :3])


def test_batch_major_array():
    cell, X, state0 = _cell_and_x()              # X (T=5, B=3, m); state0 (B=3, n)
    with pytest.raises(ValueError, match=r"state0\['y'\]: expected shape \(5, 6\), got \(3, 6\).*time-major"):
        cell.forward(np.ascontiguousarray(X.transpose(1, 0, 2)), state0)


def test_mismatched_initial_state():
    cell, X, state0 = _cell_and_x()
    with pytest.raises(ValueError, match=r"state0\['c'\]: expected shape \(3, 6\)"):
        cell.forward(X, (state0[0], state0[1][:, :5]))
    with pytest.raises(TypeError, match=r"state0: expected a tuple of 2 arrays"):
        cell.forward(X, (state0[0],))


def test_integer_array():
    cell, X, _ = _cell_and_x()
    with pytest.raises(TypeError, match=r"X: expected dtype float64 .*got an integer int64"):
        cell.forward(np.zeros((5, 3, 4), dtype=np.int64))


def test_float16_array():
    cell, X, _ = _cell_and_x()
    with pytest.raises(TypeError, match=r"X: expected dtype float64 .*got a float16"):
        cell.forward(X.astype(np.float16))


def test_not_an_array():
    cell, X, _ = _cell_and_x()
    with pytest.raises(TypeError, match=r"X: expected a numpy array"):
        cell.forward(X.tolist())


def test_bad_output_gradient():
    cell, X, _ = _cell_and_x()
    Y, _, cache = cell.forward(X)
    with pytest.raises(ValueError, match=r"dY: expected shape \(5, 3, 6\)"):
        cell.backward(Y[:4].copy(), cache)


def test_cupy_array_into_numpy_cell():
    cp = pytest.importorskip("cupy", reason="CuPy is not installed: a CuPy array cannot be made here")
    if not backend.cupy_available():
        pytest.skip("CuPy sees no GPU")
    cell, X, _ = _cell_and_x()
    with pytest.raises(TypeError, match=r"X: expected a numpy array \(the cell's backend\), got a cupy array"):
        cell.forward(cp.asarray(X))


def test_foreign_array_type_named():
    """Without CuPy, an object posing as a CuPy array is still refused by the backend check."""
    cell, X, _ = _cell_and_x()

    class FakeCupy(np.ndarray):
        pass
    FakeCupy.__module__ = "cupy._core.core"
    fake = X.view(FakeCupy)
    with pytest.raises(TypeError, match=r"X: expected a numpy array \(the cell's backend\), got a cupy array"):
        cell.forward(fake)


def test_bad_sizes_and_dtype():
    with pytest.raises(ValueError, match=r"hidden_size: expected a positive integer, got 0"):
        npslim.cells.make("lstm", 3, 0)
    with pytest.raises(TypeError, match=r"dtype: expected one of \('float32', 'float64'\), got 'float16'"):
        npslim.cells.make("lstm", 3, 4, dtype="float16")
    with pytest.raises(ValueError, match=r"cell: expected one of .*got 'nope'"):
        npslim.cells.make("nope", 3, 4)
