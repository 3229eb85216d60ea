"""Layers around the cells: embedding, affine map, dropout, and recurrent wrappers.

Every layer follows one small contract, the cells' contract one level up::

    out, cache = layer.forward(x)                  # Recurrent, Bidirectional, Stack: forward(x, lengths=None)
    dx = layer.backward(dout, cache)               # accumulates into layer.grads (+=)

``layer.params`` maps a name (unique within the layer) to the live array and ``layer.grads``
holds the gradient of the same name, shape and layout; containers prefix their children's
names (``"fw.cell.W_z"``).  ``zero_grad()`` clears the gradients, ``train()`` / ``eval()``
switch the mode (dropout and stochastic cells), ``noise_frozen()`` makes every stochastic
part reuse one draw inside a ``with`` block (gradient checks).  Nothing writes into its
arguments or into a cache; parameters are drawn on the host from a seeded NumPy generator
and moved to the device, like the cells' (see :class:`npslim.cells.base.Cell`).

Variable-length batches are padded at the END and time-major: ``X`` (T, B, ·) with
``lengths`` (B,) integers in 1..T.  A recurrent layer runs its cell over the whole padded
batch and masks: outputs at padded steps (t >= lengths[b]) are zero, their gradient is
zero, and ``return_sequences=False`` returns the output of step ``lengths[b] − 1``.
Because padding comes after every valid step, this is exact: the valid steps never see the
padding, and with zero gradient arriving at every padded step (and at the final state)
every delta of the padded steps is zero, so they add nothing to any gradient.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from . import backend, cells
from .cells.base import Cell, _positive_int
from .module import Module


class Layer(Module):
    """Base class: parameters, gradients, modes (:class:`npslim.module.Module`).  Subclasses implement
    ``forward`` / ``backward``; containers list their sub-layers in ``children()`` and ``_adopt`` them."""

    #: True for layers whose forward takes ``lengths`` (the containers pass it on)
    takes_lengths = False

    def __init__(self, *, seed=0, dtype="float32"):
        super().__init__(seed=seed, dtype=dtype)

    def _adopt(self, children):
        """Expose every child's parameters and gradients under ``"{child}.{name}"``."""
        for cname, child in children.items():
            for pname in child.params:
                self.params[f"{cname}.{pname}"] = child.params[pname]
                self.grads[f"{cname}.{pname}"] = child.grads[pname]


# ---------------------------------------------------------------------------- Embedding
class Embedding(Layer):
    r"""Lookup table: integer ids -> rows of E.

    Forward and backward (ids any shape, typically (T, B))::

        out[..., :] = E[ids[...], :]                    out  (..., dim)
        δE[v, :]   += Σ_{positions with ids = v} dout    (a scatter-add, repeated ids summed)

    The ids are integers and get no gradient: ``backward`` returns ``None``.

    Shapes: ids (T, B) int, out (T, B, dim), E (vocab, dim).  Parameters: vocab · dim.
    Initialisation: U(−init_scale, init_scale), default 0.1.
    """

    def __init__(self, vocab, dim, *, init_scale=0.1, seed=0, dtype="float32"):
        super().__init__(seed=seed, dtype=dtype)
        self.vocab = _positive_int("vocab", vocab)
        self.dim = _positive_int("dim", dim)
        self.output_size = self.dim
        self.E = self._add_param("E", self._uniform((self.vocab, self.dim), float(init_scale)))

    def forward(self, ids):
        """ids (...) integers in [0, vocab) -> out (..., dim), cache."""
        _check_ids(self, "ids", ids, self.vocab)
        out = self.xp.take(self.E, ids, axis=0)                               # out = E[ids]
        return out, {"ids": ids}

    def backward(self, dout, cache):
        """dout (..., dim) -> None (integer ids have no gradient); δE += scatter-add of dout."""
        ids = cache["ids"]
        self._check_array("dout", dout, tuple(ids.shape) + (self.dim,), "same as the forward output")
        _scatter_add_rows(self.xp, self.grads["E"], ids.reshape(-1),
                          dout.reshape(-1, self.dim))                         # δE[ids] += dout
        return None

    def __repr__(self):
        return f"Embedding({self.vocab}, {self.dim}, dtype={self.dtype.name!r})"


