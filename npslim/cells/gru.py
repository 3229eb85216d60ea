"""The gated recurrent unit (Cho et al. 2014), in the form of PyTorch's ``nn.GRU``.

Notation: MATH.md.  The three pre-activations are stacked in one block layout, named once::

    GATE_ORDER = ("r", "u", "z")      # reset gate, update gate (torch's z), candidate (torch's n)

``W`` (m, G·n), ``R`` (n, G·n) and ``b`` (G·n,) hold the blocks side by side in that order;
``params["W_u"]`` is the live view of the update-gate block (stored transposed, as every
weight: see :mod:`npslim.cells.base`).

The form implemented is PyTorch's: the reset gate multiplies the recurrent product *after*
it is formed, rᵗ ⊙ (R_z yᵗ⁻¹ + b_Rz), not R_z (rᵗ ⊙ yᵗ⁻¹) as in Cho et al.'s paper.  That is
why the candidate has a second bias ``b_Rz`` inside the reset product (torch's ``b_hn``):
without it the cell could not equal torch's exactly.

Inside the time loop the pre-activations of one step sit gate-major, ``s`` (G, B, n), and
leave as the activations [r u z]; ``Q`` keeps qᵗ = R_z yᵗ⁻¹ + b_Rz, which backward needs for
δr̄ and which forward has already formed.
"""
from __future__ import annotations

from ..activations import SIGMOID, TANH
from .registry import register
from .base import Cell
from .docformula import FROM_DOCSTRING


