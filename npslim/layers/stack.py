"""Layers applied in order."""
from __future__ import annotations

from .layer import Layer

__all__ = ["Stack"]


class Stack(Layer):
    r"""Layers applied in order; ``lengths`` goes to every layer that takes it.

    Forward and backward::

        h⁰ = x,  hᵏ⁺¹ = layerₖ(hᵏ)         δhᵏ = layerₖ.backward(δhᵏ⁺¹)

    ``layers`` is a list (names "0", "1", ...) or a dict / list of (name, layer) pairs; names
    contain no "." and are unique.  Parameters are named ``"{layer}.{name}"``.
    """

    takes_lengths = True

    def __init__(self, layers):
        if isinstance(layers, dict):
            items = list(layers.items())
        elif isinstance(layers, (list, tuple)):
            items = [item if isinstance(item, tuple) else (str(k), item) for k, item in enumerate(layers)]
        else:
            raise TypeError(f"layers: expected a list of layers or a dict name -> layer, got {type(layers).__name__}")
        if not items:
            raise ValueError("layers: expected at least one layer, got none")
        names = [name for name, _ in items]
        for name, layer in items:
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"layers: expected names that are non-empty strings without '.', got {name!r}")
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{name!r}]: expected an npslim.layers.Layer, got {type(layer).__name__}")
        if len(set(names)) != len(names):
            raise ValueError(f"layers: expected unique names, got {names}")
        first = items[0][1]
        super().__init__(seed=first.seed, dtype=first.dtype)
        self.backend, self.xp = first.backend, first.xp
        self.layers = dict(items)
        self.output_size = getattr(items[-1][1], "output_size", None)
        self._adopt(self.layers)

    def children(self):
        return self.layers

    def child_key(self, name):
        return f"layers.{name}"

    def forward(self, x, lengths=None):
        """x -> out, cache (the list of the layers' caches)."""
        caches = []
        for layer in self.layers.values():
            x, c = layer.forward(x, lengths) if layer.takes_lengths else layer.forward(x)
            caches.append(c)
        return x, caches

    def backward(self, dout, cache):
        """dout -> the gradient at the input (None when the first layer is an Embedding)."""
        for layer, c in zip(reversed(list(self.layers.values())), reversed(cache)):
            dout = layer.backward(dout, c)
        return dout

    def reset_state(self):
        """Forget the carried state of every stateful layer inside."""
        for layer in self.layers.values():
            if hasattr(layer, "reset_state"):
                layer.reset_state()

    def __repr__(self):
        inner = ",\n".join(f"  {name}: {layer!r}" for name, layer in self.layers.items())
        return f"Stack(\n{inner}\n)"
