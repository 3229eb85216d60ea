"""What every tutorial notebook shares: the budget switch, one colour per cell, figure checks, and
ways to show the library's own equations and code instead of retyping them.

    from _common import BUDGET, pick, header, footer, colour, finish, show_doc, show_source, where, claims

* ``NPSLIM_TUTORIAL_BUDGET=full`` (the default) runs a notebook at the size its header documents;
  ``smoke`` shrinks data and epochs so that CI can execute every notebook in a few minutes.
  ``pick(full=..., smoke=...)`` chooses between the two.
* ``colour("lstm")``: the same colour for a cell in every figure of every notebook (``CELL_COLOURS``);
  ``GATE_COLOURS`` does the same for the gates z, i, f, o.
* ``finish(fig)`` refuses a figure without a title or an axes without labels, then shows it.
* ``show_doc(obj)`` prints a docstring (the equations live there), ``show_source(obj)`` shows code,
  ``where(obj, needle, ...)`` prints the file and line of the fast code that computes each equation
  (and fails if the code no longer says so: the notebook cannot drift from the library silently).
* ``claims(rows)`` renders "the paper's number beside ours" as a table built from computed values.
"""
from __future__ import annotations

import inspect
import os
import re
import time
from pathlib import Path

import matplotlib

matplotlib.rcParams.update({"figure.constrained_layout.use": True,   # suptitles and colour bars never overlap
                            "figure.dpi": 100, "axes.titlesize": 11})

BUDGETS = ("full", "smoke")
ENV = "NPSLIM_TUTORIAL_BUDGET"


def _budget():
    value = os.environ.get(ENV, "full").strip().lower() or "full"
    if value not in BUDGETS:
        raise ValueError(f"{ENV}: expected one of {BUDGETS}, got {value!r}")
    return value


BUDGET = _budget()


def pick(full, smoke):
    """``full`` at the documented budget, ``smoke`` when CI shrinks the notebook."""
    return full if BUDGET == "full" else smoke


# ---------------------------------------------------------------------------- header and footer
_started = None


def header(name, minutes):
    """Print the budget this run uses; start the clock that ``footer`` reads."""
    global _started
    import npslim
    _started = time.perf_counter()
    print(f"{name}: budget {BUDGET!r} (full: at most {minutes} minute{'s' if minutes != 1 else ''} on 2 CPU cores; "
          f"{ENV}=smoke shrinks it for CI) · npslim {npslim.__version__}")


def footer():
    """Print how long the notebook took since ``header``."""
    if _started is None:
        raise RuntimeError("footer(): call header() in the first cell")
    seconds = time.perf_counter() - _started
    print(f"this notebook ran in {seconds:.0f} s ({seconds / 60:.1f} min) at budget {BUDGET!r}")
    return seconds


# ---------------------------------------------------------------------------- colours
#: one colour per registered cell, the same in every notebook (matplotlib's tab10 / tab20 values)
CELL_COLOURS = {
    "lstm": "#1f77b4", "gru": "#ff7f0e", "rnn": "#d62728", "rnn-relu": "#9467bd", "mgu": "#8c564b",
    # Greff et al. 2017's one-change variants
    "nig": "#aec7e8", "nfg": "#e377c2", "nog": "#7f7f7f", "niaf": "#bcbd22", "noaf": "#17becf",
    "cifg": "#2ca02c", "np": "#98df8a", "fgr": "#ffbb78",
    # Lu & Salem 2017, Akandeh & Salem 2019
    "lstm1": "#c5b0d5", "lstm2": "#c49c94", "lstm3": "#f7b6d2", "lstm6": "#dbdb8d", "lstm_c6": "#9edae5",
    # Kuchaiev & Ginsburg 2017, Li et al. 2018
    "lstmp": "#393b79", "flstm": "#637939", "glstm": "#8c6d31", "g2lstm": "#843c39", "sharpened": "#7b4173",
}
#: one colour per gate (block input z, input i, forget f, output o, GRU's reset r and update u)
GATE_COLOURS = {"z": "#7f7f7f", "i": "#2ca02c", "f": "#1f77b4", "o": "#d62728", "r": "#9467bd", "u": "#ff7f0e"}


def colour(name):
    """The colour of cell ``name`` (a registry name, or "rnn-relu") in every tutorial figure."""
    try:
        return CELL_COLOURS[name]
    except KeyError:
        raise KeyError(f"name: expected a cell in CELL_COLOURS ({', '.join(CELL_COLOURS)}), got {name!r}; "
                       f"add it to tutorials/_common.py so that every notebook draws it alike") from None


