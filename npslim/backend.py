"""Array backend: one switch between NumPy (CPU) and CuPy (GPU).

Every cell does its arithmetic through ``xp``, the array module of its own
arrays, so the same code runs on both backends.  The backend is chosen

* by the environment variable ``NPSLIM_BACKEND`` (``numpy`` or ``cupy``) at import,
* by :func:`set_backend` for the rest of the program,
* by the context manager :func:`use_backend` for a ``with`` block.

CuPy is imported lazily, the first time it is asked for; asking for it where it
cannot be imported, or where it sees no GPU, raises :class:`BackendError` with the
reason.  :func:`register_backend` adds another device backend under a name of its own
(the test suite's CuPy stand-in, ``tests/fakegpu.py``).  Random initialisation always happens on the host from a seeded NumPy
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


_registered = {}   # name -> array module of a backend added by register_backend


def _validate_name(name):
    names = BACKENDS + tuple(_registered)
    if not isinstance(name, str) or name.lower() not in names:
        raise ValueError(f"backend: expected one of {names}, got {name!r}")
    return name.lower()


def register_backend(name, xp):
    """Make the array module ``xp`` selectable as backend ``name``.  ``xp`` offers NumPy's API
    over arrays of its own type ``xp.ndarray`` that copy to the host with ``.get()``, as CuPy
    does (the test suite registers a CuPy stand-in that runs without a GPU).  Returns ``xp``."""
    if not isinstance(name, str) or not name.islower() or name in BACKENDS:
        raise ValueError(f"name: expected a lower-case name other than {BACKENDS}, got {name!r}")
    if not isinstance(getattr(xp, "ndarray", None), type):
        raise TypeError(f"xp: expected an array module with an ndarray type, got {xp!r}")
    _registered[name] = xp
    return xp


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
    if name == "numpy":
        return np
    return _registered[name] if name in _registered else _import_cupy()


def is_cupy_array(a):
    """True for a CuPy array, without importing CuPy."""
    return type(a).__module__.split(".")[0] == "cupy"


def is_device_array(a):
    """True for an array of a device backend (CuPy, or a registered one), not NumPy."""
    return is_cupy_array(a) or any(isinstance(a, xp.ndarray) for xp in _registered.values())


def is_array(a):
    """True for a NumPy array or an array of a device backend."""
    return isinstance(a, np.ndarray) or is_device_array(a)


def backend_of(a):
    """The backend name of an array: 'cupy' for a CuPy array, a registered backend's name for
    its arrays, 'numpy' for a NumPy array or scalar."""
    if is_cupy_array(a):
        return "cupy"
    for name, xp in _registered.items():
        if isinstance(a, xp.ndarray):
            return name
    return "numpy"


def name_of(xp):
    """The backend name of the array module ``xp``."""
    if xp is np:
        return "numpy"
    for name, module in _registered.items():
        if xp is module:
            return name
    return "cupy"


def xp_of(*arrays):
    """The array module (numpy, cupy or a registered one) that the given arrays live in."""
    for a in arrays:
        name = backend_of(a)
        if name != "numpy":
            return get_xp(name)
    return np


def to_device(a, xp):
    """Move a host array to the array module ``xp`` (a copy only where needed)."""
    if xp is np:
        return to_host(a)
    return xp.asarray(a)


def to_host(a):
    """A NumPy array with the values of ``a`` (device arrays are copied to the host)."""
    if is_device_array(a):
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
