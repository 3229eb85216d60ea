"""Compression of the input/forget-gate weight matrices (paper 003, section 4.3): new cells,
originals untouched, the right values, the right matrices, clear refusals."""
import numpy as np
import pytest

import npslim
from npslim import backend
from npslim.compress import GATE_MATRICES, clip_c, copy_cell, gate_matrices, low_rank, round_r

from conftest import random_inputs


def make(name="lstm", dtype="float64", seed=0, m=5, n=7, **options):
    return npslim.cells.make(name, input_size=m, hidden_size=n, seed=seed, dtype=dtype, **options)


def host(a):
    return backend.to_host(a)


def snapshot(cell):
    return {k: host(v).copy() for k, v in cell.params.items()}


COMPRESSIONS = [(round_r, 0.2), (clip_c, 0.1), (low_rank, 2)]


@pytest.mark.parametrize("fn,arg", COMPRESSIONS)
@pytest.mark.parametrize("name", ["lstm", "g2lstm", "sharpened"])
def test_new_cell_original_untouched(name, fn, arg):
    cell = make(name, tau=0.5) if name != "lstm" else make(name)
    cell.eval()
    before = snapshot(cell)
    new = fn(cell, arg)
    assert new is not cell and type(new) is type(cell)
    assert new.options() == cell.options() and new.dtype == cell.dtype and new.seed == cell.seed
    assert new.training == cell.training
    for k, v in before.items():
        np.testing.assert_array_equal(host(cell.params[k]), v, err_msg=f"original {k} changed")
        assert not np.shares_memory(host(new.params[k]), host(cell.params[k]))
        if k in GATE_MATRICES:
            assert not np.array_equal(host(new.params[k]), v), f"{k} was not compressed"
        else:
            np.testing.assert_array_equal(host(new.params[k]), v, err_msg=f"{k} should be copied as is")
    # the new cell's params are still live views of its stacked storage
    new.params["W_i"][...] = 3.0
    assert np.all(host(new.W)[:, 7:14] == 3.0)
    assert np.all(host(cell.W)[:, 7:14] != 3.0)


def test_copy_cell_is_equal_and_independent():
    cell = make("g2lstm", peepholes=True)
    new = copy_cell(cell)
    X, state0, _, _ = random_inputs(cell, 3, 2)
    cell.eval()
    new.eval()
    np.testing.assert_array_equal(host(cell.forward(X, state0)[0]), host(new.forward(X, state0)[0]))
    new.params["b_f"][...] = 0.0
    assert np.count_nonzero(host(cell.params["b_f"])) == 7


def test_round_values_are_multiples_of_r():
    cell = make()
    for r in (0.2, 0.05, 0.5):
        new = round_r(cell, r)
        for k in GATE_MATRICES:
            v, orig = host(new.params[k]), host(cell.params[k])
            q = v / r
            np.testing.assert_allclose(q, np.round(q), atol=1e-9, err_msg=k)
            assert np.all(np.abs(v - orig) <= r / 2 + 1e-12)
    # the weights are U(−1/√7, 1/√7) ≈ ±0.378: r = 0.2 leaves {0, ±0.2, ±0.4}
    vals = np.unique(np.round(np.concatenate([host(round_r(cell, 0.2).params[k]).ravel() for k in GATE_MATRICES]), 12))
    assert set(vals) <= {-0.4, -0.2, 0.0, 0.2, 0.4}


def test_clip_within_bounds():
    cell = make()
    new = clip_c(cell, 0.1)
    for k in GATE_MATRICES:
        v, orig = host(new.params[k]), host(cell.params[k])
        assert v.min() >= -0.1 and v.max() <= 0.1
        inside = np.abs(orig) <= 0.1
        np.testing.assert_array_equal(v[inside], orig[inside])
        assert np.any(v == 0.1) and np.any(v == -0.1)


def test_round_and_clip_compose():
    """Paper 003's "Round & clip" for the language model: r = 0.2, c = 0.2 leaves {0, ±0.2}."""
    new = clip_c(round_r(make(), 0.2), 0.2)
    vals = np.unique(np.round(np.concatenate([host(new.params[k]).ravel() for k in GATE_MATRICES]), 12))
    assert set(vals) <= {-0.2, 0.0, 0.2}


@pytest.mark.parametrize("k", [1, 3, 5])
def test_low_rank_has_rank_k(k):
    cell = make(m=5, n=7)
    new = low_rank(cell, k)
    for name in GATE_MATRICES:
        assert np.linalg.matrix_rank(host(cell.params[name])) == min(cell.params[name].shape)
        assert np.linalg.matrix_rank(host(new.params[name])) == k, name
        # the best rank-k approximation: its error is the norm of the dropped singular values
        s = np.linalg.svd(host(cell.params[name]), compute_uv=False)
        err = np.linalg.norm(host(new.params[name]) - host(cell.params[name]))
        np.testing.assert_allclose(err, np.linalg.norm(s[k:]), rtol=1e-10, atol=1e-12)


