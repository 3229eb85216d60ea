"""Greff's vanilla LSTM with peepholes, and his eight one-change variants.

Notation: MATH.md (Greff et al., "LSTM: A Search Space Odyssey", section II).

The four pre-activations are stacked in one block layout, named once::

    GATE_ORDER = ("z", "i", "f", "o")      # block input, input gate, forget gate, output gate

``W`` (m, G·n), ``R`` (n, G·n) and ``b`` (G·n,) hold the gates side by side in that order;
``params["W_i"]`` is the live view of the input-gate block.  Row-vector convention: the code
computes ``x @ W``, so ``W_z`` here is Greff's ``W_zᵀ`` (shape (m, n)); likewise ``R_z``.

Inside the time loop the pre-activations of one step sit gate-major, ``s`` (slots, B, n), so
each gate block is contiguous; the same array then holds the activations [z i f o] (every
derivative is formed from them in backward, never recomputed).  The slots are GATE_ORDER
followed by DERIVED: activations without parameters of their own, cached for the backward
pass (CIFG's fᵗ = 1 − iᵗ).  ``self._k`` maps a slot name to its index; a removed gate has
none, and its hook returns ``ONE``.

The variants are the vanilla cell with exactly one change, written as an override of the
one piece that changes (a gate, an activation, the recurrence), in forward and backward
side by side:

    nig   iᵗ = 1              nfg   fᵗ = 1             nog   oᵗ = 1
    niaf  g(x) = x            noaf  h(x) = x           cifg  fᵗ = 1 − iᵗ
    np    no peepholes        fgr   gates also see [i f o]ᵗ⁻¹ through nine n×n matrices

``LSTM.forward`` and ``LSTM.backward`` are the only LSTM loops in npslim: every LSTM-family
cell (here, slim.py, projection.py, binary.py) changes them through these hooks, whose
defaults are the vanilla cell (u = the block output h(cᵗ) ⊙ oᵗ, the vanilla yᵗ)::

    before the loop     _fill_preactivations(X, S)   āᵗ = W xᵗ + b, every step in one product
                                                     [slim: fewer blocks; flstm, glstm; g2lstm adds its noise]
                        _forward_work, _backward_work   buffers, transposed weights (once per call)
    per step, forward   _recurrent_forward           āᵗ += R yᵗ⁻¹          [slim, lstm_c6, flstm, glstm; fgr + gᵗ⁻¹ R_g]
                        input_gate, forget_gate, output_gate, g, h        (in _step_forward)
                        _output_forward              yᵗ = uᵗ (in place)    [lstmp: yᵗ = P uᵗ; fgr: gᵗ = [i f o]ᵗ]
    per step, backward  _output_backward             δuᵗ = δyᵗ             [lstmp: Pᵀ δyᵗ; fgr: δgᵗ into the gate deltas]
                        *_gate_backward, g.grad, h.grad                   (in _step_backward)
                        _recurrent_backward          δyᵗ⁻¹ = Rᵀ δāᵗ        [slim, lstm_c6, flstm, glstm; fgr + δgᵗ⁻¹]
    after the loop      _weight_grads(cache, dA, work)   δW, δR, δb, δp, one product each; returns δX
                                                     [slim, flstm, glstm; lstmp + δP; fgr + δR_g]

Every state array (``STATE``; FGR adds ``g``) is kept over time as ``(T + 1, B, w)``, [0] the
initial state and [t + 1] the state after step t, so a variant that carries more than (y, c)
needs no code of its own for the initial and the final state.
"""
from __future__ import annotations

