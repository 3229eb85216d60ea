"""Recurrent layers: any registered cell over a padded, variable-length batch, and the
bidirectional pair of them (see :mod:`npslim.layers` for the padding rules)."""
from __future__ import annotations

import numpy as np

from .. import backend, cells
from ..cells.base import Cell
from ..validate import boolean, check_values
from .layer import Layer

__all__ = ["Recurrent", "Bidirectional", "sequence_mask"]


class Recurrent(Layer):
    r"""Any registered cell over a padded, variable-length, time-major batch.

    Forward (Y the cell's outputs over the whole padded batch, M[t, b] = [t < lengths[b]]; "where"
    SELECTS, so NaN or Inf in the padding never reaches a result, as it would through a product 0·NaN)::

        Y, state, cache = cell.forward(where(M, X, 0), state0)   padded inputs read as zeros
        return_sequences=True:   out = where(M, Y, 0)            (T, B, n)   zeros at padded steps
        return_sequences=False:  out[b] = Y[lengths[b] − 1, b]   (B, n)      the last valid output

    Backward::

        return_sequences=True:   ΔY = where(M, dout, 0)
        return_sequences=False:  ΔY = 0 except ΔY[lengths[b] − 1, b] = dout[b]
        δX, _ = cell.backward(ΔY, cache)                         (no gradient at the final state)

    With no ``lengths`` every sequence has length T.  Padded steps get zero ΔY, and, as they
    follow every valid step, zero deltas: δX is zero there and they add nothing to δW.

    The state: ``state0`` (a tuple per ``cell.STATE``, or None = zeros) starts the sequence;
    it is treated as a constant (no gradient flows into it, as in truncated BPTT).
    ``final_state(cache)`` is the state after the last valid step: the cell's final state
    when there are no ``lengths``; with ``lengths`` it needs the cell method
    ``states_at(cache, t_index)`` (the state after step t_index[b] for each b), else it raises.
    ``stateful=True`` feeds each forward's final state into the next forward (language
    models; a batch of another size starts from zeros); ``reset_state()`` forgets it.

    Parameters: the cell's, named ``"cell.{name}"``; count ``cell.num_params()``.
    """

    takes_lengths = True

    def __init__(self, cell, input_size=None, hidden_size=None, *, return_sequences=True, stateful=False,
                 seed=0, dtype=None, **cell_options):
        self.cell = _resolve_cell("cell", cell, input_size, hidden_size, seed, dtype, cell_options)
        super().__init__(seed=seed, dtype=self.cell.dtype)
        self.backend, self.xp = self.cell.backend, self.cell.xp
        self.input_size = self.cell.input_size
        self.hidden_size = self.cell.hidden_size
        self.output_size = self.cell.output_size
        self.return_sequences = boolean("return_sequences", return_sequences)
        self.stateful = boolean("stateful", stateful)
        self._carried = None
        for name in self.cell.params:
            self.params[f"cell.{name}"] = self.cell.params[name]
            self.grads[f"cell.{name}"] = self.cell.grads[name]

    def children(self):
        return {"cell": self.cell}

    def reset_state(self):
        """Forget the carried state (stateful layers)."""
        self._carried = None

    def forward(self, X, lengths=None, state0=None):
        """X (T, B, m), lengths (B,) ints in 1..T or None, state0 or None -> out, cache."""
        xp = self.xp
        T, B = self.cell._check_input(X)
        lengths = _check_lengths(self, lengths, T, B)
        if state0 is None and self.stateful and self._carried is not None \
                and self._carried[0].shape[0] == B:
            state0 = self._carried
        M = None if lengths is None else sequence_mask(lengths, T)[:, :, None]     # (T, B, 1) bool
        if M is not None:
            X = xp.where(M, X, 0).astype(self.dtype, copy=False)              # padded inputs -> 0, NaN too
        Y, state, cell_cache = self.cell.forward(X, state0)
        cache = {"cell": cell_cache, "T": T, "B": B, "lengths": lengths, "state": state, "M": M}
        if lengths is None:
            out = Y if self.return_sequences else Y[T - 1]
        else:
            last = lengths - 1
            try:
                cache["state"] = tuple(self.cell.states_at(cell_cache, last))
            except NotImplementedError:
                cache["state"] = None                  # the cell cannot report the state at step lengths − 1
            if self.return_sequences:
                out = xp.where(M, Y, 0).astype(self.dtype, copy=False)        # out = Y where M, else 0
            else:
                out = Y[last, xp.arange(B)]                                    # out[b] = Y[lengths[b] − 1, b]
        if self.stateful:
            if cache["state"] is None:
                raise ValueError(f"lengths: a stateful Recurrent needs the state after step lengths − 1, "
                                 f"which cell {self.cell.name!r} cannot report (its cache keeps no per-step states); "
                                 f"pass lengths=None")
            self._carried = tuple(s.copy() for s in cache["state"])
        return out, cache

    def final_state(self, cache):
        """The state after each sequence's last valid step, a tuple per ``cell.STATE``."""
        if cache["state"] is None:
            raise ValueError(f"cache: the state at step lengths − 1 is not available: cell "
                             f"{self.cell.name!r} cannot report it (states_at: its cache keeps no per-step states); "
                             f"run without lengths")
        return cache["state"]

    def backward(self, dout, cache):
        """dout (T, B, n) or, with return_sequences=False, (B, n) -> dX (T, B, m)."""
        xp = self.xp
        T, B, n = cache["T"], cache["B"], self.output_size
        if self.return_sequences:
            self._check_array("dout", dout, (T, B, n), "T, B, output size: same as the forward output")
            dY = dout if cache["M"] is None else \
                xp.where(cache["M"], dout, 0).astype(self.dtype, copy=False)   # ΔY = dout where M, else 0
        else:
            self._check_array("dout", dout, (B, n), "B, output size: same as the forward output")
            last = (T - 1) if cache["lengths"] is None else cache["lengths"] - 1
            dY = xp.zeros((T, B, n), dtype=self.dtype)
            dY[last, xp.arange(B)] = dout                                      # ΔY[lengths[b] − 1, b] = dout[b]
        dX, _ = self.cell.backward(dY, cache["cell"])                          # δX (no final-state gradient)
        return dX

    def __repr__(self):
        return (f"Recurrent({self.cell!r}, return_sequences={self.return_sequences}"
                + (", stateful=True)" if self.stateful else ")"))


