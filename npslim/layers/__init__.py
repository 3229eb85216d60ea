"""Layers around the cells: embedding, affine map, dropout, input noise, and recurrent wrappers.

Every layer follows one small contract, the cells' contract one level up::

    out, cache = layer.forward(x)                  # Recurrent, Bidirectional, Stack: forward(x, lengths=None)
    dx = layer.backward(dout, cache)               # accumulates into layer.grads (+=)

``layer.params`` maps a name (unique within the layer) to the live array and ``layer.grads``
holds the gradient of the same name, shape and layout; containers prefix their children's
names (``"fw.cell.W_z"``).  ``zero_grad()`` clears the gradients, ``train()`` / ``eval()``
switch the mode (dropout and stochastic cells), ``noise_frozen()`` makes every stochastic
part reuse one draw inside a ``with`` block (gradient checks).  Nothing writes into its
arguments or into a cache; parameters are drawn on the host from a seeded NumPy generator
and moved to the device, like the cells' (see :class:`npslim.cells.base.Cell`).

Variable-length batches are padded at the END and time-major: ``X`` (T, B, ·) with
``lengths`` (B,) integers in 1..T.  A recurrent layer runs its cell over the whole padded
batch and masks: outputs at padded steps (t >= lengths[b]) are zero, their gradient is
zero, and ``return_sequences=False`` returns the output of step ``lengths[b] − 1``.
Because padding comes after every valid step, this is exact: the valid steps never see the
padding, and with zero gradient arriving at every padded step (and at the final state)
every delta of the padded steps is zero, so they add nothing to any gradient.
"""
from __future__ import annotations

from .basic import Dense, Dropout, Embedding, GaussianNoise
from .layer import Layer
from .recurrent import Bidirectional, Recurrent, sequence_mask
from .stack import Stack

__all__ = ["Layer", "Embedding", "Dense", "Dropout", "GaussianNoise", "Recurrent", "Bidirectional", "Stack", "sequence_mask"]
