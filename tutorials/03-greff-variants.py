# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Greff's eight variants: which parts of the LSTM matter?
#
# **The question.** Greff et al. 2017 ("LSTM: A Search Space Odyssey") take the vanilla LSTM of notebook 02 and
# change one thing at a time: remove a gate, remove an activation, couple two gates, drop the peepholes, or add
# recurrence between the gates. Eight variants, each trained with 200 random-search trials on each of three
# tasks (speech, handwriting, music: 5,400 trials, about 15 CPU-years), then compared with Welch's t-test
# against vanilla and analysed with fANOVA for which hyperparameter matters. This notebook
#
# 1. shows each variant as its one change: the docstring's equations and the code of the hook it overrides,
#    printed from `npslim/cells/greff.py`,
# 2. gradient-checks all nine cells,
# 3. runs the experiment at laptop scale with the study runner (`npslim.study`, on Dask): a random search per
#    variant on `chorales` (next-frame NLL of Bach chorales, the stand-in for JSB Chorales) and `vowels`
#    (speaker classification from speech frames, the stand-in for TIMIT),
# 4. draws Greff-style box plots, runs Welch's t-test of each variant against vanilla (Holm-corrected), and
#    fANOVA,
# 5. puts the paper's findings beside ours, and says with numbers where ours does not reproduce them and why.
#
# **Budget:** full: at most 15 minutes on 2 CPU cores: all nine cells × 5 trials on each of the two tasks
# (90 trainings of 3 epochs each on 40 chorales / 100 vowels training sequences, on 2 Dask worker processes). The paper ran 200 trials per variant
# and task, each to convergence. `NPSLIM_TUTORIAL_BUDGET=smoke` runs 3 cells × 2 trials of 1 epoch on a few
# sequences (CI). The first cell prints the budget in use, the last one the time the run took.

# %%
import inspect
import re

import numpy as np
import matplotlib.pyplot as plt

import npslim
import npslim.cells.greff as greff
from npslim.cells.lstm import LSTM
from npslim.gradcheck import check_cell
from npslim.study import GREFF_SPACE, analysis, make_definition, run_study, start_client
from _common import BUDGET, claims, colour, finish, footer, header, pick, show_doc

header("03-greff-variants", minutes=15)

# %% [markdown]
# ## 1. The eight variants, each one change
#
# npslim writes each variant as a subclass of the vanilla `LSTM` that overrides only the piece that changes:
# a gate hook (returning `ONE` for a removed gate, with an empty backward twin), an activation (`g`, `h`), or
# the recurrence (FGR). The module's docstring is the table:

# %%
show_doc(greff)

# %% [markdown]
# For each variant: the change as its docstring states it (forward and backward), then everything its class
# body defines besides the docstring, i.e. the whole difference from vanilla. (FGR's class is long: the nine
# extra matrices need their own loop hooks; we list them and point at the file.)

# %%
VARIANTS = ["nig", "nfg", "nog", "niaf", "noaf", "cifg", "np", "fgr"]
CELLS = ["lstm"] + VARIANTS


def the_change(doc):
    """The docstring's first line and its paragraph that states "The change", with the indented equations."""
    lines = doc.splitlines()
    start = next(k for k, line in enumerate(lines) if "The change" in line)
    while start > 0 and lines[start - 1].strip():           # back to the start of that paragraph
        start -= 1
    end = next(k for k in range(start, len(lines)) if lines[k].startswith(" "))   # the equations
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(" ")):
        end += 1
    title = " ".join(lines[:lines.index("")]) if "" in lines else lines[0]   # the summary paragraph
    return "\n".join([title, ""] + lines[start:end]).rstrip()


def body_without_docstring(cls):
    """The class's source with its docstring removed: what the variant adds to vanilla."""
    src = inspect.getsource(cls)
    return re.sub(r'\n    r?"""(.|\n)*?"""\n', "\n", src, count=1).rstrip()


for name in VARIANTS:
    cls = npslim.cells.get(name)
    print("=" * 100)
    print(the_change(inspect.getdoc(cls)))
    overrides = [k for k in vars(cls) if hasattr(LSTM, k) and k not in ("name", "__doc__", "__module__")]
    print(f"\n--- {inspect.getsourcefile(cls).split('npslim/', 1)[1]}: overrides {', '.join(overrides)}")
    if name == "fgr":
        lines, first = inspect.getsourcelines(cls)
        print(f"(class FGR: {len(lines)} lines from line {first}; read it there)")
    else:
        print(body_without_docstring(cls))

