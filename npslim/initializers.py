"""Initialisation schemes that re-draw a built model's parameters as another library did, so that a
paper's recipe starts where its authors' code started (:mod:`npslim.recipes`).

npslim's own initialisation (``"npslim"``) is PyTorch's: every weight and bias U(−1/√n, 1/√n).
The Keras schemes follow Keras' LSTM layer, per gate block (each W_⋆ of shape (m, n), each R_⋆ of
shape (n, n) is drawn on its own, as Keras 1 draws its separate W_i, W_f, W_c, W_o)::

    "keras-glorot"   W_⋆ ~ Glorot-uniform, R_⋆ ~ Glorot-uniform, b_f = 1, other b = 0
                     (Lu & Salem 2017's MNIST code: init and inner_init 'glorot_uniform',
                     forget_bias_init 'one')
    "keras1"         W_⋆ ~ Glorot-uniform, R_⋆ = 1.1 · orthogonal, b_f = 1, other b = 0
                     (Keras 1's LSTM defaults: Lu & Salem 2017's IMDB code)
    "keras2"         W_⋆ ~ Glorot-uniform, R_⋆ = orthogonal, b_f = 1, other b = 0
                     (Keras 2's LSTM defaults, unit_forget_bias=True)

    Glorot-uniform (fan_in, fan_out):  U(−a, a),  a = √(6 / (fan_in + fan_out))
    orthogonal (n, n):                 the Q of the SVD of an (n, n) standard normal draw, times the gain

In every Keras scheme the read-out ``Dense`` gets a Glorot-uniform W and b = 0 and an ``Embedding``
U(−0.05, 0.05) (Keras' defaults).  Parameters a Keras LSTM does not have (peepholes p_⋆, LSTM_C6's
vector r_z, projections) keep npslim's initialisation.  The draws come from their own generator
(``seed``), so the model's other random streams are untouched.
"""
from __future__ import annotations

import math

import numpy as np

from .validate import choice

__all__ = ["SCHEMES", "initialize", "glorot_uniform", "orthogonal"]

#: scheme name -> (recurrent initialiser, its gain); "npslim" leaves the model as built
SCHEMES = {"npslim": None, "keras-glorot": ("glorot", 1.0), "keras1": ("orthogonal", 1.1),
           "keras2": ("orthogonal", 1.0)}
FORGET_BIAS = 1.0          # Keras: forget_bias_init='one' (Keras 1), unit_forget_bias=True (Keras 2)
EMBEDDING_SCALE = 0.05     # Keras' Embedding: init 'uniform', U(−0.05, 0.05)


def glorot_uniform(rng, fan_in, fan_out):
    """U(−a, a), a = √(6 / (fan_in + fan_out)), of shape (fan_in, fan_out)."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def orthogonal(rng, n, gain=1.0):
    """gain · Q, Q an (n, n) orthogonal matrix from the SVD of a standard normal draw (Keras' orthogonal)."""
    u, _, _ = np.linalg.svd(rng.standard_normal((n, n)))
    return gain * u


def initialize(model, scheme, seed=0):
    """Re-draw the parameters of ``model`` (an npslim Model) in place by ``scheme`` (a name in
    :data:`SCHEMES`, see the module docstring); returns the model."""
    scheme = choice("scheme", scheme, tuple(SCHEMES))
    if SCHEMES[scheme] is None:
        return model
    recurrent, gain = SCHEMES[scheme]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x1A17]))
    for name, p in model.params().items():
        leaf = name.rsplit(".", 1)[-1]
        value = _keras_value(rng, name, leaf, p.shape, recurrent, gain)
        if value is not None:
            p[...] = _like(value, p)
    return model


def _keras_value(rng, name, leaf, shape, recurrent, gain):
    """The Keras value of one parameter, or None to keep npslim's."""
    if name.startswith("out."):                                            # the Dense read-out
        return glorot_uniform(rng, *shape) if leaf == "W" else np.zeros(shape)
    if leaf == "E":                                                        # an Embedding
        return rng.uniform(-EMBEDDING_SCALE, EMBEDDING_SCALE, size=shape)
    if leaf.startswith("W_") and len(shape) == 2:                          # W_⋆ (m, n)
        return glorot_uniform(rng, *shape)
    if leaf.startswith("R_") and len(shape) == 2 and shape[0] == shape[1]:  # R_⋆ (n, n)
        return glorot_uniform(rng, *shape) if recurrent == "glorot" else orthogonal(rng, shape[0], gain)
    if leaf.startswith("b_") and len(shape) == 1:                          # b_f = 1, other b = 0
        return np.full(shape, FORGET_BIAS if leaf == "b_f" else 0.0)
    return None


def _like(value, p):
    """``value`` as ``p``'s dtype on ``p``'s device."""
    from .backend import to_device, xp_of
    return to_device(value.astype(p.dtype), xp_of(p))
