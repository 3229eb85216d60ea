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
# # 06 · Factorization tricks: LSTMP, F-LSTM and G-LSTM (Kuchaiev & Ginsburg 2017)
#
# **The question.** In a big LSTM language model almost every parameter, and almost every multiply, sits in
# one affine map: the 4n × (m + p) matrix W that turns [xᵗ; yᵗ⁻¹] into the four pre-activations. Kuchaiev &
# Ginsburg 2017 ("Factorization tricks for LSTM networks") make that map cheaper in two ways and ask what
# it costs:
#
# * **F-LSTM** factors W into W₂W₁ of rank r (a bottleneck of r values between the input and the gates);
# * **G-LSTM** cuts x, y and the cell into k groups, each with its own small LSTM map (a block-diagonal W).
#
# Both start from **LSTMP** (Sak et al. 2014), whose output yᵗ = P vᵗ is projected from n to p < n values.
# Their finding (One Billion Word, two layers, n = 8192, p = 1024, a week on 4 GPUs each): at the same
# number of steps the full LSTMP is best, but the factorized models run more steps per second, so at the same
# *wall-clock time* they reach a given loss sooner; their Table 1 gives the parameters, perplexity and speed.
#
# This notebook prints the three cells' equations, shows where the fast code computes each, checks the
# gradients, reproduces Table 1's parameter counts exactly, and trains the three (G-LSTM with 2 and 4 groups)
# on Shakespeare's characters with the authors' optimizer, plotting the loss against steps and against time.
#
# **Budget:** full: at most 3 minutes on 2 CPU cores (under 2 on a quiet machine); the scale is a
# one-layer character model with n = 256 cells, p = 64 and a thousand steps per cell, against the paper's two
# layers of 8192 cells on words. The first cell prints the budget in use, the last the time taken;
# `NPSLIM_TUTORIAL_BUDGET=smoke` shrinks everything to a few seconds (CI).

# %%
import timeit

import numpy as np
import matplotlib.pyplot as plt

import npslim
from npslim import recipes
from npslim.cells.projection import FLSTM, GLSTM, LSTMP
from npslim.gradcheck import check_cell
from _common import claims, colour, finish, footer, header, pick, show_doc, where

header("06-factorization-tricks", minutes=3)

# %% [markdown]
# ## 1. The equations
#
# Greff's notation as everywhere in npslim: the paper's hₜ is yᵗ here, its gate g is the block input z,
# and the stacked pre-activations [z̄ ī f̄ ō] are āᵗ. The three cells share everything but the affine map
# [xᵗ; yᵗ⁻¹] → āᵗ. LSTMP first:

# %%
show_doc(LSTMP)

# %% [markdown]
# F-LSTM replaces W xᵗ + R yᵗ⁻¹ by W₂(W₁ₓ xᵗ + W₁ᵧ yᵗ⁻¹), a rank-r bottleneck qᵗ:

# %%
show_doc(FLSTM)

# %% [markdown]
# G-LSTM keeps the full rank but only inside each of k groups (W and R block-diagonal):

# %%
show_doc(GLSTM)

# %% [markdown]
# **The forget bias.** The authors' code (okuchaiev/f-lm, TensorFlow 1) adds a constant 1.0 inside the forget
# gate, fᵗ = σ(f̄ᵗ + 1), on top of a trainable bias that starts at 0: at the start the cell keeps most of its
# state. npslim offers it as the `forget_bias` option (default 0) of all three cells; this notebook sets it
# to 1.0 as they did. npslim's bias b starts at U(−1/√n, 1/√n) like every npslim weight, not at 0.

# %% [markdown]
# ## 2. Where each equation lives in the fast code
#
# All three are the LSTM's one pair of loops (`LSTM.forward`, `LSTM.backward`, notebook 02) with hooks.
# The projection and the forget bias, shared by the three:

