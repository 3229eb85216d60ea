"""Losses: values against the textbook formulas, gradients checked in float64, masks, stability at
extreme logits, and bad input refused by name."""
import numpy as np
import pytest

from npslim import losses
from npslim.gradcheck import check_function

TOL = 1e-6


def gradcheck_loss(f, logits, targets, mask=None):
    loss, d = f(logits, targets, mask)
    assert d.shape == logits.shape and d.dtype == logits.dtype
    errors = check_function(lambda: f(logits, targets, mask)[0], {"logits": logits}, {"logits": d})
    assert errors["logits"] < TOL, f"{f.__name__}: error {errors['logits']:.2e}"
    return loss


def rng():
    return np.random.default_rng(0)


def log_softmax_naive(a):
    return np.log(np.exp(a) / np.exp(a).sum(-1, keepdims=True))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------------------- cross-entropy
def test_cross_entropy_per_sequence():
    r = rng()
    logits = 2 * r.standard_normal((6, 4))
    targets = r.integers(0, 4, 6)
    loss = gradcheck_loss(losses.softmax_cross_entropy, logits, targets)
    expected = -log_softmax_naive(logits)[np.arange(6), targets].mean()
    assert loss == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_per_step_masked():
    r = rng()
    T, B, K = 5, 3, 4
    logits = 2 * r.standard_normal((T, B, K))
    lengths = np.array([5, 2, 3])
    mask = np.arange(T)[:, None] < lengths[None, :]
    targets = r.integers(0, K, (T, B))
    targets[~mask] = -1                       # padding targets are ignored
    loss = gradcheck_loss(losses.softmax_cross_entropy, logits, targets, mask)
    lp = log_softmax_naive(logits)
    valid = [(t, b) for t in range(T) for b in range(B) if mask[t, b]]
    expected = -np.mean([lp[t, b, targets[t, b]] for t, b in valid])
    assert loss == pytest.approx(expected, rel=1e-12)
    _, d = losses.softmax_cross_entropy(logits, targets, mask)
    assert not d[~mask].any()                 # no gradient at padded steps
    # a float 0/1 mask gives the same
    loss_f, d_f = losses.softmax_cross_entropy(logits, targets, mask.astype("float64"))
    assert loss_f == loss
    np.testing.assert_array_equal(d_f, d)


def test_cross_entropy_is_stable_at_extreme_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-800.0, 800.0, 799.0]])
    targets = np.array([1, 2])
    loss, d = losses.softmax_cross_entropy(logits, targets)
    assert np.isfinite(loss) and np.isfinite(d).all()
    assert loss == pytest.approx((2000.0 + (1.0 + np.log1p(np.exp(-1.0)))) / 2, rel=1e-12)
    np.testing.assert_allclose(d.sum(-1), 0, atol=1e-15)


def test_cross_entropy_float32_keeps_dtype():
    r = rng()
    logits = r.standard_normal((5, 3)).astype("float32")
    loss, d = losses.softmax_cross_entropy(logits, r.integers(0, 3, 5))
    assert d.dtype == np.float32 and isinstance(loss, float)


# ---------------------------------------------------------------------------- binary / Bernoulli
def test_sigmoid_binary_cross_entropy():
    r = rng()
    logits = 3 * r.standard_normal((7,))
    targets = r.integers(0, 2, 7)
    loss = gradcheck_loss(losses.sigmoid_binary_cross_entropy, logits, targets)
    p = sigmoid(logits)
    expected = -np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    assert loss == pytest.approx(expected, rel=1e-12)


def test_sigmoid_binary_cross_entropy_masked_prefix():
    r = rng()
    logits = r.standard_normal((4, 3, 2))
    targets = r.random((4, 3, 2))            # soft targets are allowed
    mask = r.random((4, 3)) < 0.6
    loss = gradcheck_loss(losses.sigmoid_binary_cross_entropy, logits, targets, mask)
    p = sigmoid(logits)
    ell = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    assert loss == pytest.approx(ell[mask].mean(), rel=1e-12)


