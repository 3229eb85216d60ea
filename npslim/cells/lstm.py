"""Greff's vanilla LSTM with peepholes, and his eight one-change variants.

Notation: MATH.md (Greff et al., "LSTM: A Search Space Odyssey", section II).

The four pre-activations are stacked in one block layout, named once::

    GATE_ORDER = ("z", "i", "f", "o")      # block input, input gate, forget gate, output gate

``W`` (m, G·n), ``R`` (n, G·n) and ``b`` (G·n,) hold the gates side by side in that order;
``params["W_i"]`` is the live view of the input-gate block.  Row-vector convention: the code
computes ``x @ W``, so ``W_z`` here is Greff's ``W_zᵀ`` (shape (m, n)); likewise ``R_z``.

Inside the time loop the pre-activations of one step sit gate-major, ``s`` (G, B, n), so each
gate block is contiguous; the same array then holds the activations [z i f o] (every
derivative is formed from them in backward, never recomputed).

The variants are the vanilla cell with exactly one change, written as an override of the
one piece that changes (a gate, an activation, the recurrence), in forward and backward
side by side:

    nig   iᵗ = 1              nfg   fᵗ = 1             nog   oᵗ = 1
    niaf  g(x) = x            noaf  h(x) = x           cifg  fᵗ = 1 − iᵗ
    np    no peepholes        fgr   gates also see [i f o]ᵗ⁻¹ through nine n×n matrices
"""
from __future__ import annotations

from ..activations import IDENTITY, SIGMOID, TANH
from . import register
from .base import Cell

ONE = 1.0   # the value of a removed gate: multiplying by it is the identity


