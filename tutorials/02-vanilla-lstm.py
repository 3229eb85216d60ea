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
# # 02 · The vanilla LSTM in Greff's notation
#
# **The question.** Greff et al. 2017 ("LSTM: A Search Space Odyssey") ask which parts of the LSTM matter.
# Before their eight one-change variants (notebook 03) comes the cell they all change: the *vanilla* LSTM,
# with input, forget and output gates and peephole connections. This notebook
#
# 1. prints its equations (forward and backward, in their notation) and the textbook code that computes them,
# 2. points at the line of the fast cell for each equation, and checks the fast cell against the textbook one
#    and against PyTorch's `nn.LSTM`,
# 3. checks the gradient against finite differences,
# 4. measures the **constant error carousel**: how the cell state carries the gradient back through time with
#    the factor fᵗ, where the Elman RNN of notebook 01 multiplies by R and φ' at every step,
# 5. trains the cell on Shakespeare's text and draws its input, forget and output gates character by character.
#
# **Budget:** full: at most 5 minutes on 2 CPU cores. The first cell prints the budget in use, the last one
# the time the run took; `NPSLIM_TUTORIAL_BUDGET=smoke` shrinks the experiments to a few seconds (CI).

# %%
import numpy as np
import matplotlib.pyplot as plt

import npslim
import npslim.cells.lstm
import npslim.datasets
from npslim import interop, reference, tasks
from npslim.cells.lstm import LSTM
from npslim.gradcheck import check_cell
from npslim.train import Trainer, build_model
from _common import GATE_COLOURS, claims, colour, finish, footer, header, pick, show_doc, show_source, where

header("02-vanilla-lstm", minutes=5)

# %% [markdown]
# ## 1. The equations
#
# Greff et al.'s notation: xᵗ the input, yᵗ the block output, cᵗ the cell state; bars mark pre-activations
# (z̄ is the block input before g, ī, f̄, ō the gates before σ); W are input weights, R recurrent weights,
# b biases and p peephole weights (a vector each: the gate looks at the cell state elementwise). The backward
# pass uses their deltas: δ is the gradient of the loss, Δᵗ the gradient arriving at yᵗ from above.

# %%
show_doc(LSTM)

# %% [markdown]
# The same equations as textbook code (`npslim.reference`), one step forward and one step back:

# %%
show_source(reference.lstm_step_forward)
show_source(reference.lstm_step_backward)

# %% [markdown]
# ## 2. Where each equation lives in the fast code
#
# The fast cell (`npslim.cells.lstm`) stacks the four pre-activations into one block [z̄ ī f̄ ō], so
# W xᵗ + b for every step is **one** matrix product before the loop, and R yᵗ⁻¹ is one product per step. Inside
# the loop the step works in place on that block; after the loop every weight gradient is one product over all
# steps. Forward:

# %%
where(LSTM.forward, "āᵗ = W xᵗ + b", "āᵗ += R yᵗ⁻¹")
where(LSTM._step_forward, "zᵗ = g(z̄ᵗ)", "iᵗ = σ(īᵗ + p_i ⊙ cᵗ⁻¹)", "fᵗ = σ(f̄ᵗ + p_f ⊙ cᵗ⁻¹)",
      "cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ", "oᵗ = σ(ōᵗ + p_o ⊙ cᵗ)", "= h(cᵗ) ⊙ oᵗ")

# %% [markdown]
# Backward (the carried δcᵗ ⊙ fᵗ line is the constant error carousel of section 4; the three `p_⋆ ⊙ δ` lines
# are the peepholes' share of δc):

# %%
where(LSTM.backward, "δyᵗ = Δᵗ + Rᵀ δāᵗ⁺¹")
where(LSTM._step_backward, "σ'(ōᵗ)", "⊙ oᵗ ⊙ h'(cᵗ)", "+ p_o ⊙ δōᵗ", "δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)",
      "δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)", "δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)", "δcᵗ ⊙ fᵗ", "+ p_i ⊙ δīᵗ", "+ p_f ⊙ δf̄ᵗ")
where(LSTM._weight_grads, "δW = Σₜ", "δR = Σₜ", "δb = Σₜ δāᵗ", "δxᵗ = W")

# %% [markdown]
# ### The fast cell against the textbook cell
#
# Same parameters (`cell.params` are live views of the stacked arrays, named as in the equations), non-zero
# peepholes and initial state, float64. They may differ only by rounding (the fast cell sums in another order):

