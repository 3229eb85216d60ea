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
# # 01 · Backpropagation through time by hand: the Elman RNN
#
# **The question.** A loss read at the last step of a sequence must teach the weights what happened at the
# first step. How does its gradient travel back through time, and why does it shrink to nothing or blow up
# on the way (Bengio et al. 1994; Hochreiter & Schmidhuber 1997)? This notebook
#
# 1. writes the Elman RNN's forward and backward pass as equations and as textbook code (`npslim.reference`),
# 2. points at the line of the fast cell (`npslim.cells.rnn`) that computes each equation, and shows both agree,
# 3. checks the gradient against finite differences and says which error to expect,
# 4. measures the gradient's norm step by step back in time, for tanh and relu and for several spectral
#    radii of the recurrent matrix R,
# 5. shows the consequence on the adding problem (Hochreiter & Schmidhuber 1997): the RNN loses it as the
#    sequence grows, the LSTM does not.
#
# **Budget:** full: at most 5 minutes on 2 CPU cores. The first cell prints the budget in use, the last one
# the time the run took; `NPSLIM_TUTORIAL_BUDGET=smoke` shrinks the experiments to a few seconds (CI).

# %%
import numpy as np
import matplotlib.pyplot as plt

import npslim
from npslim import reference, tasks
from npslim.cells.rnn import RNN
from npslim.gradcheck import check_cell
from npslim.train import Trainer, build_model
from _common import claims, colour, finish, footer, header, pick, show_doc, show_source, where

header("01-bptt-by-hand", minutes=5)

# %% [markdown]
# ## 1. The equations
#
# The Elman RNN has one affine map and one activation φ: no gates, no cell state. Its docstring in npslim
# states the forward pass, the backward pass (Greff et al. 2017's delta notation: δ marks the gradient of the
# loss, Δᵗ the gradient arriving at the output yᵗ from above), the shapes and the parameter count:

# %%
show_doc(RNN)

# %% [markdown]
# Read the backward pass from the top: the gradient at the output of step t is what the loss sends directly
# (Δᵗ) plus what step t+1 sends back through R. Multiplying by φ' turns it into the gradient of the
# pre-activation, δāᵗ; everything else (δx, δW, δR, δb, and what goes on to step t−1) is a product with δāᵗ.
#
# The same equations as textbook code, one step at a time (`npslim.reference`, the oracle the fast cells are
# tested against). The step forward keeps in its cache what the step back needs:

# %%
show_source(reference.rnn_step_forward)
show_source(reference.rnn_step_backward)

# %% [markdown]
# A whole sequence is a Python loop over the step. Going back, the loop adds Δᵗ (`dY[t]`) to what step t+1
# sent (`dnext`): that sum is δyᵗ, the first equation of the backward pass.

# %%
show_source(reference._backward)

# %% [markdown]
# ## 2. Where each equation lives in the fast code
#
# `npslim.cells.rnn.RNN` computes the same function, arranged for speed: the input projection W xᵗ + b of
# **every** step is one matrix product before the loop; the loop adds R yᵗ⁻¹ and applies φ in place; going
# back, the loop computes only the deltas, and each weight gradient Σₜ is **one** product over all steps
# after it. φ' is formed from the cached output y, never recomputed. The lines (file and line number are
# read from the installed code, so they stay true):

# %%
where(RNN.forward, "the input projection of all steps in one product", "āᵗ = W xᵗ + R yᵗ⁻¹ + b", "yᵗ = φ(āᵗ)")
print()
where(RNN.backward, "δyᵗ = Δᵗ + Rᵀ δāᵗ⁺¹", "δāᵗ = δyᵗ ⊙ φ'(āᵗ)", "Rᵀ δāᵗ, sent to step t−1",
      "δW = Σₜ", "δR = Σₜ", "δb = Σₜ δāᵗ", "δxᵗ = W")

# %% [markdown]
# Both must give the same numbers. In float64 they differ only by rounding, because the fast cell sums
# Σₜ in a different order (one product instead of T additions):