from ..activations import IDENTITY, SIGMOID, TANH
from .registry import register
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
        δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)
        δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)
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
    #: activations without parameters of their own, cached in the step array after the gates
    DERIVED = ()
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
        m, n = self.input_size, self.hidden_size
        # one index per slot of the step array (the gates, then DERIVED); a removed gate has none
        self._k = {gate: k for k, gate in enumerate(self.GATE_ORDER + self.DERIVED)}
        self.W = self._add_gates("W", m)                                   # [W_z W_i W_f W_o]  (m, G·n)
        self.R = self._add_gates("R", n)                                   # [R_z R_i R_f R_o]  (n, G·n)
        self.b = self._add_gates("b")                                      # [b_z b_i b_f b_o]  (G·n,)
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
        state0 = self._check_state("state0", state0, B, T)
        n = self.hidden_size

        S = xp.empty((T, len(self._k), B, n), dtype=self.dtype)             # (T, slots, B, n)
        saved = self._fill_preactivations(X, S)                            # āᵗ = W xᵗ + b, every step in one product
        # every state array over time: [0] the initial state, [t + 1] the state after step t
        states = tuple(xp.empty((T + 1, B, w), dtype=self.dtype) for w in self.state_sizes())
        for a, a0 in zip(states, state0):
            a[0] = a0
        Call = states[1]                                     # Call[t + 1] = cᵗ
        Hc = xp.empty((T, B, n), dtype=self.dtype)           # h(cᵗ)
        work = {**saved, **self._forward_work(T, B, states)}  # what the loop's hooks read and write
        U = work["U"]                                        # U[t] = uᵗ = h(cᵗ) ⊙ oᵗ: here yᵗ itself
        tmp = xp.empty((B, n), dtype=self.dtype)

        for t in range(T):
            s = S[t]                                                       # (slots, B, n)
            self._recurrent_forward(t, s, states, work)                    # āᵗ += R yᵗ⁻¹
            self._step_forward(s, Call[t], Call[t + 1], Hc[t], U[t], tmp)  # uᵗ = h(cᵗ) ⊙ oᵗ
            self._output_forward(t, s, states, work)                       # yᵗ = uᵗ

        cache = {"X": X, "S": S, "Y": states[0], "C": Call, "Hc": Hc, "U": U, "T": T, "B": B,
                 "states": states, **saved}
        return states[0][1:], tuple(a[T] for a in states), cache

    def _fill_preactivations(self, X, S):
        """S[:, :G] ← āᵗ = W xᵗ + b for every step, in one product.  Returns what else the cache
        keeps and the loop's hooks read (nothing here)."""
        T, B, m = X.shape
        n, G = self.hidden_size, len(self.GATE_ORDER)
        XW = self.xp.matmul(X.reshape(T * B, m), self.W)                  # W xᵗ for every t
        XW += self.b                                                       #      + b
        S[:, :G] = XW.reshape(T, B, G, n).transpose(0, 2, 1, 3)
        return {}

    def _forward_work(self, T, B, states):
        """The forward loop's buffers: ``U`` (T, B, ·) receives uᵗ = h(cᵗ) ⊙ oᵗ (here the output yᵗ
        itself, Y[1:]); ``rec`` (B, G·n) takes the recurrent product."""
        G, n = len(self.GATE_ORDER), self.hidden_size
        return {"U": states[0][1:], "rec": self.xp.empty((B, G * n), dtype=self.dtype)}

    def _recurrent_forward(self, t, s, states, work):
        """āᵗ += R yᵗ⁻¹  (one product; over the blocks R has: all of them here)"""
        rec = self.xp.matmul(states[0][t], self.R, out=work["rec"])       # R yᵗ⁻¹   (B, k·n)
        B, n = rec.shape[0], self.hidden_size
        s[:rec.shape[1] // n] += rec.reshape(B, -1, n).transpose(1, 0, 2)  # āᵗ += R yᵗ⁻¹

    def _output_forward(self, t, s, states, work):
        """yᵗ = uᵗ: the step wrote it in place (nothing here); a cell that maps uᵗ or carries
        more state writes it into ``states[k][t + 1]``."""

    def _step_forward(self, s, c_prev, c, hc, y, tmp):
        """One step.  ``s`` (slots, B, n) enters as the pre-activations and leaves as the activations."""
        xp = self.xp
        z = self.g.forward(s[self._k["z"]], out=s[self._k["z"]])          # zᵗ = g(z̄ᵗ)
        i = self.input_gate(s, c_prev, tmp)                                # iᵗ = σ(īᵗ + p_i ⊙ cᵗ⁻¹)
        f = self.forget_gate(s, c_prev, i, tmp)                            # fᵗ = σ(f̄ᵗ + p_f ⊙ cᵗ⁻¹)
        xp.add(self._gated(z, i, c), self._gated(c_prev, f, tmp), out=c)   # cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ
        o = self.output_gate(s, c, tmp)                                    # oᵗ = σ(ōᵗ + p_o ⊙ cᵗ)
        xp.multiply(self.h.forward(c, out=hc), o, out=y)                   # yᵗ = h(cᵗ) ⊙ oᵗ

    def _gated(self, a, gate, out):
        """a ⊙ gate, into ``out``.  A removed gate (ONE) costs nothing: ``a`` itself comes back."""
        if gate is ONE:
            return a
        return self.xp.multiply(a, gate, out=out)

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
        dstate = self._check_state("dstate", dstate, B)
        n, G = self.hidden_size, len(self.GATE_ORDER)
        S, Call, Hc = cache["S"], cache["C"], cache["Hc"]

        dA = xp.empty((T, B, G * n), dtype=self.dtype)    # δāᵗ, the stacked pre-activation deltas
        d = xp.empty((G, B, n), dtype=self.dtype)          # δāᵗ of one step, gate-major
        dy = xp.empty((B, self.output_size), dtype=self.dtype)
        dc = xp.empty((B, n), dtype=self.dtype)
        tmp = xp.empty((B, n), dtype=self.dtype)
        # what step t+1 sends back to each state array of step t (at t = T−1: the final-state gradient)
        dnext = tuple(a.copy() for a in dstate)
        dy_next, dc_next = dnext[0], dnext[1]              # Rᵀ δāᵗ⁺¹;  what step t+1 sends to cᵗ
        work = self._backward_work(T, B)                   # transposed weights, made once per call
        flush = self._subnormal_flush(dnext, (dA,))        # subnormal deltas -> 0 (base.SubnormalFlush)

        for t in range(T - 1, -1, -1):
            xp.add(dY[t], dy_next, out=dy)                                 # δyᵗ = Δᵗ + Rᵀ δāᵗ⁺¹
            du = self._output_backward(t, dy, d, dnext, work)              # δuᵗ = δyᵗ
            self._step_backward(d, du, dc, dc_next, S[t], Call[t], Call[t + 1], Hc[t], tmp)
            dA[t].reshape(B, G, n)[...] = d.transpose(1, 0, 2)
            self._recurrent_backward(t, d, dA[t], dnext, work)             # Rᵀ δāᵗ, sent to step t−1
            flush(t)                                                       # every FLUSH_EVERY steps

        dX = self._weight_grads(cache, dA, work)                           # one product per weight; δX
        return flush.after_loop(dX), dnext

    def _backward_work(self, T, B):
        """Transposed weights and buffers for the backward loop: ``R_T`` = Rᵀ, contiguous."""
        return {"R_T": self.xp.ascontiguousarray(self.R.T)}               # (k·n, n)

    def _output_backward(self, t, dy, d, dnext, work):
        """δuᵗ, the gradient at the block output uᵗ, from δyᵗ: δuᵗ = δyᵗ (yᵗ = uᵗ).  A cell that
        carries more state puts its gradient (``dnext[k]``, k ≥ 2) into ``d`` here."""
        return dy

    def _recurrent_backward(self, t, d, da, dnext, work):
        """δyᵗ⁻¹ = Rᵀ δāᵗ (over the blocks R has: all of them here), into ``dnext[0]``; ``da`` is
        δāᵗ (B, G·n), ``d`` the same gate-major (G, B, n)."""
        R_T = work["R_T"]
        self.xp.matmul(da[:, :R_T.shape[0]], R_T, out=dnext[0])          # Rᵀ δāᵗ, sent to step t−1

    def _weight_grads(self, cache, dA, work):
        """Every weight gradient as one product over all steps (after the loop); returns δX."""
        xp = self.xp
        T, B = cache["T"], cache["B"]
        m, G, n = self.input_size, len(self.GATE_ORDER), self.hidden_size
        dA2 = dA.reshape(T * B, G * n)
        g = self._grad_storage
        g["W"] += xp.matmul(cache["X"].reshape(T * B, m).T, dA2)           # δW = Σₜ xᵗ δāᵗ
        g["R"] += xp.matmul(cache["Y"][:T].reshape(T * B, -1).T, dA2)      # δR = Σₜ yᵗ⁻¹ δāᵗ
        g["b"] += dA2.sum(axis=0)                                          # δb = Σₜ δāᵗ
        dA4, Call = dA.reshape(T, B, G, n), cache["C"]
        for gate in self.p:                                                # δp_g = Σₜ c ⊙ δḡᵗ
            c_peep = Call[1:] if gate == "o" else Call[:T]                 # o peeps at cᵗ, i and f at cᵗ⁻¹
            self.grads[f"p_{gate}"] += xp.einsum("tbn,tbn->n", c_peep, dA4[:, :, self._k[gate]])
        return xp.matmul(dA2, self.W.T).reshape(T, B, m)                   # δxᵗ = W δāᵗ

    def _step_backward(self, d, dy, dc, dc_next, s, c_prev, c, hc, tmp):
        """One step back.  Writes δāᵗ into ``d`` (G, B, n) and δcᵗ into ``dc``; ``dc_next`` enters as
        what step t+1 sent to cᵗ and leaves as what step t sends to cᵗ⁻¹.  δīᵗ is formed before
        δf̄ᵗ (CIFG's forget path adds into δīᵗ)."""
        xp = self.xp
        z, i, f, o = self._gates(s)
        self.output_gate_backward(d, dy, hc, o, tmp)                       # δōᵗ = δyᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)
        self.h.grad(hc, out=dc); dc *= dy; self._gated(dc, o, out=dc)      # δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ)
        dc += dc_next                                                      #      + [from t+1]
        self._peephole_backward("o", dc, d, tmp)                           #      + p_o ⊙ δōᵗ
        self.input_gate_backward(d, dc, z, i, tmp)                         # δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)
        self.forget_gate_backward(d, dc, c_prev, f, tmp)                   # δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)
        dzbar = d[self._k["z"]]
        self.g.grad(z, out=dzbar); dzbar *= dc; self._gated(dzbar, i, out=dzbar)   # δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
        xp.multiply(dc, f, out=dc_next)                                    # to cᵗ⁻¹: δcᵗ ⊙ fᵗ
        self._peephole_backward("i", dc_next, d, tmp)                      #          + p_i ⊙ δīᵗ
        self._peephole_backward("f", dc_next, d, tmp)                      #          + p_f ⊙ δf̄ᵗ

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


# ====================================================================== Greff's eight variants
@register("nig")
class NIG(LSTM):
    r"""NIG, no input gate (Greff et al. 2017): the vanilla LSTM with iᵗ = 1.

    The change, forward and backward (everything else is the vanilla LSTM's)::

        iᵗ = 1                             (was σ(W_i xᵗ + R_i yᵗ⁻¹ + p_i ⊙ cᵗ⁻¹ + b_i))
        cᵗ = zᵗ + cᵗ⁻¹ ⊙ fᵗ
        δz̄ᵗ = δcᵗ ⊙ g'(z̄ᵗ)                 (no ⊙ iᵗ)
        δīᵗ: none;  δyᵗ, δcᵗ, δxᵗ lose their R_iᵀ δīᵗ⁺¹, p_i ⊙ δīᵗ⁺¹, W_iᵀ δīᵗ terms

    Leaves the backward pass: δī, W_i, R_i, b_i, p_i (not stored: GATE_ORDER has no "i", so
    W, R, b are 3n wide and every product shrinks by a quarter).

    Shapes (G = 3)::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, 3n) = [W_z W_f W_o]   R (n, 3n) = [R_z R_f R_o]   b (3n,)   p_f, p_o (n,)

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "f", "o")
    PARAM_FORMULA = "3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n))"

    def input_gate(self, s, c_prev, tmp):
        """iᵗ = 1"""
        return ONE

    def input_gate_backward(self, d, dc, z, i, tmp):
        """no δīᵗ: the gate is gone"""


@register("nfg")
class NFG(LSTM):
    r"""NFG, no forget gate (Greff et al. 2017): the vanilla LSTM with fᵗ = 1.

    The change, forward and backward::

        fᵗ = 1                             (was σ(W_f xᵗ + R_f yᵗ⁻¹ + p_f ⊙ cᵗ⁻¹ + b_f))
        cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹
        δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + p_o ⊙ δōᵗ + p_i ⊙ δīᵗ⁺¹ + δcᵗ⁺¹      (no ⊙ fᵗ⁺¹, no p_f term)
        δf̄ᵗ: none;  δyᵗ, δxᵗ lose their R_fᵀ δf̄ᵗ⁺¹, W_fᵀ δf̄ᵗ terms

    Leaves the backward pass: δf̄, W_f, R_f, b_f, p_f (not stored).

    Shapes (G = 3)::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, 3n) = [W_z W_i W_o]   R (n, 3n) = [R_z R_i R_o]   b (3n,)   p_i, p_o (n,)

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "i", "o")
    PARAM_FORMULA = "3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n))"

    def forget_gate(self, s, c_prev, i, tmp):
        """fᵗ = 1"""
        return ONE

    def forget_gate_backward(self, d, dc, c_prev, f, tmp):
        """no δf̄ᵗ: the gate is gone"""


