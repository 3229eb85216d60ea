"""Carry weights between npslim cells and PyTorch's recurrent modules.

    cell = npslim.interop.from_torch(torch.nn.GRU(m, n), dtype="float64")
    module = npslim.interop.to_torch(cell)

Supported, in both directions (single layer, unidirectional, time-major)::

    torch.nn.LSTM (proj_size=0)        <->  "lstm" made with peepholes=False
    torch.nn.GRU                       <->  "gru"
    torch.nn.RNN (tanh or relu)        <->  "rnn" with activation "tanh" or "relu"

Anything else is refused with a ValueError that says why: several layers, bidirectional,
``batch_first=True`` (npslim is time-major: transpose the input instead), an LSTM with a
projection, a peephole LSTM (torch has no peepholes), an RNN with a sigmoid, and any other
cell (a Greff variant is not the vanilla LSTM even where its parameters look alike).

Orientation.  npslim computes ``x @ W`` with W (m, G·n), gate blocks side by side in the
cell's GATE_ORDER; torch computes ``W x`` with ``weight_ih_l0`` (G·n, m), gate blocks stacked
by rows in its own order: (i, f, g, o) for the LSTM and (r, z, n) for the GRU.  So each block
is transposed and the gates are matched by name (``TORCH_BLOCKS``), never by position:
torch's LSTM g is our block input z, torch's GRU z is our update gate u.

Biases.  torch has two bias vectors, ``bias_ih_l0`` and ``bias_hh_l0``; wherever they only
appear as a sum (every LSTM and RNN block, the GRU's r and u gates) npslim has one bias,
their sum, and ``to_torch`` puts ours in ``bias_ih_l0`` and zeros in ``bias_hh_l0``.  The GRU's
candidate is the exception: torch applies the reset gate after the recurrent product,
r ⊙ (W_hn h + b_hn), so b_hn is not a plain sum term; it is our ``b_Rz`` and b_in is our
``b_z``.  A torch module made with ``bias=False`` becomes a cell whose biases are zero.

torch is imported inside the functions: it is a test-time dependency only.  Weights are
read from the module wherever it lives and ``to_torch`` builds a CPU module in the cell's
dtype (float32 or float64).
"""
from __future__ import annotations

import numpy as np

from . import backend, cells
from .cells.gru import GRU
from .cells.lstm import LSTM
from .cells.rnn import RNN

#: per npslim cell: (torch gate, npslim parameter suffix) in torch's row order of weight_ih_l0
TORCH_BLOCKS = {
    "lstm": (("i", "_i"), ("f", "_f"), ("g", "_z"), ("o", "_o")),
    "gru": (("r", "_r"), ("z", "_u"), ("n", "_z")),
    "rnn": (("h", ""),),
}
#: the one block whose torch biases are not a sum: torch's b_in -> b_z, b_hn -> b_Rz
GRU_CANDIDATE = ("n", "b_z", "b_Rz")


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"npslim.interop needs PyTorch ({exc}); install it with `pip install torch`") from exc
    return torch


def _module_kind(module, torch):
    """Validate a torch module; returns (npslim cell name, options for make)."""
    kinds = ((torch.nn.LSTM, "lstm"), (torch.nn.GRU, "gru"), (torch.nn.RNN, "rnn"))
    kind = next((name for cls, name in kinds if isinstance(module, cls)), None)
    if kind is None:
        raise ValueError(f"module: expected a torch.nn.LSTM, torch.nn.GRU or torch.nn.RNN, "
                         f"got {type(module).__module__}.{type(module).__name__}")
    what = f"module ({type(module).__name__})"
    if module.num_layers != 1:
        raise ValueError(f"{what}: expected num_layers=1 (an npslim cell is one layer), got {module.num_layers}; "
                         f"convert each layer into its own cell")
    if module.bidirectional:
        raise ValueError(f"{what}: expected bidirectional=False (an npslim cell runs one direction), got True")
    if module.batch_first:
        raise ValueError(f"{what}: expected batch_first=False: npslim is time-major, X is (T, B, features); "
                         f"make the module with batch_first=False and transpose the input")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"{what}: expected proj_size=0 (the npslim lstm has no projection), got {module.proj_size}")
    if kind == "lstm":
        return kind, {"peepholes": False}
    if kind == "rnn":
        return kind, {"activation": module.nonlinearity}
    return kind, {}


