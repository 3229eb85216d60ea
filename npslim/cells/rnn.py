"""The Elman RNN: one affine map and one activation, no gates and no cell state.

Notation: MATH.md; weights stored transposed (see :mod:`npslim.cells.base`): ``W`` (m, n),
``R`` (n, n).

The whole sequence's input projection ``W xᵗ + b`` is one product before the loop; the loop
adds ``R yᵗ⁻¹`` and applies φ in place in the output buffer, so the cache holds yᵗ only and
φ' is formed from it in backward (tanh' = 1 − y², σ' = y(1 − y), relu' = [y > 0]).
"""
from __future__ import annotations

from .. import activations
from .registry import register
from .base import Cell
from .docformula import FROM_DOCSTRING

ACTIVATIONS = ("tanh", "sigmoid", "relu")   # the choices of φ


@register("rnn")
class RNN(Cell):
    r"""Elman RNN, yᵗ = φ(W xᵗ + R yᵗ⁻¹ + b), φ ∈ {tanh (default), sigmoid, relu}.  The optimised
    form of :func:`npslim.reference.rnn_forward` (and its backward).

    Forward, for t = 0..T−1 (y⁻¹ the initial state)::

        āᵗ = W xᵗ + R yᵗ⁻¹ + b
        yᵗ = φ(āᵗ)

    Backward (Δᵗ = dY[t]; at t = T−1 the term Rᵀ δāᵀ is the final-state gradient)::

        δyᵗ = Δᵗ + Rᵀ δāᵗ⁺¹
        δāᵗ = δyᵗ ⊙ φ'(āᵗ)
        δxᵗ = Wᵀ δāᵗ
        δW = Σₜ ⟨δāᵗ, xᵗ⟩,  δR = Σₜ ⟨δāᵗ, yᵗ⁻¹⟩,  δb = Σₜ δāᵗ,   δy⁻¹ = Rᵀ δā⁰

    Compared with the vanilla LSTM: no cell state, no gates, no peepholes; the block output
    is the activation of the block input itself (yᵗ = g(z̄ᵗ) with g = φ, iᵗ = oᵗ = 1, no c).

    Shapes::

        X  (T, B, m)     Y  (T, B, n)     state (y,): (B, n)
        W  (m, n)        R  (n, n)        b  (n,)

    Parameters: mn + n² + n.

    PyTorch's ``nn.RNN`` has two biases, ``b_ih`` and ``b_hh``, that always appear as a sum:
    this cell has the one ``b`` = b_ih + b_hh (see :mod:`npslim.interop`).

    Options: ``activation`` (default ``"tanh"``).
    """

    STATE = ("y",)
    PARAM_FORMULA = FROM_DOCSTRING   # the "Parameters:" line of the docstring

    def __init__(self, input_size, hidden_size, *, activation="tanh", seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.activation, self.phi = activation, activations.get(activation)
        self._build()

    # ------------------------------------------------------------------ parameters
    def _build(self):
        m, n = self.input_size, self.hidden_size
        self.W = self._add_param("W", self._uniform((m, n)))
        self.R = self._add_param("R", self._uniform((n, n)))
        self.b = self._add_param("b", self._uniform((n,)))

    @classmethod
    def param_count(cls, input_size, hidden_size, **options):
        m, n = input_size, hidden_size
        return m * n + n * n + n

    # ------------------------------------------------------------------ forward
    def forward(self, X, state0=None):
        """X (T, B, m), state0 (y⁻¹,) or None -> Y (T, B, n), (yᵀ⁻¹,), cache."""
        xp = self.xp
        T, B = self._check_input(X)
        (y0,) = self._check_state("state0", state0, B, T)
        m, n = self.input_size, self.hidden_size

        # the input projection of all steps in one product:  W xᵗ + b  for every t
        XW = xp.matmul(X.reshape(T * B, m), self.W).reshape(T, B, n)
        XW += self.b
        Yall = xp.empty((T + 1, B, n), dtype=self.dtype)     # Yall[t + 1] = yᵗ, Yall[0] = y⁻¹
        Yall[0] = y0

        for t in range(T):
            a = Yall[t + 1]
            xp.matmul(Yall[t], self.R, out=a)                              # R yᵗ⁻¹
            a += XW[t]                                                     # āᵗ = W xᵗ + R yᵗ⁻¹ + b
            self.phi.forward(a, out=a)                                     # yᵗ = φ(āᵗ)

        cache = {"X": X, "Y": Yall, "T": T, "B": B, "states": (Yall,)}
        return Yall[1:], (Yall[T],), cache

    # ------------------------------------------------------------------ backward
    def backward(self, dY, cache, dstate=None):
        """dY (T, B, n), cache, dstate (δyᵀ⁻¹,) or None -> dX (T, B, m), (δy⁻¹,)."""
        xp = self.xp
        T, B = cache["T"], cache["B"]
        self._check_output_grad(dY, T, B)
        (dyT,) = self._check_state("dstate", dstate, B)
        m, n = self.input_size, self.hidden_size
        Yall = cache["Y"]

        dA = xp.empty((T, B, n), dtype=self.dtype)         # δāᵗ
        dy = xp.empty((B, n), dtype=self.dtype)
        dy_next = dyT.copy()                               # Rᵀ δāᵗ⁺¹ (at t = T−1: the final-state gradient)
        R_T = xp.ascontiguousarray(self.R.T)               # (n, n), made once per call
        flush = self._subnormal_flush((dy_next,), (dA,))   # subnormal deltas -> 0 (base.SubnormalFlush)

        for t in range(T - 1, -1, -1):
            xp.add(dY[t], dy_next, out=dy)                                 # δyᵗ = Δᵗ + Rᵀ δāᵗ⁺¹
            da = self.phi.grad(Yall[t + 1], out=dA[t]); da *= dy           # δāᵗ = δyᵗ ⊙ φ'(āᵗ)
            xp.matmul(da, R_T, out=dy_next)                                # Rᵀ δāᵗ, sent to step t−1
            flush(t)                                                       # every FLUSH_EVERY steps

        # each weight gradient as one product over all steps
        dA2 = dA.reshape(T * B, n)
        grad = self._grad_storage
        grad["W"] += xp.matmul(cache["X"].reshape(T * B, m).T, dA2)           # δW = Σₜ ⟨δāᵗ, xᵗ⟩
        grad["R"] += xp.matmul(Yall[:T].reshape(T * B, n).T, dA2)             # δR = Σₜ ⟨δāᵗ, yᵗ⁻¹⟩
        grad["b"] += dA2.sum(axis=0)                                          # δb = Σₜ δāᵗ
        dX = xp.matmul(dA2, self.W.T).reshape(T, B, m)                    # δxᵗ = Wᵀ δāᵗ
        return flush.after_loop(dX), (dy_next,)
