"""``npslim study report DIR``: the tables and figures of Greff et al. 2017 for one study.

Writes into ``DIR/report/``::

    report.md            the study, a summary per cell, Welch's t-tests (all trials and the top 10%),
                         fANOVA importances (pooled and per cell, single and pairs), the figures
    results.csv          one row per recorded trial: configuration, status, scores, time, parameters
    boxplots.png         test score per cell, all trials and top 10% by validation (Greff's Figure 3)
    marginals.png        test score against each searched hyperparameter (log axes for log-uniform)
    time_vs_params.png   seconds per trial against the number of parameters, per cell
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from . import analysis

__all__ = ["write_report"]


def write_report(folder, baseline="lstm", alpha=0.05, top=0.1, seed=0):
    """Analyse the study in ``folder`` and write ``folder/report/`` (see the module docstring).
    Returns {"path": report.md, "welch": rows, "welch_top": rows, "fanova": ...}."""
    definition, results = analysis.load(folder)
    if not analysis.finished(results):
        raise ValueError(f"folder: {folder} has no finished trial yet ({len(results)} recorded, all failed or none); "
                         f"run or resume the study first")
    out = Path(folder) / "report"
    out.mkdir(exist_ok=True)
    mode, metric, cells = definition["mode"], definition["metric"], definition["cells"]
    cells = [c for c in cells if analysis.finished(results, c)] or cells
    tests = {}
    if baseline in cells:
        tests["all"] = analysis.welch(results, baseline, mode=mode, alpha=alpha)
        tests["top"] = analysis.welch(results, baseline, mode=mode, alpha=alpha, top=top)
    importance = analysis.fanova(results, definition["space"], cells=cells, seed=seed)
    _results_csv(out / "results.csv", results)
    _boxplots(out / "boxplots.png", results, cells, mode, metric, top, definition["task"])
    _marginals(out / "marginals.png", results, cells, definition["space"], metric, definition["task"])
    _time_plot(out / "time_vs_params.png", results, cells, definition["task"])
    text = _markdown(definition, results, cells, baseline, alpha, top, tests, importance)
    (out / "report.md").write_text(text)
    return {"path": out / "report.md", "welch": tests.get("all"), "welch_top": tests.get("top"),
            "fanova": importance}


# ---------------------------------------------------------------------------- tables
def _fmt(v, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        if abs(v) < 1e-12:                   # round-off of a zero (fANOVA fractions)
            return "0"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}"
    return str(v)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _summary_rows(results, cells, mode):
    rows = []
    for cell in cells:
        mine = [r for r in results if r["cell"] == cell]
        ok = analysis.finished(mine)
        s = np.array([r["test"] for r in ok]) if ok else np.array([math.nan])
        best = (s.max() if mode == "max" else s.min()) if ok else math.nan
        rows.append((cell, len(mine), len(ok), len(mine) - len(ok), float(np.median(s)), float(best),
                     float(np.median([r["seconds"] for r in mine])) if mine else math.nan,
                     float(np.median([r.get("cpu_seconds", math.nan) for r in mine])) if mine else math.nan,
                     int(np.median([r["n_params"] for r in ok])) if ok else "–"))
    return rows


def _welch_rows(rows):
    return [(r["cell"], r["n"], r["mean"], r["baseline_mean"], r["diff"], r["t"], r["p"], r["p_holm"], r["verdict"])
            for r in rows]


def _fanova_text(importance):
    parts = []
    pooled = importance["pooled"]
    if pooled:
        parts.append(f"Pooled over every cell ({pooled['n']} finished trials; the cell is a categorical "
                     f"parameter):\n\n" + _table(["hyperparameter", "fraction of variance"],
                                                  sorted(pooled["single"].items(), key=lambda kv: -kv[1])))
        top_pairs = sorted(pooled["pairs"].items(), key=lambda kv: -kv[1])
        parts.append("Pairs (interaction only), pooled:\n\n" + _table(
            ["pair", "fraction of variance"], [(f"{a} × {b}", v) for (a, b), v in top_pairs]))
    per = {c: v for c, v in importance["per_cell"].items() if v}
    if per:
        names = list(next(iter(per.values()))["single"])
        rows = [(c, v["n"], *(v["single"][n] for n in names), sum(v["pairs"].values())) for c, v in per.items()]
        parts.append("Per cell (fraction of the variance of the test score; \"pairs\" sums the interactions):\n\n"
                     + _table(["cell", "n", *names, "pairs"], rows))
    skipped = [c for c, v in importance["per_cell"].items() if not v]
    if skipped:
        parts.append(f"Too few finished trials for fANOVA: {', '.join(skipped)}.")
    return "\n\n".join(parts)


def _markdown(d, results, cells, baseline, alpha, top, tests, importance):
    t = d["training"]
    failed = [r for r in results if r["status"] != "ok"]
    space = "; ".join(f"{k} {v['dist']} [{v['low']:g}, {v['high']:g}]" if isinstance(v, dict) else f"{k} = {v:g}"
                      for k, v in d["space"].items())
    better = "higher" if d["mode"] == "max" else "lower"
    lines = [
        f"# Study {d['id']}: {len(d['cells'])} cells on {d['task']}",
        "",
        f"Task `{d['task']}` (options {d['task_options'] or 'none'}), cells {', '.join(d['cells'])}, {d['trials']} "
        f"random-search trials per cell (seed {d['seed']}): {len(results)} of {len(d['planned'])} recorded, "
        f"{len(failed)} failed.  Search space: {space}.  Each trial: SGD with Nesterov momentum, batch "
        f"{t['batch_size']}, at most {t['epochs']} epochs, early stopping after {t['patience']} epochs without a "
        f"better validation {d['metric']} (validation: {t['val_fraction']:g} of the training split), gradient "
        f"clipping {t['clip'] or 'off'}, {t['dtype']}.  Score: test {d['metric']} at the epoch of the best "
        f"validation {d['metric']} ({better} is better).  Failed trials (diverged) are left out of the "
        f"statistics.",
        "",
        "## Summary per cell",
        "",
        _table(["cell", "recorded", "finished", "failed", f"median test {d['metric']}", f"best test {d['metric']}",
                "median s/trial", "median CPU s/trial", "median parameters"], _summary_rows(results, d["cells"], d["mode"])),
        "",
        "![test score per cell](boxplots.png)",
        "",
        "## Welch's t-test against the baseline",
        "",
    ]
    if tests:
        head = ["cell", "n", "mean", f"{baseline} mean", "difference", "t", "p", "p (Holm)",
                f"verdict (α = {alpha:g})"]
        lines += [f"Each variant's test {d['metric']} against `{baseline}`'s, two-sided Welch's t-test "
                  f"(scipy.stats.ttest_ind, equal_var=False), p-values corrected with Holm's method over the "
                  f"{len(tests['all'])} variants.", "",
                  f"All finished trials (`{baseline}`: n = {tests['all'][0]['n_baseline'] if tests['all'] else 0}):",
                  "", _table(head, _welch_rows(tests["all"])), "",
                  f"Top {top:.0%} of each cell by validation {d['metric']} (as Greff et al. 2017):", "",
                  _table(head, _welch_rows(tests["top"])), ""]
    else:
        lines += [f"No t-tests: the baseline `{baseline}` has no finished trial in this study.", ""]
    lines += ["## fANOVA: what the score depends on", "",
              "Fraction of the variance of the test score explained by each hyperparameter alone and by each pair's "
              "interaction (Optuna's fANOVA forest, parameters on the scale they were drawn on).", "",
              _fanova_text(importance), "",
              "![test score against each hyperparameter](marginals.png)", "",
              "## Time per trial", "", "![seconds per trial against parameters](time_vs_params.png)", "",
              "Every trial is in `results.csv`; its `command` column is the `npslim train` line that repeats it.", ""]
    return "\n".join(lines)


def _results_csv(path, results):
    fields = ["trial_id", "cell", "index", "seed", "hidden_size", "lr", "momentum", "input_noise", "status",
              "metric", "val", "test", "best_epoch", "epochs", "stopped_early", "seconds", "cpu_seconds", "n_params",
              "cell_params", "worker", "reason", "command"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            writer.writerow({**r, **r["params"]})


# ---------------------------------------------------------------------------- figures
def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _boxplots(path, results, cells, mode, metric, top, task):
    plt = _plt()
    # own y scales: the top 10 % sit close
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(cells) * 2), 4.2), layout="constrained")
    for ax, frac, title in ((axes[0], None, "all finished trials"), (axes[1], top, f"top {top:.0%} by validation")):
        data = [analysis.scores(results, c, mode, frac) for c in cells]
        ax.boxplot([d if len(d) else [np.nan] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(cells) + 1), cells, rotation=45)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(f"test {metric}")
    fig.suptitle(f"{task}: test {metric} per cell")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _marginals(path, results, cells, space, metric, task):
    plt = _plt()
    names = [n for n, e in space.items() if isinstance(e, dict)]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6), sharey=True, squeeze=False,
                             layout="constrained")
    colors = plt.get_cmap("tab10")
    for ax, name in zip(axes[0], names):
        for k, cell in enumerate(cells):
            ok = analysis.finished(results, cell)
            x = [r["params"][name] if name != "momentum" else 1.0 - r["params"][name] for r in ok]
            ax.scatter(x, [r["test"] for r in ok], s=12, alpha=0.7, color=colors(k % 10), label=cell)
        if space[name]["dist"] != "uniform":
            ax.set_xscale("log")
        ax.set_xlabel("1 − momentum" if name == "momentum" else name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"test {metric}")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{task}: test {metric} against each hyperparameter (one dot per trial)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _time_plot(path, results, cells, task):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    colors = plt.get_cmap("tab10")
    for k, cell in enumerate(cells):
        mine = [r for r in results if r["cell"] == cell and r.get("n_params")]
        ax.scatter([r["n_params"] for r in mine], [r["seconds"] for r in mine], s=12, alpha=0.7,
                   color=colors(k % 10), label=cell)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters (model)")
    ax.set_ylabel("seconds per trial (wall, incl. early stopping)")
    ax.set_title(f"{task}: time per trial")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
