"""The registry of recurrent cells.

    cell = npslim.cells.make("lstm", input_size=m, hidden_size=n, seed=0, dtype="float64")
    npslim.cells.names()        # every registered cell

A cell class joins with the ``@register("name")`` decorator; the registry-wide gradient
check (tests/test_gradcheck.py and ``npslim gradcheck``) covers it from then on.
"""
from __future__ import annotations

from .base import Cell

_REGISTRY = {}


def register(name):
    """Class decorator: register a Cell subclass under ``name``."""
    def deco(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"cell name {name!r} is already registered to {_REGISTRY[name].__name__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return deco


def names():
    """Names of every registered cell, in registration order."""
    return list(_REGISTRY)


def get(name):
    """The class registered as ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"cell: expected one of {names()}, got {name!r}")
    return _REGISTRY[name]


def make(name, input_size, hidden_size, seed=0, dtype="float32", **options):
    """Build the cell registered as ``name`` on the current backend."""
    return get(name)(input_size, hidden_size, seed=seed, dtype=dtype, **options)


# importing the modules registers their cells
from . import lstm, gru, rnn, mgu, slim, projection, binary  # noqa: E402,F401

__all__ = ["Cell", "register", "names", "get", "make"]
