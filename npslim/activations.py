"""Elementwise activations, each with its derivative written from its own output.

Backward passes never recompute an activation: they take the cached output ``a = φ(x)``
and form φ'(x) from it (σ' = a(1 − a), tanh' = 1 − a², relu' = [a > 0], identity' = 1,
hard_sigmoid' = 0.2·[0 < a < 1]).
Every function writes into ``out`` (which may be ``x`` itself), so the time loops
allocate nothing.  They work on NumPy and CuPy arrays alike.
"""
from __future__ import annotations

import numpy as np

from .backend import xp_of


class Activation:
    """φ with ``forward(x, out)`` -> out = φ(x) and ``grad(a, out)`` -> out = φ'(x) from a = φ(x)."""

    name = None
    is_identity = False
    smooth = True         # differentiable everywhere (relu is not: it has a kink at 0)

    def forward(self, x, out):
        raise NotImplementedError

    def grad(self, a, out):
        raise NotImplementedError

    def __repr__(self):
        return self.name


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, x, out):
        # σ(x) = ½·tanh(½x) + ½ : exact identity, no overflow for any x.
        out = _multiply(x, 0.5, out)
        _tanh(out, out)
        out *= 0.5
        out += 0.5
        return out

    def grad(self, a, out):
        # σ'(x) = σ(x)(1 − σ(x))
        _subtract(1.0, a, out)
        out *= a
        return out


class HardSigmoid(Activation):
    """Keras' hard_sigmoid, a piecewise-linear σ: clip(0.2x + 0.5, 0, 1) (its default LSTM gate
    function; Lu & Salem 2017's IMDB network).  Kinks at x = ±2.5."""
    name = "hard_sigmoid"
    smooth = False

    def forward(self, x, out):
        # σ_hard(x) = clip(0.2x + 0.5, 0, 1)
        out = _multiply(x, 0.2, out)
        out += 0.5
        return _xp(out).clip(out, 0.0, 1.0, out=out)

    def grad(self, a, out):
        # σ_hard'(x) = 0.2 where 0 < a < 1, else 0:  0.2·sign(a(1 − a)), in place
        _subtract(1.0, a, out)
        out *= a
        _xp(out).sign(out, out=out)
        out *= 0.2
        return out


class Tanh(Activation):
    name = "tanh"

    def forward(self, x, out):
        return _tanh(x, out)

    def grad(self, a, out):
        # tanh'(x) = 1 − tanh(x)²
        _multiply(a, a, out)
        _subtract(1.0, out, out)
        return out


class Relu(Activation):
    name = "relu"
    smooth = False

    def forward(self, x, out):
        return _maximum(x, 0.0, out)

    def grad(self, a, out):
        _greater(a, 0.0, out)
        return out


class Identity(Activation):
    name = "identity"
    is_identity = True

    def forward(self, x, out):
        if out is not x:
            out[...] = x
        return out

    def grad(self, a, out):
        out.fill(1.0)
        return out


def _xp(a):
    # the array module of ``a``: NumPy on the fast path, CuPy otherwise
    return np if type(a) is np.ndarray else xp_of(a)


def _multiply(a, b, out):
    return _xp(out).multiply(a, b, out=out)


def _subtract(a, b, out):
    return _xp(out).subtract(a, b, out=out)


def _tanh(x, out):
    return _xp(out).tanh(x, out=out)


def _maximum(a, b, out):
    return _xp(out).maximum(a, b, out=out)


def _greater(a, b, out):
    xp = _xp(out)
    out[...] = xp.greater(a, b)
    return out


SIGMOID, TANH, RELU, IDENTITY, HARD_SIGMOID = Sigmoid(), Tanh(), Relu(), Identity(), HardSigmoid()
ACTIVATIONS = {a.name: a for a in (SIGMOID, TANH, RELU, IDENTITY, HARD_SIGMOID)}


def get(name):
    """The activation called ``name`` (sigmoid, tanh, relu, identity, hard_sigmoid)."""
    if isinstance(name, Activation):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {tuple(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
