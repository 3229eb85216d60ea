"""Textbook cells: the oracle that the fast cells in :mod:`npslim.cells` are tested against.

Each recurrent family is written here as plainly as it can be: one function for one step
forward, one for one step back (in the style of CS231n's ``rnn_layers.py`` and Karpathy's
min-char-rnn), one equation a line, in MATH.md's names (Greff et al. 2017).  A sequence is a
plain Python loop over the step; weight gradients are summed step by step.  No buffers, no
hooks, no ``out=``.  The fast cells compute the same functions; they are the optimised forms
of these (stacked gates, the input projection before the loop, one product per weight
gradient after it).  tests/test_reference.py checks every fast cell against its reference.

    rnn     Elman RNN, yᵗ = φ(W xᵗ + R yᵗ⁻¹ + b), φ = tanh, sigmoid or relu (``activation``)
    gru     GRU in PyTorch's form (the reset gate multiplies R_z yᵗ⁻¹ + b_Rz), as ``gru``; its
            candidate zᵗ (torch's n) plays the LSTM's block input
    lstm    Greff et al.'s vanilla LSTM with peepholes (none when ``p`` has no ``p_*``)
    glstm   G-LSTM (Kuchaiev & Ginsburg 2017): k independent small LSTMs, then the projection P

Transpose convention (the one used everywhere in npslim): signals are row vectors, one row per
sequence of the batch, and the code computes ``x @ W_z``.  So the stored ``W_z`` (m, n) is
Greff's W_zᵀ (n × m), and a comment "δxᵗ = W_zᵀ δz̄ᵗ" is the code ``dzbar @ W_z.T``.

Every function takes ``p``, a dict of parameters named exactly as the fast cell's
``cell.params`` (W_z, R_i, b_f, p_o, ...), and the backward steps add into ``grads``, a dict of
the same keys (``grads[k] += ...``).  Shapes (B the batch, m the input, n the cell size)::

    x (B, m)     y (B, n) (glstm: (B, p))     c (B, n)     X (T, B, m)     Y (T, B, n)
    rnn    W (m, n)    R (n, n)    b (n,)                                     state y
    gru    W_r W_u W_z (m, n)    R_r R_u R_z (n, n)    b_r b_u b_z b_Rz (n,)  state y
    lstm   W_z W_i W_f W_o (m, n)    R_* (n, n)    b_* (n,)    p_i p_f p_o (n,)   state (y, c)
    glstm  W_* (k, m/k, n/k)    R_* (k, p/k, n/k)    b_* (n,)    P (n, p)        state (y, c)

``F_step_forward(x, state_prev, p) -> (state, cache)``,
``F_step_backward(dstate, cache, p, grads) -> (dx, dstate_prev)`` (dstate: the whole gradient at
the step's new state), ``F_forward(X, state0, p) -> (Y, final_state, caches)``,
``F_backward(dY, caches, p, dstate=None) -> (dX, dstate0, grads)``.  NumPy functions only, so
CuPy arrays work too (through NumPy's array-function protocol).
"""
from __future__ import annotations

import numpy as np


def sigmoid(a):
    """σ(a) = 1 / (1 + e⁻ᵃ)"""
    return 1.0 / (1.0 + np.exp(-a))


# ---------------------------------------------------------------- the sequence loops, shared
def _forward(step_forward, X, state0, p):
    """The step for t = 0..T−1; Y stacks yᵗ (the state, or its first part (y, c)[0])."""
    state, Y, caches = state0, [], []
    for x in X:
        state, cache = step_forward(x, state, p)
        Y.append(state[0] if isinstance(state, tuple) else state)
        caches.append(cache)
    return np.stack(Y), state, caches


def _backward(step_backward, dY, caches, p, dstate):
    """The step back for t = T−1..0: δyᵗ = Δᵗ + (what step t+1 sent to yᵗ)."""
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dX, dnext = [None] * len(caches), dstate
    for t in reversed(range(len(caches))):
        if isinstance(dnext, tuple):
            dstate_t = (dY[t] + dnext[0],) + dnext[1:]                     # (δyᵗ, δcᵗ from t+1)
        else:
            dstate_t = dY[t] + dnext                                       # δyᵗ
        dX[t], dnext = step_backward(dstate_t, caches[t], p, grads)
    return np.stack(dX), dnext, grads


