#!/usr/bin/env python
"""Rebuild npslim/datasets/data/chorales.npz: Bach chorales as quarter-note piano rolls (MIDI 21-108).

The stand-in for JSB Chorales (Boulanger-Lewandowski et al. 2012), made from the Bach chorales that
music21 bundles (Riemenschneider's 371, numbered).  Needs music21 (BSD-3-Clause), which npslim itself
does not: run it in a throw-away environment::

    python -m venv --system-site-packages /tmp/m21 && /tmp/m21/bin/pip install music21==10.5.1
    /tmp/m21/bin/python datasets/prepare_chorales.py            # about 30-60 s on 2 cores

What it does, chorale by chorale (music21.corpus.chorales.Iterator(), numberingSystem riemenschneider):
  * only the sung parts count: part names starting Soprano, Alto, Tenor or Bass (or four unnamed
    parts); the instruments that 18 of the files add (horns, trumpets, timpani, strings, organ,
    continuo) are left out;
  * every note and chord of them sounds on frame t (t = 0, 1, ...; one frame per quarter note,
    sampled at the start of the quarter) when its onset <= t < onset + duration, in quarter lengths
    from the start of the score; the roll has 88 columns, column k = MIDI pitch 21 + k;
  * frames run from 0 to ceil(highest time) - 1; no transposition (original keys);
  * the same file listed under two Riemenschneider numbers is kept once, and so is a roll that
    equals an earlier one exactly (the same harmonisation filed under two BWV numbers);
  * split by the BWV catalogue number (integer part of 'bwv153.1' -> 153):  153 % 5 in {0, 1, 2}
    train, 3 valid, 4 test (about 60/20/20, as JSB's 229/76/77); every harmonisation of one
    cantata lands in the same split.
Stored (np.savez_compressed): rolls packed with np.packbits along the pitch axis (frames, 11) uint8,
offsets (N+1,), names ('bwv153.1'), riemenschneider numbers (the first one listed), split codes
(0 train, 1 valid, 2 test), and the music21 version.  Written atomically and reproducibly (fixed
zip time stamps: the same rolls give the same sha256, which tests/test_datasets.py checks).
"""
import argparse
import math
import re
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from npslim.datasets._core import save_npz, sha256_file    # atomic, reproducible .npz (same arrays, same bytes)

LOW, HIGH = 21, 108                         # MIDI pitches A0 .. C8, 88 keys
OUT = Path(__file__).resolve().parents[1] / "npslim" / "datasets" / "data" / "chorales.npz"


VOICES = ("soprano", "alto", "tenor", "bass")


def vocal_parts(score):
    """The sung parts (a part name starting Soprano/Alto/Tenor/Bass): instruments that some chorales
    add (horns, trumpets, timpani, violins, organ, continuo) are left out."""
    parts = [p for p in score.parts if (p.partName or "").split(" ")[0].lower() in VOICES]
    if not parts and len(score.parts) == 4:             # four parts, unnamed: the four voices
        return list(score.parts)
    if not parts:
        raise ValueError(f"no part named {VOICES}: {[p.partName for p in score.parts]}")
    return parts


def roll_of(score):
    """(T, 88) bool piano roll of the sung parts at one frame per quarter note."""
    notes = [n for part in vocal_parts(score) for n in part.flatten().notes]
    T = int(math.ceil(float(score.highestTime) - 1e-9))
    roll = np.zeros((T, HIGH - LOW + 1), dtype=bool)
    for n in notes:
        on = float(n.offset)
        off = on + float(n.quarterLength)
        first, last = int(math.ceil(on - 1e-9)), int(math.ceil(off - 1e-9))   # frames t with on <= t < off
        for p in n.pitches:
            if not LOW <= p.midi <= HIGH:
                raise ValueError(f"pitch {p.midi} outside {LOW}..{HIGH}")
            roll[first:min(last, T), p.midi - LOW] = True
    return roll


def split_of(name):
    bwv = int(re.match(r"bwv(\d+)", name).group(1))
    r = bwv % 5
    return 0 if r <= 2 else (1 if r == 3 else 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT,
                        help=f"where to write (default {OUT}; $NPSLIM_DATA/prepared/chorales-v1.npz is read first)")
    out = parser.parse_args(argv).out
    import music21
    from music21 import corpus

    it = corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename")
    listed = list(it)                                   # 371 entries, in Riemenschneider order
    seen_files, seen_rolls = set(), {}
    names, numbers, rolls = [], [], []
    for number, fname in enumerate(tqdm(listed, desc="chorales", unit="chorale"), start=1):
        if fname in seen_files:
            continue
        seen_files.add(fname)
        roll = roll_of(corpus.parse(fname))
        key = roll.tobytes() + bytes(str(roll.shape), "ascii")
        name = fname.split("/")[-1]
        if key in seen_rolls:
            print(f"  {name}: same roll as {seen_rolls[key]}, kept once", file=sys.stderr)
            continue
        seen_rolls[key] = name
        names.append(name)
        numbers.append(number)
        rolls.append(roll)
    lengths = np.array([len(r) for r in rolls], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    frames = np.concatenate(rolls, axis=0)
    split = np.array([split_of(n) for n in names], dtype=np.int8)
    save_npz(out, compressed=True, packed=np.packbits(frames, axis=1), offsets=offsets,
             names=np.array(names), riemenschneider=np.array(numbers, dtype=np.int16),
             split=split, pitch_low=np.int16(LOW), music21_version=np.array(music21.__version__))
    counts = np.bincount(split, minlength=3)
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {sha256_file(out)}): "
          f"{len(names)} chorales of {len(listed)} listed, "
          f"{int(lengths.sum())} frames, lengths {lengths.min()}-{lengths.max()}, "
          f"train/valid/test {counts[0]}/{counts[1]}/{counts[2]}")


if __name__ == "__main__":
    main()
