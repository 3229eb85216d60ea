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
    with folder_lock(run_folder): train()                        # one writer per folder at a time
    remove_temporaries(run_folder)                               # what killed writes left (under the lock)
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "save_npz_atomic", "write_text_atomic", "write_json_atomic", "load_npz", "jsonable",
           "FolderInUse", "folder_lock", "remove_temporaries"]


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


class FolderInUse(RuntimeError):
    """Another process holds the lock of a folder (:func:`folder_lock`)."""


@contextlib.contextmanager
def folder_lock(folder):
    """Hold the exclusive lock of ``folder`` inside the block: its file ``.lock``, locked with
    ``fcntl.flock`` (``msvcrt.locking`` on Windows) and holding the holder's pid.  A second process
    asking for it gets :class:`FolderInUse` at once.  The operating system drops the lock when its
    process ends, however it ends (kill -9 included), so a lock is never stale: the file left behind
    is unlocked and the next run takes it."""
    path = Path(folder) / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _lock_fd(fd)
        except OSError:
            os.lseek(fd, 0, os.SEEK_SET)
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            raise FolderInUse(f"{folder} is in use by another run ({holder}); wait for it to end or choose "
                              f"another folder") from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"pid {os.getpid()}".encode())
        yield path
    finally:
        os.close(fd)                            # closing the descriptor releases the lock


def _lock_fd(fd):
    try:
        import fcntl
    except ImportError:                         # Windows
        import msvcrt
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


#: the names of the temporary files of :func:`atomic_path` (".checkpoint.npz.k3j2.part.npz"), and of
#: older ".<name>.<random>.tmp" ones
TEMPORARY_PATTERNS = (".*.part", ".*.part.*", ".*.tmp")


def remove_temporaries(folder, depth=1):
    """Remove the temporary files that writes killed before their rename left in ``folder`` (and in
    its sub-folders down to ``depth`` levels); returns their paths.  Only for a folder whose writers
    are all stopped: call it while holding :func:`folder_lock`."""
    folder, removed = Path(folder), []
    for level in range(depth + 1):
        for pattern in TEMPORARY_PATTERNS:
            for path in folder.glob("/".join(["*"] * level + [pattern])):
                if path.is_file():
                    path.unlink()
                    removed.append(path)
    return removed
