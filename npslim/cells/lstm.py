"""Greff's vanilla LSTM with peepholes: the one set of LSTM loops, and the hooks its variants override.

Notation: MATH.md (Greff et al. 2017, section II); equations in Greff's column form, stored
weights transposed (see :mod:`npslim.cells.base`).  The four pre-activations are stacked in
one block layout, named once::

    GATE_ORDER = ("z", "i", "f", "o")      # block input, input gate, forget gate, output gate

``W`` (m, G·n), ``R`` (n, G·n) and ``b`` (G·n,) hold the gates side by side in that order;
``params["W_i"]`` is the live view of the input-gate block.

Inside the time loop the pre-activations of one step sit gate-major, ``s`` (slots, B, n), so
each gate block is contiguous; the same array then holds the activations [z i f o] (every
derivative is formed from them in backward, never recomputed).  The slots are GATE_ORDER
followed by DERIVED: activations without parameters of their own, cached for the backward
pass (CIFG's fᵗ = 1 − iᵗ).  ``self._k`` maps a slot name to its index; a removed gate has
none, and its hook returns ``ONE``.

Greff's eight one-change variants are in greff.py.

``LSTM.forward`` and ``LSTM.backward`` are the only LSTM loops in npslim: every LSTM-family
cell (here, slim.py, projection.py, binary.py) changes them through these hooks, whose
defaults are the vanilla cell.  vᵗ = h(cᵗ) ⊙ oᵗ is the block output before any projection
(the vanilla yᵗ); a :class:`_Loop` carries one call's buffers and transposed weights::

    before the loop     _fill_preactivations(X, S)    āᵗ = W xᵗ + b, every step in one product
                                                      [slim: fewer blocks; lstm3; flstm, glstm; sharpened: τ, g2lstm: noise]
                        _forward_loop, _backward_loop  the _Loop of one call (buffers, Rᵀ, …)
                        _derivatives(S, Hc)           g'(z̄ᵗ), σ'(⋆̄ᵗ) (joint σ gates), h'(cᵗ) of every step, one call each
    per step, forward   _recurrent_forward            āᵗ += R yᵗ⁻¹          [lstm_c6, flstm, glstm; fgr + R_g [i f o]ᵗ⁻¹; slim: R's blocks]
                        _step_forward                 zᵗ, [i f o]ᵗ in one σ call (SIGMOID_GATES without peephole),
                                                      iᵗ, fᵗ, cᵗ, oᵗ, vᵗ through the hooks
                        g, input_gate, forget_gate, output_gate, h
                                                      [niaf, noaf; nig, nfg, nog, cifg; lstm3, lstm6; sharpened, g2lstm]
                        _output_forward               yᵗ = vᵗ (in place)    [lstmp: yᵗ = P vᵗ; fgr: keeps [i f o]ᵗ]
    per step, backward  _output_backward              δvᵗ = δyᵗ             [lstmp: Pᵀ δyᵗ; fgr: δ[i f o]ᵗ into d]
                        _step_backward                δōᵗ, δcᵗ, δīᵗ, δf̄ᵗ, δz̄ᵗ through the hooks
                        output_gate_backward, input_gate_backward, forget_gate_backward (σ' of a joint gate: D[t])
                                                      [the forward's overriders of the gates; fgr]
                        _recurrent_backward           δyᵗ⁻¹ = Rᵀ δāᵗ        [lstm_c6, flstm, glstm; fgr + R_gᵀ δ[ī f̄ ō]ᵗ; slim: R's blocks]
    after the loop      _weight_grads(cache, dA, loop)  δW, δR, δb, δp, one product each; returns δX
                                                      [slim, flstm, glstm; lstmp + δP; fgr + δR_g]

Every state array (``STATE``; FGR adds ``ifo``) is kept over time as ``(T + 1, B, w)``, [0] the
initial state and [t + 1] the state after step t, so a variant that carries more than (y, c)
needs no code of its own for the initial and the final state.
"""
from __future__ import annotations

import dataclasses