# %% [markdown]
# What each change costs or saves in parameters, for m = 12 inputs (the vowels' speech frames) and n = 64 units,
# from each class's `param_count` (whose formula its docstring gives):

# %%
m, n = 12, 64
base = LSTM.param_count(m, n)
for name in CELLS:
    count = npslim.cells.get(name).param_count(m, n)
    print(f"{name:5s} {count:7,d} parameters ({count - base:+7,d} against vanilla)")

# %% [markdown]
# ## 2. Gradient check of all nine
#
# Finite differences (notebook 01, section 3) of every element of every parameter, of X and of the initial
# state, in float64 with random non-zero weights, biases, peepholes and initial state. A correct backward pass
# gives worst relative errors around 1e-9 or below; a wrong one, 1e-3 to 1.

# %%
worst_of = {}
for name in pick(full=CELLS, smoke=["lstm", "nfg", "cifg"]):
    cell = npslim.cells.make(name, input_size=3, hidden_size=4, seed=0, dtype="float64")
    errors = check_cell(cell, T=5, B=2, seed=0)
    worst = max(errors, key=errors.get)
    worst_of[name] = errors[worst]
    print(f"{name:5s} {cell.num_params():4d} parameters, worst relative error {errors[worst]:.1e} (in {worst}) "
          f"over {len(errors)} arrays")
print(f"largest over all {len(worst_of)}: {max(worst_of.values()):.1e}")

# %% [markdown]
# ## 3. The experiment: a random search per variant, on Dask
#
# Each trial is one training of the standard npslim model (one recurrent layer and a Dense read-out) with
# hyperparameters drawn from Greff's search space (the study runner's default `GREFF_SPACE`): hidden size
# log-uniform in [20, 200], learning rate log-uniform in [1e-6, 1e-2], momentum 1 − log-uniform in [0.01, 1],
# Gaussian input noise with std uniform in [0, 1]; SGD with Nesterov momentum, online (batch 1) as the paper,
# no clipping. The best epoch is chosen on a validation split (20 % of train); its test score is the trial's
# score. Each variant draws its own trials (as in the paper), so the cells do not share hyperparameters.
#
# Differences from the paper, at this scale: a handful of trials instead of 200, at most 3 epochs instead of
# training to convergence, the stand-in tasks (smaller data), and one forward layer where the paper's speech and
# handwriting networks were bidirectional (docs/study.md lists them).

# %%
print("search space:", GREFF_SPACE)
TRIALS = pick(full=5, smoke=2)
STUDY_CELLS = pick(full=CELLS, smoke=["lstm", "nfg", "cifg"])
TRAINING = dict(epochs=pick(full=3, smoke=1), patience=3, batch_size=1)
TASKS = {
    "chorales": pick(full=dict(n_train=40, n_test=40), smoke=dict(n_train=6, n_test=4)),
    "vowels": pick(full=dict(n_train=100), smoke=dict(n_train=20, n_test=20)),
}
definitions = {task: make_definition(task, STUDY_CELLS, TRIALS, seed=3, task_options=options, **TRAINING)
               for task, options in TASKS.items()}
for task, d in definitions.items():
    print(f"{task}: {len(d['cells'])} cells × {d['trials']} trials = {len(d['planned'])} trainings, "
          f"metric {d['metric']} ({'higher' if d['mode'] == 'max' else 'lower'} is better), "
          f"task options {d['task_options']}, training {d['training']}")
print(f"in all {sum(len(d['planned']) for d in definitions.values())} trainings")
for task, options in TASKS.items():
    t = npslim.tasks.make(task, seed=0, **options)
    print(f"{task}: {t.n_train} train sequences (of which 20 % validation) / {t.n_test} test, up to T = "
          f"{t.num_steps} steps, m = {t.input_size} inputs, {t.output_size} outputs ({t.kind})")

# %% [markdown]
# One Dask `LocalCluster` of two single-threaded worker processes runs both studies (the runner's default
# starts one per study; here one `Client` is shared); each result goes into the study's SQLite store the moment
# it arrives, so an interrupted run would resume with `run_study(folder)` (or `npslim study --resume`).

# %%
client, cluster = start_client(workers=2)
runs = {}
try:
    for task, d in definitions.items():
        runs[task] = run_study(f"studies/{task}", d, client=client, progress=False)
        r = runs[task]
        print(f"{task}: {r['recorded']} of {r['planned']} trials recorded, {r['failed']} failed, "
              f"{r['seconds']:.0f} s on 2 workers")
