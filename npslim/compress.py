"""Compressing the gate weights of a trained cell (Li et al. 2018, section 4.3).

Paper 003 measures how sensitive a model is to compressing "the parameters of the input and
forget gates".  Each function here applies one compression to the input- and forget-gate WEIGHT
MATRICES of a cell,

    GATE_MATRICES = ("W_i", "W_f", "R_i", "R_f")      # W_* (m, n) input weights, R_* (n, n) recurrent

and returns a NEW cell (same class, options, seed, dtype, backend and mode; every parameter
copied by name, then the gate matrices replaced); the original cell is untouched.  Biases and
peepholes are left as they are (SVD has no meaning for a vector, and the paper speaks of the
weight matrices).  A cell that lacks some of the four (``nig`` has no input gate, ``lstm1`` no
W_i, ``mgu`` only a forget gate) has what it does have compressed; a cell with none of them
(``gru``, ``rnn``, ``lstm3``) is refused with a ValueError.

    round_r(cell, r)    x ← round(x / r) · r             (eq. 17; xp.rint: halves round to even)
    clip_c(cell, c)     x ← clip(x, −c, c)               (eq. 18)
    low_rank(cell, k)   x ← U_k diag(s_k) V_kᵀ           (rank-k truncated SVD, xp.linalg.svd)

"Round & clip" is ``clip_c(round_r(cell, r), c)``.  They run on NumPy and CuPy alike (xp is the
array module of the cell's arrays).  The paper's settings: r = 0.2, c = 0.4 (language model);
r = 0.5, c = 1.0 (translation); rank 64/128 and 16/32.
"""
from __future__ import annotations


from . import backend
from .validate import integer, number

GATE_MATRICES = ("W_i", "W_f", "R_i", "R_f")


def gate_matrices(cell):
    """The names in GATE_MATRICES that ``cell`` has; a ValueError when it has none of them."""
    names = [name for name in GATE_MATRICES if name in cell.params]
    if not names:
        raise ValueError(f"cell: {cell.name!r} has no input- or forget-gate weight matrix "
                         f"(none of {GATE_MATRICES}; its parameters are {tuple(cell.params)}), "
                         f"so there is nothing to compress")
    return names


def copy_cell(cell):
    """A new cell equal to ``cell``: same class, sizes, options, seed, dtype, backend and mode,
    with every parameter copied by name (gradients zero)."""
    with backend.use_backend(cell.backend):
        new = type(cell)(cell.input_size, cell.hidden_size, seed=cell.seed, dtype=cell.dtype,
                         **cell.options())
    for name, value in cell.params.items():
        new.params[name][...] = value
    return new.train() if cell.training else new.eval()


def _compress(cell, transform):
    """A copy of ``cell`` with ``transform(name, x)`` applied to each of its gate matrices."""
    names = gate_matrices(cell)
    new = copy_cell(cell)
    for name in names:
        new.params[name][...] = transform(name, new.params[name])
    return new


def round_r(cell, r):
    """A new cell whose input/forget-gate matrices are rounded to multiples of r: round(x / r) · r."""
    r = number("r", r, low=0.0, low_open=True)
    return _compress(cell, lambda name, x: backend.xp_of(x).rint(x / r) * r)


def clip_c(cell, c):
    """A new cell whose input/forget-gate matrices are clipped to [−c, c]."""
    c = number("c", c, low=0.0, low_open=True)
    return _compress(cell, lambda name, x: backend.xp_of(x).clip(x, -c, c))


def low_rank(cell, k):
    """A new cell whose input/forget-gate matrices are replaced by their rank-k truncated SVD,
    U[:, :k] diag(s[:k]) Vᵀ[:k]; needs 1 <= k <= min(shape) for every such matrix."""
    k = integer("k", k, 1, "rank")
    for name in gate_matrices(cell):
        shape = tuple(cell.params[name].shape)
        if k > min(shape):
            raise ValueError(f"k: expected 1 <= k <= {min(shape)} (the smaller side of {name}, shape {shape}), "
                             f"got {k}")

    def truncate(name, x):
        xp = backend.xp_of(x)
        U, s, Vt = xp.linalg.svd(x, full_matrices=False)                    # x = U diag(s) Vᵀ
        return xp.matmul(U[:, :k] * s[:k], Vt[:k])                          # U_k diag(s_k) V_kᵀ
    return _compress(cell, truncate)
