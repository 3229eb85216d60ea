"""The optimizers: the :class:`Optimizer` base (weight decay, state by parameter name,
``state_dict`` / ``load_state_dict``) and the six update rules, PyTorch's (see :mod:`npslim.optim`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..validate import flag as _flag, integer, number as _number


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
        integer("d['step']", step, 0)
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
