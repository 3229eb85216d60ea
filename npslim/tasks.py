"""Sequence tasks: scikit-learn's bundled digits, synthetic problems, and the real datasets of
:mod:`npslim.datasets` (MNIST, IMDB, Bach chorales, Shakespeare, Japanese vowels).

Every task is a :class:`Task` with a train and a test split, each time-major::

    X        (T, N, m) float32       inputs (zero-padded after a sequence's length, if lengths exist)
             (T, N) int32 token ids  when ``task.vocab_size`` is set (imdb, shakespeare-chars): the model
                                     puts an Embedding(vocab_size, embed_size) in front; m = vocab_size
    targets  per ``kind``:
             "classify-last"    (N,)            int64    one class per sequence, read at its last step
             "regress-last"     (N, k)          float32  one value vector per sequence, at its last step
             "classify-each"    (T, N)          int64    a class per step; IGNORE (−1) where not scored
             "regress-each"     (T, N, k)       float32  a value vector per step
             "multilabel-each"  (T, N, k)       float32  k independent 0/1 labels per step (Bernoulli)
    lengths  (N,) int64 or None      valid steps per sequence ("last step" = lengths − 1); None = all T

and ``task.batches(split, batch_size, rng)`` yields ``(X (T, B, m), targets, lengths)`` minibatches
(shuffled by the numpy Generator ``rng``, in order when ``rng`` is None; the last partial batch kept;
every example exactly once per pass; variable-length batches trimmed to their longest sequence).
Arrays are host NumPy; move them with ``npslim.backend.to_device``.

Registry: ``names()``, ``options(name)`` (the defaults), ``make(name, seed=0, **options)``.
Deterministic given the seed: train and test come from two independent streams of
``np.random.SeedSequence(seed)``, so the test split does not depend on ``n_train``.

=================  ===============  =====  ====  ==========================================================
name               kind             m      k     what
=================  ===============  =====  ====  ==========================================================
digits-rows        classify-last    8      10    8×8 digit images read row by row (8 steps), pixels / 16
digits-pixels      classify-last    1      10    the same images pixel by pixel (64 steps)
adding             regress-last     2      1     sum of the two marked values (Hochreiter & Schmidhuber 1997)
copy               classify-each    K+2    K     reproduce L symbols after a delay (scored on the L copies)
temporal-order     classify-last    8      4/8   order of the X/Y symbols among distractors (H&S 1997, 6a/6b)
sine               regress-each     1      1     next clean value of a noisy sine wave
mnist-rows         classify-last    28     10    MNIST, one image row per step (28 steps), 60k / 10k
mnist-pixels       classify-last    1      10    MNIST, one pixel per step (784 steps); ``permuted=True``: pMNIST
imdb               classify-last    ids    2     IMDB sentiment, word ids (vocabulary 20,000, last 80 words)
chorales           multilabel-each  88     88    Bach chorales: the next piano-roll frame (Bernoulli NLL)
shakespeare-chars  classify-each    ids    84    next character of Shakespeare (bits per character)
vowels             classify-last    12     9     Japanese vowels: the speaker of 7–29 cepstral frames
=================  ===============  =====  ====  ==========================================================

The dataset-backed tasks (the last six) load their data in ``make`` (never at import), from
npslim's cache (``npslim.datasets``); when it is absent they raise ``npslim.datasets.DataNotFound``,
whose message says how to fetch it (``bash datasets/fetch.sh``).  Each takes ``n_train`` and
``n_test`` (None: the whole split; an int: a seeded random subset of that many sequences, the
same for the same seed) for quick runs.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .validate import integer, number

__all__ = ["Task", "IGNORE", "KINDS", "METRICS", "DATASET_TASKS", "names", "options", "make"]

IGNORE = -1                 #: the target of a step that is not scored ("classify-each")
KINDS = ("classify-last", "regress-last", "classify-each", "regress-each", "multilabel-each")
#: accuracy (classification), mse (regression), bpc (bits per character: language modelling),
#: nll (Bernoulli negative log-likelihood per frame, nats: "multilabel-each")
METRICS = ("accuracy", "mse", "bpc", "nll")
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
    vocab_size: Optional[int] = None        #: token inputs: X holds ids in [0, vocab_size); None: float X
    embed_size: Optional[int] = None        #: token inputs: the embedding size build_model uses by default

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric: expected one of {METRICS}, got {self.metric!r}")
        if self.vocab_size is not None and self.input_size != self.vocab_size:
            raise ValueError(f"input_size: a token task's input size is its vocabulary size {self.vocab_size}, "
                             f"got {self.input_size}")
        for split in SPLITS:
            self._check_split(split)

    @property
    def tokens(self):
        """True when X holds token ids (T, N) for an Embedding, not feature vectors (T, N, m)."""
        return self.vocab_size is not None

    def _check_split(self, split):
        X, targets, lengths = self.split(split)
        if self.tokens:
            if not isinstance(X, np.ndarray) or X.dtype.kind not in "iu" or X.ndim != 2 or X.size == 0 \
                    or X.min() < 0 or X.max() >= self.vocab_size:
                raise ValueError(f"X_{split}: expected integer token ids (T, N) in [0, {self.vocab_size}), got "
                                 f"{getattr(X, 'dtype', type(X).__name__)} {getattr(X, 'shape', '')}")
        elif not isinstance(X, np.ndarray) or X.dtype != np.float32 or X.ndim != 3 or X.shape[2] != self.input_size:
            raise ValueError(f"X_{split}: expected a float32 array (T, N, {self.input_size}), got "
                             f"{getattr(X, 'dtype', type(X).__name__)} {getattr(X, 'shape', '')}")
        T, N = X.shape[:2]
        if self.kind.startswith("classify"):
            shape, dtype = ((N,) if self.kind == "classify-last" else (T, N)), np.int64
        else:
            k = self.output_size
            shape, dtype = ((N, k) if self.kind == "regress-last" else (T, N, k)), np.float32   # regress, multilabel
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
        are trimmed to the longest sequence of the batch; token tasks yield X as ids (T, B).  The arrays
        are fresh copies."""
        X, targets, lengths = self.split(split)
        batch_size = integer("batch_size", batch_size, 1)
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
    return fn(seed=integer("seed", seed, 0), **opts)


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
    T = integer("T", T, 2)
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
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
    length, delay = integer("length", length, 1), integer("delay", delay, 1)
    K = integer("n_symbols", n_symbols, 2)
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
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
    length, jitter = integer("length", length, 10), integer("jitter", jitter, 0)
    if n_relevant not in _WINDOWS:
        raise ValueError(f"n_relevant: expected 2 or 3, got {n_relevant!r}")
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
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
    T = integer("T", T, 1)
    noise = number("noise", noise, 0.0)
    min_period = number("min_period", min_period, 2.0)
    max_period = number("max_period", max_period, min_period)
    n_train, n_test = integer("n_train", n_train, 1), integer("n_test", n_test, 1)
    (Xtr, ytr), (Xte, yte) = (_sine_split(r, n, T, noise, min_period, max_period)
                              for r, n in zip(_streams(seed), (n_train, n_test)))
    return Task(name="sine", kind="regress-each", input_size=1, output_size=1, metric="mse",
                X_train=Xtr, targets_train=ytr, X_test=Xte, targets_test=yte, seed=seed,
                options=dict(T=T, noise=noise, min_period=min_period, max_period=max_period,
                             n_train=n_train, n_test=n_test), description=sine.__doc__)


