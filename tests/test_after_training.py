"""After training: model files, predictions, summaries, run folders read back, and checkpoints that
refuse to be corrupt or non-finite."""
import ast
import contextlib
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import npslim
from npslim import cli, tasks
from npslim.layers import Bidirectional, Dense, Dropout, Embedding, Recurrent, Stack
from npslim.model import Model
from npslim.model_io import MODEL_FORMAT, CorruptFile
from npslim.train import Trainer, build_model, evaluate, load_npz, save_npz_atomic

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return tasks.make("digits-rows")


def _trained(digits, tmp_path, epochs=2, **kw):
    model = build_model(digits, "gru", 8, seed=0)
    trainer = Trainer(model, digits, seed=0, out=tmp_path, progress=False, **kw)
    trainer.fit(epochs)
    return trainer


def _per_step_task(metric="accuracy", vocab=None):
    """A small hand-made per-step classification task (variable lengths)."""
    rng = np.random.default_rng(0)
    T, N, K = 7, 12, 5
    X = (rng.integers(0, vocab, (T, N)).astype(np.int64) if vocab
         else rng.standard_normal((T, N, 3)).astype(np.float32))
    y = rng.integers(0, K, (T, N)).astype(np.int64)
    lengths = rng.integers(2, T + 1, N).astype(np.int64)
    return tasks.Task(name="toy", kind="classify-each", input_size=vocab or 3, output_size=K, metric=metric,
                      X_train=X, targets_train=y, X_test=X, targets_test=y, lengths_train=lengths,
                      lengths_test=lengths, vocab_size=vocab, embed_size=4 if vocab else None)


# ---------------------------------------------------------------------------- model files
def test_model_save_load_round_trip_of_every_layer_kind(tmp_path):
    model = Model({"embed": Embedding(11, 4, seed=1),
                   "bi": Bidirectional("lstm", 4, 5, peepholes=False, seed=2),
                   "drop": Dropout(0.3, seed=3),
                   "deep": Stack({"r": Recurrent("lstmp", 10, 6, proj_size=3, return_sequences=False, seed=4),
                                  "d": Dense(3, 2, seed=5)})},
                  head="softmax", info={"note": "hand-built"})
    path = model.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as f:                   # the documented layout, no pickle
        keys = set(f.files)
        assert str(f["format"]) == MODEL_FORMAT
        config = json.loads(str(f["config"]))
    assert keys == {"format", "config"} | {f"param/{k}" for k in model.params()}
    assert [name for name, _ in config["layers"]] == ["embed", "bi", "drop", "deep"]
    assert config["layers"][1][1]["cells"][0] == {"name": "lstm", "input_size": 4, "hidden_size": 5,
                                                 "options": {"peepholes": False, "gate": "sigmoid"}}
    back = npslim.model.load(path)
    assert back.head == "softmax" and back.info == {"note": "hand-built"} and not back.training
    for name, p in model.params().items():
        assert np.array_equal(back.params()[name], p) and back.params()[name].dtype == p.dtype, name
    ids = np.random.default_rng(0).integers(0, 11, (6, 3))
    np.testing.assert_array_equal(back.predict(ids), model.predict(ids))


def test_a_model_with_input_noise_saves_and_loads(tmp_path):
    task = tasks.make("adding", seed=0, T=5, n_train=8, n_test=8)
    model = build_model(task, "lstm", 4, seed=0, input_noise=0.2)
    back = npslim.model.load(model.save(tmp_path / "noisy.npz"))
    assert list(back.layers) == ["noise", "rnn", "out"] and back["noise"].std == 0.2
    X = np.random.default_rng(0).standard_normal((5, 3, 2)).astype("float32")
    np.testing.assert_array_equal(back.predict(X), model.eval().predict(X))      # evaluation: no noise


