"""The minimal gated unit (Zhou, Wu, Zhang, Zhou 2016): one forget gate and nothing else.

Lu & Salem 2017 (section I) cite it as the extreme of gate reduction: the GRU's
update and reset gates coupled into one forget gate.

Notation: MATH.md.  The input projections of the two blocks are stacked in one layout::

    GATE_ORDER = ("f", "y")      # forget gate, candidate output

``W`` (m, G·n) and ``b`` (G·n,) hold them side by side (``params["W_f"]`` is a live view), so
the input projection of all steps is one product.  The two recurrent matrices are separate
parameters ``R_f`` and ``R_y``: they multiply different signals (yᵗ⁻¹ and fᵗ ⊙ yᵗ⁻¹, the
second known only after the gate), so they are neither applied nor differentiated as one
block.  Weights are stored transposed (see :mod:`npslim.cells.base`).

Inside the time loop the pre-activations of one step sit gate-major, ``s`` (G, B, n), and
leave as the activations [f ỹ]; ``FY`` keeps fᵗ ⊙ yᵗ⁻¹ for δR_y.
"""
from __future__ import annotations

from ..activations import SIGMOID, TANH
from .registry import register
from .base import Cell
from .docformula import FROM_DOCSTRING


@register("mgu")
class MGU(Cell):
    r"""Minimal gated unit (Zhou et al. 2016), cited by Lu & Salem 2017.

    Forward, for t = 0..T−1 (y⁻¹ the initial state)::

        f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ + b_f                 fᵗ = σ(f̄ᵗ)      forget gate
        ȳᵗ = W_y xᵗ + R_y (fᵗ ⊙ yᵗ⁻¹) + b_y          ỹᵗ = tanh(ȳᵗ)   candidate
        yᵗ = (1 − fᵗ) ⊙ yᵗ⁻¹ + fᵗ ⊙ ỹᵗ

    Backward (Δᵗ = dY[t]; at t = T−1 the carried term is the final-state gradient)::

        δyᵗ = Δᵗ + R_fᵀ δf̄ᵗ⁺¹ + δ(fy)ᵗ⁺¹ ⊙ fᵗ⁺¹ + δyᵗ⁺¹ ⊙ (1 − fᵗ⁺¹)
        δȳᵗ = δyᵗ ⊙ fᵗ ⊙ tanh'(ȳᵗ)
        δ(fy)ᵗ = R_yᵀ δȳᵗ                             ((fy)ᵗ = fᵗ ⊙ yᵗ⁻¹, the gated recurrent input)
        δf̄ᵗ = (δyᵗ ⊙ (ỹᵗ − yᵗ⁻¹) + δ(fy)ᵗ ⊙ yᵗ⁻¹) ⊙ σ'(f̄ᵗ)
        δxᵗ = Wᵀ δāᵗ                                   (ā = the stacked [f̄ ȳ])
        δW = Σₜ ⟨δāᵗ, xᵗ⟩,  δb = Σₜ δāᵗ,  δR_f = Σₜ ⟨δf̄ᵗ, yᵗ⁻¹⟩,  δR_y = Σₜ ⟨δȳᵗ, (fy)ᵗ⟩
        δy⁻¹ = R_fᵀ δf̄⁰ + δ(fy)⁰ ⊙ f⁰ + δy⁰ ⊙ (1 − f⁰)

    Compared with the vanilla LSTM: no cell state, no peepholes, no output gate and no output
    activation; one forget gate does the work of the input gate (iᵗ ↔ fᵗ, fᵗ ↔ 1 − fᵗ, as in
    CIFG) and of the GRU's reset gate (it scales yᵗ⁻¹ before R_y).

    Shapes (G = len(GATE_ORDER) = 2)::

        X  (T, B, m)     Y  (T, B, n)     state (y,): (B, n)
        W  (m, G·n)      b  (G·n,)        R_f, R_y  (n, n)
        params: W_f W_y (m, n), R_f R_y (n, n), b_f b_y (n,)

    Parameters: 2(mn + n² + n).
    """

    GATE_ORDER = ("f", "y")
    STATE = ("y",)
    PARAM_FORMULA = FROM_DOCSTRING   # the "Parameters:" line of the docstring

    def __init__(self, input_size, hidden_size, *, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype)
        self._build()

    # ------------------------------------------------------------------ parameters
    def _build(self):
        m, n = self.input_size, self.hidden_size
        self._k = {gate: k for k, gate in enumerate(self.GATE_ORDER)}
        self.W = self._add_gates("W", m)                                   # [W_f W_y]  (m, 2n)
        self.R_f = self._add_param("R_f", self._uniform((n, n)))
        self.R_y = self._add_param("R_y", self._uniform((n, n)))
        self.b = self._add_gates("b")                                      # [b_f b_y]  (2n,)

    @classmethod
    def param_count(cls, input_size, hidden_size, **options):
        m, n, G = input_size, hidden_size, len(cls.GATE_ORDER)
        return G * (m * n + n * n + n)

    # ------------------------------------------------------------------ forward
    def forward(self, X, state0=None):
        """X (T, B, m), state0 (y⁻¹,) or None -> Y (T, B, n), (yᵀ⁻¹,), cache."""
        xp = self.xp
        T, B = self._check_input(X)
        (y0,) = self._check_state("state0", state0, B, T)
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)
        kf, ky = self._k["f"], self._k["y"]

        # the input projection of all steps in one product:  W xᵗ + b  for every t
        XW = xp.matmul(X.reshape(T * B, m), self.W)
        XW += self.b
        S = xp.ascontiguousarray(XW.reshape(T, B, G, n).transpose(0, 2, 1, 3))   # (T, G, B, n)
        Yall = xp.empty((T + 1, B, n), dtype=self.dtype)     # Yall[t + 1] = yᵗ, Yall[0] = y⁻¹
        FY = xp.empty((T, B, n), dtype=self.dtype)           # fᵗ ⊙ yᵗ⁻¹
        Yall[0] = y0
        tmp = xp.empty((B, n), dtype=self.dtype)

        for t in range(T):
            s, y_prev, y = S[t], Yall[t], Yall[t + 1]                      # s (G, B, n)
            s[kf] += xp.matmul(y_prev, self.R_f, out=tmp)                  # f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ + b_f
            f = SIGMOID.forward(s[kf], out=s[kf])                          # fᵗ = σ(f̄ᵗ)
            fy = xp.multiply(f, y_prev, out=FY[t])                         # (fy)ᵗ = fᵗ ⊙ yᵗ⁻¹
            s[ky] += xp.matmul(fy, self.R_y, out=tmp)                      # ȳᵗ = W_y xᵗ + R_y (fy)ᵗ + b_y
            yt = TANH.forward(s[ky], out=s[ky])                            # ỹᵗ = tanh(ȳᵗ)
            xp.subtract(yt, y_prev, out=y); y *= f; y += y_prev            # yᵗ = (1 − fᵗ) ⊙ yᵗ⁻¹ + fᵗ ⊙ ỹᵗ

        cache = {"X": X, "S": S, "FY": FY, "Y": Yall, "T": T, "B": B, "states": (Yall,)}
        return Yall[1:], (Yall[T],), cache

    def gate_activations(self, cache):
        """{"f"} -> (T, B, n) view of the cached forget gate activations."""
        return {"f": cache["S"][:, self._k["f"]]}

    # ------------------------------------------------------------------ backward
    def backward(self, dY, cache, dstate=None):
        """dY (T, B, n), cache, dstate (δyᵀ⁻¹,) or None -> dX (T, B, m), (δy⁻¹,)."""
        xp = self.xp
        T, B = cache["T"], cache["B"]
        self._check_output_grad(dY, T, B)
        (dyT,) = self._check_state("dstate", dstate, B)
        m, n, G = self.input_size, self.hidden_size, len(self.GATE_ORDER)
        kf, ky = self._k["f"], self._k["y"]
        S, FY, Yall = cache["S"], cache["FY"], cache["Y"]

        dA = xp.empty((T, B, G * n), dtype=self.dtype)    # δāᵗ = [δf̄ δȳ]
        d = xp.empty((G, B, n), dtype=self.dtype)          # δāᵗ of one step, gate-major
        dy = xp.empty((B, n), dtype=self.dtype)
        dfy = xp.empty((B, n), dtype=self.dtype)
        tmp = xp.empty((B, n), dtype=self.dtype)
        dy_next = dyT.copy()                               # what step t+1 sends to yᵗ (at t = T−1: the final-state gradient)
        R_f_T = xp.ascontiguousarray(self.R_f.T)           # (n, n), made once per call
        R_y_T = xp.ascontiguousarray(self.R_y.T)
        flush = self._subnormal_flush((dy_next,), (dA,))   # subnormal deltas -> 0 (base.SubnormalFlush)

        for t in range(T - 1, -1, -1):
            s, y_prev = S[t], Yall[t]
            f, yt = s[kf], s[ky]
            xp.add(dY[t], dy_next, out=dy)                                 # δyᵗ = Δᵗ + [from t+1]
            dybar = TANH.grad(yt, out=d[ky]); dybar *= dy; dybar *= f      # δȳᵗ = δyᵗ ⊙ fᵗ ⊙ tanh'(ȳᵗ)
            xp.matmul(dybar, R_y_T, out=dfy)                               # δ(fy)ᵗ = R_yᵀ δȳᵗ
            dfbar = xp.subtract(yt, y_prev, out=d[kf]); dfbar *= dy        # δf̄ᵗ = (δyᵗ ⊙ (ỹᵗ − yᵗ⁻¹)
            dfbar += xp.multiply(dfy, y_prev, out=tmp)                      #         + δ(fy)ᵗ ⊙ yᵗ⁻¹)
            dfbar *= SIGMOID.grad(f, out=tmp)                              #         ⊙ σ'(f̄ᵗ)
            dA[t].reshape(B, G, n)[...] = d.transpose(1, 0, 2)
            xp.matmul(dfbar, R_f_T, out=dy_next)                           # to yᵗ⁻¹: R_fᵀ δf̄ᵗ
            dy_next += xp.multiply(dfy, f, out=tmp)                         #          + δ(fy)ᵗ ⊙ fᵗ
            xp.subtract(1.0, f, out=tmp); tmp *= dy; dy_next += tmp        #          + δyᵗ ⊙ (1 − fᵗ)
            flush(t)                                                       # every FLUSH_EVERY steps

        # each weight gradient as one product over all steps
        dA2 = dA.reshape(T * B, G * n)
        dA4 = dA.reshape(T * B, G, n)
        grad = self._grad_storage
        grad["W"] += xp.matmul(cache["X"].reshape(T * B, m).T, dA2)           # δW = Σₜ ⟨δāᵗ, xᵗ⟩
        grad["R_f"] += xp.matmul(Yall[:T].reshape(T * B, n).T, dA4[:, kf])    # δR_f = Σₜ ⟨δf̄ᵗ, yᵗ⁻¹⟩
        grad["R_y"] += xp.matmul(FY.reshape(T * B, n).T, dA4[:, ky])          # δR_y = Σₜ ⟨δȳᵗ, (fy)ᵗ⟩
        grad["b"] += dA2.sum(axis=0)                                          # δb = Σₜ δāᵗ
        dX = xp.matmul(dA2, self.W.T).reshape(T, B, m)                    # δxᵗ = Wᵀ δāᵗ
        return flush.after_loop(dX), (dy_next,)
