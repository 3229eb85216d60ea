"""Kuchaiev & Ginsburg, "Factorization tricks for LSTM networks" (ICLR 2017 workshop):
the LSTM with a projection (LSTMP, Sak et al. 2014) and its two cheaper affine maps.

Notation: MATH.md ("Projection, factorization, groups"), with Greff's symbols: the paper's hₜ is
yᵗ here, its gate order (i, f, o, g) is npslim's GATE_ORDER (z, i, f, o) with g = z; its 4n × (m + p)
matrix W [x; y] is W xᵗ + R yᵗ⁻¹ here (stored transposed, as every weight: see
:mod:`npslim.cells.base`), and its P (p × n) is stored as (n, p).

Every cell here is the peephole-free LSTM of ``lstm.py`` whose block output is projected::

    vᵗ = h(cᵗ) ⊙ oᵗ          the LSTM's block output, n wide (``_step_forward`` unchanged)
    yᵗ = P vᵗ                the cell's output and recurrent signal, p wide

(fᵗ = σ(f̄ᵗ + forget_bias), a constant on top of b_f: see LSTMP), and the three cells differ
only in the affine map T: [xᵗ; yᵗ⁻¹] -> āᵗ = [z̄ ī f̄ ō]ᵗ (4n wide):

    lstmp   āᵗ = W xᵗ + R yᵗ⁻¹ + b                   4n(m + p) + 4n + pn
    flstm   āᵗ = W₂ (W₁ₓ xᵗ + W₁ᵧ yᵗ⁻¹) + b           r(m + p) + 4nr + 4n + pn
    glstm   ā_jᵗ = W_j x_jᵗ + R_j y_jᵗ⁻¹ (group j)    4n(m + p)/k + 4n + pn
            āᵗ = [ā_1ᵗ … ā_kᵗ] + b

so the three are the LSTM's loops (``LSTM.forward``, ``LSTM.backward``) with two sets of hooks.
The projection is LSTMP's, shared by all three::

    _output_forward      yᵗ = P vᵗ                      (vᵗ in its own buffer, ``_forward_loop``)
    _output_backward     δvᵗ = Pᵀ δyᵗ                   (δyᵗ kept for δP: ``_projection_loop``)
    _projection_grads    δP = Σₜ ⟨δyᵗ, vᵗ⟩                 (in ``_weight_grads``)

and T is the LSTM's (W, R (p × 4n), b) in LSTMP, overridden by F-LSTM and G-LSTM::

    _build_affine()                        the parameters of T (before P)
    _fill_preactivations(X, S) -> saved    what T takes from xᵗ, every step in one product;
                                           ``saved``: arrays the cache keeps
    _forward_loop                          the forward loop's _Loop (buffers, ``saved``)
    _recurrent_forward                     completes āᵗ in ``s`` with what T takes from yᵗ⁻¹
    _backward_loop                         transposed weights and buffers of the backward loop,
                                           with the projection's (``_projection_loop``)
    _recurrent_backward                    δyᵗ⁻¹ = (∂āᵗ/∂yᵗ⁻¹)ᵀ δāᵗ
    _weight_grads                          the weight gradients of T (one product each) and δx,
                                           after δP (``_projection_grads``)

Table 1 of the paper (two layers, p = 1024, n = 8192, both layer inputs p wide: the embedding and
the first layer's projection; biases counted) is reproduced to the unit by ``param_count``:
2 · 75,530,240 = 151,060,480 (LSTMP); 2 · 26,247,168 = 52,494,336 (F-LSTM r = 512);
2 · 41,975,808 = 83,951,616, 2 · 25,198,592 = 50,397,184, 2 · 16,809,984 = 33,619,968
(G-LSTM k = 2, 4, 8).  See tests/test_projection.py::test_table1.
"""
from __future__ import annotations

import math

from ..activations import SIGMOID
from ..validate import number
from .registry import register
from .base import _positive_int
from .lstm import LSTM, _Loop


def _proj_size(hidden_size, proj_size):
    """p: ``proj_size``, or the hidden size n when None (the default)."""
    return hidden_size if proj_size is None else _positive_int("proj_size", proj_size)