# %%
rng = np.random.default_rng(0)
T, B, m, n = 10, 3, 4, 5
cell = npslim.cells.make("lstm", input_size=m, hidden_size=n, seed=0, dtype="float64")
X = rng.standard_normal((T, B, m))
state0 = (0.5 * rng.standard_normal((B, n)), 0.5 * rng.standard_normal((B, n)))   # (y⁻¹, c⁻¹)
dY = rng.standard_normal((T, B, n))

Y, state, cache = cell.forward(X, state0)
cell.zero_grad()
dX, dstate0 = cell.backward(dY, cache)
Y_ref, state_ref, caches = reference.lstm_forward(X, state0, cell.params)
dX_ref, dstate0_ref, grads_ref = reference.lstm_backward(dY, caches, cell.params)

vs_reference = {"Y": np.abs(Y - Y_ref).max(), "δX": np.abs(dX - dX_ref).max(),
                "δy⁻¹": np.abs(dstate0[0] - dstate0_ref[0]).max(), "δc⁻¹": np.abs(dstate0[1] - dstate0_ref[1]).max(),
                **{f"δ{k}": np.abs(cell.grads[k] - grads_ref[k]).max() for k in grads_ref}}
print(f"{len(vs_reference)} arrays compared ({', '.join(vs_reference)})")
print(f"largest |fast − reference|: {max(vs_reference.values()):.1e}")

# %% [markdown]
# ### The fast cell against PyTorch
#
# `torch.nn.LSTM` is the vanilla LSTM **without** peepholes, with the gates in the order (i, f, g, o) and two
# bias vectors that only appear as a sum. `npslim.interop.to_torch` carries the weights across (see its
# docstring); the gradients of torch's autograd must then equal the hand-written ones:

# %%
import torch

plain = npslim.cells.make("lstm", input_size=m, hidden_size=n, peepholes=False, seed=0, dtype="float64")
module = interop.to_torch(plain)

Xt = torch.tensor(X, requires_grad=True)
y0t, c0t = (torch.tensor(a[None], requires_grad=True) for a in state0)   # torch wants (layers, B, n)
out, _ = module(Xt, (y0t, c0t))
(out * torch.tensor(dY)).sum().backward()

Yp, _, cache_p = plain.forward(X, state0)
plain.zero_grad()
dXp, (dy0p, dc0p) = plain.backward(dY, cache_p)

vs_torch = {"Y": np.abs(Yp - out.detach().numpy()).max(), "δX": np.abs(dXp - Xt.grad.numpy()).max(),
            "δy⁻¹": np.abs(dy0p - y0t.grad.numpy()[0]).max(), "δc⁻¹": np.abs(dc0p - c0t.grad.numpy()[0]).max()}
for k, (torch_gate, suffix) in enumerate(interop.TORCH_BLOCKS["lstm"]):        # torch's row block k = our gate
    rows = slice(k * n, (k + 1) * n)
    vs_torch[f"δW{suffix}"] = np.abs(plain.grads[f"W{suffix}"] - module.weight_ih_l0.grad.numpy()[rows].T).max()
    vs_torch[f"δR{suffix}"] = np.abs(plain.grads[f"R{suffix}"] - module.weight_hh_l0.grad.numpy()[rows].T).max()
    vs_torch[f"δb{suffix}"] = np.abs(plain.grads[f"b{suffix}"] - module.bias_ih_l0.grad.numpy()[rows]).max()
print(f"{len(vs_torch)} arrays compared ({', '.join(vs_torch)})")
print(f"largest |npslim − torch|: {max(vs_torch.values()):.1e}")

# %% [markdown]
# ## 3. Gradient check
#
# Finite differences (notebook 01, section 3) of every element of every parameter, of X and of the initial
# state, four-point stencil, h = 1e-3, float64. A correct backward pass gives worst relative errors around 1e-9
# or below; a wrong one, 1e-3 to 1.

# %%
for peepholes in (True, False):
    small = npslim.cells.make("lstm", input_size=3, hidden_size=4, peepholes=peepholes, seed=0, dtype="float64")
    errors = check_cell(small, T=5, B=2, seed=0)
    worst = max(errors, key=errors.get)
    print(f"peepholes={peepholes!s:5}: {small.num_params()} parameters, worst relative error "
          f"{errors[worst]:.1e} (in {worst}) over {len(errors)} arrays")

