"""The whole library on "fakegpu", the CuPy stand-in of tests/fakegpu.py: arrays that refuse every
implicit trip to the host and every mix with NumPy arrays.  Every cell, layer, loss, optimizer and
schedule, the gradient check, compression and a short Trainer run give NumPy's results there, and
every host <-> device crossing goes through npslim.backend.to_host / to_device, where it is counted.
No GPU needed; tests/test_cupy.py runs the real CuPy where there is one."""
import numpy as np
import pytest

import npslim
from npslim import backend, compress, losses, optim, tasks
from npslim.gradcheck import check_cell
from npslim.layers import Bidirectional, Dense, Dropout, Embedding, Recurrent, Stack
from npslim.model import Model
from npslim.train import Trainer, build_model, evaluate
from npslim.validate import checked_on_host

import fakegpu
from conftest import make_cell, random_inputs

host = backend.to_host


def on_fake(build):
    with backend.use_backend("fakegpu"):
        return build()


def dev(a):
    return backend.to_device(a, fakegpu.fakegpu)


def assert_close(device, reference, tol=1e-12):
    np.testing.assert_allclose(host(device), host(reference), rtol=tol, atol=tol)


# ---------------------------------------------------------------- the stand-in itself
def test_fake_refuses_what_cupy_refuses():
    a = dev(np.arange(6.0).reshape(2, 3))
    h = np.ones((2, 3))
    for implicit in (lambda: np.asarray(a), lambda: np.array([a]), lambda: float(a.sum()), lambda: int(a[0, 0]),
                     lambda: bool(a.any()), lambda: a + h, lambda: h * a, lambda: np.dot(h.T, a),
                     lambda: a[np.array([0])], lambda: h.__setitem__(0, a[0]), lambda: a.__setitem__(0, h[0]),
                     lambda: fakegpu.fakegpu.concatenate([a, h])):
        with pytest.raises(TypeError):
            implicit()
    assert isinstance(a.sum(), fakegpu.ndarray) and a.sum().ndim == 0     # results stay on the device
    assert isinstance(np.tanh(a), fakegpu.ndarray) and isinstance(a * 2.0 + np.float64(1), fakegpu.ndarray)
    before = dict(fakegpu.counts)
    np.testing.assert_array_equal(host(a), np.arange(6.0).reshape(2, 3))
    assert fakegpu.counts["to_host"] == before["to_host"] + 1
    assert backend.backend_of(a) == "fakegpu" and backend.xp_of(h, a) is fakegpu.fakegpu


# ---------------------------------------------------------------- cells
@pytest.mark.parametrize("name", npslim.cells.names())
def test_cell_on_fakegpu_matches_numpy_without_crossing(name):
    ref = make_cell(name)
    cell = on_fake(lambda: make_cell(name))
    assert cell.xp is fakegpu.fakegpu and cell.backend == "fakegpu"
    X, s0, dY, ds = random_inputs(ref, 6, 3)
    to = lambda t: tuple(dev(a) for a in t)  # noqa: E731
    outs = []
    for c, args in ((ref, (X, s0, dY, ds)), (cell, (dev(X), to(s0), dev(dY), to(ds)))):
        with fakegpu.counting() as log:
            Y, state, cache = c.forward(args[0], args[1])
            dX, dstate0 = c.backward(args[2], cache, args[3])
            gates = c.gate_activations(cache)
        if c is cell:      # only g2lstm crosses: its noise is drawn on the host (seeded) and moved
            assert [(d, "cells/binary.py" in w) for d, _, w in log] == ([("to_device", True)] if name == "g2lstm"
                                                                     else []), log
        outs.append([Y, *state, dX, *dstate0, *c.grads.values(), *gates.values()])
    for a, b in zip(*outs):
        assert_close(b, a)


@pytest.mark.parametrize("name", ["lstm", "gru", "g2lstm"])
def test_gradient_check_on_fakegpu(name):
    cell = on_fake(lambda: make_cell(name, input_size=2, hidden_size=3))
    errors = check_cell(cell, T=2, B=2)
    assert max(errors.values()) < 1e-6, errors
    assert errors == check_cell(make_cell(name, input_size=2, hidden_size=3), T=2, B=2)


