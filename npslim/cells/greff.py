"""Greff's eight one-change variants of the vanilla LSTM (Greff et al. 2017, MATH.md's table).

Each variant's reference is :func:`npslim.reference.lstm_forward` (the vanilla LSTM's) with its
one change.  Each is the vanilla cell of lstm.py with exactly one change, written as an override
of the one piece that changes (a gate, an activation, the recurrence), in forward and backward
side by side:

    nig   iᵗ = 1              nfg   fᵗ = 1             nog   oᵗ = 1
    niaf  g(x) = x            noaf  h(x) = x           cifg  fᵗ = 1 − iᵗ
    np    no peepholes        fgr   gates also see [i f o]ᵗ⁻¹ through nine n×n matrices

A removed gate's hook returns ``ONE`` and its backward twin returns None; its W, R, b, p blocks
are not stored (GATE_ORDER lacks it), so every product shrinks.
"""
from __future__ import annotations

from ..activations import IDENTITY
from .registry import register
from .lstm import LSTM, ONE


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

    Shapes: the vanilla LSTM's with G = 3: W = [W_z W_f W_o], likewise R and b; peepholes p_f, p_o.

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "f", "o")

    def input_gate(self, s, c_prev, loop):
        """iᵗ = 1"""
        return ONE

    def input_gate_backward(self, d, dc, z, i, loop):
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

    Shapes: the vanilla LSTM's with G = 3: W = [W_z W_i W_o], likewise R and b; peepholes p_i, p_o.

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "i", "o")

    def forget_gate(self, s, c_prev, i, loop):
        """fᵗ = 1"""
        return ONE

    def forget_gate_backward(self, d, dc, c_prev, f, loop):
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

    Shapes: the vanilla LSTM's with G = 3: W = [W_z W_i W_f], likewise R and b; peepholes p_i, p_f.

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "i", "f")

    def output_gate(self, s, c, loop):
        """oᵗ = 1"""
        return ONE

    def output_gate_backward(self, d, dv, hc, o, loop):
        """no δōᵗ: the gate is gone"""


@register("niaf")
class NIAF(LSTM):
    r"""NIAF, no input activation function (Greff et al. 2017): the vanilla LSTM with g(x) = x.

    The change, forward and backward::

        zᵗ = z̄ᵗ                            (was tanh(z̄ᵗ))
        δz̄ᵗ = δcᵗ ⊙ iᵗ                     (g' = 1)

    Leaves the backward pass: g' (nothing else; every parameter stays).

    Shapes: the vanilla LSTM's.

    Parameters: 4(mn + n² + n) + 3n  (peepholes=False: 4(mn + n² + n)).
    """

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

    Shapes: the vanilla LSTM's.

    Parameters: 4(mn + n² + n) + 3n  (peepholes=False: 4(mn + n² + n)).
    """

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

    Shapes: the vanilla LSTM's with G = 3: W = [W_z W_i W_o], likewise R and b; peepholes p_i,
    p_o; the step array has 4 slots [z i o f].

    Parameters: 3(mn + n² + n) + 2n  (peepholes=False: 3(mn + n² + n)).
    """

    GATE_ORDER = ("z", "i", "o")
    DERIVED = ("f",)
    SIGMOID_GATES = ("i", "o")        # fᵗ = 1 − iᵗ is no σ of its own

    def forget_gate(self, s, c_prev, i, loop):
        """fᵗ = 1 − iᵗ, into the step array's slot "f" (cached for backward)"""
        return self.xp.subtract(ONE, i, out=s[self._k["f"]])

    def forget_gate_backward(self, d, dc, c_prev, f, loop):
        """δīᵗ −= δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(īᵗ): the forget path, through fᵗ = 1 − iᵗ (σ'(īᵗ) = fᵗ(1 − fᵗ)); no δf̄ᵗ"""
        tmp = self.xp.subtract(1.0, f, out=loop.tmp); tmp *= f; tmp *= dc; tmp *= c_prev
        d[self._k["i"]] -= tmp