# %% [markdown]
# The peepholes cost 3n parameters (one vector per gate); the rest is 4(mn + n² + n):

# %%
for m_, n_ in ((28, 50), (128, 128)):
    with_p, without = LSTM.param_count(m_, n_), LSTM.param_count(m_, n_, peepholes=False)
    print(f"m = {m_:3d}, n = {n_:3d}: {with_p:,} with peepholes, {without:,} without (difference {with_p - without} = 3n)")

# %% [markdown]
# ## 4. The constant error carousel
#
# Going back one step, the cell state's gradient is multiplied by the forget gate (plus the peepholes' and
# the block output's small contributions): δcᵗ⁻¹ = δcᵗ ⊙ fᵗ + p_i ⊙ δīᵗ + p_f ⊙ δf̄ᵗ. No weight matrix, no φ'.
# With fᵗ = 1 the error flows back unchanged: Hochreiter & Schmidhuber 1997's *constant error carousel*
# (their LSTM had no forget gate: f = 1 always; Gers et al. 2000 added it). The textbook line:

# %%
where(reference.lstm_step_backward, "δcᵗ⁻¹ = δcᵗ ⊙ fᵗ")

# %% [markdown]
# The experiment: an LSTM of 64 units with its forget-gate bias b_f set to −2, 0, 2 or 5 (so fᵗ ≈ σ(b_f), from
# mostly shut to almost always open), a loss on the last output only, and ‖δcᵗ‖ measured at every step back with the
# reference step functions. The Elman RNN of the same size and initialisation is the comparison (its only
# state is y, so its line is ‖δyᵗ‖).

# %%
T_long, units, batch = pick(full=200, smoke=40), 64, 32
biases = (-2.0, 0.0, 2.0, 5.0)
rng = np.random.default_rng(1)
X_long = rng.standard_normal((T_long, batch, 8))
dy_last = rng.standard_normal((batch, units))
dy_last /= np.linalg.norm(dy_last, axis=1, keepdims=True)            # ‖δyᵀ⁻¹‖ = 1 per sequence


def mean_norm(a):
    """‖a‖ of each row, averaged over the batch; scaled first, so that values near 1e-200 do not underflow
    to 0 when squared."""
    scale = np.abs(a).max()
    return 0.0 if scale == 0 else scale * np.linalg.norm(a / scale, axis=1).mean()


def carousel(b_f, alone=False):
    """‖δcᵗ‖ (mean over the batch) k = 0 … T−1 steps back, and the mean forget gate.  ``alone``: R = 0 and
    no peepholes, so that δcᵗ⁻¹ = δcᵗ ⊙ fᵗ is the only way back."""
    lstm = npslim.cells.make("lstm", input_size=8, hidden_size=units, seed=1, dtype="float64")
    lstm.params["b_f"][...] = b_f
    p = lstm.params
    if alone:
        for name in p:
            if name.startswith(("R_", "p_")):
                p[name][...] = 0.0
    zeros = np.zeros((batch, units))
    _, _, caches = reference.lstm_forward(X_long, (zeros, zeros), p)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dstate, norms = (dy_last, zeros), []
    for t in reversed(range(T_long)):
        _, dstate = reference.lstm_step_backward(dstate, caches[t], p, grads)   # -> (δyᵗ⁻¹, δcᵗ⁻¹)
        norms.append(mean_norm(dstate[1]))
    f_mean = np.mean([c[5] for c in caches])                          # the cache holds (x, y⁻, c⁻, z, i, f, …)
    return np.array(norms), f_mean


def rnn_norms():
    rnn = npslim.cells.make("rnn", input_size=8, hidden_size=units, seed=1, dtype="float64")
    _, _, caches = reference.rnn_forward(X_long, np.zeros((batch, units)), rnn.params)
    grads = {k: np.zeros_like(v) for k, v in rnn.params.items()}
    dy, norms = dy_last, []
    for t in reversed(range(T_long)):
        _, dy = reference.rnn_step_backward(dy, caches[t], rnn.params, grads)
        norms.append(mean_norm(dy))
    return np.array(norms)


cec = {b_f: carousel(b_f) for b_f in biases}
cec_alone = {b_f: carousel(b_f, alone=True) for b_f in biases}
rnn_line = rnn_norms()

