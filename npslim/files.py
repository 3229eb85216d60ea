"""Files that are never half-written: one atomic writer for checkpoints, histories, run
configurations and prepared datasets.

Every write goes to a temporary file in the destination's folder, which is flushed and fsynced,
then ``os.replace``d over the destination (atomic on POSIX and Windows), and the folder is fsynced
so that the rename itself is durable.  A crash at any moment leaves either the old file or the new
one complete; the temporary file is removed if writing fails.

    save_npz_atomic(path, {"w": W, "epoch": np.array(3)})      # a checkpoint
    write_text_atomic(path, text)                                # history.csv, results.txt, ...
    write_json_atomic(path, config)                              # config.json, history.json, ...
    with atomic_path(path) as tmp: download_into(tmp)            # any other writer
    arrays = load_npz(path)                                      # name -> host array, no pickles
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "save_npz_atomic", "write_text_atomic", "write_json_atomic", "load_npz", "jsonable"]


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside ``path`` (its folder is created); when the block ends without
    an exception, fsync the temporary file, move it onto ``path`` and fsync the folder.  On an
    exception the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part" + suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:             # the data on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    with contextlib.suppress(OSError):          # make the rename itself durable (POSIX)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def save_npz_atomic(path, arrays):
    """Write ``arrays`` (name -> array or scalar) to ``path`` as .npz (``np.savez``), atomically.
    Returns the path."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def write_text_atomic(path, text, newline=None):
    """Write the string ``text`` to ``path`` (UTF-8), atomically.  ``newline`` as for ``open``
    ("" for CSV written by the csv module).  Returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)
    return path


def write_json_atomic(path, obj):
    """Write ``obj`` as indented JSON (:func:`jsonable`, NaN and inf as null), atomically."""
    return write_text_atomic(path, json.dumps(jsonable(obj, strict=True), indent=1) + "\n")


def jsonable(obj, strict=False):
    """Plain Python values for JSON; ``strict``: NaN and inf become null (files for other tools;
    checkpoints keep them, Python's json reads them back exactly)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v, strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, strict) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if strict and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def load_npz(path):
    """Every entry of an .npz file as a dict of host arrays (never unpickled; a corrupt file raises
    :class:`npslim.model_io.CorruptFile` naming it)."""
    from .model_io import read_npz
    return read_npz(path)
