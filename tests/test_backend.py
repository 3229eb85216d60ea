import os
import subprocess
import sys

import numpy as np
import pytest

import npslim
from npslim import backend


def test_default_is_numpy_and_switches():
    assert backend.get_backend() in backend.BACKENDS
    backend.set_backend("numpy")
    assert backend.get_xp() is np
    with backend.use_backend("numpy") as xp:
        assert xp is np
        assert npslim.cells.make("lstm", 2, 3).xp is np


def test_unknown_backend_named():
    with pytest.raises(ValueError, match=r"backend: expected one of \('numpy', 'cupy'(, '\w+')*\), got 'torch'"):
        backend.set_backend("torch")


def test_cupy_missing_gives_clear_error():
    if backend.cupy_available():
        pytest.skip("CuPy and a GPU are present: the missing-CuPy error cannot be provoked here")
    with pytest.raises(backend.BackendError, match=r"backend 'cupy' requested but CuPy"):
        backend.set_backend("cupy")
    assert backend.get_backend() == "numpy"          # a failed switch changes nothing
    with pytest.raises(backend.BackendError):
        with backend.use_backend("cupy"):
            pass


def test_environment_variable_selects_backend():
    env = dict(os.environ, NPSLIM_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", "import npslim; print(npslim.backend.get_backend())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numpy"
    env["NPSLIM_BACKEND"] = "bogus"
    bad = subprocess.run([sys.executable, "-c", "import npslim"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "backend: expected one of" in bad.stderr


def test_init_on_host_is_backend_independent():
    """Parameters come from a seeded NumPy generator on the host, whatever the backend."""
    a = npslim.cells.make("lstm", 3, 4, seed=11, dtype="float64")
    rng = np.random.default_rng(11)
    k = 1 / np.sqrt(4)
    W = rng.uniform(-k, k, size=(3, 16))
    np.testing.assert_array_equal(backend.to_host(a.W), W)


def test_transfers_and_dtypes():
    x = np.arange(6.0).reshape(2, 3)
    assert backend.to_device(x, np) is not None
    np.testing.assert_array_equal(backend.to_host(x), x)
    assert backend.xp_of(x) is np
    assert backend.resolve_dtype("float32") == np.float32
    assert backend.resolve_dtype(np.float64) == np.float64
    with pytest.raises(TypeError, match="dtype"):
        backend.resolve_dtype("int32")
