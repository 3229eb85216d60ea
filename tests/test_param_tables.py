"""The parameter tables of Salem's papers, reproduced to the unit (MATH.md, "Tables to reproduce exactly").

Every number is counted three ways: the class formula ``param_count(m, n, **options)``, the
``num_params()`` of a built cell (what is actually allocated), and the paper's own formula
written out here.  The papers count the recurrent layer only (no embedding, no dense layer),
and their "LSTM" is Keras's, which has no peepholes: npslim's ``lstm`` with ``peepholes=False``.
(File 002's table is tested elsewhere.)
"""
import inspect
import re

import numpy as np
import pytest

import npslim

VANILLA = ("lstm", {"peepholes": False})


def paper_formula(name, m, n):
    """The counts as the papers write them."""
    base = 4 * (m * n + n * n + n)                    # file 001 eq. (6); file 000's LSTM
    return {
        "lstm": base,
        "lstm1": base - 3 * m * n,                    # file 001: 3mn fewer
        "lstm2": base - 3 * (m * n + n),              # 3(mn + n) fewer
        "lstm3": base - 3 * (m * n + n * n),          # 3(mn + n²) fewer
        "lstm6": n * (m + n + 1),                     # file 000, section 3
        "lstm_c6": n * (m + 2),
    }[name]


def counts(name, options, m, n, directions=1):
    """(param_count, num_params of built cells, paper formula), each summed over ``directions`` cells."""
    cls = npslim.cells.get(name)
    by_formula = directions * cls.param_count(m, n, **options)
    built = sum(npslim.cells.make(name, m, n, seed=d, **options).num_params() for d in range(directions))
    return by_formula, built, directions * paper_formula(name, m, n)


# ---------------------------------------------------------------- file 001 (Lu & Salem 2017)
# columns: vanilla LSTM (no peepholes), LSTM1, LSTM2, LSTM3; one LSTM layer, one direction
CELLS_001 = [VANILLA, ("lstm1", {}), ("lstm2", {}), ("lstm3", {})]
TABLES_001 = [
    ("Table I, pixel-wise MNIST", 1, 100, [40_800, 40_500, 40_200, 10_500]),
    ("Table II, row-wise MNIST", 28, 50, [15_800, 11_600, 11_450, 4_100]),
    ("Table III, IMDB", 128, 128, [131_584, 82_432, 82_048, 33_280]),
]
ROWS_001 = [(table, m, n, name, options, want)
            for table, m, n, wants in TABLES_001
            for (name, options), want in zip(CELLS_001, wants)]


@pytest.mark.parametrize("table, m, n, name, options, want", ROWS_001,
                         ids=[f"{r[0].split(',')[0]}-{r[3]}" for r in ROWS_001])
def test_file_001_tables(table, m, n, name, options, want):
    assert counts(name, options, m, n) == (want, want, want), f"file 001 {table}: {name} (m={m}, n={n})"


# ---------------------------------------------------------------- file 000 (Akandeh & Salem 2019)
# Table 1 (IMDB, m=32, n=100): one LSTM layer, one direction.
# Table 2 (20 Newsgroups, m=128, n=128): a Keras Bidirectional layer (output 256 = 2 × 128), i.e.
# two cells of the same kind, one per direction; the table counts both, so each row is
# 2 × the one-cell count: 263,168 = 2 × 131,584;  65,792 = 2 × 32,896;  33,280 = 2 × 16,640.
# (The paper's text says "for n = 100 and m = 32 ... LSTM_6 is 3400": 3,400 is LSTM_C6's count,
# n(m + 2); LSTM_6's is n(m + n + 1) = 13,300, as its own Table 1 says.  The tables are right.)
CELLS_000 = [VANILLA, ("lstm6", {}), ("lstm_c6", {})]
TABLES_000 = [
    ("Table 1, IMDB", 32, 100, 1, [53_200, 13_300, 3_400]),
    ("Table 2, 20 Newsgroups, bidirectional", 128, 128, 2, [263_168, 65_792, 33_280]),
]
ROWS_000 = [(table, m, n, directions, name, options, want)
            for table, m, n, directions, wants in TABLES_000
            for (name, options), want in zip(CELLS_000, wants)]


