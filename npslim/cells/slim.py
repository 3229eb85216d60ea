"""Salem's slim LSTMs: fewer parameters in the gates (Lu & Salem 2017) and constant gates
(Akandeh & Salem 2019).

Notation: MATH.md ("Salem's slim LSTMs").  Every cell here is the peephole-free LSTM of
``lstm.py`` with pieces taken out: its loops and step equations (``LSTM.forward``,
``LSTM.backward``, ``_step_forward``, ``_step_backward``, the gate hooks) run unchanged, and
only the hooks for what a cell removes are overridden.

    lstm1    gate = σ(R_g yᵗ⁻¹ + b_g)     no input signal in the gates            4(mn + n² + n) − 3mn
    lstm2    gate = σ(R_g yᵗ⁻¹)           no input signal, no bias                4(mn + n² + n) − 3(mn + n)
    lstm3    gate = σ(b_g)                bias only: constant over time           4(mn + n² + n) − 3(mn + n²)
    lstm6    cᵗ = f cᵗ⁻¹ + φ(W_z xᵗ + R_z yᵗ⁻¹ + b_z),  yᵗ = φ(cᵗ)             n(m + n + 1)
    lstm_c6  cᵗ = f cᵗ⁻¹ + φ(W_z xᵗ + r_z ⊙ yᵗ⁻¹ + b_z), yᵗ = φ(cᵗ)            n(m + 2)

(gate ∈ {i, f, o}; the block input z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z of lstm1-3 is the vanilla one.)

How the removed pieces leave the work: the stacked ``W``, ``R`` and ``b`` hold only the gate
blocks that have them (``W_BLOCKS``, ``R_BLOCKS``, ``B_BLOCKS``: leading runs of GATE_ORDER),
so the input projection before the loop is (m, n) instead of (m, 4n) for every cell here, the
recurrent product inside the loop covers only the blocks with R (lstm3: R_z alone, (n, n)),
and the weight gradients after the loop and δx cover the same blocks only.  lstm3's gates are
σ(b): formed once per call, not once per step.  lstm_c6 has no matrix product in its loops.

Salem's symbols against npslim's (Greff's): his W_c, U_c, b_c (block input, "c̃") are W_z, R_z,
b_z here; his pointwise u_c of LSTM_C6 is ``r_z`` (lower case: a vector, like the peepholes
p_*); his U_i, U_f, U_o are R_i, R_f, R_o; his hₜ is yᵗ.
"""
from __future__ import annotations

import math
import numbers

from .. import activations
from ..activations import SIGMOID
from .registry import register
from .lstm import LSTM, ONE, _Loop


