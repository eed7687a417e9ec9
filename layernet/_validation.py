"""Argument checks shared by the Python API. Messages name the argument, what
was expected and what came."""
from __future__ import annotations

import math

import numpy as np


def as_features(X, n_in: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """X as a C-contiguous (batch, n_in) array of `dtype` (copied once if needed)."""
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected a numeric 2-D array, got {type(X).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = "; use X.reshape(1, -1) for a single sample" if arr.ndim == 1 else ""
        raise ValueError(f"{name}: expected a 2-D array of shape (batch, {n_in}), "
                         f"got {arr.ndim}-D with shape {arr.shape}{hint}")
    if arr.shape[1] != n_in:
        raise ValueError(f"{name}: expected {n_in} features (columns), got {arr.shape[1]}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one row, got an empty batch of shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_lr(lr) -> float:
    """A learning rate: a finite number >= 0."""
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise TypeError(f"lr: expected a number, got {lr!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"lr: expected a finite number >= 0, got {lr!r}")
    return value


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt
