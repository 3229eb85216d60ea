"""The papers' recipes (npslim.recipes): the loss-driven rate per epoch as Lu & Salem's code, the Keras
initialisation, per-pixel standardisation, and ``npslim train --recipe``."""
import json
import math

import numpy as np
import pytest

from npslim import cli, initializers, optim, recipes, tasks
from npslim.train import Trainer, build_model


@pytest.fixture(scope="module")
def digits():
    import dataclasses
    full = tasks.make("digits-rows")                 # 64 training and 32 test sequences of it
    return dataclasses.replace(full, X_train=full.X_train[:, :64], targets_train=full.targets_train[:64],
                               X_test=full.X_test[:, :32], targets_test=full.targets_test[:32])


# ---------------------------------------------------------------------------- the loss-driven rate, per epoch
def test_loss_driven_rate_is_set_per_epoch_from_the_previous_epochs_loss(digits):
    """Epoch 1 runs at η₀; epoch k at η₀·exp(mean training loss of epoch k − 1); the rate is constant
    within an epoch (the authors' on_epoch_end), whatever the minibatch losses do."""
    eta0 = 1e-3
    trainer = Trainer(build_model(digits, "lstm", 6), digits, optimizer="rmsprop", lr=eta0, schedule="loss",
                      batch_size=16, clip=0, progress=False)
    rates = []
    original = trainer.optimizer.step

    def step():                                     # the rate of every optimizer step
        rates.append(trainer.optimizer.lr)
        original()
    trainer.optimizer.step = step
    history = trainer.fit(3)
    per_epoch = len(rates) // 3
    assert per_epoch == 4 and trainer.schedule.per == "epoch"
    assert history[0]["lr"] == eta0 and set(rates[:per_epoch]) == {eta0}
    for k in (1, 2):
        want = eta0 * math.exp(history[k - 1]["train_loss"])
        assert history[k]["lr"] == pytest.approx(want, rel=1e-12)
        assert set(rates[k * per_epoch:(k + 1) * per_epoch]) == {history[k]["lr"]}
    assert trainer.optimizer.lr == pytest.approx(eta0 * math.exp(history[2]["train_loss"]), rel=1e-12)


def test_loss_driven_rate_per_step_is_npslims_own_and_old_checkpoints_resume_per_step(digits):
    trainer = Trainer(build_model(digits, "lstm", 6), digits, lr=1e-3, schedule="loss",
                      schedule_options={"per": "step"}, batch_size=16, progress=False)
    trainer.fit(1)
    assert trainer.optimizer.lr == pytest.approx(1e-3 * math.exp(trainer.schedule.last_loss), rel=1e-12)
    assert trainer.optimizer.lr != pytest.approx(1e-3 * math.exp(trainer.history[0]["train_loss"]), rel=1e-9)
    old = {"schedule": "LossDrivenLR", "eta0": 1e-3, "last_loss": 0.5}          # saved before `per` existed
    sched = optim.LossDrivenLR(trainer.optimizer, eta0=1.0)
    sched.load_state_dict(old)
    assert sched.per == "step" and sched.eta0 == 1e-3
    with pytest.raises(ValueError, match="per"):
        optim.LossDrivenLR(trainer.optimizer, eta0=1e-3, per="batch")


# ---------------------------------------------------------------------------- initialisation, preprocessing
def test_keras_initialisation(digits):
    model = build_model(digits, "lstm1", 10, seed=3)
    initializers.initialize(model, "keras-glorot", seed=0)
    p = model.params()
    a = math.sqrt(6 / (8 + 10))
    assert np.abs(p["rnn.cell.W_z"]).max() <= a and np.abs(p["rnn.cell.W_z"]).max() > 0.8 * a
    assert np.all(p["rnn.cell.b_f"] == 1) and np.all(p["rnn.cell.b_i"] == 0) and np.all(p["out.b"] == 0)
    initializers.initialize(model, "keras1", seed=0)
    R = p["rnn.cell.R_i"].astype(np.float64)
    np.testing.assert_allclose(R.T @ R, 1.1 ** 2 * np.eye(10), atol=1e-5)    # 1.1 · orthogonal
    with pytest.raises(ValueError, match="scheme"):
        initializers.initialize(model, "he", seed=0)


def test_standardize_per_pixel_uses_the_whole_training_split():
    """(x − mean) / (std + 1e-6), mean and std of each pixel over all 60,000 training images, also when
    the task keeps a subset."""
    raw, full = tasks.make("mnist-rows", n_test=50), tasks.make("mnist-rows", standardize=True, n_test=50)
    X = raw.X_train.astype(np.float64)
    mean, std = X.mean(axis=1, keepdims=True), X.std(axis=1, keepdims=True)
    np.testing.assert_allclose(full.X_train, (X - mean) / (std + 1e-6), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full.X_test, (raw.X_test - mean) / (std + 1e-6), rtol=1e-5, atol=1e-5)
    small = tasks.make("mnist-rows", standardize=True, n_train=20, n_test=50)
    np.testing.assert_array_equal(small.X_test, full.X_test)                  # statistics of all 60,000


