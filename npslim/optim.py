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
η = η₀·exp(C) of Lu & Salem 2017 (paper 001, C the training loss).  Each has
``state_dict()`` / ``load_state_dict()`` too.

Everything runs on NumPy or CuPy arrays alike (the arrays' own module ``xp``); buffers
take the dtype of their parameter and every scalar is a Python float, so float32
parameters stay float32.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from . import backend

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "AdaDelta", "ASGD", "clip_grad_norm",
           "Schedule", "StepLR", "ExponentialLR", "ReduceLROnPlateau", "LossDrivenLR", "names", "make"]


# ---------------------------------------------------------------------------- argument checks
def _number(arg, value, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite Python float inside the given bounds; the error names ``arg``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{arg}: expected a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    lo = "" if low is None else (f" > {low}" if low_open else f" >= {low}")
    hi = "" if high is None else (f" < {high}" if high_open else f" <= {high}")
    bounds = lo + ("" if not (lo and hi) else " and") + hi
    if (not math.isfinite(value)
            or (low is not None and (value <= low if low_open else value < low))
            or (high is not None and (value >= high if high_open else value > high))):
        raise ValueError(f"{arg}: expected a finite number{bounds}, got {value!r}")
    return value


def _flag(arg, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{arg}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _is_array(a):
    return isinstance(a, np.ndarray) or backend.is_device_array(a)


def _check_params_grads(params, grads):
    """Both dicts name -> floating array, same keys, shapes and dtypes, one backend."""
    for arg, d in (("params", params), ("grads", grads)):
        if not isinstance(d, Mapping):
            raise TypeError(f"{arg}: expected a dict name -> array (e.g. model.{arg}()), got {type(d).__name__}")
    if len(params) == 0:
        raise ValueError("params: expected at least one parameter, got an empty dict")
    missing = [k for k in params if k not in grads]
    unexpected = [k for k in grads if k not in params]
    if missing or unexpected:
        raise ValueError(f"grads: expected the same names as params; missing {missing}, unexpected {unexpected}")
    backends = set()
    for name, p in params.items():
        g = grads[name]
        if not isinstance(name, str):
            raise TypeError(f"params: expected string names, got {type(name).__name__} {name!r}")
        for arg, a in ((f"params[{name!r}]", p), (f"grads[{name!r}]", g)):
            if not _is_array(a):
                raise TypeError(f"{arg}: expected a numpy or cupy array, got {type(a).__module__}.{type(a).__name__}")
            if a.dtype.name not in backend.DTYPES:
                raise TypeError(f"{arg}: expected dtype float32 or float64, got {a.dtype.name}")
            backends.add(backend.backend_of(a))
        if g.shape != p.shape or g.dtype != p.dtype:
            raise ValueError(f"grads[{name!r}]: expected shape {tuple(p.shape)} and dtype {p.dtype.name} "
                             f"(those of params[{name!r}]), got {tuple(g.shape)} {g.dtype.name}")
    if len(backends) > 1:
        raise TypeError(f"params/grads: expected arrays of one backend, got a mix of {sorted(backends)}")
    return dict(params), dict(grads)


def _host_scalar(arg, value):
    """A Python float from a number or a 1-element (NumPy or CuPy) array; the error names ``arg``."""
    a = np.asarray(backend.to_host(value))
    if a.size != 1 or a.dtype.kind not in "iuf":
        raise TypeError(f"{arg}: expected a real scalar (or 1-element array), got {type(value).__name__} "
                        f"of shape {a.shape} and dtype {a.dtype}")
    return float(a.reshape(()))


def _saved_scalar(value):
    """A value read back from a state dict (a 0-d array after np.load) as a Python scalar or tuple."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else tuple(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _saveable(value):
    """A hyperparameter as stored in a state dict: tuples become host float64 arrays."""
    return np.asarray(value, dtype=np.float64) if isinstance(value, tuple) else value


# ---------------------------------------------------------------------------- base class
class Optimizer:
    """Base class: ``step()`` forms g = ∇θ + weight_decay·θ for each parameter and hands it to
    the subclass's ``_update(p, g, s)``, which changes ``p`` in place and its buffers ``s``.

    Subclasses set ``HYPER`` (constructor keyword names, saved in the state dict), ``SCALARS``
    (extra scalar state), and ``_buffers()`` (the per-parameter buffer names)."""

    HYPER = ("lr", "weight_decay")
    SCALARS = ()

    def __init__(self, params, grads, lr, weight_decay=0.0):
        self.params, self.grads = _check_params_grads(params, grads)
        self.xp = backend.xp_of(*self.params.values())
        self.lr = lr
        self.weight_decay = _number("weight_decay", weight_decay, low=0.0)
        self.step_count = 0
        self.state = {}

    def _allocate(self):
        """Zero buffers, one set per parameter name, on the parameter's backend and dtype."""
        self.state = {name: {b: self.xp.zeros_like(p) for b in self._buffers()} for name, p in self.params.items()}

    def _buffers(self):
        return ()

    @property
    def lr(self):
        """The learning rate η used by the next ``step()`` (schedules set it)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _number("lr", value, low=0.0)

    # ------------------------------------------------------------------ the step
    def step(self):
        """One update of every parameter, in place, from the current gradients."""
        self.step_count += 1
        for name, p in self.params.items():
            g = self.grads[name]
            if self.weight_decay != 0.0:
                g = g + self.weight_decay * p            # g = ∇θ + λθ   (a new array; grads stay untouched)
            self._update(p, g, self.state[name])
        self._after_step()

    def _update(self, p, g, s):
        raise NotImplementedError

    def _after_step(self):
        """Scalar state that changes once per step (ASGD's η_t, μ_t)."""

    # ------------------------------------------------------------------ state
    def hyperparameters(self):
        """The constructor keywords (besides params, grads) that rebuild this optimizer."""
        return {k: getattr(self, k) for k in self.HYPER}

    def state_dict(self):
        """Flat dict of host values: "optimizer", "step", the hyperparameters, the extra scalar
        state, and a host NumPy copy of every buffer under "<param name>/<buffer>"."""
        d = {"optimizer": type(self).__name__, "step": self.step_count}
        d.update({k: _saveable(v) for k, v in self.hyperparameters().items()})
        d.update({k: getattr(self, k) for k in self.SCALARS})
        for name, buffers in self.state.items():
            for b, a in buffers.items():
                d[f"{name}/{b}"] = np.array(backend.to_host(a), copy=True)
        return d

    def load_state_dict(self, d):
        """Restore a ``state_dict()`` exactly (hyperparameters, step, scalars, buffers).  Nothing
        changes unless all of ``d`` is valid: the optimizer is rebuilt from the saved
        hyperparameters, filled, then adopted."""
        if not isinstance(d, Mapping):
            raise TypeError(f"d: expected a dict from state_dict(), got {type(d).__name__}")
        kind = _saved_scalar(d.get("optimizer"))
        if kind != type(self).__name__:
            raise ValueError(f"d['optimizer']: expected {type(self).__name__!r}, got {kind!r}")
        absent = [k for k in ("step", *self.HYPER, *self.SCALARS) if k not in d]
        if absent:
            raise KeyError(f"d: missing {absent} (not a {type(self).__name__}.state_dict())")
        fresh = type(self)(self.params, self.grads, **{k: _saved_scalar(d[k]) for k in self.HYPER})
        expected = {"optimizer", "step", *self.HYPER, *self.SCALARS,
                    *(f"{name}/{b}" for name, buffers in fresh.state.items() for b in buffers)}
        missing = sorted(expected - set(d))
        unexpected = sorted(set(d) - expected)
        if missing or unexpected:
            raise KeyError(f"d: does not match this optimizer's parameters; missing {missing[:8]}, "
                           f"unexpected {unexpected[:8]}")
        step = _saved_scalar(d["step"])
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"d['step']: expected an int >= 0, got {step!r}")
        for name, buffers in fresh.state.items():
            for b, a in buffers.items():
                key = f"{name}/{b}"
                saved = d[key]
                if not _is_array(saved) or saved.shape != a.shape:
                    raise ValueError(f"d[{key!r}]: expected an array of shape {tuple(a.shape)}, got "
                                     f"{getattr(saved, 'shape', type(saved).__name__)}")
                if saved.dtype != a.dtype:
                    raise TypeError(f"d[{key!r}]: expected dtype {a.dtype.name} (that of params[{name!r}]), "
                                    f"got {saved.dtype.name}")
                a[...] = backend.to_device(saved, self.xp)
        fresh.step_count = step
        for k in self.SCALARS:
            setattr(fresh, k, _number(f"d[{k!r}]", _saved_scalar(d[k])))
        self.__dict__.update(fresh.__dict__)

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} params, {hyper}, step={self.step_count})"


