"""Search spaces and the seeded draws of a study's trials (Greff et al. 2017's random search).

A search space maps each hyperparameter a trial understands to a distribution or a fixed value::

    {"hidden_size": {"dist": "int_loguniform", "low": 20, "high": 200},
     "lr":          {"dist": "loguniform", "low": 1e-6, "high": 1e-2},
     "momentum":    {"dist": "one_minus_loguniform", "low": 0.01, "high": 1.0},
     "input_noise": {"dist": "uniform", "low": 0.0, "high": 1.0}}

is :data:`GREFF_SPACE`, the ranges of Greff et al. 2017: hidden size log-uniform in [20, 200],
learning rate log-uniform in [1e-6, 1e-2], momentum 1 − a log-uniform sample in [0.01, 1], Gaussian
input noise std uniform in [0, 1].  Distributions:

    uniform               v ~ U(low, high)
    loguniform            v = exp(u), u ~ U(ln low, ln high)
    int_loguniform        v = round(exp(u)), u ~ U(ln low, ln high), an integer in [low, high]
    one_minus_loguniform  v = 1 − s, s log-uniform in [low, high]    (momentum as Greff draws it)

A plain number fixes the value.  Names the space leaves out take :data:`DEFAULTS`.  A space can be
built from Python (``SearchSpace({...})``) or read from a JSON file (``SearchSpace.from_file``).

:func:`draw_trials` gives every (cell, k) its own generator, seeded by (study seed, cell name, k),
so the draws are reproducible, independent between cells (as in the paper, where each variant
has its own 200 trials), and a trial's draw does not depend on how many trials were planned.
"""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np

__all__ = ["SearchSpace", "GREFF_SPACE", "DEFAULTS", "DISTRIBUTIONS", "draw_trials"]

#: the hyperparameters a trial understands, and the value each takes when a space leaves it out
DEFAULTS = {"hidden_size": 64, "lr": 1e-3, "momentum": 0.9, "input_noise": 0.0}
DISTRIBUTIONS = ("uniform", "loguniform", "int_loguniform", "one_minus_loguniform")
#: Greff et al. 2017's ranges (section "Experimental setup"; RECIPES.md)
GREFF_SPACE = {
    "hidden_size": {"dist": "int_loguniform", "low": 20, "high": 200},
    "lr": {"dist": "loguniform", "low": 1e-6, "high": 1e-2},
    "momentum": {"dist": "one_minus_loguniform", "low": 0.01, "high": 1.0},
    "input_noise": {"dist": "uniform", "low": 0.0, "high": 1.0},
}
#: the smallest value each hyperparameter may take (and, for momentum, the largest)
_BOUNDS = {"hidden_size": (1, math.inf), "lr": (0.0, math.inf), "momentum": (0.0, 1.0), "input_noise": (0.0, math.inf)}


class SearchSpace:
    """A validated search space (see the module docstring); ``spec`` maps names to a distribution
    dict or a fixed number.  ``draw(rng)`` returns one full configuration (every name of
    :data:`DEFAULTS`); ``searched`` lists the names drawn from a distribution."""

    def __init__(self, spec=None):
        spec = GREFF_SPACE if spec is None else spec
        if not isinstance(spec, dict):
            raise ValueError(f"space: expected a dict of hyperparameter -> distribution, got {type(spec).__name__}")
        self.spec = {}
        for name, entry in spec.items():
            if name not in DEFAULTS:
                raise ValueError(f"space: unknown hyperparameter {name!r}; expected some of {sorted(DEFAULTS)}")
            self.spec[name] = _check_entry(name, entry)
        self.searched = [name for name, entry in self.spec.items() if isinstance(entry, dict)]
        if not self.searched:
            raise ValueError(f"space: empty search space (no hyperparameter has a distribution); give at least one "
                             f"of {sorted(DEFAULTS)} as {{\"dist\": ..., \"low\": ..., \"high\": ...}}")

    @classmethod
    def from_file(cls, path):
        """Read a space from a JSON file holding the dict described in the module docstring."""
        path = Path(path)
        try:
            spec = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"space: no such file {path}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"space: {path} is not valid JSON ({exc})") from None
        return cls(spec)

    def to_dict(self):
        """The spec as plain JSON values (what study.json records)."""
        return {name: dict(entry) if isinstance(entry, dict) else entry for name, entry in self.spec.items()}

    def draw(self, rng):
        """One configuration: each searched name drawn from ``rng`` in the spec's order, the rest fixed."""
        values = dict(DEFAULTS)
        for name, entry in self.spec.items():
            values[name] = _draw(entry, rng) if isinstance(entry, dict) else entry
        return values

    def __repr__(self):
        return f"SearchSpace({self.to_dict()!r})"


