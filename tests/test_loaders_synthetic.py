"""The loaders' parsing and scaling on small files made here, in the formats the real sources ship
(idx files in an npm tarball, UEA .ts files): they run on any machine, with or without the fetched
data (tests/test_datasets.py checks the real files where they are present)."""
import io
import tarfile

import numpy as np
import pytest

from npslim.datasets import fashion_mnist, mnist, vowels

H, W = 3, 4


def idx_bytes(a):
    """``a`` (uint8) as an idx file: magic 0, 0, 0x08, ndim; the dims big-endian; the bytes."""
    a = np.asarray(a, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + np.array(a.shape, dtype=">u4").tobytes() + a.tobytes()


def raw_images(N, seed):
    images = np.random.default_rng(seed).integers(0, 256, (N, H, W), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255                  # both ends of the range
    return images, np.arange(N, dtype=np.uint8) % 10


def npm_tarball(path, arrays):
    with tarfile.open(path, "w:gz") as tar:
        for key, fname in mnist.FILES.items():
            data = idx_bytes(arrays[key])
            info = tarfile.TarInfo(f"package/data/{fname}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def synthetic_arrays():
    (tri, trl), (tei, tel) = raw_images(5, 0), raw_images(3, 1)
    return {"train_images": tri, "train_labels": trl, "test_images": tei, "test_labels": tel}


def test_idx_files_in_an_npm_tarball_read_back_exactly(tmp_path):
    arrays = synthetic_arrays()
    npm_tarball(tmp_path / "mnist.tgz", arrays)
    read = mnist.read_npm_tarball(tmp_path / "mnist.tgz", sha256={})       # no checksum: these are ours
    for key in arrays:
        np.testing.assert_array_equal(read[key], arrays[key])
    with pytest.raises(ValueError, match="sha256"):
        mnist.read_npm_tarball(tmp_path / "mnist.tgz")                     # the real checksums refuse them
    with pytest.raises(ValueError, match="idx"):
        mnist.read_idx(b"\x00\x00\x0d\x01" + bytes(8))                     # not unsigned bytes


@pytest.mark.parametrize("module, load", [(mnist, mnist.load_mnist), (fashion_mnist, fashion_mnist.load_fashion_mnist)])
@pytest.mark.parametrize("split", ["train", "test"])
def test_image_loaders_scale_to_the_unit_interval_in_both_layouts(module, load, split, monkeypatch):
    """Values / 255 in [0, 1] (0 -> 0, 255 -> 1), float32; rows: X[t, n, :] = row t of image n;
    pixels: X[t, n, 0] = pixel t (row-major) of image n; permuted: one fixed permutation of the pixels."""
    arrays = synthetic_arrays()
    monkeypatch.setattr(module, "cached", lambda *a, **k: (arrays, "synthetic"))
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    N = len(images)

    rows = load(split=split, mode="rows")
    assert rows.X.dtype == np.float32 and rows.X.shape == (H, N, W)
    np.testing.assert_allclose(rows.X, images.transpose(1, 0, 2) / np.float32(255), rtol=1e-7)
    np.testing.assert_array_equal(rows.y, labels)
    np.testing.assert_array_equal(rows.lengths, np.full(N, H))
    if split == "train":
        assert rows.X[0, 0, 0] == 0.0 and rows.X[0, 0, 1] == 1.0

    pixels = load(split=split, mode="pixels")
    assert pixels.X.shape == (H * W, N, 1)
    np.testing.assert_allclose(pixels.X[:, :, 0], images.reshape(N, H * W).T / np.float32(255), rtol=1e-7)

    permuted = load(split=split, mode="pixels", permuted=True)
    again = load(split=split, mode="pixels", permuted=True)
    np.testing.assert_array_equal(permuted.X, again.X)                             # a fixed order
    np.testing.assert_array_equal(np.sort(permuted.X, axis=0), np.sort(pixels.X, axis=0))
    assert not np.array_equal(permuted.X, pixels.X)
    assert len(load(split=split, limit=2).y) == 2


TS_HEADER = """# a UEA multivariate file made by the test
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
"""


def ts_text(series, labels):
    lines = [":".join(",".join(f"{v:g}" for v in channel) for channel in x.T) + f":{y}"
             for x, y in zip(series, labels)]
    return TS_HEADER + "\n".join(lines) + "\n"


def test_ts_files_parse_and_standardize_with_the_train_statistics(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    train = [np.round(rng.normal(5.0, 2.0, (L, 2)), 3) for L in (4, 2, 3)]
    test = [np.round(rng.normal(-1.0, 1.0, (L, 2)), 3) for L in (3, 1)]
    folder = tmp_path / "JapaneseVowels"
    folder.mkdir()
    (folder / "JapaneseVowels_TRAIN.ts").write_text(ts_text(train, ["b", "a", "b"]))
    (folder / "JapaneseVowels_TEST.ts").write_text(ts_text(test, ["a", "b"]))

    series, labels, declared = vowels.parse_ts((folder / "JapaneseVowels_TRAIN.ts").read_text())
    assert declared == ["a", "b"] and labels == ["b", "a", "b"]
    for a, b in zip(series, train):
        np.testing.assert_array_equal(a, b)

    arrays = vowels._reader("JapaneseVowels")(tmp_path)
    monkeypatch.setattr(vowels, "cached", lambda *a, **k: (arrays, "synthetic"))
    raw = vowels.load_vowels("test")
    assert raw.X.shape == (3, 2, 2) and list(raw.lengths) == [3, 1] and list(raw.y) == [0, 1]
    np.testing.assert_allclose(raw.X[:3, 0], test[0], rtol=1e-6)
    assert np.all(raw.X[1:, 1] == 0)                                          # padded at the end

    frames = np.concatenate(train)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    scaled_train, scaled_test = vowels.load_vowels("train", standardize=True), vowels.load_vowels("test", standardize=True)
    valid = np.concatenate([scaled_train.X[:L, b] for b, L in enumerate(scaled_train.lengths)])
    np.testing.assert_allclose(valid.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(valid.std(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(scaled_test.X[:3, 0], (test[0] - mean) / std, rtol=1e-5)   # train's statistics