def _resolve_cell(arg, cell, input_size, hidden_size, seed, dtype, options):
    """A Cell instance (sizes and dtype, when given, must agree) or a registry name made here."""
    if isinstance(cell, Cell):
        if options:
            raise TypeError(f"{arg}: cell options {sorted(options)} only apply when the cell is given by "
                            f"name, got a built {type(cell).__name__}")
        for name, want, have in (("input_size", input_size, cell.input_size),
                                 ("hidden_size", hidden_size, cell.hidden_size)):
            if want is not None and want != have:
                raise ValueError(f"{name}: expected {have} (the given cell's), got {want!r}")
        if dtype is not None and backend.resolve_dtype(dtype) != cell.dtype:
            raise TypeError(f"dtype: expected {cell.dtype.name} (the given cell's), got {dtype!r}")
        return cell
    if not isinstance(cell, str):
        raise TypeError(f"{arg}: expected a registered cell name {cells.names()} or a Cell, "
                        f"got {type(cell).__name__}")
    if input_size is None or hidden_size is None:
        raise ValueError(f"input_size, hidden_size: expected both with a cell name ({cell!r}), "
                         f"got {input_size!r}, {hidden_size!r}")
    return cells.make(cell, input_size=input_size, hidden_size=hidden_size, seed=seed,
                      dtype="float32" if dtype is None else dtype, **options)


def sequence_mask(lengths, T):
    """M (T, B) bool, M[t, b] = t < lengths[b]: the valid steps of a batch padded at the end (the
    ``mask`` the per-step losses take).  On the backend of ``lengths``."""
    xp = backend.xp_of(lengths)
    lengths = xp.asarray(lengths)
    return xp.arange(T)[:, None] < lengths[None, :]


def _check_lengths(layer, lengths, T, B):
    """None, or an integer array (B,) with values in 1..T on the layer's backend (host arrays and
    lists are moved there).  Returns the device array (int64) or None."""
    if lengths is None:
        return None
    if isinstance(lengths, (list, tuple)):
        lengths = np.asarray(lengths)
    if not (isinstance(lengths, np.ndarray) or backend.is_device_array(lengths)):
        raise TypeError(f"lengths: expected an integer array of shape ({B},), "
                        f"got {type(lengths).__module__}.{type(lengths).__name__}")
    if backend.is_device_array(lengths) and backend.backend_of(lengths) != layer.backend:
        raise TypeError(f"lengths: expected a {layer.backend} array (the layer's backend), got a "
                        f"{backend.backend_of(lengths)} array; move it with npslim.backend.to_host")
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected an integer array of shape ({B},), got dtype {lengths.dtype.name}")
    if lengths.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},) (one length per sequence; X has batch size {B} "
                         f"on axis 1), got {tuple(lengths.shape)}")
    lo, hi = (lengths.min().item(), lengths.max().item()) if check_values(lengths) else (1, T)
    if lo < 1 or hi > T:
        raise ValueError(f"lengths: expected values in 1..{T} (T = X.shape[0]), got values in [{lo}, {hi}]")
    return backend.to_device(lengths, layer.xp).astype(np.int64)