def test_best_npz_of_a_run_loads_with_one_call(digits, tmp_path):
    trainer = _trained(digits, tmp_path)
    model = npslim.model.load(tmp_path / "best.npz")
    best = trainer.history[trainer.best["epoch"] - 1]
    assert evaluate(model, digits, "test")["accuracy"] == best["test_accuracy"]
    assert model.info["task"]["name"] == "digits-rows" and model.head == "softmax"


def test_a_model_with_nan_parameters_is_never_written_nor_loaded(digits, tmp_path):
    model = build_model(digits, "lstm", 4)
    good = model.save(tmp_path / "m.npz")
    before = good.read_bytes()
    model.params()["rnn.cell.b_f"][1] = np.nan
    with pytest.raises(ValueError, match=r"rnn\.cell\.b_f.*non-finite"):
        model.save(good)
    assert good.read_bytes() == before                              # the saved file is untouched
    d = load_npz(good)
    d["param/out.W"] = d["param/out.W"].copy()
    d["param/out.W"][0, 0] = np.inf
    save_npz_atomic(tmp_path / "inf.npz", d)
    with pytest.raises(ValueError, match=r"inf\.npz: parameter 'out\.W'.*non-finite"):
        npslim.model.load(tmp_path / "inf.npz")


# ---------------------------------------------------------------------------- predictions
def test_predict_matches_the_logits_and_the_probabilities(digits):
    model = build_model(digits, "lstm", 6, seed=1)
    X = digits.X_test[:, :37]
    logits = model.eval().forward(X)
    pred, proba = model.predict(X, batch_size=10), model.predict_proba(X, batch_size=10)
    np.testing.assert_array_equal(pred, logits.argmax(-1))
    assert proba.shape == (37, 10) and np.allclose(proba.sum(-1), 1.0)
    np.testing.assert_array_equal(proba.argmax(-1), pred)
    assert model.training is False
    model.train()
    model.predict(X.astype(np.float64))                             # cast to the model's float32
    assert model.training is True                                   # the mode is restored
    with pytest.raises(ValueError, match=r"X: expected shape \(T, N, 8\)"):
        model.predict(X[:, :, :5])


def test_per_step_predictions_mark_the_padding():
    task = _per_step_task()
    model = build_model(task, "gru", 5, seed=0)
    X, _, lengths = task.split("test")
    pred, proba = model.predict(X, lengths), model.predict_proba(X, lengths)
    pad = np.arange(X.shape[0])[:, None] >= lengths[None, :]
    assert pred.shape == (7, 12) and proba.shape == (7, 12, 5)
    assert (pred[pad] == -1).all() and (pred[~pad] >= 0).all()
    assert np.isnan(proba[pad]).all() and np.allclose(proba[~pad].sum(-1), 1.0)
    one = model.predict(X[:, :1], lengths[:1])                      # a batch of one: the same answer
    np.testing.assert_array_equal(one[:, 0], pred[:, 0])


def test_regression_and_multilabel_heads():
    adding = tasks.make("adding", T=6, n_train=10, n_test=5)
    model = build_model(adding, "rnn", 4)
    values = model.predict(adding.X_test)
    np.testing.assert_allclose(values, model.eval().forward(adding.X_test))
    with pytest.raises(ValueError, match="predict_proba: the model's head is 'identity'"):
        model.predict_proba(adding.X_test)
    labels = Model([Recurrent("gru", 3, 4), Dense(4, 2)], head="sigmoid")
    X = np.random.default_rng(0).standard_normal((5, 2, 3))
    p = labels.predict_proba(X)
    np.testing.assert_array_equal(labels.predict(X), (p > 0.5).astype(np.int64))


def test_summary_lists_layers_shapes_and_counts(capsys):
    task = _per_step_task(vocab=9)
    model = build_model(task, "lstm", 6)
    model.summary()
    text = capsys.readouterr().out
    assert "embed (Embedding 9→4)" in text and "(T, B, 4)" in text
    assert "rnn (Recurrent lstm m=4 n=6)" in text and "(T, B, 6)" in text
    assert "out (Dense 6→5)" in text and "(T, B, 5)" in text and "cell.W_z" in text
    assert f"total parameters: {model.num_params():,}" in text


