"""Jane Austen's six completed novels for language modelling (Shakespeare's fallback): the texts of the
R package ``janeaustenr`` 1.0.0 (Julia Silge; MIT; the novels are in the public domain, from Project
Gutenberg) as Debian ships it (``r-cran-janeaustenr``): Sense and Sensibility, Pride and Prejudice,
Mansfield Park, Emma, Northanger Abbey, Persuasion; one string per printed line, about 4.3 M characters.

Source chain:
  1. npslim's cache: ``$NPSLIM_DATA/prepared/austen-v1.npz``;
  2. the package installed (``/usr/lib/R/site-library/janeaustenr``), or its .deb
     (``apt-get download r-cran-janeaustenr``; no root, nothing installed) in ``$NPSLIM_DATA/downloads/``.
The novels sit in R's lazy-load database (``data/Rdata.rdx`` index, ``data/Rdata.rdb`` objects, each
zlib-compressed R serialization); ``unserialize`` below reads the part of R's XDR format they use, so
R is not needed.  Splits and tokens as for shakespeare (90/5/5 of every novel's lines).
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ._registry import cached, check_split, register
from ._sources import Package, deb_members
from ._text import SPLITS_LM, lm_arrays, lm_stream, split_works

DEB = Package("deb", "r-cran-janeaustenr", "1.0.0-1", "r-cran-janeaustenr_1.0.0-1_all.deb",
              "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95")
SYSTEM = Path("/usr/lib/R/site-library/janeaustenr/data")
VERSION = 1
NOVELS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion")


class RObject:
    """An R value read by ``unserialize``: ``type`` (R's SEXPTYPE), ``value`` and ``attributes``."""

    def __init__(self, type_, value, attributes=None):
        self.type, self.value, self.attributes = type_, value, attributes or {}


def unserialize(data):
    """R's binary XDR serialization (format 2 or 3, as saveRDS and lazy-load databases write it) ->
    Python values: character vectors -> lists of str (None for NA), int / double / logical vectors ->
    NumPy arrays, lists -> lists, pairlists -> dicts; attributes are dropped except ``names`` on lists
    (a named list becomes a dict).  Environments, closures and byte code are not supported."""
    if data[:2] != b"X\n":
        raise ValueError("not R's XDR serialization (header 'X\\n')")
    pos = 2
    refs = []

    def ints(n):
        nonlocal pos
        out = struct.unpack_from(f">{n}i", data, pos)
        pos += 4 * n
        return out

    version, = ints(1)
    ints(2)
    if version == 3:
        n, = ints(1)
        pos += n

    def length():
        n, = ints(1)
        if n == -1:
            hi, lo = ints(2)
            n = (hi << 32) + lo
        return n

    def item():
        nonlocal pos
        flags, = ints(1)
        t = flags & 0xFF
        has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
        if t in (254, 242, 253, 241, 247, 251, 252):                      # NULL, environments, markers
            return None
        if t == 255:                                                      # reference
            i = flags >> 8
            return refs[(i if i else ints(1)[0]) - 1]
        if t == 1:                                                        # symbol
            name = item()
            refs.append(name)
            return name
        if t == 2:                                                        # pairlist
            out = {}
            while True:
                if has_attr:
                    item()
                tag = item() if has_tag else None
                out[tag if tag is not None else len(out)] = item()
                flags, = ints(1)
                t = flags & 0xFF
                has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
                if t == 254:
                    return out
                if t != 2:
                    pos -= 4
                    item()
                    return out
        if t == 9:                                                        # CHARSXP
            n, = ints(1)
            if n == -1:
                return None
            s = data[pos:pos + n].decode("utf-8" if flags & (1 << 15) or not flags & (1 << 13) else "latin-1")
            pos += n
            return s
        if t == 238:                                                      # ALTREP: class, state, attributes
            info, state, _ = item(), item(), item()
            cls = info[0] if isinstance(info, dict) else None
            if cls == "compact_intseq":
                n, start, step = (int(v) for v in state)
                return np.arange(start, start + n * step, step, dtype=np.int32)
            if cls == "compact_realseq":
                n, start, step = state
                return start + step * np.arange(int(n), dtype=np.float64)
            if cls in ("wrap_string", "wrap_integer", "wrap_real", "wrap_logical", "deferred_string"):
                return state[0] if isinstance(state, dict) else state
            raise ValueError(f"R ALTREP class {cls!r} is not supported")
        n = length()
        if t in (10, 13):
            value = np.frombuffer(data, dtype=">i4", count=n, offset=pos).astype(np.int32)
            pos += 4 * n
        elif t == 14:
            value = np.frombuffer(data, dtype=">f8", count=n, offset=pos).astype(np.float64)
            pos += 8 * n
        elif t == 16:
            value = [item() for _ in range(n)]
        elif t in (19, 20):
            value = [item() for _ in range(n)]
        else:
            raise ValueError(f"R SEXPTYPE {t} is not supported")
        if has_attr:
            attrs = item()
            names = attrs.get("names") if isinstance(attrs, dict) else None
            if t == 19 and names is not None:
                value = dict(zip(names, value))
        return value

    return item()


def read_lazyload(rdx: bytes, rdb: bytes):
    """R's lazy-load database (the .rdx index, the .rdb objects) -> {name: value}."""
    index = unserialize(gzip.decompress(rdx) if rdx[:2] == b"\x1f\x8b" else zlib.decompress(rdx[4:]))
    compressed = index.get("compressed")
    kind = int(np.asarray(compressed).ravel()[0]) if compressed is not None else 1
    out = {}
    for name, (offset, size) in index["variables"].items():
        blob = rdb[int(offset):int(offset) + int(size)]
        if kind in (2, 3):
            method, body = blob[4:5], blob[5:]
            raw = {b"Z": zlib.decompress, b"0": lambda b: b}.get(method)
            if raw is None:
                import bz2
                import lzma
                raw = {b"2": bz2.decompress, b"X": lzma.decompress}[method]
            out[name] = unserialize(raw(body))
        else:
            out[name] = unserialize(zlib.decompress(blob[4:]))
    return out


def _novels(files):
    objects = read_lazyload(files["Rdata.rdx"], files["Rdata.rdb"])
    missing = [n for n in NOVELS if n not in objects]
    if missing:
        raise ValueError(f"janeaustenr: novels {missing} not found (have {sorted(objects)})")
    texts = split_works(["\n".join(line or "" for line in objects[n]) + "\n" for n in NOVELS])
    arrays = lm_arrays(texts)
    arrays["works"] = np.array(NOVELS)
    return arrays


def _system():
    return SYSTEM if (SYSTEM / "Rdata.rdx").is_file() and (SYSTEM / "Rdata.rdb").is_file() else None


def read_folder(folder):
    return _novels({f: (Path(folder) / f).read_bytes() for f in ("Rdata.rdx", "Rdata.rdb")})


def read_deb(path):
    raw = deb_members(path, ["data/Rdata.rdx", "data/Rdata.rdb"])
    return _novels({"Rdata.rdx": raw["data/Rdata.rdx"], "Rdata.rdb": raw["data/Rdata.rdb"]})


@register("austen", version=VERSION, splits=SPLITS_LM, sources=(DEB,), local=lambda: _system() and str(SYSTEM),
          summary="Jane Austen's 6 novels (Shakespeare's fallback), characters or words, 90/5/5 per novel")
def load_austen(split="train", level="char", vocab_size=10000):
    """A TextStream of one split, as ``load("shakespeare", ...)`` takes and returns."""
    check_split("austen", split)
    arrays, source = cached("austen", VERSION, [(_system, read_folder), (DEB, read_deb)])
    return lm_stream(arrays, split, level, vocab_size, "austen", source)
