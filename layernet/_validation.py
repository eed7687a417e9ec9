"""Argument checks shared by the Python API. Messages name the argument, what
was expected and what came."""
from __future__ import annotations

import math
import operator

import numpy as np


def _shown(value) -> str:
    """repr of a value, shortened when it is a huge integer."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        text = str(value)
        return f"{text[:12]}...({len(text)} digits)"
    return repr(value)


def as_features(X, n_in: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """X as a native, aligned, C-contiguous (batch, n_in) array of `dtype`
    (copied once if needed). Values beyond the dtype's range are refused
    rather than turned into inf."""
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError, OverflowError) as exc:
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
    return to_dtype(arr, dtype, name)


def to_dtype(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """arr as a native, aligned, C-contiguous array of `dtype`; a finite value
    that the conversion would turn into inf is a ValueError naming it."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.require(arr, dtype=dtype, requirements=("C", "A"))
    # Only a narrowing float conversion (float64 -> float32) can overflow
    if arr.dtype.kind == "f" and arr.dtype.itemsize > np.dtype(dtype).itemsize:
        with np.errstate(invalid="ignore"):
            lost = np.isinf(out) & np.isfinite(arr)
        if lost.any():
            where = tuple(int(i) for i in np.argwhere(lost)[0])
            raise ValueError(f"{name}: the value {float(arr[where])!r} at {where} is beyond the range of "
                             f"{np.dtype(dtype).name}; rescale the data or use a float64 network")
    return out


def real_array(value, shape: tuple, dtype: np.dtype, name: str) -> np.ndarray:
    """value as a finite array of real numbers of `shape`, converted to `dtype`
    (TypeError for anything but real numbers, such as complex values, strings
    or integers too large for any numeric dtype; ValueError for a wrong shape,
    inf or nan, or values beyond the dtype's range)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{name}: expected an array of real numbers, got {type(value).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers, got an array of dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
    out = to_dtype(arr, dtype, name)
    check_finite(out.reshape(-1, 1) if out.ndim != 2 else out, name)
    return out


def check_lr(lr) -> float:
    """A learning rate: a finite number >= 0."""
    if type(lr) is float and 0.0 <= lr < math.inf:     # the common case, checked fast
        return lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr: expected a number, got {lr!r}")
    try:
        value = float(lr)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"lr: expected a finite number >= 0, got {_shown(lr)}")
    return value


def check_int(value, name: str, low: int = 1, high: int | None = None) -> int:
    """An integer (Python or numpy, not bool) in [low, high]; any size is
    accepted and compared exactly, so 2**64 or 10**400 get a clear error or a
    correct result."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {_shown(value)}") from None
    if number < low or (high is not None and number > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}: expected an integer {bound}, got {_shown(value)}")
    return number


def check_positive_int(value, name: str) -> int:
    return check_int(value, name, 1)


#: the widest layer accepted (its size must also fit the C engine's indices)
MAX_WIDTH = 2**31 - 1


def check_width(value, name: str) -> int:
    return check_int(value, name, 1, MAX_WIDTH)


def check_fraction(value, name: str) -> float:
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a fraction in [0, 1), got {_shown(value)}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not 0.0 <= x < 1.0:
        raise ValueError(f"{name}: expected a fraction in [0, 1), got {_shown(value)}")
    return x


def check_seed(seed, name: str = "seed") -> int | None:
    if seed is None:
        return None
    return check_int(seed, name, 0, 2**64 - 1)


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt.newbyteorder("=")


def first_nonfinite(a: np.ndarray):
    """(row, column) of the first inf or nan in a 2-D array, or None."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def first_nonfinite_in_blocks(a: np.ndarray, rows_per_block: int = 4096):
    """first_nonfinite over blocks of rows, so a memory-mapped array larger
    than memory is checked without a boolean copy of its whole size."""
    for start in range(0, a.shape[0], rows_per_block):
        where = first_nonfinite(a[start:start + rows_per_block])
        if where is not None:
            return (where[0] + start, where[1])
    return None


def check_finite(a: np.ndarray, name: str) -> None:
    """ValueError naming the first inf or nan of a 1-D or 2-D array."""
    where = first_nonfinite_in_blocks(a if a.ndim == 2 else a.reshape(-1, 1))
    if where is not None:
        shown = f"row {where[0]}, column {where[1]}" if a.ndim == 2 else f"element {where[0]}"
        value = a[where] if a.ndim == 2 else a[where[0]]
        raise ValueError(f"{name}: {shown} is {value}; expected finite values")
