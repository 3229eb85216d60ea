"""The trainer: checkpoints, bit-exact resume, the divergence guard, atomic writes, truncated BPTT,
metrics, early stopping, and learning on small budgets."""
import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from npslim import tasks
from npslim.layers import Dense, Dropout, Recurrent
from npslim.model import Model
from npslim.runs_io import selected_on
from npslim.train import (CHECKPOINT_FORMAT, Trainer, TrainingDiverged, build_model, carried_state, evaluate,
                          load_npz, save_npz_atomic, tbptt_chunks, write_history)

TIMING = ("seconds", "eval_seconds")


@pytest.fixture(scope="module")
def digits():
    return tasks.make("digits-rows")


def untimed(history):
    return [{k: v for k, v in rec.items() if k not in TIMING} for rec in history]


def dropout_model(seed, n=12):
    """A model with every kind of trainer state: a recurrent cell, dropout noise, a read-out."""
    return Model({"rnn": Recurrent("lstm", 8, n, return_sequences=False, seed=seed),
                  "drop": Dropout(0.3, seed=seed + 1),
                  "out": Dense(n, 10, seed=seed + 2)})


def assert_same_params(a, b):
    pa, pb = a.params(), b.params()
    assert pa.keys() == pb.keys()
    for name in pa:
        assert np.array_equal(pa[name], pb[name]), name


# ---------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(digits, tmp_path):
    trainer = Trainer(dropout_model(0), digits, schedule="exp", schedule_options={"gamma": 0.9}, seed=3,
                      out=tmp_path, progress=False)
    trainer.fit(2)
    d = load_npz(tmp_path / "checkpoint.npz")
    assert str(d["format"]) == CHECKPOINT_FORMAT and int(d["epoch"]) == 2
    assert {k for k in d if k.startswith("model/")} == {f"model/{k}" for k in trainer.model.params()}
    assert any(k.startswith("optimizer/") and k.endswith("/m") for k in d)
    assert "schedule/gamma" in d and "rng" in d and "history" in d

    other = Trainer(dropout_model(7), digits, schedule="exp", schedule_options={"gamma": 0.9}, seed=3,
                    progress=False)
    other.load_checkpoint(tmp_path / "checkpoint.npz")
    assert_same_params(other.model, trainer.model)
    assert other.epoch == 2 and other.step_count == trainer.step_count
    assert other.history == trainer.history
    assert other.best == trainer.best
    assert other.optimizer.lr == trainer.optimizer.lr and other.schedule.epoch == 2
    mine, theirs = trainer.optimizer.state_dict(), other.optimizer.state_dict()
    for key in mine:
        assert np.array_equal(np.asarray(mine[key]), np.asarray(theirs[key])), key
    assert other.rng.bit_generator.state == trainer.rng.bit_generator.state
    assert other.model["drop"]._rng.bit_generator.state == trainer.model["drop"]._rng.bit_generator.state
    # the best checkpoint is a complete checkpoint too
    assert int(load_npz(tmp_path / "best.npz")["epoch"]) == trainer.best["epoch"]


@pytest.mark.parametrize("cell, schedule, val_fraction", [("lstm", "exp", 0.0), ("g2lstm", "plateau", 0.2)])
def test_stop_and_resume_equals_uninterrupted_bit_exactly(digits, tmp_path, cell, schedule, val_fraction):
    options = {"gamma": 0.8} if schedule == "exp" else {"patience": 0}

    def model(seed):
        m = dropout_model(seed)
        if cell != "lstm":
            m = Model({"rnn": Recurrent(cell, 8, 12, return_sequences=False, seed=seed),   # stochastic gates
                       "drop": Dropout(0.3, seed=seed + 1), "out": Dense(12, 10, seed=seed + 2)})
        return m

    def trainer(m, out=None):
        return Trainer(m, digits, lr=1e-2, schedule=schedule, schedule_options=options, val_fraction=val_fraction,
                       seed=5, out=out, progress=False)

    straight = trainer(model(0))
    straight.fit(4)

    first = trainer(model(0), out=tmp_path)
    first.fit(2)
    resumed = trainer(model(99))                # other initial weights: everything must come from the file
    resumed.load_checkpoint(tmp_path / "checkpoint.npz")
    resumed.fit(4)

    assert_same_params(resumed.model, straight.model)
    assert untimed(resumed.history) == untimed(straight.history)
    assert resumed.optimizer.lr == straight.optimizer.lr
    assert resumed.step_count == straight.step_count


def test_generators_are_found_through_children_under_their_attribute_paths():
    """Every random generator of a model, reached through children(), keyed by the attribute path
    checkpoints have always used (so earlier checkpoints still load)."""
    from npslim.layers import Bidirectional
    from npslim.training.checkpoint import generators
    model = Model({"drop": Dropout(0.2), "bi": Bidirectional("lstm", 8, 4),
                   "rnn": Recurrent("g2lstm", 8, 4, return_sequences=False), "out": Dense(4, 10)})
    found = generators(model)
    assert sorted(found) == ["_host_rng", "layers.bi._host_rng", "layers.bi.bw._host_rng",
                             "layers.bi.bw.cell._host_rng", "layers.bi.fw._host_rng", "layers.bi.fw.cell._host_rng",
                             "layers.drop._host_rng", "layers.drop._rng", "layers.out._host_rng",
                             "layers.rnn._host_rng", "layers.rnn.cell._host_rng", "layers.rnn.cell._noise_rng"]
    part, attr = found["layers.rnn.cell._noise_rng"]
    assert part is model["rnn"].cell and isinstance(getattr(part, attr), np.random.Generator)
    assert getattr(*found["layers.drop._rng"]) is None           # dropout draws its generator on first use


def test_zero_grad_and_modes_reach_the_cell_through_children():
    layer = Recurrent("lstm", 3, 4)
    assert layer.children() == {"cell": layer.cell}
    for g in layer.cell.grads.values():
        g[...] = 1
    layer.zero_grad()
    assert all(not g.any() for g in layer.cell.grads.values())
    assert not layer.eval().cell.training and layer.train().cell.training


def test_same_seed_repeats_a_run(digits):
    a = Trainer(dropout_model(0), digits, seed=1, progress=False)
    b = Trainer(dropout_model(0), digits, seed=1, progress=False)
    c = Trainer(dropout_model(0), digits, seed=2, progress=False)
    for t in (a, b, c):
        t.fit(1)
    assert untimed(a.history) == untimed(b.history)
    assert_same_params(a.model, b.model)
    assert untimed(a.history) != untimed(c.history)        # the seed decides the shuffling and the dropout


# ---------------------------------------------------------------------------- the divergence guard
def _inject(task, monkeypatch, epoch, step, what="nan"):
    """Make minibatch ``step`` of epoch ``epoch`` of the training split carry a NaN (or inf) input."""
    original = task.batches
    calls = {"train": 0}

    def batches(split, batch_size, rng=None):
        if split != "train":
            yield from original(split, batch_size, rng)
            return
        calls["train"] += 1
        for k, (X, y, lengths) in enumerate(original(split, batch_size, rng), start=1):
            if calls["train"] == epoch and k == step:
                X = X.copy()
                X[0, 0, 0] = np.nan if what == "nan" else np.inf
            yield X, y, lengths
    monkeypatch.setattr(task, "batches", batches)


def test_nan_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    task = tasks.make("digits-rows")
    trainer = Trainer(build_model(task, "lstm", 8), task, seed=0, val_fraction=0.0, out=tmp_path, progress=False)
    _inject(task, monkeypatch, epoch=3, step=5)
    with pytest.raises(TrainingDiverged, match=r"non-finite loss \(nan\) at epoch 3, step 5") as info:
        trainer.fit(6)
    err = info.value
    assert (err.epoch, err.step, err.quantity) == (3, 5, "loss") and math.isnan(err.value)
    assert err.checkpoint == tmp_path / "checkpoint.npz" and str(err.checkpoint) in str(err)
    assert len(trainer.history) == 2

    d = load_npz(tmp_path / "checkpoint.npz")                     # loadable, and from the last good epoch
    assert int(d["epoch"]) == 2
    assert all(np.isfinite(v).all() for k, v in d.items() if k.startswith("model/"))
    again = Trainer(build_model(task, "lstm", 8, seed=4), task, seed=0, progress=False)
    again.load_checkpoint(err.checkpoint)
    assert again.epoch == 2 and math.isfinite(again.evaluate()["loss"])


