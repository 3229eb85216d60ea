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

One transpose convention for every cell: equations (docstrings and comments) are written in
Greff's column form, ``āᵗ = W xᵗ + R yᵗ⁻¹ + b``, ``δxᵗ = Wᵀ δāᵗ``, ``δW = Σₜ ⟨δāᵗ, xᵗ⟩`` (outer
product); the code works on row vectors, ``x @ W``, so every stored weight is the transpose of
the W in the equations: ``W_z`` is (m, n) where Greff's is n × m.  Shapes given are the stored ones.

``cell.states_at(cache, t_index)`` reads the state after step ``t_index[b]`` of each sequence
from a forward cache (``Recurrent`` layers with ``lengths`` and stateful layers use it).

Every backward loop flushes subnormal carried deltas to zero: see :mod:`npslim.cells.subnormal`.

A cache knows the cell that made it: every forward records the cell object in ``cache["made_by"]``
and every backward first checks it (:meth:`Cell._check_cache`), so the cache of another cell (another
kind, other weights, another size or dtype) or ``None`` is a one-line error, never wrong gradients.
The base class adds both to each subclass's ``forward`` and ``backward`` (``__init_subclass__``), so
the cell modules hold only their equations.

Options: a cell's options are the keyword arguments of its ``__init__`` beyond ``seed`` and ``dtype``
(``option_defaults()``, read from the signature: one source); ``cell.options()`` returns every one
of them with the cell's value, so ``make(cell.name, m, n, **cell.options())`` rebuilds it.
"""
from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .. import backend
from ..module import Module
from ..validate import check_values, integer
from .subnormal import _NO_FLUSH, SubnormalFlush


class Cell(Module):
    """Base class of every recurrent cell.  Subclasses set ``STATE`` (and ``GATE_ORDER`` where they
    stack gates), give the parameter-count formula in their docstring's ``Parameters:`` line
    (``PARAM_FORMULA = FROM_DOCSTRING`` reads it), and implement ``__init__`` (which allocates the
    parameters), ``param_count``, ``forward`` and ``backward``; ``@register`` sets ``name``.

    Every backward loop flushes subnormal carried deltas to zero (``_subnormal_flush``, see
    :class:`SubnormalFlush`): results change only by values below ``np.finfo(dtype).tiny``
    (~1e-38 in float32, ~1e-308 in float64), below any gradient that matters, and long
    sequences with the loss on their last steps do not slow down.  ``FLUSH_SUBNORMALS = False``
    (on the class or on one cell) turns it off, for measuring it."""

    #: registry name, set by :func:`npslim.cells.register`
    name = None
    #: names of the arrays in the state tuple, in order
    STATE = ("y",)
    #: the parameter-count formula as text, in the cell's own symbols (m, n, p, ...): the docstring's
    #: ``Parameters:`` line (``npslim.cells.docformula.FROM_DOCSTRING``)
    PARAM_FORMULA = None
    #: options that the registry-wide gradient check passes to ``make`` (small sizes that fit)
    GRADCHECK_OPTIONS = {}
    #: flush subnormal carried deltas to zero in backward (:class:`SubnormalFlush`); off: to measure it
    FLUSH_SUBNORMALS = True
    #: the flush runs at the end of every this many-th step of a backward loop
    FLUSH_EVERY = 16
    #: random generators a checkpoint saves: initialisation's, and a stochastic cell's noise (``_noise_rng``)
    GENERATORS = ("_host_rng", "_noise_rng")

    def __init__(self, input_size, hidden_size, *, seed=0, dtype="float32"):
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        super().__init__(seed=seed, dtype=dtype)
        self._cache_owner = _CacheOwner(self)

    def __init_subclass__(cls, **kwargs):
        """Every forward a subclass defines records the cell in its cache; every backward checks it."""
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _records_owner(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _checks_owner(cls.__dict__["backward"])

    def _check_cache(self, cache):
        """Refuse (one line) anything but a cache made by this cell object's forward."""
        owner = cache.get("made_by") if isinstance(cache, dict) else None
        if owner is self._cache_owner:
            return
        if isinstance(owner, _CacheOwner):
            got = f"one made by another cell ({owner}" + (", another object)" if owner.what == str(self._cache_owner)
                                                          else ")")
        else:
            got = type(cache).__name__ + ("" if cache is None else " not made by a cell's forward")
        error = ValueError if isinstance(owner, _CacheOwner) else TypeError
        raise error(f"cache: expected the cache returned by this cell's own forward ({self._cache_owner}), got {got}")

    # ------------------------------------------------------------------ parameters
    def _uniform(self, shape, bound=None):
        """Host-side U(−k, k) draw with k = 1/√hidden_size (PyTorch's default) unless ``bound`` is given."""
        return super()._uniform(shape, 1.0 / math.sqrt(self.hidden_size) if bound is None else bound)

    def _add_gates(self, name, *lead, width=None, bound=None):
        """A parameter stacked over ``GATE_ORDER``: shape (*lead, G·width), width = hidden_size by
        default, drawn U(−k, k) on the host; ``params[f"{name}_{gate}"]`` are its live blocks.
        ``_add_gates("W", m)`` is W (m, G·n), ``_add_gates("b")`` is b (G·n,)."""
        G, width = len(self.GATE_ORDER), self.hidden_size if width is None else width
        return self._add_stacked(name, self._uniform((*lead, G * width), bound), self.GATE_ORDER)

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

    @classmethod
    def param_count(cls, input_size, hidden_size, **options):
        """Parameter count from the formula, without building the cell."""
        raise NotImplementedError

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

    @classmethod
    def option_defaults(cls):
        """The options of this kind of cell with their defaults: the keyword-only arguments of its
        ``__init__`` other than ``seed`` and ``dtype`` (``{"peepholes": True}`` for the LSTM)."""
        return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind is p.KEYWORD_ONLY and k not in ("seed", "dtype")}

    def options(self):
        """Every option of this cell (each in ``option_defaults()``) with its value, defaults resolved
        (``proj_size=None`` is reported as the size it stands for)."""
        return {k: getattr(self, k) for k in self.option_defaults()}

    def gate_activations(self, cache):
        """The gate activations of every step, read from a forward cache (no recomputation):
        dict gate name -> (T, B, n) array (views into the cache).  Cells without gates return {}."""
        return {}

    def states_at(self, cache, t_index):
        """The state after step ``t_index[b]`` of each sequence b, read from a forward cache (no
        recomputation): a tuple per ``STATE`` of (B, ·) arrays (copies).  ``t_index`` is an integer
        array (B,) of 0-based steps in 0..T−1.  Read from ``cache["states"]``, every state array
        kept over time as (T + 1, B, w) ([0] the initial state, [t + 1] the state after step t);
        a cell whose cache has none raises NotImplementedError."""
        if "states" not in cache:
            raise NotImplementedError(f"cell {self.name!r} ({type(self).__name__}) does not implement "
                                      f"states_at(cache, t_index): its forward cache keeps no 'states'")
        T, B = cache["T"], cache["B"]
        t = self._check_steps("t_index", t_index, T, B)
        cols = self.xp.arange(B)
        return tuple(a[t + 1, cols] for a in cache["states"])

    def _check_steps(self, arg, t_index, T, B):
        """Validate an integer array (B,) of steps in 0..T−1 (host or device); returns it on the device."""
        if isinstance(t_index, (list, tuple)):
            t_index = np.asarray(t_index)
        if not (isinstance(t_index, np.ndarray) or backend.is_device_array(t_index)):
            raise TypeError(f"{arg}: expected an integer array of shape ({B},), got "
                            f"{type(t_index).__module__}.{type(t_index).__name__}")
        if t_index.dtype.kind not in "iu" or tuple(t_index.shape) != (B,):
            raise ValueError(f"{arg}: expected an integer array of shape ({B},) (one step per sequence), "
                             f"got dtype {t_index.dtype.name} shape {tuple(t_index.shape)}")
        lo, hi = (t_index.min().item(), t_index.max().item()) if B and check_values(t_index) else (0, 0)
        if lo < 0 or hi >= T:
            raise ValueError(f"{arg}: expected steps in 0..{T - 1} (0-based, T = {T}), got values in {lo}..{hi}")
        return backend.to_device(t_index, self.xp).astype(np.int64)

    def _subnormal_flush(self, carried, deltas=()):
        """The flush of one backward call (:class:`SubnormalFlush`), or one that does nothing when
        ``FLUSH_SUBNORMALS`` is off or on CuPy (GPUs compute subnormals at full speed)."""
        if not self.FLUSH_SUBNORMALS or self.backend != "numpy":
            return _NO_FLUSH
        return SubnormalFlush(self, carried, deltas)

    # ------------------------------------------------------------------ input checks
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
    """``v`` as an int >= 1 (:func:`npslim.validate.integer`), the size check of the cell modules."""
    return integer(arg, v, 1)




class _CacheOwner:
    """The identity of one cell object, recorded in each cache it makes (compared with ``is``; a deep
    copy of the cell is another cell and gets another one)."""
    __slots__ = ("what",)

    def __init__(self, cell):
        self.what = f"{cell.name!r}, input_size={cell.input_size}, hidden_size={cell.hidden_size}, {cell.dtype.name}"

    def __str__(self):
        return self.what


def _records_owner(forward):
    @functools.wraps(forward)
    def forward_recording_owner(self, *args, **kwargs):
        Y, state, cache = forward(self, *args, **kwargs)
        cache["made_by"] = self._cache_owner
        return Y, state, cache
    return forward_recording_owner


def _checks_owner(backward):
    @functools.wraps(backward)
    def backward_checking_owner(self, dY, cache, *args, **kwargs):
        self._check_cache(cache)
        return backward(self, dY, cache, *args, **kwargs)
    return backward_checking_owner