# ---------------------------------------------------------------------------- optimizers
class SGD(Optimizer):
    """Stochastic gradient descent with momentum, torch.optim.SGD's formulation::

        b₁ = g₁,   b_t = μ b_{t−1} + (1 − τ) g_t          (μ momentum, τ dampening; only if μ ≠ 0)
        u_t = g_t + μ b_t  (nesterov)   |   b_t  (μ ≠ 0)   |   g_t  (μ = 0)
        θ_t = θ_{t−1} − η u_t

    Defaults as torch: lr=1e-3, momentum=0, dampening=0, nesterov=False (needs μ > 0, τ = 0).
    Buffer: "momentum_buffer" (only when μ ≠ 0).
    """

    HYPER = ("lr", "momentum", "dampening", "nesterov", "weight_decay")

    def __init__(self, params, grads, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, grads, lr, weight_decay)
        self.momentum = _number("momentum", momentum, low=0.0)
        self.dampening = _number("dampening", dampening)
        self.nesterov = _flag("nesterov", nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError(f"nesterov: needs momentum > 0 and dampening = 0, got momentum={self.momentum}, "
                             f"dampening={self.dampening}")
        self._allocate()

    def _buffers(self):
        return ("momentum_buffer",) if self.momentum != 0.0 else ()

    def _update(self, p, g, s):
        mu, tau = self.momentum, self.dampening
        if mu == 0.0:
            p -= self.lr * g                                    # θ ← θ − η g
            return
        b = s["momentum_buffer"]
        if self.step_count == 1:
            b[...] = g                                          # b₁ = g₁
        else:
            b[...] = mu * b + (1.0 - tau) * g                   # b ← μ b + (1 − τ) g
        u = g + mu * b if self.nesterov else b                  # u = g + μ b   (nesterov)   or   u = b
        p -= self.lr * u                                        # θ ← θ − η u


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) as torch.optim.Adam, with optional AMSGrad::

        m_t = β₁ m_{t−1} + (1 − β₁) g_t
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²
        v̂max_t = max(v̂max_{t−1}, v_t)                          (amsgrad; v_t below becomes v̂max_t)
        θ_t = θ_{t−1} − η/(1 − β₁ᵗ) · m_t / (√v_t / √(1 − β₂ᵗ) + ε)

    Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, amsgrad=False.
    Buffers: "m", "v" (and "v_max" with amsgrad).
    """

    HYPER = ("lr", "betas", "eps", "weight_decay", "amsgrad")

    def __init__(self, params, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, grads, lr, weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        self.betas = (_number("betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
                      _number("betas[1]", betas[1], low=0.0, high=1.0, high_open=True))
        self.eps = _number("eps", eps, low=0.0)
        self.amsgrad = _flag("amsgrad", amsgrad)
        self._allocate()

    def _buffers(self):
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def _update(self, p, g, s):
        xp, t = self.xp, self.step_count
        beta1, beta2 = self.betas
        m, v = s["m"], s["v"]
        m[...] = beta1 * m + (1.0 - beta1) * g                  # m ← β₁ m + (1 − β₁) g
        v[...] = beta2 * v + (1.0 - beta2) * g * g              # v ← β₂ v + (1 − β₂) g²
        if self.amsgrad:
            xp.maximum(s["v_max"], v, out=s["v_max"])           # v̂max ← max(v̂max, v)
            v = s["v_max"]
        step_size = self.lr / (1.0 - beta1 ** t)                # η / (1 − β₁ᵗ)      (bias correction of m)
        denom = xp.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + self.eps   # √v / √(1 − β₂ᵗ) + ε   (of v)
        p -= step_size * m / denom                              # θ ← θ − η m̂ / (√v̂ + ε)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e) as torch.optim.RMSprop::

        v_t = α v_{t−1} + (1 − α) g_t²
        ḡ_t = α ḡ_{t−1} + (1 − α) g_t                          (centered only)
        d_t = √(v_t − ḡ_t²) + ε   (centered)   |   √v_t + ε
        b_t = μ b_{t−1} + g_t / d_t,   θ_t = θ_{t−1} − η b_t   (momentum μ > 0)
        θ_t = θ_{t−1} − η g_t / d_t                             (μ = 0)

    Defaults: lr=1e-2, alpha=0.99, eps=1e-8, momentum=0, centered=False.
    Buffers: "square_avg" (and "grad_avg" when centered, "momentum_buffer" when μ > 0).
    """

    HYPER = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(self, params, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, grads, lr, weight_decay)
        self.alpha = _number("alpha", alpha, low=0.0)
        self.eps = _number("eps", eps, low=0.0)
        self.momentum = _number("momentum", momentum, low=0.0)
        self.centered = _flag("centered", centered)
        self._allocate()

    def _buffers(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("momentum_buffer",) if self.momentum > 0.0 else ()))

    def _update(self, p, g, s):
        xp, alpha = self.xp, self.alpha
        v = s["square_avg"]
        v[...] = alpha * v + (1.0 - alpha) * g * g              # v ← α v + (1 − α) g²
        if self.centered:
            gbar = s["grad_avg"]
            gbar[...] = alpha * gbar + (1.0 - alpha) * g        # ḡ ← α ḡ + (1 − α) g
            d = xp.sqrt(v - gbar * gbar) + self.eps             # d = √(v − ḡ²) + ε
        else:
            d = xp.sqrt(v) + self.eps                           # d = √v + ε
        if self.momentum > 0.0:
            b = s["momentum_buffer"]
            b[...] = self.momentum * b + g / d                  # b ← μ b + g / d
            p -= self.lr * b                                    # θ ← θ − η b
        else:
            p -= self.lr * g / d                                # θ ← θ − η g / d


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011) as torch.optim.Adagrad::

        s_t = s_{t−1} + g_t²                                    (s₀ = initial_accumulator_value)
        η_t = η / (1 + (t − 1)·lr_decay)
        θ_t = θ_{t−1} − η_t g_t / (√s_t + ε)

    Defaults: lr=1e-2, lr_decay=0, initial_accumulator_value=0, eps=1e-10.  Buffer: "sum".
    """

    HYPER = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10):
        super().__init__(params, grads, lr, weight_decay)
        self.lr_decay = _number("lr_decay", lr_decay, low=0.0)
        self.initial_accumulator_value = _number("initial_accumulator_value", initial_accumulator_value, low=0.0)
        self.eps = _number("eps", eps, low=0.0)
        self._allocate()
        for s in self.state.values():
            s["sum"].fill(self.initial_accumulator_value)       # s₀

    def _buffers(self):
        return ("sum",)

    def _update(self, p, g, s):
        acc = s["sum"]
        acc += g * g                                            # s ← s + g²
        lr_t = self.lr / (1.0 + (self.step_count - 1) * self.lr_decay)   # η_t = η / (1 + (t − 1) decay)
        p -= lr_t * g / (self.xp.sqrt(acc) + self.eps)          # θ ← θ − η_t g / (√s + ε)


class AdaDelta(Optimizer):
    """AdaDelta (Zeiler 2012) as torch.optim.Adadelta::

        v_t = ρ v_{t−1} + (1 − ρ) g_t²
        Δ_t = √(u_{t−1} + ε) / √(v_t + ε) · g_t
        u_t = ρ u_{t−1} + (1 − ρ) Δ_t²
        θ_t = θ_{t−1} − η Δ_t

    Defaults: lr=1.0, rho=0.9, eps=1e-6.  Buffers: "square_avg" (v), "acc_delta" (u).
    """

    HYPER = ("lr", "rho", "eps", "weight_decay")

    def __init__(self, params, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, grads, lr, weight_decay)
        self.rho = _number("rho", rho, low=0.0, high=1.0)
        self.eps = _number("eps", eps, low=0.0)
        self._allocate()

    def _buffers(self):
        return ("square_avg", "acc_delta")

    def _update(self, p, g, s):
        xp, rho = self.xp, self.rho
        v, u = s["square_avg"], s["acc_delta"]
        v[...] = rho * v + (1.0 - rho) * g * g                  # v ← ρ v + (1 − ρ) g²
        delta = xp.sqrt(u + self.eps) / xp.sqrt(v + self.eps) * g   # Δ = √(u + ε) / √(v + ε) · g
        u[...] = rho * u + (1.0 - rho) * delta * delta          # u ← ρ u + (1 − ρ) Δ²
        p -= self.lr * delta                                    # θ ← θ − η Δ


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky 1992) as torch.optim.ASGD::

        θ_t = (1 − λ η_{t−1}) θ_{t−1} − η_{t−1} g_t              (η₀ = lr)
        θ̄_t = θ_t  (μ_{t−1} = 1)   |   θ̄_{t−1} + μ_{t−1} (θ_t − θ̄_{t−1})     (μ₀ = 1)
        η_t = lr / (1 + λ · lr · t)^α
        μ_t = 1 / max(1, t − t0)

    Defaults: lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6.  Buffer: "ax" (the average θ̄, the
    weights to evaluate with); scalar state "eta", "mu".
    """

    HYPER = ("lr", "lambd", "alpha", "t0", "weight_decay")
    SCALARS = ("eta", "mu")

    def __init__(self, params, grads, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
        super().__init__(params, grads, lr, weight_decay)
        self.lambd = _number("lambd", lambd, low=0.0)
        self.alpha = _number("alpha", alpha, low=0.0)
        self.t0 = _number("t0", t0)
        self.eta = self.lr
        self.mu = 1.0
        self._allocate()

    def _buffers(self):
        return ("ax",)

    def _update(self, p, g, s):
        ax = s["ax"]
        p *= 1.0 - self.lambd * self.eta                        # θ ← (1 − λη) θ      (decay)
        p -= self.eta * g                                       # θ ← θ − η g
        if self.mu != 1.0:
            ax += self.mu * (p - ax)                            # θ̄ ← θ̄ + μ (θ − θ̄)
        else:
            ax[...] = p                                         # θ̄ ← θ

    def _after_step(self):
        t = self.step_count
        self.eta = self.lr / (1.0 + self.lambd * self.lr * t) ** self.alpha   # η_t = lr / (1 + λ lr t)^α
        self.mu = 1.0 / max(1.0, t - self.t0)                   # μ_t = 1 / max(1, t − t0)


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": AdaDelta,
               "asgd": ASGD}