# ---------------------------------------------------------------- Elman RNN
PHI = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": lambda a: np.maximum(a, 0.0)}
DPHI = {"tanh": lambda y: 1.0 - y * y,                                     # φ'(ā), from y = φ(ā)
        "sigmoid": lambda y: y * (1.0 - y),
        "relu": lambda y: (y > 0).astype(y.dtype)}


def rnn_step_forward(x, y_prev, p, activation="tanh"):
    """x (B, m), yᵗ⁻¹ (B, n) -> yᵗ (B, n), cache."""
    abar = x @ p["W"] + y_prev @ p["R"] + p["b"]                           # āᵗ = W xᵗ + R yᵗ⁻¹ + b
    y = PHI[activation](abar)                                              # yᵗ = φ(āᵗ)
    return y, (x, y_prev, y, activation)


def rnn_step_backward(dy, cache, p, grads):
    """δyᵗ (B, n) -> δxᵗ (B, m), δyᵗ⁻¹ (B, n); adds into grads."""
    x, y_prev, y, activation = cache
    dabar = dy * DPHI[activation](y)                                       # δāᵗ = δyᵗ ⊙ φ'(āᵗ)
    grads["W"] += x.T @ dabar                                              # δW += ⟨δāᵗ, xᵗ⟩
    grads["R"] += y_prev.T @ dabar                                         # δR += ⟨δāᵗ, yᵗ⁻¹⟩
    grads["b"] += dabar.sum(axis=0)                                        # δb += δāᵗ
    dx = dabar @ p["W"].T                                                  # δxᵗ = Wᵀ δāᵗ
    dy_prev = dabar @ p["R"].T                                             # δyᵗ⁻¹ = Rᵀ δāᵗ
    return dx, dy_prev


def rnn_forward(X, y0, p, activation="tanh"):
    """X (T, B, m), y⁻¹ (B, n) -> Y (T, B, n), yᵀ⁻¹, caches."""
    return _forward(lambda x, y, p: rnn_step_forward(x, y, p, activation), X, y0, p)


def rnn_backward(dY, caches, p, dstate=None):
    """dY (T, B, n), caches, δyᵀ⁻¹ or None (zeros) -> dX (T, B, m), δy⁻¹, grads."""
    return _backward(rnn_step_backward, dY, caches, p, np.zeros_like(dY[0]) if dstate is None else dstate)


# ---------------------------------------------------------------- GRU (PyTorch's form)
def gru_step_forward(x, y_prev, p):
    """x (B, m), yᵗ⁻¹ (B, n) -> yᵗ (B, n), cache."""
    rbar = x @ p["W_r"] + y_prev @ p["R_r"] + p["b_r"]                     # r̄ᵗ = W_r xᵗ + R_r yᵗ⁻¹ + b_r
    r = sigmoid(rbar)                                                      # rᵗ = σ(r̄ᵗ)
    ubar = x @ p["W_u"] + y_prev @ p["R_u"] + p["b_u"]                     # ūᵗ = W_u xᵗ + R_u yᵗ⁻¹ + b_u
    u = sigmoid(ubar)                                                      # uᵗ = σ(ūᵗ)
    q = y_prev @ p["R_z"] + p["b_Rz"]                                      # qᵗ = R_z yᵗ⁻¹ + b_Rz
    zbar = x @ p["W_z"] + p["b_z"] + r * q                                 # z̄ᵗ = W_z xᵗ + b_z + rᵗ ⊙ qᵗ
    z = np.tanh(zbar)                                                      # zᵗ = tanh(z̄ᵗ)
    y = (1.0 - u) * z + u * y_prev                                         # yᵗ = (1 − uᵗ) ⊙ zᵗ + uᵗ ⊙ yᵗ⁻¹
    return y, (x, y_prev, r, u, q, z)


