"""npslim.optim against torch.optim (the reference rules), the loss-driven rate against a hand
computation, state-dict round trips (bit-exact resume), gradient clipping against torch's."""
import math

import numpy as np
import pytest

from npslim import backend, optim

torch = pytest.importorskip("torch", reason="torch is the test-time reference for npslim.optim "
                                            "(pip install npslim[test])")

SHAPES = {"W": (3, 4), "b": (4,), "R": (2, 2, 3)}
STEPS = 5


def make_params(dtype=np.float64, seed=0):
    """Parameters and gradients as a model hands them over: live arrays, two of them views of
    one stacked storage (as the cells' W_z/W_i...)."""
    rng = np.random.default_rng(seed)
    stacked = rng.standard_normal((3, 8)).astype(dtype)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    params["W_a"], params["W_b"] = stacked[:, :4], stacked[:, 4:]
    grad_stacked = np.zeros_like(stacked)
    grads = {k: np.zeros_like(params[k]) for k in SHAPES}
    grads["W_a"], grads["W_b"] = grad_stacked[:, :4], grad_stacked[:, 4:]
    return params, grads


def grad_sequence(params, steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(p.shape) for k, p in params.items()} for _ in range(steps)]


def set_grads(grads, values):
    for k, g in grads.items():
        g[...] = values[k]


@pytest.fixture
def torch_float64():
    """torch keeps some scalar state (ASGD's eta, mu) in the default dtype: make it float64."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


# (npslim class, torch class, options) -- non-default values are chosen so that every term matters
# at 1e-6 (e.g. a large eps makes its placement visible).
CASES = [
    ("SGD", "SGD", {}),
    ("SGD", "SGD", {"lr": 0.1}),
    ("SGD", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", "SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adam", "Adam", {}),
    ("Adam", "Adam", {"lr": 0.1, "betas": (0.8, 0.9), "eps": 0.1}),
    ("Adam", "Adam", {"lr": 0.1, "amsgrad": True}),
    ("Adam", "Adam", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True, "eps": 0.05}),
    ("RMSprop", "RMSprop", {}),
    ("RMSprop", "RMSprop", {"lr": 0.05, "alpha": 0.9, "eps": 0.1}),
    ("RMSprop", "RMSprop", {"lr": 0.05, "momentum": 0.8}),
    ("RMSprop", "RMSprop", {"lr": 0.05, "centered": True, "eps": 0.1}),
    ("RMSprop", "RMSprop", {"lr": 0.05, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adagrad", "Adagrad", {}),
    ("Adagrad", "Adagrad", {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 0.1}),
    ("Adagrad", "Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("AdaDelta", "Adadelta", {}),
    ("AdaDelta", "Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 0.1}),
    ("AdaDelta", "Adadelta", {"weight_decay": 0.1}),
    ("ASGD", "ASGD", {}),
    ("ASGD", "ASGD", {"lr": 0.1, "lambd": 0.1, "alpha": 0.5, "t0": 2}),
    ("ASGD", "ASGD", {"lr": 0.1, "lambd": 0.05, "t0": 0, "weight_decay": 0.1}),
]
IDS = [f"{a}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'defaults'}" for a, _, o in CASES]


@pytest.mark.parametrize("ours, theirs, options", CASES, ids=IDS)
def test_matches_torch(ours, theirs, options, torch_float64):
    params, grads = make_params()
    tparams = {k: torch.nn.Parameter(torch.tensor(p)) for k, p in params.items()}
    opt = getattr(optim, ours)(params, grads, **options)
    topt = getattr(torch.optim, theirs)(list(tparams.values()), **options)
    for t, values in enumerate(grad_sequence(params)):
        set_grads(grads, values)
        for k, tp in tparams.items():
            tp.grad = torch.tensor(values[k])
        before = {k: g.copy() for k, g in grads.items()}
        opt.step()
        topt.step()
        for k, p in params.items():
            err = np.max(np.abs(p - tparams[k].detach().numpy()))   # p: the caller's array, updated in place
            assert err < 1e-6, f"{ours}{options} step {t + 1} param {k}: |ours - torch| = {err:.3g}"
            np.testing.assert_array_equal(grads[k], before[k], err_msg="step() wrote into the gradients")
    if ours == "ASGD":   # the averaged weights too
        for k, tp in tparams.items():
            np.testing.assert_allclose(opt.state[k]["ax"], topt.state[tp]["ax"].numpy(), rtol=0, atol=1e-6)


def test_changing_lr_between_steps_matches_torch(torch_float64):
    """The rate is read at every step (schedules rely on it), Adagrad's decay included."""
    params, grads = make_params()
    tparams = [torch.nn.Parameter(torch.tensor(p)) for p in params.values()]
    opt = optim.Adagrad(params, grads, lr=0.1, lr_decay=0.2)
    topt = torch.optim.Adagrad(tparams, lr=0.1, lr_decay=0.2)
    for t, values in enumerate(grad_sequence(params)):
        lr = 0.1 * (t + 1)
        opt.lr = lr
        for group in topt.param_groups:
            group["lr"] = lr
        set_grads(grads, values)
        for tp, k in zip(tparams, params):
            tp.grad = torch.tensor(values[k])
        opt.step()
        topt.step()
    for tp, p in zip(tparams, params.values()):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=0, atol=1e-12)