class SlimLSTM(LSTM):
    r"""The peephole-free LSTM whose stacked ``W``, ``R`` and ``b`` may hold fewer gate blocks.

    ``W_BLOCKS``, ``R_BLOCKS``, ``B_BLOCKS`` name the blocks of GATE_ORDER that have an input
    weight, a recurrent weight and a bias; each is a leading run of GATE_ORDER (``("z",)`` or
    all of it), so each stacked parameter is one contiguous slab and its gradient one product.
    A block with neither W nor R has the same pre-activation at every step (its bias, or 0):
    LSTM3 forms such gates once per call.  The equations and the loops are the LSTM's
    (``LSTM.forward``, ``LSTM.backward``); what covers fewer blocks is three of its hooks::

        _fill_preactivations(X, S)   āᵗ = W xᵗ + b for every step (one product, W's blocks; 0 elsewhere)
        _forward_loop                the recurrent product's buffer, R's blocks wide; the LSTM's
                                     _recurrent_forward and _recurrent_backward then cover R's blocks
        _weight_grads                δW, δR (``_recurrent_grads``), δb over their blocks; δx

    Not registered: the vanilla peephole-free LSTM is ``make("lstm", peepholes=False)``.

    Parameters: |W_BLOCKS|·mn + |R_BLOCKS|·n² + |B_BLOCKS|·n (each subclass states its own).
    """

    W_BLOCKS = ("z", "i", "f", "o")
    R_BLOCKS = ("z", "i", "f", "o")
    B_BLOCKS = ("z", "i", "f", "o")

    def __init__(self, input_size, hidden_size, *, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, peepholes=False, seed=seed, dtype=dtype)

    # ------------------------------------------------------------------ parameters
    def _build(self):
        m, n = self.input_size, self.hidden_size
        for kind in ("W_BLOCKS", "R_BLOCKS", "B_BLOCKS"):
            blocks = getattr(self, kind)
            assert tuple(blocks) == self.GATE_ORDER[:len(blocks)], \
                f"{type(self).__name__}.{kind} = {blocks} must be a leading run of GATE_ORDER {self.GATE_ORDER}"
        self._k = {gate: k for k, gate in enumerate(self.GATE_ORDER)}
        self._nW, self._nR, self._nb = len(self.W_BLOCKS), len(self.R_BLOCKS), len(self.B_BLOCKS)
        self.peep = {}                                                     # no peepholes
        self.W = self._add_stacked("W", self._uniform((m, self._nW * n)), self.W_BLOCKS)
        self._build_recurrence()
        self.b = self._add_stacked("b", self._uniform((self._nb * n,)), self.B_BLOCKS)

    def _build_recurrence(self):
        n = self.hidden_size
        self.R = self._add_stacked("R", self._uniform((n, self._nR * n)), self.R_BLOCKS)

    @classmethod
    def param_count(cls, input_size, hidden_size, **options):
        m, n = input_size, hidden_size
        return len(cls.W_BLOCKS) * m * n + cls._recurrent_count(n) + len(cls.B_BLOCKS) * n

    @classmethod
    def _recurrent_count(cls, n):
        return len(cls.R_BLOCKS) * n * n

    # ------------------------------------------------------------------ the hooks
    def _project_input(self, X, S):
        """S[:, blocks with W] ← W xᵗ for every step, in one product."""
        T, B, m = X.shape
        n, kW = self.hidden_size, self._nW
        XW = self.xp.matmul(X.reshape(T * B, m), self.W)                  # (T·B, kW·n)
        S[:, :kW] = XW.reshape(T, B, kW, n).transpose(0, 2, 1, 3)

    def _fill_preactivations(self, X, S):
        """āᵗ = W xᵗ + b for every step: a block without W starts from 0, one without b adds none."""
        n, kW, kb = self.hidden_size, self._nW, self._nb
        self._project_input(X, S)                                          # āᵗ = W xᵗ   (blocks with W)
        S[:, kW:] = 0                                                      #      0      (blocks without)
        S[:, :kb] += self.b.reshape(kb, 1, n)                              #      + b    (blocks with b)
        return {}

    def _forward_loop(self, T, B, states, saved):
        """The LSTM's, with the recurrent product (B, kR·n): R's blocks only."""
        loop = super()._forward_loop(T, B, states, saved)
        loop.rec = self.xp.empty((B, self._nR * self.hidden_size), dtype=self.dtype)
        return loop

    def _weight_grads(self, cache, dA, loop):
        """δW, δR, δb, each one product over all steps for the blocks that have the weight; returns δX."""
        xp = self.xp
        T, B = cache["T"], cache["B"]
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)
        dA2 = dA.reshape(T * B, G * n)
        dAW = dA2[:, :self._nW * n]                                        # δā of the blocks with W
        grad = self._grad_storage
        grad["W"] += xp.matmul(cache["X"].reshape(T * B, m).T, dAW)        # δW = Σₜ ⟨δāᵗ, xᵗ⟩
        self._recurrent_grads(cache["Y"][:T], dA)                          # δR = Σₜ ⟨δāᵗ, yᵗ⁻¹⟩
        grad["b"] += dA2[:, :self._nb * n].sum(axis=0)                     # δb = Σₜ δāᵗ
        return xp.matmul(dAW, self.W.T).reshape(T, B, m)                   # δxᵗ = Wᵀ δāᵗ

    def _recurrent_grads(self, Yprev, dA):
        """δR += Σₜ ⟨δāᵗ, yᵗ⁻¹⟩ (one product); Yprev (T, B, n), dA (T, B, G·n)."""
        T, B, n = Yprev.shape
        dAR = dA.reshape(T * B, -1)[:, :self._nR * n]
        self._grad_storage["R"] += self.xp.matmul(Yprev.reshape(T * B, n).T, dAR)


