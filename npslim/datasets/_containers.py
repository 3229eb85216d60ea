"""The containers that dataset loaders return: sequences side by side in one padded time-major array
(:class:`Sequences`, :class:`Tokens`) and a stream of token ids (:class:`TextStream`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._core import check_positive, fingerprint


def pad_time_major(flat, offsets, index=None, maxlen=None, keep="first", pad=0):
    """Ragged rows ``flat[offsets[i]:offsets[i+1]]`` -> time-major (T, N, ...) padded at the end, lengths.

    ``maxlen`` cuts longer rows, keeping their ``keep`` ("first" or "last") elements; T is the longest
    length kept.  Vectorised: one gather, no Python loop over rows.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    if index is not None:
        starts, ends = starts[index], ends[index]
    lengths = ends - starts
    if maxlen is not None:
        cut = np.minimum(lengths, maxlen)
        if keep == "last":
            starts = ends - cut
        lengths = cut
    T = int(lengths.max()) if lengths.size else 0
    t = np.arange(T, dtype=np.int64)[:, None]
    valid = t < lengths[None, :]
    gather = np.where(valid, starts[None, :] + t, 0)
    out = flat[gather] if len(flat) else np.zeros(gather.shape + flat.shape[1:], flat.dtype)
    out[~valid] = pad
    return out, lengths.astype(np.int64)


class _Batched:
    """Shared by the containers whose sequences sit side by side in one padded time-major array."""

    _array = "X"

    def __len__(self):
        return int(self.lengths.shape[0])

    @property
    def T(self):
        return int(getattr(self, self._array).shape[0])

    def subset(self, index):
        """The same data for the sequences ``index`` (an array of positions, a slice or a mask),
        with T cut to their longest length."""
        idx = np.arange(len(self))[index]
        lengths = self.lengths[idx]
        T = int(lengths.max()) if len(idx) else 0
        changes = {self._array: np.ascontiguousarray(getattr(self, self._array)[:T, idx]),
                   "lengths": lengths, "y": None if self.y is None else self.y[idx]}
        meta = {k: (v[idx] if isinstance(v, np.ndarray) and v.shape[:1] == (len(self),) else v)
                for k, v in self.meta.items()}
        return self._replace(meta=meta, **changes)

    def batches(self, batch_size, shuffle=False, seed=0):
        """Yield ``subset``-s of ``batch_size`` sequences (the last one may be smaller); each is cut
        to its own longest length.  ``shuffle`` draws the order from ``seed``."""
        batch_size = check_positive("batch_size", batch_size)
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for s in range(0, len(self), batch_size):
            yield self.subset(order[s:s + batch_size])

    def class_counts(self):
        """Sequences per class (length of ``classes``)."""
        return np.bincount(self.y, minlength=len(self.classes))

    def _replace(self, **changes):
        d = dict(self.__dict__)
        d.update(changes)
        return type(self)(**d)

    def fingerprint(self):
        return fingerprint(getattr(self, self._array), self.lengths, self.y)


@dataclass(repr=False)
class Sequences(_Batched):
    """Real-valued sequences, time-major and padded at the end (as npslim's layers take them).

    ========  ===============  ===========================================================
    X         (T, N, m) f32    frame t of sequence n; zeros at t >= lengths[n]
    lengths   (N,) int64       1..T
    y         (N,) int64|None  class of each sequence (None: a sequence task, e.g. chorales)
    classes   tuple[str]       class names, y indexes them
    ========  ===============  ===========================================================
    """

    X: np.ndarray
    lengths: np.ndarray
    y: np.ndarray | None
    classes: tuple
    name: str
    split: str
    source: str
    meta: dict = field(default_factory=dict)

    _array = "X"

    @property
    def m(self):
        return int(self.X.shape[2])

    def __repr__(self):
        ys = "" if self.y is None else f", {len(self.classes)} classes"
        return (f"Sequences({self.name}/{self.split}: X {tuple(self.X.shape)} {self.X.dtype}, lengths "
                f"{int(self.lengths.min()) if len(self) else 0}-{self.T}{ys}; from {self.source})")


@dataclass(repr=False)
class Tokens(_Batched):
    """Token id sequences for classification, time-major and padded at the end.

    ========  ===============  ===========================================================
    ids       (T, N) int32     vocab[ids[t, n]]; 0 ("<pad>") at t >= lengths[n]
    lengths   (N,) int64       1..T (tokens kept)
    y         (N,) int64       class of each sequence
    classes   tuple[str]       class names
    vocab     tuple[str]       id -> token; vocab[0] = "<pad>", vocab[1] = "<unk>"
    ========  ===============  ===========================================================
    """

    ids: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    classes: tuple
    vocab: tuple
    name: str
    split: str
    source: str
    meta: dict = field(default_factory=dict)

    _array = "ids"
    PAD, UNK = 0, 1

    def decode(self, n):
        """The tokens of sequence ``n``, joined by spaces."""
        return " ".join(self.vocab[i] for i in self.ids[: self.lengths[n], n])

    def __repr__(self):
        return (f"Tokens({self.name}/{self.split}: ids {tuple(self.ids.shape)}, vocab {len(self.vocab)}, "
                f"{len(self.classes)} classes; from {self.source})")


@dataclass(repr=False)
class TextStream:
    """One long stream of token ids for language modelling (characters or words).

    ``ids`` (L,) int32 index ``vocab``; ``batchify(B)`` cuts it into B contiguous columns, time-major
    (L // B, B); ``bptt(B, T)`` walks those columns T steps at a time, yielding (inputs, targets) with
    targets = inputs shifted one step ahead.  Word streams have "<unk>" (id 0) and "<eos>" (end of line).
    """

    ids: np.ndarray
    vocab: tuple
    level: str
    name: str
    split: str
    source: str
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return int(self.ids.shape[0])

    def batchify(self, batch_size):
        B = check_positive("batch_size", batch_size)
        L = len(self) // B
        return np.ascontiguousarray(self.ids[: L * B].reshape(B, L).T)

    def bptt(self, batch_size, seq_len):
        cols = self.batchify(batch_size)
        T = check_positive("seq_len", seq_len)
        for s in range(0, cols.shape[0] - 1, T):
            n = min(T, cols.shape[0] - 1 - s)
            yield cols[s:s + n], cols[s + 1:s + 1 + n]

    def decode(self, ids):
        sep = "" if self.level == "char" else " "
        return sep.join(self.vocab[i] for i in np.asarray(ids).ravel())

    def fingerprint(self):
        return fingerprint(self.ids)

    def __repr__(self):
        return (f"TextStream({self.name}/{self.split}, {self.level}: {len(self)} ids, vocab {len(self.vocab)}; "
                f"from {self.source})")