@register("np")
class NP(LSTM):
    r"""NP, no peepholes (Greff et al. 2017): the vanilla LSTM without p_i, p_f, p_o.

    The same cell as ``make("lstm", peepholes=False)``, registered under Greff's name with the
    option fixed (``np`` takes no ``peepholes`` option).  The change, forward and backward::

        īᵗ = W_i xᵗ + R_i yᵗ⁻¹ + b_i       f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ + b_f       ōᵗ = W_o xᵗ + R_o yᵗ⁻¹ + b_o
        δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + δcᵗ⁺¹ ⊙ fᵗ⁺¹        (no p ⊙ δ terms)

    Leaves the backward pass: p_i, p_f, p_o and their gradients.

    Shapes: the vanilla LSTM's, without p_i, p_f, p_o.

    Parameters: 4(mn + n² + n).
    """

    def __init__(self, input_size, hidden_size, *, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, peepholes=False, seed=seed, dtype=dtype)

    @classmethod
    def param_count(cls, input_size, hidden_size):
        return super().param_count(input_size, hidden_size, peepholes=False)


FGR_GATES = ("i", "f", "o")   # the gates that recur among themselves in FGR, in the order of R_g


@register("fgr")
class FGR(LSTM):
    r"""FGR, full gate recurrence (Greff et al. 2017): the vanilla LSTM whose gates also see the
    gate activations of the previous step.

    The change, forward: the state gains [i f o]ᵗ⁻¹ (zeros unless given: ``ifo`` in the initial
    state), and each gate ⋆ ∈ {i, f, o} gets Σ_⋄ R_⋆⋄ ⋄ᵗ⁻¹ (⋄ ∈ {i, f, o}) added to its pre-activation::

        īᵗ = (vanilla īᵗ) + R_ii iᵗ⁻¹ + R_if fᵗ⁻¹ + R_io oᵗ⁻¹
        f̄ᵗ = (vanilla f̄ᵗ) + R_fi iᵗ⁻¹ + R_ff fᵗ⁻¹ + R_fo oᵗ⁻¹
        ōᵗ = (vanilla ōᵗ) + R_oi iᵗ⁻¹ + R_of fᵗ⁻¹ + R_oo oᵗ⁻¹
        stacked, one product a step:  [ī f̄ ō]ᵗ += R_g [i f o]ᵗ⁻¹

    Backward: the gate values now also receive δ[i f o]ᵗ, what step t+1 sends back through R_g
    (at t = T−1: the final-state gradient of ``ifo``)::

        δ[i f o]ᵗ = R_gᵀ δ[ī f̄ ō]ᵗ⁺¹
        δīᵗ = (δcᵗ ⊙ zᵗ + δ[i f o]ᵗ_i) ⊙ σ'(īᵗ)
        δf̄ᵗ = (δcᵗ ⊙ cᵗ⁻¹ + δ[i f o]ᵗ_f) ⊙ σ'(f̄ᵗ)
        δōᵗ = (δyᵗ ⊙ h(cᵗ) + δ[i f o]ᵗ_o) ⊙ σ'(ōᵗ)
        δR_g = Σₜ ⟨δ[ī f̄ ō]ᵗ, [i f o]ᵗ⁻¹⟩,    δ[i f o]⁻¹ = R_gᵀ δ[ī f̄ ō]⁰  (to the initial state)

    Joins the backward pass: the nine matrices, δ[i f o]ᵗ, and δ[i f o]⁻¹ in dstate0.

    The nine n×n matrices are one stacked storage ``R_g`` (3n, 3n) (stored transposed, like
    ``R``: rows the source gate ⋄, columns the target gate ⋆, both in FGR_GATES order).
    ``params["R_⋆⋄"]`` is the live view: ``R_if`` is the matrix by which fᵗ⁻¹ enters īᵗ.  How
    the loops carry it: ``ifo`` is kept over time like y and c; ``_recurrent_forward`` adds
    R_g [i f o]ᵗ⁻¹ to step t, ``_output_forward`` keeps [i f o]ᵗ after it; backward,
    ``_output_backward`` puts δ[i f o]ᵗ into the gate blocks of ``d``, where the gate backward
    hooks add the vanilla gradient at the gate value before ⊙ σ', ``_recurrent_backward`` sends
    R_gᵀ δ[ī f̄ ō]ᵗ to step t−1, and ``_weight_grads`` adds δR_g.

    Shapes: the vanilla LSTM's, plus R_g (3n, 3n) = R_ii … R_oo (n, n); state (y, c, ifo):
    (B, n), (B, n), (B, 3n).

    Parameters: 4(mn + n² + n) + 3n + 9n²  (peepholes=False: 4(mn + n² + n) + 9n²).
    """

    STATE = ("y", "c", "ifo")

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

    def _forward_loop(self, T, B, states, saved):
        loop = super()._forward_loop(T, B, states, saved)
        loop.rec_ifo = self.xp.empty((B, 3 * self.hidden_size), dtype=self.dtype)   # R_g [i f o]ᵗ⁻¹
        return loop

    def _recurrent_forward(self, t, s, states, loop):
        """āᵗ += R yᵗ⁻¹;  [ī f̄ ō]ᵗ += R_g [i f o]ᵗ⁻¹"""
        super()._recurrent_forward(t, s, states, loop)                     # āᵗ += R yᵗ⁻¹
        rec = self.xp.matmul(states[2][t], self.R_g, out=loop.rec_ifo)    # R_g [i f o]ᵗ⁻¹   (B, 3n)
        s[self._gk] += rec.reshape(rec.shape[0], 3, -1).transpose(1, 0, 2)  # [ī f̄ ō]ᵗ += R_g [i f o]ᵗ⁻¹

    def _output_forward(self, t, s, states, loop):
        """keeps [i f o]ᵗ as state (yᵗ = vᵗ is in place)"""
        B, n = s.shape[1], self.hidden_size
        states[2][t + 1].reshape(B, 3, n)[...] = s[self._gk].transpose(1, 0, 2)

    def _output_backward(self, t, dy, d, dnext, loop):
        """d[i f o] ← δ[i f o]ᵗ, from step t+1 (or the final state);  δvᵗ = δyᵗ"""
        B, n = d.shape[1], self.hidden_size
        d[self._gk] = dnext[2].reshape(B, 3, n).transpose(1, 0, 2)
        return dy

    def _plus_next(self, gate, value, from_this_step, d, loop):
        """δ⋆̄ᵗ = (from_this_step + δ[i f o]ᵗ_⋆) ⊙ σ'(⋆̄ᵗ): the gate's block of ``d`` enters holding δ[i f o]ᵗ_⋆"""
        dgate = d[self._k[gate]]
        dgate += from_this_step; dgate *= self._sigmoid_grad(gate, value, loop)
        return dgate

    def output_gate_backward(self, d, dv, hc, o, loop):
        """δōᵗ = (δvᵗ ⊙ h(cᵗ) + δ[i f o]ᵗ_o) ⊙ σ'(ōᵗ)"""
        return self._plus_next("o", o, self.xp.multiply(dv, hc, out=loop.tmp), d, loop)

    def input_gate_backward(self, d, dc, z, i, loop):
        """δīᵗ = (δcᵗ ⊙ zᵗ + δ[i f o]ᵗ_i) ⊙ σ'(īᵗ)"""
        return self._plus_next("i", i, self.xp.multiply(dc, z, out=loop.tmp), d, loop)

    def forget_gate_backward(self, d, dc, c_prev, f, loop):
        """δf̄ᵗ = (δcᵗ ⊙ cᵗ⁻¹ + δ[i f o]ᵗ_f) ⊙ σ'(f̄ᵗ)"""
        return self._plus_next("f", f, self.xp.multiply(dc, c_prev, out=loop.tmp), d, loop)

    def _recurrent_backward(self, t, d, da, dnext, loop):
        """δyᵗ⁻¹ = Rᵀ δāᵗ;  δ[i f o]ᵗ⁻¹ = R_gᵀ δ[ī f̄ ō]ᵗ, sent to step t−1 (at t = 0: to the initial state)"""
        super()._recurrent_backward(t, d, da, dnext, loop)                 # Rᵀ δāᵗ
        self.xp.matmul(da[:, self._gcols], self.R_g.T, out=dnext[2])      # R_gᵀ δ[ī f̄ ō]ᵗ

    def _weight_grads(self, cache, dA, loop):
        """The LSTM's, and δR_g = Σₜ ⟨δ[ī f̄ ō]ᵗ, [i f o]ᵗ⁻¹⟩, one product over all steps"""
        T, B, n = cache["T"], cache["B"], self.hidden_size
        IFOprev = cache["states"][2][:T].reshape(T * B, 3 * n)
        self._grad_storage["R_g"] += self.xp.matmul(IFOprev.T, dA.reshape(T * B, -1)[:, self._gcols])
        return super()._weight_grads(cache, dA, loop)