def test_nan_gradient_stops_training_before_the_update(tmp_path):
    task = tasks.make("digits-rows")
    model = build_model(task, "gru", 8)
    trainer = Trainer(model, task, clip=0, seed=0, out=tmp_path, progress=False)
    trainer.fit(1)
    before = {k: v.copy() for k, v in model.params().items()}
    original = model.backward
    calls = {"n": 0}

    def backward(dout):
        out = original(dout)
        calls["n"] += 1
        if calls["n"] == 7:
            model.grads()["out.W"][0, 0] = np.inf
        return out
    model.backward = backward
    with pytest.raises(TrainingDiverged, match=r"non-finite gradient norm \(inf\) at epoch 2, step 7"):
        trainer.fit(3)
    assert all(np.isfinite(v).all() for v in model.params().values())       # the bad step was not applied
    assert not all(np.array_equal(before[k], v) for k, v in model.params().items())   # steps 1-6 were
    assert int(load_npz(tmp_path / "checkpoint.npz")["epoch"]) == 1


def test_divergence_before_any_checkpoint_says_so(monkeypatch):
    task = tasks.make("digits-rows")
    trainer = Trainer(build_model(task, "lstm", 4), task, val_fraction=0.0, progress=False)
    _inject(task, monkeypatch, epoch=1, step=2, what="inf")
    with pytest.raises(TrainingDiverged, match="epoch 1, step 2.*no checkpoints are kept"):
        trainer.fit(2)


