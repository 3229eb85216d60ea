"""npslim: recurrent cells written from scratch in NumPy, with hand-derived backward passes."""
from . import backend, cells, compress, gradcheck, inspect, interop, layers, losses, model, optim, reference, tasks  # noqa: F401
from . import inference, model_io, runs_io  # noqa: F401
from .runs_io import load_run, load_runs  # noqa: F401

__version__ = "0.1.0"
