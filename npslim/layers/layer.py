"""The base of every layer (:class:`npslim.module.Module` plus adopting children's parameters)."""
from __future__ import annotations

from ..module import Module

__all__ = ["Layer"]


class Layer(Module):
    """Base class: parameters, gradients, modes (:class:`npslim.module.Module`).  Subclasses implement
    ``forward`` / ``backward``; containers list their sub-layers in ``children()`` and ``_adopt`` them."""

    #: True for layers whose forward takes ``lengths`` (the containers pass it on)
    takes_lengths = False

    def __init__(self, *, seed=0, dtype="float32"):
        super().__init__(seed=seed, dtype=dtype)

    def _adopt(self, children):
        """Expose every child's parameters and gradients under ``"{child}.{name}"``."""
        for cname, child in children.items():
            for pname in child.params:
                self.params[f"{cname}.{pname}"] = child.params[pname]
                self.grads[f"{cname}.{pname}"] = child.grads[pname]
