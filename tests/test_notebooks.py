"""The tutorial notebooks: committed executed (at their full budget, without errors, in sync with
their jupytext .py), and every one runs top to bottom at the smoke budget."""
import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"tutorials_{name}", TUTORIALS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load("build")
common = _load("_common")
SOURCES = build.sources()
IDS = [p.stem for p in SOURCES]


def test_there_are_tutorials():
    assert "00-quickstart" in IDS
    assert all(p.with_suffix(".ipynb").exists() for p in SOURCES), "every NN-*.py needs its built .ipynb"
    orphans = {p.stem for p in TUTORIALS.glob("[0-9][0-9]-*.ipynb")} - set(IDS)
    assert not orphans, f"notebooks without a jupytext .py: {sorted(orphans)}"


def test_every_cell_has_its_own_colour():
    import npslim
    missing = set(npslim.cells.names()) - set(common.CELL_COLOURS)
    assert not missing, f"add {sorted(missing)} to CELL_COLOURS in tutorials/_common.py"
    assert len(set(common.CELL_COLOURS.values())) == len(common.CELL_COLOURS), "two cells share a colour"


def test_figure_check_names_what_is_missing():
    from matplotlib.figure import Figure
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    with pytest.raises(ValueError, match="no x label.*no y label.*no title.*no legend"):
        common.check_figure(fig)
    ax.set(xlabel="epoch", ylabel="loss", title="curves")
    ax.legend()
    common.check_figure(fig)


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_committed_notebook_is_built_in_sync_and_error_free(py):
    ipynb = py.with_suffix(".ipynb")
    nb = nbformat.read(ipynb, as_version=4)
    nbformat.validate(nb)
    assert build.in_sync(py, ipynb), f"{ipynb.name} and {py.name} differ: run `jupytext --sync` and rebuild"
    code = [c for c in nb.cells if c.cell_type == "code"]
    unrun = [k for k, c in enumerate(code) if c.execution_count is None]
    assert not unrun, f"{ipynb.name}: code cells {unrun} were not executed: run `python tutorials/build.py {py.stem}`"
    assert any(c.outputs for c in code), f"{ipynb.name} has no outputs"
    errors = [(k, o.get("ename")) for k, c in enumerate(code) for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{ipynb.name}: error outputs in code cells {errors}"
    assert nb.metadata.get("npslim", {}).get("budget") == "full", f"{ipynb.name} was not built at the full budget"


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_source_lines_a_committed_notebook_shows_are_still_there(py):
    """where() prints "npslim/...py:LINE  code" and show_source() "`npslim/...py`, line LINE" with
    the code below: each line must still read so in the library, or the notebook points a reader
    at the wrong line (rebuild it)."""
    import re
    root = TUTORIALS.parent
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    shown = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") + out.get("data", {}).get("text/markdown", "")
            shown += re.findall(r"^(npslim/[\w/]+\.py):(\d+)\s+(.+)$", text, flags=re.M)
            shown += re.findall(r"`(npslim/[\w/]+\.py)`, line (\d+):\n\n```python\n(.+)$", text, flags=re.M)
    stale = []
    for path, line, code in shown:
        lines = (root / path).read_text(encoding="utf-8").splitlines()
        now = lines[int(line) - 1].strip() if int(line) <= len(lines) else "(past the end)"
        if now != code.strip():
            stale.append(f"{path}:{line} shows {code.strip()[:60]!r}, the file has {now[:60]!r}")
    assert not stale, (f"{py.stem}: {len(stale)} of {len(shown)} source lines moved; rebuild it: "
                       f"python tutorials/build.py {py.stem[:2]}\n" + "\n".join(stale[:5]))


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_notebook_runs_top_to_bottom_at_smoke_budget(py, tmp_path):
    nb, seconds = build.execute(py, "smoke", workdir=tmp_path)     # raises CellExecutionError on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert seconds < 120, f"{py.stem} took {seconds:.0f} s at the smoke budget (keep each well under a minute)"