# %%
where(LSTMP._output_forward, "yᵗ = P vᵗ")
where(LSTMP.forget_gate, "f̄ᵗ + forget_bias", "fᵗ = σ(f̄ᵗ + forget_bias)")
where(LSTMP._output_backward, "δvᵗ = Pᵀ δyᵗ")
where(LSTMP._projection_grads, "δP = Σₜ ⟨δyᵗ, vᵗ⟩")

# %% [markdown]
# F-LSTM: W₁ₓ xᵗ for every step is one product before the loop; in the loop two thin products (p × r and
# r × 4n) replace LSTMP's one p × 4n product:

# %%
where(FLSTM._recurrent_forward, "qᵗ = W₁ₓ xᵗ + W₁ᵧ yᵗ⁻¹", "āᵗ = W₂ qᵗ + b")
where(FLSTM._recurrent_backward, "δqᵗ = W₂ᵀ δāᵗ", "W₁ᵧᵀ δqᵗ, sent to step t−1")
where(FLSTM._weight_grads, "δW₂ = Σₜ ⟨δāᵗ, qᵗ⟩", "δW₁ₓ = Σₜ ⟨δqᵗ, xᵗ⟩", "δW₁ᵧ = Σₜ ⟨δqᵗ, yᵗ⁻¹⟩", "δxᵗ = W₁ₓᵀ δqᵗ")

# %% [markdown]
# G-LSTM: each product is one *batched* product over the k groups (no Python loop over groups):

# %%
where(GLSTM._fill_preactivations, "W_j x_jᵗ")
where(GLSTM._recurrent_forward, "ā_jᵗ += R_j y_jᵗ⁻¹")
where(GLSTM._recurrent_backward, "δā_jᵗ")
where(GLSTM._weight_grads, "δW_j = Σₜ ⟨δā_jᵗ, x_jᵗ⟩", "δR_j = Σₜ ⟨δā_jᵗ, y_jᵗ⁻¹⟩", "δx_jᵗ = W_jᵀ δā_jᵗ")

# %% [markdown]
# ## 3. Gradient check
#
# Finite differences of every element of every parameter, of X and of the initial state (float64, sizes at
# which m, n, p and r all differ, the forget bias on). A correct backward pass gives worst relative errors
# around 1e-9 or below; a wrong one, 1e-3 to 1.

# %%
checks = {"lstmp": dict(input_size=5, hidden_size=6, proj_size=3),
          "flstm": dict(input_size=5, hidden_size=6, proj_size=3, rank=2),
          "glstm": dict(input_size=9, hidden_size=6, proj_size=3, groups=3)}
for name, sizes in checks.items():
    small = npslim.cells.make(name, seed=0, dtype="float64", forget_bias=1.0, **sizes)
    errors = check_cell(small, T=5, B=3, seed=0)
    worst = max(errors, key=errors.get)
    print(f"{name:6s} {small.options()}: worst relative error {errors[worst]:.1e} (in {worst}) over {len(errors)} arrays")

# %% [markdown]
# ## 4. Parameters: the paper's Table 1, counted by npslim
#
# Table 1 counts the recurrent parameters of two layers with n = 8192 cells and p = 1024, both layers reading
# p-wide inputs (the embedding, then the first layer's projection), biases included. `param_count` is the
# formula in each docstring:

# %%
table1 = [("BIGLSTM (LSTMP)", LSTMP, {}, 151_060_480), ("F-LSTM F512", FLSTM, {"rank": 512}, 52_494_336),
          ("G-LSTM G-2", GLSTM, {"groups": 2}, 83_951_616), ("G-LSTM G-4", GLSTM, {"groups": 4}, 50_397_184),
          ("G-LSTM G-8", GLSTM, {"groups": 8}, 33_619_968)]
ours = {label: 2 * cls.param_count(1024, 8192, proj_size=1024, **opts) for label, cls, opts, _ in table1}
claims([(label, f"{paper:,}", f"{ours[label]:,}", "equal" if ours[label] == paper else "DIFFERENT")
        for label, _, _, paper in table1],
       columns=("model (2 layers, n = 8192, p = 1024)", "paper's Table 1", "2 × param_count", "match"))

# %% [markdown]
# ## 5. The experiment: Shakespeare's characters
#
# The paper's data (One Billion Word, 800k words) and size (two layers of 8192 cells, a week on 4 GPUs) do not
# fit a laptop. The recipe `kuchaiev-ginsburg-2017-shakespeare` (`npslim.recipes`; also
# `npslim train --recipe kuchaiev-ginsburg-2017-shakespeare`) scales it down and says what its authors ran and
# where npslim differs:

# %%
RECIPE = recipes.get("kuchaiev-ginsburg-2017-shakespeare")
print(RECIPE.describe())

# %% [markdown]
# In short: one layer, n = 256 cells, p = 64, the characters embedded in p values (as in the paper, the layer
# reads p-wide inputs), F-LSTM with r = p/2 (the paper's F512 is r = p/2), G-LSTM with k = 2 and 4 groups.
# The optimizer is the authors' Adagrad at 0.2. Their loss is *summed* over the 20 steps of a window and
# npslim's is the mean per step, so the recipe starts the accumulator at 1/20² instead of 1.0 and clips at
# 10/20 instead of 10: the same updates (Adagrad's step does not change when the gradient is scaled, except
# through the initial accumulator). The state is carried over 20-step windows as their `num_steps`.
#
# Every cell trains on the same segments, from the same seed, for the same number of steps; each epoch is a
# pass over a small subset, so the test loss is measured often.

# %%
N, P = pick(full=RECIPE.hidden_size, smoke=32), pick(full=RECIPE.cell_options["proj_size"], smoke=16)
RUNS = {"lstmp": ("lstmp", {}), f"flstm r={P // 2}": ("flstm", {"rank": P // 2}),
        "glstm k=2": ("glstm", {"groups": 2}), "glstm k=4": ("glstm", {"groups": 4})}
EPOCHS = pick(full=10, smoke=1)
SUBSET = dict(n_train=pick(full=640, smoke=32), n_test=pick(full=64, smoke=8), hidden_size=N,
              task_options={"embed_size": P})

histories, models = {}, {}
for label, (name, opts) in RUNS.items():
    task, model, trainer = RECIPE.setup(name, cell_options={"proj_size": P, **opts}, **SUBSET)
    histories[label], models[label] = trainer.fit(EPOCHS), model
    cell, last = model["rnn"].cell, histories[label][-1]
    print(f"{label:11s} {cell.num_params():7,} cell parameters {cell.options()}: test {last['test_bpc']:.3f} "
          f"bits/char after {trainer.step_count} steps, {sum(h['seconds'] for h in histories[label]):.0f} s of training")
steps_per_epoch = trainer.step_count // EPOCHS
print(f"{task.n_train} training segments of {task.num_steps} characters, {task.n_test} test segments; "
      f"{steps_per_epoch} steps per epoch, {EPOCHS} epochs, tbptt {trainer.tbptt}, batch {trainer.batch_size}")

# %% [markdown]
# ## 6. Loss against steps and against wall-clock time (their Figure 2)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for label, hist in histories.items():
    name = RUNS[label][0]
    style = "--" if label.endswith("k=4") else "-"
    steps = np.array([h["epoch"] for h in hist]) * steps_per_epoch
    seconds = np.cumsum([h["seconds"] for h in hist])
    bpc = [h["test_bpc"] for h in hist]
    axes[0].plot(steps, bpc, style, marker="o", color=colour(name), label=label)
    axes[1].plot(seconds, bpc, style, marker="o", color=colour(name), label=label)
axes[0].set(xlabel="optimizer steps", ylabel="test loss (bits per character)", title="against steps")
axes[1].set(xlabel="training time (s)", title="against wall-clock time")
for ax in axes:
    ax.grid(True, alpha=0.3)
    ax.legend()
fig.suptitle(f"LSTMP, F-LSTM and G-LSTM on Shakespeare's characters (Adagrad {RECIPE.lr}, one layer, n = {N}, p = {P})")
finish(fig)

# %% [markdown]
# ## 7. The speed/parameter trade-off
#
# The training times above are whole training steps (the embedding, the softmax over 84 characters, the
# optimizer and Python's overhead included, none of which the factorization shrinks), each measured once, so
# they are noisy, the more so on a busy machine. A steadier measure of what the tricks change: one forward
# and backward pass of the cell alone over a 20-step window of 32 sequences, the best of several repeats (the
# seconds depend on the machine: compare the ratios).

# %%
rng = np.random.default_rng(0)
WINDOW = RECIPE.tbptt
X = rng.standard_normal((WINDOW, 32, P)).astype("float32")
timing = {}
REPEATS = pick(full=5, smoke=2)
for label, model in models.items():
    cell = model["rnn"].cell
    dY = np.ones((WINDOW, 32, cell.output_size), dtype="float32")

    def step(cell=cell, dY=dY):
        _, _, cache = cell.forward(X)
        cell.backward(dY, cache)
    timing[label] = min(timeit.repeat(step, number=pick(full=5, smoke=1), repeat=REPEATS)) / pick(full=5, smoke=1)
base = timing["lstmp"]

fig, ax = plt.subplots(figsize=(7, 4))
for label, model in models.items():
    name = RUNS[label][0]
    params = model["rnn"].cell.num_params()
    ax.scatter(params, 1e3 * timing[label], s=60, color=colour(name), marker="s" if label.endswith("k=4") else "o",
               label=f"{label}: {base / timing[label]:.2f}× LSTMP's speed")
ax.set(xlabel="cell parameters", ylabel="forward + backward, 20 steps × 32 (ms)",
       title=f"Fewer parameters, faster steps (best of {REPEATS})")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
finish(fig)

# %% [markdown]
# ## 8. The paper's numbers beside ours
#
# The paper's speed is words per second of the whole model on GPUs (speed-up = their words/s over BIGLSTM's
# 33.8K); ours is the cell's forward and backward on one CPU thread. Their loss is perplexity after a week;
# ours is bits per character after a thousand steps, so compare the *order* of the models, not the values.

# %%
paper = {"lstmp": ("35.1", "151,060,480", 1.0), f"flstm r={P // 2}": ("36.3", "52,494,336", 56.5 / 33.8),
         "glstm k=2": ("36.0", "83,951,616", 41.7 / 33.8), "glstm k=4": ("40.6", "50,397,184", 56.0 / 33.8)}
params_lstmp = models["lstmp"]["rnn"].cell.num_params()
rows = []
for label, (ppl, count, speedup) in paper.items():
    cell, last = models[label]["rnn"].cell, histories[label][-1]
    rows.append((label, f"{ppl} perplexity; {count} parameters; {speedup:.2f}× speed",
                 f"{last['test_bpc']:.3f} bits/char after {EPOCHS * steps_per_epoch} steps; {cell.num_params():,} "
                 f"parameters ({cell.num_params() / params_lstmp:.2f} of LSTMP's); {base / timing[label]:.2f}× speed"))
claims(rows, columns=("cell", "paper (Table 1: perplexity after a week, RNN parameters, words/s over BIGLSTM's)",
                      "npslim (this run)"))

# %% [markdown]
# Their finding, in two parts: the best model at the same number of steps, and at the same training time (each
# curve of section 6 read at the end of the shortest run, by linear interpolation between epochs):

# %%
final = {label: hist[-1]["test_bpc"] for label, hist in histories.items()}
t_common = min(sum(h["seconds"] for h in hist) for hist in histories.values())
at_time = {label: float(np.interp(t_common, np.cumsum([h["seconds"] for h in hist]), [h["test_bpc"] for h in hist]))
           for label, hist in histories.items()}
claims([
    (f"best at equal steps ({EPOCHS * steps_per_epoch})", "BIGLSTM (LSTMP)",
     f"{min(final, key=final.get)} (" + ", ".join(f"{k} {v:.3f}" for k, v in final.items()) + " bits/char)"),
    (f"best at equal time ({t_common:.0f} s of training here)", "the factorized models (their Figure 2)",
     f"{min(at_time, key=at_time.get)} (" + ", ".join(f"{k} {v:.3f}" for k, v in at_time.items()) + " bits/char)"),
], columns=("finding", "paper", "npslim (this run)"))

# %% [markdown]
# Reading the table against the paper:
#
# * **At equal steps** the two G-LSTMs end behind LSTMP, and G-4 behind G-2, as in the paper; F-LSTM does
#   not: it ends level with LSTMP or slightly ahead, where the paper has it behind. The gap between those two
#   is too small for one seed to rank them: float32 rounding alone (another BLAS thread count, or the small
#   code changes between two builds of this notebook) moves F-LSTM's final loss by a few hundredths of a bit
#   per character.
# * **At equal time** F-LSTM is ahead, as the paper found for the factorized models: it is about as good per
#   step and its steps are faster. The G-LSTMs are not reliably ahead of LSTMP: their whole training steps
#   gain less over LSTMP's than the cell alone does in section 7 (see *Scale* below), not clearly enough to
#   make up what they lose per step, and timing noise can reorder them from one build to the next.
#
# Why they differ:
#
# * **Scale.** n = 256 against 8192: the affine map is a smaller share of the work here. Section 7's speed-ups
#   of the cell alone come out near the paper's words per second (the table above) and, like theirs, well
#   short of the parameter savings: the elementwise gate math, the projection P (which neither trick touches)
#   and Python's per-step overhead do not shrink with the factorization. In whole training steps the gain is
#   smaller still, since the softmax over 84 characters, the embedding and the optimizer cost every cell the
#   same.
# * **Steps.** A thousand steps on 64 thousand characters, against a week of steps on 800 million words:
#   our models are far from converged (section 6's curves still fall at the last epoch). The paper's order at
#   equal steps (the biggest map best) is the order at the end of a long training; early in training a
#   smaller map can learn as fast per step or faster, and the curves of section 6 show only that early
#   stretch.
# * **Training.** One layer, full softmax over 84 characters (theirs: two layers, sampled softmax over 800k
#   words), no dropout (their keep_prob 0.9), no moving average of the weights (their `average_params`), the
#   gradient clipped over all parameters (theirs: over the LSTM weights only, and their embedding gradient is
#   scaled by the batch size), bias initialisation U(−1/√n, 1/√n) (theirs 0).
# * **Projection.** npslim's three cells always carry the trainable projection P; the authors' code runs
#   without one when `num_proj` is not given (npslim's `lstm` with `peepholes=False` is that cell).
# * **Timing and seeds.** One run per cell, from one seed, timed on whatever machine built the notebook:
#   rerun section 7 on yours for its ratios, and train with other seeds before trusting a ranking of cells
#   a few hundredths apart.

# %% [markdown]
# ## Exercises
#
# 1. Add G-LSTM with k = 8 (`("glstm", {"groups": 8})`, their G-8): is it faster again, and how much worse per
#    step?
# 2. Run with `forget_bias=0.0`: does the first epoch's loss change? (Gers et al. 2000 argued for a large
#    initial forget bias; f-lm hard-codes 1.0.)
# 3. Sweep the rank r of F-LSTM (8, 16, 32, 64) and plot the loss after a fixed *time* against r.
# 4. Raise n to 1024 (and the step count, with patience): does the speed-up of F-LSTM approach its parameter
#    ratio as the affine map dominates the work?
# 5. Train the same cells with Adam (lr 1e-2) instead of Adagrad: is the ranking of the cells the same?

# %%
footer();
