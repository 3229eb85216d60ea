"""The registry of recurrent cells.

    cell = npslim.cells.make("lstm", input_size=m, hidden_size=n, seed=0, dtype="float64")
    npslim.cells.names()        # every registered cell

A cell class joins with the ``@register("name")`` decorator; the registry-wide gradient
check (tests/test_gradcheck.py and ``npslim gradcheck``) covers it from then on.
"""
from __future__ import annotations

from .base import Cell
from .registry import check_options, get, make, names, register

# importing the modules registers their cells
from . import lstm, gru, rnn, mgu, slim, projection, binary  # noqa: E402,F401
from .registry import document_options  # noqa: E402

document_options()

__all__ = ["Cell", "register", "names", "get", "make", "check_options"]
