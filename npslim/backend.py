"""Array backend: one switch between NumPy (CPU) and CuPy (GPU).

Every cell does its arithmetic through ``xp``, the array module of its own
arrays, so the same code runs on both backends.  The backend is chosen

* by the environment variable ``NPSLIM_BACKEND`` (``numpy`` or ``cupy``) at import,
* by :func:`set_backend` for the rest of the program,
* by the context manager :func:`use_backend` for a ``with`` block.

CuPy is imported lazily, the first time it is asked for; asking for it where it
cannot be imported, or where it sees no GPU, raises :class:`BackendError` with the
reason.  Random initialisation always happens on the host from a seeded NumPy
generator; :func:`to_device` then moves the arrays (see ``Cell``).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

BACKENDS = ("numpy", "cupy")
DTYPES = ("float32", "float64")


class BackendError(RuntimeError):
    """The requested backend cannot be used here (CuPy missing, or no GPU)."""


def _validate_name(name):
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}")
    return name.lower()


_current = _validate_name(os.environ.get("NPSLIM_BACKEND", "numpy") or "numpy")
_cupy = None


def _import_cupy():
    """Import CuPy once and check that it sees a GPU; raise BackendError otherwise."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library failing to load
        raise BackendError(
            "backend 'cupy' requested but CuPy cannot be imported "
            f"({type(exc).__name__}: {exc}); install it with `pip install npslim[gpu]` "
            "or use the 'numpy' backend") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendError(f"backend 'cupy' requested but CuPy sees no GPU ({type(exc).__name__}: {exc})") from exc
    if count < 1:
        raise BackendError("backend 'cupy' requested but CuPy sees no GPU (device count 0)")
    _cupy = cupy
    return cupy


def cupy_available():
    """True when CuPy imports and sees at least one GPU (never raises)."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def get_backend():
    """Name of the current backend: 'numpy' or 'cupy'."""
    return _current


def set_backend(name):
    """Select the backend for cells made from now on; returns the array module."""
    global _current
    name = _validate_name(name)
    xp = get_xp(name)
    _current = name
    return xp


@contextlib.contextmanager
def use_backend(name):
    """``with use_backend("cupy"): ...`` makes cells on that backend inside the block."""
    global _current
    previous = _current
    set_backend(name)
    try:
        yield get_xp(name)
    finally:
        _current = previous


def get_xp(name=None):
    """The array module of backend ``name`` (default: the current one)."""
    name = _current if name is None else _validate_name(name)
    return np if name == "numpy" else _import_cupy()


def is_cupy_array(a):
    """True for a CuPy array, without importing CuPy."""
    return type(a).__module__.split(".")[0] == "cupy"


def backend_of(a):
    """'cupy' for a CuPy array, 'numpy' for a NumPy array or scalar."""
    return "cupy" if is_cupy_array(a) else "numpy"


def xp_of(*arrays):
    """The array module (numpy or cupy) that the given arrays live in."""
    for a in arrays:
        if is_cupy_array(a):
            return _import_cupy()
    return np


def to_device(a, xp):
    """Move a host array to the array module ``xp`` (a copy only where needed)."""
    if xp is np:
        return to_host(a)
    return xp.asarray(a)


def to_host(a):
    """A NumPy array with the values of ``a`` (CuPy arrays are copied to the host)."""
    if is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def resolve_dtype(dtype):
    """np.dtype for 'float32' / 'float64' (or the numpy types); anything else is refused."""
    try:
        dt = None if dtype is None else np.dtype(dtype)            # np.dtype(None) would be float64
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise TypeError(f"dtype: expected one of {DTYPES}, got {dtype!r}")
    return dt