def test_low_rank_full_rank_is_identity():
    cell = make(m=5, n=5)
    new = low_rank(cell, 5)
    for name in GATE_MATRICES:
        np.testing.assert_allclose(host(new.params[name]), host(cell.params[name]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn,arg", COMPRESSIONS + [(low_rank, 1)])
def test_compressed_cell_evaluates_and_trains(fn, arg):
    cell = make("g2lstm").eval()
    new = fn(cell, arg)
    X, state0, dY, dstate = random_inputs(cell, 6, 3)
    Y0 = host(cell.forward(X, state0)[0])
    Y, state, cache = new.forward(X, state0)
    assert np.all(np.isfinite(host(Y))) and Y.shape == Y0.shape
    assert not np.allclose(host(Y), Y0)
    dX, _ = new.backward(dY, cache, dstate)
    assert np.all(np.isfinite(host(dX)))
    # it trains: plain gradient descent on L = ½‖Y − Y*‖² lowers the loss
    target = 0.5 * np.tanh(random_inputs(cell, 6, 3, seed=7)[2])
    losses_ = []
    for _ in range(30):
        Y, _, cache = new.forward(X, state0)
        losses_.append(0.5 * float(np.sum((host(Y) - target) ** 2)))
        new.zero_grad()
        new.backward(Y - target, cache)
        for name, p in new.params.items():
            p -= 0.05 * new.grads[name]
    assert losses_[-1] < 0.8 * losses_[0], losses_


def test_float32_cell():
    cell = make(dtype="float32")
    for fn, arg in COMPRESSIONS:
        new = fn(cell, arg)
        assert all(v.dtype == np.float32 for v in new.params.values())
        assert new.forward(random_inputs(new, 2, 2)[0])[0].dtype == np.float32


# ---------------------------------------------------------------- which matrices
def test_cells_with_some_gate_matrices():
    lstm1 = make("lstm1")                      # gates without the input signal: R_i, R_f only
    assert gate_matrices(lstm1) == ["R_i", "R_f"]
    new = clip_c(lstm1, 0.05)
    for k in ("R_i", "R_f"):
        assert np.abs(host(new.params[k])).max() <= 0.05
    np.testing.assert_array_equal(host(new.params["R_o"]), host(lstm1.params["R_o"]))
    mgu = make("mgu")                          # the minimal gated unit has only a forget gate
    assert gate_matrices(mgu) == ["W_f", "R_f"]
    assert np.linalg.matrix_rank(host(low_rank(mgu, 2).params["R_f"])) == 2


@pytest.mark.skipif("nig" not in npslim.cells.names(), reason="nig is not registered yet")
def test_nig_compresses_the_forget_gate():
    nig = make("nig")
    assert gate_matrices(nig) == ["W_f", "R_f"]
    new = round_r(nig, 0.25)
    q = host(new.params["W_f"]) / 0.25
    np.testing.assert_allclose(q, np.round(q), atol=1e-9)


@pytest.mark.parametrize("name", ["gru", "rnn", "lstm3"])
def test_cell_without_gate_matrices_is_refused(name):
    cell = make(name)
    for fn, arg in COMPRESSIONS:
        with pytest.raises(ValueError, match=rf"cell: '{name}' has no input- or forget-gate weight matrix"):
            fn(cell, arg)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("r", [0, -0.1, float("nan"), float("inf"), None])
def test_bad_r(r):
    with pytest.raises(ValueError, match=r"r: expected a finite number > 0"):
        round_r(make(), r)


@pytest.mark.parametrize("c", [0, -1, float("nan")])
def test_bad_c(c):
    with pytest.raises(ValueError, match=r"c: expected a finite number > 0"):
        clip_c(make(), c)


def test_bad_k():
    cell = make(m=3, n=7)
    for k in (0, -1, 2.0, True, "2"):
        with pytest.raises(ValueError, match=r"k: expected a positive integer rank"):
            low_rank(cell, k)
    with pytest.raises(ValueError, match=r"k: expected 1 <= k <= 3 \(the smaller side of W_i, shape \(3, 7\)\), got 4"):
        low_rank(cell, 4)
    assert np.linalg.matrix_rank(host(low_rank(cell, np.int64(3)).params["R_f"])) == 3


def test_cupy_cell():
    if not backend.cupy_available():
        pytest.skip("CuPy with a GPU is not available")
    with backend.use_backend("cupy"):
        cell = make()
    for fn, arg in COMPRESSIONS:
        new = fn(cell, arg)          # made on the cell's backend, whatever the current one is
        assert new.backend == "cupy" and backend.is_cupy_array(new.params["W_i"])
    ref = make()
    np.testing.assert_allclose(host(low_rank(cell, 2).params["R_i"]), host(low_rank(ref, 2).params["R_i"]),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(host(round_r(cell, 0.2).params["W_f"]), host(round_r(ref, 0.2).params["W_f"]))
