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
# # 00 · Quickstart: build a cell, check its gradient, train it, plot it
#
# npslim's cells are written from scratch in NumPy, each with a hand-derived backward pass through time.
# In a few minutes this notebook
#
# 1. builds an LSTM cell and runs it on a batch of sequences,
# 2. **gradient-checks** it against finite differences (and says what error to expect),
# 3. **trains** it on scikit-learn's handwritten digits, read one image row per time step, with `npslim.train.Trainer`,
# 4. **plots** the learning curves and the distribution of the gate values of the trained cell.
#
# **Budget:** under a minute on 2 CPU cores (the first cell prints it; the last prints the time taken).
# Everything is seeded, so you get the numbers shown in the outputs.

# %%
import numpy as np
from IPython.display import Image, display

import npslim
from npslim import tasks, plots
from _common import footer, header, pick
from npslim.gradcheck import check_cell
from npslim.train import Trainer, build_model

header("00-quickstart", minutes=1)
print("registered cells:", ", ".join(npslim.cells.names()))

# %% [markdown]
# ## 1. A cell and its contract
#
# Every cell works on a whole sequence, **time-major**: `X` has shape `(T, B, m)` — time steps, batch, input
# features.  `forward` returns the outputs of every step, the final state and a cache that `backward` needs:
#
#     Y, state, cache = cell.forward(X, state0=None)      # Y (T, B, n)
#     dX, dstate0 = cell.backward(dY, cache)              # accumulates into cell.grads
#
# The parameters carry the names of the equations (`W_z`, `R_i`, `b_f`, `p_o`, ... in Greff's notation).

# %%
cell = npslim.cells.make("lstm", input_size=8, hidden_size=32, seed=0)
X = np.random.default_rng(0).standard_normal((8, 4, 8)).astype("float32")   # T=8 steps, B=4 sequences, m=8

Y, state, cache = cell.forward(X)
print("Y:", Y.shape, " state:", {name: s.shape for name, s in zip(cell.STATE, state)})
print(cell.num_params(), "parameters =", cell.PARAM_FORMULA.split("  ")[0], "with m=8, n=32")
print("parameters:", ", ".join(cell.params))

# %% [markdown]
# ## 2. Gradient check
#
# `check_cell` compares every gradient of the hand-written backward pass (weights, biases, peepholes, the
# inputs and the initial state) with finite differences of a random scalar loss: each element is moved by
# ±h and ±2h (h = 1e-3) and the fourth-order central difference is formed.  It needs **float64**.  A correct
# backward pass then shows a worst relative error around **1e-9 to 1e-8 or below** (the test suite fails
# anything above 1e-6); a wrong formula gives errors of order 1e-3 to 1.  In float32 rounding alone would
# give about 1e-3, which is why the check runs in float64.

# %%
small = npslim.cells.make("lstm", input_size=4, hidden_size=6, seed=0, dtype="float64")
errors = check_cell(small, T=5, B=3, seed=0)
for name, err in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
    print(f"{name:>6}: {err:.1e}")
worst = max(errors.values())
print(f"worst relative error over {len(errors)} arrays: {worst:.1e}")
assert worst < 1e-6

# %% [markdown]
# ## 3. Train it
#
# `digits-rows` is scikit-learn's bundled 8×8 digits (1347 training and 450 test images), each image read as a
# sequence of 8 rows of 8 pixels.  `build_model` puts a `Dense` read-out on the output of the last step;
# the loss is softmax cross-entropy.  The `Trainer` shuffles the minibatches with its own seeded generator,
# clips the gradient norm, evaluates the test split after every epoch and, given `out=`, writes a checkpoint
# per epoch (atomically) from which `Trainer.load_checkpoint` resumes bit-exactly.

# %%
task = tasks.make("digits-rows")
print(task.n_train, "train /", task.n_test, "test sequences of", task.num_steps, "steps x", task.input_size, "features")

model = build_model(task, "lstm", hidden_size=32, seed=0)
trainer = Trainer(model, task, optimizer="adam", lr=1e-2, batch_size=32, clip=5.0, seed=0,
                  out="runs/quickstart", progress=False)
history = trainer.fit(epochs=pick(full=15, smoke=2))

for record in history[::3] + history[-1:]:
    print(f"epoch {record['epoch']:2d}  train loss {record['train_loss']:.3f}  "
          f"test loss {record['test_loss']:.3f}  test accuracy {record['test_accuracy']:.3f}")
print("best:", trainer.best)

# %%
metrics = trainer.evaluate("test")
print({k: round(v, 4) for k, v in metrics.items()})   # loss (nats per sequence) and accuracy

# %% [markdown]
# ## 4. Plot
#
# `plots.plot_curves` draws loss and accuracy per epoch (training dashed, test solid; pass a dict
# `{"lstm": history, "gru": ...}` to put several cells in one figure).  `plots.plot_gate_histograms` reads the
# gate activations of the trained cell straight from its forward cache (`npslim.inspect.gates`) — how open
# or shut are the input, forget and output gates on the test digits?

# %%
display(Image(filename=str(plots.plot_curves(history, "runs/quickstart/curves.png", metric="accuracy",
                                             title="LSTM, 32 units, on digits-rows"))))
display(Image(filename=str(plots.plot_gate_histograms(model, task.X_test, "runs/quickstart/gates.png"))))

# %% [markdown]
# ## Next
#
# * The same from the shell, for several cells at once, with a table and one figure:
#
#       npslim compare --task digits-rows --cells lstm,gru,cifg,lstm_c6
#
# * `npslim train --help` lists every option (task, cell, hidden size, epochs, optimizer, schedule, clipping,
#   early stopping, truncated BPTT, seed, output folder); `npslim train --resume DIR` continues a run.

# %%
footer();
