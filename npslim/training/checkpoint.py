"""What a checkpoint holds beyond the arrays: every random generator's state, JSON entries."""
from __future__ import annotations

import json

import numpy as np

__all__ = ["CHECKPOINT_FORMAT", "generators", "rng_states", "set_rng_states", "json_value", "prefixed"]

#: the value of the "format" entry of every checkpoint written here
CHECKPOINT_FORMAT = "npslim-checkpoint-1"


def generators(model):
    """Every NumPy random generator inside ``model`` (dropout masks, a stochastic cell's noise,
    the host generators of initialisation) and those still unset (None: a dropout layer that has
    not drawn yet): path -> (part, attribute).  Each part names its generators in ``generators()``
    and its sub-parts in ``children()``; the path is ``child_key`` by ``child_key`` down to the
    attribute ("layers.rnn.cell._host_rng"), a part reached twice counted once."""
    found, seen = {}, set()

    def walk(part, prefix):
        if id(part) in seen:
            return
        seen.add(id(part))
        for attr, value in part.generators().items():
            if value is None or isinstance(value, np.random.Generator):
                found[f"{prefix}{attr}"] = (part, attr)
        for name, child in part.children().items():
            walk(child, f"{prefix}{part.child_key(name)}.")
    walk(model.net, "")
    return found


def rng_states(model, shuffle_rng):
    states = {"shuffle": shuffle_rng.bit_generator.state, "model": {}}
    for key, (obj, attr) in generators(model).items():
        g = getattr(obj, attr)
        states["model"][key] = None if g is None else g.bit_generator.state
    return states


def set_rng_states(model, shuffle_rng, states):
    shuffle_rng.bit_generator.state = states["shuffle"]
    present = generators(model)
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


def json_value(a):
    return json.loads(str(a.item() if isinstance(a, np.ndarray) else a))


def prefixed(d, prefix):
    return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}