# ---------------------------------------------------------------------------- figures
def curves(ax, runs, key, labels=None, **axes_settings):
    """On ``ax``, one line per run (cell name -> Trainer history) of ``key`` against the epoch, in
    the cell's colour, labelled ``labels[name]`` (default: the name); ``axes_settings`` go to
    ``ax.set`` (the x label is "epoch")."""
    for name, history in runs.items():
        ax.plot([r["epoch"] for r in history], [r[key] for r in history], "o-", color=colour(name),
                label=(labels or {}).get(name, name))
    ax.set(xlabel="epoch", **axes_settings)
    ax.legend()


def check_figure(fig):
    """Raise ValueError naming what is missing: a title (the figure's, or each axes'), and both axis
    labels of every axes that draws data (colour bars excepted)."""
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text().strip()
    problems = []
    for k, ax in enumerate(fig.axes):
        if ax.get_label() == "<colorbar>" or not ax.axison:
            continue
        for axis, label in (("x", ax.get_xlabel), ("y", ax.get_ylabel)):
            shared = getattr(ax, f"get_shared_{axis}_axes")().get_siblings(ax)   # a shared axis is labelled once
            if not any(getattr(a, f"get_{axis}label")().strip() for a in shared):
                problems.append(f"axes {k} ({ax.get_title() or 'untitled'}) has no {axis} label")
        if not has_suptitle and not ax.get_title().strip():
            problems.append(f"axes {k} has no title and the figure has no suptitle")
        handles, labels = ax.get_legend_handles_labels()
        if len([lab for lab in labels if not lab.startswith("_")]) > 1 and ax.get_legend() is None:
            problems.append(f"axes {k} draws several labelled series but has no legend")
    if problems:
        raise ValueError("figure: " + "; ".join(problems))


def finish(fig):
    """Check the figure (``check_figure``) and show it."""
    check_figure(fig)
    from IPython.display import display
    display(fig)
    import matplotlib.pyplot as plt
    plt.close(fig)


# ---------------------------------------------------------------------------- showing the library
def _markdown(text):
    from IPython.display import Markdown, display
    display(Markdown(text))


def show_doc(obj):
    """Print the docstring of ``obj``: where npslim writes its equations."""
    print(f"{_qualname(obj)}:\n")
    print(inspect.getdoc(obj))


def show_source(obj):
    """Show the source code of ``obj`` (a function, class or method) with its file and first line."""
    lines, first = inspect.getsourcelines(obj)
    _markdown(f"`{_relative(obj)}`, line {first}:\n\n```python\n{''.join(lines).rstrip()}\n```")


def where(obj, *needles):
    """For each needle (a piece of a comment, e.g. an equation), print the file and line of the code
    in ``obj`` (a module, class or function) that the comment annotates: the first code line whose
    trailing ``#`` comment contains the needle, else the first comment line that does, with the code
    line below it.  Raise LookupError for a needle in no comment (docstrings do not count)."""
    lines, first = inspect.getsourcelines(obj)
    first = max(first, 1)                          # a module starts at line 0
    path = _relative(obj)
    code, comment = lambda line: line.split("#", 1)[0].strip(), lambda line: line.split("#", 1)[1] if "#" in line else ""
    for needle in needles:
        # "+ p_i ⊙ δīᵗ" must not match "+ p_i ⊙ δīᵗ⁺¹": a superscript after the needle makes another symbol
        says = re.compile(re.escape(needle) + "(?![⁺⁻¹ᵗ])").search
        trailing = [k for k, line in enumerate(lines) if code(line) and says(comment(line))]
        alone = [k for k, line in enumerate(lines) if not code(line) and says(comment(line))]
        if trailing:
            shown = [trailing[0]]
        elif alone:
            shown = [alone[0]] + [k for k in range(alone[0] + 1, len(lines)) if code(lines[k])][:1]
        else:
            raise LookupError(f"needle: {needle!r} is in no comment of {_qualname(obj)} ({path}); "
                              f"the code changed, update the notebook")
        for k in shown:
            print(f"{path}:{first + k:<4d} {lines[k].strip()}")


def _qualname(obj):
    if inspect.ismodule(obj):
        return obj.__name__
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', obj))}"


def _relative(obj):
    """The file of ``obj``'s source, from the repository root; a wrapped function's own file (as
    ``inspect.getsourcelines`` reads it), not its wrapper's."""
    path = Path(inspect.getsourcefile(inspect.unwrap(obj))).resolve()
    for parent in path.parents:
        if parent.name == "npslim":
            return str(path.relative_to(parent.parent))
    return path.name


# ---------------------------------------------------------------------------- the paper beside ours
def claims(rows, columns=("quantity", "paper", "npslim (this run)", "why they differ")):
    """A Markdown table from rows of already-formatted values; every number in it is computed by
    the cell that calls this, so the prose never retypes a result."""
    rows = [tuple(str(v) for v in row) for row in rows]
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"rows: expected {len(columns)} values per row ({', '.join(columns)})")
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    _markdown(head + "\n".join("| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in rows))
