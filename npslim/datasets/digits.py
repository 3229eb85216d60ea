"""scikit-learn's bundled handwritten digits (the UCI "optdigits" test set, Alpaydin and Kaynak 1998):
1,797 images of 8x8 pixels with 17 grey levels (0..16), read row by row (T=8, m=8) or pixel by pixel
(T=64, m=1).  Always present: the file ships inside scikit-learn (``sklearn/datasets/data/digits.csv.gz``),
nothing to fetch.  Fixed split: the first 1,437 images (80 %) train, the last 360 test (no shuffling;
the file cycles through the ten digits, so both splits are balanced).
"""
from __future__ import annotations

import numpy as np

from ._registry import check_split, register
from .mnist import image_sequences

N_TRAIN = 1437
CLASSES = tuple(str(d) for d in range(10))


def _local():
    import importlib.util

    return "scikit-learn's bundled digits" if importlib.util.find_spec("sklearn") else None


@register("digits", splits=("train", "test"), local=_local,
          summary="scikit-learn's 8x8 digits, 1437/360, rows (8x8) or pixels (64x1); always present",
          hint="It ships with scikit-learn: pip install scikit-learn")
def load_digits(split="train", mode="rows", permuted=False, limit=None):
    """The 8x8 digits as time-major sequences: "rows" X (8, N, 8), "pixels" X (64, N, 1); values in [0, 1]."""
    from . import REGISTRY

    check_split("digits", split)
    if _local() is None:
        raise REGISTRY["digits"].not_found()
    from sklearn.datasets import load_digits as sk_load

    d = sk_load()
    images, labels = d.images.astype(np.uint8), d.target
    part = slice(0, N_TRAIN) if split == "train" else slice(N_TRAIN, None)
    return image_sequences(images[part], labels[part], mode=mode, permuted=permuted, limit=limit,
                           scale=16, classes=CLASSES, name="digits", split=split,
                           source="sklearn.datasets.load_digits")
