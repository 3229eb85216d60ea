"""The built-in tasks: scikit-learn's digits and four synthetic problems (see :mod:`npslim.tasks`)."""
from __future__ import annotations

import functools

import numpy as np

from ..validate import integer, number
from .task import IGNORE, Task, one_hot, register, streams


# ---------------------------------------------------------------------------- digits
@functools.lru_cache(maxsize=1)
def _digits():
    """scikit-learn's bundled 8×8 digits scaled to [0, 1] and its FIXED stratified split:
    ``train_test_split(test_size=0.25, stratify=y, random_state=0)`` -> 1347 train, 450 test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)          # (N, 8, 8) in [0, 1]
    labels = data.target.astype(np.int64)
    train, test = train_test_split(np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=0)
    for a in (images, labels, train, test):
        a.setflags(write=False)
    return images, labels, train, test


def _digits_task(name, seed, steps, features, description):
    images, labels, train, test = _digits()
    seqs = images.reshape(len(labels), steps, features).transpose(1, 0, 2)   # (T, N, m), time-major
    return Task(name=name, kind="classify-last", input_size=features, output_size=10, metric="accuracy",
                X_train=np.ascontiguousarray(seqs[:, train]), targets_train=labels[train].copy(),
                X_test=np.ascontiguousarray(seqs[:, test]), targets_test=labels[test].copy(),
                seed=seed, options={}, description=description)


@register("digits-rows")
def digits_rows(seed=0):
    """scikit-learn's 8×8 digits, one image row per step: T = 8 steps × 8 features (pixel/16 in
    [0, 1]), 10 classes, the fixed stratified split (1347 train / 450 test; ``seed`` unused)."""
    return _digits_task("digits-rows", seed, 8, 8, digits_rows.__doc__)


@register("digits-pixels")
def digits_pixels(seed=0):
    """scikit-learn's 8×8 digits, one pixel per step in row-major order: T = 64 steps × 1 feature,
    10 classes, the same fixed split as digits-rows (``seed`` unused)."""
    return _digits_task("digits-pixels", seed, 64, 1, digits_pixels.__doc__)


# ---------------------------------------------------------------------------- adding problem
def _adding_split(rng, n, T):
    values = rng.uniform(0.0, 1.0, size=(T, n)).astype(np.float32)   # x¹ₜ ~ U[0, 1]
    first = rng.integers(0, T // 2, size=n)                           # one marker in the first half
    second = rng.integers(T // 2, T, size=n)                          # one in the second half
    cols = np.arange(n)
    markers = np.zeros((T, n), dtype=np.float32)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    X = np.stack([values, markers], axis=-1)                          # (T, n, 2)
    y = (values[first, cols] + values[second, cols])[:, None]         # (n, 1) the sum of the marked two
    return X, y.astype(np.float32)


@register("adding")
def adding(seed=0, T=50, n_train=5000, n_test=1000):
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4, in the form of Le et al. 2015
    and Arjovsky et al. 2016): 2 input channels per step, a value ~ U[0, 1] and a marker in {0, 1};
    exactly two steps are marked, one in the first half and one in the second; the target, read at
    the last step, is the sum of the two marked values.  It has variance 2·(1/12) = 1/6, so
    always answering 1.0 scores MSE ≈ 0.167 (the baseline to beat)."""
    T = integer("T", T, 2)
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
    (Xtr, ytr), (Xte, yte) = (_adding_split(r, n, T) for r, n in zip(streams(seed), (n_train, n_test)))
    return Task(name="adding", kind="regress-last", input_size=2, output_size=1, metric="mse",
                X_train=Xtr, targets_train=ytr, X_test=Xte, targets_test=yte, seed=seed,
                options=dict(T=T, n_train=n_train, n_test=n_test), description=adding.__doc__)


# ---------------------------------------------------------------------------- copy task
def _copy_split(rng, n, length, delay, K):
    T = 2 * length + delay
    symbols = rng.integers(0, K, size=(length, n))                    # the sequence to remember
    ids = np.full((T, n), K, dtype=np.int64)                          # K = blank
    ids[:length] = symbols
    ids[length + delay - 1] = K + 1                                   # K + 1 = delimiter: "now copy"
    y = np.full((T, n), IGNORE, dtype=np.int64)
    y[length + delay:] = symbols                                      # scored: the last `length` steps
    return one_hot(ids, K + 2), y


@register("copy")
def copy_task(seed=0, length=5, delay=10, n_symbols=8, n_train=5000, n_test=1000):
    """The copy (memory) task (Hochreiter & Schmidhuber 1997; Graves et al. 2014; Arjovsky et al.
    2016): read ``length`` symbols drawn uniformly from K = ``n_symbols``, then blanks, then a
    delimiter at step length + delay − 1, then reproduce the symbols over the last ``length``
    steps.  T = 2·length + delay; inputs one-hot over K + 2 (the symbols, blank = K, delimiter
    = K + 1); "classify-each" over K classes, only the last ``length`` steps scored (targets are
    IGNORE = −1 elsewhere).  A memoryless guess scores accuracy 1/K."""
    length, delay = integer("length", length, 1), integer("delay", delay, 1)
    K = integer("n_symbols", n_symbols, 2)
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
    (Xtr, ytr), (Xte, yte) = (_copy_split(r, n, length, delay, K) for r, n in zip(streams(seed), (n_train, n_test)))
    return Task(name="copy", kind="classify-each", input_size=K + 2, output_size=K, metric="accuracy",
                X_train=Xtr, targets_train=ytr, X_test=Xte, targets_test=yte, seed=seed,
                options=dict(length=length, delay=delay, n_symbols=n_symbols, n_train=n_train, n_test=n_test),
                description=copy_task.__doc__)


