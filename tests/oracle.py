"""An independent numpy oracle for dense networks, written from the math in
DESIGN.md ("Math conventions"), not from layernet's code.

Shapes: X (N, n_in), W (n_in, n_out), B (n_out,). Z = X W + B, H = f(Z).
All functions compute in float64 unless told otherwise.
"""
from __future__ import annotations

import numpy as np

ACTIVATIONS = ("identity", "sigmoid", "relu", "tanh")


def act(name, Z):
    """f(Z) for an activation name (None means identity)."""
    if name is None or name == "identity":
        return Z.copy()
    if name == "sigmoid":
        # split by sign so neither branch overflows exp
        out = np.empty_like(Z)
        pos = Z >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-Z[pos]))
        e = np.exp(Z[~pos])
        out[~pos] = e / (1.0 + e)
        return out
    if name == "relu":
        return np.where(Z > 0, Z, np.zeros_like(Z))
    if name == "tanh":
        return np.tanh(Z)
    raise ValueError(name)


def dact_from_output(name, H):
    """f'(Z) expressed through the output H = f(Z)."""
    if name is None or name == "identity":
        return np.ones_like(H)
    if name == "sigmoid":
        return H * (1.0 - H)
    if name == "relu":
        return (H > 0).astype(H.dtype)
    if name == "tanh":
        return 1.0 - H * H
    raise ValueError(name)


def dense_forward(X, W, B, activation):
    Z = X @ W
    if B is not None:
        Z = Z + B
    return act(activation, Z)


def forward(params, activations, X, dtype=np.float64):
    """All layer outputs [X, H1, ..., HL] for params [(W, B), ...]."""
    Hs = [np.asarray(X, dtype=dtype)]
    for (W, B), a in zip(params, activations):
        Hs.append(dense_forward(Hs[-1], np.asarray(W, dtype), np.asarray(B, dtype), a))
    return Hs


def predict(params, activations, X, dtype=np.float64):
    return forward(params, activations, X, dtype)[-1]


def mse_mean(H, Y):
    """(L, dL/dH) with L = sum (H-Y)^2 / (N m)."""
    D = H - Y
    n_el = H.size
    return float(np.sum(D * D) / n_el), 2.0 * D / n_el


def mse_sum(H, Y):
    """(L, dL/dH) with L = sum (H-Y)^2."""
    D = H - Y
    return float(np.sum(D * D)), 2.0 * D


def dense_backward(X, W, H, dH, activation, need_dX=True):
    """A = dH * f'(H); dW = X^T A; dB = colsum A; dX = A W^T."""
    A = dH * dact_from_output(activation, H)
    dW = X.T @ A
    dB = A.sum(axis=0)
    dX = A @ W.T if need_dX else None
    return dW, dB, dX


def gradients(params, activations, X, Y, dtype=np.float64, loss="mse"):
    """(loss, [(dW, dB), ...]) of the MSE (mean or sum) loss."""
    Hs = forward(params, activations, X, dtype)
    Y = np.asarray(Y, dtype=dtype).reshape(Hs[-1].shape)
    L, dH = (mse_mean if loss == "mse" else mse_sum)(Hs[-1], Y)
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        W = np.asarray(params[i][0], dtype)
        dW, dB, dX = dense_backward(Hs[i], W, Hs[i + 1], dH, activations[i], need_dX=i > 0)
        grads[i] = (dW, dB)
        dH = dX
    return L, grads


def sgd_step(params, grads, lr):
    """New params after W <- W - lr dW, B <- B - lr dB."""
    return [(W - lr * dW, B - lr * dB) for (W, B), (dW, dB) in zip(params, grads)]


def loss_value(params, activations, X, Y, dtype=np.float64, loss="mse"):
    H = predict(params, activations, X, dtype)
    Y = np.asarray(Y, dtype=dtype).reshape(H.shape)
    return (mse_mean if loss == "mse" else mse_sum)(H, Y)[0]


def rel_err(a, b):
    """max|a-b| / max(max|a|, max|b|, 1e-12)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), 1e-12)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale
