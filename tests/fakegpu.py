"""A CuPy stand-in for machines without a GPU: the test suite's backend "fakegpu".

Its arrays live "on the device" (a NumPy array wrapped in :class:`ndarray`) and behave like CuPy's
where bugs hide, only stricter:

* no implicit conversion to the host: ``np.asarray(a)``, ``np.array(a)``, ``float(a)``, ``int(a)``,
  ``bool(a)``, ``a.__index__()`` and writing ``a`` into a NumPy array raise ``TypeError``
  (CuPy refuses the first ones and silently synchronises on the others);
* no mixing with NumPy arrays: a ufunc, a NumPy function, an index or an assignment that meets a
  NumPy array and a device array raises ``TypeError`` (as CuPy's ufuncs do); NumPy and Python
  scalars mix freely, as in CuPy;
* results stay on the device: ``a.sum()`` is a 0-d device array, not a NumPy scalar.

The only ways across are the explicit ones, and each is counted in :data:`counts`:
``fakegpu.asarray(host)`` / ``fakegpu.array(host)`` (host → device, what
``npslim.backend.to_device`` calls) and ``a.get()``, ``a.item()``, ``a.tolist()`` (device → host,
``npslim.backend.to_host`` calls ``get``).  :func:`counting` records the crossings of a block.
"""
import contextlib
import sys
import traceback
import types

import numpy as np

counts = {"to_device": 0, "to_host": 0}
_log = None          # a list while counting(): one (direction, where) per crossing

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed (fakegpu, as CuPy). "
             "Use npslim.backend.to_host(a) to copy it to the host explicitly")


def _cross(direction, size):
    counts[direction] += 1
    if _log is not None:
        frames = [f for f in traceback.extract_stack()[:-2]
                  if not f.filename.endswith(("fakegpu.py", "backend.py"))]   # the caller of to_host/to_device
        _log.append((direction, size, f"{frames[-1].filename}:{frames[-1].lineno} {frames[-1].name}"))


@contextlib.contextmanager
def counting():
    """``with counting() as log:`` collects (direction, number of elements, "file:line function")
    for each crossing."""
    global _log
    previous, _log = _log, []
    try:
        yield _log
    finally:
        _log = previous


