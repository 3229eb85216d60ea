"""Subnormal deltas (issue 4): every backward loop flushes carried deltas below the smallest normal
float to zero (npslim.cells.subnormal.SubnormalFlush), so long sequences with the loss on the last
step stay fast.  The flush must remove the subnormals and change nothing else."""
from __future__ import annotations

import numpy as np
import pytest

import npslim
from npslim import backend
from npslim.cells.subnormal import SubnormalFlush
from npslim.gradcheck import check_cell

numpy_only = pytest.mark.skipif(backend.get_backend() != "numpy", reason="the flush runs on NumPy only")


def subnormals(a):
    """Number of nonzero values below the smallest normal of a's dtype."""
    a = np.abs(backend.to_host(a))
    return int(np.count_nonzero((a > 0) & (a < np.finfo(a.dtype).tiny)))


def backward_both_ways(cell, dY, cache, dstate=None):
    """(dX, dstate0, grads) with the flush off, then on."""
    out = {}
    for flush in (False, True):
        cell.FLUSH_SUBNORMALS = flush
        cell.zero_grad()
        dX, d0 = cell.backward(dY, cache, dstate)
        out[flush] = (backend.to_host(dX), [backend.to_host(a) for a in d0],
                      {k: backend.to_host(g).copy() for k, g in cell.grads.items()})
    del cell.FLUSH_SUBNORMALS
    return out[False], out[True]


def carried_subnormal_steps(cell, dY, cache):
    """Steps of one backward after which the carried deltas hold a subnormal (read through the
    ``_recurrent_backward`` hook, before that step's flush)."""
    steps = []
    hook = cell._recurrent_backward

    def counting(t, d, da, dnext, work):
        hook(t, d, da, dnext, work)
        if sum(subnormals(a) for a in dnext):
            steps.append(t)
    cell._recurrent_backward = counting
    try:
        cell.backward(dY, cache)
    finally:
        del cell._recurrent_backward
    return steps


def test_flush_sets_exactly_the_values_below_tiny_to_zero():
    for dtype in (np.float32, np.float64):
        cell = npslim.cells.make("lstm", 2, 3, dtype=dtype)
        tiny = np.finfo(dtype).tiny
        values = np.array([tiny, -tiny, tiny / 2, -tiny / 4, np.nextafter(tiny, 0), 1.0, -3e-30, 0.0], dtype=dtype)
        a = np.tile(values, (2, 1))
        D = np.tile(values, (5, 2, 1))
        flush = SubnormalFlush(cell, (a,), (D,))
        flush(3)                                              # not a flush point: nothing happens
        np.testing.assert_array_equal(a[0], values)
        flush(0)
        want = np.array([tiny, -tiny, 0, 0, 0, 1.0, -3e-30, 0], dtype=dtype)
        np.testing.assert_array_equal(a[0], want)
        np.testing.assert_array_equal(a[1], want)
        # the carried deltas have not decayed (max 1.0): the per-step deltas are left alone
        np.testing.assert_array_equal(D[0, 0], values)


@numpy_only
def test_long_sequence_loss_on_last_step_lstm():
    """The decay of issue 4 itself, float32: 400 steps, loss on the last one."""
    T, B, m, n = 400, 8, 2, 16
    cell = npslim.cells.make("lstm", m, n, seed=3, dtype="float32")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((T, B, m)).astype(np.float32)
    _, _, cache = cell.forward(X)
    dY = np.zeros((T, B, n), np.float32)
    dY[-1] = rng.standard_normal((B, n))
    (dX0, d00, g0), (dX1, d01, g1) = backward_both_ways(cell, dY, cache)
    # without the flush the gradient reaches the subnormal range and stays there
    cell.FLUSH_SUBNORMALS = False
    off_steps = carried_subnormal_steps(cell, dY, cache)
    cell.FLUSH_SUBNORMALS = True
    on_steps = carried_subnormal_steps(cell, dY, cache)
    del cell.FLUSH_SUBNORMALS
    assert subnormals(dX0) > 0 and len(off_steps) > 100                 # 203 here
    # with it: none left in dX or in the initial-state gradient, and the carried deltas hold
    # subnormals only for the few steps in which they cross the range
    assert subnormals(dX1) == 0 and sum(subnormals(a) for a in d01) == 0
    assert len(on_steps) < len(off_steps) / 4                           # 27 here
    # the results change only by values below tiny
    tiny = np.finfo(np.float32).tiny
    np.testing.assert_allclose(dX1, dX0, rtol=0, atol=64 * tiny)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-6, atol=64 * tiny, err_msg=k)


