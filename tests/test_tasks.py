"""npslim.tasks: shapes and dtypes per kind, determinism, the digits split, the adding baseline, the
semantics of copy / temporal-order / sine, and minibatches that cover every example once per epoch."""
import numpy as np
import pytest

from npslim import tasks

SMALL = {"adding": dict(T=20, n_train=300, n_test=200), "copy": dict(n_train=300, n_test=200),
         "temporal-order": dict(length=20, jitter=5, n_train=300, n_test=200),
         "sine": dict(T=30, n_train=300, n_test=200), "digits-rows": {}, "digits-pixels": {}}


def small(name, seed=0, **extra):
    return tasks.make(name, seed=seed, **dict(SMALL[name], **extra))


def test_registry():
    synthetic = sorted(set(tasks.names()) - set(tasks.DATASET_TASKS))
    assert synthetic == sorted(["adding", "copy", "digits-pixels", "digits-rows", "sine", "temporal-order"])
    assert sorted(tasks.DATASET_TASKS) == sorted(["mnist-rows", "mnist-pixels", "imdb", "chorales",
                                                  "shakespeare-chars", "vowels"])
    assert set(SMALL) == set(synthetic)
    assert tasks.options("adding") == {"T": 50, "n_train": 5000, "n_test": 1000}
    with pytest.raises(KeyError, match="name"):
        tasks.make("mnist")
    with pytest.raises(TypeError, match="unknown option.*'t'"):
        tasks.make("adding", t=10)
    with pytest.raises(ValueError, match="seed"):
        tasks.make("adding", seed=-1)
    with pytest.raises(ValueError, match="T"):
        tasks.make("adding", T=1)
    with pytest.raises(ValueError, match="n_relevant"):
        tasks.make("temporal-order", n_relevant=4)
    with pytest.raises(ValueError, match="noise"):
        tasks.make("sine", noise=-0.1)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_shapes_dtypes_and_determinism(name):
    task = small(name)
    assert task.kind in tasks.KINDS and task.metric == ("mse" if task.kind.startswith("regress") else "accuracy")
    for split in ("train", "test"):
        X, y, lengths = task.split(split)
        T, N, m = X.shape
        assert X.dtype == np.float32 and m == task.input_size and np.isfinite(X).all()
        if task.kind == "classify-last":
            assert y.shape == (N,) and y.dtype == np.int64 and 0 <= y.min() and y.max() < task.output_size
        elif task.kind == "classify-each":
            assert y.shape == (T, N) and y.dtype == np.int64
            scored = y[y != tasks.IGNORE]
            assert scored.size and 0 <= scored.min() and scored.max() < task.output_size
        elif task.kind == "regress-last":
            assert y.shape == (N, task.output_size) and y.dtype == np.float32
        else:
            assert y.shape == (T, N, task.output_size) and y.dtype == np.float32
        if lengths is not None:
            assert lengths.shape == (N,) and lengths.dtype == np.int64 and lengths.max() <= T
    again = small(name)
    other = small(name, seed=1)
    for split in ("train", "test"):
        for a, b, c in zip(task.split(split), again.split(split), other.split(split)):
            if a is not None:
                np.testing.assert_array_equal(a, b)
                if not name.startswith("digits"):      # the digits split is fixed, whatever the seed
                    assert a.shape != c.shape or not np.array_equal(a, c)
    assert task.options == dict(tasks.options(name), **SMALL[name])


def test_test_split_does_not_depend_on_n_train():
    a = tasks.make("adding", T=10, n_train=10, n_test=50)
    b = tasks.make("adding", T=10, n_train=77, n_test=50)
    np.testing.assert_array_equal(a.X_test, b.X_test)


def test_digits_split_is_fixed_and_stratified():
    rows, pixels = tasks.make("digits-rows"), tasks.make("digits-pixels")
    assert (rows.n_train, rows.n_test) == (1347, 450)
    assert rows.X_train.shape == (8, 1347, 8) and pixels.X_train.shape == (64, 1347, 1)
    assert 0.0 <= rows.X_train.min() and rows.X_train.max() == 1.0          # pixels / 16
    # the same images, read row by row or pixel by pixel
    np.testing.assert_array_equal(rows.X_test.transpose(1, 0, 2).reshape(450, 64), pixels.X_test[:, :, 0].T)
    np.testing.assert_array_equal(rows.targets_test, pixels.targets_test)
    # stratified: every class is in each split in the same proportion as in the whole set
    everything = np.concatenate([rows.targets_train, rows.targets_test])
    share = np.bincount(everything, minlength=10) / everything.size
    for y in (rows.targets_train, rows.targets_test):
        counts = np.bincount(y, minlength=10)
        assert np.all(np.abs(counts - share * y.size) <= 1.0), counts
    # and it is scikit-learn's train_test_split(test_size=0.25, stratify=y, random_state=0)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    _, Xte, _, yte = train_test_split(d.data, d.target, test_size=0.25, stratify=d.target, random_state=0)
    np.testing.assert_array_equal(rows.targets_test, yte)
    np.testing.assert_array_equal(pixels.X_test[:, :, 0].T, (Xte / 16).astype(np.float32))