finally:
    client.close()
    cluster.close()

studies = {task: analysis.load(f"studies/{task}") for task in definitions}

# %% [markdown]
# Per cell: how many trials finished (a diverged trial is recorded as failed with its reason), the median and
# best test score, and the median seconds per trial (measured on a machine shared with other jobs).

# %%
for task, (d, results) in studies.items():
    best = max if d["mode"] == "max" else min
    print(f"{task} (test {d['metric']}):")
    for cell in d["cells"]:
        ok = analysis.finished(results, cell)
        s = [r["test"] for r in ok]
        secs = [r["seconds"] for r in results if r["cell"] == cell]
        print(f"  {cell:5s} {len(ok)}/{sum(r['cell'] == cell for r in results)} finished, "
              f"median {np.median(s) if s else float('nan'):.3f}, best {best(s) if s else float('nan'):.3f}, "
              f"median {np.median(secs):.0f} s per trial")
    failed = [r for r in results if r["status"] != "ok"]
    for r in failed:
        print(f"  failed: {r['cell']} trial {r['index']} (lr {r['params']['lr']:.1e}): {r['reason'][:90]}")

# %% [markdown]
# Each variant draws its own hyperparameters, so with a handful of trials the luck of the draw matters: a trial
# whose learning rate is far below the good basin barely trains in 3 epochs. The learning rates each cell drew
# (sorted), with each trial's test score, and how many fell in [1e-3, 1e-2]:

# %%
for task, (d, results) in studies.items():
    print(f"{task} (test {d['metric']}):")
    for cell in d["cells"]:
        ok = sorted(analysis.finished(results, cell), key=lambda r: r["params"]["lr"])
        pairs = "  ".join(f"{r['params']['lr']:.0e}→{r['test']:.3g}" for r in ok)
        print(f"  {cell:5s} {sum(r['params']['lr'] >= 1e-3 for r in ok)} of {len(ok)} with lr ≥ 1e-3:  {pairs}")

# %% [markdown]
# ## 4. Box plots per variant (Greff et al. 2017, Figure 3)
#
# As in the paper: the test score of every trial of each variant (top row), and of each variant's best 10 % by
# validation score (bottom row; at least 2 trials). Boxes span the 25th to 75th percentile, whiskers the whole
# range, the line is the median and the dot the mean. The vanilla LSTM's median is the dashed line.

# %%
fig, axes = plt.subplots(2, len(studies), figsize=(6.5 * len(studies), 7), squeeze=False)
for col, (task, (d, results)) in enumerate(studies.items()):
    for row, (top, what) in enumerate(((None, "all trials"), (0.1, "top 10 % by validation"))):
        ax = axes[row][col]
        data = [analysis.scores(results, cell, d["mode"], top) for cell in d["cells"]]
        keep = [k for k, s in enumerate(data) if len(s)]
        box = ax.boxplot([data[k] for k in keep], positions=keep, whis=(0, 100), patch_artist=True, widths=0.6)
        for patch, k in zip(box["boxes"], keep):
            patch.set_facecolor(colour(d["cells"][k]))
            patch.set_alpha(0.8)
        ax.scatter(keep, [data[k].mean() for k in keep], color="red", zorder=3, s=14, label="mean")
        if len(data[0]):
            ax.axhline(np.median(data[0]), color=colour("lstm"), ls="--", lw=1, label="vanilla median")
        ax.set_xticks(range(len(d["cells"])), d["cells"], rotation=45)
        ax.set_xlabel("cell")
        ax.set_ylabel(f"test {d['metric']}" + (" (lower is better)" if d["mode"] == "min" else ""))
        ax.set_title(f"{task}: {what}")
        ax.legend(fontsize=8)
fig.suptitle(f"Test score per variant ({TRIALS} random-search trials each; Greff et al. 2017 ran 200)")
finish(fig)

# %% [markdown]
# ## 5. Welch's t-test against vanilla, corrected for multiple comparisons
#
# `npslim.study.analysis.welch`: scipy's Welch test (unequal variances, two-sided) of each variant's scores
# against vanilla's; the eight p-values are corrected together with Holm's step-down method (which controls the
# family-wise error rate as Bonferroni does). "worse"/"better" means significant at α = 0.05 after correction.
# On all finished trials, and on each cell's top 10 % by validation score, as the paper.