class Bidirectional(Layer):
    r"""Two recurrent layers, one reading each sequence forwards, one reading its VALID part backwards.

    The reversal respects each sequence's length: with ρ[t, b] = lengths[b] − 1 − t for
    t < lengths[b] and ρ[t, b] = t on padding (a permutation of each column, its own inverse),
    R(A)[t, b] = A[ρ[t, b], b].  Forward and backward::

        F = fw(X),   G = bw(R(X))                         (each a masked :class:`Recurrent`)
        return_sequences=True:   out = [F, R(G)]         (T, B, 2n)   zeros at padded steps
        return_sequences=False:  out = [F_last, G_last]  (B, 2n)      G_last = bw's output at the
                                                                      original position 0
        δX = δX_fw + R(δX_bw),   with δ(R(G)) sent to bw as R(δ·)

    Parameters: the two cells', named ``"fw.cell.{name}"`` and ``"bw.cell.{name}"``; the backward
    cell is drawn from its own seed (derived from ``seed``).  Give ``cell`` as a registered
    name, or as a pair of built cells (forward, backward).
    """

    takes_lengths = True

    def __init__(self, cell, input_size=None, hidden_size=None, *, return_sequences=True, seed=0,
                 dtype=None, **cell_options):
        if isinstance(cell, (tuple, list)):
            if len(cell) != 2:
                raise ValueError(f"cell: expected a name or a pair of cells (forward, backward), "
                                 f"got a sequence of length {len(cell)}")
            fw_cell, bw_cell = cell
            bw_seed = seed
        else:
            fw_cell = bw_cell = cell
            bw_seed = int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0])
        self.fw = Recurrent(fw_cell, input_size, hidden_size, return_sequences=return_sequences,
                            seed=seed, dtype=dtype, **cell_options)
        self.bw = Recurrent(bw_cell, input_size, hidden_size, return_sequences=return_sequences,
                            seed=bw_seed, dtype=dtype, **cell_options)
        if (self.bw.input_size, self.bw.output_size, self.bw.dtype) != \
                (self.fw.input_size, self.fw.output_size, self.fw.dtype):
            raise ValueError("cell: the forward and backward cells must agree in input size, output size and "
                             f"dtype, got {self.fw.cell!r} and {self.bw.cell!r}")
        super().__init__(seed=seed, dtype=self.fw.dtype)
        self.backend, self.xp = self.fw.backend, self.fw.xp
        self.input_size = self.fw.input_size
        self.output_size = 2 * self.fw.output_size
        self.return_sequences = boolean("return_sequences", return_sequences)
        self._adopt(self.children())

    def children(self):
        return {"fw": self.fw, "bw": self.bw}

    def _reversal(self, lengths, T, B):
        """ρ (T, B) for lengths, built once per call with array ops; None means plain [::-1]."""
        if lengths is None:
            return None
        xp = self.xp
        t = xp.arange(T)[:, None]
        return xp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)     # ρ[t, b]

    def _reverse(self, A, rho):
        """R(A)[t, b] = A[ρ[t, b], b]  (A (T, B, ·))."""
        if rho is None:
            return A[::-1]
        return A[rho, self.xp.arange(A.shape[1])[None, :]]

    def forward(self, X, lengths=None):
        """X (T, B, m), lengths (B,) or None -> out (T, B, 2n) or (B, 2n), cache."""
        T, B = self.fw.cell._check_input(X)
        lengths = _check_lengths(self, lengths, T, B)
        rho = self._reversal(lengths, T, B)
        F, fcache = self.fw.forward(X, lengths)                                # F = fw(X)
        G, gcache = self.bw.forward(self._reverse(X, rho), lengths)            # G = bw(R(X))
        if self.return_sequences:
            G = self._reverse(G, rho)                                          # R(G)
        out = self.xp.concatenate([F, G], axis=-1)                             # [F, R(G)]
        return out, {"fw": fcache, "bw": gcache, "rho": rho, "T": T, "B": B}

    def backward(self, dout, cache):
        """dout (T, B, 2n) or (B, 2n) -> dX (T, B, m)."""
        T, B, n, rho = cache["T"], cache["B"], self.fw.output_size, cache["rho"]
        shape = (T, B, 2 * n) if self.return_sequences else (B, 2 * n)
        self._check_array("dout", dout, shape, "same as the forward output")
        dF, dG = dout[..., :n], dout[..., n:]
        if self.return_sequences:
            dG = self._reverse(dG, rho)                                        # R is its own inverse
        dX = self.fw.backward(dF, cache["fw"])                                 # δX_fw
        dX = dX + self._reverse(self.bw.backward(dG, cache["bw"]), rho)        # + R(δX_bw)
        return dX

    def __repr__(self):
        return f"Bidirectional({self.fw.cell!r}, return_sequences={self.return_sequences})"
