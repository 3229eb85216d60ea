"""docs/design.md's worked example of adding a cell, run as written: the variant defined there registers,
and the registry-wide checks (gradient, parameter formula, contract) pass on it unchanged."""
import re
from pathlib import Path

import numpy as np
import pytest

import npslim

import test_gradcheck        # imported as modules: their tests are not collected again here
import test_param_tables

DESIGN = Path(__file__).resolve().parent.parent / "docs" / "design.md"


def example_source():
    text = DESIGN.read_text(encoding="utf-8")
    section = text[text.index("## Adding a cell"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def half_forget():
    """The example cell, registered for the test and removed after it."""
    registry = npslim.cells.get.__globals__["_REGISTRY"]
    before = dict(registry)
    namespace = {}
    exec(compile(example_source(), str(DESIGN), "exec"), namespace)
    try:
        yield namespace["HalfForget"]
    finally:
        registry.clear()
        registry.update(before)


def test_the_example_is_short():
    assert len(example_source().strip().splitlines()) < 30


def test_the_example_registers_and_passes_the_registry_checks(half_forget):
    assert "half_forget" in npslim.cells.names() and npslim.cells.get("half_forget") is half_forget
    for T in (1, 5):
        test_gradcheck.test_registry_gradcheck("half_forget", T)
    test_param_tables.test_docstring_formula_is_param_count("half_forget")


def test_the_example_forget_gate_stays_in_half_to_one(half_forget):
    cell = npslim.cells.make("half_forget", 3, 5, dtype="float64")
    X = np.random.default_rng(0).standard_normal((6, 2, 3)) * 5
    f = cell.gate_activations(cell.forward(X)[2])["f"]
    assert f.min() >= 0.5 and f.max() <= 1.0