def test_float32_stays_float32():
    params, grads = make_params(np.float32)
    for name in optim.names():
        opt = optim.make(name, params, grads, weight_decay=0.01)
        set_grads(grads, grad_sequence(params, 1)[0])
        opt.step()
        for k, p in params.items():
            assert p.dtype == np.float32, (name, k)
            for b, buf in opt.state[k].items():
                assert buf.dtype == np.float32, (name, k, b)


# ---------------------------------------------------------------------------- loss-driven rate
def test_loss_driven_lr_hand_computed():
    """Paper 001: η = η₀·exp(C).  With C = ln 4 the rate is exactly 4η₀; one SGD step then moves
    θ by −4η₀·g."""
    params, grads = make_params()
    p0 = {k: p.copy() for k, p in params.items()}
    opt = optim.SGD(params, grads, lr=0.5)
    sched = optim.LossDrivenLR(opt, eta0=1e-3)
    assert opt.lr == 0.5 and math.isnan(sched.last_loss)     # untouched until the first update
    for C, want in [(math.log(4.0), 4e-3), (0.0, 1e-3), (2.0, 1e-3 * 7.38905609893065), (0.5, 1.6487212707001282e-3)]:
        got = sched.update(C)
        assert got == pytest.approx(want, rel=1e-13) and opt.lr == got
    sched.update(np.array([math.log(4.0)]))                  # 1-element arrays are accepted
    assert opt.lr == pytest.approx(4e-3, rel=1e-13)
    g = grad_sequence(params, 1)[0]
    set_grads(grads, g)
    opt.step()
    for k in params:
        np.testing.assert_allclose(params[k], p0[k] - 4e-3 * g[k], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="loss"):
        sched.update(float("nan"))
    with pytest.raises(TypeError, match="loss"):
        sched.update(np.ones(3))
    with pytest.raises(ValueError, match="eta0"):
        optim.LossDrivenLR(opt, eta0=0.0)
    state = sched.state_dict()
    other = optim.LossDrivenLR(opt, eta0=1.0)
    other.load_state_dict(state)
    assert other.eta0 == 1e-3 and other.last_loss == pytest.approx(math.log(4.0))


# ---------------------------------------------------------------------------- other schedules vs torch
def _torch_lrs(make_sched, steps, metrics=None):
    p = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([p], lr=0.5)
    sched = make_sched(topt)
    out = []
    for e in range(steps):
        topt.step()
        sched.step(*(() if metrics is None else (metrics[e],)))
        out.append(topt.param_groups[0]["lr"])
    return out


def _our_lrs(make_sched, steps, metrics=None):
    params, grads = make_params()
    opt = optim.SGD(params, grads, lr=0.5)
    sched = make_sched(opt)
    return [sched.step(*(() if metrics is None else (metrics[e],))) for e in range(steps)]