# ====================================================================== Lu & Salem 2017: LSTM1-3
@register("lstm1")
class LSTM1(SlimLSTM):
    r"""LSTM1 (Lu & Salem 2017): the gates lose the input signal.

    Forward (no peepholes; g = h = tanh)::

        z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z        zᵗ = g(z̄ᵗ)         (unchanged)
        īᵗ = R_i yᵗ⁻¹ + b_i                 iᵗ = σ(īᵗ)          (no W_i xᵗ)
        f̄ᵗ = R_f yᵗ⁻¹ + b_f                 fᵗ = σ(f̄ᵗ)          (no W_f xᵗ)
        ōᵗ = R_o yᵗ⁻¹ + b_o                 oᵗ = σ(ōᵗ)          (no W_o xᵗ)
        cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ,           yᵗ = h(cᵗ) ⊙ oᵗ

    Backward: the peephole-free LSTM's, except that only δz̄ reaches the input::

        δyᵗ = Δᵗ + R_zᵀ δz̄ᵗ⁺¹ + R_iᵀ δīᵗ⁺¹ + R_fᵀ δf̄ᵗ⁺¹ + R_oᵀ δōᵗ⁺¹
        δōᵗ = δyᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)
        δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + δcᵗ⁺¹ ⊙ fᵗ⁺¹
        δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ),   δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ),   δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
        δxᵗ = W_zᵀ δz̄ᵗ                                    (the gates see no input)
        δW_z = Σₜ ⟨δz̄ᵗ, xᵗ⟩,  δR_⋆ = Σₜ ⟨δ⋆ᵗ, yᵗ⁻¹⟩,  δb_⋆ = Σₜ δ⋆ᵗ    (⋆ ∈ z̄ ī f̄ ō)

    Shapes::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, n) = W_z        R (n, 4n) = [R_z R_i R_f R_o]        b (4n,) = [b_z b_i b_f b_o]

    Parameters: 4(mn + n² + n) − 3mn = mn + 4n² + 4n.
    """

    W_BLOCKS = ("z",)


@register("lstm2")
class LSTM2(SlimLSTM):
    r"""LSTM2 (Lu & Salem 2017): the gates lose the input signal and the bias.

    Forward (no peepholes; g = h = tanh)::

        z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z        zᵗ = g(z̄ᵗ)         (unchanged)
        īᵗ = R_i yᵗ⁻¹                       iᵗ = σ(īᵗ)          (no W_i xᵗ, no b_i)
        f̄ᵗ = R_f yᵗ⁻¹                       fᵗ = σ(f̄ᵗ)          (no W_f xᵗ, no b_f)
        ōᵗ = R_o yᵗ⁻¹                       oᵗ = σ(ōᵗ)          (no W_o xᵗ, no b_o)
        cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ,           yᵗ = h(cᵗ) ⊙ oᵗ

    Backward: as LSTM1 (the same deltas), with the bias gradient for the block input only::

        δyᵗ = Δᵗ + R_zᵀ δz̄ᵗ⁺¹ + R_iᵀ δīᵗ⁺¹ + R_fᵀ δf̄ᵗ⁺¹ + R_oᵀ δōᵗ⁺¹
        δōᵗ, δcᵗ, δf̄ᵗ, δīᵗ, δz̄ᵗ as LSTM1
        δxᵗ = W_zᵀ δz̄ᵗ
        δW_z = Σₜ ⟨δz̄ᵗ, xᵗ⟩,  δR_⋆ = Σₜ ⟨δ⋆ᵗ, yᵗ⁻¹⟩ (⋆ ∈ z̄ ī f̄ ō),  δb_z = Σₜ δz̄ᵗ

    Shapes::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, n) = W_z        R (n, 4n) = [R_z R_i R_f R_o]        b (n,) = b_z

    Parameters: 4(mn + n² + n) − 3(mn + n) = mn + 4n² + n.
    """

    W_BLOCKS = ("z",)
    B_BLOCKS = ("z",)