def test_states_at_and_compression_on_fakegpu():
    cell, ref = on_fake(lambda: make_cell("lstm")), make_cell("lstm")
    X, s0, _, _ = random_inputs(ref, 6, 3)
    t_index = np.array([5, 0, 3])
    _, _, cache = cell.forward(dev(X), tuple(map(dev, s0)))
    _, _, cache_ref = ref.forward(X, s0)
    for a, b in zip(cell.states_at(cache, dev(t_index)), ref.states_at(cache_ref, t_index)):
        assert_close(a, b)
    for transform in (lambda c: compress.round_r(c, 0.1), lambda c: compress.clip_c(c, 0.2),
                      lambda c: compress.low_rank(c, 2)):
        small, small_ref = transform(cell), transform(ref)
        assert small.backend == "fakegpu"
        for k in small_ref.params:
            assert_close(small.params[k], small_ref.params[k], 1e-10)


# ---------------------------------------------------------------- layers and losses
def _layers(seed=0):
    return {"emb": Embedding(11, 4, seed=seed, dtype="float64"),
            "bi": Bidirectional("lstm", 4, 5, seed=seed + 1, dtype="float64"),
            "drop": Dropout(0.25, variational=True, seed=seed + 2),
            "rnn": Recurrent("gru", 10, 6, return_sequences=False, seed=seed + 3, dtype="float64"),
            "out": Dense(6, 3, seed=seed + 4, dtype="float64")}


def test_layers_on_fakegpu_match_numpy():
    ids = np.random.default_rng(0).integers(0, 11, (7, 4))
    lengths = np.array([7, 3, 5, 1])
    dout = np.random.default_rng(1).standard_normal((4, 3))
    results = []
    for model, move in ((Model(_layers()), lambda a: a), (on_fake(lambda: Model(_layers())), dev)):
        args = move(ids), move(lengths), move(dout)
        with fakegpu.counting() as log:
            out = model.forward(*args[:2])
            model.zero_grad()
            model.backward(args[2])
        # scalars read by the range checks of ids and lengths; one array: the dropout mask, drawn on the host
        assert all(n == 1 for d, n, _ in log if d == "to_host"), log
        assert [w.rsplit(" ", 1)[1] for d, _, w in log if d == "to_device"] == (["_noise"] if move is dev else [])
        results.append([out, *model.grads().values()])
    for a, b in zip(*results):
        assert_close(b, a)


def test_stateful_recurrent_and_stack_on_fakegpu():
    X = np.random.default_rng(2).standard_normal((5, 3, 4))
    lengths = np.array([5, 2, 4])
    runs = []
    for make, move in ((lambda: Stack([Recurrent("lstm", 4, 5, stateful=True, seed=1, dtype="float64")]),
                        lambda a: a),
                       (lambda: on_fake(lambda: Stack([Recurrent("lstm", 4, 5, stateful=True, seed=1,
                                                                 dtype="float64")])), dev)):
        layer = make()
        outs = [layer.forward(move(X), move(lengths))[0] for _ in range(2)]
        runs.append(outs)
    for a, b in zip(*runs):
        assert_close(b, a)


