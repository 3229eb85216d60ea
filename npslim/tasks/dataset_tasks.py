"""The tasks read from npslim's dataset cache (:mod:`npslim.datasets`), with their training defaults."""
from __future__ import annotations

import numpy as np

from ..validate import integer
from .task import SPLITS, Task, register, streams


def _load(name, split, **options):
    from .. import datasets
    return datasets.load(name, split, **options)


def _pick(n_total, n, rng, arg):
    """Positions of a seeded random subset of ``n`` of ``n_total`` sequences, in stored order (None:
    all of them)."""
    if n is None:
        return None
    n = integer(arg, n, 1)
    if n >= n_total:
        return None
    return np.sort(rng.choice(n_total, size=n, replace=False))


def _subsets(seed, n_train, n_test, sizes):
    """(train positions or None, test positions or None) from the task's two seeded streams."""
    return tuple(_pick(total, n, rng, arg) for total, n, rng, arg in
                 zip(sizes, (n_train, n_test), streams(seed), ("n_train", "n_test")))


def _sequences_split(data, idx):
    """A Sequences / Tokens container (or its subset ``idx``) -> (X, y, lengths), lengths None when
    every sequence has the full length."""
    if idx is not None:
        data = data.subset(idx)
    X = data.ids if hasattr(data, "ids") else data.X
    lengths = data.lengths.astype(np.int64)
    return np.ascontiguousarray(X), data.y, (None if (lengths == X.shape[0]).all() else lengths)


def _classify_task(name, seed, loaded, n_train, n_test, options, description, **extra):
    """A "classify-last" task from the train and test containers of a dataset."""
    train, test = loaded
    itr, ite = _subsets(seed, n_train, n_test, (len(train), len(test)))
    (Xtr, ytr, ltr), (Xte, yte, lte) = _sequences_split(train, itr), _sequences_split(test, ite)
    m = extra.get("vocab_size") or Xtr.shape[2]
    return Task(name=name, kind="classify-last", input_size=m, output_size=len(train.classes), metric="accuracy",
                X_train=Xtr, targets_train=ytr.astype(np.int64), X_test=Xte, targets_test=yte.astype(np.int64),
                lengths_train=ltr, lengths_test=lte, seed=seed,
                options=dict(options, n_train=n_train, n_test=n_test), description=description, **extra)


STANDARDIZE_EPS = 1e-6     # Lu & Salem 2017's code: (x − mean) / (std + 1e-6)


def _standardized(train, test):
    """Both containers with every input position (pixel) scaled by the FULL training split's mean and
    standard deviation, (x − mean) / (std + 1e-6), as Lu & Salem 2017's code does (before any subset)."""
    import dataclasses
    X = train.X.transpose(1, 0, 2).reshape(len(train), -1)                # (N, T·m): one row per image
    mean, std = X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)
    shape = (train.X.shape[0], 1, train.X.shape[2])                        # per (step, feature): per pixel
    mean, scale_by = mean.reshape(shape).astype(np.float32), (std + STANDARDIZE_EPS).reshape(shape).astype(np.float32)

    def scale(d):
        X = d.X - mean                                                     # float32 throughout
        X /= scale_by
        return dataclasses.replace(d, X=X, meta=dict(d.meta, standardized=True))
    return scale(train), scale(test)


def _mnist(name, seed, mode, permuted, standardize, n_train, n_test, description):
    options = dict({} if mode == "rows" else {"permuted": bool(permuted)}, standardize=bool(standardize))
    loaded = [_load("mnist", split, mode=mode, permuted=bool(permuted)) for split in SPLITS]
    if standardize:
        loaded = _standardized(*loaded)
    return _classify_task(name, seed, loaded, n_train, n_test, options, description)