def test_adding_problem():
    task = tasks.make("adding", T=30, n_train=100, n_test=4000)
    X, y, lengths = task.split("test")
    assert lengths is None and X.shape == (30, 4000, 2)
    values, markers = X[..., 0], X[..., 1]
    assert 0.0 <= values.min() and values.max() <= 1.0
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:15].sum(axis=0) == 1) and np.all(markers[15:].sum(axis=0) == 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0), rtol=1e-6)
    baseline = float(np.mean((1.0 - y) ** 2))          # always answer 1.0
    assert abs(baseline - 1 / 6) < 0.015, baseline
    default = tasks.make("adding")                      # T = 50, 1000 test sequences
    assert default.X_test.shape == (50, 1000, 2)
    assert abs(float(np.mean((1.0 - default.targets_test) ** 2)) - 0.167) < 0.01


def test_task_refuses_inconsistent_arrays():
    good = small("adding")
    fields = dict(name="x", kind="regress-last", input_size=2, output_size=1, metric="mse",
                  X_train=good.X_train, targets_train=good.targets_train,
                  X_test=good.X_test, targets_test=good.targets_test)
    tasks.Task(**fields)
    with pytest.raises(ValueError, match="kind"):
        tasks.Task(**dict(fields, kind="regress"))
    with pytest.raises(ValueError, match="X_train"):
        tasks.Task(**dict(fields, X_train=good.X_train.astype(np.float64)))
    with pytest.raises(ValueError, match="targets_test"):
        tasks.Task(**dict(fields, targets_test=good.targets_test[:, 0]))
    with pytest.raises(ValueError, match="lengths_train"):
        tasks.Task(**dict(fields, lengths_train=np.zeros(good.n_train, np.int64)))


def test_task_checks_the_target_values_a_training_step_no_longer_reads():
    """Class ids in [0, K) (IGNORE allowed per step), 0/1 labels in [0, 1], at scored positions
    only: the Trainer skips these checks on the device (npslim.validate.checked_on_host)."""
    copy = small("copy")
    T, N = copy.targets_train.shape
    fields = dict(name="x", kind="classify-each", input_size=copy.input_size, output_size=copy.output_size,
                  metric="accuracy", X_train=copy.X_train, targets_train=copy.targets_train,
                  X_test=copy.X_test, targets_test=copy.targets_test)
    assert (copy.targets_train == tasks.IGNORE).any()                 # IGNORE is allowed
    for bad in (copy.output_size, -2):
        y = copy.targets_train.copy()
        y[-1, 3] = bad
        with pytest.raises(ValueError, match=rf"targets_train: expected class ids in \[0, {copy.output_size}\) "
                                             rf"or IGNORE \(-1\), got values in"):
            tasks.Task(**dict(fields, targets_train=y))
    y = copy.targets_train.copy()
    y[-1, 3] = copy.output_size                                       # on a padded step: not scored, accepted
    lengths = np.full(N, T, np.int64)
    lengths[3] = T - 1
    tasks.Task(**dict(fields, targets_train=y, lengths_train=lengths))
    last = small("temporal-order")
    y = last.targets_test.copy()
    y[0] = last.output_size
    with pytest.raises(ValueError, match=r"targets_test: expected class ids in \[0, 4\), got values in \[0, 4\]"):
        tasks.Task(**dict(fields, kind="classify-last", input_size=last.input_size, output_size=last.output_size,
                          X_train=last.X_train, targets_train=last.targets_train, X_test=last.X_test, targets_test=y))
    X = np.zeros((3, 2, 1), np.float32)
    labels = np.zeros((3, 2, 2), np.float32)
    labels[1, 1, 0] = 2.0
    with pytest.raises(ValueError, match=r"targets_train: expected 0/1 labels \(probabilities in \[0, 1\]\), "
                                         r"got values in \[0, 2\]"):
        tasks.Task("m", "multilabel-each", 1, 2, "nll", X, labels, X, np.zeros_like(labels))


def test_copy_task():
    task = tasks.make("copy", length=4, delay=6, n_symbols=5, n_train=50, n_test=50)
    X, y, lengths = task.split("train")
    T = 2 * 4 + 6
    assert X.shape == (T, 50, 7) and y.shape == (T, 50) and lengths is None
    assert np.all(X.sum(axis=-1) == 1.0)                               # one-hot
    ids = X.argmax(axis=-1)
    np.testing.assert_array_equal(y[T - 4:], ids[:4])                  # the copy of the first 4 inputs
    assert np.all(y[:T - 4] == tasks.IGNORE)
    assert np.all(ids[4:9] == 5) and np.all(ids[9] == 6) and np.all(ids[10:] == 5)   # blanks, delimiter


