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
# # 08 · From NumPy to CuPy: the same cells on a GPU
#
# **The question.** npslim's cells are plain array code. Can the very same code, not a port of it, run on a
# GPU, give the same numbers, and run faster? This notebook
#
# 1. shows how a cell finds its array module (`xp`) and how the backend is switched,
# 2. checks parity: the same seed gives the same weights on both backends, and the same outputs and gradients
#    up to rounding, and the gradient check passes on the GPU,
# 3. times forward + backward on NumPy (CPU) and CuPy (GPU) for growing cell sizes.
#
# Without a GPU (or without CuPy) every GPU cell says so and does nothing: the notebook still runs top to
# bottom and shows the CPU side. On a CUDA machine: `pip install -e ".[gpu]"` and run it again.
#
# **Budget:** full: at most 2 minutes on 2 CPU cores (plus the GPU, where there is one). The first cell
# prints the budget in use, the last one the time the run took; `NPSLIM_TUTORIAL_BUDGET=smoke` shrinks it (CI).

# %%
import time

import numpy as np
import matplotlib.pyplot as plt

import npslim
from npslim import backend
from npslim.gradcheck import check_cell
from _common import claims, colour, finish, footer, header, pick, show_doc, show_source

header("08-numpy-to-cupy", minutes=2)
try:
    backend.get_xp("cupy")
    GPU = True
    import cupy
    print("CuPy", cupy.__version__, "sees", cupy.cuda.runtime.getDeviceCount(), "GPU(s):",
          cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
except backend.BackendError as reason:
    GPU = False
    print(f"No GPU here, so the GPU cells below are skipped (not failed). The reason: {reason}")

# %% [markdown]
# ## 1. One switch
#
# Every cell does its arithmetic through `xp`, the array module of its own arrays. The backend module says
# how it is chosen:

# %%
show_doc(backend)

# %% [markdown]
# A cell records the backend current when it is made, and draws its initial weights on the host from its
# seeded NumPy generator before moving them (so a seed gives the same weights everywhere):

# %%
show_source(npslim.module.Module._add_param)
show_source(backend.to_device)

# %% [markdown]
# Inputs must live where the cell lives: a NumPy array given to a CuPy cell (or the reverse) is refused with
# an error that names the argument. `backend.to_device(a, cell.xp)` moves it; `backend.to_host(a)` brings
# results back. On the CPU, the same calls simply return NumPy arrays:

# %%
cpu_cell = npslim.cells.make("lstm", input_size=8, hidden_size=16, seed=0, dtype="float64")
print("backend:", backend.get_backend(), "| cell.xp:", cpu_cell.xp.__name__, "| W lives in",
      type(cpu_cell.params["W_z"]).__module__)
X_host = np.random.default_rng(0).standard_normal((20, 4, 8))
Y_host, _, _ = cpu_cell.forward(backend.to_device(X_host, cpu_cell.xp))
print("Y:", type(backend.to_host(Y_host)).__name__, Y_host.shape)

# %% [markdown]
# ## 2. Parity: the same numbers on both backends
#
# The check the test suite runs for every cell (tests/test_cupy.py): the same seed on NumPy and on CuPy, the
# same inputs, float64. Weights must be identical (both are drawn on the host); outputs and gradients may
# differ by rounding only, because cuBLAS sums in another order than the CPU's BLAS.

# %%
def parity(name, T=20, B=8, m=8, n=32):
    """Largest |numpy − cupy| over outputs, final state, input/state gradients and parameter gradients."""
    with backend.use_backend("numpy"):
        ref = npslim.cells.make(name, input_size=m, hidden_size=n, seed=0, dtype="float64")
    with backend.use_backend("cupy"):
        gpu = npslim.cells.make(name, input_size=m, hidden_size=n, seed=0, dtype="float64")
    ref.eval(), gpu.eval()                            # evaluation mode: g2lstm draws no noise
    same_weights = all(np.array_equal(backend.to_host(gpu.params[k]), ref.params[k]) for k in ref.params)
    rng = np.random.default_rng(1)
    X, dY = rng.standard_normal((T, B, m)), rng.standard_normal((T, B, n))
    results = []
    for cell in (ref, gpu):
        cell.zero_grad()
        Y, state, cache = cell.forward(backend.to_device(X, cell.xp))
        dX, dstate0 = cell.backward(backend.to_device(dY, cell.xp), cache)
        results.append([backend.to_host(a) for a in (Y, *state, dX, *dstate0, *cell.grads.values())])
    return same_weights, max(float(np.abs(a - b).max()) for a, b in zip(*results))


if GPU:
    for name in ("rnn", "gru", "lstm", "cifg", "lstmp", "g2lstm"):
        same, diff = parity(name)
        print(f"{name:>7}: identical initial weights {same}; largest |numpy − cupy| {diff:.1e}")
else:
    print("skipped: no GPU (see the first cell)")

# %% [markdown]
# And the gradient check of notebook 01, run on the GPU (finite differences of the CuPy cell itself):

# %%
if GPU:
    with backend.use_backend("cupy"):
        gpu_small = npslim.cells.make("lstm", input_size=3, hidden_size=4, seed=0, dtype="float64")
    gpu_errors = check_cell(gpu_small, T=4, B=2, seed=0)
    print(f"lstm on CuPy: worst relative error {max(gpu_errors.values()):.1e} over {len(gpu_errors)} arrays")
else:
    gpu_errors = None
    print("skipped: no GPU (see the first cell)")

# %% [markdown]
# ## 3. Timing
#
# Forward + backward of an LSTM layer (T = 100 steps, batch 64, float32) for growing cell sizes n. On the GPU
# every step is a handful of small kernels, so small cells are bound by kernel-launch latency and only large
# ones profit; CuPy calls are asynchronous, so the clock stops only after `synchronize()`. The CPU side was
# measured on a shared machine: read it as an order of magnitude.

# %%
sizes = pick(full=(64, 128, 256, 512), smoke=(32,))
T_time, B_time, repeats = pick(full=100, smoke=10), 64, pick(full=3, smoke=1)


def seconds_per_pass(name, n, where):
    """Best of ``repeats`` forward + backward passes on backend ``where``."""
    with backend.use_backend(where):
        cell = npslim.cells.make(name, input_size=n, hidden_size=n, seed=0, dtype="float32")
    xp = cell.xp
    rng = np.random.default_rng(0)
    X = backend.to_device(rng.standard_normal((T_time, B_time, n)).astype("float32"), xp)
    dY = backend.to_device(rng.standard_normal((T_time, B_time, n)).astype("float32"), xp)
    sync = (lambda: xp.cuda.Device().synchronize()) if where == "cupy" else (lambda: None)
    best = float("inf")
    for _ in range(repeats + 1):                      # the first pass warms up (CuPy compiles its kernels)
        sync()
        start = time.perf_counter()
        _, _, cache = cell.forward(X)
        cell.backward(dY, cache)
        sync()
        best = min(best, time.perf_counter() - start)
    return best


timings = {"numpy": [seconds_per_pass("lstm", n, "numpy") for n in sizes]}
if GPU:
    timings["cupy"] = [seconds_per_pass("lstm", n, "cupy") for n in sizes]
for k, n in enumerate(sizes):
    line = f"n = {n:4d}: numpy {1e3 * timings['numpy'][k]:8.1f} ms"
    if GPU:
        line += f"   cupy {1e3 * timings['cupy'][k]:7.1f} ms   speed-up ×{timings['numpy'][k] / timings['cupy'][k]:.1f}"
    print(line)

# %%
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.loglog(sizes, [1e3 * s for s in timings["numpy"]], "o-", color=colour("lstm"), label="lstm, NumPy (CPU)")
if GPU:
    ax.loglog(sizes, [1e3 * s for s in timings["cupy"]], "s--", color=colour("lstm"), label="lstm, CuPy (GPU)")
ax.set(xlabel="cell size n (= input size m)", ylabel="forward + backward (ms)",
       title=f"One pass, T = {T_time}, batch {B_time}, float32" + ("" if GPU else " (no GPU here)"))
ax.grid(True, alpha=0.3, which="both")
ax.legend(fontsize=8)
finish(fig)

# %% [markdown]
# ## 4. The claim beside the measurement

# %%
if GPU:
    diffs = {name: parity(name)[1] for name in ("lstm", "gru")}
    rows = [("same seed, same weights on both backends", "identical", f"identical: {parity('lstm')[0]}", "drawn on the host"),
            ("outputs and gradients, float64", "equal up to rounding (tests: rtol 1e-9)",
             f"largest difference {max(diffs.values()):.1e}", "cuBLAS sums in another order"),
            ("gradient check on the GPU", "around 1e-9 or below", f"{max(gpu_errors.values()):.1e}", "—"),
            (f"speed-up at n = {sizes[-1]}", "grows with n", f"×{timings['numpy'][-1] / timings['cupy'][-1]:.1f}",
             "small cells are bound by kernel launches")]
else:
    rows = [("the same code runs on CuPy (README)", "NumPy (CPU) or CuPy (GPU)", "not measured: no GPU here",
             "run this notebook on a CUDA machine with `pip install -e \".[gpu]\"`"),
            (f"CPU forward + backward, lstm n = {sizes[-1]}", "—", f"{1e3 * timings['numpy'][-1]:.1f} ms",
             "a shared 2-core machine")]
claims(rows, columns=("claim", "expected", "this run", "note"))

# %% [markdown]
# ## Exercises
#
# 1. Set `NPSLIM_BACKEND=cupy` before starting Python and run notebook 00 unchanged: which lines had to know
#    about the GPU?
# 2. Train with `Trainer` on the GPU (make the model inside `with backend.use_backend("cupy"):`): is the
#    training history the same as on the CPU for the first epochs? Where does it start to differ, and why?
# 3. In float32 the parity check fails at rtol 1e-9. Which tolerance does float32 need, and why does the gradient
#    check refuse float32 altogether?
# 4. Time batch 1 against batch 256 on both backends: where does the GPU stop paying off?

# %%
footer();