# ---------------------------------------------------------------------------- "best" and metrics
def test_best_is_chosen_on_validation_by_default_and_metrics_fit_the_task(digits, tmp_path):
    trainer = _trained(digits, tmp_path, epochs=1)
    rec = trainer.history[0]
    assert trainer.monitor == "val_accuracy" and "val_accuracy" in rec
    assert trainer._fit_task.n_train + trainer._fit_task.n_test == digits.n_train
    assert not any(k.endswith(("bpc", "perplexity")) for k in rec)  # no bits per character for digits
    one = tasks.make("adding", T=5, n_train=1, n_test=3)
    with pytest.raises(ValueError, match="val_fraction: a validation split needs at least 2 training sequences"):
        Trainer(build_model(one, "gru", 3), one)
    assert Trainer(build_model(one, "gru", 3), one, val_fraction=0).monitor == "test_mse"
    lm = _per_step_task(metric="bpc")
    m = evaluate(build_model(lm, "gru", 4), lm, "test")
    assert set(m) == {"loss", "accuracy", "perplexity", "bpc"}
    assert m["bpc"] == pytest.approx(m["loss"] / math.log(2)) and m["perplexity"] == pytest.approx(math.exp(m["loss"]))


# ---------------------------------------------------------------------------- checkpoints
@pytest.fixture
def checkpoint(digits, tmp_path):
    _trained(digits, tmp_path, epochs=1)
    return tmp_path / "checkpoint.npz"


def _fresh(digits):
    return Trainer(build_model(digits, "gru", 8, seed=0), digits, seed=0, progress=False)


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "empty"])
def test_a_corrupt_checkpoint_says_which_file_and_what_to_do(digits, checkpoint, damage):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes({"truncated": data[: len(data) // 2],
                            "random bytes": np.random.default_rng(0).bytes(4096), "empty": b""}[damage])
    with pytest.raises(CorruptFile) as info:
        _fresh(digits).load_checkpoint(checkpoint)
    message = str(info.value)
    assert str(checkpoint) in message and "restore it from a copy" in message and "\n" not in message
    assert "allow_pickle=True" not in message


def test_a_checkpoint_missing_an_entry_names_it(digits, checkpoint):
    d = load_npz(checkpoint)
    del d["rng"]
    save_npz_atomic(checkpoint, d)
    with pytest.raises(CorruptFile, match=r"checkpoint\.npz: corrupt .*missing entries \['rng'\]"):
        _fresh(digits).load_checkpoint(checkpoint)


def test_a_pickled_entry_is_refused_not_unpickled(digits, checkpoint, tmp_path):
    d = load_npz(checkpoint)
    marker = tmp_path / "unpickled"
    d["history"] = np.array([_Marker(marker)], dtype=object)       # np.savez pickles object arrays
    np.savez(checkpoint, **d)
    with pytest.raises(CorruptFile, match="pickled Python objects"):
        _fresh(digits).load_checkpoint(checkpoint)
    with pytest.raises(CorruptFile):
        load_npz(checkpoint)
    assert not marker.exists()


class _Marker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):                       # unpickling it would create the file
        return (Path.touch, (Path(self.path),))


def test_a_checkpoint_with_nan_parameters_is_never_written_nor_loaded(digits, checkpoint):
    trainer = _fresh(digits).load_checkpoint(checkpoint)
    before = checkpoint.read_bytes()
    trainer.model.params()["rnn.cell.W_u"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"parameter 'rnn\.cell\.W_u' holds 1 non-finite"):
        trainer.save_checkpoint(checkpoint)
    assert checkpoint.read_bytes() == before
    d = load_npz(checkpoint)                                        # one written by hand
    d["model/rnn.cell.b_z"] = np.full_like(d["model/rnn.cell.b_z"], np.nan)
    save_npz_atomic(checkpoint, d)
    with pytest.raises(CorruptFile, match=r"checkpoint\.npz: parameter 'rnn\.cell\.b_z'.*non-finite"):
        _fresh(digits).load_checkpoint(checkpoint)


