"""Behaviours no other test pinned down: each test here fails on a realistic bug that got through
the rest of the suite (a fault planted in a copy of the code; see issue 11)."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import npslim
from npslim import tasks
from npslim.layers import Dense, Recurrent
from npslim.train import Trainer, build_model

F64 = "float64"
FGR_GATES = ("i", "f", "o")          # FGR's gates that recur among themselves (its R_⋆⋄ blocks)


def _logit(p):
    return np.log(p) - np.log1p(-p)


# ---------------------------------------------------------------- FGR: the meaning of each R_g block
@pytest.mark.parametrize("target", FGR_GATES)
@pytest.mark.parametrize("source", FGR_GATES)
def test_fgr_block_R_target_source_carries_source_into_target(target, source):
    """params[f"R_{target}{source}"] is the matrix by which source gate's value at t−1 enters
    target's pre-activation at t (row-vector convention: ḡ_targetᵗ += g_sourceᵗ⁻¹ R): with only
    that block non-zero, only the target gate changes, by exactly that term.  A cell using R_g
    transposed everywhere (forward, backward, δR_g) passes the gradient check but fails here."""
    n = 3
    cell = npslim.cells.make("fgr", 2, n, seed=0, dtype=F64, peepholes=False)   # no path from c into ō
    blocks = [f"R_{a}{b}" for a in FGR_GATES for b in FGR_GATES]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1, 2, 2))
    y0, c0, g0 = (0.5 * rng.standard_normal((2, s)) for s in cell.state_sizes())
    prev = dict(zip(FGR_GATES, np.split(g0, 3, axis=1)))          # gᵗ⁻¹ = [i f o]ᵗ⁻¹

    for name in blocks:
        cell.params[name][...] = 0.0
    base = {g: a[0].copy() for g, a in cell.gate_activations(cell.forward(X, (y0, c0, g0))[2]).items()}
    M = rng.standard_normal((n, n))
    cell.params[f"R_{target}{source}"][...] = M
    gates = cell.gate_activations(cell.forward(X, (y0, c0, g0))[2])
    for g in FGR_GATES:
        if g == target:
            np.testing.assert_allclose(_logit(gates[g][0]), _logit(base[g]) + prev[source] @ M, rtol=1e-10)
        else:
            np.testing.assert_array_equal(gates[g][0], base[g])


# ---------------------------------------------------------------- stateful Recurrent with lengths
def test_stateful_recurrent_with_lengths_carries_each_sequences_last_valid_state():
    """The next forward starts from the state after step lengths[b] − 1, not after the padding:
    the same as running each sequence alone, its valid part then the next chunk."""
    m, n = 3, 4
    rng = np.random.default_rng(2)
    first, second = rng.standard_normal((5, 3, m)), rng.standard_normal((4, 3, m))
    lengths = np.array([5, 2, 3])
    layer = Recurrent("lstm", m, n, stateful=True, seed=3, dtype=F64)
    layer.forward(first, lengths)
    out, _ = layer.forward(second)
    for b, L in enumerate(lengths):
        _, state, _ = layer.cell.forward(first[:L, b:b + 1].copy())
        alone, _, _ = layer.cell.forward(second[:, b:b + 1].copy(), state)
        np.testing.assert_allclose(out[:, b], alone[:, 0], rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- early stopping across a resume
def test_early_stopping_after_resume_stops_where_the_uninterrupted_run_stops(tmp_path):
    """lr = 0: epoch 1 is the best, every later epoch is bad, patience 2 stops after epoch 3.  A run
    interrupted after epoch 2 (one bad epoch behind it) and resumed stops after epoch 3 too."""
    task = tasks.make("adding", T=5, n_train=32, n_test=16)

    def trainer(**kw):
        return Trainer(build_model(task, "rnn", 3, seed=0), task, lr=0.0, patience=2, monitor="test_loss",
                       batch_size=16, progress=False, **kw)
    whole = trainer()
    whole.fit(10)
    assert [r["epoch"] for r in whole.history] == [1, 2, 3] and whole.stopped_early

    interrupted = trainer(out=tmp_path)
    interrupted.fit(2)
    assert interrupted.bad_epochs == 1 and not interrupted.stopped_early
    resumed = trainer().load_checkpoint(tmp_path / "checkpoint.npz")
    resumed.fit(10)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3] and resumed.stopped_early
    assert [r["best"] for r in resumed.history] == [r["best"] for r in whole.history]


# ---------------------------------------------------------------- npslim gradcheck's exit status
def test_gradcheck_command_fails_when_a_cell_fails():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    args = [sys.executable, "-m", "npslim", "gradcheck", "--cells", "rnn", "-T", "1"]
    failing = subprocess.run(args + ["--tol", "1e-30"], capture_output=True, text=True, env=env, timeout=120)
    assert failing.returncode != 0, failing.stdout + failing.stderr
    passing = subprocess.run(args + ["--tol", "1e-6"], capture_output=True, text=True, env=env, timeout=120)
    assert passing.returncode == 0, passing.stdout + passing.stderr


# ---------------------------------------------------------------- documented initialisation bounds
def _assert_uniform_bound(a, bound, what):
    """|a| <= bound, and the bound is reached (max |a| within 5% of it): U(−bound, bound), no narrower."""
    a = npslim.backend.to_host(a)
    assert np.abs(a).max() <= bound, f"{what}: max |value| {np.abs(a).max():.4g} above the bound {bound:.4g}"
    assert np.abs(a).max() > 0.95 * bound, f"{what}: max |value| {np.abs(a).max():.4g} far below {bound:.4g}"


def test_dense_initialisation_is_pytorchs_uniform_over_fan_in():
    """Dense: U(−1/√in, 1/√in) for W and b (PyTorch's default); in != out tells fan-in from fan-out."""
    layer = Dense(400, 100, seed=0)
    _assert_uniform_bound(layer.params["W"], 1 / math.sqrt(400), "W")
    _assert_uniform_bound(layer.params["b"], 1 / math.sqrt(400), "b")


def test_flstm_W2_initialisation_over_its_fan_in_r():
    """F-LSTM: W₂ from U(−1/√r, 1/√r) (its fan-in), the rest from U(−1/√n, 1/√n)."""
    n, r = 64, 4
    cell = npslim.cells.make("flstm", 50, n, rank=r, seed=0, dtype=F64)
    for name, p in cell.params.items():
        bound = 1 / math.sqrt(r) if name.startswith("W2") else 1 / math.sqrt(n)
        _assert_uniform_bound(p, bound, name)
