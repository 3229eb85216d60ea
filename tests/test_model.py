"""The model container: whole-model gradient checks through padded batches, named parameters,
checkpoints, modes, and one model on CuPy against NumPy where a GPU is present."""
import numpy as np
import pytest

from npslim import backend, losses
from npslim.cells.lstm import LSTM
from npslim.layers import Bidirectional, Dense, Dropout, Embedding, Recurrent, sequence_mask
from npslim.model import Model, Sequential

from test_layers import check_flat

TOL = 1e-6
F64 = "float64"
T, B, V, K = 5, 3, 7, 3
LENGTHS = np.array([5, 3, 1])


def classifier(seed=0, dtype=F64):
    """Embedding → 2 stacked Bidirectional LSTMs (hidden 3) → Dense → K classes."""
    return Model([Embedding(V, 4, seed=seed, dtype=dtype, init_scale=1.0),
                  Bidirectional("lstm", 4, 3, seed=seed + 1, dtype=dtype),
                  Bidirectional("lstm", 6, 3, return_sequences=False, seed=seed + 2, dtype=dtype),
                  Dense(6, K, seed=seed + 3, dtype=dtype)])


def batch(seed=0):
    r = np.random.default_rng(seed)
    ids = r.integers(0, V, (T, B))
    ids[np.arange(T)[:, None] >= LENGTHS[None, :]] = 0            # padding id
    return ids, r.integers(0, K, B)


def model_gradients(model, loss_fn, X, targets, lengths, mask=None):
    model.zero_grad()
    _, dlogits = loss_fn(model.forward(X, lengths), targets, mask)
    model.backward(dlogits)
    return {k: g.copy() for k, g in model.grads().items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_whole_model_gradcheck_padded_classifier(seed):
    model = classifier(seed)
    ids, targets = batch(seed)
    f = losses.softmax_cross_entropy
    analytic = model_gradients(model, f, ids, targets, LENGTHS)

    def loss_of():
        return f(model.forward(ids, LENGTHS), targets)[0]

    errors = check_flat(loss_of, model.params(), analytic)
    assert errors["all"] < TOL, f"whole model: worst error {errors['all']:.2e}"


def test_whole_model_check_sees_a_small_error_in_the_first_layer():
    """The one-floor check is not blind to the layer with the smallest gradients: 1% off there fails."""
    model = classifier(0)
    ids, targets = batch(0)
    f = losses.softmax_cross_entropy
    analytic = model_gradients(model, f, ids, targets, LENGTHS)
    smallest = min(analytic, key=lambda k: np.abs(analytic[k]).max())
    assert smallest.startswith("1.")                 # a first-layer array
    analytic[smallest] = analytic[smallest] * 1.01
    errors = check_flat(lambda: f(model.forward(ids, LENGTHS), targets)[0], model.params(), analytic)
    assert errors["all"] > 1e-4


def test_whole_model_gradcheck_per_step_with_dropout():
    """Embedding → Bidirectional → variational dropout → Recurrent → Dense → masked per-step CE."""
    model = Model({"emb": Embedding(V, 3, seed=0, dtype=F64, init_scale=1.0),
                   "birnn": Bidirectional("lstm", 3, 2, seed=1, dtype=F64),
                   "drop": Dropout(0.3, variational=True, seed=2),
                   "rnn": Recurrent("lstm", 4, 3, seed=3, dtype=F64),
                   "out": Dense(3, K, seed=4, dtype=F64)})
    ids, _ = batch(0)
    mask = sequence_mask(LENGTHS, T)
    np.testing.assert_array_equal(mask, np.arange(T)[:, None] < LENGTHS[None, :])
    targets = np.random.default_rng(5).integers(0, K, (T, B))
    f = losses.softmax_cross_entropy
    with model.noise_frozen():
        analytic = model_gradients(model, f, ids, targets, LENGTHS, mask)
        errors = check_flat(lambda: f(model.forward(ids, LENGTHS), targets, mask)[0], model.params(), analytic)
    assert errors["all"] < TOL, f"per-step model: worst error {errors['all']:.2e}"


def test_padded_model_equals_sequences_one_by_one():
    model = classifier(0)
    ids, targets = batch(0)
    f = losses.softmax_cross_entropy
    logits = model.forward(ids, LENGTHS)
    grads = model_gradients(model, f, ids, targets, LENGTHS)
    total = {k: np.zeros_like(g) for k, g in grads.items()}
    for b, L in enumerate(LENGTHS):
        lb = model.forward(ids[:L, b:b + 1])
        np.testing.assert_allclose(logits[b], lb[0], rtol=1e-12, atol=1e-13)
        g = model_gradients(model, f, ids[:L, b:b + 1], targets[b:b + 1], None)
        for k in total:
            total[k] += g[k] / B              # the batch loss is the mean over the B sequences
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-9, atol=1e-13, err_msg=k)


