"""The registry of recurrent cells: a name -> Cell subclass map filled by ``@register("name")``.

Cell modules import :func:`register` from here (never from the package ``__init__``, which
imports them); ``npslim.cells`` re-exports ``register``, ``names``, ``get``, ``make`` and
``check_options``.  A cell's options are read from its ``__init__`` signature
(``Cell.option_defaults``): the list in ``help(npslim.cells.make)`` and ``npslim cells NAME`` comes
from there too.
"""
from __future__ import annotations

from ..validate import boolean

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


def describe_options(name):
    """The options of cell ``name`` with their defaults as text: "peepholes=True" ("none")."""
    return ", ".join(f"{k}={v!r}" for k, v in get(name).option_defaults().items()) or "none"


def check_options(name, options):
    """``options`` for cell ``name``, checked: an option the cell does not take is a ValueError
    naming the ones it does; a boolean option accepts True/False, 1/0 and "true"/"false",
    "yes"/"no", "on"/"off" ("peepholes=false" from a command line is False, "maybe" an error)."""
    defaults = get(name).option_defaults()
    unknown = [k for k in options if k not in defaults]
    if unknown:
        raise ValueError(f"{unknown[0]}: cell {name!r} takes no option {unknown[0]!r}; its options: "
                         f"{describe_options(name)}")
    return {k: boolean(k, v) if isinstance(defaults[k], bool) else v for k, v in options.items()}


def make(name, input_size, hidden_size, seed=0, dtype="float32", **options):
    """Build the cell registered as ``name`` on the current backend; ``options`` are checked by
    :func:`check_options`.  The options of each cell (name=default) are listed below."""
    return get(name)(input_size, hidden_size, seed=seed, dtype=dtype, **check_options(name, options))


def document_options():
    """Append each registered cell's options with their defaults to ``make.__doc__`` (called once
    all cell modules are imported)."""
    rows = "\n".join(f"        {n:<10} {describe_options(n)}" for n in names())
    make.__doc__ = make.__doc__.split("\n\n    Options of each cell")[0] + \
        f"\n\n    Options of each cell (name=default; seed and dtype are taken by all)::\n\n{rows}\n"