def _check_entry(name, entry):
    lo_ok, hi_ok = _BOUNDS[name]
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        if not (lo_ok <= entry <= hi_ok) or (name in ("hidden_size", "lr") and entry <= 0):
            raise ValueError(f"space: {name}: fixed value {entry!r} is out of range")
        return int(entry) if name == "hidden_size" else float(entry)
    if not isinstance(entry, dict) or set(entry) != {"dist", "low", "high"}:
        raise ValueError(f"space: {name}: expected a number or {{\"dist\", \"low\", \"high\"}}, got {entry!r}")
    dist, low, high = entry["dist"], entry["low"], entry["high"]
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"space: {name}: dist expected one of {DISTRIBUTIONS}, got {dist!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)) \
            or not low < high:
        raise ValueError(f"space: {name}: expected finite numbers low < high, got low={low!r}, high={high!r}")
    if dist != "uniform" and low <= 0:
        raise ValueError(f"space: {name}: {dist} needs low > 0, got {low!r}")
    if (dist == "int_loguniform") != (name == "hidden_size"):
        raise ValueError(f"space: {name}: int_loguniform is for hidden_size (an integer), and hidden_size takes "
                         f"only it; got {dist!r}")
    if dist == "one_minus_loguniform" and (name != "momentum" or high > 1):
        raise ValueError(f"space: {name}: one_minus_loguniform is for momentum, with high <= 1; got {entry!r}")
    if dist != "one_minus_loguniform" and not (lo_ok <= low and high <= hi_ok):
        raise ValueError(f"space: {name}: expected low >= {lo_ok} and high <= {hi_ok}, got {entry!r}")
    return {"dist": dist, "low": float(low) if name != "hidden_size" else int(low),
            "high": float(high) if name != "hidden_size" else int(high)}


def _draw(entry, rng):
    dist, low, high = entry["dist"], entry["low"], entry["high"]
    if dist == "uniform":
        return float(rng.uniform(low, high))
    v = float(np.exp(rng.uniform(np.log(low), np.log(high))))                  # log-uniform in [low, high]
    if dist == "int_loguniform":
        return int(min(high, max(low, round(v))))
    if dist == "one_minus_loguniform":
        return 1.0 - v
    return v


def draw_trials(cells, trials, seed, space):
    """The planned trials: for each cell, ``trials`` configurations drawn from ``space``.

    Returns a list of dicts {"trial_id": "<cell>/<k>", "cell", "index" k, "seed", "params"},
    cell by cell.  Trial (cell, k) draws from ``default_rng(SeedSequence([seed, crc32(cell), k]))``:
    first its hyperparameters, then its own seed (weights, shuffling, validation split)."""
    space = space if isinstance(space, SearchSpace) else SearchSpace(space)
    planned = []
    for cell in cells:
        for k in range(int(trials)):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(cell.encode()), k]))
            params = space.draw(rng)
            planned.append({"trial_id": f"{cell}/{k:04d}", "cell": cell, "index": k,
                            "seed": int(rng.integers(2 ** 31 - 1)), "params": params})
    return planned
