"""Subnormal deltas: with the loss on late steps only, the deltas carried back through a long
sequence decay geometrically into subnormal floats (below ``np.finfo(dtype).tiny``, ~1.2e-38 in
float32, ~2.2e-308 in float64), which many CPUs process tens of times slower than normal ones.
Every backward loop therefore runs a :class:`SubnormalFlush` (made by ``Cell._subnormal_flush``):
every ``FLUSH_EVERY`` steps the carried deltas below ``tiny`` become zero (and, once they have decayed to within 1/eps of
``tiny``, the per-step deltas of the steps since the last flush and δX too).  That changes the
gradients only by values below ``tiny``, far below any gradient that matters.
"""
from __future__ import annotations

import numpy as np


class SubnormalFlush:
    r"""Flushes subnormal deltas to zero in a backward loop, so that long sequences stay fast.

    Why: with the loss on the last steps only, δyᵗ, δcᵗ (and FGR's δgᵗ) carried back through
    many steps decay geometrically (each step multiplies them by fᵗ, σ', Rᵀ, …) until they are
    subnormal floats, below ``tiny = np.finfo(dtype).tiny`` (1.2e-38 in float32, 2.2e-308 in
    float64), and they can stay there: rounding to nearest keeps the smallest subnormal fixed
    under a product by any factor above 1/2 (a forget gate), so without the flush an LSTM's δc
    stays subnormal for hundreds of steps (615 of 784 in benchmarks/bench_subnormal.py).  Many
    CPUs take a slow path, tens of times slower, for every subnormal operand or result (not
    all: on the AMD Zen 4 where the benchmark was written they cost next to nothing).

    What: ``flush(t)`` at the end of backward step t; when t is a multiple of ``FLUSH_EVERY``
    (the flush point; t = 0, whose deltas go to the initial state, is always one)::

        δ[|δ| < tiny] = 0         for each carried delta array (``carried``: dy_next, dc_next, …)

    and, once the carried deltas have decayed to within 1/eps of ``tiny`` (0 < max |δ| < tiny/eps:
    from here on the per-step deltas formed from them are subnormal too), the same flush of the
    per-step deltas (``deltas``: δāᵗ, the gate deltas, (T, B, ·)) of the steps since the last
    flush point, and ``flush.after_loop(dX)`` flushes δx of those steps and every earlier one.
    A subnormal carried value lives at most FLUSH_EVERY − 1 steps.  FLUSH_EVERY = 16: four
    elementwise operations on each (B, n) carried array every 16th step (~0.4% of a backward
    step at B = 32, n = 100), while the steps with subnormal carried values go from 615 to 39 of
    784 in the benchmark (8 would give 31, at twice the cost; the rest of the 39 is the spread
    of magnitudes across the units as the gradient crosses ``tiny``).  Buffers are allocated
    once per call, none in the loop.

    Effect on the results: only values below ``tiny`` are set to zero, so every gradient changes
    by less than ``tiny`` times the weights it passes through: below ~1e-38 in float32 and
    ~1e-308 in float64, which is below any gradient that matters.  The gradient checks pass
    unchanged.
    """

    def __init__(self, cell, carried, deltas=()):
        xp = self.xp = cell.xp
        info = np.finfo(cell.dtype)
        self.tiny = cell.dtype.type(info.tiny)
        self.low = float(info.tiny / info.eps)           # "decayed": max |carried| below this
        self.every = int(cell.FLUSH_EVERY)
        self.carried = tuple(carried)
        self.deltas = tuple(deltas)
        self.buffers = [(xp.empty_like(a), xp.empty(a.shape, dtype=bool)) for a in self.carried]
        block = lambda D: (min(self.every, D.shape[0]),) + tuple(D.shape[1:])  # noqa: E731
        self.delta_buffers = [(xp.empty(block(D), dtype=D.dtype), xp.empty(block(D), dtype=bool))
                              for D in self.deltas]
        self.last = None if not self.deltas else self.deltas[0].shape[0]   # the previous flush point
        self.decayed_below = None      # the steps below this index got their deltas from decayed ones

    def __call__(self, t):
        """End of backward step t: flush when t is a flush point."""
        if t % self.every:
            return
        peak = 0.0                                                         # max |δ| over the carried deltas
        for a, (magnitude, mask) in zip(self.carried, self.buffers):
            self._flush(a, magnitude, mask)                                # |δ| < tiny -> 0
            peak = max(peak, float(magnitude.max()))
        if 0.0 < peak < self.low and self.deltas:                          # decayed (not merely zero)
            for D, (magnitude, mask) in zip(self.deltas, self.delta_buffers):
                rows = self.last - t                                       # the steps t .. last − 1
                self._flush(D[t:self.last], magnitude[:rows], mask[:rows])
            if self.decayed_below is None:
                self.decayed_below = self.last
        self.last = t

    def after_loop(self, dX):
        """Flush δx of the steps whose deltas came from decayed carried deltas (allocates: after the loop)."""
        if self.decayed_below is not None:
            part = dX[:self.decayed_below]
            magnitude = self.xp.abs(part)
            self.xp.copyto(part, 0, where=magnitude < self.tiny)
        return dX

    def _flush(self, a, magnitude, mask):
        """a[|a| < tiny] = 0 in place, through the preallocated ``magnitude`` and ``mask``."""
        xp = self.xp
        xp.abs(a, out=magnitude)
        xp.less(magnitude, self.tiny, out=mask)
        xp.copyto(a, 0, where=mask)


class _NoFlush:
    """The flush when it is off: does nothing."""

    def __call__(self, t):
        pass

    def after_loop(self, dX):
        return dX


_NO_FLUSH = _NoFlush()
