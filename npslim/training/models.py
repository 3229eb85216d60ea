"""The standard model of a task and what the trainer needs to know about a model."""
from __future__ import annotations

import numpy as np

from .. import backend, model_io
from ..layers import Bidirectional, Dense, Embedding, GaussianNoise, Recurrent
from ..model import Model
from ..validate import integer

__all__ = ["build_model", "cell_inputs", "all_layers", "model_xp", "model_dtype", "to_device", "batch_to_device"]


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
        layers["embed"] = Embedding(task.vocab_size, integer("embed_size", size, 1), seed=s_embed,
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
    head = "softmax" if task.kind.startswith("classify") else "sigmoid" if task.kind == "multilabel-each" else "identity"
    return Model(layers, head=head, info={"task": model_io.task_description(task)})


def cell_inputs(model, X):
    """What the model's first recurrent layer reads for the task inputs ``X``: ``X`` itself, or,
    after an Embedding (token tasks), the embedded ids (T, B, E); in evaluation mode."""
    for layer in model.layers.values():
        if isinstance(layer, (Recurrent, Bidirectional)):
            return X
        was_training = layer.training
        layer.eval()
        try:
            X = layer.forward(to_device(X, layer.xp))[0]
        finally:
            if was_training:
                layer.train()
    return X


def all_layers(model):
    """Every part inside ``model`` (layers and the cells in them), depth first through ``children()``
    (containers before their children)."""
    found, stack = [], list(model.layers.values())
    while stack:
        layer = stack.pop(0)
        found.append(layer)
        stack[:0] = list(layer.children().values())
    return found


def model_xp(model):
    return backend.xp_of(*model.params().values())


def model_dtype(model):
    """The floating dtype of the model's parameters (all of one dtype)."""
    return next(iter(model.params().values())).dtype


def to_device(a, xp):
    return None if a is None else backend.to_device(a, xp)


def batch_to_device(X, y, lengths, xp, dtype):
    """A minibatch of task arrays on the model's device, its floating arrays (inputs, regression and
    multilabel targets) cast to the model's ``dtype`` (the tasks ship float32); token ids, class ids
    and lengths stay integers.  The cast is made on the host, before the one transfer."""
    def move(a):
        if a is None:
            return None
        if a.dtype.kind == "f" and a.dtype != dtype:
            a = backend.to_host(a).astype(dtype)
        return backend.to_device(a, xp)
    return move(X), move(y), move(lengths)
