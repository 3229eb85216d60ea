"""The defects of issue 11 (all but the checkpoint ones): each test failed before its fix.

The CLI runs in this process (``npslim.cli.main``), on the adding task at T = 8 and a few dozen
sequences, so each test takes a second or two."""
import subprocess
import sys

import numpy as np
import pytest

import npslim
from npslim import cli, losses
from npslim.layers import Bidirectional, Embedding, Recurrent
from npslim.train import Trainer, TrainingDiverged, build_model

QUICK = ["--task", "adding", "--task-option", "T=8", "--limit", "48", "--limit-test", "16", "-n", "4",
         "--no-progress"]


def npslim_cli(*argv, capsys=None):
    """(exit status, stdout, stderr) of ``npslim argv`` run in this process; a SystemExit's message
    counts as stderr, as the interpreter would print it."""
    try:
        rc, extra = cli.main([str(a) for a in argv]), ""
    except SystemExit as exc:
        rc, extra = (exc.code, "") if isinstance(exc.code, int) or exc.code is None else (1, str(exc.code))
    out, err = capsys.readouterr() if capsys else ("", "")
    return rc or 0, out, err + extra


def adding(**kw):
    return npslim.tasks.make("adding", T=8, n_train=kw.pop("n_train", 32), n_test=16, **kw)


# ------------------------------------------------------------------------------ dtype float64
def test_trainer_casts_the_task_data_to_the_model_dtype(tmp_path):
    task = adding()
    assert task.X_train.dtype == np.float32
    model = build_model(task, "lstm", 4, dtype="float64")
    history = Trainer(model, task, progress=False, out=tmp_path).fit(1)
    assert np.isfinite(history[-1]["test_loss"])


def test_train_dtype_float64_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", "--dtype", "float64", "--out", "r", capsys=capsys)
    assert rc == 0, err
    assert (tmp_path / "r" / "checkpoint.npz").exists()


# ------------------------------------------------------------------------------ divergence
def test_loss_schedule_overflow_is_training_diverged_with_the_last_good_checkpoint(tmp_path):
    task = adding()
    model = build_model(task, "lstm", 4)
    trainer = Trainer(model, task, schedule="loss", lr=1e-3, clip=None, progress=False, out=tmp_path)
    trainer.fit(1)
    model.layers["out"].params["W"][...] *= 1e4          # outputs ~1e4: a loss far above 700, still finite
    with pytest.raises(TrainingDiverged, match="η₀·exp") as info:
        trainer.fit(2)
    assert info.value.epoch == 2 and info.value.checkpoint == tmp_path / "checkpoint.npz"
    assert len(trainer.history) == 1 and trainer.best["epoch"] == 1     # epoch 2 left no trace
    again = Trainer(build_model(task, "lstm", 4), task, schedule="loss", lr=1e-3, clip=None, progress=False)
    assert again.load_checkpoint(info.value.checkpoint).epoch == 1


