"""The CuPy backend against the NumPy reference (Chainer's way): every registered cell gives the same
outputs, state, input/state gradients and parameter gradients on both.  Skips, with the reason, where
CuPy or a GPU is missing."""
import numpy as np
import pytest

import npslim
from npslim import backend

from conftest import make_cell, random_inputs

pytestmark = pytest.mark.skipif(not backend.cupy_available(),
                                reason="CuPy is not installed or sees no GPU (pip install npslim[gpu] on a CUDA machine)")


@pytest.mark.parametrize("name", npslim.cells.names())
def test_cupy_matches_numpy(name):
    with backend.use_backend("numpy"):
        ref = make_cell(name).eval()
    with backend.use_backend("cupy"):
        gpu = make_cell(name).eval()
    import cupy
    assert gpu.xp is cupy
    for k in ref.params:
        np.testing.assert_array_equal(backend.to_host(gpu.params[k]), ref.params[k])
    X, s0, dY, ds = random_inputs(ref, 5, 3)
    to = lambda a: backend.to_device(a, cupy)  # noqa: E731
    outs = []
    for cell, args in ((ref, (X, s0, dY, ds)), (gpu, (to(X), tuple(map(to, s0)), to(dY), tuple(map(to, ds))))):
        cell.zero_grad()
        Y, state, cache = cell.forward(args[0], args[1])
        dX, dstate0 = cell.backward(args[2], cache, args[3])
        outs.append([backend.to_host(a) for a in (Y, *state, dX, *dstate0)]
                    + [backend.to_host(g) for g in cell.grads.values()])
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_cupy_gradcheck(name):
    if name not in npslim.cells.names():
        pytest.skip(f"{name} not registered")
    with backend.use_backend("cupy"):
        cell = make_cell(name)
    errors = npslim.gradcheck.check_cell(cell, T=3, B=2)
    assert max(errors.values()) < 1e-6


def test_numpy_array_into_cupy_cell_refused():
    with backend.use_backend("cupy"):
        cell = make_cell("lstm")
    with pytest.raises(TypeError, match=r"X: expected a cupy array \(the cell's backend\), got a numpy array"):
        cell.forward(np.zeros((2, 3, 4)))
