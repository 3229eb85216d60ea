"""Bach chorales as quarter-note piano rolls, the stand-in for JSB Chorales (Boulanger-Lewandowski,
Bengio and Vincent 2012, who used 382 four-part chorales, 229/76/77): 348 distinct chorales from the
Riemenschneider-numbered set (371 entries) that music21 bundles, one frame per quarter note, 88
binary units (MIDI 21..108).  Task: predict frame t+1 from frames <= t (X[:-1] -> X[1:]).

Source chain:
  1. npslim's cache: ``$NPSLIM_DATA/prepared/chorales-v1.npz`` (a rebuild of your own, if any);
  2. the prepared file shipped with npslim: ``npslim/datasets/data/chorales.npz`` (42 KB), made by
     ``datasets/prepare_chorales.py`` from music21 10.5.1's corpus (music21 is needed only to rebuild).
Split by BWV number: BWV % 5 in {0, 1, 2} train (197), 3 valid (74), 4 test (77).  See the rebuild
script for the exact rules (onsets, durations, duplicates).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import load_npz
from ._containers import Sequences, pad_time_major
from ._core import prepared_path
from ._registry import check_split, register

SHIPPED = Path(__file__).resolve().parent / "data" / "chorales.npz"
VERSION = 1
SPLIT_CODE = {"train": 0, "valid": 1, "test": 2}
PITCH_LOW = 21
N_PITCHES = 88


def _shipped():
    return SHIPPED if SHIPPED.is_file() else None


@register("chorales", version=VERSION, splits=("train", "valid", "test"),
          local=lambda: _shipped() and str(SHIPPED),
          summary="Bach chorales (JSB stand-in), piano rolls (T, N, 88), 197/74/77; shipped",
          hint="The prepared file ships with npslim (npslim/datasets/data/chorales.npz); to rebuild it, "
               "run datasets/prepare_chorales.py with music21 installed (see datasets/README.md).")
def load_chorales(split="train"):
    """Piano rolls: X (T, N, 88) float32 in {0, 1}, zero past each length; y None; meta["names"]
    ("bwv153.1", ...) and meta["riemenschneider"] numbers.  Column k is MIDI pitch 21 + k."""
    from . import REGISTRY

    check_split("chorales", split)
    rebuilt = prepared_path("chorales", VERSION)
    path = rebuilt if rebuilt.is_file() else _shipped()
    if path is None:
        raise REGISTRY["chorales"].not_found()
    arrays, source = load_npz(path), str(path)
    frames = np.unpackbits(arrays["packed"], axis=1, count=N_PITCHES)
    index = np.flatnonzero(arrays["split"] == SPLIT_CODE[split])
    X, lengths = pad_time_major(frames, arrays["offsets"], index)
    return Sequences(X=X.astype(np.float32), lengths=lengths, y=None, classes=(), name="chorales",
                     split=split, source=source,
                     meta={"names": arrays["names"][index], "riemenschneider": arrays["riemenschneider"][index],
                           "pitch_low": PITCH_LOW})
