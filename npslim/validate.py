"""Argument checks, one each: every error is one line naming the argument, what was expected and
what was given (``"batch_size: expected a positive integer, got 0"``).

    n = integer("hidden_size", hidden_size, 1)                 # an int (not a bool) >= 1, as int
    lr = number("lr", lr, low=0.0, low_open=True)               # a finite real (not a bool) > 0, as float
    nesterov = flag("nesterov", nesterov)                       # True or False
    peepholes = boolean("peepholes", "no")                      # also "true"/"false", "yes"/"no", 1/0
    mode = choice("mode", mode, ("min", "max"))

A bool is refused where a number is expected (``True`` is an ``int`` to Python, never a size or a
rate to npslim); NumPy integer and floating scalars are accepted.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import numbers

import numpy as np

__all__ = ["integer", "number", "flag", "boolean", "choice", "NotANumber", "checked_on_host", "check_values"]


class NotANumber(TypeError, ValueError):
    """A number was expected and something else was given: a TypeError, and a ValueError too, as
    every bad value given for a number is (so ``except ValueError`` catches all of them)."""


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def integer(arg, value, minimum=None, what=""):
    """``value`` as a Python int, refusing bools, non-integers and values below ``minimum``
    (ValueError).  ``what`` is added to the expectation ("rank", "(steps per window)")."""
    if _is_bool(value) or not isinstance(value, numbers.Integral) or (minimum is not None and value < minimum):
        if minimum == 1:
            expected = "a positive integer"
        elif minimum is None:
            expected = "an integer"
        else:
            expected = f"an integer >= {minimum}"
        raise ValueError(f"{arg}: expected {expected}{' ' + what if what else ''}, got {value!r}")
    return int(value)


def number(arg, value, low=None, high=None, low_open=False, high_open=False, what=""):
    """``value`` as a finite Python float inside the given bounds (``low_open``: > low, else >= low;
    the same for ``high``).  :class:`NotANumber` for a non-number (or a bool), a ValueError out of bounds;
    ``what`` is added to the expectation ("(the drop probability)")."""
    lo = "" if low is None else (f" > {low}" if low_open else f" >= {low}")
    hi = "" if high is None else (f" < {high}" if high_open else f" <= {high}")
    bounds = lo + ("" if not (lo and hi) else " and") + hi
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise NotANumber(f"{arg}: expected a finite number{bounds}{' ' + what if what else ''}, "
                         f"got {type(value).__name__} {value!r}")
    value = float(value)
    if (not math.isfinite(value)
            or (low is not None and (value <= low if low_open else value < low))
            or (high is not None and (value >= high if high_open else value > high))):
        raise ValueError(f"{arg}: expected a finite number{bounds}{' ' + what if what else ''}, got {value!r}")
    return value


def flag(arg, value):
    """``value`` as a Python bool; only True, False (and NumPy bools) are accepted."""
    if not _is_bool(value):
        raise TypeError(f"{arg}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def boolean(arg, value):
    """``value`` as a Python bool, from True/False, 1/0, or the strings of a command line or a
    config file: "true"/"yes"/"on"/"1" and "false"/"no"/"off"/"0" (any case).  Anything else,
    "maybe" or 2, is a ValueError (``bool("false")`` would be True)."""
    if _is_bool(value):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{arg}: expected True or False (or one of {_TRUE + _FALSE}), got {value!r}")


def choice(arg, value, choices):
    """``value`` itself when it is one of ``choices``; else a ValueError listing them."""
    if value not in tuple(choices):
        raise ValueError(f"{arg}: expected one of {tuple(choices)}, got {value!r}")
    return value


_checked_on_host = contextvars.ContextVar("npslim_checked_on_host", default=False)


@contextlib.contextmanager
def checked_on_host():
    """Inside the block, the checks of the VALUES of device arrays are skipped: token ids in range,
    lengths and steps in range, class ids in range, probabilities in [0, 1], mask weights >= 0.
    Each of those reads two scalars from the device, a synchronisation.  Shapes, dtypes and
    backends are still checked (they cost nothing), and host arrays are checked as always.

    Use it only around arrays whose values were checked on the host before they were moved, as
    the :class:`npslim.train.Trainer` does with a Task's arrays (checked when the Task is made),
    so that a training step on the GPU reads nothing back."""
    token = _checked_on_host.set(True)
    try:
        yield
    finally:
        _checked_on_host.reset(token)


def check_values(a):
    """Whether a check may read the values of array ``a``: always for a NumPy array (free), for a
    device array only outside :func:`checked_on_host`."""
    return isinstance(a, np.ndarray) or not _checked_on_host.get()
