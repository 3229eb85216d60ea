"""The settings of a run of ``npslim train`` / ``npslim compare``, before anything is built: the
defaults (global and per task), a ``--recipe``'s settings under the command line's own, and the
parsing and checking of the KEY=VALUE options of the cells, the task, the optimizer and the schedule.
:mod:`npslim.runs` builds and trains from them."""
from __future__ import annotations

from . import cells as cell_registry
from . import tasks

#: the defaults of ``npslim train`` and ``npslim compare``; the per-task ones (hidden size, epochs,
#: batch size, learning rate, TBPTT window) come from :func:`npslim.tasks.training_defaults`
TRAIN_DEFAULTS = dict(task="digits-rows", cell="lstm", cells="lstm,gru,cifg,lstm_c6", optimizer="adam", clip=5.0,
                      schedule="none", patience=None, val_fraction=0.1, init="npslim", seed=0, dtype="float32",
                      threads=1, **tasks.TRAINING_DEFAULTS)
#: the options a recipe sets when the command line leaves them out (None there); the rest of its
#: settings (task, cell and optimizer options) are merged under the command line's KEY=VALUE pairs
RECIPE_SETS = ("task", "hidden_size", "epochs", "batch_size", "lr", "optimizer", "clip", "schedule", "patience",
               "monitor", "val_fraction", "init")
#: the options that fall back to TRAIN_DEFAULTS when neither the command line nor a recipe sets them
GLOBAL = ("task", "cell", "cells", "optimizer", "clip", "schedule", "val_fraction", "init")
#: the options a task's training defaults set (each is None on the command line unless given)
PER_TASK = tuple(tasks.TRAINING_DEFAULTS)


def task_defaults(task):
    """The training defaults of ``task``: TRAIN_DEFAULTS updated by the task's own."""
    return dict(TRAIN_DEFAULTS, **tasks.training_defaults(task))


def resolve_defaults(args):
    """Fill the options left out on the command line: from ``--recipe`` (its settings; its task,
    cell and optimizer options under the command line's own KEY=VALUE pairs), then the task's
    defaults, then TRAIN_DEFAULTS."""
    recipe_name = getattr(args, "recipe", None)
    if recipe_name:
        apply_recipe(args, recipe_name)
    for key in GLOBAL:
        if getattr(args, key, "absent") is None:
            setattr(args, key, TRAIN_DEFAULTS[key])
    d = task_defaults(args.task)
    for key in PER_TASK:
        if getattr(args, key) is None:
            setattr(args, key, d[key])
    if args.tbptt == 0:                     # --tbptt 0: full BPTT, also where the task's default is a window
        args.tbptt = None
    return args


def apply_recipe(args, name):
    """Set the options of ``args`` that the command line left out from the recipe ``name``."""
    from . import recipes
    recipe = recipes.get(name)
    if args.task is not None and args.task != recipe.task:
        raise SystemExit(f"--task: recipe {name!r} is for task {recipe.task!r}, got {args.task!r}")
    settings = dict(task=recipe.task, hidden_size=recipe.hidden_size, epochs=recipe.epochs,
                    batch_size=recipe.batch_size, lr=recipe.lr, optimizer=recipe.optimizer, clip=recipe.clip,
                    schedule=recipe.schedule, patience=recipe.patience, monitor=recipe.monitor,
                    val_fraction=recipe.val_fraction, init=recipe.init)
    for key in RECIPE_SETS:
        if getattr(args, key) is None:
            setattr(args, key, settings[key])
    if getattr(args, "tbptt", None) is None and recipe.tbptt is not None:
        args.tbptt = recipe.tbptt
    if hasattr(args, "cell") and args.cell is None:
        args.cell = recipe.cells[0]
    if hasattr(args, "cells") and args.cells is None:
        args.cells = ",".join(recipe.cells)
    args.task_option = {**recipe.task_options, **parse_options(args.task_option)}
    args.recipe_cell_options = dict(recipe.cell_options)   # each cell takes those it has
    if args.optimizer == recipe.optimizer:        # another optimizer takes none of the recipe's keywords
        args.optimizer_option = {**recipe.optimizer_options, **parse_options(args.optimizer_option)}
    if args.schedule == recipe.schedule:
        args.schedule_option = {**recipe.schedule_options, **parse_options(args.schedule_option)}
    return recipe


def parse_options(pairs, flag="--option"):
    """['proj_size=4', 'tau=0.5'] -> {'proj_size': 4, 'tau': 0.5} (a dict passes through).  Numbers
    become numbers and "true"/"false" booleans; each user of the options checks them (the cells:
    :func:`npslim.cells.check_options`, which also reads "no"/"yes", "0"/"1")."""
    if isinstance(pairs, dict):
        return dict(pairs)
    options = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        if not _ or not key.strip():
            raise ValueError(f"{flag}: expected KEY=VALUE with a non-empty KEY, got {pair!r}")
        key = key.strip()
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


def cell_options_for(cells, options, recipe_options=None):
    """The options of each of ``cells`` (name -> dict), each option applied to the cells that take it
    and checked there (:func:`npslim.cells.check_options`); an option that none of them takes is an
    error naming the options they do take.  ``recipe_options`` (a recipe's cell options) go under
    ``options`` to each cell that takes them, and are no error where none does."""
    taken = {cell: cell_registry.get(cell).option_defaults() for cell in cells}
    options = {**{k: v for k, v in (recipe_options or {}).items() if any(k in t for t in taken.values())},
               **options}
    for key in options:
        if not any(key in t for t in taken.values()):
            offered = "; ".join(f"{cell}: {cell_registry.registry.describe_options(cell)}" for cell in cells)
            raise ValueError(f"-o/--option: no cell here takes {key!r} ({offered})")
    return {cell: cell_registry.check_options(cell, {k: v for k, v in options.items() if k in taken[cell]})
            for cell in cells}


def task_options(args):
    """--task-option pairs, with --limit / --limit-test as the task's n_train / n_test."""
    options = parse_options(args.task_option, "--task-option")
    accepted = tasks.options(args.task)
    for flag, dest, key in (("--limit", "limit", "n_train"), ("--limit-test", "limit_test", "n_test")):
        value = getattr(args, dest, None)
        if value is None:
            continue
        if key not in accepted:
            raise SystemExit(f"{flag}: task {args.task!r} has a fixed size (it takes {sorted(accepted) or 'no options'})")
        options[key] = value
    return options