def test_step_and_exponential_lr_match_torch():
    ours = _our_lrs(lambda o: optim.StepLR(o, step_size=3, gamma=0.5), 10)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    ours = _our_lrs(lambda o: optim.ExponentialLR(o, gamma=0.9), 10)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), 10)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"patience": 1, "factor": 0.5, "cooldown": 2},
                                {"mode": "max", "patience": 0, "threshold_mode": "abs", "threshold": 0.05,
                                 "min_lr": 0.1}])
def test_reduce_on_plateau_matches_torch(kw):
    metrics = list(np.random.default_rng(3).uniform(0, 1, 40)) + [0.0] + [1.0] * 20
    ours = _our_lrs(lambda o: optim.ReduceLROnPlateau(o, **kw), len(metrics), metrics)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw), len(metrics), metrics)
    assert len(set(theirs)) > 1   # the rate did change
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_schedule_state_round_trip():
    params, grads = make_params()
    opt = optim.SGD(params, grads, lr=0.5)
    sched = optim.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for m in [1.0, 0.9, 0.95, 0.97]:
        sched.step(m)
    state, lr = sched.state_dict(), opt.lr
    rest = [0.99, 0.98, 0.5, 0.6, 0.7]
    expected = [sched.step(m) for m in rest]
    opt.lr = lr
    again = optim.ReduceLROnPlateau(opt)
    again.load_state_dict(state)
    assert [again.step(m) for m in rest] == expected
    step = optim.StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match="schedule"):
        step.load_state_dict(state)


# ---------------------------------------------------------------------------- state dict
@pytest.mark.parametrize("ours, theirs, options", CASES, ids=IDS)
def test_state_dict_resumes_bit_exactly(ours, theirs, options, tmp_path):
    seq = grad_sequence(make_params()[0], steps=6)
    params, grads = make_params()
    opt = getattr(optim, ours)(params, grads, **options)
    for values in seq[:3]:
        set_grads(grads, values)
        opt.step()
    saved = opt.state_dict()
    assert saved["step"] == 3 and saved["optimizer"] == ours
    for k, v in saved.items():
        assert isinstance(v, (np.ndarray, int, float, bool, str)), (k, type(v))
    snapshot = {k: p.copy() for k, p in params.items()}
    copy_of_saved = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in saved.items()}
    for values in seq[3:]:
        set_grads(grads, values)
        opt.step()
    for k, v in copy_of_saved.items():          # state_dict() handed out copies, not the live buffers
        np.testing.assert_array_equal(saved[k], v)

    # through a file, into a fresh optimizer made with other hyperparameters
    np.savez(tmp_path / "opt.npz", **saved)
    with np.load(tmp_path / "opt.npz") as f:
        loaded = dict(f)
    params2, grads2 = make_params(seed=7)
    for k in params2:
        params2[k][...] = snapshot[k]
    opt2 = getattr(optim, ours)(params2, grads2)
    opt2.load_state_dict(loaded)
    assert opt2.hyperparameters().keys() == opt.hyperparameters().keys()
    assert opt2.lr == opt.lr and opt2.step_count == 3
    for values in seq[3:]:
        set_grads(grads2, values)
        opt2.step()
    for k in params:
        np.testing.assert_array_equal(params2[k], params[k], err_msg=f"{ours}{options}: resume differs at {k}")
    for k in opt.state:
        for b in opt.state[k]:
            np.testing.assert_array_equal(opt2.state[k][b], opt.state[k][b])


