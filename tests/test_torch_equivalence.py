"""npslim against PyTorch: lstm (no peepholes), gru and rnn (tanh, relu) carry their weights through
npslim.interop in both directions and then agree with torch.nn.LSTM / GRU / RNN in float64 on
outputs, final states, input and initial-state gradients and every weight gradient (within 1e-6),
for a random input, a random initial state, a random dY and a random final-state gradient."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed: it is the reference these tests compare "
                                             "against (pip install torch)")

import npslim  # noqa: E402
from npslim import backend  # noqa: E402
from npslim.cells.lstm import LSTM  # noqa: E402
from npslim.interop import from_torch, to_torch  # noqa: E402

from conftest import random_inputs  # noqa: E402

TOL = 1e-6
M, N, T, B = 3, 5, 6, 4

# Written out here, independently of npslim.interop: our gradient name -> (torch parameter, row block).
# Row blocks of weight_ih_l0 / weight_hh_l0 follow torch's gate order, (i, f, g, o) and (r, z, n).
# A bias that npslim holds as the sum b_ih + b_hh has the same gradient as each of the two.
TORCH_GRADS = {
    "lstm": {**{f"W_{g}": ("weight_ih_l0", k) for k, g in enumerate("ifzo")},
             **{f"R_{g}": ("weight_hh_l0", k) for k, g in enumerate("ifzo")},
             **{f"b_{g}": ("bias_ih_l0", k) for k, g in enumerate("ifzo")},
             **{f"b_{g}~": ("bias_hh_l0", k) for k, g in enumerate("ifzo")}},
    "gru": {**{f"W_{g}": ("weight_ih_l0", k) for k, g in enumerate("ruz")},
            **{f"R_{g}": ("weight_hh_l0", k) for k, g in enumerate("ruz")},
            **{f"b_{g}": ("bias_ih_l0", k) for k, g in enumerate("ruz")},
            "b_r~": ("bias_hh_l0", 0), "b_u~": ("bias_hh_l0", 1), "b_Rz": ("bias_hh_l0", 2)},
    "rnn": {"W": ("weight_ih_l0", 0), "R": ("weight_hh_l0", 0), "b": ("bias_ih_l0", 0), "b~": ("bias_hh_l0", 0)},
}

CASES = [("lstm", {"peepholes": False}), ("gru", {}), ("rnn", {"activation": "tanh"}), ("rnn", {"activation": "relu"})]
IDS = ["lstm", "gru", "rnn-tanh", "rnn-relu"]


def torch_module(kind, options, seed=0):
    torch.manual_seed(seed)
    common = dict(dtype=torch.float64)
    if kind == "lstm":
        module = torch.nn.LSTM(M, N, **common)
    elif kind == "gru":
        module = torch.nn.GRU(M, N, **common)
    else:
        module = torch.nn.RNN(M, N, nonlinearity=options["activation"], **common)
    with torch.no_grad():          # torch's default init is small; widen it so every nonlinearity is exercised
        for p in module.parameters():
            p.uniform_(-0.8, 0.8)
    return module


def run_torch(module, X, state0, dY, dstate):
    """Forward and backward through torch; returns Y, final state, dX, dstate0, {param: grad}."""
    t = lambda a: torch.tensor(backend.to_host(a), dtype=torch.float64, requires_grad=True)  # noqa: E731
    module.zero_grad()
    Xt, s0 = t(X), [t(backend.to_host(s)[None]) for s in state0]      # torch's states are (layers, B, n)
    Y, sT = module(Xt, tuple(s0) if len(s0) == 2 else s0[0])
    sT = sT if isinstance(sT, tuple) else (sT,)
    loss = (Y * t(dY).detach()).sum()
    for s, ds in zip(sT, dstate):
        loss = loss + (s[0] * t(ds).detach()).sum()
    loss.backward()
    grads = {name: p.grad.numpy().copy() for name, p in module.named_parameters()}
    return (Y.detach().numpy(), [s[0].detach().numpy() for s in sT], Xt.grad.numpy(),
            [s.grad[0].numpy() for s in s0], grads)


def assert_same(module, cell, kind):
    X, state0, dY, dstate = random_inputs(cell, T, B, seed=7)
    cell.zero_grad()
    Y, state, cache = cell.forward(X, state0)
    dX, dstate0 = cell.backward(dY, cache, dstate)
    tY, tstate, tdX, tdstate0, tgrads = run_torch(module, X, state0, dY, dstate)

    close = lambda a, b, what: np.testing.assert_allclose(backend.to_host(a), b, rtol=TOL, atol=TOL,  # noqa: E731
                                                          err_msg=f"{kind}: {what}")
    close(Y, tY, "Y")
    for name, a, b in zip(cell.STATE, state, tstate):
        close(a, b, f"final state {name}")
    close(dX, tdX, "dX")
    for name, a, b in zip(cell.STATE, dstate0, tdstate0):
        close(a, b, f"initial-state gradient d{name}0")
    checked = set()
    for ours, (tname, k) in TORCH_GRADS[kind].items():
        name = ours.rstrip("~")
        g = tgrads[tname][k * N:(k + 1) * N]
        close(cell.grads[name], g.T if g.ndim == 2 else g, f"gradient {ours} vs torch {tname} block {k}")
        checked.add(name)
    assert checked == set(cell.grads), f"{kind}: unchecked gradients {set(cell.grads) - checked}"


@pytest.mark.parametrize("kind,options", CASES, ids=IDS)
def test_from_torch_matches_torch(kind, options):
    module = torch_module(kind, options)
    cell = from_torch(module, dtype="float64")
    assert cell.name == kind and cell.options() == {**npslim.cells.get(kind).option_defaults(), **options}
    assert cell.dtype == np.float64
    assert_same(module, cell, kind)


@pytest.mark.parametrize("kind,options", CASES, ids=IDS)
def test_to_torch_matches_cell(kind, options):
    cell = npslim.cells.make(kind, M, N, seed=3, dtype="float64", **options)
    module = to_torch(cell)
    assert type(module) is {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    assert module.weight_ih_l0.dtype == torch.float64
    assert not module.bias_hh_l0[:2 * N if kind == "gru" else None].detach().any()   # summed biases live in bias_ih
    assert_same(module, cell, kind)


@pytest.mark.parametrize("kind,options", CASES, ids=IDS)
def test_round_trip(kind, options):
    cell = npslim.cells.make(kind, M, N, seed=5, dtype="float64", **options)
    back = from_torch(to_torch(cell))
    for name in cell.params:
        np.testing.assert_array_equal(backend.to_host(back.params[name]), backend.to_host(cell.params[name]),
                                      err_msg=name)
    # torch -> npslim -> torch: the same function (the biases are regrouped, not copied one to one)
    module = torch_module(kind, options, seed=1)
    again = to_torch(from_torch(module))
    for name, p in module.named_parameters():
        q = dict(again.named_parameters())[name]
        if name.startswith("weight"):
            np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy(), err_msg=name)
    total = lambda mod: (mod.bias_ih_l0 + mod.bias_hh_l0).detach().numpy()  # noqa: E731
    if kind != "gru":
        np.testing.assert_allclose(total(again), total(module), rtol=1e-15, atol=1e-15)


def test_float32_and_bias_free():
    module = torch.nn.GRU(M, N, bias=False)                  # float32, no biases
    cell = from_torch(module, dtype="float32")
    assert cell.dtype == np.float32
    for name in ("b_r", "b_u", "b_z", "b_Rz"):
        assert not np.any(backend.to_host(cell.params[name]))
    assert to_torch(cell).weight_ih_l0.dtype == torch.float32
    X = np.random.default_rng(0).standard_normal((T, B, M)).astype(np.float32)
    Y, _, _ = cell.forward(backend.to_device(X, cell.xp))
    with torch.no_grad():
        tY, _ = module(torch.from_numpy(X))
    np.testing.assert_allclose(backend.to_host(Y), tY.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("module,match", [
    (lambda: torch.nn.LSTM(3, 4, num_layers=2), r"num_layers=1 .*got 2"),
    (lambda: torch.nn.GRU(3, 4, bidirectional=True), r"bidirectional=False"),
    (lambda: torch.nn.RNN(3, 4, batch_first=True), r"batch_first=False: npslim is time-major"),
    (lambda: torch.nn.LSTM(3, 4, proj_size=2), r"proj_size=0 .*got 2"),
    (lambda: torch.nn.Linear(3, 4), r"expected a torch.nn.LSTM, torch.nn.GRU or torch.nn.RNN, got .*Linear"),
], ids=["layers", "bidirectional", "batch_first", "proj_size", "linear"])
def test_from_torch_refuses(module, match):
    with pytest.raises(ValueError, match=match):
        from_torch(module())


def test_to_torch_refuses():
    with pytest.raises(ValueError, match=r"no peepholes; make the lstm with peepholes=False"):
        to_torch(npslim.cells.make("lstm", 3, 4))
    with pytest.raises(ValueError, match=r"'tanh' or 'relu', got activation 'sigmoid'"):
        to_torch(npslim.cells.make("rnn", 3, 4, activation="sigmoid"))
    with pytest.raises(ValueError, match=r"expected an npslim 'lstm' .*got MGU \('mgu'\)"):
        to_torch(npslim.cells.make("mgu", 3, 4))

    class Variant(LSTM):             # a subclass changes the equations: never passed off as torch's LSTM
        pass
    with pytest.raises(ValueError, match=r"got Variant"):
        to_torch(Variant(3, 4, peepholes=False))