def test_binary_losses_are_stable_at_extreme_logits():
    logits = np.array([1000.0, -1000.0, 50.0, -50.0])
    targets = np.array([0.0, 1.0, 1.0, 0.0])
    loss, d = losses.sigmoid_binary_cross_entropy(logits, targets)
    assert np.isfinite(loss) and np.isfinite(d).all()
    assert loss == pytest.approx((1000 + 1000 + 2 * np.log1p(np.exp(-50.0))) / 4, rel=1e-12)
    np.testing.assert_allclose(d, np.array([1.0, -1.0, -np.exp(-50.0), np.exp(-50.0)]) / 4, rtol=1e-9)


def test_bernoulli_nll_sums_notes_and_averages_valid_steps():
    r = rng()
    T, B, K = 4, 3, 6
    logits = 2 * r.standard_normal((T, B, K))
    targets = (r.random((T, B, K)) < 0.3).astype("float64")
    lengths = np.array([4, 1, 2])
    mask = np.arange(T)[:, None] < lengths[None, :]
    loss = gradcheck_loss(losses.bernoulli_nll, logits, targets, mask)
    p = sigmoid(logits)
    nll = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum(-1)
    assert loss == pytest.approx(nll[mask].mean(), rel=1e-12)
    gradcheck_loss(losses.bernoulli_nll, logits, targets)               # no mask: every step


# ---------------------------------------------------------------------------- squared error
def test_mean_squared_error():
    r = rng()
    pred, targets = r.standard_normal((5, 3)), r.standard_normal((5, 3))
    loss = gradcheck_loss(losses.mean_squared_error, pred, targets)
    assert loss == pytest.approx(((pred - targets) ** 2).mean(), rel=1e-12)
    mask = np.array([1, 0, 1, 1, 0], dtype=bool)
    loss = gradcheck_loss(losses.mean_squared_error, pred, targets, mask)
    assert loss == pytest.approx(((pred - targets)[mask] ** 2).mean(), rel=1e-12)


def test_losses_do_not_write_into_arguments():
    r = rng()
    logits, targets, mask = r.standard_normal((4, 3, 5)), r.integers(0, 5, (4, 3)), r.random((4, 3)) < 0.5
    mask[0] = True
    saved = [a.copy() for a in (logits, targets, mask)]
    losses.softmax_cross_entropy(logits, targets, mask)
    losses.bernoulli_nll(logits, (targets[..., None] == np.arange(5)).astype(float), mask)
    losses.sigmoid_binary_cross_entropy(logits, np.zeros_like(logits), mask)
    losses.mean_squared_error(logits, np.zeros_like(logits), mask)
    for a, b in zip((logits, targets, mask), saved):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_by_name():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"targets: expected class ids in \[0, 4\)"):
        losses.softmax_cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(TypeError, match="targets: expected integer class ids"):
        losses.softmax_cross_entropy(logits, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"targets: expected shape \(3,\)"):
        losses.softmax_cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"mask: expected shape \(3,\)"):
        losses.softmax_cross_entropy(logits, np.array([0, 1, 2]), np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="mask: expected at least one valid position"):
        losses.softmax_cross_entropy(logits, np.array([0, 1, 2]), np.zeros(3, bool))
    with pytest.raises(TypeError, match="logits: expected dtype float32 or float64"):
        losses.softmax_cross_entropy(np.zeros((3, 4), dtype=int), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="logits: expected a float32 or float64 array"):
        losses.softmax_cross_entropy([[0.0, 1.0]], np.array([0]))
    with pytest.raises(ValueError, match=r"targets: expected shape \(3, 4\)"):
        losses.sigmoid_binary_cross_entropy(logits, np.zeros((3,)))
    with pytest.raises(ValueError, match="mask: expected shape"):
        losses.mean_squared_error(logits, logits, np.ones((4,), bool))
    with pytest.raises(ValueError, match=r"mask: expected shape \(3,\)"):
        losses.bernoulli_nll(logits, logits, np.ones((3, 4), bool))