def gru_step_backward(dy, cache, p, grads):
    """δyᵗ (B, n) -> δxᵗ (B, m), δyᵗ⁻¹ (B, n); adds into grads."""
    x, y_prev, r, u, q, z = cache
    dzbar = dy * (1.0 - u) * (1.0 - z * z)                                 # δz̄ᵗ = δyᵗ ⊙ (1 − uᵗ) ⊙ tanh'(z̄ᵗ)
    dubar = dy * (y_prev - z) * u * (1.0 - u)                              # δūᵗ = δyᵗ ⊙ (yᵗ⁻¹ − zᵗ) ⊙ σ'(ūᵗ)
    dq = dzbar * r                                                         # δqᵗ = δz̄ᵗ ⊙ rᵗ
    drbar = dzbar * q * r * (1.0 - r)                                      # δr̄ᵗ = δz̄ᵗ ⊙ qᵗ ⊙ σ'(r̄ᵗ)
    for gate, dgbar in (("r", drbar), ("u", dubar), ("z", dzbar)):
        grads["W_" + gate] += x.T @ dgbar                                  # δW_g += ⟨δḡᵗ, xᵗ⟩
        grads["b_" + gate] += dgbar.sum(axis=0)                            # δb_g += δḡᵗ
    for gate, dgrec in (("r", drbar), ("u", dubar), ("z", dq)):
        grads["R_" + gate] += y_prev.T @ dgrec                             # δR_g += ⟨δḡᵗ, yᵗ⁻¹⟩ (for R_z: δqᵗ)
    grads["b_Rz"] += dq.sum(axis=0)                                        # δb_Rz += δqᵗ
    dx = drbar @ p["W_r"].T + dubar @ p["W_u"].T + dzbar @ p["W_z"].T     # δxᵗ = W_rᵀ δr̄ᵗ + W_uᵀ δūᵗ + W_zᵀ δz̄ᵗ
    dy_prev = (drbar @ p["R_r"].T + dubar @ p["R_u"].T + dq @ p["R_z"].T  # δyᵗ⁻¹ = R_rᵀ δr̄ᵗ + R_uᵀ δūᵗ + R_zᵀ δqᵗ
               + dy * u)                                                   #        + δyᵗ ⊙ uᵗ
    return dx, dy_prev


def gru_forward(X, y0, p):
    """X (T, B, m), y⁻¹ (B, n) -> Y (T, B, n), yᵀ⁻¹, caches."""
    return _forward(gru_step_forward, X, y0, p)


def gru_backward(dY, caches, p, dstate=None):
    """dY (T, B, n), caches, δyᵀ⁻¹ or None (zeros) -> dX (T, B, m), δy⁻¹, grads."""
    return _backward(gru_step_backward, dY, caches, p, np.zeros_like(dY[0]) if dstate is None else dstate)


# ---------------------------------------------------------------- vanilla LSTM with peepholes
def lstm_step_forward(x, state_prev, p):
    """x (B, m), (yᵗ⁻¹, cᵗ⁻¹) (B, n) each -> (yᵗ, cᵗ), cache."""
    y_prev, c_prev = state_prev
    p_i, p_f, p_o = (p.get(k, 0.0) for k in ("p_i", "p_f", "p_o"))        # no peepholes: p_g = 0
    zbar = x @ p["W_z"] + y_prev @ p["R_z"] + p["b_z"]                     # z̄ᵗ = W_z xᵗ + R_z yᵗ⁻¹ + b_z
    z = np.tanh(zbar)                                                      # zᵗ = g(z̄ᵗ)
    ibar = x @ p["W_i"] + y_prev @ p["R_i"] + p_i * c_prev + p["b_i"]      # īᵗ = W_i xᵗ + R_i yᵗ⁻¹ + p_i ⊙ cᵗ⁻¹ + b_i
    i = sigmoid(ibar)                                                      # iᵗ = σ(īᵗ)
    fbar = x @ p["W_f"] + y_prev @ p["R_f"] + p_f * c_prev + p["b_f"]      # f̄ᵗ = W_f xᵗ + R_f yᵗ⁻¹ + p_f ⊙ cᵗ⁻¹ + b_f
    f = sigmoid(fbar)                                                      # fᵗ = σ(f̄ᵗ)
    c = z * i + c_prev * f                                                 # cᵗ = zᵗ ⊙ iᵗ + cᵗ⁻¹ ⊙ fᵗ
    obar = x @ p["W_o"] + y_prev @ p["R_o"] + p_o * c + p["b_o"]           # ōᵗ = W_o xᵗ + R_o yᵗ⁻¹ + p_o ⊙ cᵗ + b_o
    o = sigmoid(obar)                                                      # oᵗ = σ(ōᵗ)
    hc = np.tanh(c)                                                        # h(cᵗ)
    y = hc * o                                                             # yᵗ = h(cᵗ) ⊙ oᵗ
    return (y, c), (x, y_prev, c_prev, z, i, f, c, o, hc)


