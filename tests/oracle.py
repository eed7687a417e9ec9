"""An independent numpy oracle for layered networks, written from the math in
DESIGN.md ("Math conventions"), not from layernet's code.

Shapes: X (N, n_in), W (n_in, n_out), B (n_out,). Z = X W + B, H = f(Z).
All functions compute in float64 unless told otherwise. Derivatives are
taken from Z with each activation's textbook formula (torch's definitions),
so they check the C code's shortcuts through H.
"""
from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = ("identity", "sigmoid", "relu", "tanh", "leaky_relu", "softplus", "silu", "gelu")
#: activations whose derivative needs Z (layernet keeps Z for them)
NEEDS_Z = ("softplus", "silu", "gelu")
LEAKY_SLOPE = 0.01

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def sigmoid(Z):
    Z = np.asarray(Z, dtype=np.float64)
    out = np.empty_like(Z)
    pos = Z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-Z[pos]))
    e = np.exp(Z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def phi_cdf(Z):
    """The standard normal CDF, (1 + erf(z / sqrt 2)) / 2, written with erfc so
    the lower tail keeps its relative precision."""
    return 0.5 * _erfc(-np.asarray(Z, dtype=np.float64) / math.sqrt(2.0))


def act(name, Z):
    """f(Z) for an activation name (None means identity)."""
    Z = np.asarray(Z, dtype=np.float64)
    if name is None or name == "identity":
        return Z.copy()
    if name == "sigmoid":
        return sigmoid(Z)
    if name == "relu":
        return np.where(Z > 0, Z, 0.0)
    if name == "tanh":
        return np.tanh(Z)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "softplus":
        return np.logaddexp(0.0, Z)
    if name == "silu":
        return Z * sigmoid(Z)
    if name == "gelu":
        return Z * phi_cdf(Z)
    raise ValueError(name)


def dact(name, Z):
    """f'(Z) from Z (relu' is 0 at 0 and leaky_relu' the slope there, as in torch)."""
    Z = np.asarray(Z, dtype=np.float64)
    if name is None or name == "identity":
        return np.ones_like(Z)
    if name == "sigmoid":
        s = sigmoid(Z)
        return s * (1.0 - s)
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - np.tanh(Z) ** 2
    if name == "leaky_relu":
        return np.where(Z > 0, 1.0, LEAKY_SLOPE)
    if name == "softplus":
        return sigmoid(Z)
    if name == "silu":
        s = sigmoid(Z)
        return s * (1.0 + Z * (1.0 - s))
    if name == "gelu":
        return phi_cdf(Z) + Z * np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)
    raise ValueError(name)