fig, ax = plt.subplots(figsize=(7, 4))
shades = plt.cm.Blues(np.linspace(0.35, 1.0, len(biases)))
for shade, b_f in zip(shades, biases):
    ax.semilogy(cec[b_f][0], color=shade, label=f"lstm ‖δc‖, b_f = {b_f:+.0f} (mean f = {cec[b_f][1]:.2f})")
ax.semilogy(rnn_line, color=colour("rnn"), ls="--", label="rnn ‖δy‖ (tanh)")
ax.set(xlabel="steps back from the last step (k)", ylabel="gradient norm (mean over 32 sequences)",
       title=f"The constant error carousel: 64 units, T = {T_long}, loss on the last step")
ax.set_ylim(1e-30, 10)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
finish(fig)

# %% [markdown]
# The factor per step of ‖δc‖ (measured over the last three quarters of the way back), beside the mean forget
# gate, for the cell above and for the carousel alone (the same cell with R = 0 and no peepholes, so that
# δcᵗ⁻¹ = δcᵗ ⊙ fᵗ is the only way back):

# %%
def per_step(norms):
    k0 = len(norms) // 4                                              # skip the first steps back
    return (norms[-1] / norms[k0]) ** (1 / (len(norms) - 1 - k0)) if norms[-1] > 0 else 0.0


rows = []
for b_f in biases:
    (norms, f_mean), (norms_alone, f_alone) = cec[b_f], cec_alone[b_f]
    rows.append((f"lstm, b_f = {b_f:+.0f}", f"{f_mean:.3f}", f"{per_step(norms):.3f}", f"{norms[-1]:.1e}",
                 f"{f_alone:.3f}", f"{per_step(norms_alone):.3f}"))
rows.append(("rnn (tanh), same initialisation", "—", f"{per_step(rnn_line):.3f}", f"{rnn_line[-1]:.1e}", "—", "—"))
claims(rows, columns=("cell", "mean fᵗ", "factor per step of ‖δc‖", f"‖δc‖ after {T_long - 1} steps",
                      "carousel alone: mean fᵗ", "carousel alone: factor per step"))

# %% [markdown]
# Alone, the carousel multiplies the gradient by about the mean forget gate at every step: it is exactly as
# long-lived as fᵗ is close to 1. In the whole cell the gradient also returns to cᵗ through yᵗ and R (and the
# peepholes), which makes the factor larger than fᵗ; with fᵗ near 1 the gradient reaches the first step at full
# strength, where the RNN's has died out.

# %% [markdown]
# ## 5. The gates on real text
#
# A one-layer LSTM (peepholes on, 64 units, characters embedded in 32 dimensions) learns to predict the next
# character of Shakespeare (Adam, lr 1e-2, batch 32, seeded). Then one passage of the test text goes through
# it and `cell.gate_activations(cache)` reads iᵗ, fᵗ, oᵗ of every step straight from the forward cache.

# %%
have_text = npslim.datasets.present("shakespeare") is not None
if have_text:
    task = tasks.make("shakespeare-chars", seed=0, seq_len=100, n_train=pick(full=1500, smoke=64), n_test=pick(full=100, smoke=8))
    vocab = npslim.datasets.load("shakespeare", "test", level="char").vocab
else:
    print("The Shakespeare data is not on this machine (run `bash datasets/fetch.sh`); "
          "using scikit-learn's bundled digits, read row by row, instead.")
    task = tasks.make("digits-rows", seed=0)
model = build_model(task, "lstm", hidden_size=64, seed=0)
trainer = Trainer(model, task, optimizer="adam", lr=1e-2, batch_size=32, clip=5.0, seed=0, progress=False)
history = trainer.fit(pick(full=10, smoke=1))
last = history[-1]
print(f"after {last['epoch']} epochs: test loss {last['test_loss']:.3f} nats"
      + (f" = {last['test_bpc']:.2f} bits per character" if "test_bpc" in last else
         f", test accuracy {last.get('test_accuracy', float('nan')):.3f}"))

# %%
lstm = model["rnn"].cell
steps = 60
if have_text:
    ids = task.X_test[:steps, :1]                                    # one passage: (T, 1) character ids
    X_text = model["embed"].forward(ids)[0]                           # Embedding.forward -> (out, cache)
    labels = [vocab[k] for k in ids[:, 0]]