def lstm_step_backward(dstate, cache, p, grads):
    """(δyᵗ, δcᵗ from step t+1) -> δxᵗ, (δyᵗ⁻¹, δcᵗ⁻¹); adds into grads."""
    dy, dc_next = dstate                                                   # δyᵗ, and what step t+1 sent to cᵗ
    x, y_prev, c_prev, z, i, f, c, o, hc = cache
    p_i, p_f, p_o = (p.get(k, 0.0) for k in ("p_i", "p_f", "p_o"))
    dobar = dy * hc * o * (1.0 - o)                                        # δōᵗ = δyᵗ ⊙ h(cᵗ) ⊙ σ'(ōᵗ)
    dc = dy * o * (1.0 - hc * hc) + p_o * dobar + dc_next                  # δcᵗ = δyᵗ ⊙ oᵗ ⊙ h'(cᵗ) + p_o ⊙ δōᵗ + [t+1]
    dfbar = dc * c_prev * f * (1.0 - f)                                    # δf̄ᵗ = δcᵗ ⊙ cᵗ⁻¹ ⊙ σ'(f̄ᵗ)
    dibar = dc * z * i * (1.0 - i)                                         # δīᵗ = δcᵗ ⊙ zᵗ ⊙ σ'(īᵗ)
    dzbar = dc * i * (1.0 - z * z)                                         # δz̄ᵗ = δcᵗ ⊙ iᵗ ⊙ g'(z̄ᵗ)
    for gate, dgbar in (("z", dzbar), ("i", dibar), ("f", dfbar), ("o", dobar)):
        grads["W_" + gate] += x.T @ dgbar                                  # δW_g += ⟨δḡᵗ, xᵗ⟩
        grads["R_" + gate] += y_prev.T @ dgbar                             # δR_g += ⟨δḡᵗ, yᵗ⁻¹⟩
        grads["b_" + gate] += dgbar.sum(axis=0)                            # δb_g += δḡᵗ
    if "p_i" in grads:
        grads["p_i"] += (c_prev * dibar).sum(axis=0)                       # δp_i += cᵗ⁻¹ ⊙ δīᵗ
        grads["p_f"] += (c_prev * dfbar).sum(axis=0)                       # δp_f += cᵗ⁻¹ ⊙ δf̄ᵗ
        grads["p_o"] += (c * dobar).sum(axis=0)                            # δp_o += cᵗ ⊙ δōᵗ
    dx = (dzbar @ p["W_z"].T + dibar @ p["W_i"].T                          # δxᵗ = W_zᵀ δz̄ᵗ + W_iᵀ δīᵗ
          + dfbar @ p["W_f"].T + dobar @ p["W_o"].T)                       #     + W_fᵀ δf̄ᵗ + W_oᵀ δōᵗ
    dy_prev = (dzbar @ p["R_z"].T + dibar @ p["R_i"].T                     # δyᵗ⁻¹ = R_zᵀ δz̄ᵗ + R_iᵀ δīᵗ
               + dfbar @ p["R_f"].T + dobar @ p["R_o"].T)                  #        + R_fᵀ δf̄ᵗ + R_oᵀ δōᵗ
    dc_prev = dc * f + p_i * dibar + p_f * dfbar                           # δcᵗ⁻¹ = δcᵗ ⊙ fᵗ + p_i ⊙ δīᵗ + p_f ⊙ δf̄ᵗ
    return dx, (dy_prev, dc_prev)


def lstm_forward(X, state0, p):
    """X (T, B, m), (y⁻¹, c⁻¹) -> Y (T, B, n), (yᵀ⁻¹, cᵀ⁻¹), caches."""
    return _forward(lstm_step_forward, X, tuple(state0), p)