def test_params_and_grads_are_named_and_counted():
    model = classifier(0, dtype="float32")
    params, grads = model.params(), model.grads()
    assert list(params) == list(grads)
    assert all(params[k].shape == grads[k].shape for k in params)
    assert list(params)[:2] == ["0.E", "1.fw.cell.W_z"]
    assert {"1.bw.cell.p_o", "2.fw.cell.R_f", "3.W", "3.b"} <= set(params)
    expected = V * 4 + 2 * LSTM.param_count(4, 3) + 2 * LSTM.param_count(6, 3) + 6 * K + K
    assert model.num_params() == expected == sum(p.size for p in params.values())
    named = Model({"emb": Embedding(V, 4), "rnn": Recurrent("lstm", 4, 3), "out": Dense(3, K)})
    assert "rnn.cell.W_z" in named.params() and named["rnn"] is named[1]
    assert Sequential is Model


def test_params_are_live_and_backward_accumulates():
    model = classifier(0)
    ids, targets = batch(0)
    g1 = model_gradients(model, losses.softmax_cross_entropy, ids, targets, LENGTHS)
    _, d = losses.softmax_cross_entropy(model.forward(ids, LENGTHS), targets)
    model.backward(d)                                      # no zero_grad: adds up
    for k, g in model.grads().items():
        np.testing.assert_allclose(g, 2 * g1[k], rtol=1e-12, err_msg=k)
    model.zero_grad()
    assert all(not g.any() for g in model.grads().values())
    model.params()["3.b"][...] = 0                         # writing into params() changes the model
    assert not model[3].params["b"].any()


def test_state_dict_round_trip():
    a, b = classifier(0), classifier(10)
    ids, _ = batch(0)
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values()) and list(state) == list(a.params())
    state["0.E"][...] = 0                                  # a copy: the model is untouched
    assert a.params()["0.E"].any()
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.forward(ids, LENGTHS), a.forward(ids, LENGTHS))
    with pytest.raises(KeyError, match=r"missing \['3.b'\]"):
        b.load_state_dict({k: v for k, v in state.items() if k != "3.b"})
    bad = dict(state)
    bad["3.W"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"state\['3.W'\]: expected shape \(6, 3\)"):
        b.load_state_dict(bad)


def test_modes_reach_every_layer():
    model = Model([Embedding(V, 3), Dropout(0.5), Bidirectional("lstm", 3, 2), Dense(4, K)])
    model.eval()
    assert not model.training and not model[1].training and not model[2].fw.cell.training
    ids, _ = batch(0)
    np.testing.assert_array_equal(model.forward(ids), model.forward(ids))      # eval: deterministic
    model.train()
    assert model.training and model[1].training and model[2].bw.cell.training


def test_backward_before_forward_is_refused():
    with pytest.raises(RuntimeError, match="backward: call forward first"):
        classifier(0).backward(np.zeros((B, K)))


def test_stateful_language_model_carries_state():
    lm = Model([Embedding(V, 4, dtype=F64), Recurrent("lstm", 4, 5, stateful=True, dtype=F64), Dense(5, V, dtype=F64)])
    ids = np.random.default_rng(0).integers(0, V, (8, 2))
    whole = Model([Embedding(V, 4, dtype=F64), Recurrent("lstm", 4, 5, dtype=F64), Dense(5, V, dtype=F64)])
    expected = whole.forward(ids)
    got = np.concatenate([lm.forward(ids[:4]), lm.forward(ids[4:])])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    lm.reset_state()
    np.testing.assert_allclose(lm.forward(ids[:4]), expected[:4], rtol=0, atol=0)


@pytest.mark.skipif(not backend.cupy_available(), reason="CuPy is not installed or sees no GPU")
def test_model_on_cupy_matches_numpy():
    import cupy
    ids, targets = batch(0)
    outs = []
    for name in ("numpy", "cupy"):
        with backend.use_backend(name) as xp:
            model = Model([Embedding(V, 4, dtype=F64), Bidirectional("lstm", 4, 3, dtype=F64),
                           Dropout(0.5), Recurrent("lstm", 6, 3, return_sequences=False, dtype=F64),
                           Dense(3, K, dtype=F64)]).eval()
            dev = lambda a: backend.to_device(a, xp)  # noqa: E731
            logits = model.forward(dev(ids), dev(LENGTHS))
            loss, d = losses.softmax_cross_entropy(logits, dev(targets))
            model.zero_grad()
            model.backward(d)
            outs.append([loss, backend.to_host(logits)] + [backend.to_host(g) for g in model.grads().values()])
            if name == "cupy":
                assert isinstance(logits, cupy.ndarray)
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