# ---------------------------------------------------------------------------- atomic writes
def test_crash_during_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save_npz_atomic(path, {"a": np.arange(5.0), "note": np.array("first")})
    before = path.read_bytes()

    def torn_write(f, **arrays):            # the write dies half-way: a truncated zip in the file
        f.write(before[: len(before) // 2])
        raise OSError("No space left on device (simulated)")
    monkeypatch.setattr(np, "savez", torn_write)
    with pytest.raises(OSError, match="simulated"):
        save_npz_atomic(path, {"a": np.arange(50.0), "note": np.array("second")})
    assert path.read_bytes() == before
    d = load_npz(path)
    assert np.array_equal(d["a"], np.arange(5.0)) and str(d["note"]) == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]     # no temporary file left


def test_killed_process_mid_write_leaves_the_previous_checkpoint_intact(tmp_path):
    """A hard kill (no cleanup at all) in the middle of writing the new checkpoint."""
    path = tmp_path / "checkpoint.npz"
    script = textwrap.dedent(f"""
        import os, numpy as np
        from npslim.train import save_npz_atomic
        save_npz_atomic({str(path)!r}, {{"epoch": np.array(1), "w": np.ones(1000)}})
        def dying_write(f, **arrays):
            f.write(b"PK" + b"x" * 4000)
            f.flush()
            os._exit(9)                      # killed: nothing after this runs
        np.savez = dying_write
        save_npz_atomic({str(path)!r}, {{"epoch": np.array(2), "w": np.zeros(1000)}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    d = load_npz(path)
    assert int(d["epoch"]) == 1 and np.array_equal(d["w"], np.ones(1000))


def test_trainer_checkpoint_survives_a_failed_save(digits, tmp_path, monkeypatch):
    trainer = Trainer(build_model(digits, "lstm", 6), digits, seed=0, out=tmp_path, progress=False)
    trainer.fit(2)

    def failing(f, **arrays):
        f.write(b"garbage")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", failing)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(3)
    monkeypatch.undo()
    assert int(load_npz(tmp_path / "checkpoint.npz")["epoch"]) == 2


# ---------------------------------------------------------------------------- truncated BPTT
def test_tbptt_chunks_cut_along_time():
    X, y = np.arange(10 * 2 * 3).reshape(10, 2, 3), np.arange(20).reshape(10, 2)
    chunks = list(tbptt_chunks(X, y, 4))
    assert [c[0].shape[0] for c in chunks] == [4, 4, 2]
    assert np.array_equal(np.concatenate([c[0] for c in chunks]), X)
    assert np.array_equal(np.concatenate([c[1] for c in chunks]), y)
    with pytest.raises(ValueError, match="length"):
        list(tbptt_chunks(X, y, 0))


def test_tbptt_carries_the_state_and_cuts_the_gradient():
    rng = np.random.default_rng(0)
    T, B, m, n, k = 8, 3, 2, 5, 4
    model = Model({"rnn": Recurrent("lstm", m, n, return_sequences=True, seed=0, dtype="float64")})
    cell = model["rnn"].cell
    X = rng.standard_normal((T, B, m))
    R = rng.standard_normal((T - k, B, n))              # loss = Σ R ⊙ Y over the SECOND window only

    # the state is carried: windowed outputs equal the outputs of the whole sequence
    full = model.forward(X)
    with carried_state(model):
        windows = [model.forward(Xc) for Xc, _ in tbptt_chunks(X, X, k)]
    np.testing.assert_allclose(np.concatenate(windows), full, rtol=0, atol=1e-13)
    assert model["rnn"].stateful is False and model["rnn"]._carried is None      # restored on leaving

    # truncated gradient: window 2 backward only, its initial state a constant
    with carried_state(model):
        model.forward(X[:k])
        model.forward(X[k:])
        model.zero_grad()
        dX2 = model.backward(R)
    truncated = {name: g.copy() for name, g in model.grads().items()}
    assert dX2.shape == (T - k, B, m)                   # no gradient reaches the inputs of window 1

    # the same by hand: window 2 from the carried state, and what crosses the cut
    cell.zero_grad()
    _, s1, cache1 = cell.forward(X[:k])
    _, _, cache2 = cell.forward(X[k:], s1)
    _, dstate_cut = cell.backward(R, cache2)
    for name, g in cell.grads.items():
        np.testing.assert_allclose(truncated[f"rnn.cell.{name}"], g, rtol=0, atol=1e-13)
    assert max(float(np.abs(d).max()) for d in dstate_cut) > 1e-3   # a real gradient was cut off
    cell.backward(np.zeros((k, B, n)), cache1, dstate=dstate_cut)
    crossed = {name: g.copy() for name, g in cell.grads.items()}

    # full BPTT = truncated + what crosses the cut; they differ
    cell.zero_grad()
    _, _, cache = cell.forward(X)
    cell.backward(np.concatenate([np.zeros((k, B, n)), R]), cache)
    for name, g in cell.grads.items():
        np.testing.assert_allclose(g, crossed[name], rtol=1e-10, atol=1e-12)
    assert max(float(np.abs(cell.grads[nm] - truncated[f"rnn.cell.{nm}"]).max()) for nm in cell.grads) > 1e-4


def test_trainer_with_tbptt_on_per_step_tasks():
    sine = tasks.make("sine", seed=0, T=40, n_train=128, n_test=64)
    trainer = Trainer(build_model(sine, "lstm", 16), sine, lr=1e-2, batch_size=32, tbptt=10, seed=0, progress=False)
    trainer.fit(3)
    assert trainer.step_count == 3 * 4 * 4                          # epochs × minibatches × windows
    assert trainer.history[-1]["test_mse"] < trainer.history[0]["test_mse"]
    assert trainer.model["rnn"].stateful is False

    copy = tasks.make("copy", seed=0, length=3, delay=4, n_train=64, n_test=32)    # T = 10, scored at 7..9
    trainer = Trainer(build_model(copy, "gru", 8), copy, batch_size=32, tbptt=4, seed=0, progress=False)
    trainer.fit(1)
    assert trainer.step_count == 2 * 2      # the first window scores nothing: state carried, no update
    with pytest.raises(ValueError, match="per-step task"):
        Trainer(build_model(tasks.make("digits-rows"), "lstm", 4), tasks.make("digits-rows"), tbptt=4)


# ---------------------------------------------------------------------------- metrics, stopping, schedules
def test_metrics(digits):
    model = build_model(digits, "lstm", 8)
    m = evaluate(model, digits, "test")
    assert set(m) == {"loss", "accuracy"}               # no bits per character for digits
    assert 0.0 <= m["accuracy"] <= 1.0
    adding = tasks.make("adding", T=10, n_train=20, n_test=20)
    r = evaluate(build_model(adding, "gru", 4), adding, "test")
    assert set(r) == {"loss", "mse"} and r["loss"] == r["mse"]


def test_early_stopping_with_patience(digits, tmp_path):
    trainer = Trainer(build_model(digits, "lstm", 4), digits, lr=0.0, patience=2, monitor="test_loss",
                      out=tmp_path, progress=False)     # lr 0: nothing improves after epoch 1
    history = trainer.fit(10)
    assert len(history) == 3 and trainer.stopped_early and trainer.best["epoch"] == 1
    assert [r["best"] for r in history] == [True, False, False]
    resumed = Trainer(build_model(digits, "lstm", 4), digits, lr=0.0, patience=2, monitor="test_loss",
                      progress=False).load_checkpoint(tmp_path / "checkpoint.npz")
    assert resumed.fit(10) == history                    # a stopped run stays stopped


def test_validation_split_and_loss_driven_rate(digits):
    trainer = Trainer(build_model(digits, "lstm", 8), digits, lr=1e-3, schedule="loss", val_fraction=0.25,
                      seed=0, progress=False)
    trainer.fit(1)
    rec = trainer.history[0]
    assert trainer.monitor == "val_accuracy" and {"val_loss", "val_accuracy", "test_accuracy"} <= set(rec)
    assert trainer._fit_task.n_train + trainer._fit_task.n_test == digits.n_train
    assert trainer.optimizer.lr == pytest.approx(1e-3 * math.exp(trainer.schedule.last_loss))


def test_write_history(tmp_path):
    hist = [{"epoch": 1, "test_loss": 0.5}, {"epoch": 2, "test_loss": float("nan")}]
    json_path, csv_path = write_history(tmp_path, {"lstm": hist, "gru": hist})
    assert json.loads(json_path.read_text())["gru"][1]["test_loss"] is None       # strict JSON
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "cell,epoch,test_loss" and len(lines) == 5


# ---------------------------------------------------------------------------- learning on small budgets
def test_lstm_solves_the_adding_problem_at_T_50():
    task = tasks.make("adding", seed=0, T=50, n_train=4000, n_test=500)
    trainer = Trainer(build_model(task, "lstm", 16, seed=0), task, lr=1e-2, batch_size=20, clip=1.0, seed=0,
                      progress=False)
    trainer.fit(8)
    mse = trainer.history[-1]["test_mse"]
    assert trainer.history[0]["test_mse"] > 0.1            # it starts at the baseline (always 1.0: 0.167)
    assert mse < 0.05, mse


def test_lstm_learns_digits_row_by_row(digits):
    trainer = Trainer(build_model(digits, "lstm", 32, seed=0), digits, lr=1e-2, batch_size=32, seed=0,
                      progress=False)
    trainer.fit(10)
    assert trainer.monitor == "val_accuracy" and selected_on(trainer.monitor) == "validation"
    # test accuracy at the epoch chosen on validation (0.918 at epoch 8; chance is 0.1)
    assert trainer.history[trainer.best["epoch"] - 1]["test_accuracy"] > 0.9, trainer.history


def test_input_noise_model_trains_and_resumes_bit_exactly(tmp_path):
    task = tasks.make("adding", seed=0, T=10, n_train=64, n_test=32)
    plain = build_model(task, "lstm", 8, seed=0)
    noisy = build_model(task, "lstm", 8, seed=0, input_noise=0.3)
    assert list(noisy.layers) == ["noise", "rnn", "out"] and noisy["noise"].std == 0.3
    assert_same_params(noisy, plain)                           # the noise layer leaves the other seeds alone
    from npslim import model_io
    model_io.save(noisy, tmp_path / "noisy.npz")
    loaded = model_io.load(tmp_path / "noisy.npz")
    assert list(loaded.layers) == ["noise", "rnn", "out"] and loaded["noise"].std == 0.3

    def trainer(out=None):
        return Trainer(build_model(task, "lstm", 8, seed=0, input_noise=0.3), task, lr=1e-2, batch_size=16, seed=2,
                       out=out, progress=False)
    straight = trainer()
    straight.fit(3)
    first = trainer(out=tmp_path)
    first.fit(1)
    resumed = trainer()
    resumed.load_checkpoint(tmp_path / "checkpoint.npz")       # restores the noise generator too
    resumed.fit(3)
    assert_same_params(resumed.model, straight.model)
    with pytest.raises(ValueError, match="input_noise: task 'imdb'"):
        build_model(type("T", (), {"vocab_size": 10, "embed_size": 4, "name": "imdb"})(), "lstm", 4, input_noise=0.1)