from ..activations import SIGMOID, TANH
from .registry import register
from .base import Cell
from .docformula import FROM_DOCSTRING

ONE = 1.0   # the value of a removed gate: multiplying by it is the identity


@dataclasses.dataclass(slots=True)
class _Loop:
    """What one forward or backward call's loop reads and writes besides the cache, allocated
    once before the loop.  Each cell fills the fields it uses; the rest stay None."""
    tmp: object = None        # (B, n) scratch for one product inside a step
    V: object = None          # forward: (T, B, n) block outputs vᵗ = h(cᵗ) ⊙ oᵗ (the vanilla Y[1:] itself)
    rec: object = None        # forward: the recurrent product R yᵗ⁻¹ of one step
    R_T: object = None        # backward: Rᵀ, contiguous
    tau: float = 1.0          # sharpened, g2lstm: τ of this call (forward: the mode's; backward: the cache's)
    rec_ifo: object = None    # fgr, forward: R_g [i f o]ᵗ⁻¹ of one step (B, 3n)
    P_T: object = None        # lstmp, flstm, glstm, backward: Pᵀ, contiguous (p, n)
    dv: object = None         #   δvᵗ = Pᵀ δyᵗ of one step (B, n)
    DY: object = None         #   δyᵗ of every step (T, B, p), for δP
    Q: object = None          # flstm: qᵗ of every step (T, B, r) (the cache's "Q")
    qy: object = None         # flstm, forward: W₁ᵧ yᵗ⁻¹ of one step (B, r)
    b: object = None          # flstm, forward: b, gate-major (G, 1, n)
    W2_T: object = None       # flstm, backward: W₂ᵀ stored (G·n, r)
    W1y_T: object = None      # flstm, backward: W₁ᵧᵀ stored (r, p)
    DQ: object = None         # flstm, backward: δqᵗ of every step (T, B, r)
    DG: object = None         # glstm, backward: δā_jᵗ of every step, group-major (k, T, B, G, n/k)
    ds: object = None         # backward: g'(z̄ᵗ), σ'(⋆̄ᵗ) of the step, a view of D[t] (``_derivatives``)