# %%
rng = np.random.default_rng(0)
T, B, m, n = 12, 3, 4, 5
cell = npslim.cells.make("rnn", input_size=m, hidden_size=n, seed=0, dtype="float64")
X = rng.standard_normal((T, B, m))
y0 = 0.5 * rng.standard_normal((B, n))            # a non-zero initial state, so its gradient is tested too
dY = rng.standard_normal((T, B, n))               # Δᵗ: the loss is L = Σ dY ⊙ Y

Y_fast, (yT_fast,), cache = cell.forward(X, (y0,))
cell.zero_grad()
dX_fast, (dy0_fast,) = cell.backward(dY, cache)

Y_ref, yT_ref, caches = reference.rnn_forward(X, y0, cell.params)
dX_ref, dy0_ref, grads_ref = reference.rnn_backward(dY, caches, cell.params)

differences = {"Y": np.abs(Y_fast - Y_ref).max(), "δX": np.abs(dX_fast - dX_ref).max(),
               "δy⁻¹": np.abs(dy0_fast - dy0_ref).max(),
               **{f"δ{k}": np.abs(cell.grads[k] - grads_ref[k]).max() for k in grads_ref}}
for name, value in differences.items():
    print(f"{name:>5}: largest |fast − reference| = {value:.1e}")

# %% [markdown]
# ## 3. Finite differences: which error to expect
#
# A derivative is a limit, ∂L/∂θ = lim (L(θ + h) − L(θ − h)) / 2h. With a finite h the central difference
# has a **truncation** error of order h² (the four-point stencil (L(θ−2h) − 8L(θ−h) + 8L(θ+h) − L(θ+2h)) / 12h:
# order h⁴), and a **rounding** error of order ε·|L| / h, ε ≈ 2.2e-16 in float64. Too large an h and the
# truncation dominates, too small and rounding does. Here is the error of both stencils against the
# backward pass's δR₀₁, for h from 10⁻¹ to 10⁻¹⁰:

# %%
def loss():
    return float(np.sum(dY * cell.forward(X, (y0,))[0]))


R, index = cell.params["R"], (0, 1)               # a live view: writing into it changes the cell
analytic = cell.grads["R"][index]                 # from the backward pass above (equal to the reference)
hs = np.logspace(-1, -10, 37)
err2, err4 = [], []
old = R[index]
for h in hs:
    L = {}
    for k in (-2, -1, 1, 2):
        R[index] = old + k * h
        L[k] = loss()
    R[index] = old
    err2.append(abs((L[1] - L[-1]) / (2 * h) - analytic))
    err4.append(abs((L[-2] - 8 * L[-1] + 8 * L[1] - L[2]) / (12 * h) - analytic))
err2, err4 = np.array(err2), np.array(err4)

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.loglog(hs, err2, "o-", ms=3, label="two-point (L(θ+h) − L(θ−h)) / 2h")
ax.loglog(hs, err4, "s-", ms=3, label="four-point stencil (npslim.gradcheck)")
ax.axvline(1e-3, color="grey", ls=":", label="h = 1e-3 (npslim.gradcheck)")
ax.set(xlabel="step h", ylabel="|finite difference − backward|", title="Finite differences: truncation vs rounding")
ax.invert_xaxis()
ax.legend(fontsize=8)
finish(fig)
for name, err in (("two-point", err2), ("four-point", err4)):
    k = int(np.argmin(err))
    print(f"{name:>10}: smallest error {err[k]:.1e} at h = {hs[k]:.0e}; at h = 1e-3: {err[np.argmin(abs(hs - 1e-3))]:.1e}")

# %% [markdown]
# `npslim.gradcheck.check_cell` does this for **every** element of every parameter, of X and of the
# initial state, with the four-point stencil at h = 1e-3, and reports the worst relative error
# |analytic − numeric| / (|analytic| + |numeric|) per array. A correct backward pass in float64 gives
# errors around 1e-9 or below; a wrong one, errors of order 1e-3 to 1. relu's derivative jumps at 0, so where a
# perturbation of ±2h carries a pre-activation across 0 the finite difference itself is off and relu can show
# somewhat larger errors than tanh. Here is the fast cell, with tanh and with relu:

# %%
for activation in ("tanh", "relu"):
    small = npslim.cells.make("rnn", input_size=4, hidden_size=5, activation=activation, seed=0, dtype="float64")
    errors = check_cell(small, T=6, B=3, seed=0)
    print(f"rnn ({activation}): worst relative error {max(errors.values()):.1e} over {len(errors)} arrays "
          f"({', '.join(errors)})")

# %% [markdown]
# And here is what a mistake looks like. The step back below forgets φ' (it treats the RNN as if it were
# linear); the gradient check catches it at once:

# %%
def forgetful_step_backward(dy, cache, p, grads):
    x, y_prev, y, activation = cache
    dabar = dy                                        # wrong: δāᵗ = δyᵗ ⊙ φ'(āᵗ) lost its φ'
    grads["R"] += y_prev.T @ dabar
    return dabar @ p["W"].T, dabar @ p["R"].T


grads = {"R": np.zeros_like(R)}
dnext = np.zeros((B, n))
for t in reversed(range(T)):
    _, dnext = forgetful_step_backward(dY[t] + dnext, caches[t], cell.params, grads)
numeric = np.zeros_like(R)
for idx in np.ndindex(*R.shape):
    old = R[idx]
    L = {}
    for k in (-2, -1, 1, 2):
        R[idx] = old + k * 1e-3
        L[k] = loss()
    R[idx] = old
    numeric[idx] = (L[-2] - 8 * L[-1] + 8 * L[1] - L[2]) / 12e-3
print(f"δR without φ': worst relative error {npslim.gradcheck.relative_error(grads['R'], numeric):.1e}")
print(f"δR of the fast cell: worst relative error {npslim.gradcheck.relative_error(cell.grads['R'], numeric):.1e}")

# %% [markdown]
# ## 4. The gradient through time: vanishing and exploding
#
# One step back multiplies the gradient by the Jacobian of the step: δāᵗ = δyᵗ ⊙ φ'(āᵗ), then
# δyᵗ⁻¹ = Rᵀ δāᵗ, i.e. δyᵗ⁻¹ = Rᵀ diag(φ'(āᵗ)) δyᵗ (the Δ from the loss aside). In the textbook code:

# %%
where(reference.rnn_step_backward, "δāᵗ = δyᵗ ⊙ φ'(āᵗ)", "δyᵗ⁻¹ = Rᵀ δāᵗ")

# %% [markdown]
# After k steps back the gradient has been multiplied by k such Jacobians, so its norm is at most
# (γ · σ_max(R))ᵏ times the norm it started with, where σ_max is R's largest singular value and γ the
# largest φ' (1 for tanh and for relu). Over many steps the product grows or shrinks like the **spectral
# radius** ρ(R) (the largest |eigenvalue|) times a typical φ': below 1 the gradient vanishes geometrically,
# above 1 it can explode (Bengio et al. 1994; Pascanu et al. 2013).
#
# The experiment: an RNN of 64 units with a Gaussian R rescaled to a chosen spectral radius, a loss on the
# last step only, and the norm of δyᵗ measured at every step back, using the reference step functions in a
# plain loop.

# %%
T_long, n_units, batch = pick(full=200, smoke=40), 64, 32
radii = (0.5, 0.9, 1.0, 1.1, 1.5)
rng = np.random.default_rng(1)
X_long = rng.standard_normal((T_long, batch, 8))
G = rng.standard_normal((n_units, n_units))
G /= np.abs(np.linalg.eigvals(G)).max()                   # spectral radius 1