@register("mnist-rows", hidden_size=50, epochs=10, batch_size=32, lr=2e-3)
def mnist_rows(seed=0, standardize=False, n_train=None, n_test=None):
    """MNIST (LeCun et al. 1998) read row by row: T = 28 steps × 28 pixels (/255, in [0, 1]), 10
    classes, the original 60,000 / 10,000 split (Lu & Salem 2017: row-wise MNIST, n = 50).
    ``standardize=True``: every pixel as (x − mean) / (std + 1e-6), mean and std of that pixel over
    all 60,000 training images (Lu & Salem 2017's code)."""
    return _mnist("mnist-rows", seed, "rows", False, standardize, n_train, n_test, mnist_rows.__doc__)


@register("mnist-pixels", hidden_size=100, epochs=3, batch_size=32, lr=1e-3)
def mnist_pixels(seed=0, permuted=False, standardize=False, n_train=None, n_test=None):
    """MNIST read pixel by pixel in raster order: T = 784 steps × 1 pixel, 10 classes, 60,000 /
    10,000 (Lu & Salem 2017: pixel-wise MNIST, n = 100).  ``permuted=True``: every image in
    one fixed random pixel order (pMNIST).  ``standardize=True``: per pixel, as mnist-rows.
    Long: a subset (``n_train``) keeps CPU runs short."""
    return _mnist("mnist-pixels", seed, "pixels", permuted, standardize, n_train, n_test, mnist_pixels.__doc__)


@register("imdb", hidden_size=128, epochs=3, batch_size=32, lr=1e-3)
def imdb(seed=0, vocab_size=20000, maxlen=80, keep="last", embed_size=128, n_train=None, n_test=None):
    """IMDB sentiment (Maas et al. 2011): reviews as word ids, 2 classes, the standard 25,000 / 25,000
    split.  Defaults as Lu & Salem 2017 (after Keras's imdb_lstm example): the 20,000 most
    frequent words (ids counting "<pad>" and "<unk>"; rarer words are "<unk>"), reviews cut to
    ``maxlen`` = 80 words, keeping the LAST 80 (Keras's pad_sequences truncates at the front;
    ``keep="first"`` keeps the opening), an Embedding of 128 (and 128 hidden units: the CLI's
    default).  Akandeh & Salem 2019: ``vocab_size=5000, maxlen=500, embed_size=32`` and
    n = 100.  Padding is at the end, with lengths, so every review is read to its own last word."""
    vocab_size = integer("vocab_size", vocab_size, 3)
    maxlen = integer("maxlen", maxlen, 1)
    embed_size = integer("embed_size", embed_size, 1)
    loaded = [_load("imdb", split, vocab_size=vocab_size, maxlen=maxlen, keep=keep) for split in SPLITS]
    return _classify_task("imdb", seed, loaded, n_train, n_test,
                          dict(vocab_size=vocab_size, maxlen=maxlen, keep=keep, embed_size=embed_size),
                          imdb.__doc__, vocab_size=vocab_size, embed_size=embed_size)


@register("vowels", hidden_size=64, epochs=40, batch_size=16, lr=1e-2)
def vowels(seed=0, standardize=True, n_train=None, n_test=None):
    """Japanese Vowels (Kudo et al. 1999; UCI / UEA archive), the stand-in for TIMIT's frames of
    speech: 7–29 frames of 12 LPC cepstral coefficients, 9 speakers to tell apart, the archive's
    270 / 370 split.  ``standardize``: every coefficient scaled by the train split's mean and
    standard deviation (default on)."""
    loaded = [_load("vowels", split, standardize=bool(standardize)) for split in SPLITS]
    return _classify_task("vowels", seed, loaded, n_train, n_test, dict(standardize=bool(standardize)),
                          vowels.__doc__)


def _next_frame(data, idx):
    """Piano rolls (T, N, K) with lengths -> inputs X[:-1], targets X[1:], lengths − 1 (frame t
    predicts frame t + 1); inputs zero after each sequence's new length."""
    if idx is not None:
        data = data.subset(idx)
    rolls, lengths = data.X, data.lengths.astype(np.int64) - 1
    T = rolls.shape[0] - 1
    X = rolls[:-1].copy()
    X[np.arange(T)[:, None] >= lengths[None, :]] = 0.0                     # the last frame is only a target
    return X, np.ascontiguousarray(rolls[1:]), lengths


