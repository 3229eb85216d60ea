"""Frame sequences from the UEA/UCR archive, bundled with the ``aeon`` toolkit: the stand-in for TIMIT.

``vowels``: Japanese Vowels (Kudo, Toyama and Shimbo 1999; UCI): nine male speakers saying /ae/; each
utterance 7..29 frames of 12 LPC cepstral coefficients; task: the speaker.  270 train (30 per
speaker), 370 test (24..88 per speaker), the archive's split.
``motions``: BasicMotions (UEA archive): 3-D accelerometer and gyroscope of a smart watch, 100 frames,
6 channels; four activities (Standing, Running, Walking, Badminton); 40 train, 40 test.

Source chain:
  1. npslim's cache: ``$NPSLIM_DATA/prepared/NAME-v1.npz``;
  2. an installed ``aeon`` (its ``aeon/datasets/data/<Problem>/*.ts``, read without importing aeon);
  3. the aeon wheel (``pip download --no-deps aeon==1.6.0``, 6.4 MB, not installed) in
     ``$NPSLIM_DATA/downloads/``, read as a zip;
  4. the canonical ``<Problem>.zip`` of timeseriesclassification.com (explicit fetch only).
The .ts files are parsed here (a small reader: header lines, then one series a line, channels
separated by ':', the class label last).  Values are kept as they are; ``standardize=True`` scales
every channel by the train split's mean and standard deviation.
"""
from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import numpy as np

from ._containers import Sequences, pad_time_major
from ._registry import cached, check_split, register
from ._sources import Package, Url

WHEEL = Package("pypi", "aeon", "1.6.0", "aeon-1.6.0-py3-none-any.whl",
                "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409")
VERSION = 1
SPLIT_CODE = {"train": 0, "test": 1}
PROBLEMS = {"vowels": "JapaneseVowels", "motions": "BasicMotions"}


def parse_ts(text):
    """A .ts file -> (list of (T, m) float arrays, list of class labels, the declared class labels)."""
    series, labels, declared = [], [], None
    in_data = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                parts = line.split()
                declared = parts[2:] if len(parts) > 2 and parts[1].lower() == "true" else None
            elif low.startswith("@data"):
                in_data = True
            continue
        *channels, label = line.split(":")
        if any("?" in c for c in channels):
            raise ValueError(".ts: missing values ('?') are not supported")
        arr = np.array([np.array(c.split(","), dtype=np.float64) for c in channels])     # (m, T)
        series.append(arr.T)
        labels.append(label.strip())
    if not in_data:
        raise ValueError(".ts: no @data line")
    return series, labels, declared


def _installed_aeon():
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return root if root.is_dir() else None


def _reader(problem):
    """read(path) for every kind of source: a folder of problems, the aeon wheel, or the archive's zip."""
    def read_text(path, split):
        fname = f"{problem}_{split.upper()}.ts"
        path = Path(path)
        if path.is_dir():                                   # installed aeon, or an unpacked archive zip
            for cand in (path / problem / fname, path / fname):
                if cand.is_file():
                    return cand.read_text()
            raise FileNotFoundError(f"{path}: no {fname}")
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/" + fname) or n == fname]
            if not names:
                raise FileNotFoundError(f"{path}: no {fname}")
            return z.read(sorted(names, key=len)[0]).decode()

    def read(path):
        frames, offsets, labels, split, declared = [], [0], [], [], None
        for code, s in enumerate(("train", "test")):
            series, labs, declared = parse_ts(read_text(path, s))
            for x in series:
                frames.append(x)
                offsets.append(offsets[-1] + len(x))
            labels += labs
            split += [code] * len(series)
        classes = declared or sorted(set(labels))
        return {"frames": np.concatenate(frames).astype(np.float32), "offsets": np.array(offsets, dtype=np.int64),
                "labels": np.array([classes.index(l) for l in labels], dtype=np.int64),
                "split": np.array(split, dtype=np.int8), "classes": np.array(classes)}
    return read


def _url(problem):
    return Url(f"uea-{problem}", ((f"{problem}.zip",
                                   f"https://www.timeseriesclassification.com/aeon-toolkit/{problem}.zip"),))


def _load(name, split, standardize):
    check_split(name, split)
    problem = PROBLEMS[name]
    url = _url(problem)
    arrays, source = cached(name, VERSION, [(_installed_aeon, _reader(problem)), (WHEEL, _reader(problem)),
                                            (lambda: url.find() and url.path / f"{problem}.zip", _reader(problem))])
    frames = arrays["frames"]
    if standardize:
        rows = np.repeat(arrays["split"], np.diff(arrays["offsets"])) == SPLIT_CODE["train"]
        mean, std = frames[rows].mean(axis=0), frames[rows].std(axis=0)
        frames = ((frames - mean) / np.where(std > 0, std, 1)).astype(np.float32)
    index = np.flatnonzero(arrays["split"] == SPLIT_CODE[split])
    X, lengths = pad_time_major(frames, arrays["offsets"], index)
    return Sequences(X=X, lengths=lengths, y=arrays["labels"][index], classes=tuple(arrays["classes"].tolist()),
                     name=name, split=split, source=source, meta={"standardized": bool(standardize)})


@register("vowels", version=VERSION, splits=("train", "test"), sources=(WHEEL, _url("JapaneseVowels")),
          local=lambda: _installed_aeon() and "aeon (installed)",
          summary="Japanese Vowels: 12 cepstra per frame, 7-29 frames, 9 speakers, 270/370 (TIMIT stand-in)")
def load_vowels(split="train", standardize=False):
    """Japanese Vowels: X (29, N, 12) float32 padded at the end, lengths 7..29, y the speaker (0..8)."""
    return _load("vowels", split, standardize)


@register("motions", version=VERSION, splits=("train", "test"), sources=(WHEEL, _url("BasicMotions")),
          local=lambda: _installed_aeon() and "aeon (installed)",
          summary="BasicMotions: 6 motion channels, 100 frames, 4 activities, 40/40")
def load_motions(split="train", standardize=False):
    """BasicMotions: X (100, N, 6) float32, y the activity (Standing, Running, Walking, Badminton)."""
    return _load("motions", split, standardize)
