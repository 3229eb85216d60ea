"""20 Newsgroups, "bydate" version (Lang 1995; Rennie's sorted-by-date split): 18,846 posts in 20
groups, 11,314 train (the earlier posts) and 7,532 test.  No package registry carries it, so npslim
cannot fetch it without internet: this loader reads it when you have it.

Source chain:
  1. npslim's cache: ``$NPSLIM_DATA/prepared/20newsgroups-v1.npz``;
  2. ``20news-bydate.tar.gz`` in ``$NPSLIM_DATA/downloads/20newsgroups/`` (put it there, or let
     ``python -m npslim.datasets fetch 20newsgroups`` download it from Jason Rennie's page), or the
     unpacked folders ``20news-bydate-train/`` and ``20news-bydate-test/`` in ``$NPSLIM_DATA/20news-bydate/``;
  3. scikit-learn's cache, if ``sklearn.datasets.fetch_20newsgroups`` ever downloaded it on this machine.
Preprocessing: each post's header (everything before the first blank line, which names the group) is
removed, the rest tokenised as IMDB is (``npslim.datasets._text``); posts that keep no token are
dropped (the count is in ``meta``).  Order: group by group, files by name, as scikit-learn's
``shuffle=False``.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from ._core import data_dir
from ._registry import cached, check_split, register
from ._sources import Url
from .imdb import documents, encode

URL = Url("20newsgroups", (("20news-bydate.tar.gz", "http://qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz"),))
VERSION = 1
SPLIT_CODE = {"train": 0, "test": 1}
FOLDERS = {"20news-bydate-train": 0, "20news-bydate-test": 1}


def strip_header(text):
    """Everything after the first blank line (none: the post is all header), as scikit-learn does."""
    return text.partition("\n\n")[2]


def _rows_to_arrays(rows):
    """rows (split code, group, file name, raw text) -> texts, labels, split codes, group names."""
    groups = sorted({r[1] for r in rows})
    rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    texts = [strip_header(r[3]) for r in rows]
    labels = np.array([groups.index(r[1]) for r in rows], dtype=np.int8)
    split = np.array([r[0] for r in rows], dtype=np.int8)
    return texts, labels, split, groups


def read_tarball(folder):
    rows = []
    with tarfile.open(Path(folder) / "20news-bydate.tar.gz", "r:gz") as tar:
        for m in tar:
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 3 and parts[0] in FOLDERS:
                rows.append((FOLDERS[parts[0]], parts[1], parts[2], tar.extractfile(m).read().decode("latin-1")))
    return rows


def read_folders(root):
    rows = []
    for folder, code in FOLDERS.items():
        for f in sorted((Path(root) / folder).glob("*/*")):
            if f.is_file():
                rows.append((code, f.parent.name, f.name, f.read_bytes().decode("latin-1")))
    return rows


def read_sklearn(_):
    from sklearn.datasets import fetch_20newsgroups

    rows = []
    for split, code in SPLIT_CODE.items():
        d = fetch_20newsgroups(subset=split, shuffle=False, download_if_missing=False)
        for text, target, fname in zip(d.data, d.target, d.filenames):
            rows.append((code, d.target_names[target], Path(fname).name, text))
    return rows


def _folder():
    root = data_dir() / "20news-bydate"
    return root if all((root / f).is_dir() for f in FOLDERS) else None


def _sklearn():
    try:
        from sklearn.datasets import get_data_home
    except ImportError:
        return None
    pkz = Path(get_data_home()) / "20news-bydate_py3.pkz"
    return pkz if pkz.is_file() else None


def _prepare(read_rows):
    def prepare(path):
        texts, labels, split, groups = _rows_to_arrays(read_rows(path))
        arrays = encode("20newsgroups", lambda _: (texts, labels, split))(path)
        keep = np.diff(arrays["offsets"]) > 0                      # posts with no token after the header
        if not keep.all():
            lengths = np.diff(arrays["offsets"])[keep]
            starts = arrays["offsets"][:-1][keep]
            arrays["tokens"] = np.concatenate([arrays["tokens"][s:s + n] for s, n in zip(starts, lengths)])
            arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            arrays["labels"], arrays["split"] = arrays["labels"][keep], arrays["split"][keep]
        arrays["dropped"] = np.int64((~keep).sum())
        arrays["groups"] = np.array(groups)
        return arrays
    return prepare


@register("20newsgroups", version=VERSION, splits=("train", "test"), sources=(URL,),
          local=lambda: (_folder() and str(_folder())) or (_sklearn() and str(_sklearn())),
          summary="20 Newsgroups bydate, 20 classes, word ids (T, N); only if you have the files",
          hint="No package registry carries 20 Newsgroups: with internet, the fetch above downloads it; "
               "else copy 20news-bydate.tar.gz into $NPSLIM_DATA/downloads/20newsgroups/.")
def load_newsgroups(split="train", vocab_size=20000, maxlen=400, keep="first"):
    """20 Newsgroups as padded time-major word ids: ids (T, N) int32, lengths, y the group (0..19),
    classes the group names; options as for ``imdb``."""
    check_split("20newsgroups", split)
    arrays, source = cached("20newsgroups", VERSION, [(URL, _prepare(read_tarball)), (_folder, _prepare(read_folders)),
                                                      (_sklearn, _prepare(read_sklearn))])
    out = documents(arrays, source, name="20newsgroups", split=split, split_codes=SPLIT_CODE,
                    classes=tuple(arrays["groups"].tolist()), vocab_size=vocab_size, maxlen=maxlen, keep=keep)
    out.meta["dropped_empty"] = int(arrays["dropped"])
    return out