# ---------------------------------------------------------------------------- the registry and the CLI
def test_every_recipe_builds_and_describes_itself():
    for name in recipes.names():
        r = recipes.get(name)
        text = r.describe()
        assert r.paper in text and "authors" in text and "npslim" in text
        for cell in r.cells:
            assert set(r.options_for(cell)) <= set(r.cell_options)
    with pytest.raises(KeyError, match="recipe"):
        recipes.get("lu-salem")


def test_recipe_setup_overrides(digits):
    r = recipes.get("lu-salem-2017-mnist-rows")
    task, model, trainer = r.setup("lstm3", n_train=40, n_test=20, lr=1e-2, hidden_size=7)
    assert task.options["standardize"] and task.n_train == 40 and model["rnn"].cell.hidden_size == 7
    assert trainer.lr == 1e-2 and trainer.schedule.per == "epoch" and trainer.optimizer.alpha == 0.9
    assert trainer.patience == 50 and trainer.monitor == "test_accuracy" and trainer.clip is None
    assert np.all(model.params()["rnn.cell.b_f"] == 1)


def test_cli_recipe_sets_what_the_command_line_leaves_out(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--recipe", "lu-salem-2017-mnist-rows", "--cell", "lstm2", "--limit", "64",
                     "--limit-test", "32", "--epochs", "2", "--batch-size", "16", "--no-progress", "--out", str(out)])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    t = config["trainer"]
    assert config["recipe"] == "lu-salem-2017-mnist-rows" and config["init"] == "keras-glorot"
    assert config["task_options"]["standardize"] and config["hidden_size"] == 50
    assert (t["optimizer"], t["lr"], t["schedule"], t["clip"], t["batch_size"], t["patience"]) == \
        ("rmsprop", 1e-3, "loss", None, 16, 50)
    assert t["optimizer_options"] == {"alpha": 0.9, "eps": 1e-8} and t["schedule_options"] == {"per": "epoch"}
    history = json.loads((out / "history.json").read_text())
    assert history[0]["lr"] == 1e-3
    assert history[1]["lr"] == pytest.approx(1e-3 * math.exp(history[0]["train_loss"]), rel=1e-9)
    with pytest.raises(SystemExit, match="recipe"):
        cli.main(["train", "--recipe", "lu-salem-2017-mnist-rows", "--task", "imdb"])


# ---------------------------------------------------------------------------- the gate function option
@pytest.mark.parametrize("name,options", [("lstm", {}), ("lstm", {"peepholes": False}), ("lstm1", {}),
                                          ("lstm2", {}), ("lstm3", {})])
def test_hard_sigmoid_gates_are_gradient_checked_away_from_the_kinks(name, options):
    """σ = clip(0.2x + 0.5, 0, 1) in the gates: the backward pass (σ' = 0.2 inside (0, 1), 0 outside,
    from the gate value) against finite differences, with weights large enough that some gates
    saturate, and no pre-activation within reach of a kink (x = ±2.5) for the stencil."""
    from npslim import cells
    from npslim.gradcheck import check_cell
    cell = cells.make(name, input_size=4, hidden_size=6, seed=0, dtype="float64", gate="hard_sigmoid", **options)
    assert cell.options()["gate"] == "hard_sigmoid"
    for key, p in cell.params.items():
        p *= 4.0 if key.startswith(("W", "R")) else 1.0                    # saturate some gates
    rng = np.random.default_rng(5)
    X = rng.standard_normal((5, 3, 4))
    _, _, cache = cell.forward(X, tuple(0.5 * rng.standard_normal((3, 6)) for _ in range(2)))
    values = np.concatenate([g.ravel() for g in cell.gate_activations(cache).values()])
    inside = (values > 0) & (values < 1)
    assert np.all(~inside | ((values > 1e-4) & (values < 1 - 1e-4)))       # 5e-4 or more from a kink
    if name != "lstm3":                                                     # lstm3's gates are σ(b), inside
        assert 0 < inside.mean() < 1                                        # both pieces exercised
    errors = check_cell(cell, T=5, B=3, seed=5)
    assert max(errors.values()) < 1e-6, errors                            # npslim gradcheck's pass mark


def test_gate_option_is_refused_where_the_cell_writes_sigmoid_itself():
    from npslim import cells
    from npslim.activations import HARD_SIGMOID
    x = np.array([-3.0, -2.5, 0.0, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(HARD_SIGMOID.forward(x, np.empty_like(x)), np.clip(0.2 * x + 0.5, 0, 1))
    with pytest.raises(ValueError, match="gate: expected one of"):
        cells.make("cifg", input_size=3, hidden_size=4, gate="hard_sigmoid")
    with pytest.raises(ValueError, match="gate"):
        cells.make("lstm", input_size=3, hidden_size=4, gate="relu")
