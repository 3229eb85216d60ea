"""Training: minibatch epochs, evaluation, metrics, checkpoints, bit-exact resume, truncated BPTT.

    task = npslim.tasks.make("digits-rows")
    model = build_model(task, "lstm", hidden_size=64, seed=0)        # Recurrent + Dense on the last output
    trainer = Trainer(model, task, optimizer="adam", lr=1e-2, clip=5.0, seed=0, out="runs/demo")
    history = trainer.fit(epochs=30)                                # one dict per epoch
    trainer.evaluate("test")                                        # {"loss": ..., "accuracy": ..., ...}

One epoch is one pass over the training split in minibatches (shuffled by the trainer's own
generator), one optimizer step per minibatch (per chunk with truncated BPTT), then an
evaluation of the test split (and of a validation split held out of train, if
``val_fraction`` > 0).  Everything that decides what happens next is state the trainer
saves: the model's parameters, the optimizer's buffers, the schedule, every NumPy random
generator (the shuffling one, dropout's, a stochastic cell's noise), the history, the
early-stopping counters and the epoch.  Hence:

* **Repeatable**: the same ``seed`` (and the same machine and thread count) gives the same run.
* **Resume bit-exactly**: ``Trainer.load_checkpoint(path)`` then ``fit(epochs)`` continues as if
  never stopped; a run stopped after epoch k and resumed ends with the same parameters, bit for
  bit, as one that ran straight through.  Checkpoints are taken at the end of an epoch.  (Same
  machine and BLAS thread count, as for any bit-for-bit claim; on CuPy, dropout draws from
  CuPy's own generator, whose state is not saved.)
* **Atomic checkpoints**: :func:`save_npz_atomic` writes a temporary file in the same folder,
  flushes and fsyncs it, then ``os.replace``s it over the old one (and fsyncs the folder), so a
  crash at any moment leaves either the old checkpoint or the new one, never a broken file.
* **Divergence guard**: a NaN or infinite loss or gradient norm (or parameter, checked at the end
  of each epoch) raises :class:`TrainingDiverged` naming the epoch and the step, before the
  optimizer applies it and before any checkpoint is written, so the last checkpoint is the last
  good state and stays loadable.

Metrics.  Classification tasks report the mean cross-entropy ``loss`` (nats per scored
position), ``accuracy``, ``perplexity`` = exp(loss) and ``bpc`` (bits per character) =
loss / ln 2 (the language model's metric); regression tasks report ``loss`` = ``mse``;
"multilabel-each" tasks (chorales) report ``loss`` = ``nll``, the Bernoulli negative
log-likelihood per scored frame in nats, summed over the labels (notes) of the frame.  The history keys are
``train_*`` (running means over the epoch's minibatches, in training mode), ``test_*`` and
``val_*``, plus ``epoch``, ``lr`` (the rate at the epoch's start), ``seconds`` (training) and
``eval_seconds``.

Truncated BPTT (``tbptt=k``, per-step tasks).  Each minibatch is cut along time into
consecutive windows of k steps (:func:`tbptt_chunks`), one optimizer step per window.  The
final state of one window starts the next (:func:`carried_state` makes every recurrent layer
stateful), but as a constant: no gradient flows back across the cut, so the cost of a step is
O(k) however long the sequence.  The state is reset to zero at the start of each minibatch.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from . import backend, losses, optim
from . import tasks as task_registry
from .layers import Bidirectional, Dense, Embedding, GaussianNoise, Layer, Recurrent
from .model import Model

__all__ = ["TrainingDiverged", "build_model", "cell_inputs", "evaluate", "tbptt_chunks", "carried_state", "Trainer",
           "save_npz_atomic", "load_npz", "write_history", "SCHEDULES", "CHECKPOINT_FORMAT"]

#: the value of the "format" entry of every checkpoint written here
CHECKPOINT_FORMAT = "npslim-checkpoint-1"
#: ``schedule=`` names -> the npslim.optim class (None: constant rate)
SCHEDULES = {"none": None, "step": optim.StepLR, "exp": optim.ExponentialLR,
             "plateau": optim.ReduceLROnPlateau, "loss": optim.LossDrivenLR}
_LN2 = math.log(2.0)
#: the most time steps × sequences of one evaluation batch when ``eval_batch_size`` is None
#: (1024 sequences up to T = 128; fewer for longer ones: 167 for pixel MNIST's 784 steps)
EVAL_POSITIONS = 2 ** 17


class TrainingDiverged(RuntimeError):
    """A NaN or infinite loss, gradient or parameter stopped training.

    Attributes: ``epoch`` (1-based), ``step`` (1-based minibatch or chunk within the epoch, None for
    an end-of-epoch check), ``quantity`` ("loss", "gradient norm", "parameter ..."), ``value``,
    ``checkpoint`` (the path of the last good checkpoint, or None when none was written)."""

    def __init__(self, message, *, epoch, step, quantity, value, checkpoint):
        super().__init__(message)
        self.epoch, self.step, self.quantity, self.value, self.checkpoint = epoch, step, quantity, value, checkpoint


# ---------------------------------------------------------------------------- the model
def build_model(task, cell="lstm", hidden_size=64, *, seed=0, dtype="float32", embed_size=None, input_noise=0.0,
                **cell_options):
    """The standard model for ``task``: one recurrent layer of ``cell`` and a Dense read-out.

    "*-last" tasks read the output of each sequence's last valid step, "*-each" tasks every step;
    token tasks (``task.vocab_size`` set: imdb, shakespeare-chars) look their ids up first::

        [Embedding(V, E) ->]  Recurrent(cell, m or E, n, return_sequences = kind ends with "-each")  ->  Dense(n_out, K)

    Layer names "embed" (or "noise"), "rnn", "out".  Classification trains the logits with softmax
    cross-entropy, "multilabel-each" with the Bernoulli NLL (sigmoid per label), regression the
    outputs with mean squared error.  ``cell`` is a registered name (options in
    ``cell_options``) or a built Cell.  ``embed_size`` E: None takes ``task.embed_size`` (32 if
    the task names none).  The cell, the Dense layer and the Embedding get three seeds derived
    from ``seed`` (the first two as for a model without an Embedding).  ``input_noise`` σ > 0
    (feature inputs only) puts a GaussianNoise layer "noise" first: x + σ ε in training mode
    (Greff et al. 2017's input noise), seeded apart, so the other seeds do not change."""
    s_cell, s_out, s_embed = (int(s) for s in np.random.SeedSequence(int(seed)).generate_state(3))
    layers = {}
    if getattr(task, "vocab_size", None) is not None:
        if input_noise:
            raise ValueError(f"input_noise: task {task.name!r} reads token ids; Gaussian input noise needs features")
        size = embed_size if embed_size is not None else (task.embed_size or 32)
        layers["embed"] = Embedding(task.vocab_size, _int_arg("embed_size", size, 1), seed=s_embed,
                                    dtype=dtype if isinstance(cell, str) else cell.dtype)
        input_size = layers["embed"].output_size
    elif embed_size is not None:
        raise ValueError(f"embed_size: task {task.name!r} has feature inputs, not token ids; it takes no Embedding")
    else:
        input_size = task.input_size
        if input_noise:                                 # Greff et al. 2017: x + σ ε in training, its own seed
            s_noise = int(np.random.SeedSequence([int(seed), 0x401]).generate_state(1)[0])
            layers["noise"] = GaussianNoise(input_noise, seed=s_noise)
    rnn = Recurrent(cell, input_size, hidden_size, return_sequences=task.kind.endswith("-each"),
                    seed=s_cell, dtype=None if not isinstance(cell, str) else dtype, **cell_options)
    layers["rnn"] = rnn
    layers["out"] = Dense(rnn.output_size, task.output_size, seed=s_out, dtype=rnn.dtype)
    return Model(layers)


def cell_inputs(model, X):
    """What the model's first recurrent layer reads for the task inputs ``X``: ``X`` itself, or,
    after an Embedding (token tasks), the embedded ids (T, B, E); in evaluation mode."""
    for layer in model.layers.values():
        if isinstance(layer, (Recurrent, Bidirectional)):
            return X
        was_training = layer.training
        layer.eval()
        try:
            X = layer.forward(_to_device(X, layer.xp))[0]
        finally:
            if was_training:
                layer.train()
    return X


def _all_layers(model):
    """Every layer inside ``model``, depth first (containers before their children)."""
    found, stack = [], list(model.layers.values())
    while stack:
        layer = stack.pop(0)
        found.append(layer)
        stack[:0] = list(layer.children().values())
    return found


def _model_xp(model):
    return backend.xp_of(*model.params().values())


# ---------------------------------------------------------------------------- loss and metrics
def _loss(kind, out, targets, lengths, xp):
    """(mean loss, d out, number of scored positions, number correct or None) of one minibatch."""
    mask = None
    if kind.endswith("-each") and lengths is not None:
        mask = xp.arange(out.shape[0])[:, None] < lengths[None, :]                     # (T, B) valid steps
    if kind.startswith("classify"):
        if kind == "classify-each":
            scored = targets != task_registry.IGNORE
            mask = scored if mask is None else mask & scored
        count = out.shape[0] if mask is None else int(mask.sum())
        if count == 0:                                          # a TBPTT window with nothing scored
            return 0.0, xp.zeros_like(out), 0, 0
        loss, dout = losses.softmax_cross_entropy(out, targets, mask)
        hit = out.argmax(axis=-1) == targets
        correct = int(hit.sum() if mask is None else (hit & mask).sum())
        return loss, dout, count, correct
    if kind == "multilabel-each":                               # Bernoulli NLL per frame, summed over labels
        loss, dout = losses.bernoulli_nll(out, targets, mask)
        count = out.shape[0] * out.shape[1] if mask is None else int(mask.sum())
        return loss, dout, count, None
    loss, dout = losses.mean_squared_error(out, targets, mask)
    per = int(np.prod(out.shape[(1 if mask is None else mask.ndim):]))
    count = (out.shape[0] if mask is None else int(mask.sum())) * per
    return loss, dout, count, None


def _metrics(kind, loss_sum, count, correct):
    """Mean loss and the task's metrics from sums over positions."""
    loss = loss_sum / count if count else math.nan
    if kind.startswith("classify"):
        return {"loss": loss, "accuracy": correct / count if count else math.nan,
                "perplexity": math.exp(min(loss, 700.0)) if math.isfinite(loss) else math.nan,   # exp(loss)
                "bpc": loss / _LN2}                                                             # loss / ln 2
    if kind == "multilabel-each":
        return {"loss": loss, "nll": loss}                     # nats per frame
    return {"loss": loss, "mse": loss}


def _to_device(a, xp):
    return None if a is None else backend.to_device(a, xp)


def evaluate(model, task, split="test", batch_size=1024, tbptt=None):
    """Metrics of ``model`` on ``split`` of ``task`` in evaluation mode, in stored order.

    Returns {"loss", "accuracy", "perplexity", "bpc"} for classification, {"loss", "mse"} for
    regression, {"loss", "nll"} for "multilabel-each".  ``tbptt=k`` (per-step tasks) runs each
    batch in windows of k steps with the state carried across them: the same outputs as one
    pass, in a k-step memory.  The model is put back in training mode afterwards if it was in it."""
    xp, was_training = _model_xp(model), model.training
    model.eval()
    loss_sum, count, correct = 0.0, 0, 0

    def add(X, y, lengths):
        nonlocal loss_sum, count, correct
        with np.errstate(all="ignore"):                # a diverged model is reported by its NaN loss
            out = model.forward(X, lengths)
            loss, _, n, hits = _loss(task.kind, out, y, lengths, xp)
        loss_sum += loss * n
        count += n
        correct += hits or 0
    try:
        for X, y, lengths in task.batches(split, batch_size):
            X, y, lengths = _to_device(X, xp), _to_device(y, xp), _to_device(lengths, xp)
            if tbptt is None:
                add(X, y, lengths)
            elif lengths is not None:
                raise ValueError(f"tbptt: windows need sequences of one length; {task.name!r} has lengths")
            else:
                with carried_state(model):
                    for Xc, yc in tbptt_chunks(X, y, tbptt):
                        add(Xc, yc, None)
    finally:
        if was_training:
            model.train()
    return _metrics(task.kind, loss_sum, count, correct)


# ---------------------------------------------------------------------------- truncated BPTT
def tbptt_chunks(X, targets, length):
    """Cut a time-major minibatch into consecutive windows of ``length`` steps along time.

    Yields ``(X[s:s+k], targets[s:s+k])`` for s = 0, k, 2k, ... (the last window may be shorter);
    ``targets`` are per-step, time-major ((T, B) or (T, B, k)).  Use it inside
    :func:`carried_state`: the final state of one window then starts the next, its gradient cut."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length: expected an int >= 1 (steps per window), got {length!r}")
    T = X.shape[0]
    if targets.shape[0] != T:
        raise ValueError(f"targets: expected per-step targets with T = {T} on axis 0 (time-major, as X), "
                         f"got shape {tuple(targets.shape)}")
    for start in range(0, T, int(length)):
        yield X[start:start + length], targets[start:start + length]


@contextlib.contextmanager
def carried_state(model):
    """Inside the block every recurrent layer of ``model`` is stateful: each ``forward`` starts
    from the final state of the previous one (truncated BPTT).  That state enters as a
    CONSTANT: ``Recurrent.backward`` sends no gradient into its initial state, so no gradient
    crosses from one window into the one before.  The carried state starts at zero and is
    forgotten on leaving (each layer's own ``stateful`` setting is restored)."""
    everything = _all_layers(model)
    layers = [layer for layer in everything if isinstance(layer, Recurrent)]
    if any(isinstance(layer, Bidirectional) for layer in everything):
        raise ValueError("model: truncated BPTT needs a causal model; a Bidirectional layer reads the future")
    before = [layer.stateful for layer in layers]
    for layer in layers:
        layer.reset_state()
        layer.stateful = True
    try:
        yield model
    finally:
        for layer, flag in zip(layers, before):
            layer.stateful = flag
            layer.reset_state()


# ---------------------------------------------------------------------------- checkpoint files
def save_npz_atomic(path, arrays):
    """Write ``arrays`` (name -> array or scalar) to ``path`` as .npz, atomically.

    The data go to a temporary file in the same folder, which is flushed and fsynced, then
    ``os.replace``d over ``path`` (atomic on POSIX and Windows) and the folder is fsynced.  A crash
    at any moment leaves either the old file or the new one complete; the temporary file is
    removed if writing fails.  Returns the path."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):              # make the rename itself durable (POSIX)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def load_npz(path):
    """Every entry of an .npz file as a dict of host arrays (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _generators(model):
    """Every NumPy random generator inside ``model`` (dropout masks, a stochastic cell's noise,
    the host generators of initialisation), keyed by attribute path, and those still unset
    (``None`` attributes named like a generator, e.g. a dropout layer that has not drawn yet)."""
    found, seen = {}, set()

    def walk(obj, prefix):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for attr, value in vars(obj).items():
            key = f"{prefix}{attr}"
            if isinstance(value, np.random.Generator):
                found[key] = (obj, attr)
            elif value is None and attr.endswith("rng"):
                found[key] = (obj, attr)
            elif isinstance(value, Layer) or hasattr(value, "gate_activations"):
                walk(value, f"{key}.")
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, Layer):
                        walk(v, f"{key}.{k}.")
    walk(model.net, "")
    return found


def _rng_states(model, shuffle_rng):
    states = {"shuffle": shuffle_rng.bit_generator.state, "model": {}}
    for key, (obj, attr) in _generators(model).items():
        g = getattr(obj, attr)
        states["model"][key] = None if g is None else g.bit_generator.state
    return states


def _set_rng_states(model, shuffle_rng, states):
    shuffle_rng.bit_generator.state = states["shuffle"]
    present = _generators(model)
    for key, state in states["model"].items():
        if key not in present:
            raise KeyError(f"checkpoint: random generator {key!r} not found in this model")
        obj, attr = present[key]
        if state is None:
            setattr(obj, attr, None)
            continue
        g = getattr(obj, attr)
        if not isinstance(g, np.random.Generator) or type(g.bit_generator).__name__ != state["bit_generator"]:
            g = np.random.Generator(getattr(np.random, state["bit_generator"])())
            setattr(obj, attr, g)
        g.bit_generator.state = state


def _json_value(a):
    return json.loads(str(a.item() if isinstance(a, np.ndarray) else a))


def _prefixed(d, prefix):
    return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}


# ---------------------------------------------------------------------------- the trainer
class Trainer:
    """Train ``model`` on ``task`` (see the module docstring).

    Arguments::

        optimizer, lr, optimizer_options   npslim.optim name ("adam", "sgd", ...), rate, other keywords
        clip            clip the global gradient norm to this (None or 0: off; the norm is still checked)
        schedule        "none", "step", "exp", "plateau" (on the monitored value) or "loss" (η = η₀·exp(C),
                        C the minibatch's training loss, η₀ = lr); schedule_options: its keywords
        batch_size      training minibatch size (evaluation uses eval_batch_size; None: 1024 sequences, fewer
                        for long ones, so that a batch holds at most EVAL_POSITIONS steps)
        patience        early stopping: stop after this many epochs without improvement (None: never)
        monitor         the history key deciding "best" and early stopping; default val_<metric> with
                        val_fraction > 0, else test_<metric> (tasks ship only train and test splits)
        val_fraction    hold this fraction of the training split out as validation (seeded split)
        tbptt           truncated BPTT window in steps (per-step tasks only; None: full BPTT)
        seed            seeds the shuffling and the validation split (build the model with a seed too)
        out             folder for checkpoint.npz (every epoch) and best.npz (each new best); None: none
        progress        tqdm bars (per epoch, leave=False, postfix loss and metric); desc: their label

    ``fit(epochs)`` trains until ``epochs`` epochs are complete in total (so after a resume it
    continues to the same end), returns ``history``; ``best`` is {"epoch", "value", "monitor"}."""

    def __init__(self, model, task, *, optimizer="adam", lr=1e-2, optimizer_options=None, clip=5.0,
                 schedule="none", schedule_options=None, batch_size=32, eval_batch_size=None, patience=None,
                 monitor=None, val_fraction=0.0, tbptt=None, seed=0, out=None, progress=True, desc=None):
        if not isinstance(model, Model):
            raise TypeError(f"model: expected an npslim.model.Model (e.g. build_model(task, 'lstm')), "
                            f"got {type(model).__name__}")
        self.model, self.task = model, task
        self.xp = _model_xp(model)
        self.batch_size = _int_arg("batch_size", batch_size, 1)
        self.clip = None if not clip else float(clip)
        self.patience = None if patience is None else _int_arg("patience", patience, 1)
        self.tbptt = None if tbptt is None else _int_arg("tbptt", tbptt, 1)
        if eval_batch_size is None:                 # bound the forward caches of long sequences
            steps = min(self.tbptt or task.num_steps, task.num_steps)
            eval_batch_size = min(1024, max(self.batch_size, EVAL_POSITIONS // steps))
        self.eval_batch_size = _int_arg("eval_batch_size", eval_batch_size, 1)
        if self.tbptt is not None and not task.kind.endswith("-each"):
            raise ValueError(f"tbptt: truncated BPTT needs a per-step task ('*-each'); {task.name!r} is "
                             f"{task.kind!r} (one target at the last step), train it with tbptt=None")
        if self.tbptt is not None and task.lengths_train is not None:
            raise ValueError(f"tbptt: truncated BPTT needs sequences of one length; {task.name!r} has "
                             f"variable lengths, train it with tbptt=None")
        self.seed = int(seed)
        self.val_fraction = float(val_fraction)
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction: expected a fraction in [0, 1), got {val_fraction!r}")
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5EED]))
        self._fit_task = _split_validation(task, self.val_fraction, self.seed) if self.val_fraction else task
        self.splits = ("val", "test") if self.val_fraction else ("test",)

        self.optimizer_name, self.optimizer_options = optimizer, dict(optimizer_options or {})
        self.optimizer = optim.make(optimizer, model.params(), model.grads(), lr=lr, **self.optimizer_options)
        self.lr = float(lr)

        metric = task.metric
        self.monitor = monitor or f"{self.splits[0]}_{metric}"
        self.mode = "max" if self.monitor.endswith(("accuracy",)) else "min"
        self.schedule_name, self.schedule_options = schedule or "none", dict(schedule_options or {})
        if self.schedule_name not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {sorted(SCHEDULES)}, got {schedule!r}")
        cls = SCHEDULES[self.schedule_name]
        if cls is None:
            self.schedule = None
        elif cls is optim.LossDrivenLR:
            self.schedule = cls(self.optimizer, **{"eta0": self.lr, **self.schedule_options})
        elif cls is optim.ReduceLROnPlateau:
            self.schedule = cls(self.optimizer, **{"mode": self.mode, **self.schedule_options})
        else:
            self.schedule = cls(self.optimizer, **self.schedule_options)

        self.out = None if out is None else Path(out)
        self.progress, self.desc = bool(progress), desc
        self.history = []
        self.epoch = 0                  # epochs completed
        self.step_count = 0             # optimizer steps taken
        self.best = {"monitor": self.monitor, "epoch": None, "value": None}
        self.bad_epochs = 0
        self.stopped_early = False
        self.last_checkpoint = None

    # ------------------------------------------------------------------ configuration
    def config(self):
        """The settings that rebuild this trainer (config.json)."""
        return {"optimizer": self.optimizer_name, "lr": self.lr, "optimizer_options": self.optimizer_options,
                "clip": self.clip, "schedule": self.schedule_name, "schedule_options": self.schedule_options,
                "batch_size": self.batch_size, "eval_batch_size": self.eval_batch_size,
                "patience": self.patience, "monitor": self.monitor, "val_fraction": self.val_fraction,
                "tbptt": self.tbptt, "seed": self.seed}

    @property
    def checkpoint_path(self):
        return None if self.out is None else self.out / "checkpoint.npz"

    @property
    def best_path(self):
        return None if self.out is None else self.out / "best.npz"

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split="test"):
        """Metrics on "test", "val" (the held-out part of train) or "train" (in evaluation mode)."""
        if split == "val":
            if not self.val_fraction:
                raise ValueError("split: 'val' needs val_fraction > 0")
            return evaluate(self.model, self._fit_task, "test", self.eval_batch_size, self.tbptt)
        if split == "train":
            return evaluate(self.model, self._fit_task, "train", self.eval_batch_size, self.tbptt)
        return evaluate(self.model, self.task, split, self.eval_batch_size, self.tbptt)

    # ------------------------------------------------------------------ training
    def fit(self, epochs):
        """Train until ``epochs`` epochs are complete (or early stopping); returns the history."""
        epochs = _int_arg("epochs", epochs, 0)
        tqdm = _progress_bar_class()
        bar = tqdm(total=epochs, initial=min(self.epoch, epochs), desc=self.desc or self.task.name,
                   unit="epoch", disable=not self.progress, leave=True, dynamic_ncols=True)
        try:
            while self.epoch < epochs and not self.stopped_early:
                record = self._epoch(epochs, tqdm)
                bar.update(1)
                bar.set_postfix({k: _short(record[k]) for k in ("train_loss", self.monitor) if k in record})
        finally:
            bar.close()
        return self.history

    def _epoch(self, epochs, tqdm):
        epoch = self.epoch + 1
        n_batches = math.ceil(self._fit_task.n_train / self.batch_size)
        record = {"epoch": epoch, "lr": self.optimizer.lr}
        sums = {"loss": 0.0, "count": 0, "correct": 0}
        self.model.train()
        start = time.perf_counter()
        bar = tqdm(total=n_batches, desc=f"{self.desc or self.task.name} epoch {epoch}/{epochs}", unit="batch",
                   leave=False, disable=not self.progress, dynamic_ncols=True)
        try:
            step = 0
            for X, y, lengths in self._fit_task.batches("train", self.batch_size, self.rng):
                X, y, lengths = _to_device(X, self.xp), _to_device(y, self.xp), _to_device(lengths, self.xp)
                if self.tbptt is None:
                    step += 1
                    self._step(X, y, lengths, epoch, step, sums)
                else:
                    with carried_state(self.model):
                        for Xc, yc in tbptt_chunks(X, y, self.tbptt):
                            step += 1
                            self._step(Xc, yc, None, epoch, step, sums)
                bar.update(1)
                bar.set_postfix(_running(self.task.kind, sums), refresh=False)
        finally:
            bar.close()
        record["seconds"] = time.perf_counter() - start
        self._check_parameters(epoch)
        record.update({f"train_{k}": v for k, v in
                       _metrics(self.task.kind, sums["loss"], sums["count"], sums["correct"]).items()})
        start = time.perf_counter()
        for split in self.splits:
            record.update({f"{split}_{k}": v for k, v in self.evaluate(split).items()})
        record["eval_seconds"] = time.perf_counter() - start
        if self.monitor not in record:
            raise KeyError(f"monitor: {self.monitor!r} is not in the history; choose one of {sorted(record)}")
        self._end_of_epoch(record)
        return record

    def _step(self, X, y, lengths, epoch, step, sums):
        """One optimizer step on one minibatch (or TBPTT window), guarded against NaN/Inf."""
        model = self.model
        with np.errstate(all="ignore"):             # the guard below reports non-finite values precisely
            out = model.forward(X, lengths)
            loss, dout, count, correct = _loss(self.task.kind, out, y, lengths, self.xp)
            if not math.isfinite(loss):
                raise self._diverged("loss", loss, epoch, step)
            if count == 0:                          # a TBPTT window with no scored step: carry the state only
                return
            model.zero_grad()
            model.backward(dout)
            grads = model.grads()
            norm = optim.clip_grad_norm(grads, self.clip) if self.clip else _global_norm(grads, self.xp)
            if not math.isfinite(norm):
                raise self._diverged("gradient norm", norm, epoch, step)
            if isinstance(self.schedule, optim.LossDrivenLR):
                self.schedule.update(loss)                                  # η = η₀·exp(C)
            self.optimizer.step()
        self.step_count += 1
        sums["loss"] += loss * count
        sums["count"] += count
        sums["correct"] += correct or 0

    def _check_parameters(self, epoch):
        for name, p in self.model.params().items():
            if not bool(self.xp.isfinite(p).all()):
                raise self._diverged(f"parameter {name!r}", math.nan, epoch, None)

    def _diverged(self, quantity, value, epoch, step):
        where = f"epoch {epoch}, step {step}" if step is not None else f"the end of epoch {epoch}"
        if self.last_checkpoint is not None:
            keep = f"the last good checkpoint is {self.last_checkpoint} (epoch {epoch - 1})"
        elif self.out is not None:
            keep = "no checkpoint had been written yet"
        else:
            keep = "no checkpoints are kept (out=None)"
        return TrainingDiverged(
            f"training diverged: non-finite {quantity} ({value}) at {where} (after {self.step_count} optimizer "
            f"steps); training stopped; {keep}. Try a smaller learning rate or gradient clipping.",
            epoch=epoch, step=step, quantity=quantity, value=value, checkpoint=self.last_checkpoint)

    def _end_of_epoch(self, record):
        value = record[self.monitor]
        better = (self.best["value"] is None
                  or (value > self.best["value"] if self.mode == "max" else value < self.best["value"]))
        if better:
            self.best.update(epoch=record["epoch"], value=value)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if isinstance(self.schedule, optim.ReduceLROnPlateau):
            self.schedule.step(value)
        elif self.schedule is not None and not isinstance(self.schedule, optim.LossDrivenLR):
            self.schedule.step()
        if self.patience is not None and self.bad_epochs >= self.patience:
            self.stopped_early = True
        record["best"] = bool(better)
        self.history.append(record)
        self.epoch = record["epoch"]
        if self.out is not None:
            self.last_checkpoint = self.save_checkpoint(self.checkpoint_path)
            if better:
                self.save_checkpoint(self.best_path)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """Everything a bit-exact resume needs, as a flat dict of host arrays and JSON strings:
        "model/<param>", "optimizer/<key>", "schedule/<key>", "rng" (every generator's
        bit_generator.state), "history", "trainer" (epoch, steps, best, early-stopping counters),
        "config", "format"."""
        d = {"format": np.array(CHECKPOINT_FORMAT), "epoch": np.array(self.epoch)}
        d.update({f"model/{k}": v for k, v in self.model.state_dict().items()})
        d.update({f"optimizer/{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.schedule is not None:
            d.update({f"schedule/{k}": v for k, v in self.schedule.state_dict().items()})
        d["rng"] = np.array(json.dumps(_rng_states(self.model, self.rng)))
        d["history"] = np.array(json.dumps(_jsonable(self.history)))
        d["trainer"] = np.array(json.dumps(_jsonable({
            "epoch": self.epoch, "step_count": self.step_count, "best": self.best, "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early})))
        d["config"] = np.array(json.dumps(_jsonable(self.config())))
        return d

    def load_state_dict(self, d):
        """Restore a ``state_dict()`` (as read back by :func:`load_npz`) into this trainer, whose
        model, task and settings must match the ones that wrote it."""
        fmt = str(d["format"]) if "format" in d else None
        if fmt != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint: expected format {CHECKPOINT_FORMAT!r}, got {fmt!r}")
        self.model.load_state_dict(_prefixed(d, "model/"))
        self.optimizer.load_state_dict(_prefixed(d, "optimizer/"))
        saved_schedule = _prefixed(d, "schedule/")
        if (self.schedule is None) != (not saved_schedule):
            raise ValueError(f"checkpoint: schedule mismatch; this trainer has {self.schedule_name!r}, the checkpoint "
                             f"{'one' if saved_schedule else 'none'}")
        if self.schedule is not None:
            self.schedule.load_state_dict(saved_schedule)
        _set_rng_states(self.model, self.rng, _json_value(d["rng"]))
        self.history = _json_value(d["history"])
        t = _json_value(d["trainer"])
        self.epoch, self.step_count = int(t["epoch"]), int(t["step_count"])
        self.best, self.bad_epochs, self.stopped_early = dict(t["best"]), int(t["bad_epochs"]), bool(t["stopped_early"])
        return self

    def save_checkpoint(self, path):
        """Write ``state_dict()`` to ``path`` atomically; returns the path."""
        return save_npz_atomic(path, self.state_dict())

    def load_checkpoint(self, path):
        """Restore this trainer from a checkpoint file; ``fit`` then continues bit-exactly."""
        self.load_state_dict(load_npz(path))
        self.last_checkpoint = Path(path)
        return self


# ---------------------------------------------------------------------------- history files
def write_history(folder, histories):
    """Write ``history.json`` and ``history.csv`` into ``folder``.  ``histories`` is one history
    (a list of per-epoch dicts) or a dict label -> history (compare); the CSV has one row per
    epoch and label, with a "cell" column for the label.  Returns the two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / "history.json", folder / "history.csv"
    json_path.write_text(json.dumps(_jsonable(histories, strict=True), indent=1) + "\n")
    labelled = histories.items() if isinstance(histories, dict) else [(None, histories)]
    rows = [({"cell": label} if label is not None else {}) | dict(rec) for label, hist in labelled for rec in hist]
    fields = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


# ---------------------------------------------------------------------------- helpers
def _split_validation(task, fraction, seed):
    """A copy of ``task`` whose train split is the rest of the training sequences and whose "test"
    split is a validation part of ``fraction`` of them (a seeded permutation)."""
    import dataclasses
    X, y, lengths = task.split("train")
    N = X.shape[1]
    n_val = min(N - 1, max(1, int(round(fraction * N))))
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0xA1])).permutation(N)
    val, rest = np.sort(order[:n_val]), np.sort(order[n_val:])
    per_step = task.kind.endswith("-each")

    def take(idx):
        return (np.ascontiguousarray(X[:, idx]), np.ascontiguousarray(y[:, idx] if per_step else y[idx]),
                None if lengths is None else lengths[idx].copy())
    (Xr, yr, lr), (Xv, yv, lv) = take(rest), take(val)
    return dataclasses.replace(task, X_train=Xr, targets_train=yr, lengths_train=lr,
                               X_test=Xv, targets_test=yv, lengths_test=lv)


def _progress_bar_class():
    """tqdm's notebook bar inside Jupyter with ipywidgets, its text bar elsewhere (without the
    warning tqdm.auto gives in a notebook that lacks ipywidgets)."""
    import warnings
    from tqdm import TqdmWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


def _global_norm(grads, xp):
    total = sum(float(xp.sum(g * g, dtype=xp.float64)) for g in grads.values())
    return math.sqrt(total) if math.isfinite(total) else total


def _running(kind, sums):
    m = _metrics(kind, sums["loss"], sums["count"], sums["correct"])
    return {k: _short(v) for k, v in m.items() if k in ("loss", "accuracy", "mse", "bpc", "nll")}


def _short(v):
    return f"{v:.4g}" if isinstance(v, float) else v


def _int_arg(arg, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{arg}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def _jsonable(obj, strict=False):
    """Plain Python values for JSON; ``strict``: NaN and inf become null (files for other tools;
    checkpoints keep them, Python's json reads them back exactly)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, strict) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if strict and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