def _cell_kind(cell):
    """Validate an npslim cell for torch; returns its name in TORCH_BLOCKS."""
    exact = {LSTM: "lstm", GRU: "gru", RNN: "rnn"}
    kind = exact.get(type(cell))
    if kind is None:
        raise ValueError(f"cell: expected an npslim 'lstm' (peepholes=False), 'gru' or 'rnn' cell, got "
                         f"{type(cell).__name__} ({cell.name!r}); torch has no module with its equations")
    if kind == "lstm" and cell.peepholes:
        raise ValueError("cell: torch.nn.LSTM has no peepholes; make the lstm with peepholes=False "
                         "(or drop p_i, p_f, p_o, which changes the cell)")
    if kind == "rnn" and cell.phi.name not in ("tanh", "relu"):
        raise ValueError(f"cell: torch.nn.RNN supports nonlinearity 'tanh' or 'relu', got activation {cell.phi.name!r}")
    return kind


def _host64(tensor):
    return tensor.detach().cpu().to(dtype=_import_torch().float64).numpy()


def _set(cell, name, host_array):
    """Write a host array into the live parameter ``name`` of ``cell`` (shape checked)."""
    target = cell.params[name]
    if tuple(target.shape) != host_array.shape:
        raise ValueError(f"{name}: expected shape {tuple(target.shape)}, got {host_array.shape}")
    target[...] = backend.to_device(np.ascontiguousarray(host_array, dtype=cell.dtype), cell.xp)


def from_torch(module, dtype="float64"):
    """The npslim cell with the weights of ``module`` (torch.nn.LSTM, GRU or RNN; see the module text),
    made on the current backend in ``dtype``."""
    torch = _import_torch()
    kind, options = _module_kind(module, torch)
    m, n = module.input_size, module.hidden_size
    cell = cells.make(kind, input_size=m, hidden_size=n, dtype=dtype, **options)
    w_ih, w_hh = _host64(module.weight_ih_l0), _host64(module.weight_hh_l0)
    G = len(TORCH_BLOCKS[kind])
    if module.bias:
        b_ih, b_hh = _host64(module.bias_ih_l0), _host64(module.bias_hh_l0)
    else:
        b_ih = b_hh = np.zeros(G * n)
    for k, (torch_gate, suffix) in enumerate(TORCH_BLOCKS[kind]):
        rows = slice(k * n, (k + 1) * n)
        _set(cell, f"W{suffix}", w_ih[rows].T)                # ours (m, n) = torch's (n, m) transposed
        _set(cell, f"R{suffix}", w_hh[rows].T)
        if kind == "gru" and torch_gate == GRU_CANDIDATE[0]:
            _set(cell, GRU_CANDIDATE[1], b_ih[rows])           # b_z  = b_in
            _set(cell, GRU_CANDIDATE[2], b_hh[rows])           # b_Rz = b_hn
        else:
            _set(cell, f"b{suffix}", b_ih[rows] + b_hh[rows])  # b = b_ih + b_hh
    return cell


def to_torch(cell):
    """A CPU torch module (LSTM, GRU or RNN; see the module text) with the weights of ``cell``,
    in the cell's dtype."""
    torch = _import_torch()
    kind = _cell_kind(cell)
    m, n = cell.input_size, cell.hidden_size
    tdtype = {"float32": torch.float32, "float64": torch.float64}[cell.dtype.name]
    common = dict(num_layers=1, bias=True, batch_first=False, bidirectional=False, dtype=tdtype)
    if kind == "lstm":
        module = torch.nn.LSTM(m, n, **common)
    elif kind == "gru":
        module = torch.nn.GRU(m, n, **common)
    else:
        module = torch.nn.RNN(m, n, nonlinearity=cell.phi.name, **common)

    def host(name):
        return torch.from_numpy(np.ascontiguousarray(backend.to_host(cell.params[name])))

    with torch.no_grad():
        module.bias_hh_l0.zero_()
        for k, (torch_gate, suffix) in enumerate(TORCH_BLOCKS[kind]):
            rows = slice(k * n, (k + 1) * n)
            module.weight_ih_l0[rows] = host(f"W{suffix}").T      # torch's (n, m) = ours (m, n) transposed
            module.weight_hh_l0[rows] = host(f"R{suffix}").T
            if kind == "gru" and torch_gate == GRU_CANDIDATE[0]:
                module.bias_ih_l0[rows] = host(GRU_CANDIDATE[1])   # b_in = b_z
                module.bias_hh_l0[rows] = host(GRU_CANDIDATE[2])   # b_hn = b_Rz
            else:
                module.bias_ih_l0[rows] = host(f"b{suffix}")       # b_ih = b, b_hh = 0
    return module