@numpy_only
@pytest.mark.parametrize("name", npslim.cells.names())
def test_every_cell_flushes(name):
    """Backward is linear in dY: a last-step gradient of 1e-36 (float32) is one that has already
    decayed by 36 orders, so 48 steps carry it through the subnormal range for every cell."""
    T, B = 48, 3
    cls = npslim.cells.get(name)
    cell = npslim.cells.make(name, 4, 6, seed=1, dtype="float32", **cls.GRADCHECK_OPTIONS).eval()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((T, B, 4)).astype(np.float32)
    Y, _, cache = cell.forward(X)
    dY = np.zeros(Y.shape, np.float32)
    dY[-1] = 1e-36 * rng.standard_normal(Y.shape[1:])
    (dX0, d00, g0), (dX1, d01, g1) = backward_both_ways(cell, dY, cache)
    assert subnormals(dX0) + sum(subnormals(a) for a in d00) > 0      # there is something to flush
    assert subnormals(dX1) == 0 and sum(subnormals(a) for a in d01) == 0
    tiny = np.finfo(np.float32).tiny
    np.testing.assert_allclose(dX1, dX0, rtol=0, atol=64 * tiny)
    for a1, a0 in zip(d01, d00):
        np.testing.assert_allclose(a1, a0, rtol=0, atol=64 * tiny)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=0, atol=64 * tiny, err_msg=k)


@numpy_only
def test_float64_flushes_below_its_own_tiny():
    T, B = 40, 2
    cell = npslim.cells.make("lstm", 3, 5, seed=2, dtype="float64")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((T, B, 3))
    _, _, cache = cell.forward(X)
    dY = np.zeros((T, B, 5))
    dY[-1] = 1e-300 * rng.standard_normal((B, 5))
    (dX0, d00, g0), (dX1, d01, g1) = backward_both_ways(cell, dY, cache)
    assert subnormals(dX0) > 0 and subnormals(dX1) == 0
    tiny = np.finfo(np.float64).tiny
    np.testing.assert_allclose(dX1, dX0, rtol=0, atol=64 * tiny)


@numpy_only
def test_normal_gradients_are_untouched():
    """With the loss on every step nothing decays: flush on and off give identical bits."""
    cell = npslim.cells.make("fgr", 3, 5, seed=4, dtype="float32")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 3, 3)).astype(np.float32)
    Y, state, cache = cell.forward(X)
    dY = rng.standard_normal(Y.shape).astype(np.float32)
    dstate = tuple(rng.standard_normal(s.shape).astype(np.float32) for s in state)
    (dX0, d00, g0), (dX1, d01, g1) = backward_both_ways(cell, dY, cache, dstate)
    np.testing.assert_array_equal(dX1, dX0)
    for a1, a0 in zip(d01, d00):
        np.testing.assert_array_equal(a1, a0)
    for k in g0:
        np.testing.assert_array_equal(g1[k], g0[k])


@pytest.mark.parametrize("name", ["lstm", "fgr", "gru"])
def test_gradcheck_with_a_flush_every_step(name):
    cell = npslim.cells.make(name, 3, 4, seed=5, dtype="float64")
    cell.FLUSH_EVERY = 1
    errors = check_cell(cell, T=5, B=2, seed=1)
    assert max(errors.values()) < 1e-6, errors