def test_load_state_dict_refuses_mismatches_and_changes_nothing():
    params, grads = make_params()
    opt = optim.Adam(params, grads, lr=0.1)
    set_grads(grads, grad_sequence(params, 1)[0])
    opt.step()
    good = opt.state_dict()
    target = optim.Adam(params, grads, lr=0.5)
    cases = [
        (dict(good, optimizer="SGD"), ValueError, "optimizer"),
        ({k: v for k, v in good.items() if k != "W/m"}, KeyError, "W/m"),
        (dict(good, **{"extra/m": np.zeros(3)}), KeyError, "extra/m"),
        (dict(good, **{"W/v": np.zeros((4, 3))}), ValueError, "W/v"),
        (dict(good, **{"W/v": np.zeros((3, 4), np.float32)}), TypeError, "W/v"),
        (dict(good, lr=-1.0), ValueError, "lr"),
        (dict(good, amsgrad=True), KeyError, "v_max"),
        ([1, 2], TypeError, "d:"),
    ]
    for bad, err, match in cases:
        with pytest.raises(err, match=match):
            target.load_state_dict(bad)
        assert target.lr == 0.5 and target.step_count == 0
        assert all(not b.any() for s in target.state.values() for b in s.values())


# ---------------------------------------------------------------------------- argument checks
def test_constructor_errors_name_the_argument():
    params, grads = make_params()
    with pytest.raises(TypeError, match="params"):
        optim.SGD([1, 2], grads)
    with pytest.raises(ValueError, match="grads"):
        optim.SGD(params, {k: g for k, g in grads.items() if k != "b"})
    with pytest.raises(ValueError, match=r"grads\['W'\]"):
        optim.SGD(params, dict(grads, W=np.zeros((4, 3))))
    with pytest.raises(ValueError, match=r"grads\['W'\]"):
        optim.SGD(params, dict(grads, W=np.zeros((3, 4), np.float32)))
    with pytest.raises(TypeError, match=r"params\['W'\]"):
        optim.SGD(dict(params, W=np.zeros((3, 4), int)), dict(grads, W=np.zeros((3, 4), int)))
    with pytest.raises(ValueError, match="lr"):
        optim.SGD(params, grads, lr=-0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD(params, grads).lr = float("inf")
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(params, grads, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        optim.Adam(params, grads, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="amsgrad"):
        optim.Adam(params, grads, amsgrad="yes")
    with pytest.raises(ValueError, match="rho"):
        optim.AdaDelta(params, grads, rho=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.RMSprop(params, grads, weight_decay=-1)
    with pytest.raises(KeyError, match="name"):
        optim.make("lbfgs", params, grads)
    with pytest.raises(TypeError, match="optimizer"):
        optim.StepLR("sgd", step_size=1)
    with pytest.raises(ValueError, match="step_size"):
        optim.StepLR(optim.SGD(params, grads), step_size=0)


# ---------------------------------------------------------------------------- clipping
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    params, grads = make_params()
    set_grads(grads, grad_sequence(params, 1)[0])
    tensors = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g)
    total = optim.clip_grad_norm(grads, max_norm)
    ttotal = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=0)
    new_total = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    assert new_total == pytest.approx(min(total, max_norm), rel=1e-5)
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(grads, 0.0)


# ---------------------------------------------------------------------------- CuPy
@pytest.mark.skipif(not backend.cupy_available(),
                    reason="CuPy is not installed or sees no GPU (pip install npslim[gpu] on a CUDA machine)")
@pytest.mark.parametrize("ours, theirs, options", CASES, ids=IDS)
def test_cupy_matches_numpy(ours, theirs, options):
    import cupy
    params, grads = make_params()
    dparams = {k: cupy.asarray(p) for k, p in params.items()}
    dgrads = {k: cupy.zeros_like(p) for k, p in dparams.items()}
    opt = getattr(optim, ours)(params, grads, **options)
    dopt = getattr(optim, ours)(dparams, dgrads, **options)
    assert dopt.xp is cupy
    for values in grad_sequence(params):
        set_grads(grads, values)
        for k, g in dgrads.items():
            g[...] = cupy.asarray(values[k])
        opt.step()
        dopt.step()
    for k in params:
        np.testing.assert_allclose(cupy.asnumpy(dparams[k]), params[k], rtol=1e-12, atol=1e-13)
    saved = dopt.state_dict()
    assert all(not backend.is_cupy_array(v) for v in saved.values())
    assert optim.clip_grad_norm(dgrads, 0.1) == pytest.approx(optim.clip_grad_norm(grads, 0.1), rel=1e-12)
