"""A model: a list of layers with one flat, named view of every parameter.

    model = Model([Embedding(V, 32), Bidirectional("lstm", 32, 64, return_sequences=False),
                   Dense(128, K)])
    logits = model.forward(ids, lengths)                # keeps the layers' caches
    loss, dlogits = losses.softmax_cross_entropy(logits, targets)
    model.zero_grad(); model.backward(dlogits)          # gradients now in model.grads()
    for name, p in model.params().items(): p -= lr * model.grads()[name]

``params()`` and ``grads()`` map the same qualified names (``"0.E"``, ``"1.fw.cell.W_z"``, or the
given layer names: ``"rnn.cell.W_z"``) to the live arrays: update parameters in place.
``state_dict()`` / ``load_state_dict()`` copy them to and from host NumPy arrays (checkpoints).

After training (:mod:`npslim.inference`, :mod:`npslim.model_io`, docs/model-format.md)::

    model.predict(X, lengths)           # class ids / labels / values, host NumPy
    model.predict_proba(X, lengths)     # probabilities (softmax or sigmoid head)
    model.save("m.npz"); m = npslim.model.load("m.npz")     # one .npz, no pickle
    model.summary()                     # layers, output shapes, parameter counts
"""
from __future__ import annotations

import numpy as np

from . import backend
from .layers import Stack


class Model:
    """Layers in order (a list, or a dict name -> layer; see :class:`npslim.layers.Stack`).

    ``head``: what the last layer's outputs are, for ``predict``: "softmax" (class logits),
    "sigmoid" (logits of independent labels), "identity" (values) or None (unknown: ``predict``
    returns the raw outputs).  ``info``: a JSON-able dict saved with the model (``build_model``
    puts the task's description under "task")."""

    def __init__(self, layers, *, head=None, info=None):
        from .model_io import HEADS
        self.net = layers if isinstance(layers, Stack) else Stack(layers)
        self._cache = None
        if head is not None and head not in HEADS:
            raise ValueError(f"head: expected one of {HEADS} or None, got {head!r}")
        if info is not None and not isinstance(info, dict):
            raise TypeError(f"info: expected a dict or None, got {type(info).__name__}")
        self.head, self.info = head, dict(info or {})

    @property
    def layers(self):
        """name -> layer, in order."""
        return self.net.layers

    def __getitem__(self, key):
        """A layer by name, or by position."""
        if isinstance(key, int):
            return list(self.layers.values())[key]
        return self.layers[key]

    # ------------------------------------------------------------------ parameters
    def params(self):
        """Qualified name -> live parameter array."""
        return dict(self.net.params)

    def grads(self):
        """Qualified name -> live gradient array (same keys, shapes and layout as params())."""
        return dict(self.net.grads)

    def num_params(self):
        """Number of trainable scalars."""
        return self.net.num_params()

    def zero_grad(self):
        """Set every gradient to zero."""
        self.net.zero_grad()
        return self

    # ------------------------------------------------------------------ passes
    def forward(self, X, lengths=None):
        """Run every layer; keeps their caches for ``backward``.  Returns the output."""
        out, self._cache = self.net.forward(X, lengths)
        return out

    def backward(self, dout):
        """Back through every layer (after ``forward``), accumulating into ``grads()``.  Returns the
        gradient at the input (None when the first layer is an Embedding)."""
        if self._cache is None:
            raise RuntimeError("backward: call forward first (no forward cache is kept)")
        return self.net.backward(dout, self._cache)

    __call__ = forward

    # ------------------------------------------------------------------ modes
    def train(self):
        self.net.train()
        return self

    def eval(self):
        self.net.eval()
        return self

    @property
    def training(self):
        return self.net.training

    def noise_frozen(self):
        """``with model.noise_frozen():`` every dropout mask and stochastic gate reuses one draw."""
        return self.net.noise_frozen()

    def reset_state(self):
        """Forget the state carried by stateful recurrent layers."""
        self.net.reset_state()
        return self

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """Qualified name -> host NumPy copy of the parameter."""
        return {name: backend.to_host(p).copy() for name, p in self.net.params.items()}

    def load_state_dict(self, state):
        """Copy every parameter from ``state`` (as made by ``state_dict``) into the model, in place."""
        params = self.net.params
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise KeyError(f"state: expected the model's parameter names; missing {missing}, "
                           f"unexpected {unexpected}")
        for name, p in params.items():
            value = np.asarray(backend.to_host(state[name]))
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"state[{name!r}]: expected shape {tuple(p.shape)}, got {tuple(value.shape)}")
        for name, p in params.items():
            p[...] = backend.to_device(np.asarray(backend.to_host(state[name]), dtype=p.dtype), backend.xp_of(p))
        return self

    # ------------------------------------------------------------------ after training
    def predict(self, X, lengths=None, batch_size=None):
        """Class ids (softmax head), 0/1 labels (sigmoid) or values for time-major host X; see
        :mod:`npslim.inference`."""
        from .inference import predict
        return predict(self, X, lengths, batch_size)

    def predict_proba(self, X, lengths=None, batch_size=None):
        """Class or label probabilities for time-major host X; see :mod:`npslim.inference`."""
        from .inference import predict_proba
        return predict_proba(self, X, lengths, batch_size)

    def save(self, path):
        """Write the model (config and parameters) to one .npz, atomically, without pickle
        (docs/model-format.md); ``npslim.model.load(path)`` reads it back.  Returns the path."""
        from .model_io import save
        return save(self, path)

    def summary(self, print_fn=print):
        """Print a table of the layers: output shapes, parameter shapes and counts, totals."""
        from .model_io import summary_text
        print_fn(summary_text(self))

    def __repr__(self):
        return f"Model({self.net!r}, params={self.num_params()})"


def load(path):
    """The model in ``path``: a file written by ``Model.save``, or a run's best.npz / checkpoint.npz
    (:func:`npslim.model_io.load`), in evaluation mode."""
    from .model_io import load as _load
    return _load(path)


#: the same container under its other usual name
Sequential = Model

__all__ = ["Model", "Sequential", "load"]