@register("nog")
class NOG(LSTM):
    r"""NOG, no output gate (Greff et al. 2017): the vanilla LSTM with oᵗ = 1.

    The change, forward and backward::

        oᵗ = 1                             (was σ(W_o xᵗ + R_o yᵗ⁻¹ + p_o ⊙ cᵗ + b_o))
        yᵗ = h(cᵗ)
        δcᵗ = δyᵗ ⊙ h'(cᵗ) + p_i ⊙ δīᵗ⁺¹ + p_f ⊙ δf̄ᵗ⁺¹ + δcᵗ⁺¹ ⊙ fᵗ⁺¹   (no ⊙ oᵗ, no p_o term)
        δōᵗ: none;  δyᵗ, δxᵗ lose their R_oᵀ δōᵗ⁺¹, W_oᵀ δōᵗ terms

    Leaves the backward pass: δō, W_o, R_o, b_o, p_o (not stored).

    Shapes (G = 3)::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, 3n) = [W_z W_i W_f]   R (n, 3n) = [R_z R_i R_f]   b (3n,)   p_i, p_f (n,)

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "i", "f")
    PARAM_FORMULA = "3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n))"

    def output_gate(self, s, c, tmp):
        """oᵗ = 1"""
        return ONE

    def output_gate_backward(self, d, dy, hc, o, tmp):
        """no δōᵗ: the gate is gone"""


@register("niaf")
class NIAF(LSTM):
    r"""NIAF, no input activation function (Greff et al. 2017): the vanilla LSTM with g(x) = x.

    The change, forward and backward::

        zᵗ = z̄ᵗ                            (was tanh(z̄ᵗ))
        δz̄ᵗ = δcᵗ ⊙ iᵗ                     (g' = 1)

    Leaves the backward pass: g' (nothing else; every parameter stays).

    Shapes: as ``lstm``::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, 4n)     R (n, 4n)     b (4n,)     p_i, p_f, p_o (n,)

    Parameters: 4(mn + n² + n) + 3n  (peepholes=False: 4(mn + n² + n)).
    """

    PARAM_FORMULA = LSTM.PARAM_FORMULA
    g = IDENTITY


@register("noaf")
class NOAF(LSTM):
    r"""NOAF, no output activation function (Greff et al. 2017): the vanilla LSTM with h(x) = x.

    The change, forward and backward::

        yᵗ = cᵗ ⊙ oᵗ                       (was tanh(cᵗ) ⊙ oᵗ)
        δōᵗ = δyᵗ ⊙ cᵗ ⊙ σ'(ōᵗ)
        δcᵗ = δyᵗ ⊙ oᵗ + p_o ⊙ δōᵗ + p_i ⊙ δīᵗ⁺¹ + p_f ⊙ δf̄ᵗ⁺¹ + δcᵗ⁺¹ ⊙ fᵗ⁺¹    (h' = 1)

    Leaves the backward pass: h' (nothing else; every parameter stays).  The cache's h(cᵗ)
    is a copy of cᵗ (kept simple: the loops are the vanilla ones).

    Shapes: as ``lstm``::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, 4n)     R (n, 4n)     b (4n,)     p_i, p_f, p_o (n,)

    Parameters: 4(mn + n² + n) + 3n  (peepholes=False: 4(mn + n² + n)).
    """

    PARAM_FORMULA = LSTM.PARAM_FORMULA
    h = IDENTITY


@register("cifg")
class CIFG(LSTM):
    r"""CIFG, coupled input and forget gate (Greff et al. 2017): the vanilla LSTM with fᵗ = 1 − iᵗ.

    The change, forward and backward::

        fᵗ = 1 − iᵗ                        (was σ(W_f xᵗ + R_f yᵗ⁻¹ + p_f ⊙ cᵗ⁻¹ + b_f))
        cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ (1 − iᵗ)
        δīᵗ = (δcᵗ ⊙ zᵗ − δcᵗ ⊙ cᵗ⁻¹) ⊙ σ'(īᵗ)      the forget path's delta enters δī, negated
        δcᵗ⁻¹ gets δcᵗ ⊙ fᵗ + p_i ⊙ δīᵗ              (no p_f term)
        δf̄ᵗ: none

    In code δīᵗ is formed as the vanilla input path δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ), then the forget path
    subtracts δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(īᵗ) (with σ'(īᵗ) = iᵗ(1 − iᵗ) = fᵗ(1 − fᵗ)).  fᵗ has no parameters
    and is cached: it sits in the step array's DERIVED slot "f", written once in forward and
    read by backward (and by ``gate_activations``, which therefore includes "f").

    Leaves the backward pass: δf̄, W_f, R_f, b_f, p_f (not stored).

    Shapes (G = 3; the step array has 4 slots [z i o f])::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, 3n) = [W_z W_i W_o]   R (n, 3n) = [R_z R_i R_o]   b (3n,)   p_i, p_o (n,)

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "i", "o")
    DERIVED = ("f",)
    PARAM_FORMULA = "3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n))"

    def forget_gate(self, s, c_prev, i, tmp):
        """fᵗ = 1 − iᵗ, into the step array's slot "f" (cached for backward)"""
        return self.xp.subtract(ONE, i, out=s[self._k["f"]])

    def forget_gate_backward(self, d, dc, c_prev, f, tmp):
        """δīᵗ −= δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(īᵗ): the forget path, through fᵗ = 1 − iᵗ (σ'(īᵗ) = fᵗ(1 − fᵗ))"""
        SIGMOID.grad(f, out=tmp); tmp *= dc; tmp *= c_prev
        d[self._k["i"]] -= tmp


