"""The ``npslim`` command.

    npslim gradcheck            gradient-check every registered cell, one line each
    npslim cells -m 28 -n 50    every registered cell with its parameter count and formula
    npslim train --cell gru     train one cell on one task; writes a run folder
    npslim train --task imdb --limit 2000
                                the same on a real dataset (a subset of 2000 training reviews)
    npslim compare --task digits-rows --cells lstm,gru,cifg,lstm_c6
                                train several cells on one task: a table and one figure of all curves
"""
from __future__ import annotations

import argparse
import sys
import time

from . import __version__, runs
from . import cells as cell_registry
from .validate import integer, number
from .runs import TRAIN_DEFAULTS, parse_options as _parse_options, task_defaults


def cmd_gradcheck(args):
    from .gradcheck import check_cell
    names = args.cells.split(",") if args.cells else cell_registry.names()
    print("gradient check: float64, fourth-order central differences (h = 1e-3; 1e-5 for relu cells), "
          "loss = random weighted sum of outputs and final state")
    print(f"sizes m={args.input_size} n={args.hidden_size} B={args.batch}, T in {args.steps}; "
          f"pass: worst relative error < {args.tol:g}\n")
    header = f"{'cell':<10} {'params':>7}  " + "  ".join(f"{'T=' + str(T):>9}" for T in args.steps) + \
        f"  {'worst array':<12} result"
    print(header)
    print("-" * len(header))
    failed = []
    start = time.perf_counter()
    for name in names:
        cls = cell_registry.get(name)
        cell = cell_registry.make(name, args.input_size, args.hidden_size, seed=args.seed, dtype="float64",
                                  **cls.GRADCHECK_OPTIONS)
        worst, worst_array, per_T = 0.0, "", []
        for T in args.steps:
            errors = check_cell(cell, T=T, B=args.batch, seed=args.seed + T)
            arr = max(errors, key=errors.get)
            per_T.append(errors[arr])
            if errors[arr] >= worst:
                worst, worst_array = errors[arr], arr
        ok = worst < args.tol
        if not ok:
            failed.append(name)
        print(f"{name:<10} {cell.num_params():>7}  " + "  ".join(f"{e:>9.1e}" for e in per_T)
              + f"  {worst_array:<12} {'ok' if ok else 'FAIL'}", flush=True)
    print(f"\n{len(names) - len(failed)} of {len(names)} cells pass ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


def cmd_cells(args):
    if args.names:
        return _describe_cells(args.names)
    m, n = args.input_size, args.hidden_size
    options = runs.cell_options_for(cell_registry.names(), _parse_options(args.option, "-o/--option"))
    given = {k: v for opts in options.values() for k, v in opts.items()}
    print(f"every registered cell at input size m={m}, hidden size n={n}"
          + (f", options {given}" if given else "") + "\n")
    header = f"{'cell':<10} {'parameters':>12}  formula"
    print(header)
    print("-" * 78)
    notes = []
    for name in cell_registry.names():
        cls = cell_registry.get(name)
        try:
            count = f"{cls.param_count(m, n, **options[name]):,}"
        except (ValueError, TypeError) as exc:
            notes.append(f"[{len(notes) + 1}] {name}: {exc}")
            count = f"n/a [{len(notes)}]"
        print(f"{name:<10} {count:>12}  {cls.PARAM_FORMULA}")
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        if args.verbose and summary:
            print(f"{'':<10} {'':>12}  {summary}")
    if notes:
        print()
        print("\n".join(notes))
    return 0


def _describe_cells(names):
    """``npslim cells NAME ...``: each cell's summary, options with their defaults, and formula."""
    for name in names:
        cls = cell_registry.get(name)
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name}: {summary}")
        print(f"  options (-o KEY=VALUE): {cell_registry.registry.describe_options(name)}")
        print(f"  parameters: {cls.PARAM_FORMULA}")
    return 0


# ---------------------------------------------------------------------------- train / compare
def cmd_train(args):
    with runs.blas_threads(runs.threads_of(args)):
        return runs.train(args)


