"""Training: minibatch epochs, evaluation, metrics, checkpoints, bit-exact resume, truncated BPTT.

    task = npslim.tasks.make("digits-rows")
    model = build_model(task, "lstm", hidden_size=64, seed=0)        # Recurrent + Dense on the last output
    trainer = Trainer(model, task, optimizer="adam", lr=1e-2, clip=5.0, seed=0, out="runs/demo")
    history = trainer.fit(epochs=30)                                # one dict per epoch
    trainer.evaluate("test")                                        # {"loss": ..., "accuracy": ..., ...}

One epoch is one pass over the training split in minibatches (shuffled by the trainer's own
generator), one optimizer step per minibatch (per chunk with truncated BPTT), then an
evaluation of the test split and of a validation split held out of train (``val_fraction``,
default 0.1), on which the best epoch is chosen.  Everything that decides what happens next is state the trainer
saves: the model's parameters, the optimizer's buffers, the schedule, every NumPy random
generator (the shuffling one, dropout's, a stochastic cell's noise), the history, the
early-stopping counters and the epoch.  Hence:

* **Repeatable**: the same ``seed`` (and the same machine and thread count) gives the same run.
* **Resume bit-exactly**: ``Trainer.load_checkpoint(path)`` then ``fit(epochs)`` continues as if
  never stopped; a run stopped after epoch k and resumed ends with the same parameters, bit for
  bit, as one that ran straight through.  Checkpoints are taken at the end of an epoch.  (Same
  machine and BLAS thread count, as for any bit-for-bit claim.  Dropout masks, input noise and
  a stochastic cell's noise are drawn on the host from generators the checkpoint saves, on
  every backend.)
* **Atomic checkpoints**: :func:`npslim.files.save_npz_atomic` writes a temporary file in the same folder,
  flushes and fsyncs it, then ``os.replace``s it over the old one (and fsyncs the folder), so a
  crash at any moment leaves either the old checkpoint or the new one, never a broken file.
* **Divergence guard**: a NaN or infinite loss or gradient norm (or parameter, checked at the end
  of each epoch) raises :class:`TrainingDiverged` naming the epoch and the step, before any
  checkpoint is written, so the last checkpoint is the last good state and stays loadable.  On
  NumPy each step is checked as it is taken, before the optimizer applies it.  On a GPU the
  losses and norms stay on the device and are read once, at the end of the epoch (a step then
  waits for nothing), so the rest of that epoch runs on and the model in memory is left diverged;
  the error names the same step and value all the same.

* **Nothing read back in a step** (GPU): the loss, the number correct and the gradient norm stay
  on the device; the values of ids, lengths and targets are checked on the host when the Task is
  made (:func:`npslim.validate.checked_on_host`).  An epoch reads five times: its sums, the
  guard's record, the parameters' finiteness and the sums of the validation and the test
  evaluations (four times without a validation split).  What a step sends is the
  minibatch and the noise of dropout, input noise or a stochastic cell, drawn on the host.  The
  one exception is ``schedule="loss"`` with ``per="step"``, which reads each minibatch's loss.

Metrics.  Classification tasks report the mean cross-entropy ``loss`` (nats per scored
position) and ``accuracy``; a language model (task metric "bpc": shakespeare-chars) also
``perplexity`` = exp(loss) and ``bpc`` (bits per character) = loss / ln 2; regression tasks report ``loss`` = ``mse``;
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

from .files import load_npz, save_npz_atomic
from .training.checkpoint import CHECKPOINT_FORMAT
from .training.history import write_history
from .training.metrics import evaluate
from .training.models import build_model, cell_inputs
from .training.tbptt import carried_state, tbptt_chunks
from .training.trainer import EVAL_POSITIONS, SCHEDULES, Trainer, TrainingDiverged

__all__ = ["TrainingDiverged", "build_model", "cell_inputs", "evaluate", "tbptt_chunks", "carried_state", "Trainer",
           "save_npz_atomic", "load_npz", "write_history", "SCHEDULES", "CHECKPOINT_FORMAT", "EVAL_POSITIONS"]
