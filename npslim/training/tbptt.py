"""Truncated backpropagation through time: windows along time and the state carried across them."""
from __future__ import annotations

import contextlib

from ..layers import Bidirectional, Recurrent
from ..validate import integer
from .models import all_layers

__all__ = ["tbptt_chunks", "carried_state"]


def tbptt_chunks(X, targets, length):
    """Cut a time-major minibatch into consecutive windows of ``length`` steps along time.

    Yields ``(X[s:s+k], targets[s:s+k])`` for s = 0, k, 2k, ... (the last window may be shorter);
    ``targets`` are per-step, time-major ((T, B) or (T, B, k)).  Use it inside
    :func:`carried_state`: the final state of one window then starts the next, its gradient cut."""
    length = integer("length", length, 1, "(steps per window)")
    T = X.shape[0]
    if targets.shape[0] != T:
        raise ValueError(f"targets: expected per-step targets with T = {T} on axis 0 (time-major, as X), "
                         f"got shape {tuple(targets.shape)}")
    for start in range(0, T, int(length)):
        yield X[start:start + length], targets[start:start + length]


@contextlib.contextmanager
def carried_state(model):
    """Inside the block every recurrent layer of ``model`` is stateful: each ``forward`` starts
    from the final state of the previous one (truncated BPTT).  That state enters as a
    CONSTANT: ``Recurrent.backward`` sends no gradient into its initial state, so no gradient
    crosses from one window into the one before.  The carried state starts at zero and is
    forgotten on leaving (each layer's own ``stateful`` setting is restored)."""
    everything = all_layers(model)
    layers = [layer for layer in everything if isinstance(layer, Recurrent)]
    if any(isinstance(layer, Bidirectional) for layer in everything):
        raise ValueError("model: truncated BPTT needs a causal model; a Bidirectional layer reads the future")
    before = [layer.stateful for layer in layers]
    for layer in layers:
        layer.reset_state()
        layer.stateful = True
    try:
        yield model
    finally:
        for layer, flag in zip(layers, before):
            layer.stateful = flag
            layer.reset_state()