@pytest.mark.parametrize("table, m, n, directions, name, options, want", ROWS_000,
                         ids=[f"{r[0].split(',')[0]}-{r[4]}" for r in ROWS_000])
def test_file_000_tables(table, m, n, directions, name, options, want):
    assert counts(name, options, m, n, directions) == (want, want, want), \
        f"file 000 {table}: {name} (m={m}, n={n}, {directions} direction(s))"


def test_forget_and_activation_do_not_count():
    """f is a hyperparameter, not trained; φ has no parameters."""
    for name in ("lstm6", "lstm_c6"):
        cls = npslim.cells.get(name)
        base = cls.param_count(32, 100)
        for opts in ({"forget": 0.96}, {"activation": "tanh"}, {"forget": -0.5, "activation": "relu"}):
            assert cls.param_count(32, 100, **opts) == base
            assert npslim.cells.make(name, 32, 100, **opts).num_params() == base


def test_the_tables_lstm_has_no_peepholes():
    """With peepholes the vanilla counts would be 3n higher and match no table."""
    assert npslim.cells.get("lstm").param_count(1, 100) == 40_800 + 300
    assert npslim.cells.get("lstm").param_count(32, 100) == 53_200 + 300


def test_removed_pieces_match_the_papers_differences():
    """Each slim cell is the vanilla count minus exactly what its paper removes, for any sizes."""
    rng = np.random.default_rng(0)
    for m, n in rng.integers(1, 300, size=(20, 2)):
        m, n = int(m), int(n)
        for name in ("lstm1", "lstm2", "lstm3", "lstm6", "lstm_c6"):
            assert npslim.cells.get(name).param_count(m, n) == paper_formula(name, m, n), (name, m, n)


# ---------------------------------------------------------------- every cell's docstring formula
def evaluate_formula(text, **symbols):
    """The value of a formula as docstrings write it ("4(mn + n² + n) + 3n", "k·(4n/k)·((m + p)/k)"):
    implicit products, ², ·, −; every side of a chain "a = b" must agree."""
    expr = text.replace("−", "-").replace("²", "**2").replace("·", "*")
    expr = re.sub(r"(?<=[0-9a-z)])\s*(?=[a-z(])", "*", expr)      # mn -> m*n, 4(… -> 4*(…, )( -> )*(
    values = {eval(side, {"__builtins__": {}}, symbols) for side in expr.split("=")}
    assert len(values) == 1, f"{text!r}: the sides disagree at {symbols}: {values}"
    return values.pop()


@pytest.mark.parametrize("name", npslim.cells.names())
def test_docstring_formula_is_param_count(name):
    """The one written formula (the docstring's "Parameters:" line, which PARAM_FORMULA reads) equals
    param_count, for the default options and for the alternative it names in brackets."""
    cls = npslim.cells.get(name)
    main, *alternative = re.fullmatch(r"(.*?)\s*(?:\((\w+)=(\w+): (.*)\))?", cls.PARAM_FORMULA).groups()
    m, n, options = 8, 12, {}
    cell = npslim.cells.make(name, m, n)                 # p, r, k: the defaults the cell chose
    symbols = dict(m=m, n=n, p=getattr(cell, "proj_size", None), r=getattr(cell, "rank", None),
                   k=getattr(cell, "groups", None))
    assert evaluate_formula(main, **symbols) == cls.param_count(m, n, **options), cls.PARAM_FORMULA
    if alternative[0]:
        option, value, formula = alternative
        options[option] = {"True": True, "False": False}[value]
        assert evaluate_formula(formula, **symbols) == cls.param_count(m, n, **options), cls.PARAM_FORMULA
    assert cls.PARAM_FORMULA in inspect.getdoc(cls)
