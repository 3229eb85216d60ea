import os

import numpy as np
import pytest

import npslim
from npslim import backend

import fakegpu

fakegpu.register()          # the CuPy stand-in "fakegpu" (tests/fakegpu.py), selectable in every test


def make_cell(name, dtype="float64", seed=0, input_size=4, hidden_size=6, **extra):
    """A registry cell at the small sizes the suite uses, with the options its class asks for."""
    options = dict(npslim.cells.get(name).GRADCHECK_OPTIONS)
    options.update(extra)
    return npslim.cells.make(name, input_size=input_size, hidden_size=hidden_size, seed=seed,
                             dtype=dtype, **options)


def random_inputs(cell, T, B, seed=1):
    """Random X, state0, dY, dstate for ``cell`` on its own backend."""
    rng = np.random.default_rng(seed)
    dev = lambda a: backend.to_device(a.astype(cell.dtype), cell.xp)  # noqa: E731
    X = dev(rng.standard_normal((T, B, cell.input_size)))
    state0 = tuple(dev(0.5 * rng.standard_normal((B, s))) for s in cell.state_sizes())
    dY = dev(rng.standard_normal((T, B, cell.output_size)))
    dstate = tuple(dev(rng.standard_normal((B, s))) for s in cell.state_sizes())
    return X, state0, dY, dstate


@pytest.fixture(autouse=True)
def _restore_backend():
    before = backend.get_backend()
    yield
    backend._current = before


def pytest_report_header(config):
    return f"npslim backend: {backend.get_backend()} (NPSLIM_BACKEND={os.environ.get('NPSLIM_BACKEND', '')!r})"
