"""Sequence tasks that download nothing: scikit-learn's bundled digits and synthetic problems.

Every task is a :class:`Task` with a train and a test split, each time-major::

    X        (T, N, m) float32       inputs (zero-padded after a sequence's length, if lengths exist)
    targets  per ``kind``:
             "classify-last"  (N,)            int64    one class per sequence, read at its last step
             "regress-last"   (N, k)          float32  one value vector per sequence, at its last step
             "classify-each"  (T, N)          int64    a class per step; IGNORE (−1) where not scored
             "regress-each"   (T, N, k)       float32  a value vector per step
    lengths  (N,) int64 or None      valid steps per sequence ("last step" = lengths − 1); None = all T

and ``task.batches(split, batch_size, rng)`` yields ``(X (T, B, m), targets, lengths)`` minibatches
(shuffled by the numpy Generator ``rng``, in order when ``rng`` is None; the last partial batch kept;
every example exactly once per pass; variable-length batches trimmed to their longest sequence).
Arrays are host NumPy; move them with ``npslim.backend.to_device``.

Registry: ``names()``, ``options(name)`` (the defaults), ``make(name, seed=0, **options)``.
Deterministic given the seed: train and test come from two independent streams of
``np.random.SeedSequence(seed)``, so the test split does not depend on ``n_train``.

=================  ==============  =====  ====  ===========================================================
name               kind            m      k     what
=================  ==============  =====  ====  ===========================================================
digits-rows        classify-last   8      10    8×8 digit images read row by row (8 steps), pixels / 16
digits-pixels      classify-last   1      10    the same images pixel by pixel (64 steps)
adding             regress-last    2      1     sum of the two marked values (Hochreiter & Schmidhuber 1997)
copy               classify-each   K+2    K     reproduce L symbols after a delay (scored on the L copies)
temporal-order     classify-last   8      4/8   order of the X/Y symbols among distractors (H&S 1997, 6a/6b)
sine               regress-each    1      1     next clean value of a noisy sine wave
=================  ==============  =====  ====  ===========================================================
"""
from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = ["Task", "IGNORE", "KINDS", "names", "options", "make"]

IGNORE = -1                 #: the target of a step that is not scored ("classify-each")
KINDS = ("classify-last", "regress-last", "classify-each", "regress-each")
METRICS = ("accuracy", "mse")
SPLITS = ("train", "test")