@register("np")
class NP(LSTM):
    r"""NP, no peepholes (Greff et al. 2017): the vanilla LSTM without p_i, p_f, p_o.

    The same cell as ``make("lstm", peepholes=False)``, registered under Greff's name with the
    option fixed (``np`` takes no ``peepholes`` option).  The change, forward and backward::

        īᵗ = W_i xᵗ + R_i yᵗ⁻¹ + b_i       f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ + b_f       ōᵗ = W_o xᵗ + R_o yᵗ⁻¹ + b_o
        δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + δcᵗ⁺¹ ⊙ fᵗ⁺¹        (no p ⊙ δ terms)

    Leaves the backward pass: p_i, p_f, p_o and their gradients.

    Shapes::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, 4n)     R (n, 4n)     b (4n,)

    Parameters: 4(mn + n² + n).
    """

    PARAM_FORMULA = "4(mn + n² + n)"

    def __init__(self, input_size, hidden_size, *, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, peepholes=False, seed=seed, dtype=dtype)

    def options(self):
        return {}

    @classmethod
    def param_count(cls, input_size, hidden_size):
        return super().param_count(input_size, hidden_size, peepholes=False)


FGR_GATES = ("i", "f", "o")   # the gates that recur among themselves in FGR, in the order of R_g


