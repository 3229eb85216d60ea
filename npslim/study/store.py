"""A study folder: ``study.json`` (the plan) and ``results.sqlite`` (one row per finished trial).

    study.json       what the study is: task, cells, trials per cell, seed, search space, training
                     settings, every planned trial's configuration and seed, and the study's id
                     (a hash of all of that); written once, atomically (temporary file, fsync, rename)
    results.sqlite   table ``trials``: one row per finished trial, primary key (study_id, trial_id);
                     each row is written in one transaction by the client as the trial completes

Nothing is recorded twice: the primary key makes a second insert of the same trial a no-op
(``INSERT OR IGNORE``), so a trial that a resumed study or a retried worker finishes again leaves the
first record as it was.  A transaction is all or nothing, so a client killed at any moment leaves
every finished trial recorded completely or not at all (SQLite's rollback journal, synchronous=FULL).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

__all__ = ["StudyError", "FORMAT", "study_id", "write_definition", "read_definition", "open_folder", "Store"]

FORMAT = "npslim-study-1"
#: the keys of study.json that are not part of the study's identity
_NOT_IDENTITY = ("id", "created", "versions")


class StudyError(Exception):
    """A study cannot start or continue; the message is one line naming the argument."""


def study_id(definition):
    """A 16-hex-digit hash of everything that defines the study (not its id, creation time, versions)."""
    core = {k: v for k, v in definition.items() if k not in _NOT_IDENTITY}
    return hashlib.sha256(json.dumps(core, sort_keys=True, allow_nan=True).encode()).hexdigest()[:16]


def write_definition(folder, definition):
    """Write ``folder/study.json`` atomically (a temporary file in the folder, fsync, os.replace)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".study.json.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(definition, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / "study.json")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return folder / "study.json"


def read_definition(folder, arg="--resume"):
    """The study.json of ``folder``; a missing or foreign file is a StudyError naming ``arg``."""
    path = Path(folder) / "study.json"
    if not path.exists():
        raise StudyError(f"{arg}: {folder} holds no study (no study.json); start one with npslim study --out {folder}")
    try:
        definition = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StudyError(f"{arg}: {path} is not a study definition ({exc})") from None
    if not isinstance(definition, dict) or definition.get("format") != FORMAT:
        raise StudyError(f"{arg}: {path} is not an npslim study (format {FORMAT!r} expected)")
    return definition


def _describe(d):
    return f"id {d.get('id')}: task {d.get('task')}, cells {','.join(d.get('cells', []))}, " \
           f"{d.get('trials')} trials, seed {d.get('seed')}"


def open_folder(folder, definition=None):
    """The study of ``folder`` and its Store.

    With a new ``definition`` (``npslim study --out``): a folder that already holds this same
    study continues it; one that holds a different study, or results of one without a plan, is
    refused with a StudyError.  Without (``--resume``) the folder's own study.json is read."""
    folder = Path(folder)
    if definition is None:
        definition = read_definition(folder)
        if definition.get("id") != study_id(definition):
            raise StudyError(f"--resume: {folder}/study.json was edited (its id no longer matches its content); "
                             f"restore it or start a new study")
    else:
        definition = dict(definition, id=study_id(definition))
        if (folder / "study.json").exists():
            held = read_definition(folder, arg="--out")
            if held.get("id") != definition["id"]:
                raise StudyError(f"--out: {folder} holds a different study ({_describe(held)}); choose another "
                                 f"folder, or continue that one with: npslim study --resume {folder}")
            definition = held
        elif (folder / "results.sqlite").exists():
            raise StudyError(f"--out: {folder} holds results.sqlite but no study.json; choose another folder")
        else:
            write_definition(folder, definition)
    return definition, Store(folder / "results.sqlite", definition["id"])


class Store:
    """The trial results of one study in SQLite (see the module docstring).

    ``record(result)`` inserts one finished trial (a dict with at least "trial_id", "cell",
    "status") in one transaction and returns True, or False when it was recorded already;
    ``done()`` is the set of recorded trial ids, ``results()`` every record in trial order."""

    def __init__(self, path, study):
        self.path, self.study = Path(path), str(study)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA synchronous=FULL")
        with self._transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS trials (study_id TEXT NOT NULL, trial_id TEXT NOT NULL, "
                             "cell TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, record TEXT NOT NULL, "
                             "recorded_at REAL NOT NULL, PRIMARY KEY (study_id, trial_id))")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('study_id', ?)", (self.study,))
            held = self._db.execute("SELECT value FROM meta WHERE key = 'study_id'").fetchone()[0]
        if held != self.study:
            self.close()
            raise StudyError(f"store: {self.path} belongs to study {held}, not {self.study}; choose another folder")

    @contextlib.contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def record(self, result):
        """Insert one finished trial atomically; False if it was recorded already (left unchanged)."""
        from ..files import jsonable
        with self._transaction():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.study, result["trial_id"], result["cell"], result["status"], result.get("reason"),
                 json.dumps(jsonable(result)), time.time()))
        return cur.rowcount == 1

    def done(self):
        """The ids of every recorded trial (finished or failed)."""
        return {r[0] for r in self._db.execute("SELECT trial_id FROM trials WHERE study_id = ?", (self.study,))}

    def count(self):
        return self._db.execute("SELECT COUNT(*) FROM trials WHERE study_id = ?", (self.study,)).fetchone()[0]

    def results(self):
        """Every record (the dict the trial returned, plus "recorded_at"), ordered by trial id."""
        rows = self._db.execute("SELECT record, recorded_at FROM trials WHERE study_id = ? ORDER BY trial_id",
                                (self.study,))
        return [dict(json.loads(record), recorded_at=at) for record, at in rows]

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