def dact_from_output(name, H):
    """f'(Z) expressed through the output H = f(Z), for the activations whose
    derivative the output determines."""
    H = np.asarray(H, dtype=np.float64)
    if name is None or name == "identity":
        return np.ones_like(H)
    if name == "sigmoid":
        return H * (1.0 - H)
    if name == "relu":
        return (H > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - H * H
    if name == "leaky_relu":
        return np.where(H > 0, 1.0, LEAKY_SLOPE)
    raise ValueError(f"{name}'s derivative needs Z, not H")


def dact_from_saved(name, S):
    """The derivative from what layernet keeps: Z for NEEDS_Z, else H."""
    return dact(name, S) if name in NEEDS_Z else dact_from_output(name, S)


def kept_tensor(name, Z):
    """What layernet keeps for the derivative of activation `name` at Z."""
    return np.asarray(Z, dtype=np.float64) if name in NEEDS_Z else act(name, Z)


def dense_forward(X, W, B, activation):
    Z = X @ W
    if B is not None:
        Z = Z + B
    return act(activation, Z)


# ---------------------------------------------------------------------------
# Dropout masks: the counter-based generator, reimplemented from its
# description in csrc/framework/rng.h (SplitMix64's finaliser for the row
# key, a 32-bit finaliser per element, the top 24 bits as the uniform).
# ---------------------------------------------------------------------------
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix32(x):
    x = np.asarray(x, dtype=np.uint64) & 0xFFFFFFFF
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(0xFFFFFFFF)
    return x ^ (x >> np.uint64(16))


def dropout_keep(seed, node, step, n_rows, n_cols, rate):
    """The (n_rows, n_cols) boolean keep-mask of node `node` at `step`."""
    keep_below = math.floor((1.0 - rate) * 16777216.0 + 0.5)
    k = _mix64((seed + _GOLDEN * (node + 1)) & _M64)
    k = _mix64(k ^ ((_GOLDEN * step) & _M64))
    mask = np.empty((n_rows, n_cols), dtype=bool)
    cols = np.arange(n_cols, dtype=np.uint64)
    for r in range(n_rows):
        key = _mix64(k ^ ((_GOLDEN * (r + 1)) & _M64))
        lo, hi = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
        bits = _mix32(lo ^ _mix32(hi + cols)) >> np.uint64(8)
        mask[r] = bits < keep_below
    return mask


# ---------------------------------------------------------------------------
# Networks as lists of layers: {"kind": "dense", "W", "B", "act"} or
# {"kind": "dropout", "rate", "keep"} (keep: the mask, or None outside training)
# ---------------------------------------------------------------------------

def forward_layers(layers, X, dtype=np.float64):
    """[(input, Z, output) per layer] in float64 (Z is None for dropout)."""
    out, x = [], np.asarray(X, dtype=np.float64)
    for layer in layers:
        if layer["kind"] == "dense":
            Z = x @ np.asarray(layer["W"], np.float64) + np.asarray(layer["B"], np.float64)
            h = act(layer["act"], Z)
        else:
            Z = None
            keep = layer.get("keep")
            h = x if keep is None else np.where(keep, x / (1.0 - layer["rate"]), 0.0)
        out.append((x, Z, h))
        x = h
    return out


def loss_and_grad(kind, H, T, w=None, delta=1.0):
    """(L, dL/dH) for "mse" (row means of squared errors), "mse_sum",
    "cross_entropy" (softmax of the logits H against distributions T),
    "binary_cross_entropy" (sigmoid of the logits H against targets in [0, 1]),
    "huber" (threshold delta) or "mae", with optional per-row weights:
    sum_i w_i l_i / sum_i w_i, l_i the row's loss (a mean over its outputs,
    except cross-entropy's sum over classes)."""
    H = np.asarray(H, np.float64)
    T = np.asarray(T, np.float64)
    n, m = H.shape
    w = np.ones(n) if w is None else np.asarray(w, np.float64)
    share = (w / w.sum())[:, None]
    E = H - T
    if kind == "mse":
        rows = np.mean(E ** 2, axis=1)
        return float(w @ rows / w.sum()), 2.0 * E / m * share
    if kind == "binary_cross_entropy":
        elem = np.maximum(H, 0) - H * T + np.log1p(np.exp(-np.abs(H)))
        return float(w @ elem.mean(axis=1) / w.sum()), (sigmoid(H) - T) / m * share
    if kind == "huber":
        small = np.abs(E) <= delta
        elem = np.where(small, 0.5 * E ** 2, delta * (np.abs(E) - 0.5 * delta))
        grad = np.where(small, E, delta * np.sign(E))
        return float(w @ elem.mean(axis=1) / w.sum()), grad / m * share
    if kind == "mae":
        return float(w @ np.abs(E).mean(axis=1) / w.sum()), np.sign(E) / m * share
    if kind == "mse_sum":
        return float(np.sum((H - T) ** 2)), 2.0 * (H - T)
    if kind == "cross_entropy":
        shift = H - H.max(axis=1, keepdims=True)
        logp = shift - np.log(np.exp(shift).sum(axis=1, keepdims=True))
        rows = -(T * logp).sum(axis=1)
        p = np.exp(logp)
        grad = (p * T.sum(axis=1, keepdims=True) - T) * (w / w.sum())[:, None]
        return float(w @ rows / w.sum()), grad
    raise ValueError(kind)


def backward_layers(layers, X, T, kind="mse", w=None):
    """(loss, [grads per dense layer: (dW, dB)])."""
    trace = forward_layers(layers, X)
    L, dH = loss_and_grad(kind, trace[-1][2], T, w)
    grads = []
    for layer, (x, Z, h) in zip(reversed(layers), reversed(trace)):
        if layer["kind"] == "dense":
            A = dH * dact(layer["act"], Z)
            grads.append((x.T @ A, A.sum(axis=0)))
            dH = A @ np.asarray(layer["W"], np.float64).T
        else:
            keep = layer.get("keep")
            dH = dH if keep is None else np.where(keep, dH / (1.0 - layer["rate"]), 0.0)
    return L, grads[::-1]


# ---------------------------------------------------------------------------
# Dense-only helpers: params [(W, B), ...] and activations [name, ...]
# ---------------------------------------------------------------------------

def _dense_layers(params, activations):
    return [{"kind": "dense", "W": W, "B": B, "act": a} for (W, B), a in zip(params, activations)]


def forward(params, activations, X, dtype=np.float64):
    """All layer outputs [X, H1, ..., HL] for params [(W, B), ...]."""
    trace = forward_layers(_dense_layers(params, activations), X)
    return [np.asarray(X, np.float64)] + [h for _, _, h in trace]


def predict(params, activations, X, dtype=np.float64):
    return forward(params, activations, X, dtype)[-1]


def mse_mean(H, Y):
    """(L, dL/dH) with L = sum (H-Y)^2 / (N m)."""
    D = H - Y
    return float(np.sum(D * D) / H.size), 2.0 * D / H.size


def mse_sum(H, Y):
    """(L, dL/dH) with L = sum (H-Y)^2."""
    D = H - Y
    return float(np.sum(D * D)), 2.0 * D


def dense_backward(X, W, H, dH, activation, need_dX=True):
    """A = dH * f'(H); dW = X^T A; dB = colsum A; dX = A W^T (H-determined activations)."""
    A = dH * dact_from_output(activation, H)
    return X.T @ A, A.sum(axis=0), (A @ W.T if need_dX else None)


def gradients(params, activations, X, Y, dtype=np.float64, loss="mse"):
    """(loss, [(dW, dB), ...])."""
    H = predict(params, activations, X)
    Y = np.asarray(Y, dtype=np.float64).reshape(H.shape)
    return backward_layers(_dense_layers(params, activations), X, Y, loss)


def sgd_step(params, grads, lr):
    """New params after W <- W - lr dW, B <- B - lr dB."""
    return [(W - lr * dW, B - lr * dB) for (W, B), (dW, dB) in zip(params, grads)]


def loss_value(params, activations, X, Y, dtype=np.float64, loss="mse"):
    H = predict(params, activations, X, dtype)
    Y = np.asarray(Y, dtype=np.float64).reshape(H.shape)
    return loss_and_grad(loss, H, Y)[0]


def rel_err(a, b):
    """max|a-b| / max(max|a|, max|b|, 1e-12)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), 1e-12)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale
