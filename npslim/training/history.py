"""The history files of a run: history.json and history.csv."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..files import write_json_atomic, write_text_atomic

__all__ = ["write_history"]


def write_history(folder, histories):
    """Write ``history.json`` and ``history.csv`` into ``folder``.  ``histories`` is one history
    (a list of per-epoch dicts) or a dict label -> history (compare); the CSV has one row per
    epoch and label, with a "cell" column for the label.  Returns the two paths."""
    folder = Path(folder)
    json_path, csv_path = folder / "history.json", folder / "history.csv"
    write_json_atomic(json_path, histories)
    labelled = histories.items() if isinstance(histories, dict) else [(None, histories)]
    rows = [({"cell": label} if label is not None else {}) | dict(rec) for label, hist in labelled for rec in hist]
    fields = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(csv_path, text.getvalue(), newline="")
    return json_path, csv_path