@register("lstm3")
class LSTM3(SlimLSTM):
    r"""LSTM3 (Lu & Salem 2017): the gates keep only their bias, so they are constant over time.

    Forward (no peepholes; g = h = tanh)::

        z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z        zᵗ = g(z̄ᵗ)         (unchanged)
        iᵗ = σ(b_i),  fᵗ = σ(b_f),  oᵗ = σ(b_o)                 (no input, no recurrence)
        cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ,           yᵗ = h(cᵗ) ⊙ oᵗ

    The three gates are formed once per forward call (σ of 3n numbers), copied into every
    step's gate blocks of the cache, and the gate hooks only read them.

    Backward: only the block input recurs; the gate deltas feed nothing but their bias::

        δyᵗ = Δᵗ + R_zᵀ δz̄ᵗ⁺¹
        δōᵗ = δyᵗ ⊙ h(cᵗ) ⊙ σ'(b_o)
        δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + δcᵗ⁺¹ ⊙ fᵗ⁺¹
        δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(b_f),   δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(b_i),   δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
        δxᵗ = W_zᵀ δz̄ᵗ
        δW_z = Σₜ ⟨δz̄ᵗ, xᵗ⟩,  δR_z = Σₜ ⟨δz̄ᵗ, yᵗ⁻¹⟩,  δb_⋆ = Σₜ δ⋆ᵗ (⋆ ∈ z̄ ī f̄ ō)

    Shapes::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W (m, n) = W_z        R (n, n) = R_z        b (4n,) = [b_z b_i b_f b_o]

    Parameters: 4(mn + n² + n) − 3(mn + n²) = mn + n² + 4n.
    """

    W_BLOCKS = ("z",)
    R_BLOCKS = ("z",)
    SIGMOID_GATES = ()                # σ(b) is formed once per call, before the loop

    def _fill_preactivations(self, X, S):
        """z̄ᵗ = W_z xᵗ + b_z for every step; the gate blocks get their activations σ(b), made once."""
        xp, n, kz = self.xp, self.hidden_size, self._k["z"]
        self._project_input(X, S)                                          # z̄ᵗ = W_z xᵗ
        S[:, kz] += self.params["b_z"]                                     #      + b_z
        gate_bias = self.b[kz * n + n:].reshape(-1, 1, n)                  # [b_i b_f b_o]
        gates = SIGMOID.forward(gate_bias, out=xp.empty(gate_bias.shape, dtype=self.dtype))
        S[:, kz + 1:] = gates                                              # iᵗ, fᵗ, oᵗ = σ(b_i), σ(b_f), σ(b_o)
        return {}

    def input_gate(self, s, c_prev, loop):
        """iᵗ = σ(b_i), formed before the loop: read it"""
        return s[self._k["i"]]

    def forget_gate(self, s, c_prev, i, loop):
        """fᵗ = σ(b_f), formed before the loop: read it"""
        return s[self._k["f"]]

    def output_gate(self, s, c, loop):
        """oᵗ = σ(b_o), formed before the loop: read it"""
        return s[self._k["o"]]


# ====================================================================== Akandeh & Salem 2019: LSTM_6, LSTM_C6
ACTIVATION_CHOICES = ("sigmoid", "tanh", "relu")
DEFAULT_FORGET = 0.59            # the paper's starting value (Akandeh & Salem 2019, section 4.1.3)
DEFAULT_ACTIVATION = "sigmoid"   # the paper's IMDB specification (its Table 3); tanh: its 20 Newsgroups run


def _check_forget(forget):
    """The constant forget value f: a real number with |f| < 1 (BIBO stability)."""
    if isinstance(forget, bool) or not isinstance(forget, numbers.Real):
        raise TypeError(f"forget: expected a real number with |forget| < 1, got {forget!r}")
    f = float(forget)
    if not math.isfinite(f) or abs(f) >= 1:
        raise ValueError(f"forget: expected a finite number with |forget| < 1 (the constant forget value; "
                         f"|f| < 1 keeps the cell BIBO stable), got {forget!r}")
    return f


def _check_activation(activation):
    if activation not in ACTIVATION_CHOICES:
        raise ValueError(f"activation: expected one of {ACTIVATION_CHOICES}, got {activation!r}")
    return activations.get(activation)


@register("lstm6")
class LSTM6(SlimLSTM):
    r"""LSTM_6 (Akandeh & Salem 2019): the LSTM with constant gates, iᵗ = oᵗ = 1, fᵗ = f.

    Forward (φ = ``activation``, both as the block-input and the output activation)::

        z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z        zᵗ = φ(z̄ᵗ)
        cᵗ = f cᵗ⁻¹ + zᵗ                                        (iᵗ = 1, fᵗ = f constant)
        yᵗ = φ(cᵗ)                                              (oᵗ = 1)

    Backward::

        δyᵗ = Δᵗ + R_zᵀ δz̄ᵗ⁺¹
        δcᵗ = δyᵗ ⊙ φ'(cᵗ) + f δcᵗ⁺¹
        δz̄ᵗ = δcᵗ ⊙ φ'(z̄ᵗ)
        δxᵗ = W_zᵀ δz̄ᵗ
        δW_z = Σₜ ⟨δz̄ᵗ, xᵗ⟩,  δR_z = Σₜ ⟨δz̄ᵗ, yᵗ⁻¹⟩,  δb_z = Σₜ δz̄ᵗ
        δy⁻¹ = R_zᵀ δz̄⁰,  δc⁻¹ = f δc⁰

    Against the vanilla LSTM: no peepholes, the three gates become constants (no W, R, b for
    them, no gate deltas), and g = h = φ.  Written as the LSTM with GATE_ORDER = ("z",) and
    the gate hooks returning the constants, so the step equations are the LSTM's.

    Options: ``forget`` f, a constant that is not trained, |f| < 1 (default 0.59: the value the
    paper starts from, section 4.1.3; it then goes up to 0.96 on IMDB); ``activation`` φ in
    sigmoid, tanh, relu (default sigmoid: the paper's IMDB network, its Table 3; it reports
    tanh too, on 20 Newsgroups, and ReLU failing to converge).

    Shapes::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W_z (m, n)    R_z (n, n)    b_z (n,)       (Salem's W_c, U_c, b_c)

    Parameters: n(m + n + 1).  Gate activations: {} (no gates; iᵗ = oᵗ = 1 and fᵗ = f).
    """

    GATE_ORDER = ("z",)
    W_BLOCKS = R_BLOCKS = B_BLOCKS = ("z",)

    def __init__(self, input_size, hidden_size, *, forget=DEFAULT_FORGET, activation=DEFAULT_ACTIVATION,
                 seed=0, dtype="float32"):
        self.forget = _check_forget(forget)
        self.g = self.h = _check_activation(activation)                    # φ in both places
        self.activation = self.g.name
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype)

    # the gates: constants, with nothing to train and no deltas
    def input_gate(self, s, c_prev, loop):
        """iᵗ = 1"""
        return ONE

    def forget_gate(self, s, c_prev, i, loop):
        """fᵗ = f, the constant"""
        return self.forget

    def output_gate(self, s, c, loop):
        """oᵗ = 1"""
        return ONE

    def input_gate_backward(self, d, dc, z, i, loop):
        """no δī"""

    def forget_gate_backward(self, d, dc, c_prev, f, loop):
        """no δf̄"""

    def output_gate_backward(self, d, dv, hc, o, loop):
        """no δō"""

    def _gates(self, s):
        """(z, i, f, o) of one step: (zᵗ, 1, f, 1)."""
        return s[self._k["z"]], ONE, self.forget, ONE


