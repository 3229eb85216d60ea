"""Greff et al. 2017's analysis of a study: Welch's t-tests against vanilla and fANOVA importances.

    definition, results = load("studies/vowels")
    welch(results, "lstm", mode="max")                 # each variant against vanilla, Holm-corrected
    welch(results, "lstm", mode="max", top=0.1)        # on each cell's best 10% by validation score
    fanova(results, definition["space"])               # importance of each hyperparameter and pair

The score of a trial is its test metric at the epoch of its best validation metric (accuracy:
higher is better, ``mode="max"``; losses: lower, ``mode="min"``).  Only finished trials count;
failed ones (diverged) are reported by number.

**Welch's t-test** (``scipy.stats.ttest_ind(equal_var=False)``) compares each variant's scores
with the baseline's, two-sided; the p-values of all variants are corrected together with Holm's
step-down method (Greff et al. 2017 adjust for multiple comparisons; Holm controls the
family-wise error rate as Bonferroni does and rejects at least as often).  A variant is flagged
when its corrected p < ``alpha``.

**fANOVA** (Hutter et al. 2014) fits a random forest to score(hyperparameters) and splits the
variance of its prediction over the search space into the parts due to each hyperparameter alone
and to each pair (the remainder: higher interactions).  This uses Optuna's implementation
(``optuna.importance._fanova``: its ``_Fanova`` forest and ``_FanovaTree`` marginals), with the
parameters on the scale they were drawn on (log for log-uniform ones: the forest sees ln lr,
ln n and ln(1 − momentum)), which Optuna's public evaluator does not do; the pair terms are
V(i, j) − V(i) − V(j) over the total variance, from the same trees.  "Pooled" adds the cell
as a categorical parameter and fits all cells' trials together (pairs: hyperparameters only; a
categorical's one-hot columns would multiply the marginal's grid by 2 per cell).
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

__all__ = ["load", "finished", "scores", "holm", "welch", "fanova", "FOREST"]

#: the random forest of fANOVA: 16 trees as the original fanova package; depth and leaf size bounded
#: so that the pair marginals (a tree walk per pair of split points) take seconds, not minutes
FOREST = {"n_trees": 16, "max_depth": 16, "min_samples_leaf": 2}


def load(folder):
    """(definition, results) of the study in ``folder`` (its study.json and every recorded trial)."""
    from .store import Store, read_definition
    definition = read_definition(folder, arg="folder")
    with Store(f"{folder}/results.sqlite", definition["id"]) as store:
        return definition, store.results()


def finished(results, cell=None):
    """The trials that finished (status "ok", a test score), optionally of one cell."""
    return [r for r in results if r["status"] == "ok" and r.get("test") is not None
            and math.isfinite(r["test"]) and (cell is None or r["cell"] == cell)]


def scores(results, cell, mode, top=None):
    """The test scores of ``cell``'s finished trials; ``top`` (a fraction): only the best
    ceil(top · n) (at least 2) by validation score."""
    rows = finished(results, cell)
    if top is not None:
        rows = sorted(rows, key=lambda r: r["val"], reverse=(mode == "max"))
        rows = rows[:max(2, math.ceil(top * len(rows)))]
    return np.array([r["test"] for r in rows], dtype=np.float64)


def holm(p):
    """Holm's step-down adjusted p-values: sort ascending, p_(k) · (m − k + 1), running maximum, ≤ 1."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


def welch(results, baseline="lstm", *, mode, top=None, alpha=0.05):
    """One row per variant (every cell but ``baseline``): {"cell", "n", "mean", "baseline_mean",
    "diff" (variant − baseline), "t", "p", "p_holm", "significant", "verdict"} where the verdict
    is "worse" / "better" (significant, in the metric's direction) or "no difference"."""
    from scipy import stats
    cells = sorted({r["cell"] for r in results if r["cell"] != baseline})
    base = scores(results, baseline, mode, top)
    if len(base) < 2:
        raise ValueError(f"baseline: {baseline!r} has {len(base)} finished trials; Welch's test needs at least 2")
    rows = []
    for cell in cells:
        s = scores(results, cell, mode, top)
        if len(s) < 2:
            rows.append({"cell": cell, "n": len(s), "mean": float(np.mean(s)) if len(s) else math.nan,
                         "baseline_mean": float(base.mean()), "diff": math.nan, "t": math.nan, "p": math.nan})
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():   # (nearly) identical scores: t may be nan
            warnings.simplefilter("ignore", RuntimeWarning)
            t, p = stats.ttest_ind(s, base, equal_var=False)
        rows.append({"cell": cell, "n": len(s), "mean": float(s.mean()), "baseline_mean": float(base.mean()),
                     "diff": float(s.mean() - base.mean()), "t": float(t), "p": float(p)})
    tested = [k for k, r in enumerate(rows) if math.isfinite(r["p"])]
    adjusted = holm([rows[k]["p"] for k in tested]) if tested else []
    for r in rows:
        r.update(p_holm=math.nan, significant=False, verdict="not tested", n_baseline=len(base))
    for k, q in zip(tested, adjusted):
        r = rows[k]
        r["p_holm"], r["significant"] = float(q), bool(q < alpha)
        better = (r["diff"] > 0) == (mode == "max")
        r["verdict"] = ("better" if better else "worse") if r["significant"] else "no difference"
    return rows