def _check_ids(layer, arg, ids, vocab):
    """Integer array of the layer's backend with every value in [0, vocab)."""
    if not (isinstance(ids, np.ndarray) or backend.is_cupy_array(ids)):
        raise TypeError(f"{arg}: expected a {layer.backend} integer array of token ids, "
                        f"got {type(ids).__module__}.{type(ids).__name__}")
    if backend.backend_of(ids) != layer.backend:
        raise TypeError(f"{arg}: expected a {layer.backend} array (the layer's backend), got a "
                        f"{backend.backend_of(ids)} array; move it with npslim.backend.to_device / to_host")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{arg}: expected an integer array of token ids, got dtype {ids.dtype.name}")
    if ids.size == 0:
        raise ValueError(f"{arg}: expected at least one id, got shape {tuple(ids.shape)}")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab:
        raise ValueError(f"{arg}: expected ids in [0, {vocab}) (vocab {vocab}), got values in [{lo}, {hi}]")


def _scatter_add_rows(xp, target, index, rows):
    """target[index[k], :] += rows[k, :] for every k, repeated indices summed; no Python loop."""
    add_at = getattr(xp.add, "at", None)          # NumPy, CuPy >= 13
    if add_at is not None:
        add_at(target, index, rows)
    else:                                          # older CuPy
        import cupyx
        cupyx.scatter_add(target, index, rows)


# ---------------------------------------------------------------------------- Dense
class Dense(Layer):
    r"""Affine map on the last axis, any leading shape.

    Forward and backward (rows r of the flattened leading axes)::

        out = x W + b                    x (..., in) -> out (..., out)
        δx  = dout Wᵀ
        δW += Σ_r x_rᵀ dout_r            (one matmul)
        δb += Σ_r dout_r

    Shapes: W (in, out), b (out,).  Parameters: in · out + out.
    Initialisation: U(−1/√in, 1/√in) for W and b (PyTorch's default).
    """

    def __init__(self, in_size, out_size, *, seed=0, dtype="float32"):
        super().__init__(seed=seed, dtype=dtype)
        self.in_size = _positive_int("in_size", in_size)
        self.out_size = _positive_int("out_size", out_size)
        self.output_size = self.out_size
        k = 1.0 / math.sqrt(self.in_size)
        self.W = self._add_param("W", self._uniform((self.in_size, self.out_size), k))
        self.b = self._add_param("b", self._uniform((self.out_size,), k))

    def forward(self, x):
        """x (..., in) -> out (..., out), cache."""
        if getattr(x, "ndim", 0) < 1:
            self._check_array("x", x, (None, self.in_size), "..., in_size")
        self._check_array("x", x, (None,) * (x.ndim - 1) + (self.in_size,), f"..., in_size={self.in_size}")
        x2 = x.reshape(-1, self.in_size)
        out = self.xp.matmul(x2, self.W)                                       # out = x W
        out += self.b                                                          #     + b
        return out.reshape(tuple(x.shape[:-1]) + (self.out_size,)), {"x2": x2, "shape": tuple(x.shape)}

    def backward(self, dout, cache):
        """dout (..., out) -> dx (..., in); δW, δb accumulated."""
        xp, shape = self.xp, cache["shape"]
        self._check_array("dout", dout, shape[:-1] + (self.out_size,), "same as the forward output")
        d2 = dout.reshape(-1, self.out_size)
        self.grads["W"] += xp.matmul(cache["x2"].T, d2)                        # δW = Σ_r x_rᵀ dout_r
        self.grads["b"] += d2.sum(axis=0)                                      # δb = Σ_r dout_r
        return xp.matmul(d2, self.W.T).reshape(shape)                          # δx = dout Wᵀ

    def __repr__(self):
        return f"Dense({self.in_size}, {self.out_size}, dtype={self.dtype.name!r})"


