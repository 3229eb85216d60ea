"""The README is run, not just read: its Python blocks execute, and every ``npslim`` command line
in its shell blocks is accepted by the CLI's parser (its options exist and its values parse)."""
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import npslim
from npslim import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _blocks(language):
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.M | re.S)


def test_the_first_lines_are_the_setup_and_test_commands():
    first = _blocks("bash")[0].strip().splitlines()
    assert first[0].startswith('pip install -e ".[test]" && npslim ') and first[1] == "python -m pytest -q"


def test_the_cell_example_runs_and_its_comments_hold():
    code = _blocks("python")[0]
    scope = {}
    exec(compile(code, "README.md (first Python block)", "exec"), scope)
    cell, Y, state, dX = scope["cell"], scope["Y"], scope["state"], scope["dX"]
    assert Y.shape == (20, 4, 32) and [s.shape for s in state] == [(4, 32), (4, 32)] and dX.shape == (20, 4, 8)
    assert np.all(cell.params["b_f"] == 1.0) and np.shares_memory(cell.params["b_f"], cell.b)
    assert max(npslim.gradcheck.check_cell(cell).values()) < 1e-6


def test_the_after_training_example_runs_on_a_real_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--task", "digits-rows", "--epochs", "2", "-n", "8", "--no-progress",
                     "--out", "runs/demo"]) == 0
    task = npslim.tasks.make("digits-rows")
    X, _, lengths = task.split("test")
    code = _blocks("python")[1].replace("runs/<folder>", "runs/demo")
    scope = {"npslim": npslim, "X": X, "lengths": lengths}
    exec(compile(code, "README.md (after-training block)", "exec"), scope)
    assert scope["run"].best["epoch"] in (1, 2)
    np.testing.assert_array_equal(scope["model"].predict(X, lengths), scope["run"].model.predict(X, lengths))
    assert "digits.npz" in {p.name for p in tmp_path.iterdir()}


def _commands():
    """Every ``npslim ...`` line of the shell blocks, placeholders filled, comments dropped."""
    found = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if "npslim " not in line or line.startswith(("python", "dask", "OPENBLAS")):
                continue
            line = line[line.index("npslim "):]                # after "pip install ... &&"
            found.append(re.sub(r"runs/<[^>]+>", "runs/x", line))
    return found


COMMANDS = _commands()


def test_the_readme_shows_the_commands_users_need():
    shown = {c.split()[1] for c in COMMANDS}
    assert {"compare", "train", "predict", "study"} <= shown, shown


@pytest.mark.parametrize("line", COMMANDS)
def test_every_npslim_command_in_the_readme_parses(line):
    argv = shlex.split(line)[1:]
    if "--help" in argv:                                      # prints the help and exits 0
        with pytest.raises(SystemExit) as info:
            cli.build_parser().parse_args(argv)
        assert info.value.code == 0
        return
    args = cli.build_parser().parse_args(argv)                # argparse exits (SystemExit 2) on an unknown option
    assert callable(getattr(args, "func", None)), line