def names():
    """Registry names of the optimizers, sorted."""
    return sorted(_OPTIMIZERS)


def make(name, params, grads, **options):
    """``make("adam", model.params(), model.grads(), lr=1e-3)``: an optimizer by registry name."""
    if not isinstance(name, str) or name.lower() not in _OPTIMIZERS:
        raise KeyError(f"name: expected one of {names()}, got {name!r}")
    return _OPTIMIZERS[name.lower()](params, grads, **options)


# ---------------------------------------------------------------------------- gradient clipping
def clip_grad_norm(grads, max_norm):
    """Scale all gradients IN PLACE so that their global 2-norm is at most ``max_norm``, as
    torch.nn.utils.clip_grad_norm_::

        ‖g‖ = √(Σ_k Σ g_k²)                 (over every array of ``grads``)
        g_k ← g_k · min(1, max_norm / (‖g‖ + 1e-6))

    ``grads``: dict name -> array (or a list of arrays).  Returns ‖g‖ before clipping, a float."""
    arrays = list(grads.values()) if isinstance(grads, Mapping) else list(grads)
    if not arrays:
        raise ValueError("grads: expected at least one array, got none")
    for k, g in enumerate(arrays):
        if not _is_array(g):
            raise TypeError(f"grads: expected numpy or cupy arrays, got {type(g).__module__}.{type(g).__name__} "
                            f"at position {k}")
    max_norm = _number("max_norm", max_norm, low=0.0, low_open=True)
    xp = backend.xp_of(*arrays)
    total_sq = sum(xp.sum(g * g, dtype=xp.float64) for g in arrays)   # Σ_k Σ g_k²   (in float64, on the device)
    total = math.sqrt(total_sq.item())                               # ‖g‖
    coef = min(1.0, max_norm / (total + 1e-6))                       # min(1, max_norm / (‖g‖ + 1e-6))
    for g in arrays:
        g *= coef                                                    # g ← g · coef
    return total


