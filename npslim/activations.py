"""Elementwise activations, each with its derivative written from its own output.

Backward passes never recompute an activation: they take the cached output ``a = φ(x)``
and form φ'(x) from it (σ' = a(1 − a), tanh' = 1 − a², relu' = [a > 0], identity' = 1).
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
        # σ(x) = 1 / (1 + e⁻ˣ): exp is cheaper than tanh in NumPy (docs/benchmarks.md, "what we
        # tried").  e⁻ˣ overflows to inf for x below about −88 (float32) and σ is then exactly 0:
        # an expected overflow, not an error.
        with np.errstate(over="ignore"):
            _exp(_negative(x, out), out)
        out += 1.0
        return _reciprocal(out, out)

    def grad(self, a, out):
        # σ'(x) = σ(x)(1 − σ(x))
        _subtract(1.0, a, out)
        out *= a
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


def _negative(x, out):
    return _xp(out).negative(x, out=out)


def _exp(x, out):
    return _xp(out).exp(x, out=out)


def _reciprocal(x, out):
    return _xp(out).reciprocal(x, out=out)


def _tanh(x, out):
    return _xp(out).tanh(x, out=out)


def _maximum(a, b, out):
    return _xp(out).maximum(a, b, out=out)


def _greater(a, b, out):
    xp = _xp(out)
    out[...] = xp.greater(a, b)
    return out


SIGMOID, TANH, RELU, IDENTITY = Sigmoid(), Tanh(), Relu(), Identity()
ACTIVATIONS = {a.name: a for a in (SIGMOID, TANH, RELU, IDENTITY)}


def get(name):
    """The activation called ``name`` (sigmoid, tanh, relu, identity)."""
    if isinstance(name, Activation):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {tuple(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
