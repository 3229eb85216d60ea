"""The layers without recurrence: Embedding, Dense, Dropout, GaussianNoise."""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import backend
from ..validate import check_values, integer, number
from .layer import Layer

__all__ = ["Embedding", "Dense", "Dropout", "GaussianNoise"]


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
        self.vocab = integer("vocab", vocab, 1)
        self.dim = integer("dim", dim, 1)
        self.output_size = self.dim
        self.E = self._add_param("E", self._uniform((self.vocab, self.dim), number("init_scale", init_scale, low=0.0)))

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
    if not (isinstance(ids, np.ndarray) or backend.is_device_array(ids)):
        raise TypeError(f"{arg}: expected a {layer.backend} integer array of token ids, "
                        f"got {type(ids).__module__}.{type(ids).__name__}")
    if backend.backend_of(ids) != layer.backend:
        raise TypeError(f"{arg}: expected a {layer.backend} array (the layer's backend), got a "
                        f"{backend.backend_of(ids)} array; move it with npslim.backend.to_device / to_host")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{arg}: expected an integer array of token ids, got dtype {ids.dtype.name}")
    if ids.size == 0:
        raise ValueError(f"{arg}: expected at least one id, got shape {tuple(ids.shape)}")
    if not check_values(ids):                     # checked on the host before the move (Trainer)
        return
    lo, hi = ids.min().item(), ids.max().item()
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
        self.in_size = integer("in_size", in_size, 1)
        self.out_size = integer("out_size", out_size, 1)
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


class _HostNoise(Layer):
    """A layer of noise without parameters (Dropout, GaussianNoise).  Its noise comes from the
    layer's own NumPy generator, seeded with ``seed``, on the host (as a stochastic cell's
    noise): the generator's state is checkpointed, so a resumed run draws the same noise on every
    backend; each draw is then moved to the layer's backend.  ``noise_frozen()`` reuses the first
    draw of a shape and dtype."""

    GENERATORS = ("_host_rng", "_rng")                  # saved in checkpoints: a resume draws the same noise

    def __init__(self, *, seed):
        super().__init__(seed=seed, dtype="float32")
        self._rng = None                                # made on the first draw
        self._frozen = False
        self._frozen_draw = None

    def _noise(self, shape, dtype, draw):
        """``draw(rng, shape, dtype)`` on the host, on the layer's backend (the frozen one if any)."""
        frozen = self._frozen_draw
        if self._frozen and frozen is not None and tuple(frozen.shape) == shape and frozen.dtype == dtype:
            return frozen
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        noise = backend.to_device(draw(self._rng, shape, dtype), self.xp)
        if self._frozen:
            self._frozen_draw = noise
        return noise

    @contextlib.contextmanager
    def noise_frozen(self):
        """Inside the block the first noise drawn is reused by every call (same shape and dtype)."""
        self._frozen, self._frozen_draw = True, None
        try:
            yield self
        finally:
            self._frozen, self._frozen_draw = False, None


class Dropout(_HostNoise):
    r"""Inverted dropout: zero each input with probability p, scale the rest by 1/(1 − p).

    Forward and backward (training mode)::

        mᵢ = [uᵢ >= p] / (1 − p),  uᵢ ~ U(0, 1)      out = x ⊙ m        δx = dout ⊙ m

    so E[out] = x.  ``variational=True`` (Gal and Ghahramani) draws ONE mask per sequence and
    feature, shared by every step of a time-major (T, B, F) input: m has shape (1, B, F).
    Evaluation mode (and p = 0) is the identity.  The masks are drawn on the host from the
    layer's own seeded generator, checkpointed (see ``_HostNoise``).  No parameters.
    """

    def __init__(self, p, variational=False, *, seed=0):
        super().__init__(seed=seed)
        self.p = number("p", p, low=0.0, high=1.0, high_open=True, what="(the drop probability)")
        self.variational = bool(variational)

    def _mask_shape(self, x):
        return (1,) + tuple(x.shape[1:]) if self.variational else tuple(x.shape)

    def _draw_mask(self, rng, shape, dtype):
        mask = (rng.random(shape, dtype=dtype) >= self.p).astype(dtype)       # [uᵢ >= p]
        mask *= dtype.type(1.0 / (1.0 - self.p))                               # m = [u >= p] / (1 − p)
        return mask

    def forward(self, x):
        """x (...), or (T, B, F) when variational -> out (same shape), cache."""
        if not (isinstance(x, np.ndarray) or backend.is_device_array(x)) or x.dtype.name not in backend.DTYPES:
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
        mask = self._noise(self._mask_shape(x), x.dtype, self._draw_mask)
        return x * mask, {"mask": mask, "shape": tuple(x.shape)}               # out = x ⊙ m

    def backward(self, dout, cache):
        """dout (same shape as x) -> dx = dout ⊙ m (dout itself in evaluation mode)."""
        if cache is None:
            return dout
        if not hasattr(dout, "shape") or tuple(dout.shape) != cache["shape"]:
            raise ValueError(f"dout: expected shape {cache['shape']} (same as the forward output), "
                             f"got {tuple(getattr(dout, 'shape', ()))}")
        return dout * cache["mask"]                                            # δx = dout ⊙ m

    def __repr__(self):
        return f"Dropout({self.p}" + (", variational=True)" if self.variational else ")")


class GaussianNoise(_HostNoise):
    r"""Additive Gaussian noise on the inputs (Greff et al. 2017's "input noise" hyperparameter).

    Forward and backward (training mode)::

        out = x + σ ε,  ε ~ N(0, 1) elementwise           δx = dout

    Evaluation mode (and σ = 0) is the identity.  The noise is drawn on the host from the layer's
    own seeded generator, checkpointed (see ``_HostNoise``).  No parameters.
    """

    def __init__(self, std, *, seed=0):
        super().__init__(seed=seed)
        if isinstance(std, bool) or not isinstance(std, (int, float, np.floating, np.integer)) \
                or not (std >= 0 and math.isfinite(std)):
            raise ValueError(f"std: expected a finite noise standard deviation >= 0, got {std!r}")
        self.std = float(std)

    def _draw_noise(self, rng, shape, dtype):
        return rng.standard_normal(shape, dtype=dtype) * dtype.type(self.std)  # σ ε

    def forward(self, x):
        """x (...) -> out (same shape), cache (None: δx = dout needs nothing)."""
        if not hasattr(x, "dtype") or x.dtype.name not in backend.DTYPES:
            raise TypeError(f"x: expected a float32 or float64 array (GaussianNoise reads features, not token ids), "
                            f"got {getattr(x, 'dtype', type(x).__name__)}")
        if not self.training or self.std == 0.0:
            return x, None                                                     # identity
        return x + self._noise(tuple(x.shape), x.dtype, self._draw_noise), None   # out = x + σ ε

    def backward(self, dout, cache):
        """dout -> δx = dout."""
        return dout

    def __repr__(self):
        return f"GaussianNoise({self.std})"
