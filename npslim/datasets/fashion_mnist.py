"""Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 60,000 training and 10,000 test 28x28 grey images of
10 kinds of clothing, a drop-in replacement for MNIST (the fallback when MNIST cannot be had).

Source chain:
  1. npslim's cache: ``$NPSLIM_DATA/prepared/fashion-mnist-v1.npz``;
  2. Debian's ``dataset-fashion-mnist`` installed (``/usr/share/datasets/fashion-mnist/*.gz``);
  3. that Debian package's .deb in ``$NPSLIM_DATA/downloads/`` (``apt-get download``; no root, nothing
     installed), read with Python;
  4. the canonical files from Zalando's download page (explicit fetch only).
Every idx file is checked against the sha256 of the original (decompressed) file.
"""
from __future__ import annotations

from pathlib import Path

from ._registry import cached, check_split, register
from ._sources import Package, Url, deb_members
from .mnist import FILES, _checked, image_sequences, read_gz_folder

SHA256 = {"train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
          "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
          "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
          "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}
DEB = Package("deb", "dataset-fashion-mnist", "0.0~git20200523.55506a9-1",
              "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
              "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0")
SYSTEM = Path("/usr/share/datasets/fashion-mnist")
URL = Url("fashion-mnist-zalando",
          tuple((f + ".gz", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" + f + ".gz")
                for f in FILES.values()))
VERSION = 1
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


def _system():
    return SYSTEM if all((SYSTEM / (f + ".gz")).is_file() for f in FILES.values()) else None


def read_deb(path):
    import gzip

    raw = deb_members(path, [f + ".gz" for f in FILES.values()])
    return {k: _checked(k, gzip.decompress(raw[f + ".gz"]), SHA256, path) for k, f in FILES.items()}


@register("fashion-mnist", version=VERSION, splits=("train", "test"), sources=(DEB, URL),
          local=lambda: _system() and str(SYSTEM),
          summary="Fashion-MNIST 60k/10k (MNIST's fallback), rows or pixels like mnist")
def load_fashion_mnist(split="train", mode="rows", permuted=False, limit=None):
    """Fashion-MNIST, the same shapes and options as ``mnist``; y the clothing class (CLASSES)."""
    check_split("fashion-mnist", split)
    arrays, source = cached("fashion-mnist", VERSION, [
        (_system, lambda p: read_gz_folder(p, sha256=SHA256)), (DEB, read_deb),
        (URL, lambda p: read_gz_folder(p, sha256=SHA256))])
    return image_sequences(arrays[f"{split}_images"], arrays[f"{split}_labels"], mode=mode,
                           permuted=permuted, limit=limit, scale=255, classes=CLASSES,
                           name="fashion-mnist", split=split, source=source)
