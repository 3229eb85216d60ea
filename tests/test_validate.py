"""npslim.validate: the argument checks every module uses; one-line errors naming the argument,
the expected and the actual."""
import numpy as np
import pytest

from npslim.validate import NotANumber, choice, flag, integer, number


def test_integer_accepts_numpy_ints_and_refuses_bools_floats_and_small_values():
    assert integer("n", np.int32(3), 1) == 3 and type(integer("n", np.int64(3), 1)) is int
    with pytest.raises(ValueError, match=r"^n: expected a positive integer, got True$"):
        integer("n", True, 1)
    with pytest.raises(ValueError, match=r"^n: expected a positive integer, got 2.0$"):
        integer("n", 2.0, 1)
    with pytest.raises(ValueError, match=r"^seed: expected an integer >= 0, got -1$"):
        integer("seed", -1, 0)
    with pytest.raises(ValueError, match=r"^k: expected a positive integer rank, got 0$"):
        integer("k", 0, 1, "rank")


def test_number_checks_type_finiteness_and_bounds():
    assert number("lr", np.float32(0.5), low=0.0, low_open=True) == 0.5
    for bad in (True, None, "1", np.bool_(False)):
        with pytest.raises(NotANumber, match=r"^lr: expected a finite number > 0.0, got "):
            number("lr", bad, low=0.0, low_open=True)
    with pytest.raises(ValueError):                 # a non-number is a ValueError as well as a TypeError
        number("lr", None)
    for bad in (0.0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^lr: expected a finite number > 0.0, got "):
            number("lr", bad, low=0.0, low_open=True)
    with pytest.raises(ValueError, match=r"^p: expected a finite number >= 0.0 and < 1.0 \(the drop"):
        number("p", 1.0, low=0.0, high=1.0, high_open=True, what="(the drop probability)")


def test_flag_and_choice():
    assert flag("nesterov", np.bool_(True)) is True
    with pytest.raises(TypeError, match=r"^nesterov: expected True or False, got int 1$"):
        flag("nesterov", 1)
    assert choice("mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"^mode: expected one of \('min', 'max'\), got 'mean'$"):
        choice("mode", "mean", ("min", "max"))
