"""A cell's parameter-count formula, stated once: in its docstring's ``Parameters:`` line.

``PARAM_FORMULA = FROM_DOCSTRING`` on a cell class reads that line (up to its first ". " or its
end), so the formula a user reads (``help(cell)``, ``npslim cells``) and the one the tests
evaluate against ``param_count`` (tests/test_param_tables.py) are the same text.
"""
from __future__ import annotations

import inspect


class _FromDocstring:
    def __get__(self, obj, cls):
        for line in (inspect.getdoc(cls) or "").splitlines():
            line = line.strip()
            if line.startswith("Parameters:"):
                return line[len("Parameters:"):].split(". ")[0].strip().rstrip(".")
        raise AttributeError(f"{cls.__name__}: its docstring has no 'Parameters:' line")


FROM_DOCSTRING = _FromDocstring()
