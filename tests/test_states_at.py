"""Cell.states_at(cache, t_index): the state after step t_index[b] of each sequence, read from the
forward cache, equals the final state of a forward over the first t_index[b] + 1 steps."""
from __future__ import annotations

import numpy as np
import pytest

import npslim
from npslim import backend
from npslim.cells.rnn import RNN
from npslim.layers import Recurrent

T, B, M, N = 7, 5, 4, 6
F64 = "float64"


def host(a):
    return backend.to_host(a)


def make(name, **kw):
    """The cell at the registry check's sizes and options, float64, in evaluation mode (G²-LSTM's
    training noise is drawn per forward shape, so a shorter forward would draw other noise)."""
    cls = npslim.cells.get(name)
    return npslim.cells.make(name, M, N, seed=3, dtype=F64, **{**cls.GRADCHECK_OPTIONS, **kw}).eval()


def inputs(cell, seed=0):
    rng = np.random.default_rng(seed)
    X = backend.to_device(rng.standard_normal((T, B, cell.input_size)), cell.xp)
    state0 = tuple(backend.to_device(rng.standard_normal((B, w)), cell.xp) for w in cell.state_sizes())
    return X, state0


@pytest.mark.parametrize("name", npslim.cells.names())
def test_states_at_is_the_final_state_of_the_prefix(name):
    cell = make(name)
    X, state0 = inputs(cell)
    _, final, cache = cell.forward(X, state0)
    t_index = np.array([0, 3, T - 1, 5, 1])
    got = cell.states_at(cache, t_index)
    assert isinstance(got, tuple) and len(got) == len(cell.STATE)
    for k, (a, w) in enumerate(zip(got, cell.state_sizes())):
        assert a.shape == (B, w) and a.dtype == cell.dtype, cell.STATE[k]
    for b, t in enumerate(t_index):
        prefix = X[:t + 1, b:b + 1].copy()
        _, want, _ = cell.forward(prefix, tuple(s[b:b + 1].copy() for s in state0))
        for k, name_k in enumerate(cell.STATE):
            np.testing.assert_allclose(host(got[k][b]), host(want[k][0]), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name}: state {name_k!r} after step {t} of sequence {b}")
    # the last step is the final state; the result is a copy, not a view into the cache
    last = cell.states_at(cache, np.full(B, T - 1))
    for a, f in zip(last, final):
        np.testing.assert_array_equal(host(a), host(f))
        a[...] = 0
    for a, f in zip(cell.states_at(cache, np.full(B, T - 1)), final):
        np.testing.assert_array_equal(host(a), host(f))


@pytest.mark.parametrize("name", npslim.cells.names())
def test_recurrent_layer_final_state_with_lengths(name):
    """layers.Recurrent finds states_at: final_state with lengths, and stateful runs with lengths."""
    cell = make(name)
    X, _ = inputs(cell, seed=1)
    lengths = np.array([7, 2, 5, 1, 4])
    layer = Recurrent(cell, return_sequences=False)
    _, cache = layer.forward(X, lengths)
    state = layer.final_state(cache)
    for b, L in enumerate(lengths):
        _, want, _ = cell.forward(X[:L, b:b + 1].copy())
        for k in range(len(cell.STATE)):
            np.testing.assert_allclose(host(state[k][b]), host(want[k][0]), rtol=1e-12, atol=1e-14)
    stateful = Recurrent(make(name), stateful=True)
    stateful.forward(X, lengths)
    assert all(s.shape[0] == B for s in stateful._carried)


def test_states_at_checks_its_argument():
    cell = make("lstm")
    X, _ = inputs(cell)
    _, _, cache = cell.forward(X)
    with pytest.raises(ValueError, match=r"t_index: expected steps in 0\.\.6"):
        cell.states_at(cache, np.array([0, 1, 2, 3, 7]))
    with pytest.raises(ValueError, match=r"t_index: expected steps in 0\.\.6"):
        cell.states_at(cache, np.array([0, -1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"t_index: expected an integer array of shape \(5,\)"):
        cell.states_at(cache, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="t_index: expected an integer array"):
        cell.states_at(cache, np.zeros(B))
    with pytest.raises(TypeError, match="t_index"):
        cell.states_at(cache, 3)
    got = cell.states_at(cache, [1, 1, 1, 1, 1])                      # a list is taken as an array
    np.testing.assert_array_equal(host(got[0]), host(cache["Y"][2]))


def test_a_cell_without_states_in_its_cache_says_so():
    class Forgetful(RNN):
        name = "forgetful"

        def forward(self, X, state0=None):
            Y, state, cache = super().forward(X, state0)
            del cache["states"]
            return Y, state, cache

    cell = Forgetful(M, N, dtype=F64)
    _, _, cache = cell.forward(inputs(cell)[0])
    with pytest.raises(NotImplementedError, match="'forgetful'.*states_at"):
        cell.states_at(cache, np.zeros(B, dtype=int))
