"""The registry of recurrent cells: a name -> Cell subclass map filled by ``@register("name")``.

Cell modules import :func:`register` from here (never from the package ``__init__``, which
imports them); ``npslim.cells`` re-exports ``register``, ``names``, ``get`` and ``make``.
"""
from __future__ import annotations

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