def _rank(proj_size, rank):
    """r: ``rank``, or max(1, p // 2) when None (the paper's F512 is r = p/2 at p = 1024)."""
    return max(1, proj_size // 2) if rank is None else _positive_int("rank", rank)


def _groups(input_size, hidden_size, proj_size, groups):
    """k, checked to divide m, n and p (every group gets equal slices of x, y and the cell)."""
    k = _positive_int("groups", groups)
    bad = [f"{what} = {size}" for what, size in
           (("input_size", input_size), ("hidden_size", hidden_size), ("proj_size", proj_size)) if size % k]
    if bad:
        raise ValueError(f"groups: expected a number of groups that divides input_size, hidden_size and proj_size "
                         f"(each group gets an equal slice of x, of the cell and of y), got groups = {k} with "
                         f"{', '.join(bad)} not divisible by {k}")
    return k


@register("lstmp")
class LSTMP(LSTM):
    r"""LSTM with a recurrent projection (LSTMP; Sak et al. 2014, as in Kuchaiev & Ginsburg 2017).

    Forward, for t = 0..T−1 (y⁻¹ (p wide), c⁻¹ (n wide) the initial state; g = h = tanh)::

        z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z        zᵗ = g(z̄ᵗ)
        īᵗ = W_i xᵗ + R_i yᵗ⁻¹ + b_i        iᵗ = σ(īᵗ)
        f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ + b_f        fᵗ = σ(f̄ᵗ + forget_bias)
        ōᵗ = W_o xᵗ + R_o yᵗ⁻¹ + b_o        oᵗ = σ(ōᵗ)
        cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ
        vᵗ = h(cᵗ) ⊙ oᵗ                                    (the LSTM's yᵗ, n wide)
        yᵗ = P vᵗ                                          (projected, p wide)

    Backward (Δᵗ = dY[t], p wide; every δ of step T is zero, or the final-state gradient)::

        δyᵗ = Δᵗ + R_zᵀ δz̄ᵗ⁺¹ + R_iᵀ δīᵗ⁺¹ + R_fᵀ δf̄ᵗ⁺¹ + R_oᵀ δōᵗ⁺¹
        δvᵗ = Pᵀ δyᵗ
        δōᵗ = δvᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)
        δcᵗ = δvᵗ ⊙ oᵗ ⊙ h'(cᵗ) + δcᵗ⁺¹ ⊙ fᵗ⁺¹
        δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ fᵗ(1 − fᵗ),   δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ),   δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
        δxᵗ = Wᵀ δāᵗ       (ā = the stacked [z̄ ī f̄ ō])
        δW = Σₜ ⟨δāᵗ, xᵗ⟩,  δR = Σₜ ⟨δāᵗ, yᵗ⁻¹⟩,  δb = Σₜ δāᵗ,  δP = Σₜ ⟨δyᵗ, vᵗ⟩
        δy⁻¹ = Rᵀ δā⁰,   δc⁻¹ = δc⁰ ⊙ f⁰

    Against the vanilla LSTM: no peepholes, and the block output goes through P (n -> p) before it
    is the output and the recurrent input: R is p × 4n instead of n × 4n, the state is (y, c) with
    y p wide, and δyᵗ passes through Pᵀ before the LSTM's step deltas (``_step_backward``, which
    takes δvᵗ where the LSTM takes δyᵗ).

    Shapes (G = 4)::

        X  (T, B, m)     Y  (T, B, p)     state (y, c): (B, p), (B, n)
        W  (m, G·n)      R  (p, G·n)      b  (G·n,)     P  (n, p)
        params: W_z W_i W_f W_o (m, n), R_z R_i R_f R_o (p, n), b_z b_i b_f b_o (n,), P (n, p)

    Parameters: 4n(m + p) + 4n + pn.

    Options: ``proj_size`` p (default None: p = n, a square P; the paper uses p < n, 1024 against
    8192), ``forget_bias`` (default 0), a constant, not trained, on top of b_f.  The authors' code
    (okuchaiev/f-lm) adds 1.0, with b starting at 0 (npslim's at U(−1/√n, 1/√n)).  npslim's lstmp,
    flstm and glstm always carry a trainable P; their code runs without one when ``num_proj`` is
    not given (that cell is npslim's ``lstm`` with ``peepholes=False``).
    """

    STATE = ("y", "c")
    GRADCHECK_OPTIONS = {"proj_size": 3}

    def __init__(self, input_size, hidden_size, *, proj_size=None, forget_bias=0.0, seed=0, dtype="float32"):
        self.proj_size = _proj_size(_positive_int("hidden_size", hidden_size), proj_size)
        self.forget_bias = number("forget_bias", forget_bias, what="(a constant inside σ(f̄ᵗ + forget_bias))")
        super().__init__(input_size, hidden_size, peepholes=False, seed=seed, dtype=dtype)

    # ------------------------------------------------------------------ parameters
    def _build(self):
        n, p = self.hidden_size, self.proj_size
        self._k = {gate: k for k, gate in enumerate(self.GATE_ORDER)}
        self.peep = {}                                                     # no peepholes
        self._build_affine()
        self.P = self._add_param("P", self._uniform((n, p)))

    def _build_affine(self):
        m, p = self.input_size, self.proj_size
        self.W = self._add_gates("W", m)                                   # (m, 4n)
        self.R = self._add_gates("R", p)                                   # (p, 4n): from yᵗ⁻¹ of size p
        self.b = self._add_gates("b")                                      # (4n,)

    @property
    def output_size(self):
        return self.proj_size

    def state_sizes(self):
        return (self.proj_size, self.hidden_size)

    @classmethod
    def param_count(cls, input_size, hidden_size, proj_size=None, forget_bias=0.0, **options):
        m, n = input_size, hidden_size
        p = _proj_size(n, proj_size)
        return cls._affine_count(m, n, p, **options) + p * n

    @classmethod
    def _affine_count(cls, m, n, p):
        """Parameters of T: W, R, b."""
        return 4 * n * (m + p) + 4 * n

    # ------------------------------------------------------------------ the forget gate
    def _joint_sigmoid(self):
        """The LSTM's one σ call for i, f, o; with a forget bias o alone (i is σ'd by its own call:
        the joint slots must sit side by side), as forget_gate forms σ(f̄ᵗ + forget_bias)."""
        if not self.forget_bias: return super()._joint_sigmoid()
        return ("o",), slice(self._k["o"], self._k["o"] + 1)

    def forget_gate(self, s, c_prev, i, loop):
        """fᵗ = σ(f̄ᵗ + forget_bias), in place in the block f̄ of ``s`` (no peepholes; backward is
        the LSTM's, σ' from fᵗ)"""
        if not self.forget_bias: return super().forget_gate(s, c_prev, i, loop)  # the LSTM's (joint σ)
        fbar = s[self._k["f"]]
        fbar += self.forget_bias                                           # f̄ᵗ + forget_bias
        return SIGMOID.forward(fbar, out=fbar)                             # fᵗ = σ(f̄ᵗ + forget_bias)

    # ------------------------------------------------------------------ the projection
    def _forward_loop(self, T, B, states, saved):
        """The LSTM's, with vᵗ in a buffer of its own (T, B, n): yᵗ = P vᵗ is another array."""
        loop = super()._forward_loop(T, B, states, saved)
        loop.V = self.xp.empty((T, B, self.hidden_size), dtype=self.dtype)
        return loop

    def _output_forward(self, t, s, states, loop):
        """yᵗ = P vᵗ"""
        self.xp.matmul(loop.V[t], self.P, out=states[0][t + 1])                 # yᵗ = P vᵗ

    def _backward_loop(self, T, B, cache):
        """The LSTM's (Rᵀ) with the projection's."""
        return self._projection_loop(super()._backward_loop(T, B, cache), T, B)

    def _projection_loop(self, loop, T, B):
        """``loop`` with Pᵀ (stored, contiguous), δvᵗ, and δyᵗ of every step (kept for δP)."""
        xp, n, p = self.xp, self.hidden_size, self.proj_size
        loop.P_T = xp.ascontiguousarray(self.P.T)                          # (p, n), made once per call
        loop.dv = xp.empty((B, n), dtype=self.dtype)
        loop.DY = xp.empty((T, B, p), dtype=self.dtype)
        return loop

    def _output_backward(self, t, dy, d, dnext, loop):
        """δvᵗ = Pᵀ δyᵗ  (δyᵗ kept for δP)"""
        loop.DY[t] = dy
        return self.xp.matmul(dy, loop.P_T, out=loop.dv)                        # δvᵗ = Pᵀ δyᵗ

    def _weight_grads(self, cache, dA, loop):
        """δP, then the LSTM's δW, δR, δb and δx."""
        self._projection_grads(cache, loop)
        return super()._weight_grads(cache, dA, loop)

    def _projection_grads(self, cache, loop):
        """δP = Σₜ ⟨δyᵗ, vᵗ⟩, one product over all steps."""
        T, B, n, p = cache["T"], cache["B"], self.hidden_size, self.proj_size
        V, DY = cache["V"].reshape(T * B, n), loop.DY.reshape(T * B, p)
        self._grad_storage["P"] += self.xp.matmul(V.T, DY)                # δP = Σₜ ⟨δyᵗ, vᵗ⟩


@register("flstm")
class FLSTM(LSTMP):
    r"""Factorized LSTM (F-LSTM; Kuchaiev & Ginsburg 2017): LSTMP whose affine map goes through rank r.

    The paper's W (4n × (m + p)) ≈ W₂ W₁ with W₁ r × (m + p) and W₂ 4n × r.  W₁ is kept as its x
    and y parts, W₁ₓ and W₁ᵧ, so that W₁ₓ xᵗ of every step is one product before the loop.

    Forward (everything else is LSTMP's)::

        qᵗ = W₁ₓ xᵗ + W₁ᵧ yᵗ⁻¹                            (r wide, cached)
        āᵗ = W₂ qᵗ + b                                     (ā = [z̄ ī f̄ ō])
        zᵗ, iᵗ, fᵗ, oᵗ, cᵗ, vᵗ = h(cᵗ) ⊙ oᵗ, yᵗ = P vᵗ     as LSTMP

    Backward (the step deltas δvᵗ, δōᵗ, δcᵗ, δf̄ᵗ, δīᵗ, δz̄ᵗ are LSTMP's)::

        δyᵗ = Δᵗ + W₁ᵧᵀ δqᵗ⁺¹
        δqᵗ = W₂ᵀ δāᵗ
        δxᵗ = W₁ₓᵀ δqᵗ
        δW₂ = Σₜ ⟨δāᵗ, qᵗ⟩,  δb = Σₜ δāᵗ,  δW₁ₓ = Σₜ ⟨δqᵗ, xᵗ⟩,  δW₁ᵧ = Σₜ ⟨δqᵗ, yᵗ⁻¹⟩,  δP = Σₜ ⟨δyᵗ, vᵗ⟩
        δy⁻¹ = W₁ᵧᵀ δq⁰,   δc⁻¹ = δc⁰ ⊙ f⁰

    Against LSTMP: only T changes (W, R -> W₁ₓ, W₁ᵧ, W₂).  In the loop: two products of
    widths p·r and r·4n instead of one of p·4n.

    Shapes (G = 4; stored arrays)::

        X  (T, B, m)     Y  (T, B, p)     state (y, c): (B, p), (B, n)
        W1_x (m, r)      W1_y (p, r)      W2 (r, G·n)   b (G·n,)      P (n, p)
        params: W1_x, W1_y, W2_z W2_i W2_f W2_o (r, n), b_z b_i b_f b_o (n,), P

    Parameters: r(m + p) + 4nr + 4n + pn.

    Options: ``proj_size`` p (default n), ``rank`` r (default max(1, p // 2): the paper's
    F-LSTM F512 has r = 512 at p = 1024), ``forget_bias`` (LSTMP's: fᵗ = σ(f̄ᵗ + forget_bias)).
    Always with P (LSTMP's note).  W₂ is drawn from U(−1/√r, 1/√r) (its fan-in), the
    rest from U(−1/√n, 1/√n).
    """

    GRADCHECK_OPTIONS = {"proj_size": 3, "rank": 2}

    def __init__(self, input_size, hidden_size, *, proj_size=None, rank=None, forget_bias=0.0, seed=0, dtype="float32"):
        self.rank = _rank(_proj_size(_positive_int("hidden_size", hidden_size), proj_size), rank)
        super().__init__(input_size, hidden_size, proj_size=proj_size, forget_bias=forget_bias, seed=seed, dtype=dtype)

    def _build_affine(self):
        m, p, r = self.input_size, self.proj_size, self.rank
        self.W1_x = self._add_param("W1_x", self._uniform((m, r)))
        self.W1_y = self._add_param("W1_y", self._uniform((p, r)))
        self.W2 = self._add_gates("W2", r, bound=1.0 / math.sqrt(r))        # (r, 4n), fan-in r
        self.b = self._add_gates("b")                                      # (4n,)

    @classmethod
    def _affine_count(cls, m, n, p, rank=None):
        r = _rank(p, rank)
        return r * (m + p) + 4 * n * r + 4 * n

    # ------------------------------------------------------------------ forward
    def _fill_preactivations(self, X, S):
        """qᵗ ← W₁ₓ xᵗ for every step, in one product (āᵗ is formed in the loop, from all of qᵗ)."""
        T, B, m = X.shape
        Q = self.xp.matmul(X.reshape(T * B, m), self.W1_x).reshape(T, B, self.rank)
        return {"Q": Q}

    def _forward_loop(self, T, B, states, saved):
        loop = super()._forward_loop(T, B, states, saved)                  # vᵗ; rec (B, G·n) takes W₂ qᵗ
        loop.Q = saved["Q"]
        loop.qy = self.xp.empty((B, self.rank), dtype=self.dtype)
        loop.b = self.b.reshape(len(self.GATE_ORDER), 1, self.hidden_size)
        return loop

    def _recurrent_forward(self, t, s, states, loop):
        """qᵗ += W₁ᵧ yᵗ⁻¹;  āᵗ = W₂ qᵗ + b"""
        xp = self.xp
        B, n, G = s.shape[1], self.hidden_size, len(self.GATE_ORDER)
        q = loop.Q[t]
        q += xp.matmul(states[0][t], self.W1_y, out=loop.qy)           # qᵗ = W₁ₓ xᵗ + W₁ᵧ yᵗ⁻¹
        rec = xp.matmul(q, self.W2, out=loop.rec)                       # W₂ qᵗ   (B, G·n)
        xp.add(rec.reshape(B, G, n).transpose(1, 0, 2), loop.b, out=s)  # āᵗ = W₂ qᵗ + b

    # ------------------------------------------------------------------ backward
    def _backward_loop(self, T, B, cache):
        xp = self.xp
        loop = _Loop(tmp=xp.empty((B, self.hidden_size), dtype=self.dtype),
                     W2_T=xp.ascontiguousarray(self.W2.T),                 # (G·n, r)
                     W1y_T=xp.ascontiguousarray(self.W1_y.T),              # (r, p)
                     DQ=xp.empty((T, B, self.rank), dtype=self.dtype))     # δqᵗ of every step
        return self._projection_loop(loop, T, B)

    def _recurrent_backward(self, t, d, da, dnext, loop):
        """δqᵗ = W₂ᵀ δāᵗ (kept for the weight gradients);  δyᵗ⁻¹ = W₁ᵧᵀ δqᵗ"""
        xp = self.xp
        dq = xp.matmul(da, loop.W2_T, out=loop.DQ[t])               # δqᵗ = W₂ᵀ δāᵗ
        xp.matmul(dq, loop.W1y_T, out=dnext[0])                         # W₁ᵧᵀ δqᵗ, sent to step t−1

    def _weight_grads(self, cache, dA, loop):
        """δP, δW₂, δb, δW₁ₓ, δW₁ᵧ as one product each over all steps; returns δX (T, B, m)."""
        xp = self.xp
        self._projection_grads(cache, loop)                                # δP = Σₜ ⟨δyᵗ, vᵗ⟩
        T, B = cache["T"], cache["B"]
        m, p, r = self.input_size, self.proj_size, self.rank
        dA2 = dA.reshape(T * B, -1)
        DQ2 = loop.DQ.reshape(T * B, r)
        grad = self._grad_storage
        grad["W2"] += xp.matmul(cache["Q"].reshape(T * B, r).T, dA2)         # δW₂ = Σₜ ⟨δāᵗ, qᵗ⟩
        grad["b"] += dA2.sum(axis=0)                                          # δb = Σₜ δāᵗ
        grad["W1_x"] += xp.matmul(cache["X"].reshape(T * B, m).T, DQ2)       # δW₁ₓ = Σₜ ⟨δqᵗ, xᵗ⟩
        grad["W1_y"] += xp.matmul(cache["Y"][:T].reshape(T * B, p).T, DQ2)   # δW₁ᵧ = Σₜ ⟨δqᵗ, yᵗ⁻¹⟩
        return xp.matmul(DQ2, self.W1_x.T).reshape(T, B, m)                # δxᵗ = W₁ₓᵀ δqᵗ


@register("glstm")
class GLSTM(LSTMP):
    r"""Group LSTM (G-LSTM; Kuchaiev & Ginsburg 2017): LSTMP whose affine map is k independent blocks.
    The optimised form of :func:`npslim.reference.glstm_forward` (and its backward).

    x (m) and y (p) are cut into k equal consecutive slices, x = [x_1 … x_k], y = [y_1 … y_k].
    Group j maps [x_jᵗ; y_jᵗ⁻¹] ((m + p)/k) to 4n/k pre-activations, which are ITS n/k units of
    EVERY gate: group j owns cell units j·n/k … (j+1)·n/k − 1 (the same slice of z̄, ī, f̄, ō and
    so of c and u), so the cell is k LSTMs of n/k units each side by side, as in TensorFlow's
    ``GLSTMCell`` (the paper's code).  The k results concatenated (unit-wise, inside each gate)
    are āᵗ; b (4n) and P (n × p, mixing all groups into every yᵗ) are not grouped.

    Forward, for each group j (ā_j = [z̄ ī f̄ ō] restricted to the units of group j)::

        ā_jᵗ = W_j x_jᵗ + R_j y_jᵗ⁻¹ + b_j
        zᵗ, iᵗ, fᵗ, oᵗ, cᵗ, vᵗ = h(cᵗ) ⊙ oᵗ, yᵗ = P vᵗ     as LSTMP

    Backward (the step deltas δvᵗ, δōᵗ, δcᵗ, δf̄ᵗ, δīᵗ, δz̄ᵗ are LSTMP's)::

        δy_jᵗ = Δ_jᵗ + R_jᵀ δā_jᵗ⁺¹
        δx_jᵗ = W_jᵀ δā_jᵗ
        δW_j = Σₜ ⟨δā_jᵗ, x_jᵗ⟩,  δR_j = Σₜ ⟨δā_jᵗ, y_jᵗ⁻¹⟩,  δb = Σₜ δāᵗ,  δP = Σₜ ⟨δyᵗ, vᵗ⟩
        δy_j⁻¹ = R_jᵀ δā_j⁰,   δc⁻¹ = δc⁰ ⊙ f⁰

    Against LSTMP: only T changes (W, R become block-diagonal with k blocks, stored as the
    blocks).  No Python loop over groups: each product is ONE batched ``matmul`` whose blocks are
    views, so no step transposes or copies a gate-major array:

        forward    blocks [g, j] = (gate, group): x_jᵗ (B, m_k) @ W_g[j] (m_k, n_k) written with
                   ``out=`` straight into group j's units of gate g in S (row stride n), for every
                   step before the loop; in the loop y_jᵗ⁻¹ @ R_g[j] the same into a gate-major
                   buffer, then one contiguous add
        backward   δā_jᵗ copied once per step, group-major, into a (k, T, B, G·n_k) buffer: the
                   loop's R_jᵀ δā_jᵗ (written through ``out=`` into [y_1 … y_k]) and, after the
                   loop, δW_j, δR_j, δx_j read it as (k, T·B, G·n_k) stacks, one product each

    Shapes (G = 4; m_k = m/k, p_k = p/k, n_k = n/k)::

        X  (T, B, m)           Y  (T, B, p)           state (y, c): (B, p), (B, n)
        W  (k, m_k, G·n_k)     R  (k, p_k, G·n_k)     b  (G·n,)      P  (n, p)
        params: W_z W_i W_f W_o (k, m_k, n_k), R_z R_i R_f R_o (k, p_k, n_k), b_z b_i b_f b_o (n,), P
        (W_i[j] maps x_j to the input gate of group j's units; with k = 1 W[0] is LSTMP's W)

    Parameters: k · (4n/k) · ((m + p)/k) + 4n + pn = 4n(m + p)/k + 4n + pn.

    Options: ``proj_size`` p (default n), ``groups`` k (default 2, the paper's G-2), which must
    divide m, n and p; ``forget_bias`` (LSTMP's: fᵗ = σ(f̄ᵗ + forget_bias)).  Always with P
    (LSTMP's note).
    """

    GRADCHECK_OPTIONS = {"proj_size": 2, "groups": 2}
    DEFAULT_GROUPS = 2

    def __init__(self, input_size, hidden_size, *, proj_size=None, groups=DEFAULT_GROUPS, forget_bias=0.0, seed=0,
                 dtype="float32"):
        n = _positive_int("hidden_size", hidden_size)
        self.groups = _groups(_positive_int("input_size", input_size), n, _proj_size(n, proj_size), groups)
        super().__init__(input_size, hidden_size, proj_size=proj_size, forget_bias=forget_bias, seed=seed, dtype=dtype)

    def _build_affine(self):
        m, n, p, k = self.input_size, self.hidden_size, self.proj_size, self.groups
        self.W = self._add_gates("W", k, m // k, width=n // k)             # (k, m/k, 4n/k)
        self.R = self._add_gates("R", k, p // k, width=n // k)             # (k, p/k, 4n/k)
        self.b = self._add_gates("b")                                      # (4n,)

    @classmethod
    def _affine_count(cls, m, n, p, groups=DEFAULT_GROUPS):
        k = _groups(m, n, p, groups)
        return k * (4 * n // k) * ((m + p) // k) + 4 * n

    def _by_group(self, a):
        """(R, k·w) -> (k, R, w): the k consecutive slices of the last axis, group-major (a view)."""
        k = self.groups
        return a.reshape(a.shape[0], k, a.shape[1] // k).transpose(1, 0, 2)

    def _gate_blocks(self, w):
        """(k, r, G·n_k) -> (G, k, r, n_k): block [g, j] is group j's weights into gate g, i.e.
        [W_z W_i W_f W_o] (the stacked views) one over the other (a view)."""
        k, r, G = w.shape[0], w.shape[1], len(self.GATE_ORDER)
        return w.reshape(k, r, G, -1).transpose(2, 0, 1, 3)

    def _unit_blocks(self, s):
        """gate-major (…, G, B, n) -> (…, G, k, B, n_k): block [g, j] is group j's units of gate g,
        (B, n_k) with row stride n, so a product lands in it through ``out=`` (a view, no copy)."""
        *lead, G, B, n = s.shape
        return s.reshape(*lead, G, B, self.groups, n // self.groups).swapaxes(-3, -2)

    # ------------------------------------------------------------------ forward
    def _fill_preactivations(self, X, S):
        """ā_jᵗ ← W_j x_jᵗ + b_j for every step, gate and group, in one batched product that writes
        straight into the gate-major S (block [t, g, j] = W_g,j x_jᵗ, (B, m_k) @ (m_k, n_k))."""
        T, B, m = X.shape
        k, n, G = self.groups, self.hidden_size, len(self.GATE_ORDER)
        Xg = X.reshape(T, 1, B, k, m // k).transpose(0, 1, 3, 2, 4)     # x_jᵗ   (T, 1, k, B, m_k)
        self.xp.matmul(Xg, self._gate_blocks(self.W), out=self._unit_blocks(S))  # W_j x_jᵗ  (T, G, k, B, n_k)
        S += self.b.reshape(G, 1, n)                                       #      + b
        return {}

    def _forward_loop(self, T, B, states, saved):
        loop = super()._forward_loop(T, B, states, saved)                  # vᵗ; the product, gate-major:
        G, n = len(self.GATE_ORDER), self.hidden_size
        loop.rec = self.xp.empty((G, B, n), dtype=self.dtype)
        return loop

    def _recurrent_forward(self, t, s, states, loop):
        """ā_jᵗ += R_j y_jᵗ⁻¹ for every group j (one batched product over gates and groups)"""
        rec, yg = loop.rec, self._by_group(states[0][t])[None]         # y_jᵗ⁻¹  (1, k, B, p_k)
        self.xp.matmul(yg, self._gate_blocks(self.R), out=self._unit_blocks(rec))  # R_j y_jᵗ⁻¹ (G, k, B, n_k)
        s += rec                                                           # ā_jᵗ += R_j y_jᵗ⁻¹

    # ------------------------------------------------------------------ backward
    def _backward_loop(self, T, B, cache):
        xp, n, k, G = self.xp, self.hidden_size, self.groups, len(self.GATE_ORDER)
        loop = _Loop(tmp=xp.empty((B, n), dtype=self.dtype),
                     R_T=xp.ascontiguousarray(self.R.transpose(0, 2, 1)),  # (k, G·n_k, p_k)
                     DG=xp.empty((k, T, B, G, n // k), dtype=self.dtype))  # δā_jᵗ of every step, group-major
        return self._projection_loop(loop, T, B)

    def _recurrent_backward(self, t, d, da, dnext, loop):
        """δy_jᵗ⁻¹ = R_jᵀ δā_jᵗ for every group j (one batched product); δā_jᵗ kept for the weights"""
        k, G, B, n = self.groups, *d.shape
        dg = loop.DG[:, t]                                              # (k, B, G, n_k)
        dg[...] = d.reshape(G, B, k, n // k).transpose(2, 1, 0, 3)         # δā_jᵗ
        self.xp.matmul(dg.reshape(k, B, G * n // k), loop.R_T,          # R_jᵀ δā_jᵗ, into [y_1 … y_k]
                       out=self._by_group(dnext[0]))                       #   and sent to step t−1

    def _weight_grads(self, cache, dA, loop):
        """δP, δW_j, δR_j (one batched product each, from δā_jᵗ kept group-major), δb; returns δX."""
        xp = self.xp
        self._projection_grads(cache, loop)                                # δP = Σₜ ⟨δyᵗ, vᵗ⟩
        T, B = cache["T"], cache["B"]
        m, n, p, k, G = self.input_size, self.hidden_size, self.proj_size, self.groups, len(self.GATE_ORDER)
        DG = loop.DG.reshape(k, T * B, G * n // k)                      # δā_jᵗ   (k, T·B, G·n_k)
        Xg = self._by_group(cache["X"].reshape(T * B, m))                 # x_jᵗ     (k, T·B, m_k)
        Yg = self._by_group(cache["Y"][:T].reshape(T * B, p))             # y_jᵗ⁻¹   (k, T·B, p_k)
        grad = self._grad_storage
        grad["W"] += xp.matmul(Xg.transpose(0, 2, 1), DG)                     # δW_j = Σₜ ⟨δā_jᵗ, x_jᵗ⟩
        grad["R"] += xp.matmul(Yg.transpose(0, 2, 1), DG)                     # δR_j = Σₜ ⟨δā_jᵗ, y_jᵗ⁻¹⟩
        grad["b"] += dA.reshape(T * B, G * n).sum(axis=0)                     # δb = Σₜ δāᵗ
        dX = xp.empty((T, B, m), dtype=self.dtype)
        xp.matmul(DG, self.W.transpose(0, 2, 1), out=self._by_group(dX.reshape(T * B, m)))  # δx_jᵗ = W_jᵀ δā_jᵗ
        return dX