def lstm_backward(dY, caches, p, dstate=None):
    """dY (T, B, n), caches, (δyᵀ⁻¹, δcᵀ⁻¹) or None (zeros) -> dX (T, B, m), (δy⁻¹, δc⁻¹), grads."""
    return _backward(lstm_step_backward, dY, caches, p, _zero_yc(dY, p) if dstate is None else tuple(dstate))


def _zero_yc(dY, p):
    """(δyᵀ⁻¹, δcᵀ⁻¹) = (0, 0): y as wide as dY, c as wide as b_z (n)."""
    return np.zeros_like(dY[0]), np.zeros_like(dY[0], shape=(dY.shape[1], p["b_z"].shape[0]))


# ---------------------------------------------------------------- G-LSTM (Kuchaiev & Ginsburg 2017)
def _group(p, j, k):
    """Group j's small LSTM: W_*[j] (m/k, n/k), R_*[j] (p/k, n/k) and its n/k units of each b_* (views,
    so ``grads`` given here are added into in place).  No peepholes; P is not grouped."""
    units = slice(j * p["b_z"].shape[0] // k, (j + 1) * p["b_z"].shape[0] // k)
    return {name: a[j] if name[0] in "WR" else a[units] for name, a in p.items() if name != "P"}


def glstm_step_forward(x, state_prev, p):
    """x (B, m), (yᵗ⁻¹ (B, p), cᵗ⁻¹ (B, n)) -> (yᵗ, cᵗ), cache."""
    y_prev, c_prev = state_prev
    k = p["W_z"].shape[0]                                                  # the number of groups
    xs, ys, cs = (np.split(a, k, axis=1) for a in (x, y_prev, c_prev))     # x_jᵗ, y_jᵗ⁻¹, c_jᵗ⁻¹
    u, c, caches = [], [], []
    for j in range(k):                                                     # k independent LSTMs of n/k units:
        (u_j, c_j), cache_j = lstm_step_forward(xs[j], (ys[j], cs[j]), _group(p, j, k))  # u_jᵗ = h(c_jᵗ) ⊙ o_jᵗ
        u.append(u_j)
        c.append(c_j)
        caches.append(cache_j)
    u = np.concatenate(u, axis=1)                                          # uᵗ = [u_1ᵗ … u_kᵗ]
    y = u @ p["P"]                                                         # yᵗ = P uᵗ
    return (y, np.concatenate(c, axis=1)), (u, caches)


def glstm_step_backward(dstate, cache, p, grads):
    """(δyᵗ, δcᵗ from step t+1) -> δxᵗ, (δyᵗ⁻¹, δcᵗ⁻¹); adds into grads."""
    dy, dc_next = dstate
    u, caches = cache
    k = len(caches)
    grads["P"] += u.T @ dy                                                 # δP += ⟨δyᵗ, uᵗ⟩
    du = dy @ p["P"].T                                                     # δuᵗ = Pᵀ δyᵗ
    dus, dcs = np.split(du, k, axis=1), np.split(dc_next, k, axis=1)
    dx, dy_prev, dc_prev = [], [], []
    for j in range(k):                                                     # each group's LSTM step back
        dx_j, (dy_j, dc_j) = lstm_step_backward((dus[j], dcs[j]), caches[j], _group(p, j, k), _group(grads, j, k))
        dx.append(dx_j)
        dy_prev.append(dy_j)
        dc_prev.append(dc_j)
    return np.concatenate(dx, axis=1), (np.concatenate(dy_prev, axis=1), np.concatenate(dc_prev, axis=1))


def glstm_forward(X, state0, p):
    """X (T, B, m), (y⁻¹ (B, p), c⁻¹ (B, n)) -> Y (T, B, p), (yᵀ⁻¹, cᵀ⁻¹), caches."""
    return _forward(glstm_step_forward, X, tuple(state0), p)


def glstm_backward(dY, caches, p, dstate=None):
    """dY (T, B, p), caches, (δyᵀ⁻¹, δcᵀ⁻¹) or None (zeros) -> dX (T, B, m), (δy⁻¹, δc⁻¹), grads."""
    return _backward(glstm_step_backward, dY, caches, p, _zero_yc(dY, p) if dstate is None else tuple(dstate))
