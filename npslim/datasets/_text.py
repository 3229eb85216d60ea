"""Text preparation shared by the text datasets: one tokenizer, one vocabulary rule, one encoding.

Documents (imdb, 20newsgroups)::

    tokens = WORD.findall(clean(text).lower())     clean: "<br />" -> " "
    WORD   = [a-z0-9]+('[a-z]+)?  |  one of ! ?      ("don't" is one token, "!" and "?" are tokens)

Vocabulary: the words of the TRAIN split ranked by count (ties alphabetically); ids 0 "<pad>",
1 "<unk>", 2 + rank.  A word never seen in training is "<unk>" in every split.  The prepared cache
keeps the full ranking; ``vocab_size`` only caps it at load time (ids >= vocab_size -> 1).

Language modelling (shakespeare, austen): every work is cut at line boundaries into its first 90 %
(train), next 5 % (valid) and last 5 % (test); each split is the concatenation of its parts, works in
a fixed order.  Characters: every character of the corpus, sorted by code point.  Words: lowercased
words and punctuation marks, "<eos>" at every non-empty line's end, "<unk>" id 0, then the train
words by count (ties alphabetically), capped by ``vocab_size``.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")
LM_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|[^\sa-z]")
SPLITS_LM = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.90, 0.05, 0.05)


def tokenize(text):
    return WORD.findall(text.replace("<br />", " ").lower())


def rank_words(counter):
    """Words by count, ties alphabetically."""
    return sorted(counter, key=lambda w: (-counter[w], w))


def encode_documents(token_lists, is_train, specials=2):
    """Token lists -> (flat int32 ids, offsets int64, words ranked by train count).

    id = specials + rank for a train word, 1 ("<unk>") for a word that only the other splits have."""
    counts = Counter()
    for toks, train in zip(token_lists, is_train):
        if train:
            counts.update(toks)
    words = rank_words(counts)
    index = {w: specials + r for r, w in enumerate(words)}
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.fromiter((index.get(w, 1) for toks in token_lists for w in toks), dtype=np.int32,
                       count=int(offsets[-1]))
    return flat, offsets, words


def cap_vocab(ids, vocab_size, unk=1):
    """ids >= vocab_size -> unk (a copy)."""
    return np.where(ids < vocab_size, ids, unk).astype(np.int32)


def split_work(text):
    """One work -> its (train, valid, test) parts, cut at line boundaries (90/5/5 of the lines)."""
    lines = text.splitlines(keepends=True)
    n = len(lines)
    a = int(round(n * SPLIT_FRACTIONS[0]))
    b = int(round(n * (SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1])))
    return "".join(lines[:a]), "".join(lines[a:b]), "".join(lines[b:])


def split_works(works):
    """[text of each work] -> {"train": str, "valid": str, "test": str} (works kept in the given order)."""
    parts = [split_work(t if t.endswith("\n") else t + "\n") for t in works]
    return {s: "".join(p[i] for p in parts) for i, s in enumerate(SPLITS_LM)}


def lm_words(text):
    out = []
    for line in text.lower().splitlines():
        toks = LM_WORD.findall(line)
        if toks:
            out += toks
            out.append("<eos>")
    return out


def lm_arrays(texts):
    """{"train": str, ...} -> arrays for the prepared cache: the text of each split as code points
    (uint8 when every one is below 256, else uint32), and the word streams as ids into the full
    train ranking (0 "<unk>")."""
    out = {}
    words = {s: lm_words(texts[s]) for s in SPLITS_LM}
    ranked = rank_words(Counter(words["train"]))
    index = {w: 1 + r for r, w in enumerate(ranked)}
    for s in SPLITS_LM:
        codes = np.frombuffer(texts[s].encode("utf-32-le"), dtype=np.uint32)
        out[f"chars_{s}"] = codes.astype(np.uint8 if codes.max(initial=0) < 256 else np.uint32)
        out[f"words_{s}"] = np.fromiter((index.get(w, 0) for w in words[s]), dtype=np.int32,
                                        count=len(words[s]))
    out["word_vocab"] = np.array(["<unk>"] + ranked)
    return out


def lm_stream(arrays, split, level, vocab_size, name, source):
    """The prepared arrays -> a TextStream of one split."""
    from ..validate import choice
    from ._containers import TextStream
    from ._core import check_positive

    choice("level", level, ("char", "word"))
    if level == "char":
        codes = np.unique(np.concatenate([arrays[f"chars_{s}"] for s in SPLITS_LM]))
        ids = np.searchsorted(codes, arrays[f"chars_{split}"]).astype(np.int32)
        vocab = tuple(chr(c) for c in codes)
        meta = {}
    else:
        vocab_size = check_positive("vocab_size", vocab_size, minimum=2)
        full = arrays["word_vocab"]
        vocab = tuple(full[:vocab_size].tolist())
        ids = cap_vocab(arrays[f"words_{split}"], len(vocab), unk=0)
        meta = {"full_vocab_size": int(len(full))}
    return TextStream(ids=ids, vocab=vocab, level=level, name=name, split=split, source=source, meta=meta)
