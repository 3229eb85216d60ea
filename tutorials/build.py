"""Execute the tutorial notebooks and write them with their outputs.

    python tutorials/build.py                      # every notebook, at its full budget
    python tutorials/build.py 01 02-vanilla-lstm   # some of them (a number or a name is enough)
    python tutorials/build.py --budget smoke 01    # the small CI size (writes nothing unless --write)

Each notebook is a pair: ``NN-name.py`` (jupytext's percent format: what reviews as code) and
``NN-name.ipynb`` (what readers open, committed with outputs).  The build reads the ``.py``,
executes it top to bottom with nbclient in a fresh temporary folder (so no earlier run's files
are read), and writes the ``.ipynb`` atomically with its outputs, the budget and the runtime in
its metadata.  If the ``.ipynb`` was edited after the ``.py`` (their cells differ and the notebook
is newer), the build refuses rather than overwrite the edit: run ``jupytext --sync`` on it first.

The kernel imports npslim from this checkout (the repository root goes first on PYTHONPATH) and
``_common`` from tutorials/; BLAS runs on one thread; matplotlib uses Jupyter's inline backend, whatever
MPLBACKEND says outside (CI sets Agg), so figures are stored as PNG outputs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FORMATS = "ipynb,py:percent"
BUDGET_ENV = "NPSLIM_TUTORIAL_BUDGET"
TIMEOUT = 15 * 60          # seconds per cell: a notebook's whole full budget


def sources():
    """The jupytext sources of the notebooks, in order: tutorials/NN-*.py."""
    return sorted(p for p in HERE.glob("[0-9][0-9]-*.py"))


def resolve(names):
    """The sources named by number ("01") or name ("01-bptt-by-hand", with or without suffix)."""
    every = sources()
    if not names:
        return every
    chosen = []
    for name in names:
        stem = Path(name).name.split(".")[0]
        hits = [p for p in every if p.stem == stem or p.stem.split("-")[0] == stem]
        if len(hits) != 1:
            raise SystemExit(f"build.py: name {name!r}: expected one of {', '.join(p.stem for p in every)}")
        chosen.append(hits[0])
    return chosen


def cells_of(nb):
    """(cell type, source) of every cell: what pairing must keep equal."""
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def read_source(py):
    """The notebook of a jupytext .py, paired with its .ipynb."""
    import jupytext
    nb = jupytext.read(py)
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell-{k:02d}"                # stable ids: a rebuild changes only what changed
    nb.metadata.setdefault("jupytext", {})["formats"] = FORMATS
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def in_sync(py, ipynb):
    """True when the .ipynb has the same cells as the .py."""
    import nbformat
    return cells_of(read_source(py)) == cells_of(nbformat.read(ipynb, as_version=4))


def kernel_environment(budget):
    """The environment the kernel inherits: this checkout's npslim, one BLAS thread, the inline matplotlib backend (figures become PNG outputs), the budget."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)] + [p for p in [env.get("PYTHONPATH")] if p])
    env[BUDGET_ENV] = budget
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def execute(py, budget, workdir=None):
    """Execute the notebook of ``py`` at ``budget`` in ``workdir`` (a fresh temporary folder by
    default); returns (the executed notebook, seconds).  Raises nbclient's CellExecutionError,
    which names the cell and shows its traceback, on any error."""
    import nbclient
    nb = read_source(py)
    with tempfile.TemporaryDirectory(prefix=f"npslim-{py.stem}-") as tmp:
        client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", record_timing=False,
                                         resources={"metadata": {"path": str(workdir or tmp)}})
        start = time.perf_counter()
        client.execute(env=kernel_environment(budget))      # passed on to the kernel's start
        seconds = time.perf_counter() - start
    nb.metadata["npslim"] = {"budget": budget, "seconds": round(seconds, 1)}
    return nb, seconds


def write(nb, path):
    """Write the notebook atomically: a half-written .ipynb never replaces a good one."""
    import nbformat
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Execute the tutorial notebooks and write them with outputs.")
    parser.add_argument("names", nargs="*", help="notebooks by number or name (default: all)")
    parser.add_argument("--budget", choices=("full", "smoke"), default="full",
                        help="full: the documented size, committed; smoke: the CI size (default: full)")
    parser.add_argument("--write", action="store_true", help="with --budget smoke: write the notebooks anyway")
    args = parser.parse_args(argv)
    for py in resolve(args.names):
        ipynb = py.with_suffix(".ipynb")
        if ipynb.exists() and ipynb.stat().st_mtime > py.stat().st_mtime and not in_sync(py, ipynb):
            raise SystemExit(f"build.py: {ipynb.name} was edited after {py.name}; run "
                             f"`jupytext --sync {ipynb.relative_to(ROOT)}` first, then build again")
        print(f"{py.stem}: executing at budget {args.budget!r} ...", flush=True)
        nb, seconds = execute(py, args.budget)
        if args.budget == "full" or args.write:
            write(nb, ipynb)
        print(f"{py.stem}: {seconds:.0f} s" + (f", wrote {ipynb.relative_to(ROOT)}" if args.budget == "full"
                                               or args.write else " (not written: smoke budget)"), flush=True)


if __name__ == "__main__":
    sys.exit(main())