# ---------------------------------------------------------------------------- real datasets
# Loading happens in the task functions (make), never at import; a missing dataset raises
# npslim.datasets.DataNotFound with the command that fetches it.
def _load(name, split, **options):
    from . import datasets
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
                 zip(sizes, (n_train, n_test), _streams(seed), ("n_train", "n_test")))


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


def _mnist(name, seed, mode, permuted, n_train, n_test, description):
    options = {} if mode == "rows" else {"permuted": bool(permuted)}
    loaded = [_load("mnist", split, mode=mode, permuted=bool(permuted)) for split in SPLITS]
    return _classify_task(name, seed, loaded, n_train, n_test, options, description)


@_register("mnist-rows")
def mnist_rows(seed=0, n_train=None, n_test=None):
    """MNIST (LeCun et al. 1998) read row by row: T = 28 steps × 28 pixels (/255, in [0, 1]), 10
    classes, the original 60,000 / 10,000 split (Lu & Salem, file 001: row-wise MNIST, n = 50)."""
    return _mnist("mnist-rows", seed, "rows", False, n_train, n_test, mnist_rows.__doc__)


@_register("mnist-pixels")
def mnist_pixels(seed=0, permuted=False, n_train=None, n_test=None):
    """MNIST read pixel by pixel in raster order: T = 784 steps × 1 pixel, 10 classes, 60,000 /
    10,000 (Lu & Salem, file 001: pixel-wise MNIST, n = 100).  ``permuted=True``: every image in
    one fixed random pixel order (pMNIST).  Long: a subset (``n_train``) keeps CPU runs short."""
    return _mnist("mnist-pixels", seed, "pixels", permuted, n_train, n_test, mnist_pixels.__doc__)


@_register("imdb")
def imdb(seed=0, vocab_size=20000, maxlen=80, keep="last", embed_size=128, n_train=None, n_test=None):
    """IMDB sentiment (Maas et al. 2011): reviews as word ids, 2 classes, the standard 25,000 / 25,000
    split.  Defaults as Lu & Salem (file 001, after Keras's imdb_lstm example): the 20,000 most
    frequent words (ids counting "<pad>" and "<unk>"; rarer words are "<unk>"), reviews cut to
    ``maxlen`` = 80 words, keeping the LAST 80 (Keras's pad_sequences truncates at the front;
    ``keep="first"`` keeps the opening), an Embedding of 128 (and 128 hidden units: the CLI's
    default).  Akandeh & Salem (file 000): ``vocab_size=5000, maxlen=500, embed_size=32`` and
    n = 100.  Padding is at the end, with lengths, so every review is read to its own last word."""
    vocab_size = integer("vocab_size", vocab_size, 3)
    maxlen = integer("maxlen", maxlen, 1)
    embed_size = integer("embed_size", embed_size, 1)
    loaded = [_load("imdb", split, vocab_size=vocab_size, maxlen=maxlen, keep=keep) for split in SPLITS]
    return _classify_task("imdb", seed, loaded, n_train, n_test,
                          dict(vocab_size=vocab_size, maxlen=maxlen, keep=keep, embed_size=embed_size),
                          imdb.__doc__, vocab_size=vocab_size, embed_size=embed_size)


@_register("vowels")
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


@_register("chorales")
def chorales(seed=0, n_train=None, n_test=None):
    """Bach chorales as quarter-note piano rolls (the stand-in for JSB Chorales, Boulanger-Lewandowski
    et al. 2012; Greff et al., file 004): 88 binary units per frame; the task is the next frame
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


@_register("shakespeare-chars")
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
