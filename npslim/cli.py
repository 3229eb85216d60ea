"""The ``npslim`` command.

    npslim gradcheck            gradient-check every registered cell, one line each
    npslim cells -m 28 -n 50    every registered cell with its parameter count and formula
"""
from __future__ import annotations

import argparse
import sys
import time

from . import cells as cell_registry


def _parse_options(pairs):
    """['proj_size=4', 'tau=0.5'] -> {'proj_size': 4, 'tau': 0.5}"""
    options = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--option: expected KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        else:
            value = {"true": True, "false": False}.get(value.lower(), value)
        options[key] = value
    return options


def cmd_gradcheck(args):
    from .gradcheck import check_cell
    names = args.cells.split(",") if args.cells else cell_registry.names()
    print(f"gradient check: float64, central differences, loss = random weighted sum of outputs and final state")
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
    options = _parse_options(args.option)
    m, n = args.input_size, args.hidden_size
    print(f"every registered cell at input size m={m}, hidden size n={n}"
          + (f", options {options}" if options else "") + "\n")
    header = f"{'cell':<10} {'parameters':>12}  formula"
    print(header)
    print("-" * 78)
    for name in cell_registry.names():
        cls = cell_registry.get(name)
        import inspect
        accepted = inspect.signature(cls.__init__).parameters
        opts = {k: v for k, v in options.items() if k in accepted}
        try:
            count = f"{cls.param_count(m, n, **opts):,}"
        except (ValueError, TypeError) as exc:
            count = f"({exc})"
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<10} {count:>12}  {cls.PARAM_FORMULA}")
        if args.verbose and summary:
            print(f"{'':<10} {'':>12}  {summary}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="npslim",
        description="npslim: recurrent cells in NumPy with hand-derived, gradient-checked backward passes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gradcheck", help="gradient-check every registered cell",
                       description="Check every registered cell's backward pass against central finite "
                                   "differences in float64 (random weights, biases, peepholes and initial state); "
                                   "exit status 1 if any cell fails.")
    p.add_argument("--cells", help="comma-separated cell names (default: every registered cell)")
    p.add_argument("-m", "--input-size", type=int, default=4, help="input size m (default 4)")
    p.add_argument("-n", "--hidden-size", type=int, default=6, help="hidden size n (default 6)")
    p.add_argument("-B", "--batch", type=int, default=3, help="batch size (default 3)")
    p.add_argument("-T", "--steps", type=int, nargs="+", default=[1, 5], help="sequence lengths (default 1 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and loss weights (default 0)")
    p.add_argument("--tol", type=float, default=1e-6, help="largest relative error that passes (default 1e-6)")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("cells", help="list every registered cell with its parameter count",
                       description="Print every registered cell with its parameter count at the given sizes "
                                   "and its parameter-count formula.")
    p.add_argument("-m", "--input-size", type=int, default=32, help="input size m (default 32)")
    p.add_argument("-n", "--hidden-size", type=int, default=100, help="hidden size n (default 100)")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                   help="a cell option, e.g. proj_size=64 or groups=2 (repeatable; applied to the cells that take it)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each cell's one-line summary")
    p.set_defaults(func=cmd_cells)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