@register("gru")
class GRU(Cell):
    r"""GRU as in PyTorch's ``nn.GRU`` (reset gate applied after the recurrent product).  The
    optimised form of :func:`npslim.reference.gru_forward` (and its backward).

    Forward, for t = 0..T−1 (y⁻¹ the initial state); torch's names in brackets::

        r̄ᵗ = W_r xᵗ + R_r yᵗ⁻¹ + b_r            rᵗ = σ(r̄ᵗ)     reset gate   [r = σ(W_ir x + b_ir + W_hr h + b_hr)]
        ūᵗ = W_u xᵗ + R_u yᵗ⁻¹ + b_u            uᵗ = σ(ūᵗ)     update gate  [z = σ(W_iz x + b_iz + W_hz h + b_hz)]
        qᵗ = R_z yᵗ⁻¹ + b_Rz                                                [W_hn h + b_hn]
        z̄ᵗ = W_z xᵗ + b_z + rᵗ ⊙ qᵗ             zᵗ = tanh(z̄ᵗ)  candidate    [n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))]
        yᵗ = (1 − uᵗ) ⊙ zᵗ + uᵗ ⊙ yᵗ⁻¹                                      [h' = (1 − z) ⊙ n + z ⊙ h]

    Backward (Δᵗ = dY[t]; at t = T−1 the carried term is the final-state gradient)::

        δyᵗ = Δᵗ + R_rᵀ δr̄ᵗ⁺¹ + R_uᵀ δūᵗ⁺¹ + R_zᵀ δqᵗ⁺¹ + δyᵗ⁺¹ ⊙ uᵗ⁺¹
        δz̄ᵗ = δyᵗ ⊙ (1 − uᵗ) ⊙ tanh'(z̄ᵗ)
        δūᵗ = δyᵗ ⊙ (yᵗ⁻¹ − zᵗ) ⊙ σ'(ūᵗ)
        δqᵗ = δz̄ᵗ ⊙ rᵗ
        δr̄ᵗ = δz̄ᵗ ⊙ qᵗ ⊙ σ'(r̄ᵗ)
        δxᵗ = Wᵀ δāᵗ                           (ā = the stacked [r̄ ū z̄])
        δW = Σₜ ⟨δāᵗ, xᵗ⟩,  δb = Σₜ δāᵗ,
        δR = Σₜ ⟨δâᵗ, yᵗ⁻¹⟩,  δb_Rz = Σₜ δqᵗ     (â = the stacked [r̄ ū q]: the recurrent deltas)
        δy⁻¹ = R_rᵀ δr̄⁰ + R_uᵀ δū⁰ + R_zᵀ δq⁰ + δy⁰ ⊙ u⁰

    Compared with the vanilla LSTM: no cell state (the block output is the memory), no
    peepholes, no output gate and no output activation; the input and forget gates are
    coupled into one update gate (iᵗ ↔ 1 − uᵗ, fᵗ ↔ uᵗ, as in CIFG), and a reset gate scales
    the recurrent part of the candidate.

    Shapes (G = len(GATE_ORDER) = 3)::

        X  (T, B, m)     Y  (T, B, n)     state (y,): (B, n)
        W  (m, G·n)      R  (n, G·n)      b  (G·n,)     b_Rz  (n,)
        params: W_r W_u W_z (m, n), R_r R_u R_z (n, n), b_r b_u b_z (n,), b_Rz (n,)

    Parameters: 3(mn + n² + n) + n.

    PyTorch's biases map as b_r = b_ir + b_hr, b_u = b_iz + b_hz, b_z = b_in, b_Rz = b_hn
    (see :mod:`npslim.interop`).
    """

    GATE_ORDER = ("r", "u", "z")
    STATE = ("y",)
    PARAM_FORMULA = FROM_DOCSTRING   # the "Parameters:" line of the docstring

    def __init__(self, input_size, hidden_size, *, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype)
        self._build()

    # ------------------------------------------------------------------ parameters
    def _build(self):
        m, n = self.input_size, self.hidden_size
        self._k = {gate: k for k, gate in enumerate(self.GATE_ORDER)}
        self.W = self._add_gates("W", m)                                   # [W_r W_u W_z]  (m, 3n)
        self.R = self._add_gates("R", n)                                   # [R_r R_u R_z]  (n, 3n)
        self.b = self._add_gates("b")                                      # [b_r b_u b_z]  (3n,)
        self.b_Rz = self._add_param("b_Rz", self._uniform((n,)))

    @classmethod
    def param_count(cls, input_size, hidden_size, **options):
        m, n, G = input_size, hidden_size, len(cls.GATE_ORDER)
        return G * (m * n + n * n + n) + n

    # ------------------------------------------------------------------ forward
    def forward(self, X, state0=None):
        """X (T, B, m), state0 (y⁻¹,) or None -> Y (T, B, n), (yᵀ⁻¹,), cache."""
        xp = self.xp
        T, B = self._check_input(X)
        (y0,) = self._check_state("state0", state0, B, T)
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)
        kr, ku, kz = self._k["r"], self._k["u"], self._k["z"]

        # the input projection of all steps in one product:  W xᵗ + b  for every t
        XW = xp.matmul(X.reshape(T * B, m), self.W)
        XW += self.b
        S = xp.ascontiguousarray(XW.reshape(T, B, G, n).transpose(0, 2, 1, 3))   # (T, G, B, n)
        Yall = xp.empty((T + 1, B, n), dtype=self.dtype)     # Yall[t + 1] = yᵗ, Yall[0] = y⁻¹
        Q = xp.empty((T, B, n), dtype=self.dtype)            # qᵗ = R_z yᵗ⁻¹ + b_Rz
        Yall[0] = y0
        rec = xp.empty((B, G * n), dtype=self.dtype)
        tmp = xp.empty((B, n), dtype=self.dtype)

        for t in range(T):
            s, y_prev, y = S[t], Yall[t], Yall[t + 1]                      # s (G, B, n)
            xp.matmul(y_prev, self.R, out=rec)
            rec3 = rec.reshape(B, G, n).transpose(1, 0, 2)                 # R yᵗ⁻¹, gate-major view
            s[kr] += rec3[kr]                                              # r̄ᵗ = W_r xᵗ + R_r yᵗ⁻¹ + b_r
            r = SIGMOID.forward(s[kr], out=s[kr])                          # rᵗ = σ(r̄ᵗ)
            s[ku] += rec3[ku]                                              # ūᵗ = W_u xᵗ + R_u yᵗ⁻¹ + b_u
            u = SIGMOID.forward(s[ku], out=s[ku])                          # uᵗ = σ(ūᵗ)
            q = xp.add(rec3[kz], self.b_Rz, out=Q[t])                      # qᵗ = R_z yᵗ⁻¹ + b_Rz
            s[kz] += xp.multiply(r, q, out=tmp)                            # z̄ᵗ = W_z xᵗ + b_z + rᵗ ⊙ qᵗ
            z = TANH.forward(s[kz], out=s[kz])                             # zᵗ = tanh(z̄ᵗ)
            xp.subtract(y_prev, z, out=y); y *= u; y += z                  # yᵗ = (1 − uᵗ) ⊙ zᵗ + uᵗ ⊙ yᵗ⁻¹

        cache = {"X": X, "S": S, "Q": Q, "Y": Yall, "T": T, "B": B, "states": (Yall,)}
        return Yall[1:], (Yall[T],), cache

    def gate_activations(self, cache):
        """{"r", "u"} -> (T, B, n) views of the cached reset and update gate activations."""
        return {gate: cache["S"][:, self._k[gate]] for gate in ("r", "u")}

    # ------------------------------------------------------------------ backward
    def backward(self, dY, cache, dstate=None):
        """dY (T, B, n), cache, dstate (δyᵀ⁻¹,) or None -> dX (T, B, m), (δy⁻¹,)."""
        xp = self.xp
        T, B = cache["T"], cache["B"]
        self._check_output_grad(dY, T, B)
        (dyT,) = self._check_state("dstate", dstate, B)
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)
        kr, ku, kz = self._k["r"], self._k["u"], self._k["z"]
        S, Q, Yall = cache["S"], cache["Q"], cache["Y"]

        dA = xp.empty((T, B, G * n), dtype=self.dtype)    # δāᵗ = [δr̄ δū δz̄], for W, b and X
        dAR = xp.empty((T, B, G * n), dtype=self.dtype)   # δâᵗ = [δr̄ δū δq], for R and b_Rz
        d = xp.empty((G, B, n), dtype=self.dtype)          # δāᵗ of one step, gate-major
        dy = xp.empty((B, n), dtype=self.dtype)
        tmp = xp.empty((B, n), dtype=self.dtype)
        dy_next = dyT.copy()                               # what step t+1 sends to yᵗ (at t = T−1: the final-state gradient)
        R_T = xp.ascontiguousarray(self.R.T)               # (G·n, n), made once per call
        flush = self._subnormal_flush((dy_next,), (dA, dAR))   # subnormal deltas -> 0 (base.SubnormalFlush)

        for t in range(T - 1, -1, -1):
            s, y_prev, q = S[t], Yall[t], Q[t]
            r, u, z = s[kr], s[ku], s[kz]
            xp.add(dY[t], dy_next, out=dy)                                 # δyᵗ = Δᵗ + [from t+1]
            dzbar = TANH.grad(z, out=d[kz]); dzbar *= dy                   # δz̄ᵗ = δyᵗ ⊙ (1 − uᵗ) ⊙ tanh'(z̄ᵗ)
            dzbar *= xp.subtract(1.0, u, out=tmp)
            dubar = SIGMOID.grad(u, out=d[ku]); dubar *= dy                # δūᵗ = δyᵗ ⊙ (yᵗ⁻¹ − zᵗ) ⊙ σ'(ūᵗ)
            dubar *= xp.subtract(y_prev, z, out=tmp)
            drbar = SIGMOID.grad(r, out=d[kr]); drbar *= dzbar; drbar *= q # δr̄ᵗ = δz̄ᵗ ⊙ qᵗ ⊙ σ'(r̄ᵗ)
            dA[t].reshape(B, G, n)[...] = d.transpose(1, 0, 2)
            dAR[t] = dA[t]
            xp.multiply(dzbar, r, out=dAR[t].reshape(B, G, n)[:, kz])     # δqᵗ = δz̄ᵗ ⊙ rᵗ
            xp.matmul(dAR[t], R_T, out=dy_next)                            # R_rᵀ δr̄ᵗ + R_uᵀ δūᵗ + R_zᵀ δqᵗ
            dy_next += xp.multiply(dy, u, out=tmp)                         #   + δyᵗ ⊙ uᵗ, sent to step t−1
            flush(t)                                                       # every FLUSH_EVERY steps

        # each weight gradient as one product over all steps
        dA2 = dA.reshape(T * B, G * n)
        dAR2 = dAR.reshape(T * B, G * n)
        grad = self._grad_storage
        grad["W"] += xp.matmul(cache["X"].reshape(T * B, m).T, dA2)           # δW = Σₜ ⟨δāᵗ, xᵗ⟩
        grad["R"] += xp.matmul(Yall[:T].reshape(T * B, n).T, dAR2)            # δR = Σₜ ⟨δâᵗ, yᵗ⁻¹⟩
        grad["b"] += dA2.sum(axis=0)                                          # δb = Σₜ δāᵗ
        grad["b_Rz"] += dAR2.reshape(T * B, G, n)[:, kz].sum(axis=0)          # δb_Rz = Σₜ δqᵗ
        dX = xp.matmul(dA2, self.W.T).reshape(T, B, m)                    # δxᵗ = Wᵀ δāᵗ
        return flush.after_loop(dX), (dy_next,)
