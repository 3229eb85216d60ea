"""Optimizers, gradient clipping and learning-rate schedules, written by hand.

An optimizer takes two dicts with the same keys, name -> live array (``model.params()``
and ``model.grads()``), and ``step()`` updates every parameter IN PLACE from the
current gradients (``p -= lr · update``), so the model sees the change.  The
gradients are only read (weight decay forms a new array ``g = ∇ + λθ``); only
:func:`clip_grad_norm` writes into them, by design, as ``torch.nn.utils.clip_grad_norm_``.

Every rule is PyTorch's (``torch.optim``, 2.x, the single-tensor path), with its
defaults; the tests hold the first five steps to torch's within 1e-6 in float64::

    SGD       b ← μ b + (1 − τ) g  (b = g at t = 1)   θ ← θ − η (g + μ b if nesterov else b)
    Adam      m ← β₁m + (1 − β₁)g   v ← β₂v + (1 − β₂)g²   θ ← θ − η m̂ / (√v̂ + ε)
    RMSprop   v ← αv + (1 − α)g²    θ ← θ − η g / (√v + ε)   (centered, momentum: see the class)
    Adagrad   s ← s + g²            θ ← θ − η / (1 + (t − 1)·decay) · g / (√s + ε)
    AdaDelta  v ← ρv + (1 − ρ)g²    Δ = √(u + ε)/√(v + ε) · g   u ← ρu + (1 − ρ)Δ²   θ ← θ − ηΔ
    ASGD      θ ← (1 − λη_t)θ − η_t g   θ̄ ← θ̄ + μ_t(θ − θ̄)

with g = ∇θ + weight_decay·θ (L2 added to the gradient, as torch does).

State is keyed by parameter NAME.  ``state_dict()`` is a flat dict of host values::

    "optimizer": class name    "step": steps taken    "lr", "weight_decay", ...: hyperparameters
    "<param name>/<buffer>": host NumPy copy of each buffer (e.g. "W_z/m", "W_z/v")

and ``load_state_dict(d)`` restores all of it exactly (a resumed run continues bit-exactly);
the dict survives ``np.savez`` / ``np.load`` unchanged.

Schedules set ``optimizer.lr``: :class:`StepLR`, :class:`ExponentialLR`,
:class:`ReduceLROnPlateau` (torch's rules) and :class:`LossDrivenLR`, the loss-driven rate
η = η₀·exp(C) of Lu & Salem 2017 (C the training loss).  Each has
``state_dict()`` / ``load_state_dict()`` too.

Everything runs on NumPy or CuPy arrays alike (the arrays' own module ``xp``); buffers
take the dtype of their parameter and every scalar is a Python float, so float32
parameters stay float32.
"""
from __future__ import annotations

from .clipping import clip_grad_norm
from .optimizers import SGD, ASGD, AdaDelta, Adagrad, Adam, Optimizer, RMSprop, make, names
from .schedules import ExponentialLR, LossDrivenLR, ReduceLROnPlateau, Schedule, StepLR

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "AdaDelta", "ASGD", "clip_grad_norm",
           "Schedule", "StepLR", "ExponentialLR", "ReduceLROnPlateau", "LossDrivenLR", "names", "make"]