@register("lstm_c6")
class LSTMC6(LSTM6):
    r"""LSTM_C6 (Akandeh & Salem 2019): LSTM_6 with a pointwise recurrence, r_z ⊙ yᵗ⁻¹.

    Forward::

        z̄ᵗ = W_z xᵗ + r_z ⊙ yᵗ⁻¹ + b_z      zᵗ = φ(z̄ᵗ)
        cᵗ = f cᵗ⁻¹ + zᵗ,                    yᵗ = φ(cᵗ)

    Backward::

        δyᵗ = Δᵗ + r_z ⊙ δz̄ᵗ⁺¹
        δcᵗ = δyᵗ ⊙ φ'(cᵗ) + f δcᵗ⁺¹
        δz̄ᵗ = δcᵗ ⊙ φ'(z̄ᵗ)
        δxᵗ = W_zᵀ δz̄ᵗ
        δW_z = Σₜ ⟨δz̄ᵗ, xᵗ⟩,  δr_z = Σₜ yᵗ⁻¹ ⊙ δz̄ᵗ,  δb_z = Σₜ δz̄ᵗ
        δy⁻¹ = r_z ⊙ δz̄⁰,  δc⁻¹ = f δc⁰

    Against LSTM_6: the (n, n) matrix R_z becomes the vector r_z (Salem's u_c), so both time
    loops are elementwise only: the one matrix product forward (W_z, before the loop) and the
    two backward (δW_z, δx, after the loop) do not grow with T.

    Options as LSTM_6: ``forget`` (default 0.59), ``activation`` (default sigmoid).

    Shapes::

        X (T, B, m)   Y (T, B, n)   state (y, c): (B, n), (B, n)
        W_z (m, n)    r_z (n,)      b_z (n,)       (Salem's W_c, u_c, b_c)

    Parameters: n(m + 2).  Gate activations: {} (no gates).
    """

    R_BLOCKS = ("z",)                      # the block that recurs, through the vector r_z

    def _build_recurrence(self):
        self.r = self._add_param("r_z", self._uniform((self.hidden_size,)))

    @classmethod
    def _recurrent_count(cls, n):
        return n

    def _recurrent_forward(self, t, s, states, loop):
        """z̄ᵗ += r_z ⊙ yᵗ⁻¹"""
        s[self._k["z"]] += self.xp.multiply(self.r, states[0][t], out=loop.rec)

    def _backward_loop(self, T, B, cache):
        return _Loop(tmp=self.xp.empty((B, self.hidden_size), dtype=self.dtype))   # nothing to transpose

    def _recurrent_backward(self, t, d, da, dnext, loop):
        """δyᵗ⁻¹ = r_z ⊙ δz̄ᵗ"""
        self.xp.multiply(da, self.r, out=dnext[0])

    def _recurrent_grads(self, Yprev, dA):
        """δr_z += Σₜ yᵗ⁻¹ ⊙ δz̄ᵗ"""
        self.grads["r_z"] += self.xp.einsum("tbn,tbn->n", Yprev, dA)
