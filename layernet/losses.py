"""Loss names and target preparation. The losses themselves run in C."""
from __future__ import annotations

import numpy as np

from . import _kernels

#: loss names accepted by Network and fit
LOSS_NAMES = ("mse", "cross_entropy")


def loss_code(name: str, argument: str = "loss") -> int:
    """The C code of loss `name`, or a ValueError naming the choices."""
    if name not in LOSS_NAMES:
        raise ValueError(f"{argument}: expected one of {', '.join(map(repr, LOSS_NAMES))}, got {name!r}")
    return _kernels.LOSSES[name]


def prepare_targets(Y, loss: str, n_rows: int, n_out: int, dtype: np.dtype,
                    name: str = "Y") -> np.ndarray:
    """Y as a C-contiguous (n_rows, n_out) array of `dtype`.

    mse: Y is (n_rows, n_out), or 1-D when n_out == 1.
    cross_entropy: Y is integer class labels (n_rows,) in [0, n_out), turned into
    one-hot rows, or a (n_rows, n_out) matrix of one-hot / probability rows.
    """
    arr = np.asarray(Y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric targets, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name}: expected a 1-D or 2-D array, got {arr.ndim}-D with shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name}: expected {n_rows} rows to match X, got {arr.shape[0]}")
    if loss == "cross_entropy" and arr.ndim == 1:
        labels = arr
        if labels.dtype.kind == "f":
            if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
                raise ValueError(f"{name}: expected integer class labels, got non-integer values")
        if labels.size and (labels.min() < 0 or labels.max() >= n_out):
            raise ValueError(f"{name}: expected class labels in [0, {n_out - 1}], "
                             f"got values from {labels.min()} to {labels.max()}")
        onehot = np.zeros((n_rows, n_out), dtype=dtype)
        onehot[np.arange(n_rows), labels.astype(np.int64)] = 1
        return onehot
    if arr.ndim == 1:
        if n_out != 1:
            raise ValueError(f"{name}: expected shape ({n_rows}, {n_out}), got 1-D shape {arr.shape} "
                             f"(1-D targets are accepted only for a single output)")
        arr = arr.reshape(n_rows, 1)
    if arr.shape[1] != n_out:
        raise ValueError(f"{name}: expected {n_out} columns (the network's outputs), got {arr.shape[1]}")
    return np.ascontiguousarray(arr, dtype=dtype)


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Share of rows whose largest output is the target row's largest entry."""
    return float(np.mean(np.argmax(outputs, axis=1) == np.argmax(targets, axis=1)))


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits stay finite."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)