# %%
tests = {}
for task, (d, results) in studies.items():
    for top in (None, 0.1):
        rows = analysis.welch(results, "lstm", mode=d["mode"], top=top)
        tests[task, top] = {r["cell"]: r for r in rows}
        print(f"{task}, {'all trials' if top is None else 'top 10 %'} (vanilla: n = {rows[0]['n_baseline']}, "
              f"mean {rows[0]['baseline_mean']:.3f}):")
        print(f"  {'cell':5s} {'n':>2s} {'mean':>8s} {'diff':>8s} {'p':>7s} {'p_holm':>7s}  verdict")
        for r in rows:
            print(f"  {r['cell']:5s} {r['n']:2d} {r['mean']:8.3f} {r['diff']:+8.3f} {r['p']:7.3f} "
                  f"{r['p_holm']:7.3f}  {r['verdict']}")

# %% [markdown]
# ## 6. fANOVA: which hyperparameter explains the variance?
#
# `npslim.study.analysis.fanova` (Hutter et al. 2014, through Optuna's implementation): a random forest fits the
# test score as a function of the hyperparameters, on the scale they were drawn on (ln lr, ln n,
# ln(1 − momentum)), and the variance of its prediction is split into the fraction due to each hyperparameter
# alone and to each pair. With a handful of trials per cell, the per-cell analysis needs at least 5 finished
# trials; we pool the cells instead, with the cell as one more (categorical) factor.

# %%
importance = {}
for task, (d, results) in studies.items():
    imp = analysis.fanova(results, d["space"], cells=d["cells"], seed=0)["pooled"]
    importance[task] = imp
    print(f"{task} ({imp['n']} finished trials, pooled):")
    for name, v in sorted(imp["single"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:12s} {v:6.1%}")
    pair, v = max(imp["pairs"].items(), key=lambda kv: kv[1])
    print(f"  largest pair: {' × '.join(pair)} {v:.1%}")

# %%
names = list(next(iter(importance.values()))["single"])
fig, ax = plt.subplots(figsize=(7.5, 3.6))
width = 0.8 / len(importance)
for k, (task, imp) in enumerate(importance.items()):
    ax.bar(np.arange(len(names)) + k * width, [imp["single"][nm] for nm in names], width, label=task,
           color=["#9467bd", "#8c564b"][k % 2])
ax.set_xticks(np.arange(len(names)) + width * (len(importance) - 1) / 2, names)
ax.set_xlabel("hyperparameter (alone)")
ax.set_ylabel("fraction of the variance")
ax.set_title("fANOVA importance of each hyperparameter, cells pooled")
ax.legend()
finish(fig)

# %% [markdown]
# The learning rate's marginal effect, trial by trial (the paper's Figure 4 plots this marginal): the score of
# every finished trial against its learning rate.

# %%
fig, axes = plt.subplots(1, len(studies), figsize=(6.5 * len(studies), 3.8), squeeze=False)
for ax, (task, (d, results)) in zip(axes[0], studies.items()):
    for cell in d["cells"]:
        ok = analysis.finished(results, cell)
        ax.scatter([r["params"]["lr"] for r in ok], [r["test"] for r in ok], color=colour(cell), label=cell, s=22)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"test {d['metric']}")
    ax.set_title(f"{task}: test score against learning rate")
    ax.legend(fontsize=7, ncol=3)
finish(fig)

# %% [markdown]
# ## 7. The paper's findings beside ours
#
# Every entry on the right is computed from the tables above ("worse", "better" or "no difference" at α = 0.05
# after Holm's correction, with the difference of the means and the corrected p-value, on all trials). The last
# column says whether this run agrees.

# %%
def verdict(task, cell, top=None):
    r = tests[task, top].get(cell)
    if r is None:
        return "not run", None
    return f"{r['verdict']} ({r['diff']:+.3f}, p_holm {r['p_holm']:.2f}, n = {r['n']})", r["verdict"]


PAPER = {"nfg": ("significantly worse on all three datasets", "worse"),
         "noaf": ("significantly worse on all three datasets", "worse"),
         "cifg": ("no significant difference", "no difference"),
         "np": ("no significant difference", "no difference")}
rows, agree = [], {}
for cell, (paper, expected) in PAPER.items():
    for task in studies:
        text, got = verdict(task, cell)
        agree[cell, task] = got == expected
        rows.append((f"{cell.upper()} against vanilla, {task}", paper, text,
                     "yes" if got == expected else "no" if got else "not run"))
