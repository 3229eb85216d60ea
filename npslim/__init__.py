"""npslim: recurrent cells written from scratch in NumPy, with hand-derived backward passes."""
import importlib as _importlib

from . import backend, cells, compress, gradcheck, inspect, interop, layers, losses, model, optim, reference, tasks  # noqa: F401
from . import inference, model_io, runs_io  # noqa: F401
from .runs_io import load_run, load_runs  # noqa: F401

__version__ = "0.1.0"

#: submodules imported on first use (``npslim.train.Trainer`` after a plain ``import npslim``): they
#: bring matplotlib, tqdm or the dataset loaders, which ``import npslim`` alone does not need
_LAZY = ("datasets", "train", "training", "plots", "runs", "files", "validate", "cli")


def __getattr__(name):
    if name in _LAZY:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'npslim' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
