"""A model in one file, without pickle; and safe reading of every .npz npslim writes.

    model.save("digits.npz")                        # atomic; refuses non-finite parameters
    model = npslim.model.load("digits.npz")         # also a run's best.npz / checkpoint.npz
    model.summary()                                 # layers, output shapes, parameter counts

The layout of a model file (docs/model-format.md), an uncompressed NumPy ``.npz``, read with
``allow_pickle=False``::

    format          0-d str    "npslim-model-1"
    config          0-d str    JSON: {"head": ..., "info": {...}, "layers": [[name, layer config], ...]}
    param/<name>    arrays     one per parameter, by its qualified name ("rnn.cell.W_z", "out.W")

A layer config is ``{"type": "Embedding" | "Dense" | "Dropout" | "GaussianNoise" | "Recurrent" | "Bidirectional" |
"Stack", "dtype": ..., <the constructor's arguments>}``; a recurrent cell is ``{"name", "input_size",
"hidden_size", "options"}`` (a registered cell and ``cell.options()``).  A training checkpoint
(``npslim-checkpoint-1``) holds the same config as ``model_config`` and its parameters as
``model/<name>``, so ``load`` reads it too.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from . import backend, cells

__all__ = ["MODEL_FORMAT", "HEADS", "CorruptFile", "read_npz", "nonfinite", "check_finite", "layer_config", "build_layer",
           "model_config", "model_from_config", "save", "load", "summary_text", "task_description"]

#: the value of the "format" entry of a model file
MODEL_FORMAT = "npslim-model-1"
#: what the last layer's outputs are: logits of one class (softmax), logits of independent labels
#: (sigmoid), or values (identity, regression); None: not known (``predict`` returns the raw outputs)
HEADS = ("softmax", "sigmoid", "identity")


class CorruptFile(ValueError):
    """An .npz file that npslim cannot read: truncated, not an .npz, or missing what it must hold."""


# ---------------------------------------------------------------------------- reading safely
def read_npz(path, *, what="file", required=(), json_keys=(), remedy="restore it from a copy"):
    """Every entry of the .npz at ``path`` as a dict of host arrays, never unpickling anything.

    A file that is missing, not a zip archive, truncated, holds a pickled (object) entry, lacks one
    of ``required`` or holds unreadable JSON under ``json_keys`` raises :class:`CorruptFile` (or
    FileNotFoundError), one line naming the file, what is wrong and ``remedy``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")

    def corrupt(reason):
        return CorruptFile(f"{path}: corrupt or not an npslim {what} ({reason}); it cannot be read; {remedy}")
    if not zipfile.is_zipfile(path):
        raise corrupt("not an .npz archive: truncated, or another kind of file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:                       # an object array: numpy would need pickle
        if "pickle" in str(exc):
            raise corrupt("an entry holds pickled Python objects, which npslim never writes nor loads") from None
        raise corrupt(f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:                        # BadZipFile, EOFError, zlib.error, OSError, ...
        raise corrupt(f"{type(exc).__name__}: {exc}") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise corrupt(f"missing entries {missing}")
    for key in json_keys:
        if key in arrays:
            try:
                json.loads(str(arrays[key].item()))
            except (ValueError, TypeError) as exc:
                raise corrupt(f"entry {key!r} is not valid JSON: {exc}") from None
    return arrays


def nonfinite(params):
    """The names of the parameters of ``params`` (name -> floating array, one backend) that hold
    NaN or inf, in order; one read from the device for all of them."""
    if not params:
        return []
    xp = backend.xp_of(*params.values())
    finite = backend.to_host(xp.stack([xp.isfinite(p).all() for p in params.values()])).tolist()
    return [name for name, ok in zip(params, finite) if not ok]


def check_finite(params, where):
    """Raise ValueError naming the first parameter of ``params`` (name -> array) holding NaN or inf."""
    bad = nonfinite({name: p for name, p in params.items() if p.dtype.kind == "f"})
    if bad:
        a = params[bad[0]]
        count = int(a.size - backend.xp_of(a).isfinite(a).sum().item())
        raise ValueError(f"{where}: parameter {bad[0]!r} holds {count} non-finite value(s) (NaN or inf); "
                         f"a model with them predicts nothing useful")


# ---------------------------------------------------------------------------- configs
def _cell_config(cell):
    if cell.name not in cells.names() or cells.get(cell.name) is not type(cell):
        raise ValueError(f"model: cell {type(cell).__name__} is not a registered cell; only registered cells "
                         f"(npslim.cells.names()) can be saved")
    return {"name": cell.name, "input_size": cell.input_size, "hidden_size": cell.hidden_size,
            "options": dict(cell.options())}


def layer_config(layer):
    """The JSON-able description that :func:`build_layer` rebuilds ``layer`` from (parameters aside)."""
    from .layers import Bidirectional, Dense, Dropout, Embedding, GaussianNoise, Recurrent, Stack
    kind = type(layer)
    base = {"type": kind.__name__, "dtype": np.dtype(layer.dtype).name}
    if kind is Embedding:
        return base | {"vocab": layer.vocab, "dim": layer.dim}
    if kind is Dense:
        return base | {"in_size": layer.in_size, "out_size": layer.out_size}
    if kind is Dropout:
        return base | {"p": layer.p, "variational": layer.variational}
    if kind is GaussianNoise:
        return base | {"std": layer.std}
    if kind is Recurrent:
        return base | {"cell": _cell_config(layer.cell), "return_sequences": layer.return_sequences,
                       "stateful": layer.stateful}
    if kind is Bidirectional:
        return base | {"cells": [_cell_config(layer.fw.cell), _cell_config(layer.bw.cell)],
                       "return_sequences": layer.return_sequences}
    if kind is Stack:
        return base | {"layers": [[name, layer_config(child)] for name, child in layer.layers.items()]}
    raise ValueError(f"model: layer type {kind.__name__} cannot be saved (expected one of Embedding, Dense, "
                     f"Dropout, GaussianNoise, Recurrent, Bidirectional, Stack)")


def build_layer(config):
    """A layer with freshly initialised parameters from a :func:`layer_config` dict."""
    from .layers import Bidirectional, Dense, Dropout, Embedding, GaussianNoise, Recurrent, Stack
    c, kind = dict(config), config.get("type")

    def cell(cfg):
        return cells.make(cfg["name"], cfg["input_size"], cfg["hidden_size"], dtype=c["dtype"], **cfg["options"])
    if kind == "Embedding":
        return Embedding(c["vocab"], c["dim"], dtype=c["dtype"])
    if kind == "Dense":
        return Dense(c["in_size"], c["out_size"], dtype=c["dtype"])
    if kind == "Dropout":
        return Dropout(c["p"], c["variational"])
    if kind == "GaussianNoise":
        return GaussianNoise(c["std"])
    if kind == "Recurrent":
        return Recurrent(cell(c["cell"]), return_sequences=c["return_sequences"], stateful=c["stateful"])
    if kind == "Bidirectional":
        return Bidirectional(tuple(cell(cfg) for cfg in c["cells"]), return_sequences=c["return_sequences"])
    if kind == "Stack":
        return Stack({name: build_layer(cfg) for name, cfg in c["layers"]})
    raise ValueError(f"config: unknown layer type {kind!r}")


def model_config(model):
    """{"head", "info", "layers"}: what rebuilds ``model`` (a JSON-able dict)."""
    return {"head": model.head, "info": dict(model.info),
            "layers": [[name, layer_config(layer)] for name, layer in model.layers.items()]}


def model_from_config(config):
    """A Model with freshly initialised parameters from a :func:`model_config` dict."""
    from .model import Model
    return Model({name: build_layer(cfg) for name, cfg in config["layers"]}, head=config.get("head"),
                 info=config.get("info"))


def task_description(task):
    """What a model needs to know about the task it was trained on (JSON-able)."""
    return {"name": task.name, "kind": task.kind, "metric": task.metric, "input_size": task.input_size,
            "output_size": task.output_size, "vocab_size": task.vocab_size, "num_steps": task.num_steps,
            "seed": task.seed, "options": dict(task.options)}


# ---------------------------------------------------------------------------- files
def save(model, path):
    """Write ``model`` to ``path`` (.npz, the layout above) atomically; returns the path.  A model
    with a NaN or infinite parameter is refused: nothing is written."""
    from .files import save_npz_atomic
    state = model.state_dict()
    check_finite(state, f"save {path}")
    arrays = {"format": np.array(MODEL_FORMAT), "config": np.array(json.dumps(model_config(model), default=_plain))}
    arrays.update({f"param/{k}": v for k, v in state.items()})
    return save_npz_atomic(path, arrays)


def load(path):
    """The model saved at ``path`` by ``model.save`` (format "npslim-model-1"), or the model inside a
    training checkpoint (a run's best.npz or checkpoint.npz), on the current backend, in evaluation
    mode.  Refuses a corrupt file or one whose parameters are not finite."""
    d = read_npz(path, what="model or checkpoint file", required=("format",), json_keys=("config", "model_config"),
                 remedy="restore it from a copy, or train the model again")
    fmt = str(d["format"].item())
    if fmt == MODEL_FORMAT:
        config_key, prefix = "config", "param/"
    elif fmt.startswith("npslim-checkpoint"):
        config_key, prefix = "model_config", "model/"
    else:
        raise CorruptFile(f"{path}: expected an npslim model or checkpoint file, got format {fmt!r}")
    if config_key not in d:
        raise CorruptFile(f"{path}: this checkpoint predates model configs in checkpoints; load the run's folder "
                          f"with npslim.load_run(folder), which rebuilds the model from config.json")
    params = {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}
    try:
        check_finite(params, f"{path}")
    except ValueError as exc:
        raise CorruptFile(str(exc)) from None
    model = model_from_config(json.loads(str(d[config_key].item())))
    try:
        model.load_state_dict(params)
    except (KeyError, ValueError) as exc:
        raise CorruptFile(f"{path}: its parameters do not match its config ({exc})") from None
    return model.eval()


def _plain(obj):
    """JSON for the NumPy scalars and paths an ``info`` dict may hold."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"info: expected JSON-able values, got {type(obj).__name__}")


# ---------------------------------------------------------------------------- summary
def _out_shape(layer, shape):
    """The output shape of ``layer`` for an input of symbolic ``shape`` (tuple of str/int)."""
    from .layers import Bidirectional, Dense, Dropout, Embedding, GaussianNoise, Recurrent, Stack
    if isinstance(layer, Embedding):
        return shape + (layer.dim,)
    if isinstance(layer, Dense):
        return shape[:-1] + (layer.out_size,)
    if isinstance(layer, (Recurrent, Bidirectional)):
        return (("T", "B") if layer.return_sequences else ("B",)) + (layer.output_size,)
    if isinstance(layer, Stack):
        for child in layer.layers.values():
            shape = _out_shape(child, shape)
        return shape
    if isinstance(layer, (Dropout, GaussianNoise)):
        return shape
    return shape[:-1] + (getattr(layer, "output_size", "?"),)


def _describe_layer(layer):
    from .layers import Bidirectional, Dense, Dropout, Embedding, GaussianNoise, Recurrent
    if isinstance(layer, Embedding):
        return f"Embedding {layer.vocab}→{layer.dim}"
    if isinstance(layer, Dense):
        return f"Dense {layer.in_size}→{layer.out_size}"
    if isinstance(layer, Dropout):
        return f"Dropout p={layer.p:g}" + (" variational" if layer.variational else "")
    if isinstance(layer, GaussianNoise):
        return f"GaussianNoise std={layer.std:g}"
    if isinstance(layer, (Recurrent, Bidirectional)):
        cell = layer.cell if isinstance(layer, Recurrent) else layer.fw.cell
        defaults = cell.option_defaults()
        opts = "".join(f" {k}={v}" for k, v in cell.options().items() if v != defaults[k])    # those not default
        kind = "Recurrent" if isinstance(layer, Recurrent) else "Bidirectional"
        return f"{kind} {cell.name} m={cell.input_size} n={cell.hidden_size}{opts}"
    return type(layer).__name__


def summary_text(model):
    """Keras-like table: one row per layer (name, type, output shape, parameters), then each
    parameter's name and shape, then the totals."""
    from .layers import Embedding
    first = next(iter(model.layers.values()))
    shape = ("T", "B") if isinstance(first, Embedding) else ("T", "B", getattr(first, "input_size", "m"))
    rows = []
    for name, layer in model.layers.items():
        shape = _out_shape(layer, shape)
        rows.append((f"{name} ({_describe_layer(layer)})", "(" + ", ".join(map(str, shape)) + ")",
                     f"{layer.num_params():,}"))
        for pname, p in layer.params.items():
            rows.append((f"  {pname}", "  " + "×".join(map(str, p.shape)), f"{int(p.size):,}"))
    head = ("layer (type)", "output shape / parameter shape", "parameters")
    w = [max(len(r[k]) for r in rows + [head]) for k in range(3)]
    line = "-" * (w[0] + w[1] + w[2] + 4)
    dtypes = sorted({np.dtype(p.dtype).name for p in model.params().values()})
    out = [f"Model: {len(model.layers)} layers, {', '.join(dtypes)}, head {model.head or 'unknown'}"
           + (f", task {model.info['task']['name']}" if "task" in model.info else ""), line,
           f"{head[0]:<{w[0]}}  {head[1]:<{w[1]}}  {head[2]:>{w[2]}}", line]
    out += [f"{a:<{w[0]}}  {b:<{w[1]}}  {c:>{w[2]}}" for a, b, c in rows]
    out += [line, f"total parameters: {model.num_params():,}"
            f" ({sum(int(p.nbytes) for p in model.params().values()) / 2 ** 20:.2f} MiB)"]
    return "\n".join(out)