# ---------------------------------------------------------------------------- temporal order
TEMPORAL_SYMBOLS = ("a", "b", "c", "d", "B", "E", "X", "Y")


_WINDOWS = {2: ((0.10, 0.20), (0.50, 0.60)),                          # H&S 6a: t1 ∈ [10, 20], t2 ∈ [50, 60]
            3: ((0.10, 0.20), (0.33, 0.43), (0.66, 0.76))}            # H&S 6b: [10, 20], [33, 43], [66, 76]


def _temporal_split(rng, n, length, jitter, n_relevant):
    cols = np.arange(n)
    lengths = rng.integers(length, length + jitter + 1, size=n).astype(np.int64)
    ids = rng.integers(0, 4, size=(length + jitter, n))               # distractors a b c d
    ids[0] = 4                                                        # B starts every sequence
    ids[lengths - 1, cols] = 5                                        # E ends it
    label = np.zeros(n, dtype=np.int64)
    for lo, hi in _WINDOWS[n_relevant]:
        pos = rng.integers(round(lo * length), round(hi * length) + 1, size=n)
        is_y = rng.integers(0, 2, size=n)                             # 0: X, 1: Y
        ids[pos, cols] = 6 + is_y
        label = 2 * label + is_y                                      # XX=0 XY=1 YX=2 YY=3 (binary, first symbol high)
    X = one_hot(ids, len(TEMPORAL_SYMBOLS))
    X[np.arange(length + jitter)[:, None] >= lengths[None, :]] = 0.0  # zero padding after E
    return X, label, lengths


@register("temporal-order")
def temporal_order(seed=0, length=100, jitter=10, n_relevant=2, n_train=5000, n_test=1000):
    """The temporal order problem (Hochreiter & Schmidhuber 1997, experiments 6a/6b): sequences of
    ``length`` ... ``length + jitter`` symbols (default 100–110, as the paper), one-hot over
    a b c d B E X Y; B first, E last, distractors a–d elsewhere except ``n_relevant`` positions
    holding X or Y, drawn uniformly in the windows (as fractions of ``length``) 2: [0.1, 0.2],
    [0.5, 0.6]; 3: [0.1, 0.2], [0.33, 0.43], [0.66, 0.76] (for length 100 the paper's positions).
    The class is their order read as binary (X = 0, Y = 1, first symbol the high bit): 4 classes
    (XX XY YX YY) for 2, 8 for 3, read at each sequence's last step (``lengths`` − 1; X is
    zero-padded after it).  Chance accuracy 1/4 (1/8)."""
    length, jitter = integer("length", length, 10), integer("jitter", jitter, 0)
    if n_relevant not in _WINDOWS:
        raise ValueError(f"n_relevant: expected 2 or 3, got {n_relevant!r}")
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
    (Xtr, ytr, ltr), (Xte, yte, lte) = (_temporal_split(r, n, length, jitter, n_relevant)
                                        for r, n in zip(streams(seed), (n_train, n_test)))
    return Task(name="temporal-order", kind="classify-last", input_size=len(TEMPORAL_SYMBOLS),
                output_size=2 ** n_relevant, metric="accuracy", X_train=Xtr, targets_train=ytr, X_test=Xte,
                targets_test=yte, lengths_train=ltr, lengths_test=lte, seed=seed,
                options=dict(length=length, jitter=jitter, n_relevant=n_relevant, n_train=n_train, n_test=n_test),
                description=temporal_order.__doc__)


# ---------------------------------------------------------------------------- noisy sine
def _sine_split(rng, n, T, noise, min_period, max_period):
    omega = 2.0 * np.pi / rng.uniform(min_period, max_period, size=n)   # angular frequency per sequence
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n)
    t = np.arange(T + 1)[:, None]
    clean = np.sin(omega * t + phase)                                   # sₜ = sin(ω t + φ), t = 0..T
    X = clean[:T] + noise * rng.standard_normal((T, n))                 # xₜ = sₜ + noise·εₜ
    y = clean[1:]                                                       # target: sₜ₊₁
    return X[..., None].astype(np.float32), y[..., None].astype(np.float32)


@register("sine")
def sine(seed=0, T=50, noise=0.1, min_period=10.0, max_period=40.0, n_train=2000, n_test=500):
    """Noisy sine prediction: each sequence is sₜ = sin(ωt + φ) with a period 2π/ω ~ U[min_period,
    max_period] steps and φ ~ U[0, 2π); the input is xₜ = sₜ + noise·εₜ (εₜ ~ N(0, 1)), the target
    at every step the next CLEAN value sₜ₊₁ ("regress-each", MSE).  Repeating the input scores
    about noise² + (mean squared one-step change)."""
    T = integer("T", T, 1)
    noise = number("noise", noise, 0.0)
    min_period = number("min_period", min_period, 2.0)
    max_period = number("max_period", max_period, min_period)
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
    (Xtr, ytr), (Xte, yte) = (_sine_split(r, n, T, noise, min_period, max_period)
                              for r, n in zip(streams(seed), (n_train, n_test)))
    return Task(name="sine", kind="regress-each", input_size=1, output_size=1, metric="mse",
                X_train=Xtr, targets_train=ytr, X_test=Xte, targets_test=yte, seed=seed,
                options=dict(T=T, noise=noise, min_period=min_period, max_period=max_period,
                             n_train=n_train, n_test=n_test), description=sine.__doc__)
