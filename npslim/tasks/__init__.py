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

Registry: ``names()``, ``options(name)`` (the defaults), ``make(name, seed=0, **options)``;
``training_defaults(name)``: the hidden size, epochs, batch size, learning rate and TBPTT window
``npslim train`` uses for the task.
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

from . import dataset_tasks, synthetic  # noqa: F401  (importing them registers their tasks)
from .dataset_tasks import DATASET_TASKS
from .synthetic import TEMPORAL_SYMBOLS
from .task import (IGNORE, KINDS, METRICS, SPLITS, TRAINING_DEFAULTS, Task, make, names, options,
                   training_defaults)

__all__ = ["Task", "IGNORE", "KINDS", "METRICS", "SPLITS", "DATASET_TASKS", "TEMPORAL_SYMBOLS", "TRAINING_DEFAULTS",
           "names", "options", "make", "training_defaults"]