@register("lstm")
class LSTM(Cell):
    r"""Vanilla LSTM with peepholes (Greff et al. 2017), g = h = tanh.  The optimised form of
    :func:`npslim.reference.lstm_forward` (and its backward).

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
        δxᵗ = Wᵀ δāᵗ       (ā = the stacked [z̄ ī f̄ ō])
        δW = Σₜ ⟨δāᵗ, xᵗ⟩,  δR = Σₜ ⟨δāᵗ, yᵗ⁻¹⟩,  δb = Σₜ δāᵗ,
        δp_i = Σₜ cᵗ⁻¹ ⊙ δīᵗ,  δp_f = Σₜ cᵗ⁻¹ ⊙ δf̄ᵗ,  δp_o = Σₜ cᵗ ⊙ δōᵗ

    Shapes (G = len(GATE_ORDER) = 4; stored arrays)::

        X  (T, B, m)     Y  (T, B, n)     state (y, c): (B, n), (B, n)
        W  (m, G·n)      R  (n, G·n)      b  (G·n,)     p_i, p_f, p_o  (n,)
        params: W_z W_i W_f W_o (m, n), R_z R_i R_f R_o (n, n), b_z b_i b_f b_o (n,), p_i p_f p_o (n,)

    Parameters: 4(mn + n² + n) + 3n  (peepholes=False: 4(mn + n² + n)).

    Options: ``peepholes`` (default True).
    """

    GATE_ORDER = ("z", "i", "f", "o")
    #: activations without parameters of their own, cached in the step array after the gates
    DERIVED = ()
    #: the gates whose activation is σ of their pre-activation (plus a peephole): those without a
    #: peephole are activated together, one σ call a step (``_joint_sigmoid``); a variant whose gate
    #: is formed otherwise (tempered, constant, derived) leaves it out
    SIGMOID_GATES = ("i", "f", "o")
    STATE = ("y", "c")
    PARAM_FORMULA = FROM_DOCSTRING   # the "Parameters:" line of the docstring
    g = TANH   # block-input activation
    h = TANH   # output activation

    def __init__(self, input_size, hidden_size, *, peepholes=True, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype)
        self.peepholes = bool(peepholes)
        self._build()
        self._joint_gates, self._joint = self._joint_sigmoid()             # the σ gates activated in one call

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
        self.peep = {gate: self._add_param(f"p_{gate}", self._uniform((n,))) for gate in self.PEEPHOLE_GATES}

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
        C = states[1]                                        # C[t + 1] = cᵗ
        Hc = xp.empty((T, B, n), dtype=self.dtype)           # h(cᵗ)
        loop = self._forward_loop(T, B, states, saved)

        for t in range(T):
            s = S[t]                                                       # (slots, B, n)
            self._recurrent_forward(t, s, states, loop)                    # āᵗ += R yᵗ⁻¹
            self._step_forward(s, C[t], C[t + 1], Hc[t], loop.V[t], loop)  # vᵗ = h(cᵗ) ⊙ oᵗ
            self._output_forward(t, s, states, loop)                       # yᵗ = vᵗ

        cache = {"X": X, "S": S, "Y": states[0], "C": C, "Hc": Hc, "V": loop.V, "T": T, "B": B,
                 "states": states, **saved}
        return states[0][1:], tuple(a[T] for a in states), cache

    def _fill_preactivations(self, X, S):
        """S[:, :G] ← āᵗ = W xᵗ + b for every step, in one product.  Returns what else the cache
        keeps (nothing here)."""
        T, B, m = X.shape
        n, G = self.hidden_size, len(self.GATE_ORDER)
        XW = self.xp.matmul(X.reshape(T * B, m), self.W)                  # W xᵗ for every t
        XW += self.b                                                       #      + b
        S[:, :G] = XW.reshape(T, B, G, n).transpose(0, 2, 1, 3)
        return {}

    def _forward_loop(self, T, B, states, saved):
        """The forward loop's _Loop: ``V`` receives vᵗ (here the output yᵗ itself, Y[1:]), ``rec``
        (B, G·n) the recurrent product; ``saved`` is what ``_fill_preactivations`` returned."""
        G, n = len(self.GATE_ORDER), self.hidden_size
        return _Loop(tmp=self.xp.empty((B, n), dtype=self.dtype), V=states[0][1:],
                     rec=self.xp.empty((B, G * n), dtype=self.dtype))

    def _recurrent_forward(self, t, s, states, loop):
        """āᵗ += R yᵗ⁻¹  (one product; over the blocks R has: all of them here)"""
        rec = self.xp.matmul(states[0][t], self.R, out=loop.rec)          # R yᵗ⁻¹   (B, k·n)
        B, n = rec.shape[0], self.hidden_size
        s[:rec.shape[1] // n] += rec.reshape(B, -1, n).transpose(1, 0, 2)  # āᵗ += R yᵗ⁻¹

    def _output_forward(self, t, s, states, loop):
        """yᵗ = vᵗ: the step wrote it in place (nothing here); a cell that maps vᵗ or carries
        more state writes it into ``states[k][t + 1]``."""

    def _step_forward(self, s, c_prev, c, hc, v, loop):
        """One step.  ``s`` (slots, B, n) enters as the pre-activations and leaves as the activations."""
        xp, k, ifo = self.xp, self._k, self._joint
        z = self.g.forward(s[k["z"]], out=s[k["z"]])                       # zᵗ = g(z̄ᵗ)
        if ifo: SIGMOID.forward(s[ifo], out=s[ifo])                        # [i f o]ᵗ = σ([ī f̄ ō]ᵗ): the gates without peephole, one call
        i = self.input_gate(s, c_prev, loop)                               # iᵗ = σ(īᵗ + p_i ⊙ cᵗ⁻¹)
        f = self.forget_gate(s, c_prev, i, loop)                           # fᵗ = σ(f̄ᵗ + p_f ⊙ cᵗ⁻¹)
        xp.multiply(z, i, out=c); c += xp.multiply(c_prev, f, out=loop.tmp)  # cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ
        o = self.output_gate(s, c, loop)                                   # oᵗ = σ(ōᵗ + p_o ⊙ cᵗ)
        xp.multiply(self.h.forward(c, out=hc), o, out=v)                   # vᵗ = h(cᵗ) ⊙ oᵗ

    def input_gate(self, s, c_prev, loop):
        """iᵗ = σ(īᵗ + p_i ⊙ cᵗ⁻¹), in place in the block ī of ``s``"""
        return self._sigmoid_gate("i", s, c_prev, loop)

    def forget_gate(self, s, c_prev, i, loop):
        """fᵗ = σ(f̄ᵗ + p_f ⊙ cᵗ⁻¹), in place in the block f̄ of ``s``"""
        return self._sigmoid_gate("f", s, c_prev, loop)

    def output_gate(self, s, c, loop):
        """oᵗ = σ(ōᵗ + p_o ⊙ cᵗ), in place in the block ō of ``s``"""
        return self._sigmoid_gate("o", s, c, loop)

    def _sigmoid_gate(self, gate, s, c_peep, loop):
        """⋆ᵗ = σ(⋆̄ᵗ + p_⋆ ⊙ c), c the cell the gate's peephole reads (cᵗ⁻¹ for i, f; cᵗ for o), in
        place in the block ⋆̄ of ``s``.  A gate of the step's joint σ (no peephole) is there already."""
        abar = s[self._k[gate]]
        if gate in self._joint_gates: return abar                          # σ(⋆̄ᵗ), formed by the joint call
        if gate in self.peep: abar += self.xp.multiply(self.peep[gate], c_peep, out=loop.tmp)
        return SIGMOID.forward(abar, out=abar)

    def _joint_sigmoid(self):
        """The gates of SIGMOID_GATES that the cell has and that have no peephole: their
        pre-activations are complete when the step starts, so one σ call activates them all
        (their slots side by side).  Returns (names, slice of their slots), or ((), None)."""
        gates = tuple(gate for gate in self.SIGMOID_GATES if gate in self._k and gate not in self.peep)
        slots = [self._k[gate] for gate in gates]
        assert slots == list(range(slots[0], slots[0] + len(slots))) if slots else True, \
            f"{type(self).__name__}: the joint σ gates {gates} must sit side by side"
        return gates, (slice(slots[0], slots[-1] + 1) if slots else None)

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
        S, C, Hc = cache["S"], cache["C"], cache["Hc"]

        dA = xp.empty((T, B, G * n), dtype=self.dtype)    # δāᵗ, the stacked pre-activation deltas
        d = xp.empty((G, B, n), dtype=self.dtype)          # δāᵗ of one step, gate-major
        dy = xp.empty((B, self.output_size), dtype=self.dtype)
        dc = xp.empty((B, n), dtype=self.dtype)
        # what step t+1 sends back to each state array of step t (at t = T−1: the final-state gradient)
        dnext = tuple(a.copy() for a in dstate)
        dy_next, dc_next = dnext[0], dnext[1]              # Rᵀ δāᵗ⁺¹;  what step t+1 sends to cᵗ
        loop = self._backward_loop(T, B, cache)            # transposed weights, made once per call
        D, Hd = self._derivatives(S, Hc)                   # g'(z̄ᵗ), σ'(⋆̄ᵗ), h'(cᵗ) of every step, before the loop
        flush = self._subnormal_flush(dnext, (dA,))        # subnormal deltas -> 0 (base.SubnormalFlush)

        for t in range(T - 1, -1, -1):
            xp.add(dY[t], dy_next, out=dy)                                 # δyᵗ = Δᵗ + Rᵀ δāᵗ⁺¹
            dv = self._output_backward(t, dy, d, dnext, loop)              # δvᵗ = δyᵗ
            self._step_backward(d, dv, dc, dc_next, S[t], D[t], C[t], C[t + 1], Hc[t], Hd[t], loop)
            dA[t].reshape(B, G, n)[...] = d.transpose(1, 0, 2)
            self._recurrent_backward(t, d, dA[t], dnext, loop)             # Rᵀ δāᵗ, sent to step t−1
            flush(t)                                                       # every FLUSH_EVERY steps

        dX = self._weight_grads(cache, dA, loop)                           # one product per weight; δX
        return flush.after_loop(dX), dnext

    def _backward_loop(self, T, B, cache):
        """The backward loop's _Loop: ``R_T`` = Rᵀ (stored), contiguous, and a scratch buffer."""
        return _Loop(tmp=self.xp.empty((B, self.hidden_size), dtype=self.dtype),
                     R_T=self.xp.ascontiguousarray(self.R.T))              # (k·n, n)

    def _output_backward(self, t, dy, d, dnext, loop):
        """δvᵗ, the gradient at the block output vᵗ, from δyᵗ: δvᵗ = δyᵗ (yᵗ = vᵗ).  A cell that
        carries more state puts its gradient (``dnext[k]``, k ≥ 2) into ``d`` here."""
        return dy

    def _recurrent_backward(self, t, d, da, dnext, loop):
        """δyᵗ⁻¹ = Rᵀ δāᵗ (over the blocks R has: all of them here), into ``dnext[0]``; ``da`` is
        δāᵗ (B, G·n), ``d`` the same gate-major (G, B, n)."""
        R_T = loop.R_T
        self.xp.matmul(da[:, :R_T.shape[0]], R_T, out=dnext[0])          # Rᵀ δāᵗ, sent to step t−1

    def _derivatives(self, S, Hc):
        """The activations' derivatives of every step, from the cached activations (never
        recomputed), each in one call before the backward loop: D (T, slots, B, n) holds g'(z̄ᵗ)
        in slot z and σ'(⋆̄ᵗ) = ⋆ᵗ(1 − ⋆ᵗ) in the slots of the joint σ gates (the other slots are
        not written: those gates form their derivative in their hook); Hd (T, B, n) is h'(cᵗ)."""
        xp, kz, ifo = self.xp, self._k["z"], self._joint
        D = xp.empty_like(S)
        self.g.grad(S[:, kz], out=D[:, kz])                                # g'(z̄ᵗ), every step
        if ifo: SIGMOID.grad(S[:, ifo], out=D[:, ifo])                     # σ'([ī f̄ ō]ᵗ), every step
        return D, self.h.grad(Hc, out=xp.empty_like(Hc))                   # h'(cᵗ), every step

    def _step_backward(self, d, dv, dc, dc_next, s, ds, c_prev, c, hc, dhc, loop):
        """One step back.  Writes δāᵗ into ``d`` (G, B, n) and δcᵗ into ``dc``; ``dc_next`` enters as
        what step t+1 sent to cᵗ and leaves as what step t sends to cᵗ⁻¹.  ``ds`` holds the step's
        derivatives g'(z̄ᵗ) and σ'(⋆̄ᵗ) of the joint σ gates, ``dhc`` h'(cᵗ) (``_derivatives``).
        δīᵗ is formed before δf̄ᵗ (CIFG's forget path adds into δīᵗ).  A removed gate is ONE and
        has no δ (None)."""
        xp, peep, tmp = self.xp, self.peep, loop.tmp
        z, i, f, o = self._gates(s)
        loop.ds = ds                                                       # the gate hooks read σ'(⋆̄ᵗ) there
        do = self.output_gate_backward(d, dv, hc, o, loop)                 # δōᵗ = δvᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)
        xp.multiply(dv, dhc, out=dc); dc *= o; dc += dc_next               # δcᵗ = δvᵗ ⊙ oᵗ ⊙ h'(cᵗ) + dc_next (δcᵗ⁺¹ ⊙ fᵗ⁺¹ + p_i ⊙ δīᵗ⁺¹ + p_f ⊙ δf̄ᵗ⁺¹)
        if "o" in peep: dc += xp.multiply(peep["o"], do, out=tmp)          #      + p_o ⊙ δōᵗ
        di = self.input_gate_backward(d, dc, z, i, loop)                   # δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)
        df = self.forget_gate_backward(d, dc, c_prev, f, loop)             # δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)
        dz = xp.multiply(dc, ds[self._k["z"]], out=d[self._k["z"]]); dz *= i  # δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
        xp.multiply(dc, f, out=dc_next)                                    # dc_next for step t−1 = δcᵗ ⊙ fᵗ
        if "i" in peep: dc_next += xp.multiply(peep["i"], di, out=tmp)     #                        + p_i ⊙ δīᵗ
        if "f" in peep: dc_next += xp.multiply(peep["f"], df, out=tmp)     #                        + p_f ⊙ δf̄ᵗ

    def _gates(self, s):
        """The activations (z, i, f, o) of one step, ONE for a gate the cell does not have."""
        return tuple(s[self._k[gate]] if gate in self._k else ONE for gate in ("z", "i", "f", "o"))

    def output_gate_backward(self, d, dv, hc, o, loop):
        """δōᵗ = δvᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ), into the block ō of ``d``"""
        do = self.xp.multiply(dv, hc, out=d[self._k["o"]])
        do *= self._sigmoid_grad("o", o, loop)                             #      ⊙ σ'(ōᵗ)
        return do

    def input_gate_backward(self, d, dc, z, i, loop):
        """δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ), into the block ī of ``d``"""
        di = self.xp.multiply(dc, z, out=d[self._k["i"]])
        di *= self._sigmoid_grad("i", i, loop)                             #      ⊙ σ'(īᵗ)
        return di

    def forget_gate_backward(self, d, dc, c_prev, f, loop):
        """δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ), into the block f̄ of ``d``"""
        df = self.xp.multiply(dc, c_prev, out=d[self._k["f"]])
        df *= self._sigmoid_grad("f", f, loop)                             #      ⊙ σ'(f̄ᵗ)
        return df

    def _sigmoid_grad(self, gate, a, loop):
        """σ'(⋆̄ᵗ) = ⋆ᵗ(1 − ⋆ᵗ) from the gate's activation ``a``: read from the step's derivatives
        (``loop.ds``, formed before the loop) for a joint σ gate, formed into ``loop.tmp`` otherwise."""
        if gate in self._joint_gates: return loop.ds[self._k[gate]]
        return SIGMOID.grad(a, out=loop.tmp)

    def _weight_grads(self, cache, dA, loop):
        """Every weight gradient as one product over all steps (after the loop); returns δX."""
        xp = self.xp
        T, B = cache["T"], cache["B"]
        m, G, n = self.input_size, len(self.GATE_ORDER), self.hidden_size
        dA2 = dA.reshape(T * B, G * n)
        grad = self._grad_storage
        grad["W"] += xp.matmul(cache["X"].reshape(T * B, m).T, dA2)        # δW = Σₜ ⟨δāᵗ, xᵗ⟩
        grad["R"] += xp.matmul(cache["Y"][:T].reshape(T * B, -1).T, dA2)   # δR = Σₜ ⟨δāᵗ, yᵗ⁻¹⟩
        grad["b"] += dA2.sum(axis=0)                                       # δb = Σₜ δāᵗ
        dA4, C = dA.reshape(T, B, G, n), cache["C"]
        for gate in self.peep:                                             # δp_⋆ = Σₜ c ⊙ δ⋆ᵗ
            c_peep = C[1:] if gate == "o" else C[:T]                       # o peeps at cᵗ, i and f at cᵗ⁻¹
            self.grads[f"p_{gate}"] += xp.einsum("tbn,tbn->n", c_peep, dA4[:, :, self._k[gate]])
        return xp.matmul(dA2, self.W.T).reshape(T, B, m)                   # δxᵗ = Wᵀ δāᵗ


# Greff's variants register after the vanilla cell (until the package imports greff itself)
from . import greff  # noqa: E402,F401