# ---------------------------------------------------------------------------- Dropout
class Dropout(Layer):
    r"""Inverted dropout: zero each input with probability p, scale the rest by 1/(1 − p).

    Forward and backward (training mode)::

        mᵢ = [uᵢ >= p] / (1 − p),  uᵢ ~ U(0, 1)      out = x ⊙ m        δx = dout ⊙ m

    so E[out] = x.  ``variational=True`` (Gal and Ghahramani) draws ONE mask per sequence and
    feature, shared by every step of a time-major (T, B, F) input: m has shape (1, B, F).
    Evaluation mode (and p = 0) is the identity.  The noise comes from the layer's own
    generator, seeded with ``seed``, on the layer's backend.  No parameters.
    """

    def __init__(self, p, variational=False, *, seed=0):
        super().__init__(seed=seed, dtype="float32")
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 <= p < 1:
            raise ValueError(f"p: expected a drop probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.variational = bool(variational)
        self._rng = None
        self._frozen = False
        self._frozen_mask = None

    def _mask_shape(self, x):
        return (1,) + tuple(x.shape[1:]) if self.variational else tuple(x.shape)

    def _draw_mask(self, x):
        xp = self.xp
        if self._rng is None:
            self._rng = xp.random.default_rng(self.seed)
        shape = self._mask_shape(x)
        if self._frozen and self._frozen_mask is not None and self._frozen_mask.shape == shape \
                and self._frozen_mask.dtype == x.dtype:
            return self._frozen_mask
        keep = self._rng.random(shape, dtype=x.dtype) >= self.p               # [uᵢ >= p]
        mask = keep.astype(x.dtype)
        mask *= x.dtype.type(1.0 / (1.0 - self.p))                             # m = [u >= p] / (1 − p)
        if self._frozen:
            self._frozen_mask = mask
        return mask

    def forward(self, x):
        """x (...), or (T, B, F) when variational -> out (same shape), cache."""
        if not (isinstance(x, np.ndarray) or backend.is_cupy_array(x)) or x.dtype.name not in backend.DTYPES:
            what = (f"dtype {x.dtype.name}" if hasattr(x, "dtype")
                    else f"{type(x).__module__}.{type(x).__name__}")
            raise TypeError(f"x: expected a float32 or float64 {self.backend} array, got {what}")
        if backend.backend_of(x) != self.backend:
            raise TypeError(f"x: expected a {self.backend} array (the layer's backend), got a "
                            f"{backend.backend_of(x)} array")
        if self.variational and x.ndim != 3:
            raise ValueError(f"x: variational dropout expects a time-major (T, B, F) array, "
                             f"got {x.ndim}-d shape {tuple(x.shape)}")
        if not self.training or self.p == 0.0:
            return x, None                                                     # identity
        mask = self._draw_mask(x)
        return x * mask, {"mask": mask, "shape": tuple(x.shape)}               # out = x ⊙ m

    def backward(self, dout, cache):
        """dout (same shape as x) -> dx = dout ⊙ m (dout itself in evaluation mode)."""
        if cache is None:
            return dout
        if not hasattr(dout, "shape") or tuple(dout.shape) != cache["shape"]:
            raise ValueError(f"dout: expected shape {cache['shape']} (same as the forward output), "
                             f"got {tuple(getattr(dout, 'shape', ()))}")
        return dout * cache["mask"]                                            # δx = dout ⊙ m

    @contextlib.contextmanager
    def noise_frozen(self):
        """Inside the block the first mask drawn is reused by every call (same shape)."""
        self._frozen, self._frozen_mask = True, None
        try:
            yield self
        finally:
            self._frozen, self._frozen_mask = False, None

    def __repr__(self):
        return f"Dropout({self.p}" + (", variational=True)" if self.variational else ")")


# ---------------------------------------------------------------------------- GaussianNoise
class GaussianNoise(Layer):
    r"""Additive Gaussian noise on the inputs (Greff et al. 2017's "input noise" hyperparameter).

    Forward and backward (training mode)::

        out = x + σ ε,  ε ~ N(0, 1) elementwise           δx = dout

    Evaluation mode (and σ = 0) is the identity.  The noise comes from the layer's own generator,
    seeded with ``seed``, on the layer's backend; ``noise_frozen()`` reuses one draw.  No parameters.
    """

    def __init__(self, std, *, seed=0):
        super().__init__(seed=seed, dtype="float32")
        if isinstance(std, bool) or not isinstance(std, (int, float, np.floating, np.integer)) \
                or not (std >= 0 and math.isfinite(std)):
            raise ValueError(f"std: expected a finite noise standard deviation >= 0, got {std!r}")
        self.std = float(std)
        self._rng = None
        self._frozen = False
        self._frozen_noise = None

    def forward(self, x):
        """x (...) -> out (same shape), cache (None: δx = dout needs nothing)."""
        if not hasattr(x, "dtype") or x.dtype.name not in backend.DTYPES:
            raise TypeError(f"x: expected a float32 or float64 array (GaussianNoise reads features, not token ids), "
                            f"got {getattr(x, 'dtype', type(x).__name__)}")
        if not self.training or self.std == 0.0:
            return x, None                                                     # identity
        if self._frozen and self._frozen_noise is not None and self._frozen_noise.shape == x.shape:
            return x + self._frozen_noise, None
        if self._rng is None:
            self._rng = self.xp.random.default_rng(self.seed)
        noise = self._rng.standard_normal(x.shape, dtype=x.dtype) * x.dtype.type(self.std)   # σ ε
        if self._frozen:
            self._frozen_noise = noise
        return x + noise, None                                                 # out = x + σ ε

    def backward(self, dout, cache):
        """dout -> δx = dout."""
        return dout

    @contextlib.contextmanager
    def noise_frozen(self):
        """Inside the block the first noise drawn is reused by every call (same shape)."""
        self._frozen, self._frozen_noise = True, None
        try:
            yield self
        finally:
            self._frozen, self._frozen_noise = False, None

    def __repr__(self):
        return f"GaussianNoise({self.std})"


# ---------------------------------------------------------------------------- Recurrent
class Recurrent(Layer):
    r"""Any registered cell over a padded, variable-length, time-major batch.

    Forward (Y the cell's outputs over the whole padded batch, M[t, b] = [t < lengths[b]])::

        Y, state, cache = cell.forward(X, state0)
        return_sequences=True:   out = Y ⊙ M                     (T, B, n)   zeros at padded steps
        return_sequences=False:  out[b] = Y[lengths[b] − 1, b]   (B, n)      the last valid output

    Backward::

        return_sequences=True:   ΔY = dout ⊙ M
        return_sequences=False:  ΔY = 0 except ΔY[lengths[b] − 1, b] = dout[b]
        δX, _ = cell.backward(ΔY, cache)                         (no gradient at the final state)

    With no ``lengths`` every sequence has length T.  Padded steps get zero ΔY, and, as they
    follow every valid step, zero deltas: δX is zero there and they add nothing to δW.

    The state: ``state0`` (a tuple per ``cell.STATE``, or None = zeros) starts the sequence;
    it is treated as a constant (no gradient flows into it, as in truncated BPTT).
    ``final_state(cache)`` is the state after the last valid step: the cell's final state
    when there are no ``lengths``; with ``lengths`` it needs the cell method
    ``states_at(cache, t_index)`` (the state after step t_index[b] for each b), else it raises.
    ``stateful=True`` feeds each forward's final state into the next forward (language
    models; a batch of another size starts from zeros); ``reset_state()`` forgets it.

    Parameters: the cell's, named ``"cell.{name}"``; count ``cell.num_params()``.
    """

    takes_lengths = True

    def __init__(self, cell, input_size=None, hidden_size=None, *, return_sequences=True, stateful=False,
                 seed=0, dtype=None, **cell_options):
        self.cell = _resolve_cell("cell", cell, input_size, hidden_size, seed, dtype, cell_options)
        super().__init__(seed=seed, dtype=self.cell.dtype)
        self.backend, self.xp = self.cell.backend, self.cell.xp
        self.input_size = self.cell.input_size
        self.hidden_size = self.cell.hidden_size
        self.output_size = self.cell.output_size
        self.return_sequences = bool(return_sequences)
        self.stateful = bool(stateful)
        self._carried = None
        for name in self.cell.params:
            self.params[f"cell.{name}"] = self.cell.params[name]
            self.grads[f"cell.{name}"] = self.cell.grads[name]

    def zero_grad(self):
        self.cell.zero_grad()

    def train(self):
        self.training = True
        self.cell.train()
        return self

    def eval(self):
        self.training = False
        self.cell.eval()
        return self

    def noise_frozen(self):
        return self.cell.noise_frozen()

    def reset_state(self):
        """Forget the carried state (stateful layers)."""
        self._carried = None

    def forward(self, X, lengths=None, state0=None):
        """X (T, B, m), lengths (B,) ints in 1..T or None, state0 or None -> out, cache."""
        xp = self.xp
        T, B = self.cell._check_input(X)
        lengths = _check_lengths(self, lengths, T, B)
        if state0 is None and self.stateful and self._carried is not None \
                and self._carried[0].shape[0] == B:
            state0 = self._carried
        Y, state, cell_cache = self.cell.forward(X, state0)
        cache = {"cell": cell_cache, "T": T, "B": B, "lengths": lengths, "state": state, "M": None}
        if lengths is None:
            out = Y if self.return_sequences else Y[T - 1]
        else:
            last = lengths - 1
            try:
                cache["state"] = tuple(self.cell.states_at(cell_cache, last))
            except NotImplementedError:
                cache["state"] = None                  # the cell cannot report the state at step lengths − 1
            if self.return_sequences:
                M = sequence_mask(lengths, T).astype(self.dtype)[:, :, None]
                cache["M"] = M
                out = Y * M                                                    # out = Y ⊙ M
            else:
                out = Y[last, xp.arange(B)]                                    # out[b] = Y[lengths[b] − 1, b]
        if self.stateful:
            if cache["state"] is None:
                raise ValueError(f"lengths: a stateful Recurrent needs the state after step lengths − 1, "
                                 f"which cell {self.cell.name!r} cannot report (its cache keeps no per-step states); "
                                 f"pass lengths=None")
            self._carried = tuple(s.copy() for s in cache["state"])
        return out, cache

    def final_state(self, cache):
        """The state after each sequence's last valid step, a tuple per ``cell.STATE``."""
        if cache["state"] is None:
            raise ValueError(f"cache: the state at step lengths − 1 is not available: cell "
                             f"{self.cell.name!r} cannot report it (states_at: its cache keeps no per-step states); "
                             f"run without lengths")
        return cache["state"]

    def backward(self, dout, cache):
        """dout (T, B, n) or, with return_sequences=False, (B, n) -> dX (T, B, m)."""
        xp = self.xp
        T, B, n = cache["T"], cache["B"], self.output_size
        if self.return_sequences:
            self._check_array("dout", dout, (T, B, n), "T, B, output size: same as the forward output")
            dY = dout if cache["M"] is None else dout * cache["M"]             # ΔY = dout ⊙ M
        else:
            self._check_array("dout", dout, (B, n), "B, output size: same as the forward output")
            last = (T - 1) if cache["lengths"] is None else cache["lengths"] - 1
            dY = xp.zeros((T, B, n), dtype=self.dtype)
            dY[last, xp.arange(B)] = dout                                      # ΔY[lengths[b] − 1, b] = dout[b]
        dX, _ = self.cell.backward(dY, cache["cell"])                          # δX (no final-state gradient)
        return dX

    def __repr__(self):
        return (f"Recurrent({self.cell!r}, return_sequences={self.return_sequences}"
                + (", stateful=True)" if self.stateful else ")"))


def _resolve_cell(arg, cell, input_size, hidden_size, seed, dtype, options):
    """A Cell instance (sizes and dtype, when given, must agree) or a registry name made here."""
    if isinstance(cell, Cell):
        if options:
            raise TypeError(f"{arg}: cell options {sorted(options)} only apply when the cell is given by "
                            f"name, got a built {type(cell).__name__}")
        for name, want, have in (("input_size", input_size, cell.input_size),
                                 ("hidden_size", hidden_size, cell.hidden_size)):
            if want is not None and want != have:
                raise ValueError(f"{name}: expected {have} (the given cell's), got {want!r}")
        if dtype is not None and backend.resolve_dtype(dtype) != cell.dtype:
            raise TypeError(f"dtype: expected {cell.dtype.name} (the given cell's), got {dtype!r}")
        return cell
    if not isinstance(cell, str):
        raise TypeError(f"{arg}: expected a registered cell name {cells.names()} or a Cell, "
                        f"got {type(cell).__name__}")
    if input_size is None or hidden_size is None:
        raise ValueError(f"input_size, hidden_size: expected both with a cell name ({cell!r}), "
                         f"got {input_size!r}, {hidden_size!r}")
    return cells.make(cell, input_size=input_size, hidden_size=hidden_size, seed=seed,
                      dtype="float32" if dtype is None else dtype, **options)


def sequence_mask(lengths, T):
    """M (T, B) bool, M[t, b] = t < lengths[b]: the valid steps of a batch padded at the end (the
    ``mask`` the per-step losses take).  On the backend of ``lengths``."""
    xp = backend.xp_of(lengths)
    lengths = xp.asarray(lengths)
    return xp.arange(T)[:, None] < lengths[None, :]


def _check_lengths(layer, lengths, T, B):
    """None, or an integer array (B,) with values in 1..T on the layer's backend (host arrays and
    lists are moved there).  Returns the device array (int64) or None."""
    if lengths is None:
        return None
    if isinstance(lengths, (list, tuple)):
        lengths = np.asarray(lengths)
    if not (isinstance(lengths, np.ndarray) or backend.is_cupy_array(lengths)):
        raise TypeError(f"lengths: expected an integer array of shape ({B},), "
                        f"got {type(lengths).__module__}.{type(lengths).__name__}")
    if backend.is_cupy_array(lengths) and layer.backend != "cupy":
        raise TypeError("lengths: expected a numpy array (the layer's backend), got a cupy array; "
                        "move it with npslim.backend.to_host")
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected an integer array of shape ({B},), got dtype {lengths.dtype.name}")
    if lengths.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},) (one length per sequence; X has batch size {B} "
                         f"on axis 1), got {tuple(lengths.shape)}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > T:
        raise ValueError(f"lengths: expected values in 1..{T} (T = X.shape[0]), got values in [{lo}, {hi}]")
    return backend.to_device(lengths, layer.xp).astype(np.int64)


# ---------------------------------------------------------------------------- Bidirectional
class Bidirectional(Layer):
    r"""Two recurrent layers, one reading each sequence forwards, one reading its VALID part backwards.

    The reversal respects each sequence's length: with ρ[t, b] = lengths[b] − 1 − t for
    t < lengths[b] and ρ[t, b] = t on padding (a permutation of each column, its own inverse),
    R(A)[t, b] = A[ρ[t, b], b].  Forward and backward::

        F = fw(X),   G = bw(R(X))                         (each a masked :class:`Recurrent`)
        return_sequences=True:   out = [F, R(G)]         (T, B, 2n)   zeros at padded steps
        return_sequences=False:  out = [F_last, G_last]  (B, 2n)      G_last = bw's output at the
                                                                      original position 0
        δX = δX_fw + R(δX_bw),   with δ(R(G)) sent to bw as R(δ·)

    Parameters: the two cells', named ``"fw.cell.{name}"`` and ``"bw.cell.{name}"``; the backward
    cell is drawn from its own seed (derived from ``seed``).  Give ``cell`` as a registered
    name, or as a pair of built cells (forward, backward).
    """

    takes_lengths = True

    def __init__(self, cell, input_size=None, hidden_size=None, *, return_sequences=True, seed=0,
                 dtype=None, **cell_options):
        if isinstance(cell, (tuple, list)):
            if len(cell) != 2:
                raise ValueError(f"cell: expected a name or a pair of cells (forward, backward), "
                                 f"got a sequence of length {len(cell)}")
            fw_cell, bw_cell = cell
            bw_seed = seed
        else:
            fw_cell = bw_cell = cell
            bw_seed = int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0])
        self.fw = Recurrent(fw_cell, input_size, hidden_size, return_sequences=return_sequences,
                            seed=seed, dtype=dtype, **cell_options)
        self.bw = Recurrent(bw_cell, input_size, hidden_size, return_sequences=return_sequences,
                            seed=bw_seed, dtype=dtype, **cell_options)
        if (self.bw.input_size, self.bw.output_size, self.bw.dtype) != \
                (self.fw.input_size, self.fw.output_size, self.fw.dtype):
            raise ValueError("cell: the forward and backward cells must agree in input size, output size and "
                             f"dtype, got {self.fw.cell!r} and {self.bw.cell!r}")
        super().__init__(seed=seed, dtype=self.fw.dtype)
        self.backend, self.xp = self.fw.backend, self.fw.xp
        self.input_size = self.fw.input_size
        self.output_size = 2 * self.fw.output_size
        self.return_sequences = bool(return_sequences)
        self._adopt(self.children())

    def children(self):
        return {"fw": self.fw, "bw": self.bw}

    def _reversal(self, lengths, T, B):
        """ρ (T, B) for lengths, built once per call with array ops; None means plain [::-1]."""
        if lengths is None:
            return None
        xp = self.xp
        t = xp.arange(T)[:, None]
        return xp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)     # ρ[t, b]

    def _reverse(self, A, rho):
        """R(A)[t, b] = A[ρ[t, b], b]  (A (T, B, ·))."""
        if rho is None:
            return A[::-1]
        return A[rho, self.xp.arange(A.shape[1])[None, :]]

    def forward(self, X, lengths=None):
        """X (T, B, m), lengths (B,) or None -> out (T, B, 2n) or (B, 2n), cache."""
        T, B = self.fw.cell._check_input(X)
        lengths = _check_lengths(self, lengths, T, B)
        rho = self._reversal(lengths, T, B)
        F, fcache = self.fw.forward(X, lengths)                                # F = fw(X)
        G, gcache = self.bw.forward(self._reverse(X, rho), lengths)            # G = bw(R(X))
        if self.return_sequences:
            G = self._reverse(G, rho)                                          # R(G)
        out = self.xp.concatenate([F, G], axis=-1)                             # [F, R(G)]
        return out, {"fw": fcache, "bw": gcache, "rho": rho, "T": T, "B": B}

    def backward(self, dout, cache):
        """dout (T, B, 2n) or (B, 2n) -> dX (T, B, m)."""
        T, B, n, rho = cache["T"], cache["B"], self.fw.output_size, cache["rho"]
        shape = (T, B, 2 * n) if self.return_sequences else (B, 2 * n)
        self._check_array("dout", dout, shape, "same as the forward output")
        dF, dG = dout[..., :n], dout[..., n:]
        if self.return_sequences:
            dG = self._reverse(dG, rho)                                        # R is its own inverse
        dX = self.fw.backward(dF, cache["fw"])                                 # δX_fw
        dX = dX + self._reverse(self.bw.backward(dG, cache["bw"]), rho)        # + R(δX_bw)
        return dX

    def __repr__(self):
        return f"Bidirectional({self.fw.cell!r}, return_sequences={self.return_sequences})"


