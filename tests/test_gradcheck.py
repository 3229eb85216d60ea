"""Every registered cell, gradient-checked: float64, central differences, random weights, biases,
peepholes and initial state, at T = 1 and T = 5.  Parametrized over the registry itself, so a new
cell is checked the moment it registers."""
import numpy as np
import pytest

import npslim
from npslim.gradcheck import check_cell, relative_error

from conftest import make_cell

TOL = 1e-6


@pytest.mark.parametrize("T", [1, 5])
@pytest.mark.parametrize("name", npslim.cells.names())
def test_registry_gradcheck(name, T):
    cell = make_cell(name)
    errors = check_cell(cell, T=T, B=3, seed=T)
    # every parameter, the input and every initial-state array was checked
    assert set(errors) == set(cell.params) | {"X"} | {f"{s}0" for s in cell.STATE}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{name} T={T}: worst {worst} error {errors[worst]:.2e}; all {errors}"


def test_parameters_are_random_and_nonzero():
    # the gradient check would hide a bias copied into the wrong gate if biases were zero
    for name in npslim.cells.names():
        cell = make_cell(name)
        for pname, p in cell.params.items():
            assert np.count_nonzero(npslim.backend.to_host(p)) == p.size, f"{name}.{pname} has zeros"


def test_gradcheck_catches_a_wrong_gradient():
    """The check must be able to fail: a backward that drops one term is caught."""
    cell = make_cell("lstm")
    original = type(cell).forget_gate_backward

    def broken(self, d, dc, c_prev, f, loop):
        df = original(self, d, dc, c_prev, f, loop)
        df *= 0.9                       # a 10% error in δf̄
        return df

    cell.forget_gate_backward = broken.__get__(cell)
    errors = check_cell(cell, T=3, B=2)
    assert errors["W_f"] > 1e-3 and errors["b_f"] > 1e-3


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        check_cell(make_cell("lstm", dtype="float32"))


def test_relative_error_floor():
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 1e-12])) < 1e-6
    assert relative_error(np.array([1.0, 0.5]), np.array([1.0, 0.0])) > 0.5