def test_npslim_never_loads_with_pickle():
    """Every np.load in the package passes allow_pickle=False."""
    for path in (ROOT / "npslim").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" \
                    and getattr(node.func.value, "id", None) == "np":
                flags = {k.arg: k.value for k in node.keywords}
                assert "allow_pickle" in flags and flags["allow_pickle"].value is False, \
                    f"{path.name}:{node.lineno}"


# ---------------------------------------------------------------------------- run folders
def npslim_cli(*args):
    """Run an npslim command in this process, as ``python -m npslim`` does: (returncode, stdout, stderr),
    a SystemExit message on stderr.  Any other exception (a traceback for the user) fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
            if isinstance(exc.code, str):
                err.write(exc.code + "\n")
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


TINY = ["-n", "6", "--no-progress"]


def test_load_run_of_train_and_compare_folders(digits, tmp_path):
    run, cmp = tmp_path / "run", tmp_path / "cmp"
    proc = npslim_cli("train", "--cell", "gru", "--epochs", "2", *TINY, "--out", run)
    assert proc.returncode == 0, proc.stderr
    assert "best epoch chosen on val_accuracy (validation split)" in proc.stdout
    r = npslim.load_run(run)
    assert r.cell == "gru" and len(r.history) == 2 and r.checkpoint.name == "best.npz"
    assert r.best["selected_on"] == "validation" and r.best["monitor"] == "val_accuracy"
    assert r.task["name"] == "digits-rows" and r.task["kind"] == "classify-last"
    task = r.make_task()
    assert r.evaluate("test", task)["accuracy"] == r.history[r.best["epoch"] - 1]["test_accuracy"]
    last = npslim.load_run(run, which="last")
    assert last.evaluate("test", task)["accuracy"] == r.history[-1]["test_accuracy"]
    assert "selected on the validation split" in repr(r)

    proc = npslim_cli("compare", "--cells", "lstm,mgu", "--epochs", "1", *TINY, "--val-fraction", "0", "--out", cmp)
    assert proc.returncode == 0, proc.stderr
    assert "TEST split itself" in proc.stdout and "optimistic" in proc.stdout
    with pytest.raises(ValueError, match=r"compare run of \['lstm', 'mgu'\]; pass cell="):
        npslim.load_run(cmp)
    runs = npslim.load_runs(cmp)
    assert list(runs) == ["lstm", "mgu"] and runs["mgu"].best["selected_on"] == "test"
    assert runs["lstm"].model.params().keys() == npslim.load_run(cmp, cell="lstm").model.params().keys()


def test_a_checkpoint_from_before_model_configs_loads_through_its_run(digits, tmp_path):
    proc = npslim_cli("train", "--cell", "lstm", "--epochs", "1", *TINY, "-o", "peepholes=false", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = load_npz(tmp_path / "best.npz")
    del d["model_config"]
    save_npz_atomic(tmp_path / "best.npz", d)
    with pytest.raises(CorruptFile, match="npslim.load_run"):
        npslim.model.load(tmp_path / "best.npz")
    r = npslim.load_run(tmp_path)
    assert r.model["rnn"].cell.options() == {"peepholes": False, "gate": "sigmoid"}
    assert r.evaluate("test")["accuracy"] == r.history[0]["test_accuracy"]


def test_compare_resume_equals_an_uninterrupted_compare(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["compare", "--cells", "gru,rnn", *TINY]
    assert npslim_cli(*args, "--epochs", "1", "--out", a).returncode == 0
    proc = npslim_cli("compare", "--resume", a, "--epochs", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "resumed: gru after epoch 1, rnn after epoch 1" in proc.stdout
    assert npslim_cli(*args, "--epochs", "2", "--out", b).returncode == 0
    for cell in ("gru", "rnn"):
        x, y = load_npz(a / cell / "checkpoint.npz"), load_npz(b / cell / "checkpoint.npz")
        assert int(x["epoch"]) == int(y["epoch"]) == 2
        for key in x:
            if key.startswith("model/"):
                assert np.array_equal(x[key], y[key]), (cell, key)
    assert len(json.loads((a / "history.json").read_text())["rnn"]) == 2
    proc = npslim_cli("train", "--resume", a, "--no-progress")
    assert proc.returncode != 0 and "npslim compare --resume" in proc.stderr


def test_predict_command_and_a_corrupt_checkpoint_on_the_command_line(digits, tmp_path):
    run = tmp_path / "run"
    assert npslim_cli("train", "--cell", "gru", "--epochs", "1", *TINY, "--out", run).returncode == 0
    X = digits.X_test[:, :5]
    np.save(tmp_path / "X.npy", X)
    np.savez(tmp_path / "X.npz", X=X, lengths=np.array([8, 8, 5, 3, 8]))
    expected = npslim.load_run(run).model.predict(X)
    proc = npslim_cli("predict", run, "--input", tmp_path / "X.npy")
    assert proc.returncode == 0, proc.stderr
    assert [int(v) for v in proc.stdout.split()] == expected.tolist()

    out = tmp_path / "pred.npz"
    proc = npslim_cli("predict", run / "best.npz", "--input", tmp_path / "X.npz", "--output", out)
    assert proc.returncode == 0, proc.stderr
    with np.load(out, allow_pickle=False) as f:
        assert f["predictions"].shape == (5,) and f["probabilities"].shape == (5, 10)
        assert f["lengths"].tolist() == [8, 8, 5, 3, 8]
    before = out.read_bytes()
    proc = npslim_cli("predict", run, "--input", tmp_path / "X.npy", "--output", out)
    assert proc.returncode != 0 and "already exists" in proc.stderr and out.read_bytes() == before
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    for bad in (["--input", tmp_path / "bad.npz"], ["--input", tmp_path / "missing.npy"]):
        proc = npslim_cli("predict", run, *bad)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr and "--input" in proc.stderr, proc.stderr
    np.save(tmp_path / "wrong.npy", X[:, :, :3])
    proc = npslim_cli("predict", run, "--input", tmp_path / "wrong.npy")
    assert proc.returncode != 0 and "X: expected shape (T, N, 8)" in proc.stderr and "Traceback" not in proc.stderr

    data = (run / "checkpoint.npz").read_bytes()                # --resume of a truncated checkpoint: one line
    (run / "checkpoint.npz").write_bytes(data[:100])
    proc = npslim_cli("train", "--resume", run, "--epochs", "2", "--no-progress")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert str(run / "checkpoint.npz") in proc.stderr and "restore it from a copy" in proc.stderr


def test_predict_command_on_per_step_token_sequences(tmp_path):
    task = _per_step_task(vocab=9)
    model = build_model(task, "gru", 4, seed=2)
    model.save(tmp_path / "m.npz")
    X, _, lengths = task.split("test")
    np.savez(tmp_path / "ids.npz", X=X, lengths=lengths)
    expected = model.predict(X, lengths)                            # (T, N), -1 at padded steps
    proc = npslim_cli("predict", tmp_path / "m.npz", "--input", tmp_path / "ids.npz")
    assert proc.returncode == 0, proc.stderr
    rows = [[int(v) for v in line.split()] for line in proc.stdout.splitlines()]
    assert rows == expected.T.tolist()                              # one sequence a line
    np.savez(tmp_path / "ids_bf.npz", X=X.T, lengths=lengths)       # batch-first in, batch-first out
    proc = npslim_cli("predict", tmp_path / "m.npz", "--input", tmp_path / "ids_bf.npz", "--batch-first",
                      "--output", tmp_path / "p.npy")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy", allow_pickle=False), expected.T)