# ---------------------------------------------------------------------------- schedules
class Schedule:
    """Base class of the learning-rate schedules: each sets ``optimizer.lr`` and keeps its own
    state in ``state_dict()`` (a flat dict of Python scalars)."""

    FIELDS = ()

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an npslim.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer

    def state_dict(self):
        d = {"schedule": type(self).__name__}
        d.update({k: getattr(self, k) for k in self.FIELDS})
        return d

    def load_state_dict(self, d):
        if not isinstance(d, Mapping):
            raise TypeError(f"d: expected a dict from state_dict(), got {type(d).__name__}")
        kind = _saved_scalar(d.get("schedule"))
        if kind != type(self).__name__:
            raise ValueError(f"d['schedule']: expected {type(self).__name__!r}, got {kind!r}")
        missing = [k for k in self.FIELDS if k not in d]
        if missing:
            raise KeyError(f"d: missing {missing}")
        for k in self.FIELDS:
            setattr(self, k, _saved_scalar(d[k]))

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS) + ")"


class StepLR(Schedule):
    """η_e = η_base · γ^⌊e / step_size⌋ after e calls of ``step()`` (one per epoch), as torch's StepLR."""

    FIELDS = ("base_lr", "step_size", "gamma", "epoch")

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        if isinstance(step_size, bool) or not isinstance(step_size, (int, np.integer)) or step_size < 1:
            raise ValueError(f"step_size: expected an int >= 1, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = _number("gamma", gamma, low=0.0)
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        """End of an epoch: set and return the new rate."""
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.epoch // self.step_size)   # η_base γ^⌊e/s⌋
        return self.optimizer.lr


class ExponentialLR(Schedule):
    """η_e = η_base · γ^e after e calls of ``step()``, as torch's ExponentialLR."""

    FIELDS = ("base_lr", "gamma", "epoch")

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = _number("gamma", gamma, low=0.0)
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        """End of an epoch: set and return the new rate."""
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** self.epoch                # η_base γ^e
        return self.optimizer.lr


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by ``factor`` when ``step(metric)`` has seen no improvement for more than
    ``patience`` epochs (torch's ReduceLROnPlateau rules)::

        better:  m < best·(1 − threshold)  (mode "min", "rel")     m < best − threshold  ("min", "abs")
                 m > best·(1 + threshold)  (mode "max", "rel")     m > best + threshold  ("max", "abs")
        bad epochs > patience  →  η ← max(η · factor, min_lr)  (if it changes by more than eps),
                                  then ``cooldown`` epochs in which bad epochs are not counted
    """

    FIELDS = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps",
              "best", "num_bad_epochs", "cooldown_counter", "epoch")

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        super().__init__(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode: expected 'rel' or 'abs', got {threshold_mode!r}")
        for arg, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{arg}: expected an int >= 0, got {value!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = _number("factor", factor, low=0.0, high=1.0, high_open=True)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.threshold = _number("threshold", threshold, low=0.0)
        self.min_lr = _number("min_lr", min_lr, low=0.0)
        self.eps = _number("eps", eps, low=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.epoch = 0

    def _is_better(self, m):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return m < (self.best * (1.0 - self.threshold) if rel else self.best - self.threshold)
        return m > (self.best * (1.0 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metric):
        """End of an epoch with its monitored ``metric`` (e.g. the validation loss); returns the rate."""
        m = _number("metric", _host_scalar("metric", metric))
        self.epoch += 1
        if self._is_better(m):
            self.best, self.num_bad_epochs = m, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.optimizer.lr * self.factor, self.min_lr)   # η ← max(η·factor, min_lr)
            if self.optimizer.lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.optimizer.lr


class LossDrivenLR(Schedule):
    """The loss-driven learning rate of Lu & Salem 2017 (paper 001, section III-A): "an exponential
    function of training loss, η = η₀·exp(C), where η₀ is the learning rate coefficient and C is the
    training loss" — a large rate while the loss is large, shrinking towards η₀ as it falls::

        η = η₀ · exp(C)

    ``update(loss)`` sets ``optimizer.lr`` from the current training loss and returns it; call it
    with the latest training loss before the steps it should govern (the paper tried η₀ = 1e-2 ...
    1e-5 with RMSprop).  The optimizer's rate is untouched until the first ``update``;
    ``last_loss`` is NaN until then.
    """

    FIELDS = ("eta0", "last_loss")

    def __init__(self, optimizer, eta0):
        super().__init__(optimizer)
        self.eta0 = _number("eta0", eta0, low=0.0, low_open=True)
        self.last_loss = math.nan

    def update(self, loss):
        """Set ``optimizer.lr = η₀·exp(loss)``; ``loss`` a finite scalar (or 1-element array)."""
        C = _number("loss", _host_scalar("loss", loss))
        if C > 700.0:
            raise ValueError(f"loss: η₀·exp({C}) overflows a float; expected a training loss below 700")
        self.optimizer.lr = self.eta0 * math.exp(C)                    # η = η₀ exp(C)
        self.last_loss = C
        return self.optimizer.lr