# ---------------------------------------------------------------------------- the task
@dataclass(eq=False)
class Task:
    """A sequence task: metadata, a train and a test split, and a minibatch generator."""

    name: str
    kind: str
    input_size: int
    output_size: int
    metric: str
    X_train: np.ndarray = field(repr=False)
    targets_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    targets_test: np.ndarray = field(repr=False)
    lengths_train: Optional[np.ndarray] = field(default=None, repr=False)
    lengths_test: Optional[np.ndarray] = field(default=None, repr=False)
    seed: int = 0
    options: dict = field(default_factory=dict)
    description: str = field(default="", repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric: expected one of {METRICS}, got {self.metric!r}")
        for split in SPLITS:
            self._check_split(split)

    def _check_split(self, split):
        X, targets, lengths = self.split(split)
        if not isinstance(X, np.ndarray) or X.dtype != np.float32 or X.ndim != 3 or X.shape[2] != self.input_size:
            raise ValueError(f"X_{split}: expected a float32 array (T, N, {self.input_size}), got "
                             f"{getattr(X, 'dtype', type(X).__name__)} {getattr(X, 'shape', '')}")
        T, N = X.shape[:2]
        if self.kind.startswith("classify"):
            shape, dtype = ((N,) if self.kind == "classify-last" else (T, N)), np.int64
        else:
            k = self.output_size
            shape, dtype = ((N, k) if self.kind == "regress-last" else (T, N, k)), np.float32
        if not isinstance(targets, np.ndarray) or targets.shape != shape or targets.dtype != dtype:
            raise ValueError(f"targets_{split}: expected {np.dtype(dtype).name} {shape} for kind {self.kind!r}, got "
                             f"{getattr(targets, 'dtype', type(targets).__name__)} {getattr(targets, 'shape', '')}")
        if lengths is not None and (not isinstance(lengths, np.ndarray) or lengths.shape != (N,)
                                    or lengths.dtype != np.int64 or lengths.min() < 1 or lengths.max() > T):
            raise ValueError(f"lengths_{split}: expected int64 ({N},) with values in [1, {T}]")

    # ------------------------------------------------------------------ access
    def split(self, split):
        """``(X, targets, lengths)`` of ``split`` ("train" or "test"), the task's own arrays."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        return getattr(self, f"X_{split}"), getattr(self, f"targets_{split}"), getattr(self, f"lengths_{split}")

    def size(self, split):
        """Number of sequences N in ``split``."""
        return self.split(split)[0].shape[1]

    @property
    def n_train(self):
        return self.size("train")

    @property
    def n_test(self):
        return self.size("test")

    @property
    def num_steps(self):
        """T, the (padded) sequence length."""
        return self.X_train.shape[0]

    def batches(self, split, batch_size, rng=None):
        """Yield ``(X (T, B, m), targets, lengths)`` minibatches of ``split`` covering every sequence
        exactly once: in the order ``rng.permutation(N)`` (``rng`` a ``np.random.Generator``), or in
        stored order when ``rng`` is None.  The last batch may be smaller.  Targets keep their layout
        (batch on axis 0 for "*-last", axis 1 for "*-each"); with lengths, X (and per-step targets)
        are trimmed to the longest sequence of the batch.  The arrays are fresh copies."""
        X, targets, lengths = self.split(split)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)) or None, "
                            f"got {type(rng).__name__}")
        N = X.shape[1]
        order = np.arange(N) if rng is None else rng.permutation(N)
        per_step = self.kind.endswith("-each")
        for start in range(0, N, int(batch_size)):
            idx = order[start:start + int(batch_size)]
            Xb = X[:, idx]
            yb = targets[:, idx] if per_step else targets[idx]
            lb = None if lengths is None else lengths[idx]
            if lb is not None:
                T = int(lb.max())
                Xb = Xb[:T]
                yb = yb[:T] if per_step else yb
            yield np.ascontiguousarray(Xb), np.ascontiguousarray(yb), lb


# ---------------------------------------------------------------------------- registry
_TASKS = {}


def _register(name):
    def deco(fn):
        _TASKS[name] = fn
        return fn
    return deco


def names():
    """The registered task names, sorted."""
    return sorted(_TASKS)


def _get(name):
    if name not in _TASKS:
        raise KeyError(f"name: expected one of {names()}, got {name!r}")
    return _TASKS[name]


def options(name):
    """The options of task ``name`` with their defaults."""
    return {k: p.default for k, p in inspect.signature(_get(name)).parameters.items() if k != "seed"}


def make(name, seed=0, **opts):
    """``make("adding", seed=0, T=50)``: build task ``name``; deterministic given ``seed``."""
    fn = _get(name)
    allowed = options(name)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise TypeError(f"make({name!r}): unknown option(s) {unknown}; {name!r} takes {sorted(allowed)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
    return fn(seed=int(seed), **opts)


def _int(arg, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{arg}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def _float(arg, value, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{arg}: expected a finite number >= {minimum}, got {value!r}")
    return float(value)


def _streams(seed):
    """Two independent generators (train, test) from one seed."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]


def _one_hot(ids, depth):
    """(…) int ids -> (…, depth) float32 one-hot rows."""
    return np.eye(depth, dtype=np.float32)[ids]


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


@_register("digits-rows")
def digits_rows(seed=0):
    """scikit-learn's 8×8 digits, one image row per step: T = 8 steps × 8 features (pixel/16 in
    [0, 1]), 10 classes, the fixed stratified split (1347 train / 450 test; ``seed`` unused)."""
    return _digits_task("digits-rows", seed, 8, 8, digits_rows.__doc__)


@_register("digits-pixels")
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


@_register("adding")
def adding(seed=0, T=50, n_train=5000, n_test=1000):
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4, in the form of Le et al. 2015
    and Arjovsky et al. 2016): 2 input channels per step, a value ~ U[0, 1] and a marker in {0, 1};
    exactly two steps are marked, one in the first half and one in the second; the target, read at
    the last step, is the sum of the two marked values.  It has variance 2·(1/12) = 1/6, so
    always answering 1.0 scores MSE ≈ 0.167 (the baseline to beat)."""
    T = _int("T", T, 2)
    n_train, n_test = _int("n_train", n_train, 1), _int("n_test", n_test, 1)
    (Xtr, ytr), (Xte, yte) = (_adding_split(r, n, T) for r, n in zip(_streams(seed), (n_train, n_test)))
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
    return _one_hot(ids, K + 2), y


@_register("copy")
def copy_task(seed=0, length=5, delay=10, n_symbols=8, n_train=5000, n_test=1000):
    """The copy (memory) task (Hochreiter & Schmidhuber 1997; Graves et al. 2014; Arjovsky et al.
    2016): read ``length`` symbols drawn uniformly from K = ``n_symbols``, then blanks, then a
    delimiter at step length + delay − 1, then reproduce the symbols over the last ``length``
    steps.  T = 2·length + delay; inputs one-hot over K + 2 (the symbols, blank = K, delimiter
    = K + 1); "classify-each" over K classes, only the last ``length`` steps scored (targets are
    IGNORE = −1 elsewhere).  A memoryless guess scores accuracy 1/K."""
    length, delay = _int("length", length, 1), _int("delay", delay, 1)
    K = _int("n_symbols", n_symbols, 2)
    n_train, n_test = _int("n_train", n_train, 1), _int("n_test", n_test, 1)
    (Xtr, ytr), (Xte, yte) = (_copy_split(r, n, length, delay, K) for r, n in zip(_streams(seed), (n_train, n_test)))
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
    X = _one_hot(ids, len(TEMPORAL_SYMBOLS))
    X[np.arange(length + jitter)[:, None] >= lengths[None, :]] = 0.0  # zero padding after E
    return X, label, lengths


@_register("temporal-order")
def temporal_order(seed=0, length=100, jitter=10, n_relevant=2, n_train=5000, n_test=1000):
    """The temporal order problem (Hochreiter & Schmidhuber 1997, experiments 6a/6b): sequences of
    ``length`` ... ``length + jitter`` symbols (default 100–110, as the paper), one-hot over
    a b c d B E X Y; B first, E last, distractors a–d elsewhere except ``n_relevant`` positions
    holding X or Y, drawn uniformly in the windows (as fractions of ``length``) 2: [0.1, 0.2],
    [0.5, 0.6]; 3: [0.1, 0.2], [0.33, 0.43], [0.66, 0.76] (for length 100 the paper's positions).
    The class is their order read as binary (X = 0, Y = 1, first symbol the high bit): 4 classes
    (XX XY YX YY) for 2, 8 for 3, read at each sequence's last step (``lengths`` − 1; X is
    zero-padded after it).  Chance accuracy 1/4 (1/8)."""
    length, jitter = _int("length", length, 10), _int("jitter", jitter, 0)
    if n_relevant not in _WINDOWS:
        raise ValueError(f"n_relevant: expected 2 or 3, got {n_relevant!r}")
    n_train, n_test = _int("n_train", n_train, 1), _int("n_test", n_test, 1)
    (Xtr, ytr, ltr), (Xte, yte, lte) = (_temporal_split(r, n, length, jitter, n_relevant)
                                        for r, n in zip(_streams(seed), (n_train, n_test)))
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


@_register("sine")
def sine(seed=0, T=50, noise=0.1, min_period=10.0, max_period=40.0, n_train=2000, n_test=500):
    """Noisy sine prediction: each sequence is sₜ = sin(ωt + φ) with a period 2π/ω ~ U[min_period,
    max_period] steps and φ ~ U[0, 2π); the input is xₜ = sₜ + noise·εₜ (εₜ ~ N(0, 1)), the target
    at every step the next CLEAN value sₜ₊₁ ("regress-each", MSE).  Repeating the input scores
    about noise² + (mean squared one-step change)."""
    T = _int("T", T, 1)
    noise = _float("noise", noise)
    min_period = _float("min_period", min_period, 2.0)
    max_period = _float("max_period", max_period, min_period)
    n_train, n_test = _int("n_train", n_train, 1), _int("n_test", n_test, 1)
    (Xtr, ytr), (Xte, yte) = (_sine_split(r, n, T, noise, min_period, max_period)
                              for r, n in zip(_streams(seed), (n_train, n_test)))
    return Task(name="sine", kind="regress-each", input_size=1, output_size=1, metric="mse",
                X_train=Xtr, targets_train=ytr, X_test=Xte, targets_test=yte, seed=seed,
                options=dict(T=T, noise=noise, min_period=min_period, max_period=max_period,
                             n_train=n_train, n_test=n_test), description=sine.__doc__)
