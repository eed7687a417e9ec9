"""Reading tabular data files (CSV with a header, .npy, .npz) and standardizing features.

Every problem a person can make with a data file (a missing file, an unknown
column, a non-numeric cell) raises DataError with a message that names the
file and, for cells, the row and column. Row numbers count the header as
row 1, as a spreadsheet shows them.
"""
from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass

import numpy as np


class DataError(ValueError):
    """A data file cannot be used as asked; the message says why."""


@dataclass
class Table:
    """Named columns of a data file. CSV cells stay strings until asked for
    (so label columns can hold text); .npy/.npz data is numeric already."""

    path: str
    names: list[str]
    cells: list[list[str]] | None = None   # CSV: rows of strings
    array: np.ndarray | None = None        # .npy / .npz: (rows, columns)

    @property
    def n_rows(self) -> int:
        return len(self.cells) if self.cells is not None else self.array.shape[0]

    def index(self, name: str) -> int:
        """Position of column `name`, or a DataError listing the columns."""
        if name in self.names:
            return self.names.index(name)
        shown = ", ".join(self.names[:20]) + (" ..." if len(self.names) > 20 else "")
        raise DataError(f"{self.path}: no column {name!r}; the columns are: {shown}")

    def numeric(self, names: list[str]) -> np.ndarray:
        """The columns `names` as a float64 (rows, len(names)) array."""
        cols = [self.index(n) for n in names]
        if self.array is not None:
            return np.ascontiguousarray(self.array[:, cols], dtype=np.float64)
        out = np.empty((len(self.cells), len(cols)), dtype=np.float64)
        for r, row in enumerate(self.cells):
            for j, c in enumerate(cols):
                text = row[c].strip()
                try:
                    out[r, j] = float(text)
                except ValueError:
                    raise DataError(f"{self.path}: row {r + 2}, column {self.names[c]!r}: "
                                    f"expected a number, got {row[c]!r}") from None
        return out

    def text(self, name: str) -> list[str]:
        """Column `name` as strings (labels)."""
        c = self.index(name)
        if self.array is not None:
            values = self.array[:, c]
            return [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values]
        return [row[c].strip() for row in self.cells]


def read_table(path: str) -> Table:
    """Read a .csv (with a header row), .npy (a 2-D numeric array, columns named
    "0", "1", ...) or .npz (arrays "X" and "y"/"Y", columns "x0".. and "y"..; or a
    single 2-D array)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return _read_npy(path)
    if ext == ".npz":
        return _read_npz(path)
    return _read_csv(path)


def _read_csv(path: str) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    names = [name.strip() for name in rows[0]]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise DataError(f"{path}: the header row must name every column once, got {names}")
    cells = rows[1:]
    if not cells:
        raise DataError(f"{path}: the header has no data rows below it")
    for r, row in enumerate(cells):
        if len(row) != len(names):
            raise DataError(f"{path}: row {r + 2} has {len(row)} cells, the header has {len(names)}")
    return Table(path, names, cells=cells)


def _numeric_2d(path: str, a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} must be numeric, got dtype {a.dtype}")
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[0] == 0:
        raise DataError(f"{path}: {what} must be a non-empty 2-D array, got shape {a.shape}")
    return a


def _read_npy(path: str) -> Table:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    a = _numeric_2d(path, a, "the array")
    return Table(path, [str(i) for i in range(a.shape[1])], array=a)


def _read_npz(path: str) -> Table:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    y_key = "y" if "y" in arrays else "Y" if "Y" in arrays else None
    if "X" in arrays and y_key:
        X = _numeric_2d(path, arrays["X"], "X")
        y = _numeric_2d(path, arrays[y_key], y_key)
        if y.shape[0] != X.shape[0]:
            raise DataError(f"{path}: X has {X.shape[0]} rows but {y_key} has {y.shape[0]}")
        names = [f"x{i}" for i in range(X.shape[1])]
        names += ["y"] if y.shape[1] == 1 else [f"y{i}" for i in range(y.shape[1])]
        return Table(path, names, array=np.hstack([X, y]).astype(np.float64))
    if len(arrays) == 1:
        a = _numeric_2d(path, next(iter(arrays.values())), "the array")
        return Table(path, [str(i) for i in range(a.shape[1])], array=a)
    raise DataError(f"{path}: expected arrays 'X' and 'y', or a single 2-D array; "
                    f"found {sorted(arrays)}")


@dataclass
class Standardizer:
    """x -> (x - mean) / std per column; a constant column gets std 1."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> "Standardizer":
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.std

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        return Z * self.std + self.mean

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Standardizer":
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64))
