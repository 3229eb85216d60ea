"""Towards binary-valued gates (Li et al. 2018, ICML): G²-LSTM and the sharpened sigmoid.

Both are the LSTM of Li et al. 2018 (eqs. 2-7: the standard LSTM WITHOUT peepholes, so
``peepholes=False`` is the default here; ``peepholes=True`` still works) with ONE change: the
input and forget gates go through a tempered sigmoid, with logistic noise for G²-LSTM::

    sharpened   iᵗ = σ(īᵗ / τ)                     fᵗ = σ(f̄ᵗ / τ)                     τ = 0.2
    g2lstm      iᵗ = G(īᵗ, τ) = σ((īᵗ + εᵢᵗ) / τ)  fᵗ = G(f̄ᵗ, τ) = σ((f̄ᵗ + ε_fᵗ) / τ)   τ = 0.9 (training)
                εᵗ = log Uᵗ − log(1 − Uᵗ),  Uᵗ ~ Uniform(0, 1) per element and per step

So G²-LSTM in training is the sharpened sigmoid applied to the noisy pre-activation; the shared
code is :class:`Sharpened`, and :class:`G2LSTM` only adds the noise and its mode switch.  Only
the two gate hooks (and their backward) change, and the noise joins the pre-activations before
the loop; the loops are the vanilla ones of ``lstm.py``.

The noise never enters the loop: forward draws all T steps' noise once, (T, 2, B, n), and adds
it to the input and forget pre-activations of every step in one operation before the loop
(``_fill_preactivations``: the noise does not depend on the recurrence, and addition commutes).
The temperature that forward used is stored in the cache, and backward uses that one (not the
current mode's); the cell itself stays stateless: each call's τ travels in its loop's ``tau``.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import backend
from ..activations import SIGMOID
from .registry import register
from .lstm import LSTM

TEMPERED = ("i", "f")      # the gates that Li et al. 2018 push towards 0/1 (o and z are unchanged)


@register("sharpened")
class Sharpened(LSTM):
    r"""The sharpened-sigmoid baseline of Li et al. 2018 (section 3.2): input and forget gates σ(ā / τ).

    Forward (the vanilla LSTM of lstm.py otherwise; peepholes only with ``peepholes=True``)::

        īᵗ = W_i xᵗ + R_i yᵗ⁻¹ (+ p_i ⊙ cᵗ⁻¹) + b_i      iᵗ = σ(īᵗ / τ)
        f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ (+ p_f ⊙ cᵗ⁻¹) + b_f      fᵗ = σ(f̄ᵗ / τ)
        z, o, c, y as in the vanilla LSTM

    Backward: the vanilla deltas, with the gate derivative σ'(ā/τ)/τ = iᵗ(1 − iᵗ)/τ::

        δīᵗ = δcᵗ ⊙ zᵗ ⊙ iᵗ (1 − iᵗ) / τ
        δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ fᵗ (1 − fᵗ) / τ
        (everything else, including δW, δR, δb, δp, δx, unchanged)

    What changes vs the vanilla LSTM: the 1/τ inside the input and forget gates (the paper
    notes this equals an LSTM with W_i, R_i, b_i, W_f, R_f, b_f divided by τ) and no
    peepholes by default.  Deterministic: train and eval are the same.

    Shapes: the vanilla LSTM's (p_i, p_f, p_o with peepholes=True only).

    Parameters: 4(mn + n² + n)  (peepholes=True: 4(mn + n² + n) + 3n).

    Options: ``tau`` (> 0, default 0.2), ``peepholes`` (default False, as in Li et al. 2018).
    """

    DEFAULT_TAU = 0.2
    SIGMOID_GATES = ("o",)            # i and f are tempered, σ(ā / τ): their own hooks below

    def __init__(self, input_size, hidden_size, *, tau=None, peepholes=False, seed=0, dtype="float32"):
        self.tau = _positive_float("tau", self.DEFAULT_TAU if tau is None else tau)
        super().__init__(input_size, hidden_size, peepholes=peepholes, seed=seed, dtype=dtype)
        k = [self._k[gate] for gate in TEMPERED]
        assert k == [k[0], k[0] + 1], "the tempered gates i, f must be side by side"
        self._tk = slice(k[0], k[-1] + 1)                  # their slots in the step array

    @classmethod
    def param_count(cls, input_size, hidden_size, peepholes=False, **options):
        return super().param_count(input_size, hidden_size, peepholes=peepholes)

    # ------------------------------------------------------------------ what a call uses
    def _temperature(self):
        """τ of the gates for a forward in the current mode."""
        return self.tau

    def _draw_gate_noise(self, T, B):
        """The noise of a forward of T steps and B rows: (T, 2, B, n) or None (deterministic)."""
        return None

    # ------------------------------------------------------------------ forward
    def _fill_preactivations(self, X, S):
        """āᵗ = W xᵗ + b for every step (the LSTM's), then [ī f̄]ᵗ += [εᵢ ε_f]ᵗ for every step in
        one operation (when the mode draws noise).  The cache keeps ``noise`` ((T, 2, B, n)
        logistic noise [εᵢ, ε_f] of every step, or None) and ``tau`` (the temperature used)."""
        saved = super()._fill_preactivations(X, S)
        T, _, B, _ = S.shape
        noise = self._draw_gate_noise(T, B)
        if noise is not None:
            S[:, self._tk] += noise                                         # īᵗ += εᵢᵗ,  f̄ᵗ += ε_fᵗ
        return {**saved, "noise": noise, "tau": self._temperature()}

    def _forward_loop(self, T, B, states, saved):
        loop = super()._forward_loop(T, B, states, saved)
        loop.tau = saved["tau"]                                             # this call's τ
        return loop

    def input_gate(self, s, c_prev, loop):
        """iᵗ = σ((īᵗ + p_i ⊙ cᵗ⁻¹ + εᵢᵗ) / τ)   (εᵢᵗ is in īᵗ already)"""
        ibar = s[self._k["i"]]
        if "i" in self.peep: ibar += self.xp.multiply(self.peep["i"], c_prev, out=loop.tmp)
        ibar *= 1.0 / loop.tau
        return SIGMOID.forward(ibar, out=ibar)

    def forget_gate(self, s, c_prev, i, loop):
        """fᵗ = σ((f̄ᵗ + p_f ⊙ cᵗ⁻¹ + ε_fᵗ) / τ)   (ε_fᵗ is in f̄ᵗ already)"""
        fbar = s[self._k["f"]]
        if "f" in self.peep: fbar += self.xp.multiply(self.peep["f"], c_prev, out=loop.tmp)
        fbar *= 1.0 / loop.tau
        return SIGMOID.forward(fbar, out=fbar)

    # ------------------------------------------------------------------ backward
    def _backward_loop(self, T, B, cache):
        loop = super()._backward_loop(T, B, cache)
        loop.tau = cache["tau"]                                             # the τ forward used
        return loop

    def input_gate_backward(self, d, dc, z, i, loop):
        """δīᵗ = δcᵗ ⊙ zᵗ ⊙ iᵗ(1 − iᵗ) / τ"""
        di = super().input_gate_backward(d, dc, z, i, loop)                 # δcᵗ ⊙ zᵗ ⊙ iᵗ(1 − iᵗ)
        di *= 1.0 / loop.tau                                                #   / τ
        return di

    def forget_gate_backward(self, d, dc, c_prev, f, loop):
        """δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ fᵗ(1 − fᵗ) / τ"""
        df = super().forget_gate_backward(d, dc, c_prev, f, loop)           # δcᵗ ⊙ cᵗ⁻¹ ⊙ fᵗ(1 − fᵗ)
        df *= 1.0 / loop.tau                                                #   / τ
        return df


@register("g2lstm")
class G2LSTM(Sharpened):
    r"""G²-LSTM, Gumbel-gate LSTM (Li et al. 2018, eqs. 11-16): Gumbel-sigmoid input and forget gates.

    Forward in training mode (``cell.train()``, the default), for t = 0..T−1::

        Uᵗ ~ Uniform(0, 1)  (T, 2, B, n), drawn once per forward: per element, per step, per gate
        εᵗ = log Uᵗ − log(1 − Uᵗ)                                  (logistic noise)
        iᵗ = G(īᵗ, τ) = σ((īᵗ + εᵢᵗ) / τ)      īᵗ = W_i xᵗ + R_i yᵗ⁻¹ (+ p_i ⊙ cᵗ⁻¹) + b_i
        fᵗ = G(f̄ᵗ, τ) = σ((f̄ᵗ + ε_fᵗ) / τ)     f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ (+ p_f ⊙ cᵗ⁻¹) + b_f
        z, o, c, y as in the vanilla LSTM

    Backward (the noise is held fixed: it is part of the cache), ∂G/∂ā = G(1 − G)/τ::

        δīᵗ = δcᵗ ⊙ zᵗ ⊙ iᵗ (1 − iᵗ) / τ
        δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ fᵗ (1 − fᵗ) / τ
        (everything else unchanged)

    Evaluation mode (``cell.eval()``): the plain gates iᵗ = σ(īᵗ), fᵗ = σ(f̄ᵗ), deterministic,
    i.e. exactly the vanilla LSTM.  Li et al. 2018 say "the only difference between G²-LSTM and the
    baselines is the training algorithm, while they adopt the same model structure", and the
    authors' code (zhuohan123/g2-lstm: GumbelNoise returns its input unchanged when not
    training; the Theano NMT model uses T.nnet.sigmoid in its non-sampling mode) evaluates with
    σ(ā): no noise and no temperature.  (σ(ā/τ), the median of G, was the alternative; not chosen.)

    Noise: the cell's own generator, ``numpy.random.default_rng([seed, 3])`` on the host (a
    stream apart from the initialisation's), moved to the device; two cells with the same seed
    draw the same noise.  ``with cell.noise_frozen():`` the first forward of each (T, B) draws,
    later forwards of the same (T, B) reuse that draw (for gradient checks).

    What changes vs the vanilla LSTM: in training, logistic noise and 1/τ inside the input and
    forget gates; no peepholes by default (Li et al. 2018 build on the LSTM without them).

    Shapes: as the vanilla LSTM; cache["noise"] (T, 2, B, n) = [εᵢ, ε_f] per step (None in eval).

    Parameters: 4(mn + n² + n)  (peepholes=True: 4(mn + n² + n) + 3n).

    Options: ``tau`` (> 0, default 0.9 as in the paper), ``peepholes`` (default False).
    """

    DEFAULT_TAU = 0.9
    #: the registry check runs in training mode (the default) with the noise frozen by check_cell;
    #: peepholes on, so it covers the widest path (noise + temperature + peepholes)
    GRADCHECK_OPTIONS = {"peepholes": True}
    NOISE_STREAM = 3     # the noise generator is default_rng([seed, NOISE_STREAM])

    def __init__(self, input_size, hidden_size, *, tau=None, peepholes=False, seed=0, dtype="float32"):
        super().__init__(input_size, hidden_size, tau=tau, peepholes=peepholes, seed=seed, dtype=dtype)
        self._noise_rng = np.random.default_rng(None if seed is None else [seed, self.NOISE_STREAM])
        self._frozen = None      # inside noise_frozen(): (T, B) -> the noise drawn first

    def _temperature(self):
        """τ while training, 1 in evaluation (the plain sigmoid: see the class docstring)."""
        return self.tau if self.training else 1.0

    def _draw_gate_noise(self, T, B):
        """(T, 2, B, n) logistic noise log U − log(1 − U) in training mode, None in evaluation."""
        if not self.training:
            return None
        if self._frozen is not None and (T, B) in self._frozen:
            return self._frozen[(T, B)]
        # U ~ Uniform(0, 1), never 0 (and 1 − U >= 2⁻⁵³): the logit stays finite
        U = self._noise_rng.uniform(np.finfo(np.float64).tiny, 1.0, size=(T, len(TEMPERED), B, self.hidden_size))
        eps = np.log(U)
        eps -= np.log1p(-U)                                                 # ε = log U − log(1 − U)
        noise = backend.to_device(eps.astype(self.dtype), self.xp)
        if self._frozen is not None:
            self._frozen[(T, B)] = noise
        return noise

    @contextlib.contextmanager
    def noise_frozen(self):
        """Inside the block the first forward of each (T, B) draws the noise; later ones reuse it."""
        outer = self._frozen
        self._frozen = {} if outer is None else outer
        try:
            yield self
        finally:
            self._frozen = outer


def _positive_float(arg, v):
    """A finite float > 0, or a ValueError naming ``arg``."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{arg}: expected a finite number > 0, got {v!r}")
    return float(v)