else:
    X_text, labels = task.X_test[:, :1], [f"row {t}" for t in range(task.num_steps)]
_, _, cache = lstm.forward(X_text)
gates = {name: npslim.backend.to_host(a)[:, 0, :] for name, a in lstm.gate_activations(cache).items()}   # (T, n)

shown = 24                                                            # the first 24 units
fig, axes = plt.subplots(3, 1, figsize=(13, 8), sharex=True)
for ax, name in zip(axes, ("i", "f", "o")):
    image = ax.imshow(gates[name][:, :shown].T, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set(ylabel="unit", title=f"gate {name}ᵗ (mean over the passage {gates[name].mean():.2f})")
    fig.colorbar(image, ax=ax, label=f"{name}ᵗ")
axes[-1].set_xticks(range(len(labels)))
axes[-1].set_xticklabels([repr(c)[1:-1] if len(c) == 1 else c for c in labels], fontsize=7,
                         rotation=0 if have_text else 90, family="monospace")
axes[-1].set_xlabel("input at step t" + (" (character)" if have_text else ""))
fig.suptitle("Input, forget and output gates of a trained LSTM, step by step", fontsize=12)
finish(fig)
if have_text:
    print("the passage:", repr("".join(labels)))

# %% [markdown]
# How open are the gates over the whole passage? A gate near 0 or 1 acts as a switch, one near 0.5 as a
# scale (Li et al. 2018, notebook 07, push the input and forget gates to the ends on purpose):

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
for name in ("i", "f", "o"):
    ax.hist(gates[name].ravel(), bins=40, range=(0, 1), histtype="step", lw=1.6, color=GATE_COLOURS[name],
            label=f"{name}: {np.mean(gates[name] < 0.1):.0%} below 0.1, {np.mean(gates[name] > 0.9):.0%} above 0.9")
ax.set(xlabel="gate activation", ylabel="count (steps × units)", title="Gate values of the trained LSTM on the passage")
ax.legend(fontsize=8)
finish(fig)

# %% [markdown]
# ## 6. What the papers say, beside what we measured

# %%
claims([
    ("parameters, m = 28, n = 50 (Greff et al. 2017: 4(mn + n² + n) + 3n)", f"{4 * (28 * 50 + 50 * 50 + 50) + 3 * 50:,}",
     f"{npslim.cells.make('lstm', input_size=28, hidden_size=50).num_params():,}", "same formula"),
    ("the vanilla LSTM without peepholes is torch's nn.LSTM", "equal up to rounding",
     f"largest difference {max(vs_torch.values()):.1e} (float64)", "summation order only"),
    ("the fast cell computes the textbook equations", "equal up to rounding",
     f"largest difference {max(vs_reference.values()):.1e} (float64)", "summation order only"),
    ("constant error carousel (Hochreiter & Schmidhuber 1997): δc carried back by the factor f",
     "factor = f (1 with no forget gate)",
     f"carousel alone, b_f = 5: mean f = {cec_alone[5.0][1]:.3f}, factor {per_step(cec_alone[5.0][0]):.3f}",
     "fᵗ varies over units and steps; the factor is of the norm"),
    (f"the gradient over {T_long - 1} steps back", "LSTM keeps it, RNN loses it",
     f"lstm (b_f = 5) ‖δc‖ {cec[5.0][0][-1]:.1e}; rnn ‖δy‖ {rnn_line[-1]:.1e}",
     "at initialisation, not after training"),
])

# %% [markdown]
# ## Exercises
#
# 1. Set `lstm.params["p_f"][...] = 0` in `carousel` (no forget peephole): does the measured factor move closer
#    to the mean forget gate?
# 2. Greff's NFG variant (`npslim.cells.make("nfg", ...)`) has fᵗ = 1: the pure carousel. Measure its ‖δc‖
#    curve. Why can the cell state of NFG grow without bound in the forward pass?
# 3. Train with `build_model(task, "lstm", hidden_size=64, peepholes=False)` and compare the test loss and the
#    gate heat maps (Greff et al. 2017 found no significant difference without peepholes).
# 4. Find a unit whose forget gate drops at spaces or line breaks in the heat map, and check on another passage.
# 5. Port the comparison with torch to the GRU (`interop.to_torch` on `npslim.cells.make("gru", ...)`) and read
#    `npslim.interop`'s docstring for why its candidate has two biases.

# %%
footer();