for task, imp in importance.items():
    ranked = sorted(imp["single"], key=imp["single"].get, reverse=True)
    rows.append((f"most important hyperparameter, {task}", "learning rate, the majority of the variance",
                 f"{ranked[0]} ({imp['single'][ranked[0]]:.0%}; learning rate {imp['single']['lr']:.0%})",
                 "yes" if ranked[0] == "lr" else "no"))
    rows.append((f"momentum's share, {task}", "< 1 % in most cases", f"{imp['single']['momentum']:.1%}",
                 "yes" if imp["single"]["momentum"] < 0.01 else "no"))
claims(rows, columns=("finding", "Greff et al. 2017", "npslim (this run)", "reproduced?"))
n_tests = sum(len(t) for (task, top), t in tests.items() if top is None)
print(f"{sum(agree.values())} of {len(agree)} variant verdicts agree with the paper; "
      f"{sum(r['verdict'] in ('worse', 'better') for (task, top), t in tests.items() if top is None for r in t.values())}"
      f" of {n_tests} comparisons on all trials are significant after correction")

# %% [markdown]
# **Why ours differs.** Read the table with the scale in mind (the numbers are in the outputs above):
#
# - **Power.** With a handful of trials per variant, Welch's test can flag only very large, consistent
#   differences (its degrees of freedom come from the few scores per group, and Holm multiplies the smallest
#   p-value by the number of variants). Greff et al. had 200 trials per group. A "no difference" here mostly
#   means "too few trials to tell", not "equal", so the CIFG and NP rows agree with the paper for a weak reason.
# - **The draw of learning rates decides more than the variant.** Each variant draws its own learning rates over
#   four decades, and a trial far below the good basin barely moves from its initialisation in 3 epochs of online
#   SGD, whatever the cell. The learning-rate table in section 3 shows how many of each cell's few trials landed
#   in the basin; a cell whose draws were all low looks bad, one with several high draws looks good. With 200
#   trials per cell, as in the paper, the draws even out; with a handful they do not. That the learning rate
#   explains most of the variance (the fANOVA above) is the same fact seen from the other side, and it is the
#   paper's finding that reproduces best.
# - **NFG's box sits far on the better side of vanilla's** (not significantly after correction), and the
#   learning-rate table in section 3 says why: all five of NFG's draws landed in [1e-3, 1e-2], one of vanilla's
#   did. A variant looks better here when more of its draws landed in the basin, which says nothing about the
#   change it makes.
# - **Few epochs, small data.** The paper's damage from NFG and NOAF shows after long training, when NFG's cell
#   state, which can only grow, and NOAF's unsquashed output have had time to blow up; its trials ran to
#   convergence (about 24 hours a trial on average), ours stop after 3 epochs on a few dozen sequences.
# - **Stand-in tasks.** `vowels` is whole-sequence speaker classification (sizes printed in section 3), much
#   easier and shorter than TIMIT's frame-wise phone labels; `chorales` is closer to JSB (the same kind of data),
#   with fewer sequences here.
#
# docs/study.md reports a larger run of the same design on `vowels` (more trials, more epochs) with the study's
# command-line report.

# %% [markdown]
# ## Exercises
#
# 1. Scale the study up from the command line and let it run: `npslim study --cells lstm,nfg,noaf,cifg,np
#    --task vowels --trials 30 --out studies/vowels`, then `npslim study report studies/vowels`. With how many
#    trials do NFG and NOAF first come out significantly worse?
# 2. Narrow the learning rate to the good basin you see in the scatter (e.g. `{"dist": "loguniform", "low": 1e-3,
#    "high": 1e-2}` in `make_definition(..., space=...)`): does the variant now explain more of the variance?
# 3. NFG's cell state can only grow: cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹. Train one NFG and one vanilla model on `chorales`
#    for 20 epochs and plot max |cᵗ| over time on a test sequence (`model["rnn"].cell.forward` returns the states).
# 4. CIFG has 3(mn + n² + n) + 2n parameters against vanilla's 4(mn + n² + n) + 3n: at equal parameter count
#    (a larger n for CIFG), is it better than vanilla on `chorales`?
# 5. Run a study on a cluster: start `dask scheduler` and two `dask worker` processes (docs/study.md) and pass
#    `scheduler="tcp://127.0.0.1:8786"` to `run_study`; kill a worker midway and check that the store still
#    holds every trial exactly once.

# %%
footer();
