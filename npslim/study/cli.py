"""``npslim study``: Greff et al. 2017's random-search study of cells, on Dask, and its report.

    npslim study --cells lstm,nfg,cifg --task vowels --trials 20 --out studies/vowels   # 3 cells x 20 trials
    npslim study --resume studies/vowels                                               # only the missing ones
    npslim study report studies/vowels                                                 # tables and figures
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from .store import StudyError

#: Greff et al. 2017's vanilla LSTM and its eight variants
GREFF_CELLS = "lstm,nig,nfg,nog,niaf,noaf,cifg,np,fgr"


def add_parser(subparsers):
    """Register ``study`` (and ``study report``) on the ``npslim`` command's subparsers."""
    from .runner import TRAINING_DEFAULTS as T
    p = subparsers.add_parser(
        "study", help="random-search study of several cells on Dask (Greff et al. 2017), and its report",
        description="Run a random-search study: for each cell, --trials trainings with hyperparameters drawn from a "
                    "search space (default Greff et al. 2017's: hidden size log-uniform [20, 200], learning rate "
                    "log-uniform [1e-6, 1e-2], momentum 1 - log-uniform [0.01, 1], input noise std uniform [0, 1]; SGD "
                    "with Nesterov momentum), on a Dask cluster (default: one single-threaded worker process per core "
                    "on this machine).  Each finished trial is written to DIR/results.sqlite at once; an "
                    "interrupted study continues with --resume DIR, running only the missing trials.  Then "
                    "`npslim study report DIR` writes the fANOVA and Welch's t-test tables and the figures.")
    p.add_argument("--cells", default=GREFF_CELLS,
                   help=f"comma-separated registered cells (default Greff's nine: {GREFF_CELLS})")
    p.add_argument("--task", default="vowels", help="the task (default vowels, the stand-in for TIMIT)")
    p.add_argument("--trials", type=int, default=20, help="trials per cell (default 20; Greff et al.: 200)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes of the embedded LocalCluster (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://127.0.0.1:8786 (see `dask scheduler`, "
                        "`dask worker`); --workers is then ignored")
    p.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    p.add_argument("--space", metavar="FILE", help="search space as JSON (default Greff et al. 2017's; see "
                                                   "npslim.study.space)")
    p.add_argument("--epochs", type=int, default=T["epochs"], help=f"most epochs per trial (default {T['epochs']})")
    p.add_argument("--batch-size", type=int, default=T["batch_size"],
                   help=f"minibatch size (default {T['batch_size']}: online, as Greff et al.)")
    p.add_argument("--patience", type=int, default=T["patience"],
                   help=f"early stopping after this many epochs without a better validation score "
                        f"(default {T['patience']})")
    p.add_argument("--val-fraction", type=float, default=T["val_fraction"],
                   help=f"validation part of the training split (default {T['val_fraction']})")
    p.add_argument("--clip", type=float, default=0.0, help="clip the gradient norm (default 0: off, as Greff et al.)")
    p.add_argument("--limit", type=int, metavar="N", help="train on N training sequences (task option n_train)")
    p.add_argument("--limit-test", type=int, metavar="N", help="evaluate on N test sequences (task option n_test)")
    p.add_argument("--task-option", action="append", metavar="KEY=VALUE", help="a task option (repeatable)")
    p.add_argument("--out", metavar="DIR", help="the study folder to create (or continue, if it holds this study)")
    p.add_argument("--resume", metavar="DIR", help="continue the study in DIR: run only its missing trials")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_study)
    sub = p.add_subparsers(dest="study_command", metavar="report")
    r = sub.add_parser("report", help="fANOVA, Welch's t-tests and figures of a study",
                       description="Analyse the study in DIR and write DIR/report/ (report.md, results.csv, "
                                   "boxplots.png, marginals.png, time_vs_params.png).")
    r.add_argument("dir", metavar="DIR", help="the study folder")
    r.add_argument("--baseline", default="lstm", help="the cell every variant is tested against (default lstm)")
    r.add_argument("--alpha", type=float, default=0.05, help="significance level after correction (default 0.05)")
    r.set_defaults(func=cmd_report)
    return p


def cmd_study(args):
    from ..runs import parse_options
    from .runner import make_definition, run_study
    if args.resume and args.out:
        raise SystemExit("--resume: give either --resume DIR or --out DIR, not both")
    folder = args.resume or args.out
    if not folder:
        raise SystemExit("--out: expected the study folder to create (or --resume DIR to continue one)")
    try:
        definition = None
        if not args.resume:
            options = parse_options(args.task_option)
            options.update({k: v for k, v in (("n_train", args.limit), ("n_test", args.limit_test)) if v is not None})
            space = _space(args.space)
            definition = make_definition(args.task, args.cells, args.trials, seed=args.seed, space=space,
                                         task_options=options, epochs=args.epochs, batch_size=args.batch_size,
                                         patience=args.patience, val_fraction=args.val_fraction,
                                         clip=args.clip or None)
        with _term_as_interrupt():                              # `kill PID` stops as cleanly as Ctrl-C
            summary = run_study(folder, definition, workers=args.workers, scheduler=args.scheduler,
                                progress=not args.no_progress)
    except StudyError as exc:
        raise SystemExit(str(exc)) from None
    except KeyboardInterrupt:
        print(f"\ninterrupted; every finished trial is recorded in {folder}/results.sqlite; continue with: "
              f"npslim study --resume {folder}", file=sys.stderr)
        return 130
    print(f"study {summary['id']}: {summary['recorded']} of {summary['planned']} trials recorded "
          f"({summary['failed']} failed), {summary['ran']} run now in {summary['seconds']:.1f} s; folder {folder}")
    print(f"report: npslim study report {folder}")
    return 0 if summary["recorded"] == summary["planned"] else 1


@contextlib.contextmanager
def _term_as_interrupt():
    """Inside the block SIGTERM raises KeyboardInterrupt (main thread only); the old handler is restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _space(path):
    from .space import SearchSpace
    if path is None:
        return None
    try:
        return SearchSpace.from_file(path)
    except ValueError as exc:
        raise StudyError(f"--space: {exc}") from None


def cmd_report(args):
    from .report import write_report
    try:
        out = write_report(args.dir, baseline=args.baseline, alpha=args.alpha)
    except StudyError as exc:
        raise SystemExit(str(exc)) from None
    except ValueError as exc:
        raise SystemExit(str(exc).splitlines()[0]) from None
    for name, rows in (("all trials", out["welch"]), ("top 10%", out["welch_top"])):
        flagged = [f"{r['cell']} ({r['verdict']})" for r in rows or [] if r["significant"]]
        print(f"Welch vs {args.baseline}, {name}: " + (", ".join(flagged) if flagged else "no significant difference"))
    pooled = out["fanova"]["pooled"]
    if pooled:
        ranked = sorted(pooled["single"].items(), key=lambda kv: -kv[1])
        print("fANOVA (pooled): " + ", ".join(f"{k} {v:.1%}" for k, v in ranked))
    print(f"wrote {out['path']}")
    return 0


def main(argv=None):
    """``python -m npslim.study.cli ...`` is ``npslim study ...``."""
    parser = argparse.ArgumentParser(prog="npslim")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["study", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