LOSSES = {
    "softmax_cross_entropy": (losses.softmax_cross_entropy, lambda r: r.integers(0, 4, (5, 3))),
    "sigmoid_binary_cross_entropy": (losses.sigmoid_binary_cross_entropy, lambda r: r.random((5, 3, 4)).round()),
    "bernoulli_nll": (losses.bernoulli_nll, lambda r: r.random((5, 3, 4)).round()),
    "mean_squared_error": (losses.mean_squared_error, lambda r: r.standard_normal((5, 3, 4))),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("masked", [False, True])
def test_losses_on_fakegpu_match_numpy(name, masked):
    f, targets = LOSSES[name]
    rng = np.random.default_rng(3)
    logits, y = rng.standard_normal((5, 3, 4)), targets(rng)
    mask = (np.arange(5)[:, None] < np.array([5, 2, 4])[None, :]) if masked else None
    loss, grad = f(logits, y, mask)
    assert isinstance(loss, float)                          # on the host a NumPy float64: a Python float
    logits_d, y_d, mask_d = dev(logits), dev(y), None if mask is None else dev(mask)
    with fakegpu.counting() as log, checked_on_host():     # values vouched for: nothing is read
        loss_d, grad_d = f(logits_d, y_d, mask_d)
    assert log == [] and isinstance(loss_d, fakegpu.ndarray) and loss_d.shape == ()
    assert host(loss_d).item() == pytest.approx(loss, rel=1e-12)
    assert_close(grad_d, grad)
    with fakegpu.counting() as log:                         # outside: the value checks read two scalars each
        f(logits_d, y_d, mask_d)
    checks = (name != "mean_squared_error") + masked        # targets' values (not MSE's), the mask's
    assert len(log) == 2 * checks and all(d == "to_host" and n == 1 for d, n, _ in log), log


# ---------------------------------------------------------------- optimizers and schedules
@pytest.mark.parametrize("name", optim.names())
def test_optimizer_on_fakegpu_matches_numpy(name):
    rng = np.random.default_rng(4)
    p0, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    results = []
    for move in (lambda a: a.copy(), dev):
        params, grads = {"w": move(p0)}, {"w": move(g)}
        opt = optim.make(name, params, grads, lr=0.05)
        schedule = optim.ReduceLROnPlateau(opt, patience=0)
        for step in range(3):
            optim.clip_grad_norm(grads, 1.0)
            opt.step()
            schedule.step(1.0)
        state = opt.state_dict()
        opt.load_state_dict(state)
        results.append((params["w"], opt.lr, {k: v for k, v in state.items() if isinstance(v, np.ndarray)}))
    assert_close(results[1][0], results[0][0])
    assert results[1][1] == results[0][1]
    for k, v in results[0][2].items():
        assert isinstance(results[1][2][k], np.ndarray)          # a state dict holds host arrays
        np.testing.assert_allclose(results[1][2][k], v, rtol=1e-12)


@pytest.mark.parametrize("name", optim.names())
def test_clipping_and_an_optimizer_step_read_nothing_on_fakegpu(name):
    rng = np.random.default_rng(6)
    g = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    params = {k: dev(rng.standard_normal(v.shape)) for k, v in g.items()}
    grads = {k: dev(v) for k, v in g.items()}
    opt = optim.make(name, params, grads, lr=0.05)
    with fakegpu.counting() as log:
        norm = optim.clip_grad_norm(grads, 1.0)
        opt.step()
    assert log == [] and isinstance(norm, fakegpu.ndarray)
    assert host(norm).item() == pytest.approx(np.sqrt(sum((v * v).sum() for v in g.values())), rel=1e-12)
    clipped = np.sqrt(sum((host(v) ** 2).sum() for v in grads.values()))
    assert clipped == pytest.approx(1.0, rel=1e-5)


# ---------------------------------------------------------------- the trainer
def _token_task():
    """A small token task with variable lengths (Embedding, masks and lengths in one run)."""
    rng = np.random.default_rng(5)
    T, N, V = 6, 24, 7

    def split(n):
        lengths = rng.integers(1, T + 1, n).astype(np.int64)
        X = rng.integers(0, V, (T, n)).astype(np.int64)
        return X, (X[0] % 2).astype(np.int64), lengths
    (Xa, ya, la), (Xb, yb, lb) = split(N), split(12)
    return tasks.Task("tokens", "classify-last", V, 2, "accuracy", Xa, ya, Xb, yb, la, lb, vocab_size=V,
                      embed_size=4)


def _multilabel_task():
    """Chorales-like: 0/1 labels per step, variable lengths (the Bernoulli loss under a mask)."""
    rng = np.random.default_rng(8)
    T, m, K = 7, 3, 4

    def split(n):
        lengths = rng.integers(2, T + 1, n).astype(np.int64)
        return (rng.standard_normal((T, n, m)).astype(np.float32),
                (rng.random((T, n, K)) < 0.3).astype(np.float32), lengths)
    (Xa, ya, la), (Xb, yb, lb) = split(20), split(10)
    return tasks.Task("labels", "multilabel-each", m, K, "nll", Xa, ya, Xb, yb, la, lb)


TRAINER_CASES = {       # name: (task, build_model options, Trainer options)
    "tokens, lengths, clip": (_token_task, dict(), dict(clip=1.0)),
    "copy, IGNORE targets": (lambda: tasks.make("copy", n_train=24, n_test=12, length=3, delay=4), dict(), dict()),
    "copy, TBPTT windows scoring nothing": (lambda: tasks.make("copy", n_train=24, n_test=12, length=3, delay=4),
                                            dict(), dict(tbptt=3)),
    "adding, no clipping, per-epoch loss schedule": (lambda: tasks.make("adding", n_train=24, n_test=12, T=8),
                                                     dict(input_noise=0.1),
                                                     dict(clip=None, schedule="loss", optimizer="rmsprop")),
    "multilabel, lengths, plateau": (_multilabel_task, dict(), dict(schedule="plateau")),
    "g2lstm's noise, sgd": (_token_task, dict(cell="g2lstm"), dict(optimizer="sgd")),
}


@pytest.mark.parametrize("case", sorted(TRAINER_CASES))
def test_trainer_on_fakegpu_matches_numpy_and_reads_nothing_inside_a_step(case, tmp_path, monkeypatch):
    make_task, model_options, options = TRAINER_CASES[case]
    task = make_task()
    kwargs = {"batch_size": 8, "seed": 1, "progress": False, "optimizer": "adam", "lr": 0.01, **options}
    dtype = "float64" if task.tokens else "float32"          # the task's own dtype
    ref = Trainer(build_model(task, hidden_size=5, seed=2, dtype=dtype, **model_options), task, **kwargs)
    ref.fit(2)

    trainer = on_fake(lambda: Trainer(build_model(task, hidden_size=5, seed=2, dtype=dtype, **model_options), task,
                                      out=tmp_path, **kwargs))
    assert trainer.xp is fakegpu.fakegpu
    per_step = []
    step = Trainer._step

    def counted(self, *args):
        with fakegpu.counting() as log:
            step(self, *args)
        per_step.append(list(log))
    monkeypatch.setattr(Trainer, "_step", counted)
    save = Trainer.save_checkpoint

    def saved_apart(self, path):                      # a checkpoint copies everything to the host, by design
        with fakegpu.counting():
            return save(self, path)
    monkeypatch.setattr(Trainer, "save_checkpoint", saved_apart)
    with fakegpu.counting() as epoch_log:
        trainer.fit(2)
    # Inside a step nothing is read: the minibatch was moved before it, the loss, hits and gradient
    # norm stay on the device.  What is sent is the noise of a stochastic layer or cell, drawn on the
    # host so that a resumed run draws the same.  An epoch reads 5 times, however many steps it has:
    # the training sums, the divergence guard's losses and norms, the parameters' finiteness, and the
    # sums of the validation and test evaluations.
    assert len(per_step) >= 6
    for log in per_step:
        assert all(d == "to_device" and ("input_noise" in model_options and "basic.py" in where
                                         or "cell" in model_options and "_draw_gate_noise" in where)
                   for d, _, where in log), log
    reads = [entry for entry in epoch_log if entry[0] == "to_host"]
    assert len(reads) == 2 * 5, "\n".join(map(str, reads))
    for a, b in zip(trainer.history, ref.history):
        for k in b:
            if k not in ("seconds", "eval_seconds"):
                assert a[k] == pytest.approx(b[k], rel=1e-6), k
    for k, p in ref.model.params().items():
        assert_close(trainer.model.params()[k], p, 1e-6)
    resumed = on_fake(lambda: Trainer(build_model(task, hidden_size=5, seed=9, dtype=dtype, **model_options), task, **kwargs))
    resumed.load_checkpoint(tmp_path / "checkpoint.npz")
    assert evaluate(resumed.model, task) == evaluate(trainer.model, task)


@pytest.mark.parametrize("what", ["loss", "gradient norm"])
def test_divergence_on_fakegpu_is_found_at_the_epochs_end_and_named_as_on_numpy(what, tmp_path):
    """On a device the guard reads the epoch's losses and norms once, at its end: the same epoch,
    step, quantity and value as the host's per-step check, and the checkpoint is still epoch 1's."""
    task = tasks.make("adding", n_train=40, n_test=8, T=6)
    errors = []
    for fake in (False, True):
        def build(fake=fake):
            return Trainer(build_model(task, "gru", 4, seed=0), task, batch_size=8, val_fraction=0.0, seed=0,
                           out=tmp_path / str(fake), progress=False)
        trainer = on_fake(build) if fake else build()
        step, backward, at = trainer._step, trainer.model.backward, {}

        def planted_step(batch, epoch, k, *rest, step=step):          # epoch 2, step 3 goes wrong
            at["bad"] = (epoch, k) == (2, 3)
            if at["bad"] and what == "loss":
                batch.X[0, 0, 0] = np.nan
            return step(batch, epoch, k, *rest)

        def planted_backward(dout, backward=backward, trainer=trainer):
            backward(dout)
            if at["bad"] and what == "gradient norm":             # a finite loss, an infinite gradient
                trainer.model.grads()["out.b"][...] = np.inf
        trainer._step, trainer.model.backward = planted_step, planted_backward
        with pytest.raises(npslim.train.TrainingDiverged) as info:
            trainer.fit(3)
        errors.append(info.value)
        assert int(npslim.train.load_npz(tmp_path / str(fake) / "checkpoint.npz")["epoch"]) == 1
    host_error, device_error = errors
    assert (host_error.epoch, host_error.step, host_error.quantity) == (2, 3, what)
    assert (device_error.epoch, device_error.step, device_error.quantity) == (2, 3, what)
    assert str(device_error).replace(f"{tmp_path}/True", "RUN") == str(host_error).replace(f"{tmp_path}/False", "RUN")


def test_trainer_with_dropout_on_fakegpu_resumes_bit_exactly(tmp_path):
    task = _token_task()

    def model():
        return Model({"embed": Embedding(7, 4, seed=0, dtype="float64"),
                      "rnn": Recurrent("gru", 4, 5, return_sequences=False, seed=1, dtype="float64"),
                      "drop": Dropout(0.3, seed=2), "out": Dense(5, 2, seed=3, dtype="float64")})
    kwargs = dict(batch_size=8, seed=1, progress=False)
    whole = on_fake(lambda: Trainer(model(), task, **kwargs))
    whole.fit(2)
    half = on_fake(lambda: Trainer(model(), task, out=tmp_path, **kwargs))
    half.fit(1)
    again = on_fake(lambda: Trainer(model(), task, **kwargs)).load_checkpoint(tmp_path / "checkpoint.npz")
    again.fit(2)
    for k, p in whole.model.params().items():
        np.testing.assert_array_equal(host(again.model.params()[k]), host(p))


def test_validation_split_on_fakegpu():
    task = _token_task()
    trainer = on_fake(lambda: Trainer(build_model(task, "rnn", 3, seed=0, dtype="float64"), task,
                                      val_fraction=0.25, progress=False))
    trainer.fit(1)
    assert np.isfinite(trainer.history[-1]["val_loss"])


def test_arrays_of_the_other_backend_are_refused_by_name():
    """A device array into a NumPy part, or a NumPy array into a device part: one clear line each."""
    X = np.zeros((2, 3, 4))
    numpy_cell, fake_cell = make_cell("lstm"), on_fake(lambda: make_cell("lstm"))
    with pytest.raises(TypeError, match=r"X: expected a numpy array \(the cell's backend\), got a fakegpu array"):
        numpy_cell.forward(dev(X))
    with pytest.raises(TypeError, match=r"X: expected a fakegpu array \(the cell's backend\), got a numpy array"):
        fake_cell.forward(X)
    layer = on_fake(lambda: Recurrent("lstm", 4, 5, dtype="float64"))
    with pytest.raises(TypeError, match=r"lengths: expected a numpy array \(the layer's backend\), got a fakegpu"):
        Recurrent("lstm", 4, 5, dtype="float64").forward(X, dev(np.array([2, 1, 2])))
    layer.forward(dev(X), np.array([2, 1, 2]))                       # host lengths are moved, as documented
    with pytest.raises(TypeError, match=r"targets: expected a fakegpu array \(the logits' backend\), got a numpy"):
        losses.softmax_cross_entropy(dev(np.zeros((3, 4))), np.zeros(3, dtype=np.int64))


def test_value_checks_skip_the_device_only_inside_checked_on_host():
    """Inside checked_on_host() a device array's values are not read (the caller checked them on
    the host); shapes are still checked, and host arrays are checked as always."""
    layer = on_fake(lambda: Embedding(5, 3, seed=0, dtype="float64"))
    with pytest.raises(ValueError, match=r"ids: expected ids in \[0, 5\) \(vocab 5\), got values in \[0, 7\]"):
        layer.forward(dev(np.array([[0, 7]])))
    ids, floats = dev(np.array([[0, 4]])), dev(np.array([[0.0, 4.0]]))
    with checked_on_host(), fakegpu.counting() as log:
        layer.forward(ids)
        with pytest.raises(TypeError, match="ids: expected an integer array"):
            layer.forward(floats)
    assert log == []
    with checked_on_host(), pytest.raises(ValueError, match=r"ids: expected ids in \[0, 5\)"):
        Embedding(5, 3, seed=0, dtype="float64").forward(np.array([[0, 7]]))
    rnn = on_fake(lambda: Recurrent("lstm", 2, 3, dtype="float64"))
    X = dev(np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match=r"lengths: expected values in 1..4"):
        rnn.forward(X, dev(np.array([5, 1])))
    lengths = dev(np.array([4, 1]))
    with checked_on_host(), fakegpu.counting() as log:
        rnn.forward(X, lengths)
    assert log == []


def test_a_model_too_small_for_the_task_is_refused_before_training():
    """What lets the Trainer skip the device-side checks: the Task checked its values, and the
    model's sizes are checked against the Task's."""
    task = _token_task()                                         # ids in [0, 7), 2 classes

    def model(vocab, classes):
        return Model({"embed": Embedding(vocab, 4, seed=0, dtype="float64"),
                      "rnn": Recurrent("lstm", 4, 5, return_sequences=False, seed=1, dtype="float64"),
                      "out": Dense(5, classes, seed=2, dtype="float64")})
    with pytest.raises(ValueError, match=r"model: its Embedding takes ids in \[0, 5\), task 'tokens' has ids in \[0, 7\)"):
        Trainer(model(5, 2), task)
    with pytest.raises(ValueError, match=r"model: its last layer gives 1 class scores, task 'tokens' has 2 classes"):
        evaluate(model(7, 1), task)
    Trainer(model(9, 3), task, progress=False).fit(1)           # larger is fine


def test_the_per_step_loss_schedule_reads_one_loss_a_step_and_nothing_else(monkeypatch):
    """The documented exception: η = η₀·exp(C) after every minibatch needs C on the host."""
    task = tasks.make("adding", n_train=24, n_test=8, T=6)
    trainer = on_fake(lambda: Trainer(build_model(task, "gru", 4, seed=0), task, batch_size=8, progress=False,
                                      schedule="loss", schedule_options={"per": "step"}, lr=1e-3))
    per_step, step = [], Trainer._step

    def counted(self, *args):
        with fakegpu.counting() as log:
            step(self, *args)
        per_step.append(log)
    monkeypatch.setattr(Trainer, "_step", counted)
    trainer.fit(1)
    assert per_step and all(len(log) == 1 and log[0][:2] == ("to_host", 1) for log in per_step), per_step
