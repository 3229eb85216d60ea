"""The recipes of Kuchaiev & Ginsburg 2017 and Li et al. 2018 (npslim.recipes): each cell gets the
options it takes, the trainer the authors' optimizer and window, and ``npslim train --recipe`` runs."""
import json

import pytest

from npslim import cli, datasets, recipes

needs_text = pytest.mark.skipif(datasets.present("shakespeare") is None,
                                reason="the Shakespeare data is not on this machine (bash datasets/fetch.sh)")


@needs_text
@pytest.mark.parametrize("name,cells", [("kuchaiev-ginsburg-2017-shakespeare", ("lstmp", "flstm", "glstm")),
                                        ("li-2018-shakespeare", ("lstm", "sharpened", "g2lstm"))])
def test_setup_every_cell_and_one_epoch(name, cells):
    r = recipes.get(name)
    assert r.cells == cells
    for cell in cells:
        task, model, trainer = r.setup(cell, n_train=4, n_test=2, hidden_size=8,
                                       cell_options={"proj_size": 8} if "proj_size" in r.cell_options else None)
        options = model["rnn"].cell.options()
        assert trainer.tbptt == r.tbptt and trainer.optimizer_name == r.optimizer and trainer.lr == r.lr
        if name.startswith("kuchaiev"):
            assert options["forget_bias"] == 1.0 and trainer.optimizer.initial_accumulator_value == 1 / 400
            assert trainer.clip == 0.5
        elif cell == "g2lstm":
            assert options["noise_p"] == 0.2 and options["noise_eps"] == 1e-3
        else:
            assert "noise_p" not in options and not model["rnn"].cell.peepholes
        history = trainer.fit(1)
        assert history[-1]["test_bpc"] > 0


@needs_text
def test_cli_recipe_sets_the_window(tmp_path):
    out = tmp_path / "run"
    code = cli.main(["train", "--recipe", "kuchaiev-ginsburg-2017-shakespeare", "--cell", "glstm", "--limit", "4",
                     "--limit-test", "2", "--epochs", "1", "-n", "8", "-o", "proj_size=8", "--no-progress",
                     "--out", str(out)])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["trainer"]["tbptt"] == 20 and config["trainer"]["optimizer"] == "adagrad"
    assert config["trainer"]["optimizer_options"] == {"initial_accumulator_value": 1 / 400}
