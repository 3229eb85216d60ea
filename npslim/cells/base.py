"""The one contract every npslim cell follows.

A cell is stateless and works on a whole sequence, time-major::

    Y, state, cache = cell.forward(X, state0=None)      # X (T, B, m) -> Y (T, B, n_out)
    dX, dstate0 = cell.backward(dY, cache, dstate=None)  # accumulates into cell.grads

``state`` is a tuple of (B, ·) arrays named by ``cell.STATE`` (``("y", "c")`` for an
LSTM).  ``state0=None`` means zeros; ``dstate=None`` means no gradient arrives at the
final state (zeros).  Backward returns zeros, never ``None``, for a missing gradient,
reads the cache without changing it, and adds parameter gradients into ``cell.grads``
(call ``cell.zero_grad()`` between minibatches).  Nothing writes into its arguments.

``cell.params`` maps each parameter name of MATH.md (``W_z``, ``R_i``, ``b_f``, ``p_o``, …)
to the live array: writing into it (``cell.params["b_f"][...] = 1``) changes the cell.
Where a cell stacks its gates into one matrix for speed, those names are views of the
stacked storage, so a parameter is never counted or stored twice.  ``cell.grads`` has
the same names, shapes and layout.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import backend


class Cell:
    """Base class of every recurrent cell.  Subclasses set ``name``, ``STATE`` and implement
    ``_build`` (allocate parameters), ``forward`` and ``backward``."""

    #: registry name, set by :func:`npslim.cells.register`
    name = None
    #: names of the arrays in the state tuple, in order
    STATE = ("y",)
    #: the parameter-count formula as text, in the cell's own symbols (m, n, p, ...)
    PARAM_FORMULA = None
    #: options that the registry-wide gradient check passes to ``make`` (small sizes that fit)
    GRADCHECK_OPTIONS = {}

    def __init__(self, input_size, hidden_size, *, seed=0, dtype="float32"):
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.dtype = backend.resolve_dtype(dtype)
        self.seed = seed
        self.backend = backend.get_backend()
        self.xp = backend.get_xp(self.backend)
        self.training = True
        self.params = {}
        self.grads = {}
        self._storage = {}        # stacked name -> array (the memory the params are views of)
        self._grad_storage = {}
        self._host_rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ parameters
    def _uniform(self, shape, bound=None):
        """Host-side U(−k, k) draw with k = 1/√hidden_size (PyTorch's default), in the cell's dtype."""
        k = 1.0 / math.sqrt(self.hidden_size) if bound is None else bound
        return self._host_rng.uniform(-k, k, size=shape).astype(self.dtype)

    def _add_param(self, name, host_array):
        """Register one parameter (moved to the device) and its zero gradient; returns the device array."""
        host_array = np.asarray(host_array, dtype=self.dtype)
        value = backend.to_device(np.array(host_array, order="C", copy=True), self.xp)
        self.params[name] = value
        self.grads[name] = self.xp.zeros_like(value)
        self._storage[name] = value
        self._grad_storage[name] = self.grads[name]
        return value

    def _add_stacked(self, name, host_array, blocks, axis=-1):
        """Register a stacked parameter: one array whose ``axis`` is split into equal blocks, each
        exposed in ``params``/``grads`` as ``{name}_{block}`` (a live view).  Returns the storage."""
        host_array = np.asarray(host_array, dtype=self.dtype)
        value = backend.to_device(np.array(host_array, order="C", copy=True), self.xp)
        grad = self.xp.zeros_like(value)
        self._storage[name] = value
        self._grad_storage[name] = grad
        width = value.shape[axis] // len(blocks)
        assert width * len(blocks) == value.shape[axis], (name, value.shape, blocks)
        for k, block in enumerate(blocks):
            index = [slice(None)] * value.ndim
            index[axis] = slice(k * width, (k + 1) * width)
            self.params[f"{name}_{block}"] = value[tuple(index)]
            self.grads[f"{name}_{block}"] = grad[tuple(index)]
        return value

    def zero_grad(self):
        """Set every parameter gradient to zero (in place)."""
        for g in self._grad_storage.values():
            g.fill(0)

    def num_params(self):
        """Number of trainable scalars (each stored once)."""
        return int(sum(int(p.size) for p in self.params.values()))

    @classmethod
    def param_count(cls, input_size, hidden_size, **options):
        """Parameter count from the formula, without building the cell."""
        raise NotImplementedError

    # ------------------------------------------------------------------ modes
    def train(self):
        """Training mode (stochastic cells sample their noise)."""
        self.training = True
        return self

    def eval(self):
        """Evaluation mode (stochastic cells become deterministic)."""
        self.training = False
        return self

    @contextlib.contextmanager
    def noise_frozen(self):
        """Inside the block, a stochastic cell reuses one draw of its noise for every call (the
        gradient check needs that).  Deterministic cells have nothing to freeze."""
        yield self

    # ------------------------------------------------------------------ state
    @property
    def output_size(self):
        return self.hidden_size

    def state_sizes(self):
        """Width of each state array, in the order of ``STATE``."""
        return tuple(self.hidden_size for _ in self.STATE)

    def zero_state(self, batch_size):
        """The all-zeros state for a batch of ``batch_size``."""
        return tuple(self.xp.zeros((batch_size, s), dtype=self.dtype) for s in self.state_sizes())

    # ------------------------------------------------------------------ contract
    def forward(self, X, state0=None):
        raise NotImplementedError

    def backward(self, dY, cache, dstate=None):
        raise NotImplementedError

    def __repr__(self):
        opts = "".join(f", {k}={v!r}" for k, v in self.options().items())
        return (f"npslim.cells.make({self.name!r}, input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}{opts}, dtype={self.dtype.name!r})")

    def options(self):
        """The cell's options beyond the sizes (as given to ``make``)."""
        return {}

    def gate_activations(self, cache):
        """The gate activations of every step, read from a forward cache (no recomputation):
        dict gate name -> (T, B, n) array (views into the cache).  Cells without gates return {}."""
        return {}

    # ------------------------------------------------------------------ input checks
    def _check_array(self, arg, a, shape, what):
        """Refuse anything but an array of this cell's backend and dtype with ``shape``
        (None in ``shape`` = any size); the error names the argument, expected and actual."""
        if not (isinstance(a, np.ndarray) or backend.is_cupy_array(a)):
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

    def _check_input(self, X):
        """Validate X (T, B, m); returns (T, B)."""
        self._check_array("X", X, (None, None, self.input_size), "T, B, input_size: time-major")
        T, B = X.shape[:2]
        if T == 0 or B == 0:
            raise ValueError(f"X: expected T >= 1 and B >= 1, got shape {tuple(X.shape)}")
        return T, B

    def _check_state(self, arg, state, B, T=None):
        """Validate a state tuple against batch size B; None -> zeros.  Returns a tuple."""
        if state is None:
            return self.zero_state(B)
        if not isinstance(state, (tuple, list)) and len(self.STATE) == 1 and hasattr(state, "shape"):
            state = (state,)
        if not isinstance(state, (tuple, list)) or len(state) != len(self.STATE):
            raise TypeError(f"{arg}: expected a tuple of {len(self.STATE)} arrays {self.STATE}, "
                            f"got {type(state).__name__}"
                            + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else ""))
        for name, size, s in zip(self.STATE, self.state_sizes(), state):
            if hasattr(s, "shape") and getattr(s, "ndim", 0) == 2 and s.shape[1] == size and s.shape[0] != B:
                hint = (f"; X has batch size {B} on axis 1 — npslim is time-major, X must be (T, B, features)"
                        if T is not None and s.shape[0] == T else f"; X has batch size {B} on axis 1")
                raise ValueError(f"{arg}[{name!r}]: expected shape ({B}, {size}), got {tuple(s.shape)}{hint}")
            self._check_array(f"{arg}[{name!r}]", s, (B, size), f"batch {B}, {name} width {size}")
        return tuple(state)

    def _check_output_grad(self, dY, T, B):
        self._check_array("dY", dY, (T, B, self.output_size), "T, B, output size: same as Y")


def _positive_int(arg, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{arg}: expected a positive integer, got {v!r}")
    return int(v)


def _fmt(shape):
    return "(" + ", ".join("·" if s is None else str(s) for s in shape) + ")"
