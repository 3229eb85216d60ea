"""The real datasets as tasks: mnist-rows, mnist-pixels, imdb, chorales, shakespeare-chars, vowels.

Each is built on a small subset and trained for a tiny budget through the Trainer; two run through
``npslim train`` in a subprocess.  A task whose data is not in npslim's cache is skipped with the
datasets package's own message (which says how to fetch it: ``bash datasets/fetch.sh``)."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from npslim import cli, losses, runs, tasks
from npslim.datasets import DataNotFound
from npslim.layers import Embedding
from npslim.tasks import dataset_tasks
from npslim.train import Trainer, build_model, cell_inputs, evaluate
from npslim.training.metrics import minibatch, minibatch_loss

SMALL = {"mnist-rows": dict(n_train=96, n_test=40), "mnist-pixels": dict(n_train=24, n_test=12),
         "imdb": dict(n_train=96, n_test=40), "chorales": dict(n_train=24, n_test=10),
         "shakespeare-chars": dict(n_train=48, n_test=16, seq_len=60), "vowels": dict(n_train=96, n_test=60)}
#: kind, metric, input size (None: the vocabulary), output size
EXPECTED = {"mnist-rows": ("classify-last", "accuracy", 28, 10), "mnist-pixels": ("classify-last", "accuracy", 1, 10),
            "imdb": ("classify-last", "accuracy", None, 2), "chorales": ("multilabel-each", "nll", 88, 88),
            "shakespeare-chars": ("classify-each", "bpc", None, 84), "vowels": ("classify-last", "accuracy", 12, 9)}
_CACHE = {}


def small(name, **extra):
    """The task on its SMALL subset (cached per module); skipped when its data is absent."""
    key = (name, tuple(sorted(extra.items())))
    if key not in _CACHE:
        try:
            _CACHE[key] = tasks.make(name, **dict(SMALL[name], **extra))
        except DataNotFound as exc:
            _CACHE[key] = exc
    if isinstance(_CACHE[key], DataNotFound):
        pytest.skip(f"{name}: {_CACHE[key]}")
    return _CACHE[key]


def test_registry_is_lazy_and_complete(monkeypatch):
    assert set(tasks.DATASET_TASKS) == set(SMALL) and set(SMALL) <= set(tasks.names())

    def refuse(*args, **kwargs):
        raise AssertionError("a dataset was loaded")
    monkeypatch.setattr(dataset_tasks, "_load", refuse)  # names / options never touch the data
    assert tasks.options("imdb") == dict(vocab_size=20000, maxlen=80, keep="last", embed_size=128, n_train=None,
                                         n_test=None)
    for name in SMALL:
        assert {"n_train", "n_test"} <= set(tasks.options(name))
    with pytest.raises(AssertionError, match="loaded"):
        tasks.make("vowels")
    parser = cli.build_parser()                          # the CLI offers every task, with per-task defaults
    args = parser.parse_args(["train", "--task", "imdb"])
    assert args.task == "imdb" and args.hidden_size is None
    assert runs.resolve_defaults(args).hidden_size == 128 and args.lr == 1e-3
    args = runs.resolve_defaults(parser.parse_args(["compare", "--task", "digits-rows", "-n", "7"]))
    assert (args.hidden_size, args.epochs, args.batch_size, args.lr, args.tbptt) == (7, 30, 32, 1e-2, None)
    assert runs.resolve_defaults(parser.parse_args(["train", "--task", "shakespeare-chars"])).tbptt == 50
    assert runs.resolve_defaults(parser.parse_args(["train", "--task", "shakespeare-chars", "--tbptt", "0"])).tbptt \
        is None
    with pytest.raises(SystemExit, match="--limit: task 'digits-rows' has a fixed size"):
        cli.main(["train", "--task", "digits-rows", "--limit", "5"])


def test_missing_data_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("NPSLIM_DATA", str(tmp_path))
    with pytest.raises(DataNotFound, match="fetch"):
        tasks.make("imdb", n_train=10)
    with pytest.raises(SystemExit, match="(?s)task 'mnist-rows': dataset 'mnist'.*datasets fetch mnist"):
        cli.main(["train", "--task", "mnist-rows", "--limit", "10", "--out", str(tmp_path / "run")])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_shapes_subsets_and_determinism(name):
    task = small(name)
    kind, metric, m, k = EXPECTED[name]
    assert (task.kind, task.metric, task.output_size) == (kind, metric, k)
    assert task.n_train == SMALL[name]["n_train"] and task.n_test == SMALL[name]["n_test"]
    assert task.options == dict(tasks.options(name), **SMALL[name])
    if m is None:
        assert task.tokens and task.input_size == task.vocab_size and task.X_train.ndim == 2
        assert task.X_train.dtype.kind == "i" and task.embed_size == task.options["embed_size"]
    else:
        assert not task.tokens and task.input_size == m and task.X_train.dtype == np.float32
    again, other = tasks.make(name, **SMALL[name]), tasks.make(name, seed=1, **SMALL[name])
    for split in ("train", "test"):
        for a, b in zip(task.split(split), again.split(split)):
            if a is not None:
                np.testing.assert_array_equal(a, b)
        a, c = task.split(split)[0], other.split(split)[0]
        assert a.shape != c.shape or not np.array_equal(a, c)          # another seed, another subset


def test_subsets_are_random_not_the_first_sequences():
    task = small("imdb")                 # the stored order is all negative reviews, then all positive
    for y in (task.targets_train, task.targets_test):
        assert 0.25 < y.mean() < 0.75
    rows = small("mnist-rows")
    assert len(np.unique(rows.targets_train)) == 10
    # n_train >= the split's size: everything, in stored order
    assert tasks.make("vowels", n_train=10_000, n_test=1).n_train == 270


def test_imdb_keeps_the_last_words_as_keras_does():
    from npslim import datasets
    task = small("imdb")
    full = datasets.load("imdb", "train", vocab_size=20000, maxlen=None)
    cut = tasks.make("imdb", n_test=1)                          # the whole training split, in stored order
    long_, short = np.flatnonzero(full.lengths > 80)[:3], np.flatnonzero(full.lengths < 80)[:3]
    for n in long_:                                            # long reviews: their last 80 words
        L = full.lengths[n]
        assert cut.lengths_train[n] == 80
        np.testing.assert_array_equal(cut.X_train[:, n], full.ids[L - 80:L, n])
    for n in short:                                            # short ones: whole, padded at the end
        L = full.lengths[n]
        assert cut.lengths_train[n] == L and not cut.X_train[L:, n].any()
        np.testing.assert_array_equal(cut.X_train[:L, n], full.ids[:L, n])
    assert cut.X_train.shape == (80, 25000) and task.X_train.max() < 20000 and cut.vocab_size == 20000


def test_chorales_predict_the_next_frame():
    task = small("chorales")
    X, y, lengths = task.split("train")
    for b in range(X.shape[1]):
        L = lengths[b]
        np.testing.assert_array_equal(X[1:L, b], y[:L - 1, b])            # input t+1 is target t
        assert not X[L:, b].any() and not y[L:, b].any()                 # nothing past the length
        assert y[L - 1, b].any()                                         # the last target is a real frame
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_shakespeare_targets_are_the_next_character():
    task = small("shakespeare-chars")
    X, y, lengths = task.split("train")
    assert lengths is None and X.shape == y.shape == (60, 48)
    np.testing.assert_array_equal(X[1:], y[:-1])
    from npslim import datasets
    stream = datasets.load("shakespeare", "train")
    start = int(np.flatnonzero((stream.ids[:60 * 5000].reshape(-1, 60) == X[:, 0]).all(axis=1))[0]) * 60
    assert stream.ids[start + 60] == y[-1, 0]


def test_bernoulli_loss_per_frame_and_masking():
    task = small("chorales")
    X, y, lengths = next(task.batches("train", 5))
    out = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    batch = minibatch("multilabel-each", X, y, lengths, np, np.float32)
    loss, dout, correct = minibatch_loss("multilabel-each", out, batch)
    count = batch.count
    valid = np.arange(y.shape[0])[:, None] < lengths[None, :]
    p = 1 / (1 + np.exp(-out.astype(np.float64)))
    frame = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=-1)          # nats per frame, 88 notes
    assert count == int(lengths.sum()) and correct is None
    assert math.isclose(loss, frame[valid].mean(), rel_tol=1e-5)
    assert not dout[~valid].any()
    ref, _ = losses.bernoulli_nll(out, y, valid)
    assert math.isclose(loss, ref, rel_tol=1e-12)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_trains_on_a_tiny_budget(name):
    task = small(name)
    tbptt = 20 if name == "shakespeare-chars" else None
    model = build_model(task, "lstm", 12, seed=0)
    assert list(model.layers) == (["embed", "rnn", "out"] if task.tokens else ["rnn", "out"])
    if task.tokens:
        assert isinstance(model["embed"], Embedding) and model["embed"].dim == task.embed_size
        assert model["rnn"].input_size == task.embed_size
    before = evaluate(model, task, "test")
    before_train = evaluate(model, task, "train", tbptt=tbptt)
    trainer = Trainer(model, task, lr=1e-2, batch_size=16, tbptt=tbptt, progress=False, seed=0)
    history = trainer.fit(2)
    last = history[-1]
    assert len(history) == 2 and trainer.step_count > 0
    key = f"test_{task.metric}"
    assert trainer.monitor == f"val_{task.metric}" and math.isfinite(last[key])
    assert math.isfinite(last["train_loss"])
    assert evaluate(model, task, "train", tbptt=tbptt)["loss"] < before_train["loss"]   # it learned: the loss fell
    if task.metric == "bpc":
        assert math.isclose(last["test_perplexity"], 2 ** last["test_bpc"], rel_tol=1e-9)
        assert last["test_bpc"] < math.log2(task.output_size)               # better than uniform
    if task.metric == "nll":
        assert last["test_nll"] < before["nll"] and set(last) >= {"train_nll", "test_loss"}
    X = cell_inputs(model, task.X_test[:, :3])                               # what the gate plots read
    assert X.shape[:2] == task.X_test[:, :3].shape[:2] and X.ndim == 3


def test_language_model_evaluates_in_windows_exactly():
    task = small("shakespeare-chars")
    model = build_model(task, "gru", 10, seed=3)
    whole = evaluate(model, task, "test")
    windows = evaluate(model, task, "test", tbptt=7)
    for k in whole:
        assert math.isclose(whole[k], windows[k], rel_tol=1e-5), k


def test_long_sequences_evaluate_in_smaller_batches():
    pixels = small("mnist-pixels")
    model = build_model(pixels, "lstm", 4)
    assert Trainer(model, pixels, progress=False).eval_batch_size == 2 ** 17 // 784
    rows = small("mnist-rows")
    assert Trainer(build_model(rows, "lstm", 4), rows, progress=False).eval_batch_size == 1024


def test_vowels_learn_quickly():
    task = small("vowels", n_train=None, n_test=None)
    trainer = Trainer(build_model(task, "lstm", 16, seed=0), task, lr=1e-2, batch_size=16, progress=False)
    trainer.fit(5)
    assert trainer.best["value"] > 0.6, trainer.history[-1]                    # chance is 1/9


def npslim(*args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "npslim", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=180)


def test_npslim_train_on_datasets(tmp_path):
    small("vowels")
    run = tmp_path / "vowels"
    proc = npslim("train", "--task", "vowels", "--limit", 40, "--limit-test", 30, "-n", 8, "--epochs", 1,
                  "--no-progress", "--out", run)
    assert proc.returncode == 0, proc.stderr
    assert "task vowels: 40 train / 30 test sequences" in proc.stdout and "lr 0.01, batch 16" in proc.stdout
    config = json.loads((run / "config.json").read_text())
    assert config["task_options"]["n_train"] == 40 and config["hidden_size"] == 8
    proc = npslim("train", "--resume", run, "--epochs", 2, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "resumed after epoch 1" in proc.stdout
    assert len(json.loads((run / "history.json").read_text())) == 2

    small("shakespeare-chars")
    run = tmp_path / "lm"
    proc = npslim("train", "--task", "shakespeare-chars", "--cell", "gru", "--limit", 12, "--limit-test", 4,
                  "-n", 8, "--epochs", 1, "--batch-size", 6, "--no-progress", "--out", run)
    assert proc.returncode == 0, proc.stderr
    assert "token ids, vocabulary 84, embedding 32" in proc.stdout and "tbptt 50" in proc.stdout
    assert "best val_bpc" in proc.stdout
    config = json.loads((run / "config.json").read_text())
    assert config["trainer"]["tbptt"] == 50 and config["trainer"]["monitor"] == "val_bpc"
    for name in ("history.json", "curves.png", "gates.png", "checkpoint.npz"):
        assert (run / name).stat().st_size > 0, name
