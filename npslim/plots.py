"""Figures of a training run, as PNG files: learning curves and gate-value histograms.

    plot_curves({"lstm": history, "gru": history2}, "curves.png", metric="accuracy")
    plot_gate_histograms(model, X, "gates.png")          # model: a Model or a Cell

Everything is drawn with matplotlib's object interface on an Agg canvas (no pyplot, no
display, no global backend switch), so it works on a headless machine and leaves the
caller's matplotlib state alone.  Each function returns the path it wrote.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import backend, inspect

__all__ = ["plot_curves", "plot_gate_histograms", "gate_values"]

_LABELS = {"loss": "loss", "accuracy": "accuracy", "mse": "mean squared error", "perplexity": "perplexity",
           "bpc": "bits per character"}


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def plot_curves(histories, path, metric="accuracy", title=None):
    """Loss and ``metric`` against the epoch, one colour per run, training dashed and test solid
    (validation dotted, where the history has it).

    ``histories``: one history (a list of per-epoch dicts from :class:`npslim.train.Trainer`) or a
    dict label -> history (every cell of a comparison in one figure).  Writes a PNG; returns the path."""
    if not isinstance(histories, dict):
        histories = {"": histories}
    panels = ["loss"] if metric in (None, "loss") else ["loss", metric]
    fig = _figure(5.0 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = [f"C{k}" for k in range(10)]
    for k, (label, history) in enumerate(histories.items()):
        epochs = [rec["epoch"] for rec in history]
        for ax, key in zip(axes, panels):
            for split, style in (("train", "--"), ("val", ":"), ("test", "-")):
                values = [rec.get(f"{split}_{key}") for rec in history]
                if not epochs or all(v is None for v in values):
                    continue
                values = [np.nan if v is None else v for v in values]
                name = " ".join(s for s in (label, split) if s)
                ax.plot(epochs, values, style, color=colours[k % 10], label=name, linewidth=1.4)
    for ax, key in zip(axes, panels):
        ax.set_xlabel("epoch")
        ax.set_ylabel(_LABELS.get(key, key))
        ax.grid(True, alpha=0.3)
        if key == "loss":
            ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=1 if len(histories) < 4 else 2)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _cell_of(model):
    """The (first) recurrent cell of a Model, a layer or a Cell."""
    if hasattr(model, "gate_activations"):
        return model
    from .layers import Recurrent
    from .training.models import all_layers
    layers = all_layers(model) if hasattr(model, "layers") else [model]
    for layer in layers:
        if isinstance(layer, Recurrent):
            return layer.cell
    raise ValueError(f"model: expected a Cell or a model with a Recurrent layer, got {type(model).__name__}")


def gate_values(model, X):
    """{gate: 1-d host array of every activation} of the model's recurrent cell on inputs ``X``
    (T, B, m), read from the forward cache in evaluation mode ({} for a cell without gates)."""
    cell = _cell_of(model)
    was_training = cell.training
    cell.eval()
    try:
        X = backend.to_device(np.asarray(backend.to_host(X), dtype=cell.dtype), cell.xp)
        return {name: a.ravel() for name, a in inspect.gates(cell, X).items()}
    finally:
        if was_training:
            cell.train()


def plot_gate_histograms(model, X, path, bins=50, title=None):
    """One histogram per gate of the activations of the model's recurrent cell over every step,
    sequence and unit of ``X`` (T, B, m) (Li et al. 2018, figure 1: how binary are the gates?).
    Writes a PNG and returns the path; returns None (and writes nothing) for a cell without gates."""
    values = gate_values(model, X)
    if not values:
        return None
    cell = _cell_of(model)
    fig = _figure(3.0 * len(values), 3.0)
    axes = fig.subplots(1, len(values), squeeze=False)[0]
    for ax, (name, v) in zip(axes, values.items()):
        ax.hist(v, bins=bins, range=(min(0.0, float(v.min())), max(1.0, float(v.max()))), color="C0")
        ax.set_title(f"gate {name}  (mean {float(v.mean()):.2f})", fontsize=9)
        ax.set_xlabel("activation")
        ax.set_yscale("log")
    axes[0].set_ylabel("count (log)")
    fig.suptitle(title or f"{cell.name}: gate activations over {X.shape[0]} steps × {X.shape[1]} sequences",
                 fontsize=10)
    return _save(fig, path)
