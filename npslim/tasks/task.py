"""The :class:`Task` (a train and a test split, time-major) and the registry of tasks."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..validate import integer

IGNORE = -1                 #: the target of a step that is not scored ("classify-each")


KINDS = ("classify-last", "regress-last", "classify-each", "regress-each", "multilabel-each")


#: accuracy (classification), mse (regression), bpc (bits per character: language modelling),
#: nll (Bernoulli negative log-likelihood per frame, nats: "multilabel-each")
METRICS = ("accuracy", "mse", "bpc", "nll")


SPLITS = ("train", "test")


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
        # the values the losses would otherwise check on the device, at every step
        valid = targets
        if self.kind.endswith("-each") and lengths is not None:
            valid = targets[np.arange(T)[:, None] < lengths[None, :]]          # padded steps are not scored
        if self.kind.startswith("classify"):
            valid = valid[valid != IGNORE] if self.kind == "classify-each" else valid
            if valid.size and (valid.min() < 0 or valid.max() >= self.output_size):
                raise ValueError(f"targets_{split}: expected class ids in [0, {self.output_size})"
                                 f"{' or IGNORE (-1)' if self.kind == 'classify-each' else ''}, "
                                 f"got values in [{valid.min()}, {valid.max()}]")
        elif self.kind == "multilabel-each" and valid.size and not (valid.min() >= 0 and valid.max() <= 1):
            raise ValueError(f"targets_{split}: expected 0/1 labels (probabilities in [0, 1]), "
                             f"got values in [{valid.min():g}, {valid.max():g}]")

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


#: the training defaults of every task (``npslim train`` / ``compare``), chosen so that
#: ``npslim compare --task digits-rows --cells lstm,gru,cifg,lstm_c6`` takes about a minute on
#: two CPU cores (77 s for all four, measured on a machine shared with other jobs) and the LSTM reaches 0.958
#: test accuracy at the epoch chosen on the validation split (seed 0; GRU 0.978, CIFG 0.976).  A task registered
#: with its own values (the real datasets) overrides them: hidden sizes as the papers (Lu & Salem 2017:
#: MNIST rows n = 50, pixels n = 100, IMDB n = 128 with 128-wide embeddings); the epochs are short
#: budgets for two CPU cores (the papers train 100-200 epochs).
TRAINING_DEFAULTS = dict(hidden_size=64, epochs=30, batch_size=32, lr=1e-2, tbptt=None)
_TRAINING = {}


def training_defaults(name):
    """The training defaults of task ``name``: TRAINING_DEFAULTS updated by the task's own values
    (hidden_size, epochs, batch_size, lr, tbptt)."""
    _get(name)                                          # an unknown name: the registry's error
    return dict(TRAINING_DEFAULTS, **_TRAINING[name])


def register(name, **training):
    """Decorator: register a task builder under ``name``; ``training`` holds the task's own training
    defaults (keys of TRAINING_DEFAULTS), which :func:`training_defaults` returns."""
    unknown = sorted(set(training) - set(TRAINING_DEFAULTS))
    if unknown:
        raise TypeError(f"training: expected keys of {sorted(TRAINING_DEFAULTS)}, got {unknown}")

    def deco(fn):
        _TASKS[name] = fn
        _TRAINING[name] = dict(training)
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


def streams(seed):
    """Two independent generators (train, test) from one seed."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]


def one_hot(ids, depth):
    """(…) int ids -> (…, depth) float32 one-hot rows."""
    return np.eye(depth, dtype=np.float32)[ids]