@register("chorales", hidden_size=128, epochs=50, batch_size=8, lr=1e-2)
def chorales(seed=0, n_train=None, n_test=None):
    """Bach chorales as quarter-note piano rolls (the stand-in for JSB Chorales, Boulanger-Lewandowski
    et al. 2012; Greff et al. 2017): 88 binary units per frame; the task is the next frame
    (inputs X[:-1], targets X[1:], per-step, masked by lengths − 1), scored by the Bernoulli
    negative log-likelihood per frame in nats (summed over the 88 notes): "multilabel-each",
    metric nll.  197 train / 77 test chorales (the 74 of the valid split are not used), 23–159
    scored frames."""
    loaded = [_load("chorales", split) for split in SPLITS]
    itr, ite = _subsets(seed, n_train, n_test, tuple(len(d) for d in loaded))
    (Xtr, ytr, ltr), (Xte, yte, lte) = _next_frame(loaded[0], itr), _next_frame(loaded[1], ite)
    k = Xtr.shape[2]
    return Task(name="chorales", kind="multilabel-each", input_size=k, output_size=k, metric="nll",
                X_train=Xtr, targets_train=ytr, X_test=Xte, targets_test=yte, lengths_train=ltr, lengths_test=lte,
                seed=seed, options=dict(n_train=n_train, n_test=n_test), description=chorales.__doc__)


def _segments(stream, seq_len, idx):
    """A stream of ids -> non-overlapping segments: inputs ids[s:s+T], targets ids[s+1:s+T+1]
    (next character), both time-major (T, N)."""
    ids = stream.ids
    n = (len(ids) - 1) // seq_len
    X = ids[:n * seq_len].reshape(n, seq_len)
    y = ids[1:n * seq_len + 1].reshape(n, seq_len)
    if idx is not None:
        X, y = X[idx], y[idx]
    return np.ascontiguousarray(X.T), np.ascontiguousarray(y.T, dtype=np.int64)


@register("shakespeare-chars", hidden_size=256, epochs=2, batch_size=32, lr=5e-3, tbptt=50)
def shakespeare_chars(seed=0, seq_len=200, embed_size=32, n_train=None, n_test=None):
    """Character-level language modelling on Shakespeare's 42 works (4.55 M train / 256 k test
    characters, 84 distinct): the streams cut into non-overlapping segments of ``seq_len``
    characters; at every step the next character ("classify-each" over the 84 characters, token
    inputs through an Embedding of ``embed_size``).  Metric: bits per character (the history also
    has perplexity = 2^bpc and accuracy).  Train with truncated BPTT (the CLI's default is 50-step
    windows, the state carried across the windows of a segment and reset between segments).
    ``n_train`` / ``n_test`` count segments."""
    seq_len = integer("seq_len", seq_len, 2)
    embed_size = integer("embed_size", embed_size, 1)
    train, test = (_load("shakespeare", split, level="char") for split in SPLITS)
    sizes = tuple((len(s) - 1) // seq_len for s in (train, test))
    itr, ite = _subsets(seed, n_train, n_test, sizes)
    (Xtr, ytr), (Xte, yte) = _segments(train, seq_len, itr), _segments(test, seq_len, ite)
    V = len(train.vocab)
    return Task(name="shakespeare-chars", kind="classify-each", input_size=V, output_size=V, metric="bpc",
                X_train=Xtr, targets_train=ytr, X_test=Xte, targets_test=yte, seed=seed,
                options=dict(seq_len=seq_len, embed_size=embed_size, n_train=n_train, n_test=n_test),
                description=shakespeare_chars.__doc__, vocab_size=V, embed_size=embed_size)


#: the tasks that read a dataset of npslim.datasets (and its name there)
DATASET_TASKS = {"mnist-rows": "mnist", "mnist-pixels": "mnist", "imdb": "imdb", "chorales": "chorales",
                 "shakespeare-chars": "shakespeare", "vowels": "vowels"}
