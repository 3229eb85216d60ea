"""``npslim predict``: a trained model's predictions for sequences in a .npy / .npz file.

    npslim predict runs/<folder> --input X.npy                       # one prediction per line
    npslim predict runs/<folder> --input data.npz --output pred.npz  # predictions (+ probabilities)
    npslim predict runs/<compare folder> --cell gru --input X.npy
    npslim predict model.npz --input X.npy                           # a file written by model.save

The input holds X time-major, (T, N, m) features or (T, N) token ids (``--batch-first``: (N, T, m)
or (N, T)); an .npz holds it as ``X``, with optional ``lengths`` (N,).  Nothing is unpickled.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = ["add_parser", "cmd_predict"]


def add_parser(sub):
    """Add the ``predict`` subcommand to the subparsers ``sub``."""
    p = sub.add_parser(
        "predict", help="predict with a trained model on sequences in a .npy/.npz file",
        description="Load the model of a run folder (its best epoch, by default; a compare folder needs --cell) or "
                    "a model file written by model.save, and predict for the sequences in --input: class ids "
                    "(classification), 0/1 labels (multilabel) or values (regression).  Without --output they are "
                    "printed, one sequence a line; --output FILE.npy writes them, FILE.npz writes 'predictions', "
                    "'probabilities' (classifiers) and 'lengths'.  At padded steps (t >= lengths) per-step "
                    "predictions are -1 or NaN.")
    p.add_argument("run", metavar="RUN", help="a run folder (npslim train / compare) or a model .npz file")
    p.add_argument("--input", required=True, metavar="FILE",
                   help="X as .npy, or .npz with X and optional lengths; time-major (T, N, m) or token ids (T, N)")
    p.add_argument("--output", metavar="FILE", help="write .npy (predictions) or .npz (predictions, probabilities, "
                                                    "lengths) instead of printing; an existing file is kept unless "
                                                    "--overwrite")
    p.add_argument("--cell", help="the cell of a compare folder (default: its only cell)")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="the model of the best epoch (best.npz, default) or of the last one (checkpoint.npz)")
    p.add_argument("--proba", action="store_true", help="print probabilities instead of class ids / labels")
    p.add_argument("--batch-first", action="store_true",
                   help="X is (N, T, m) or (N, T); per-step outputs are written (N, T, ...) too")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    p.set_defaults(func=cmd_predict)
    return p


def _load_model(args):
    from .model import load
    from .runs_io import load_run
    path = Path(args.run)
    if path.is_dir():
        return load_run(path, args.cell, args.which).model
    if args.cell:
        raise SystemExit(f"--cell: only for a compare run folder; {path} is a model file")
    return load(path)


def _read_input(path):
    from .model_io import CorruptFile, read_npz
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"--input: no such file: {path}")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False), None
        except Exception as exc:            # noqa: BLE001 - any reading failure is a bad input file
            raise SystemExit(f"--input: {path} is not a readable .npy array without pickle "
                             f"({type(exc).__name__}: {exc})") from None
    if path.suffix != ".npz":
        raise SystemExit(f"--input: expected a .npy or .npz file, got {path.name}")
    try:
        d = read_npz(path, what="input file", remedy="write X (and lengths) with numpy.savez")
    except CorruptFile as exc:
        raise SystemExit(f"--input: {exc}") from None
    if "X" not in d:
        raise SystemExit(f"--input: expected an array named 'X' in {path} (and optionally 'lengths'), "
                         f"got {sorted(d)}")
    return d["X"], d.get("lengths")


def _write(path, arrays, overwrite):
    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise SystemExit(f"--output: expected a .npy or .npz file name, got {path.name}")
    if path.exists() and not overwrite:
        raise SystemExit(f"--output: {path} already exists; choose another name, or pass --overwrite")
    from .files import atomic_path, save_npz_atomic
    if path.suffix == ".npz":
        return save_npz_atomic(path, arrays)
    with atomic_path(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arrays["predictions"], allow_pickle=False)
    return path


def cmd_predict(args):
    from .model_io import CorruptFile
    try:
        model = _load_model(args)
    except (FileNotFoundError, ValueError, CorruptFile) as exc:
        raise SystemExit(f"RUN: {exc}") from None
    X, lengths = _read_input(args.input)
    if args.batch_first:
        X = np.swapaxes(X, 0, 1) if X.ndim >= 2 else X
    try:
        pred = model.predict(X, lengths)
        proba = model.predict_proba(X, lengths) if model.head in ("softmax", "sigmoid") else None
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"--input: {exc}") from None
    if args.proba and proba is None:
        raise SystemExit(f"--proba: the model's head is {model.head!r}; only classifiers give probabilities")
    per_step = pred.ndim == (2 if model.head == "softmax" else 3)       # (T, N) ids or (T, N, k): one per step
    if args.batch_first and per_step:
        pred = np.swapaxes(pred, 0, 1)
        proba = None if proba is None else np.swapaxes(proba, 0, 1)
    if args.output:
        arrays = {"predictions": pred}
        if proba is not None:
            arrays["probabilities"] = proba
        if lengths is not None:
            arrays["lengths"] = np.asarray(lengths)
        print(f"wrote {_write(args.output, arrays, args.overwrite)} (predictions {pred.shape}"
              + (f", probabilities {proba.shape}" if proba is not None and args.output.endswith(".npz") else "")
              + ")")
        return 0
    shown = proba if args.proba else pred
    if per_step and not args.batch_first:
        shown = np.swapaxes(shown, 0, 1)                 # one sequence a line
    if shown.ndim > 2:
        raise SystemExit(f"--output: the predictions have shape {shown.shape} (one row per sequence does not "
                         f"fit); write them with --output FILE.npz")
    fmt = "%d" if shown.dtype.kind in "iu" else "%.6g"
    np.savetxt(sys.stdout, shown.reshape(len(shown), -1) if shown.ndim == 2 else shown, fmt=fmt)
    return 0