def gradient_norms(activation, rho):
    """‖δyᵗ‖ (mean over the batch) for t = T−1 … 0, with the loss on the last output only, and the mean φ'."""
    p = {"W": 0.3 * rng.standard_normal((8, n_units)), "R": rho * G, "b": np.zeros(n_units)}
    _, _, caches = reference.rnn_forward(X_long, np.zeros((batch, n_units)), p, activation)
    mean_dphi = np.mean([reference.DPHI[activation](cache[2]) for cache in caches])   # cache = (x, y⁻, y, φ)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dy = rng.standard_normal((batch, n_units))
    dy /= np.linalg.norm(dy, axis=1, keepdims=True)           # ‖δyᵀ⁻¹‖ = 1 for every sequence
    norms = []
    for t in reversed(range(T_long)):
        norms.append(np.linalg.norm(dy, axis=1).mean())
        _, dy = reference.rnn_step_backward(dy, caches[t], p, grads)   # δyᵗ⁻¹ = Rᵀ (δyᵗ ⊙ φ'(āᵗ))
    return np.array(norms), mean_dphi                         # norms[k]: k steps back from the end


results = {(act, rho): gradient_norms(act, rho) for act in ("tanh", "relu") for rho in radii}
norms = {key: value[0] for key, value in results.items()}
mean_dphi = {key: value[1] for key, value in results.items()}
sigma_max = {rho: np.linalg.svd(rho * G, compute_uv=False)[0] for rho in radii}

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
shades = plt.cm.viridis(np.linspace(0, 0.9, len(radii)))
for ax, act in zip(axes, ("tanh", "relu")):
    for shade, rho in zip(shades, radii):
        ax.semilogy(norms[act, rho], color=shade, label=f"ρ(R) = {rho}")
    ax.set(xlabel="steps back from the last step (k)", ylabel="‖δy‖ (mean over 32 sequences)",
           title=f"φ = {act}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
fig.suptitle(f"Gradient norm through time: Elman RNN, 64 units, T = {T_long}")
finish(fig)

# %% [markdown]
# The average factor per step, (‖δy⁰‖ / ‖δyᵀ⁻¹‖)^(1/(T−1)), beside the bound γ · σ_max(R), the spectral
# radius and the mean φ' over the forward pass (a factor below 1: the gradient vanishes geometrically):

# %%
rows, fates = [], {}
for act in ("tanh", "relu"):
    for rho in radii:
        ratio = norms[act, rho][-1] / norms[act, rho][0]
        per_step = ratio ** (1 / (T_long - 1))
        fate = fates[act, rho] = "vanishes" if per_step < 0.98 else ("explodes" if per_step > 1.02 else "survives")
        rows.append((act, f"{rho:.1f}", f"{sigma_max[rho]:.2f}", f"{mean_dphi[act, rho]:.2f}", f"{per_step:.3f}",
                     f"{fate}: ×{ratio:.1e} after {T_long - 1} steps"))
claims(rows, columns=("φ", "ρ(R)", "bound γ·σ_max(R) per step", "mean φ'", "measured per step", "the gradient"))
below = all(float(r[4]) <= float(r[2]) for r in rows)
print(f"measured factor below the bound in every row: {below}")
for act in ("tanh", "relu"):
    for fate in ("vanishes", "survives", "explodes"):
        hit = [rho for rho in radii if fates[act, rho] == fate]
        if hit:
            print(f"{act}: the gradient {fate} for ρ(R) in {hit}")

# %% [markdown]
# The bound γ · σ_max(R) only promises a vanishing gradient when it is below 1; a Gaussian R has σ_max about
# twice its spectral radius, so here it promises nothing, yet the measured factor grows with ρ(R) and shrinks
# with φ'. With tanh a larger ρ drives the units into saturation, which lowers φ' and holds the factor back;
# relu passes the gradient unchanged through its active units, so nothing holds it back once ρ(R) is large
# enough. Only a narrow band of ρ keeps the gradient alive over many steps, and where it lies depends on the
# activation and the inputs: a poor way to remember something for a hundred steps.
#
# ## 5. The consequence: the adding problem
#
# Each sequence carries two channels per step, a value ~ U[0, 1] and a marker; the target at the last step
# is the sum of the two marked values (one marker in each half of the sequence). Solving it means carrying a
# value across about T/2 steps:

# %%
print(tasks.make("adding", T=10, n_train=1, n_test=1).description)

# %% [markdown]
# The same training for both cells (Adam, lr 3e-3, gradient norm clipped to 1, batch 32, 32 units, seeded),
# at growing sequence lengths. The LSTM (notebook 02) carries its cell state forward with a factor fᵗ the
# network learns, instead of through R and φ at every step.

# %%
lengths = pick(full=(10, 20, 50), smoke=(5, 10))
epochs, n_train, n_test = pick(full=30, smoke=2), pick(full=2000, smoke=200), pick(full=500, smoke=100)
runs = {}
for T_add in lengths:
    task = tasks.make("adding", seed=0, T=T_add, n_train=n_train, n_test=n_test)
    for name in ("rnn", "lstm"):
        model = build_model(task, name, hidden_size=32, seed=0)
        trainer = Trainer(model, task, optimizer="adam", lr=3e-3, batch_size=32, clip=1.0, seed=0, progress=False)
        runs[T_add, name] = trainer.fit(epochs)
    baseline = float(np.mean((task.targets_test - 1.0) ** 2))   # always answering 1.0
    runs[T_add, "baseline"] = baseline
    print(f"T = {T_add:3d}: best test MSE  rnn {min(r['test_mse'] for r in runs[T_add, 'rnn']):.4f}  "
          f"lstm {min(r['test_mse'] for r in runs[T_add, 'lstm']):.4f}  (always 1.0: {baseline:.4f})")

# %%
fig, axes = plt.subplots(1, len(lengths), figsize=(4 * len(lengths), 3.4), sharey=True)
for ax, T_add in zip(axes, lengths):
    for name in ("rnn", "lstm"):
        history = runs[T_add, name]
        ax.semilogy([r["epoch"] for r in history], [r["test_mse"] for r in history], color=colour(name), label=name)
    ax.axhline(runs[T_add, "baseline"], color="grey", ls="--", label="always 1.0")
    ax.set(xlabel="epoch", ylabel="test MSE", title=f"T = {T_add}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
fig.suptitle("The adding problem: Elman RNN against LSTM as the sequence grows")
finish(fig)

# %% [markdown]
# ## 6. The paper's finding beside ours
#
# Hochreiter & Schmidhuber 1997 (experiment 4) report that the LSTM solves the adding problem with long time
# lags, where gradient-based RNNs fail. Here "solved" means a test MSE below a tenth of always answering 1.0:

# %%
def solved(T_add, name):
    return min(r["test_mse"] for r in runs[T_add, name]) < 0.1 * runs[T_add, "baseline"]


rows = []
for name in ("rnn", "lstm"):
    ok = ", ".join(str(T_add) for T_add in lengths if solved(T_add, name)) or "none"
    failed = ", ".join(str(T_add) for T_add in lengths if not solved(T_add, name)) or "none"
    rows.append((f"{name} on the adding problem", "lstm solves long lags" if name == "lstm" else "fails as T grows",
                 f"solved at T = {ok}; not solved at T = {failed} ({epochs} epochs)",
                 "a laptop budget: fewer and shorter sequences and epochs than the paper's"))
claims(rows)

# %% [markdown]
# ## Exercises
#
# 1. Le et al. 2015 start a relu RNN at R = I (the IRNN: spectral radius 1, every singular value 1). Set
#    `build_model(task, "rnn", hidden_size=32, activation="relu")`, then `model["rnn"].cell.params["R"][...] = np.eye(32)`
#    before training, and rerun the adding problem at T = 50.
# 2. With φ = sigmoid, γ = max σ' = 1/4: what does the bound of section 4 predict, and what do you measure?
# 3. Truncated BPTT: `Trainer(..., tbptt=10)` stops the gradient after 10 steps. At which T does the LSTM
#    stop solving the adding problem?
# 4. Break one line of `reference.rnn_step_backward` in a copy (drop `.T`, swap `x` and `y_prev`) and watch
#    the finite differences of section 3 catch it.
# 5. Section 4 measured ‖δyᵗ‖ at initialisation. Measure it again after training (use `caches` from the
#    trained cell's forward pass): did training move ρ(R)?

# %%
footer();
