"""What every part with parameters shares: the cells (``npslim.cells.Cell``) and the layers
around them (``npslim.layers.Layer``).

* ``params`` maps a name to the live array (writing into it changes the part); ``grads`` has
  the same names, shapes and layout, and backward passes add into it.
* Parameters are drawn on the host from ``numpy.random.default_rng(seed)`` in the part's dtype
  and then moved to the backend, so a seed gives the same weights on NumPy and CuPy.
* ``train()`` / ``eval()`` switch the mode, ``noise_frozen()`` makes every stochastic part
  reuse one draw of its noise inside a ``with`` block; containers pass both on to ``children()``.
* ``_check_array`` refuses anything but an array of the part's backend, dtype and shape, with an
  error that names the argument, the expected and the actual.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import backend
from .validate import integer


class Module:
    """Parameters, gradients, modes and input checks, shared by cells and layers."""

    #: the attributes that hold a random generator (a checkpoint saves their states)
    GENERATORS = ("_host_rng",)

    def __init__(self, *, seed=0, dtype="float32"):
        self.dtype = backend.resolve_dtype(dtype)
        self.seed = integer("seed", seed, 0)
        self.backend = backend.get_backend()
        self.xp = backend.get_xp(self.backend)
        self.training = True
        self.params = {}
        self.grads = {}
        self._storage = {}        # name -> array: the memory the params are (views of)
        self._grad_storage = {}
        self._host_rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ parameters
    def _uniform(self, shape, bound):
        """Host-side U(−bound, bound) draw in the part's dtype, from its seeded generator."""
        return self._host_rng.uniform(-bound, bound, size=shape).astype(self.dtype)

    def _add_param(self, name, host_array):
        """Register one parameter (moved to the device) and its zero gradient; returns the device array."""
        value = backend.to_device(np.array(host_array, dtype=self.dtype, order="C", copy=True), self.xp)
        self.params[name] = value
        self.grads[name] = self.xp.zeros_like(value)
        self._storage[name] = value
        self._grad_storage[name] = self.grads[name]
        return value

    def zero_grad(self):
        """Set every gradient to zero (in place): one fill per stored array, then the children's."""
        for g in self._grad_storage.values():
            g.fill(0)
        for child in self.children().values():
            child.zero_grad()

    def num_params(self):
        """Number of trainable scalars (each stored once: views partition their storage)."""
        return int(sum(int(p.size) for p in self.params.values()))

    def children(self):
        """Sub-parts, name -> part (containers only).  Modes, ``zero_grad``, ``noise_frozen`` and the
        trainer's search for random generators go through it."""
        return {}

    def child_key(self, name):
        """The path segment of child ``name`` in checkpoint keys (the attribute that holds it)."""
        return name

    def generators(self):
        """This part's own random generators, attribute -> Generator (None while not yet drawn), for
        checkpoints: the host generator of initialisation, and every attribute in ``GENERATORS``."""
        return {attr: getattr(self, attr) for attr in self.GENERATORS if hasattr(self, attr)}

    # ------------------------------------------------------------------ modes
    def train(self):
        """Training mode (dropout and stochastic cells sample their noise)."""
        self.training = True
        for child in self.children().values():
            child.train()
        return self

    def eval(self):
        """Evaluation mode (deterministic)."""
        self.training = False
        for child in self.children().values():
            child.eval()
        return self

    @contextlib.contextmanager
    def noise_frozen(self):
        """Inside the block, every stochastic part reuses one draw of its noise for every call (the
        gradient check needs that).  Deterministic parts have nothing to freeze."""
        with contextlib.ExitStack() as stack:
            for child in self.children().values():
                stack.enter_context(child.noise_frozen())
            yield self

    # ------------------------------------------------------------------ input checks
    def _check_array(self, arg, a, shape, what):
        """Refuse anything but an array of this part's backend and dtype with ``shape``
        (None in ``shape`` = any size); the error names the argument, expected and actual."""
        if not (isinstance(a, np.ndarray) or backend.is_device_array(a)):
            raise TypeError(f"{arg}: expected a {self.backend} array of shape {_fmt(shape)} ({what}), "
                            f"got {type(a).__module__}.{type(a).__name__}")
        got = backend.backend_of(a)
        if got != self.backend:
            raise TypeError(f"{arg}: expected a {self.backend} array (the cell's backend), got a {got} array "
                            f"({type(a).__module__}.{type(a).__name__}); move it with "
                            f"npslim.backend.to_device / to_host")
        if a.dtype != self.dtype:
            kind = "an integer" if a.dtype.kind in "iub" else "a"
            raise TypeError(f"{arg}: expected dtype {self.dtype.name} (the cell's dtype), got {kind} {a.dtype.name} "
                            f"array; convert with .astype({self.dtype.name!r})")
        if a.ndim != len(shape):
            raise ValueError(f"{arg}: expected a {len(shape)}-d array of shape {_fmt(shape)} ({what}), "
                             f"got {a.ndim}-d shape {tuple(a.shape)}")
        for want, have in zip(shape, a.shape):
            if want is not None and want != have:
                raise ValueError(f"{arg}: expected shape {_fmt(shape)} ({what}), got {tuple(a.shape)}")


def _fmt(shape):
    return "(" + ", ".join("·" if s is None else str(s) for s in shape) + ")"