def _distributions(space, cells=None):
    """name -> (optuna distribution, value function of a trial) for each searched hyperparameter
    (and "cell" when ``cells`` is given), on the scale it was drawn on."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    out = {}
    for name, entry in space.items():
        if not isinstance(entry, dict):
            continue
        dist, low, high = entry["dist"], entry["low"], entry["high"]
        if dist == "int_loguniform":
            out[name] = (IntDistribution(int(low), int(high), log=True), lambda r, n=name: int(r["params"][n]))
        elif dist == "one_minus_loguniform":                 # 1 − momentum is what was drawn log-uniformly
            out[name] = (FloatDistribution(low, high, log=True),
                         lambda r, n=name, lo=low, hi=high: min(hi, max(lo, 1.0 - r["params"][n])))
        else:
            out[name] = (FloatDistribution(low, high, log=dist == "loguniform"),
                         lambda r, n=name: float(r["params"][n]))
    if cells is not None and len(cells) > 1:
        out["cell"] = (CategoricalDistribution(list(cells)), lambda r: r["cell"])
    return out


def _fanova_fit(rows, dists, seed, n_trees):
    """fANOVA of score over ``dists`` from ``rows``: ({name: fraction}, {(a, b): fraction})."""
    from optuna._transform import _SearchSpaceTransform
    from optuna.importance._fanova._fanova import _Fanova
    names = list(dists)
    trans = _SearchSpaceTransform({n: d for n, (d, _) in dists.items()}, transform_log=True, transform_step=False)
    X = np.array([trans.transform({n: f(r) for n, (_, f) in dists.items()}) for r in rows])
    y = np.array([r["test"] for r in rows], dtype=np.float64)
    forest = _Fanova(n_trees=n_trees, max_depth=FOREST["max_depth"], min_samples_split=2,
                     min_samples_leaf=FOREST["min_samples_leaf"], seed=seed)
    forest.fit(X, y, trans.bounds, trans.column_to_encoded_columns)
    single = {n: forest.get_importance(k)[0] for k, n in enumerate(names)}      # V(i) / V, mean over trees
    pairs = {}
    columns = trans.column_to_encoded_columns
    searched = [(k, n) for k, n in enumerate(names) if n != "cell"]     # pairs of hyperparameters only
    for (a, na), (b, nb) in itertools.combinations(searched, 2):
        both = np.concatenate([columns[a], columns[b]])
        fractions = [(tree.get_marginal_variance(both) - forest._variances[a][k] - forest._variances[b][k])
                     / tree.variance for k, tree in enumerate(forest._trees) if tree.variance > 0]
        pairs[(na, nb)] = float(max(0.0, np.mean(fractions)))                  # [V(i,j) − V(i) − V(j)] / V
    return single, pairs


def fanova(results, space, *, cells=None, pooled=True, seed=0, n_trees=FOREST["n_trees"], min_trials=5):
    """fANOVA importances: {"per_cell": {cell: {"n", "single", "pairs"}}, "pooled": {...} or None}.

    "single" maps each searched hyperparameter to the fraction of the variance of the test score
    it explains alone, "pairs" each pair to the fraction explained by its interaction.  Cells
    with fewer than ``min_trials`` finished trials are left out (None)."""
    cells = cells or sorted({r["cell"] for r in results})
    out = {"per_cell": {}, "pooled": None}
    dists = _distributions(space)
    if not dists:
        raise ValueError("space: no searched hyperparameter; fANOVA needs at least one")
    for cell in cells:
        rows = finished(results, cell)
        if len(rows) < min_trials or len({r["test"] for r in rows}) < 2:
            out["per_cell"][cell] = None
            continue
        single, pairs = _fanova_fit(rows, dists, seed, n_trees)
        out["per_cell"][cell] = {"n": len(rows), "single": single, "pairs": pairs}
    rows = [r for r in finished(results) if r["cell"] in cells]
    if pooled and len(rows) >= min_trials and len({r["test"] for r in rows}) > 1:
        single, pairs = _fanova_fit(rows, _distributions(space, cells), seed, n_trees)
        out["pooled"] = {"n": len(rows), "single": single, "pairs": pairs}
    return out