def cmd_compare(args):
    with runs.blas_threads(runs.threads_of(args)):
        return runs.compare(args)


def _add_training_options(p, compare):
    """The options shared by ``train`` and ``compare``."""
    from . import optim, tasks
    from .train import SCHEDULES
    d = TRAIN_DEFAULTS
    p.add_argument("--task", default=d["task"], choices=tasks.names(), metavar="TASK",
                   help=f"the task to train on: {', '.join(tasks.names())} (default {d['task']}: scikit-learn's "
                        f"8x8 digits, one row per step; the real datasets, table below, need their data: "
                        f"bash datasets/fetch.sh)")
    p.add_argument("--task-option", action="append", metavar="KEY=VALUE",
                   help="a task option, e.g. T=100 for adding, permuted=true for mnist-pixels, maxlen=500 for imdb "
                        "(repeatable; see npslim.tasks.options(name))")
    p.add_argument("--limit", type=_int(1), default=None, metavar="N",
                   help="train on a seeded random subset of N training sequences (the task option n_train; "
                        "default: all); for quick runs on the real datasets")
    p.add_argument("--limit-test", type=_int(1), default=None, metavar="N",
                   help="evaluate on a seeded random subset of N test sequences (the task option n_test; "
                        "default: all)")
    if compare:
        p.add_argument("--cells", default=d["cells"],
                       help=f"comma-separated registered cells to compare, trained one after the other with the "
                            f"same seed; an unregistered name is an error (default {d['cells']})")
    else:
        p.add_argument("--cell", default=d["cell"], help=f"the registered cell to train (default {d['cell']}; "
                                                         f"`npslim cells` lists them)")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                   help="a cell option, e.g. peepholes=false or proj_size=32 (repeatable; applied to the cells "
                        "that take it; one that no cell takes is an error; `npslim cells NAME` lists a cell's "
                        "options)")
    p.add_argument("-n", "--hidden-size", type=_int(1), default=None,
                   help=f"hidden size n of the recurrent cell (default {d['hidden_size']}; per task: table below)")
    p.add_argument("--epochs", type=_int(1), default=None,
                   help=f"number of passes over the training split (default {d['epochs']}; per task: table "
                        f"below; with --resume, the total to reach, default the run's own)")
    p.add_argument("--batch-size", type=_int(1), default=None,
                   help=f"training minibatch size (default {d['batch_size']}; per task: table below)")
    p.add_argument("--optimizer", default=d["optimizer"], choices=optim.names(),
                   help=f"optimizer, PyTorch's update rules (default {d['optimizer']})")
    p.add_argument("--lr", type=_float(0.0, low_open=True), default=None, help=f"learning rate (default {d['lr']:g}; per task: table "
                                                          f"below; with --schedule loss it is eta0)")
    p.add_argument("--optimizer-option", action="append", metavar="KEY=VALUE",
                   help="another optimizer keyword, e.g. momentum=0.9 or weight_decay=1e-4 (repeatable)")
    p.add_argument("--clip", type=_float(0.0), default=d["clip"],
                   help=f"clip the global gradient norm to this value; 0 turns clipping off "
                        f"(default {d['clip']:g})")
    p.add_argument("--schedule", default=d["schedule"], choices=sorted(SCHEDULES),
                   help="learning-rate schedule: none, step (StepLR, needs step_size), exp (ExponentialLR, needs "
                        "gamma), plateau (ReduceLROnPlateau on the monitored value), loss (Lu & Salem's "
                        "lr = eta0 * exp(training loss)) (default none)")
    p.add_argument("--schedule-option", action="append", metavar="KEY=VALUE",
                   help="a schedule keyword, e.g. gamma=0.9 or step_size=10 (repeatable)")
    p.add_argument("--patience", type=_int(1), default=d["patience"],
                   help="early stopping: stop after this many epochs without a better monitored value "
                        "(default: never stop early)")
    p.add_argument("--monitor", default=None,
                   help="history key that decides the best epoch and early stopping, e.g. val_loss "
                        "(default: val_<metric> with --val-fraction, else test_<metric>)")
    p.add_argument("--val-fraction", type=_float(0.0, 1.0, high_open=True), default=d["val_fraction"],
                   help=f"hold this fraction of the training split out as a validation split, on which the best "
                        f"epoch (best.npz) and early stopping are decided (default {d['val_fraction']:g}; 0: none, "
                        f"and the best epoch is then chosen on the test split, an optimistic estimate)")
    p.add_argument("--tbptt", type=_int(0), default=None,
                   help="truncated BPTT window in steps, for per-step tasks such as sine, copy or "
                        "shakespeare-chars (default: full backpropagation through time; 50 for shakespeare-chars; "
                        "0: full BPTT)")
    p.add_argument("--input-noise", type=_float(0.0), default=0.0, metavar="STD",
                   help="Gaussian noise of this std added to the inputs in training (Greff et al. 2017; default 0)")
    p.add_argument("--dtype", default=d["dtype"], choices=["float32", "float64"],
                   help=f"floating-point type of the parameters and the arithmetic (default {d['dtype']})")
    p.add_argument("--seed", type=_int(0), default=d["seed"],
                   help=f"seed of the weights, the shuffling and the synthetic task data; the same seed repeats "
                        f"a run (default {d['seed']})")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder to write the run into (default ./runs/<timestamp>-<task>-<cells>/)")
    p.add_argument("--threads", type=_int(0), default=d["threads"],
                   help=f"BLAS threads (default {d['threads']}: the per-step matrix products of small recurrent "
                        f"models run fastest on one thread; 0 leaves the library's default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _int(minimum):
    """An argparse type: an integer >= ``minimum`` (npslim.validate.integer's message)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = text
        try:
            return integer("value", value, minimum)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
    parse.__name__ = "integer"
    return parse


def _float(low=None, high=None, low_open=False, high_open=False):
    """An argparse type: a finite number inside the bounds (npslim.validate.number's message)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = text
        try:
            return number("value", value, low, high, low_open, high_open)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
    parse.__name__ = "number"
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with a usage error in one line: "npslim train: error: argument --epochs:
    expected a positive integer, got -1 (npslim train --help)"."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps paragraphs as usual, but keeps indented lines (tables) as they are."""

    def _fill_text(self, text, width, indent):
        out = []
        for para in text.split("\n\n"):
            if para.startswith(" "):
                out.append("\n".join(indent + line for line in para.splitlines()))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


def _defaults_table():
    """The per-task defaults, as the epilog of train and compare."""
    from . import tasks
    rows = [("task", "hidden", "epochs", "batch", "lr", "tbptt")]
    for name in tasks.names():
        d = task_defaults(name)
        rows.append((name, str(d["hidden_size"]), str(d["epochs"]), str(d["batch_size"]), f"{d['lr']:g}",
                     str(d["tbptt"] or "-")))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  " + "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    return ("defaults per task (options given on the command line win; optimizer adam, clip 5 for all):\n\n"
            + "\n".join(lines) + "\n\n"
            "The real datasets (mnist-rows, mnist-pixels, imdb, chorales, shakespeare-chars, vowels) are read "
            "from npslim's cache (bash datasets/fetch.sh fetches them); without them the command says how to get "
            "them.  --limit N trains on N sequences of them (shakespeare-chars: N segments of 200 characters).  "
            "imdb follows Lu & Salem 2017: 20,000 words, the last 80 words of each review, embedding 128, "
            "n = 128; Akandeh & Salem's setting (2019) is --task-option vocab_size=5000 --task-option "
            "maxlen=500 --task-option embed_size=32 -n 100.")


def build_parser():
    parser = _Parser(
        prog="npslim",
        description="npslim: recurrent cells in NumPy with hand-derived, gradient-checked backward passes.  "
                    "An error is one line; --debug shows its traceback.")
    parser.add_argument("--version", action="version", version=f"npslim {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the full traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "gradcheck", parents=[debug], help="gradient-check every registered cell",
        description="Check every registered cell's backward pass against central finite differences in float64 "
                    "(random weights, biases, peepholes and initial state); exit status 1 if any cell fails.")
    p.add_argument("--cells", help="comma-separated cell names (default: every registered cell)")
    p.add_argument("-m", "--input-size", type=_int(1), default=4, help="input size m (default 4)")
    p.add_argument("-n", "--hidden-size", type=_int(1), default=6, help="hidden size n (default 6)")
    p.add_argument("-B", "--batch", type=_int(1), default=3, help="batch size (default 3)")
    p.add_argument("-T", "--steps", type=_int(1), nargs="+", default=[1, 5], help="sequence lengths (default 1 5)")
    p.add_argument("--seed", type=_int(0), default=0, help="seed of weights, inputs and loss weights (default 0)")
    p.add_argument("--tol", type=_float(0.0, low_open=True), default=1e-6,
                   help="largest relative error that passes (default 1e-6)")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser(
        "cells", parents=[debug], help="list every registered cell with its parameter count",
        description="Print every registered cell with its parameter count at the given sizes and its "
                    "parameter-count formula; with NAMEs, each named cell's options and their defaults.")
    p.add_argument("-m", "--input-size", type=_int(1), default=32, help="input size m (default 32)")
    p.add_argument("-n", "--hidden-size", type=_int(1), default=100, help="hidden size n (default 100)")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                   help="a cell option, e.g. proj_size=64 or groups=2 (repeatable; applied to the cells that take it)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each cell's one-line summary")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="describe these cells instead: summary, options with their defaults, formula")
    p.set_defaults(func=cmd_cells)

    p = sub.add_parser(
        "train", parents=[debug], help="train one cell on one task",
        description="Train one recurrent cell (a Recurrent layer, then a Dense read-out; softmax cross-entropy or "
                    "mean squared error) on one task, with a progress bar, evaluation after every epoch, "
                    "checkpoints and a guard that stops on a NaN/Inf loss or gradient.  Writes a run folder: "
                    "config.json, history.json, history.csv, curves.png (loss and metric), gates.png (gate "
                    "histograms), checkpoint.npz (last epoch, for --resume) and best.npz (best epoch); prints its "
                    "path.  Exit status 1 if training diverged.")
    p.formatter_class, p.epilog = _HelpFormatter, _defaults_table()
    _add_training_options(p, compare=False)
    p.add_argument("--resume", metavar="DIR",
                   help="continue the train run in DIR from its checkpoint.npz with its own config.json (only "
                        "--epochs and --no-progress are taken from this command line); the result equals an "
                        "uninterrupted run bit for bit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare", parents=[debug], help="train several cells on one task and compare them",
        description="Train several cells on one task, one after the other with the same settings and seed, "
                    "then print a table (cell, parameters of the model and of the cell, seconds per training "
                    "epoch, the test metric at the best epoch chosen on the validation split, and that epoch) and write one figure of all curves.  Writes a run "
                    "folder: config.json, history.json, history.csv (a cell column), curves.png, results.txt, "
                    "results.json, and per cell a subfolder with checkpoint.npz, best.npz and gates.png; prints "
                    "its path.  The defaults train lstm, gru, cifg and lstm_c6 on digits-rows in well under a "
                    "minute on two CPU cores.")
    p.formatter_class, p.epilog = _HelpFormatter, _defaults_table()
    _add_training_options(p, compare=True)
    p.add_argument("--resume", metavar="DIR",
                   help="continue the compare run in DIR with its own config.json (only --epochs and --no-progress "
                        "are taken from this command line): each cell from its checkpoint.npz, a cell without one "
                        "from scratch, a finished cell as it is; then the table and figure of all cells")
    p.set_defaults(func=cmd_compare)

    from .cli_predict import add_parser as add_predict_parser
    add_predict_parser(sub)
    from .study import cli as study_cli
    study_cli.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:                    # one line, naming what was wrong; --debug: the traceback
        if args.debug:
            raise
        prog = f"npslim {args.command}"
        if isinstance(exc, (ValueError, TypeError)):            # a bad value: the message names the argument
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
        print(f"{prog}: error: {type(exc).__name__}: {exc} (npslim --debug {args.command} ... shows the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