def _unwrap(obj):
    """Replace device arrays by their NumPy buffers (recursing into tuples, lists, dicts); refuse
    NumPy arrays, as CuPy refuses them in its functions and ufuncs."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, np.ndarray):
        raise TypeError(f"Unsupported type {type(obj)} (fakegpu, as CuPy): a NumPy array met a device array; "
                        "move it explicitly with npslim.backend.to_device")
    if isinstance(obj, tuple):
        return tuple(_unwrap(o) for o in obj)
    if isinstance(obj, list):
        return [_unwrap(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def _wrap(obj):
    """NumPy results back on the device (NumPy scalars become 0-d device arrays, as in CuPy)."""
    if isinstance(obj, np.ndarray):
        return ndarray(obj)
    if isinstance(obj, np.generic) and not isinstance(obj, (np.str_, np.bytes_)):
        return ndarray(np.asarray(obj))
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_wrap(o) for o in obj)
    if isinstance(obj, list):
        return [_wrap(o) for o in obj]
    if hasattr(obj, "_fields"):                       # named tuples (np.linalg.svd's result)
        return type(obj)(*(_wrap(o) for o in obj))
    return obj


def _device_call(fn):
    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))
    call.__name__ = getattr(fn, "__name__", "call")
    call.__doc__ = getattr(fn, "__doc__", None)
    return call


class ndarray(np.lib.mixins.NDArrayOperatorsMixin):
    """A device array: a NumPy buffer that refuses every implicit trip to the host."""
    __slots__ = ("_a",)

    def __init__(self, a):
        assert isinstance(a, np.ndarray)
        self._a = a

    # --- explicit crossings (counted)
    def get(self):
        _cross("to_host", self._a.size)
        return self._a.copy()

    def item(self, *args):
        _cross("to_host", 1)
        return self._a.item(*args)

    def tolist(self):
        _cross("to_host", self._a.size)
        return self._a.tolist()

    # --- implicit ones (refused)
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def __float__(self):
        raise TypeError(f"float() of a device array: {_IMPLICIT}")

    def __int__(self):
        raise TypeError(f"int() of a device array: {_IMPLICIT}")

    def __index__(self):
        raise TypeError(f"a device array used as a Python index: {_IMPLICIT}")

    def __bool__(self):
        raise TypeError(f"bool() of a device array (an `if` or `and` on it): {_IMPLICIT}")

    def __complex__(self):
        raise TypeError(f"complex() of a device array: {_IMPLICIT}")

    # --- NumPy's protocols: run on the device, refuse NumPy arrays
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs)))

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # --- array behaviour
    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __repr__(self):
        return "fakegpu." + repr(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __getattr__(self, name):
        if name.startswith("__"):                    # __array_interface__, __array_struct__, ...
            raise AttributeError(name)
        value = getattr(self._a, name)
        return _device_call(value) if callable(value) else _wrap(value)

    @property
    def T(self):
        return ndarray(self._a.T)

    @property
    def flat(self):
        raise TypeError("fakegpu: .flat is not supported (CuPy's flatiter is limited); use ravel()")


class _Namespace(types.ModuleType):
    """A module whose functions run NumPy's on device arrays (``fakegpu.random``, ``fakegpu.linalg``)."""

    def __init__(self, name, source):
        super().__init__(name)
        self._source = source

    def __getattr__(self, name):
        value = getattr(self._source, name)
        if isinstance(value, types.ModuleType):
            return _Namespace(f"{self.__name__}.{name}", value)
        if isinstance(value, type) or not callable(value):
            return value
        if isinstance(value, np.ufunc):
            return _Ufunc(value)
        return _Generator(value) if name == "default_rng" else _device_call(value)


class _Ufunc:
    """A NumPy ufunc on device arrays, with its methods (``fakegpu.add.at``, as in CuPy >= 13)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _device_call(self._ufunc)(*args, **kwargs)

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        return _device_call(value) if callable(value) else value


def _Generator(default_rng):
    """``fakegpu.random.default_rng(seed)``: a generator whose draws land on the device.  Like
    CuPy's, its state cannot be read as NumPy's ``bit_generator.state`` (a checkpoint cannot hold it)."""
    class Generator:
        def __init__(self, seed=None):
            self._g = default_rng(seed)

        def __getattr__(self, name):
            if name == "bit_generator":
                raise AttributeError("fakegpu.random.Generator: no NumPy bit_generator state (as CuPy's)")
            return _device_call(getattr(self._g, name))
    return Generator


class _FakeGpuModule(_Namespace):
    """The module object ``fakegpu``: NumPy's API on device arrays (as ``cupy`` is)."""
    ndarray = ndarray

    def __init__(self):
        super().__init__("fakegpu", np)

    def asarray(self, a, dtype=None, order=None):
        if isinstance(a, ndarray):
            return a if dtype is None or a.dtype == np.dtype(dtype) else ndarray(a._a.astype(dtype))
        if isinstance(a, (list, tuple)) and any(isinstance(v, ndarray) for v in a):
            raise TypeError("fakegpu.asarray: a list mixing device arrays; use fakegpu.stack")
        a = np.array(a, dtype=dtype, order=order or "K", copy=True)
        _cross("to_device", a.size)
        return ndarray(a)

    def array(self, a, dtype=None, copy=True, order="K"):
        if isinstance(a, ndarray):
            return ndarray(np.array(a._a, dtype=dtype, copy=copy, order=order))
        return self.asarray(a, dtype=dtype, order=order)


fakegpu = _FakeGpuModule()
sys.modules.setdefault("fakegpu", fakegpu)


def register():
    """Register "fakegpu" with npslim.backend (idempotent); returns the module."""
    from npslim import backend
    if "fakegpu" not in backend._registered:
        backend.register_backend("fakegpu", fakegpu)
    return fakegpu