def test_loss_schedule_overflow_in_the_first_epoch_ends_the_cli_run_with_one_line(tmp_path, capsys, monkeypatch):
    """The epoch-end overflow of η₀·exp(C) used to update "best" to an epoch the history never
    got: the CLI's summary then died on an IndexError."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", "--schedule", "loss", "--lr", "50", "--clip", "0",
                              "--out", "r", capsys=capsys)
    assert rc == 1 and "training diverged: non-finite learning rate η₀·exp(loss)" in err, err
    assert "Error" not in err and len(err.strip().splitlines()) == 1, err


# ------------------------------------------------------------------------------ run folders
@pytest.mark.parametrize("bad", [["--epochs", "-1"], ["--monitor", "bogus"], ["-o", "foo=1"],
                                 ["--batch-size", "0"]])
def test_bad_arguments_create_no_run_folder(bad, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", *bad, "--out", "r", capsys=capsys)
    assert rc != 0
    assert not (tmp_path / "r").exists(), err


def _only_config(tmp_path, capsys):
    rc, _, err = npslim_cli("train", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)
    assert rc == 0, err
    for f in (tmp_path / "r").iterdir():                 # as after a kill during epoch 1
        if f.name != "config.json":
            f.unlink()


def test_a_folder_without_checkpoint_resumes_from_scratch(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _only_config(tmp_path, capsys)
    rc, out, err = npslim_cli("train", "--resume", "r", "--no-progress", capsys=capsys)
    assert rc == 0, err
    assert "from epoch 0" in out and (tmp_path / "r" / "checkpoint.npz").exists()


def test_a_folder_without_checkpoint_is_reused_by_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _only_config(tmp_path, capsys)
    rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)
    assert rc == 0, err
    assert "reusing r" in out
    rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)
    assert rc != 0 and "already holds a run" in err           # now it holds one: never replaced


def test_a_locked_folder_is_refused_and_a_stale_lock_is_not(tmp_path, capsys, monkeypatch):
    from npslim.files import folder_lock
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r").mkdir()
    with folder_lock(tmp_path / "r"):                        # another training holds it
        rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)
        assert rc != 0 and "in use by another run" in err and "\n" not in err.strip()
        assert not (tmp_path / "r" / "config.json").exists()
    assert (tmp_path / "r" / ".lock").exists()               # left by a run that ended: not a lock any more
    rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)
    assert rc == 0, err


def test_a_second_process_on_one_folder_is_refused(tmp_path):
    code = ("import sys; from npslim.files import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], input="", capture_output=True, text=True)
        assert other.returncode != 0 and "FolderInUse" in other.stderr
    finally:
        holder.communicate("")
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)], input="", capture_output=True).returncode == 0


def test_temporaries_of_killed_writes_are_removed(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = npslim_cli("train", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)
    assert rc == 0, err
    stray = [tmp_path / "r" / ".checkpoint.npz.k3j2x9.part.npz", tmp_path / "r" / ".checkpoint.npz.abc.tmp"]
    for path in stray:
        path.write_bytes(b"half a checkpoint")
    rc, out, err = npslim_cli("train", "--resume", "r", "--epochs", "2", "--no-progress", capsys=capsys)
    assert rc == 0, err
    assert not any(p.exists() for p in stray) and "removed" in out


# ------------------------------------------------------------------------------ options
@pytest.mark.parametrize("text, value", [("false", False), ("no", False), ("0", False), (0, False),
                                         ("true", True), ("Yes", True), ("1", True), (True, True)])
def test_boolean_options_are_booleans(text, value):
    assert npslim.cells.make("lstm", 2, 3, peepholes=text).peepholes is value
    assert Recurrent("lstm", 2, 3, return_sequences=text).return_sequences is value


@pytest.mark.parametrize("text", ["maybe", 2, "", None])
def test_a_boolean_option_refuses_anything_else(text):
    with pytest.raises(ValueError, match="peepholes: expected True or False"):
        npslim.cells.make("lstm", 2, 3, peepholes=text)


def test_unknown_options_are_errors_naming_the_valid_ones():
    with pytest.raises(ValueError, match="takes no option 'foo'.*peepholes=True"):
        npslim.cells.make("lstm", 2, 3, foo=1)
    with pytest.raises(ValueError, match="takes no option 'peepholes'.*none"):
        npslim.cells.make("gru", 2, 3, peepholes=False)
    with pytest.raises(TypeError, match="dtype: expected one of"):
        npslim.cells.make("lstm", 2, 3, dtype=None)


@pytest.mark.parametrize("bad, words", [(["-o", "foo=bar"], "no cell here takes 'foo'"),
                                        (["-o", "=5"], "non-empty KEY"),
                                        (["-o", "peepholes"], "KEY=VALUE"),
                                        (["-o", "peepholes=maybe"], "peepholes: expected True or False")])
def test_cli_options_parsed_strictly(bad, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = npslim_cli("train", *QUICK, "--epochs", "1", *bad, "--out", "r", capsys=capsys)
    assert rc != 0 and words in err and "Traceback" not in err


def test_every_cell_lists_and_returns_all_its_options(capsys):
    doc = npslim.cells.make.__doc__
    for name in npslim.cells.names():
        cls = npslim.cells.get(name)
        cell = npslim.cells.make(name, 4, 6, **cls.GRADCHECK_OPTIONS)
        options = cell.options()
        assert set(options) == set(cls.option_defaults()), name
        again = npslim.cells.make(name, 4, 6, **options)
        assert again.options() == options and again.num_params() == cell.num_params(), name
        line = next(ln for ln in doc.splitlines() if ln.split()[:1] == [name])
        for key, default in cls.option_defaults().items():
            assert f"{key}={default!r}" in line, (name, key)
    assert npslim.cells.make("lstm", 2, 3).options() == {"peepholes": True, "gate": "sigmoid"}
    assert npslim.cells.make("lstmp", 2, 6).options() == {"proj_size": 6, "forget_bias": 0.0}
    rc, out, err = npslim_cli("cells", "lstmp", "rnn", capsys=capsys)
    assert rc == 0 and "proj_size=None" in out and "activation='tanh'" in out


# ------------------------------------------------------------------------------ backward and its cache
def _cell(name, dtype="float64", seed=0, n=6):
    return npslim.cells.make(name, 4, n, seed=seed, dtype=dtype, **npslim.cells.get(name).GRADCHECK_OPTIONS)


def _forward(cell):
    X = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(cell.dtype)
    Y, _, cache = cell.forward(X)
    return np.ones_like(Y), cache


@pytest.mark.parametrize("name", npslim.cells.names())
def test_backward_refuses_any_cache_but_its_own(name):
    cell = _cell(name)
    dY, own = _forward(cell)
    cell.backward(dY, own)                                   # its own: accepted
    for other in (_cell(name, seed=1), _cell(name, dtype="float32"), _cell("rnn" if name != "rnn" else "gru")):
        with pytest.raises(ValueError, match="cache: expected the cache returned by this cell's own forward"):
            cell.backward(dY, _forward(other)[1])
    with pytest.raises(TypeError, match="cache: .* got NoneType"):
        cell.backward(dY, None)


def test_backward_refuses_the_cache_of_a_cell_of_another_size():
    cell = _cell("gru")
    dY, _ = _forward(cell)
    with pytest.raises(ValueError, match="hidden_size=8"):
        cell.backward(dY, _forward(_cell("gru", n=8))[1])


# ------------------------------------------------------------------------------ NaN in padding
@pytest.mark.parametrize("layer_kind, return_sequences", [("recurrent", True), ("recurrent", False),
                                                          ("bidirectional", True)])
def test_nan_in_padding_changes_nothing(layer_kind, return_sequences):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3, 2))
    lengths = np.array([2, 6, 4])
    results = []
    for pad in (0.0, np.nan, 1e6):
        Xp = X.copy()
        for b, n in enumerate(lengths):
            Xp[n:, b] = pad
        make = Recurrent if layer_kind == "recurrent" else Bidirectional
        layer = make("lstm", 2, 3, return_sequences=return_sequences, dtype="float64", seed=1)
        out, cache = layer.forward(Xp, lengths)
        layer.zero_grad()
        dX = layer.backward(np.ones_like(out), cache)
        results.append((out, dX, {k: g.copy() for k, g in layer.grads.items()}))
    for out, dX, grads in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(dX, results[0][1])
        for k in grads:
            np.testing.assert_array_equal(grads[k], results[0][2][k])


# ------------------------------------------------------------------------------ losses
@pytest.mark.parametrize("loss, shape", [(losses.sigmoid_binary_cross_entropy, (3, 2)),
                                         (losses.bernoulli_nll, (3, 2, 4))])
@pytest.mark.parametrize("bad", [2.0, -0.5, np.nan])
def test_sigmoid_loss_targets_must_be_probabilities(loss, shape, bad):
    targets = np.full(shape, 0.5)
    targets[0, 0] = bad
    with pytest.raises(ValueError, match=r"targets: expected probabilities in \[0, 1\]"):
        loss(np.zeros(shape), targets)
    loss(np.zeros(shape), np.clip(np.nan_to_num(targets), 0, 1))            # in range: accepted


@pytest.mark.parametrize("loss, shape, mask_shape", [(losses.mean_squared_error, (3, 2), (3,)),
                                                     (losses.sigmoid_binary_cross_entropy, (3, 2), (3, 2)),
                                                     (losses.bernoulli_nll, (3, 2, 4), (3, 2))])
def test_negative_mask_weights_are_refused(loss, shape, mask_shape):
    mask = np.ones(mask_shape)
    mask[1] = -1.0
    with pytest.raises(ValueError, match="mask: expected weights >= 0"):
        loss(np.zeros(shape), np.zeros(shape), mask=mask)


# ------------------------------------------------------------------------------ messages
def test_messages_name_the_argument():
    with pytest.raises(ValueError, match="seed: expected an integer >= 0, got -1"):
        npslim.cells.make("lstm", 2, 3, seed=-1)
    with pytest.raises(ValueError, match="init_scale: expected a finite number >= 0.0, got -1"):
        Embedding(10, 4, init_scale=-1)
    task = adding()
    model = build_model(task, "lstm", 3)
    with pytest.raises(ValueError, match="clip: expected a finite number"):
        Trainer(model, task, clip="a")
    with pytest.raises(TypeError, match="task: expected an npslim.tasks.Task"):
        Trainer(model, None)
    with pytest.raises(ValueError, match="monitor: expected one of .*'test_mse'"):
        Trainer(model, task, monitor="bogus")


def test_cli_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = npslim_cli("train", *QUICK, "--task-option", "T=abc", "--out", "r", capsys=capsys)
    assert rc == 2 and err.strip() == "npslim train: error: T: expected an integer >= 2, got 'abc'"
    with pytest.raises(ValueError, match="T: expected an integer"):
        cli.main(["--debug", "train", *QUICK, "--task-option", "T=abc", "--out", "r"])
    with pytest.raises(ValueError, match="T: expected an integer"):
        cli.main(["train", "--debug", *QUICK, "--task-option", "T=abc", "--out", "r"])
    rc, out, err = npslim_cli("train", "--task", "adding", "--limit", "0", capsys=capsys)
    assert rc == 2 and "--limit" in err and "n_train" not in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ CLI
def test_compare_with_an_unregistered_cell_fails(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = npslim_cli("compare", "--cells", "lstm,foo", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)
    assert rc != 0 and "'foo'" in err and not (tmp_path / "r").exists()


def test_resume_of_a_finished_run_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert npslim_cli("train", *QUICK, "--epochs", "1", "--out", "r", capsys=capsys)[0] == 0
    rc, out, err = npslim_cli("train", "--resume", "r", "--no-progress", capsys=capsys)
    assert rc != 0 and "already at epoch 1; pass --epochs N" in err


@pytest.mark.parametrize("argv, words", [(["train", "--threads", "-1"], "--threads"),
                                         (["cells", "-m", "0"], "-m/--input-size"),
                                         (["gradcheck", "-T", "0"], "-T/--steps")])
def test_cli_refuses_bad_numbers(argv, words, capsys):
    rc, out, err = npslim_cli(*argv, capsys=capsys)
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1


def test_version(capsys):
    rc, out, err = npslim_cli("--version", capsys=capsys)
    assert rc == 0 and out.strip() == f"npslim {npslim.__version__}"


# ------------------------------------------------------------------------------ imports
def test_submodules_after_a_plain_import():
    code = "import npslim; npslim.datasets.load; npslim.train.Trainer; npslim.plots.plot_curves; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