@register("lstm")
class LSTM(Cell):
    r"""Vanilla LSTM with peepholes (Greff et al. 2017), g = h = tanh.

    Forward, for t = 0..T−1 (y⁻¹, c⁻¹ the initial state)::

        z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z                  zᵗ = g(z̄ᵗ)
        īᵗ = W_i xᵗ + R_i yᵗ⁻¹ + p_i ⊙ cᵗ⁻¹ + b_i      iᵗ = σ(īᵗ)
        f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ + p_f ⊙ cᵗ⁻¹ + b_f      fᵗ = σ(f̄ᵗ)
        cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ
        ōᵗ = W_o xᵗ + R_o yᵗ⁻¹ + p_o ⊙ cᵗ + b_o        oᵗ = σ(ōᵗ)
        yᵗ = h(cᵗ) ⊙ oᵗ

    Backward (Δᵗ = dY[t]; every δ of step T is zero, or the final-state gradient)::

        δyᵗ = Δᵗ + R_zᵀ δz̄ᵗ⁺¹ + R_iᵀ δīᵗ⁺¹ + R_fᵀ δf̄ᵗ⁺¹ + R_oᵀ δōᵗ⁺¹
        δōᵗ = δyᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)
        δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + p_o ⊙ δōᵗ + p_i ⊙ δīᵗ⁺¹ + p_f ⊙ δf̄ᵗ⁺¹ + δcᵗ⁺¹ ⊙ fᵗ⁺¹
        δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)
        δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)
        δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
        δxᵗ = W δāᵗ       (ā = the stacked [z̄ ī f̄ ō])
        δW = Σₜ xᵗ δāᵗ,  δR = Σₜ yᵗ⁻¹ δāᵗ,  δb = Σₜ δāᵗ,
        δp_i = Σₜ cᵗ⁻¹ ⊙ δīᵗ,  δp_f = Σₜ cᵗ⁻¹ ⊙ δf̄ᵗ,  δp_o = Σₜ cᵗ ⊙ δōᵗ

    Shapes (G = len(GATE_ORDER) = 4)::

        X  (T, B, m)     Y  (T, B, n)     state (y, c): (B, n), (B, n)
        W  (m, G·n)      R  (n, G·n)      b  (G·n,)     p_i, p_f, p_o  (n,)
        params: W_z W_i W_f W_o (m, n), R_z R_i R_f R_o (n, n), b_z b_i b_f b_o (n,), p_i p_f p_o (n,)

    Parameters: 4(mn + n² + n) + 3n with peepholes, 4(mn + n² + n) without.

    Options: ``peepholes`` (default True).
    """

    GATE_ORDER = ("z", "i", "f", "o")
    STATE = ("y", "c")
    PARAM_FORMULA = "4(mn + n² + n) + 3n  (peepholes=False: 4(mn + n² + n))"
    g = TANH   # block-input activation
    h = TANH   # output activation

    def __init__(self, input_size, hidden_size, *, peepholes=True, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype)
        self.peepholes = bool(peepholes)
        self._build()

    # ------------------------------------------------------------------ parameters
    @property
    def PEEPHOLE_GATES(self):
        """Gates with a peephole: every sigmoid gate the cell has (when peepholes are on)."""
        return tuple(gate for gate in self.GATE_ORDER if gate != "z") if self.peepholes else ()

    def _build(self):
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)
        # one index per gate into the stacked layout; a removed gate has none
        self._k = {gate: k for k, gate in enumerate(self.GATE_ORDER)}
        self.W = self._add_stacked("W", self._uniform((m, G * n)), self.GATE_ORDER)
        self.R = self._add_stacked("R", self._uniform((n, G * n)), self.GATE_ORDER)
        self.b = self._add_stacked("b", self._uniform((G * n,)), self.GATE_ORDER)
        self.p = {gate: self._add_param(f"p_{gate}", self._uniform((n,))) for gate in self.PEEPHOLE_GATES}

    def options(self):
        return {} if self.peepholes else {"peepholes": False}

    @classmethod
    def param_count(cls, input_size, hidden_size, peepholes=True, **options):
        m, n, G = input_size, hidden_size, len(cls.GATE_ORDER)
        return G * (m * n + n * n + n) + (G - 1) * n * bool(peepholes)

    # ------------------------------------------------------------------ forward
    def forward(self, X, state0=None):
        """X (T, B, m), state0 (y⁻¹, c⁻¹) or None -> Y (T, B, n), (yᵀ⁻¹, cᵀ⁻¹), cache."""
        xp = self.xp
        T, B = self._check_input(X)
        y0, c0 = self._check_state("state0", state0, B, T)
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)

        # the input projection of all steps in one product:  āᵗ = W xᵗ + b  for every t
        XW = xp.matmul(X.reshape(T * B, m), self.W)
        XW += self.b
        S = xp.ascontiguousarray(XW.reshape(T, B, G, n).transpose(0, 2, 1, 3))   # (T, G, B, n)
        Yall = xp.empty((T + 1, B, n), dtype=self.dtype)     # Yall[t + 1] = yᵗ, Yall[0] = y⁻¹
        Call = xp.empty((T + 1, B, n), dtype=self.dtype)     # Call[t + 1] = cᵗ, Call[0] = c⁻¹
        Hc = xp.empty((T, B, n), dtype=self.dtype)           # h(cᵗ)
        Yall[0] = y0
        Call[0] = c0
        rec = xp.empty((B, G * n), dtype=self.dtype)
        tmp = xp.empty((B, n), dtype=self.dtype)

        for t in range(T):
            s = S[t]                                                       # (G, B, n)
            xp.matmul(Yall[t], self.R, out=rec)
            s += rec.reshape(B, G, n).transpose(1, 0, 2)                   # āᵗ += R yᵗ⁻¹
            self._step_forward(s, Call[t], Call[t + 1], Hc[t], Yall[t + 1], tmp)

        cache = {"X": X, "S": S, "Y": Yall, "C": Call, "Hc": Hc, "T": T, "B": B}
        return Yall[1:], (Yall[T], Call[T]), cache

    def _step_forward(self, s, c_prev, c, hc, y, tmp):
        """One step.  ``s`` (G, B, n) enters as the pre-activations and leaves as the activations."""
        xp = self.xp
        z = self.g.forward(s[self._k["z"]], out=s[self._k["z"]])          # zᵗ = g(z̄ᵗ)
        i = self.input_gate(s, c_prev, tmp)                                # iᵗ = σ(īᵗ + p_i ⊙ cᵗ⁻¹)
        f = self.forget_gate(s, c_prev, i, tmp)                            # fᵗ = σ(f̄ᵗ + p_f ⊙ cᵗ⁻¹)
        xp.multiply(z, i, out=c); c += xp.multiply(c_prev, f, out=tmp)     # cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ
        o = self.output_gate(s, c, tmp)                                    # oᵗ = σ(ōᵗ + p_o ⊙ cᵗ)
        xp.multiply(self.h.forward(c, out=hc), o, out=y)                   # yᵗ = h(cᵗ) ⊙ oᵗ

    def _sigmoid_gate(self, gate, s, c_peep, tmp):
        """σ(ḡ + p_g ⊙ c_peep), computed in place in the gate's block of ``s``."""
        gbar = s[self._k[gate]]
        if gate in self.p:
            gbar += self.xp.multiply(self.p[gate], c_peep, out=tmp)
        return SIGMOID.forward(gbar, out=gbar)

    def input_gate(self, s, c_prev, tmp):
        """iᵗ = σ(īᵗ + p_i ⊙ cᵗ⁻¹)"""
        return self._sigmoid_gate("i", s, c_prev, tmp)

    def forget_gate(self, s, c_prev, i, tmp):
        """fᵗ = σ(f̄ᵗ + p_f ⊙ cᵗ⁻¹)"""
        return self._sigmoid_gate("f", s, c_prev, tmp)

    def output_gate(self, s, c, tmp):
        """oᵗ = σ(ōᵗ + p_o ⊙ cᵗ)"""
        return self._sigmoid_gate("o", s, c, tmp)

    def gate_activations(self, cache):
        """{"i", "f", "o"} -> (T, B, n) views of the cached gate activations (the gates the cell has)."""
        return {gate: cache["S"][:, k] for gate, k in self._k.items() if gate != "z"}

    # ------------------------------------------------------------------ backward
    def backward(self, dY, cache, dstate=None):
        """dY (T, B, n), cache, dstate (δyᵀ⁻¹, δcᵀ⁻¹) or None -> dX (T, B, m), (δy⁻¹, δc⁻¹)."""
        xp = self.xp
        T, B = cache["T"], cache["B"]
        self._check_output_grad(dY, T, B)
        dyT, dcT = self._check_state("dstate", dstate, B)
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)
        S, Yall, Call, Hc = cache["S"], cache["Y"], cache["C"], cache["Hc"]

        dA = xp.empty((T, B, G * n), dtype=self.dtype)    # δāᵗ, the stacked pre-activation deltas
        d = xp.empty((G, B, n), dtype=self.dtype)          # δāᵗ of one step, gate-major
        dy = xp.empty((B, n), dtype=self.dtype)
        dc = xp.empty((B, n), dtype=self.dtype)
        tmp = xp.empty((B, n), dtype=self.dtype)
        dy_next = dyT.copy()                               # Rᵀ δāᵗ⁺¹ (at t = T−1: the final-state gradient)
        dc_next = dcT.copy()                               # what step t+1 sends back to cᵗ
        R_T = xp.ascontiguousarray(self.R.T)               # (G·n, n), made once per call

        for t in range(T - 1, -1, -1):
            xp.add(dY[t], dy_next, out=dy)                                 # δyᵗ = Δᵗ + Rᵀ δāᵗ⁺¹
            self._step_backward(d, dy, dc, dc_next, S[t], Call[t], Call[t + 1], Hc[t], tmp)
            dA[t].reshape(B, G, n)[...] = d.transpose(1, 0, 2)
            xp.matmul(dA[t], R_T, out=dy_next)                             # Rᵀ δāᵗ, sent to step t−1

        # each weight gradient as one product over all steps
        dA2 = dA.reshape(T * B, G * n)
        g = self._grad_storage
        g["W"] += xp.matmul(cache["X"].reshape(T * B, m).T, dA2)           # δW = Σₜ xᵗ δāᵗ
        g["R"] += xp.matmul(Yall[:T].reshape(T * B, n).T, dA2)             # δR = Σₜ yᵗ⁻¹ δāᵗ
        g["b"] += dA2.sum(axis=0)                                          # δb = Σₜ δāᵗ
        dA4 = dA.reshape(T, B, G, n)
        for gate in self.p:                                                # δp_g = Σₜ c ⊙ δḡᵗ
            c_peep = Call[1:] if gate == "o" else Call[:T]                 # o peeps at cᵗ, i and f at cᵗ⁻¹
            self.grads[f"p_{gate}"] += xp.einsum("tbn,tbn->n", c_peep, dA4[:, :, self._k[gate]])
        dX = xp.matmul(dA2, self.W.T).reshape(T, B, m)                    # δxᵗ = W δāᵗ
        return dX, (dy_next, dc_next)

    def _step_backward(self, d, dy, dc, dc_next, s, c_prev, c, hc, tmp):
        """One step back.  Writes δāᵗ into ``d`` (G, B, n) and δcᵗ into ``dc``; ``dc_next`` enters as
        what step t+1 sent to cᵗ and leaves as what step t sends to cᵗ⁻¹."""
        xp = self.xp
        z, i, f, o = self._gates(s)
        self.output_gate_backward(d, dy, hc, o, tmp)                       # δōᵗ = δyᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)
        self.h.grad(hc, out=dc); dc *= dy; dc *= o; dc += dc_next          # δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + [from t+1]
        self._peephole_backward("o", dc, d, tmp)                              #      + p_o ⊙ δōᵗ
        self.forget_gate_backward(d, dc, c_prev, f, tmp)                   # δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)
        self.input_gate_backward(d, dc, z, i, tmp)                         # δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)
        dzbar = d[self._k["z"]]
        self.g.grad(z, out=dzbar); dzbar *= dc; dzbar *= i                 # δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
        xp.multiply(dc, f, out=dc_next)                                    # to cᵗ⁻¹: δcᵗ ⊙ fᵗ
        self._peephole_backward("i", dc_next, d, tmp)                         #          + p_i ⊙ δīᵗ
        self._peephole_backward("f", dc_next, d, tmp)                         #          + p_f ⊙ δf̄ᵗ

    def _gates(self, s):
        """The activations (z, i, f, o) of one step, ONE for a gate the cell does not have."""
        return tuple(s[self._k[gate]] if gate in self._k else ONE for gate in ("z", "i", "f", "o"))

    def _sigmoid_gate_backward(self, gate, d, dgate, gate_value, tmp):
        """δḡ = (gradient at the gate value) ⊙ σ'(ḡ), written into the gate's block of ``d``."""
        dgbar = d[self._k[gate]]
        SIGMOID.grad(gate_value, out=dgbar)
        dgbar *= dgate
        return dgbar

    def _peephole_backward(self, gate, acc, d, tmp):
        """acc += p_g ⊙ δḡ, for a gate with a peephole."""
        if gate in self.p:
            acc += self.xp.multiply(self.p[gate], d[self._k[gate]], out=tmp)

    def output_gate_backward(self, d, dy, hc, o, tmp):
        """δōᵗ = δyᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)"""
        self._sigmoid_gate_backward("o", d, self.xp.multiply(dy, hc, out=tmp), o, tmp)

    def forget_gate_backward(self, d, dc, c_prev, f, tmp):
        """δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)"""
        self._sigmoid_gate_backward("f", d, self.xp.multiply(dc, c_prev, out=tmp), f, tmp)

    def input_gate_backward(self, d, dc, z, i, tmp):
        """δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)"""
        self._sigmoid_gate_backward("i", d, self.xp.multiply(dc, z, out=tmp), i, tmp)