@register("fgr")
class FGR(LSTM):
    r"""FGR, full gate recurrence (Greff et al. 2017): the vanilla LSTM whose gates also see the
    gate activations of the previous step.

    The change, forward: with gᵗ⁻¹ = [iᵗ⁻¹ fᵗ⁻¹ oᵗ⁻¹] (g⁻¹ is part of the initial state, zeros
    unless given), each gate ĝ ∈ {i, f, o} gets Σ_{g'} R_{ĝg'} g'ᵗ⁻¹ added to its pre-activation::

        īᵗ = (vanilla īᵗ) + R_ii iᵗ⁻¹ + R_if fᵗ⁻¹ + R_io oᵗ⁻¹
        f̄ᵗ = (vanilla f̄ᵗ) + R_fi iᵗ⁻¹ + R_ff fᵗ⁻¹ + R_fo oᵗ⁻¹
        ōᵗ = (vanilla ōᵗ) + R_oi iᵗ⁻¹ + R_of fᵗ⁻¹ + R_oo oᵗ⁻¹
        in code, one product a step:  [ī f̄ ō]ᵗ += gᵗ⁻¹ R_g

    Backward: the gate values now also receive δgᵗ, what step t+1 sends back through R_g
    (at t = T−1: the final-state gradient of g)::

        δgᵗ = Σ_ĝ R_{ĝ·}ᵀ δĝ̄ᵗ⁺¹               in code: δ[ī f̄ ō]ᵗ⁺¹ R_gᵀ
        δīᵗ = (δcᵗ ⊙ zᵗ + δgᵗ_i) ⊙ σ'(īᵗ)
        δf̄ᵗ = (δcᵗ ⊙ cᵗ⁻¹ + δgᵗ_f) ⊙ σ'(f̄ᵗ)
        δōᵗ = (δyᵗ ⊙ h(cᵗ) + δgᵗ_o) ⊙ σ'(ōᵗ)
        δR_{ĝg'} = Σₜ ⟨δĝ̄ᵗ, g'ᵗ⁻¹⟩            in code, one product:  δR_g = Σₜ gᵗ⁻¹ δ[ī f̄ ō]ᵗ
        δg⁻¹ = δ[ī f̄ ō]⁰ R_gᵀ                 (to the initial state)

    Joins the backward pass: the nine matrices, δgᵗ, and δg⁻¹ in dstate0.

    The nine n×n matrices are one stacked storage ``R_g`` (3n, 3n), rows the source gate g'ᵗ⁻¹,
    columns the target gate, both in FGR_GATES order (i, f, o).  ``params["R_<target><source>"]``
    is the live view: ``R_if`` = rows of f, columns of i, the matrix by which fᵗ⁻¹ enters īᵗ
    (row-vector convention, like ``R_i``: Greff's R_{f→i}ᵀ).  How the loops carry it: the state
    g is kept over time like y and c; ``_recurrent_forward`` adds gᵗ⁻¹ R_g to step t,
    ``_output_forward`` writes [i f o]ᵗ after it; backward, ``_output_backward`` puts δgᵗ into
    the gate blocks of ``d``, where ``_sigmoid_gate_backward`` adds it to each gate's own
    gradient, ``_recurrent_backward`` sends δ[ī f̄ ō]ᵗ R_gᵀ to step t−1, and ``_weight_grads``
    adds δR_g.

    Shapes::

        X (T, B, m)   Y (T, B, n)   state (y, c, g): (B, n), (B, n), (B, 3n)
        W (m, 4n)     R (n, 4n)     b (4n,)     p_i, p_f, p_o (n,)     R_g (3n, 3n)
        params: as lstm, plus R_ii R_if R_io R_fi R_ff R_fo R_oi R_of R_oo (n, n)

    Parameters: 4(mn + n² + n) + 3n + 9n²  (peepholes=False: 4(mn + n² + n) + 9n²).
    """

    STATE = ("y", "c", "g")
    PARAM_FORMULA = "4(mn + n² + n) + 3n + 9n²  (peepholes=False: 4(mn + n² + n) + 9n²)"

    def _build(self):
        super()._build()
        n, k = self.hidden_size, [self._k[gate] for gate in FGR_GATES]
        assert k == list(range(k[0], k[0] + len(k))), "FGR needs the gates i, f, o side by side"
        self._gk = slice(k[0], k[-1] + 1)                 # their slots in s and d
        self._gcols = slice(k[0] * n, (k[-1] + 1) * n)    # their columns in δā (B, G·n)
        self.R_g = self._add_param("R_g", self._uniform((3 * n, 3 * n)))
        # expose the nine blocks instead of the whole: each scalar is named (and counted) once
        del self.params["R_g"]
        grad = self.grads.pop("R_g")
        for a, target in enumerate(FGR_GATES):
            for b, source in enumerate(FGR_GATES):
                block = (slice(b * n, (b + 1) * n), slice(a * n, (a + 1) * n))
                self.params[f"R_{target}{source}"] = self.R_g[block]
                self.grads[f"R_{target}{source}"] = grad[block]

    @classmethod
    def param_count(cls, input_size, hidden_size, **options):
        return super().param_count(input_size, hidden_size, **options) + 9 * hidden_size * hidden_size

    def state_sizes(self):
        n = self.hidden_size
        return (n, n, 3 * n)

    def _forward_work(self, T, B, states):
        work = super()._forward_work(T, B, states)
        work["rec_g"] = self.xp.empty((B, 3 * self.hidden_size), dtype=self.dtype)   # gᵗ⁻¹ R_g
        return work

    def _recurrent_forward(self, t, s, states, work):
        """āᵗ += R yᵗ⁻¹;  [ī f̄ ō]ᵗ += gᵗ⁻¹ R_g"""
        super()._recurrent_forward(t, s, states, work)                     # āᵗ += R yᵗ⁻¹
        rec = self.xp.matmul(states[2][t], self.R_g, out=work["rec_g"])   # gᵗ⁻¹ R_g   (B, 3n)
        s[self._gk] += rec.reshape(rec.shape[0], 3, -1).transpose(1, 0, 2)  # [ī f̄ ō]ᵗ += gᵗ⁻¹ R_g

    def _output_forward(self, t, s, states, work):
        """gᵗ = [iᵗ fᵗ oᵗ], kept as state (yᵗ = uᵗ is in place)"""
        B, n = s.shape[1], self.hidden_size
        states[2][t + 1].reshape(B, 3, n)[...] = s[self._gk].transpose(1, 0, 2)

    def _output_backward(self, t, dy, d, dnext, work):
        """d[i f o] ← δgᵗ, the gradient at the gate values from step t+1 (or the final state);  δuᵗ = δyᵗ"""
        B, n = d.shape[1], self.hidden_size
        d[self._gk] = dnext[2].reshape(B, 3, n).transpose(1, 0, 2)
        return dy

    def _sigmoid_gate_backward(self, gate, d, dgate, gate_value, tmp):
        """δḡᵗ = (dgate + δgᵗ_g) ⊙ σ'(ḡᵗ): the gate's block of ``d`` enters holding δgᵗ_g"""
        dgbar = d[self._k[gate]]
        dgbar += dgate
        dgbar *= SIGMOID.grad(gate_value, out=tmp)
        return dgbar

    def _recurrent_backward(self, t, d, da, dnext, work):
        """δyᵗ⁻¹ = Rᵀ δāᵗ;  δgᵗ⁻¹ = δ[ī f̄ ō]ᵗ R_gᵀ, sent to step t−1 (at t = 0: to the initial state)"""
        super()._recurrent_backward(t, d, da, dnext, work)                 # Rᵀ δāᵗ
        self.xp.matmul(da[:, self._gcols], self.R_g.T, out=dnext[2])      # δ[ī f̄ ō]ᵗ R_gᵀ

    def _weight_grads(self, cache, dA, work):
        """The LSTM's, and δR_g = Σₜ gᵗ⁻¹ δ[ī f̄ ō]ᵗ, one product over all steps"""
        T, B, n = cache["T"], cache["B"], self.hidden_size
        Gprev = cache["states"][2][:T].reshape(T * B, 3 * n)
        self._grad_storage["R_g"] += self.xp.matmul(Gprev.T, dA.reshape(T * B, -1)[:, self._gcols])
        return super()._weight_grads(cache, dA, work)