# ---------------------------------------------------------------------------- Stack
class Stack(Layer):
    r"""Layers applied in order; ``lengths`` goes to every layer that takes it.

    Forward and backward::

        h⁰ = x,  hᵏ⁺¹ = layerₖ(hᵏ)         δhᵏ = layerₖ.backward(δhᵏ⁺¹)

    ``layers`` is a list (names "0", "1", ...) or a dict / list of (name, layer) pairs; names
    contain no "." and are unique.  Parameters are named ``"{layer}.{name}"``.
    """

    takes_lengths = True

    def __init__(self, layers):
        if isinstance(layers, dict):
            items = list(layers.items())
        elif isinstance(layers, (list, tuple)):
            items = [item if isinstance(item, tuple) else (str(k), item) for k, item in enumerate(layers)]
        else:
            raise TypeError(f"layers: expected a list of layers or a dict name -> layer, got {type(layers).__name__}")
        if not items:
            raise ValueError("layers: expected at least one layer, got none")
        names = [name for name, _ in items]
        for name, layer in items:
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"layers: expected names that are non-empty strings without '.', got {name!r}")
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{name!r}]: expected an npslim.layers.Layer, got {type(layer).__name__}")
        if len(set(names)) != len(names):
            raise ValueError(f"layers: expected unique names, got {names}")
        first = items[0][1]
        super().__init__(seed=first.seed, dtype=first.dtype)
        self.backend, self.xp = first.backend, first.xp
        self.layers = dict(items)
        self.output_size = getattr(items[-1][1], "output_size", None)
        self._adopt(self.layers)

    def children(self):
        return self.layers

    def forward(self, x, lengths=None):
        """x -> out, cache (the list of the layers' caches)."""
        caches = []
        for layer in self.layers.values():
            x, c = layer.forward(x, lengths) if layer.takes_lengths else layer.forward(x)
            caches.append(c)
        return x, caches

    def backward(self, dout, cache):
        """dout -> the gradient at the input (None when the first layer is an Embedding)."""
        for layer, c in zip(reversed(list(self.layers.values())), reversed(cache)):
            dout = layer.backward(dout, c)
        return dout

    def reset_state(self):
        """Forget the carried state of every stateful layer inside."""
        for layer in self.layers.values():
            if hasattr(layer, "reset_state"):
                layer.reset_state()

    def __repr__(self):
        inner = ",\n".join(f"  {name}: {layer!r}" for name, layer in self.layers.items())
        return f"Stack(\n{inner}\n)"


__all__ = ["Layer", "Embedding", "Dense", "Dropout", "GaussianNoise", "Recurrent", "Bidirectional", "Stack", "sequence_mask"]