@pytest.mark.parametrize("n_relevant", [2, 3])
def test_temporal_order(n_relevant):
    task = tasks.make("temporal-order", length=100, jitter=10, n_relevant=n_relevant, n_train=400, n_test=10)
    X, y, lengths = task.split("train")
    assert task.output_size == 2 ** n_relevant and X.shape == (110, 400, 8)
    assert 100 <= lengths.min() and lengths.max() <= 110
    ids = X.argmax(axis=-1)
    valid = np.arange(110)[:, None] < lengths[None, :]
    assert np.all(X.sum(axis=-1) == valid)                             # one-hot inside, zeros after the end
    assert np.all(ids[0] == 4) and np.all(ids[lengths - 1, np.arange(400)] == 5)   # B ... E
    relevant = (ids >= 6) & valid
    assert np.all(relevant.sum(axis=0) == n_relevant)
    pos = np.sort(np.nonzero(relevant.T)[1].reshape(400, n_relevant), axis=1)
    assert 10 <= pos[:, 0].min() and pos[:, 0].max() <= 20                     # the paper's t1 window
    assert (50 if n_relevant == 2 else 33) <= pos[:, 1].min()
    assert pos[:, 1].max() <= (60 if n_relevant == 2 else 43)
    sym = ids.T[np.arange(400)[:, None], pos] - 6                             # 0 = X, 1 = Y, in order
    want = sum(sym[:, k] << (n_relevant - 1 - k) for k in range(n_relevant))
    np.testing.assert_array_equal(y, want)
    assert len(np.unique(y)) == 2 ** n_relevant


def test_sine_targets_are_the_next_clean_value():
    clean = tasks.make("sine", T=40, noise=0.0, n_train=20, n_test=5)
    X, y, _ = clean.split("train")
    np.testing.assert_allclose(X[1:], y[:-1], atol=1e-6)               # without noise, input t+1 = target t
    noisy = tasks.make("sine", T=40, noise=0.3, n_train=2000, n_test=5)
    np.testing.assert_array_equal(noisy.targets_train[:, :20], tasks.make("sine", T=40, noise=0.0, n_train=2000,
                                                                         n_test=5).targets_train[:, :20])
    resid = noisy.X_train[1:] - noisy.targets_train[:-1]
    assert abs(resid.std() - 0.3) < 0.01


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("batch_size", [1, 64, 10_000])
def test_batches_cover_every_example_once(name, batch_size):
    """One pass = the split in the order rng.permutation(N): every example exactly once, intact,
    with its own targets and length; the last partial batch kept."""
    task = small(name)
    per_step = task.kind.endswith("-each")
    for split in ("train", "test"):
        X, y, lengths = task.split(split)
        T, N = X.shape[:2]
        batches = list(task.batches(split, batch_size, np.random.default_rng(5)))
        sizes = [Xb.shape[1] for Xb, _, _ in batches]
        assert sizes == [batch_size] * (N // batch_size) + ([N % batch_size] if N % batch_size else [])
        order = np.random.default_rng(5).permutation(N)
        assert sorted(order) == list(range(N))
        start = 0
        for Xb, yb, lb in batches:
            idx = order[start:start + Xb.shape[1]]
            start += Xb.shape[1]
            assert Xb.dtype == X.dtype and yb.dtype == y.dtype and Xb.flags.c_contiguous
            Tb = T if lengths is None else int(lengths[idx].max())           # trimmed to the longest
            np.testing.assert_array_equal(Xb, X[:Tb, idx])
            np.testing.assert_array_equal(yb, y[:Tb, idx] if per_step else y[idx])
            if lengths is None:
                assert lb is None
            else:
                np.testing.assert_array_equal(lb, lengths[idx])
                assert not X[Tb:, idx].any()                                  # only padding was cut
        assert start == N
    # without an rng: stored order
    first = next(task.batches("train", 7))
    np.testing.assert_array_equal(first[1], task.targets_train[:, :7] if per_step else task.targets_train[:7])


def test_batches_argument_errors():
    task = small("adding")
    with pytest.raises(ValueError, match="split"):
        next(task.batches("valid", 8))
    with pytest.raises(ValueError, match="batch_size"):
        next(task.batches("train", 0))
    with pytest.raises(TypeError, match="rng"):
        next(task.batches("train", 8, rng=3))
    # different generators give different orders, the same seed the same one
    a = next(task.batches("train", 8, np.random.default_rng(1)))[1]
    b = next(task.batches("train", 8, np.random.default_rng(1)))[1]
    c = next(task.batches("train", 8, np.random.default_rng(2)))[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
