"""Reading tabular data files (CSV with a header, .npy, .npz) and standardizing features.

Three kinds of file are understood:

- **CSV** with a header row. Columns are addressed by their header names.
  Cells stay text until a column is asked for as numbers, so a label column
  may hold words. A cell that is not a number is reported by row and column;
  rows are numbered as a spreadsheet shows them: the header is row 1, the
  first data row is row 2.
- **.npy**: a 2-D numeric array (a 1-D one is one column). Columns are
  addressed by index, "0", "1", ..., negative indices counting from the end.
- **.npz**: either arrays "X" and "y" (or "Y"), in which case the features
  are X's columns and the targets y's (addressed as "y0", "y1", ... or by
  index into y), or a single 2-D array, addressed like a .npy file.

Every problem a person can make with a data file (a missing file, an unknown
column, a non-numeric or non-finite cell, ragged rows) raises DataError, a
ValueError whose message names the file and, for cells, the row and column.
Nothing is ever unpickled.
"""
from __future__ import annotations

import csv
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DataError", "Standardizer", "Table", "label_strings", "read_table"]

#: kinds of Table
CSV, ARRAY, XY = "csv", "array", "xy"


class DataError(ValueError):
    """A data file cannot be used as asked; the message says why."""


def _shown(names: list[str], limit: int = 20) -> str:
    """A readable list of column names for error messages."""
    text = ", ".join(names[:limit])
    return text + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@dataclass
class Table:
    """Named columns of one data file.

    kind is "csv", "array" (.npy or a single-array .npz) or "xy" (.npz with X
    and y). CSV data is kept as rows of strings (``cells``) with the file row
    number of each (``row_numbers``, header = row 1); array data as one float64
    matrix (``array``). For "xy" tables the first ``n_x`` columns are X.
    """

    path: str
    kind: str
    names: list[str]
    cells: list[list[str]] | None = None
    row_numbers: list[int] | None = None
    array: np.ndarray | None = None
    n_x: int = 0
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {name: i for i, name in enumerate(self.names)}

    # Shape ----------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Number of data rows (the header does not count)."""
        return len(self.cells) if self.cells is not None else int(self.array.shape[0])

    @property
    def n_columns(self) -> int:
        return len(self.names)

    @property
    def feature_names(self) -> list[str] | None:
        """X's columns for an "xy" table; None for other kinds (any column may be a feature)."""
        return self.names[: self.n_x] if self.kind == XY else None

    @property
    def target_names(self) -> list[str] | None:
        """y's columns for an "xy" table; None for other kinds."""
        return self.names[self.n_x:] if self.kind == XY else None

    # Column lookup ----------------------------------------------------------
    def index(self, name: str) -> int:
        """Position of column `name`, or a DataError listing the columns there are."""
        if name in self._index:
            return self._index[name]
        if self.kind == CSV:
            raise DataError(f"{self.path}: no column {name!r}; the columns are: {_shown(self.names)}")
        raise DataError(f"{self.path}: no column {name!r}; this {self.kind_text} has columns "
                        f"{_shown(self.names)}")

    @property
    def kind_text(self) -> str:
        if self.kind == CSV:
            return "CSV file"
        if self.kind == XY:
            return f".npz file (X: {self.n_x} columns, y: {self.n_columns - self.n_x})"
        return f"array ({self.n_rows} x {self.n_columns})"

    def resolve(self, spec: str, option: str = "--target") -> list[str]:
        """Column names from a comma-separated `spec` given to `option`.

        CSV: header names. Arrays: indices ("0", "-1"). "xy" .npz: "y" (all
        of y), "y0", "y1" ..., or indices into y (for a target) -- and "X"
        or "x0", "x1", ... for features.
        """
        parts = [p.strip() for p in spec.split(",")]
        if not spec.strip() or any(not p for p in parts):
            raise DataError(f"{option}: expected a comma-separated list of columns, got {spec!r}")
        names: list[str] = []
        for part in parts:
            for name in self._resolve_one(part, option):
                if name in names:
                    raise DataError(f"{option}: column {name!r} is named twice in {spec!r}")
                names.append(name)
        return names

    def _resolve_one(self, part: str, option: str) -> list[str]:
        if self.kind == CSV or part in self._index:
            self.index(part)
            return [part]
        if self.kind == XY:
            if part in ("y", "Y"):
                return list(self.target_names)
            if part in ("x", "X"):
                return list(self.feature_names)
            pool = self.target_names if option == "--target" else self.feature_names
        else:
            pool = self.names
        try:
            i = int(part)
        except ValueError:
            raise DataError(f"{self.path}: no column {part!r}; columns of this {self.kind_text} "
                            f"are addressed by index (0 to {len(pool) - 1}) or as "
                            f"{_shown(self.names, 8)}") from None
        if not -len(pool) <= i < len(pool):
            raise DataError(f"{option}: column index {i} is out of range for {self.path}, which "
                            f"has {len(pool)} {'y ' if pool is self.target_names else ''}"
                            f"columns (0 to {len(pool) - 1})")
        return [pool[i]]

    # Values -----------------------------------------------------------------
    def numeric(self, names: list[str]) -> np.ndarray:
        """The columns `names` as a float64 (n_rows, len(names)) array.

        A CSV cell that is not a number, or a value that is NaN or infinite,
        raises DataError naming its row and column.
        """
        cols = [self.index(n) for n in names]
        if self.array is not None:
            out = np.ascontiguousarray(self.array[:, cols], dtype=np.float64)
            bad = np.argwhere(~np.isfinite(out))
            if bad.size:
                r, j = bad[0]
                raise DataError(f"{self.path}: row {r} (0-based), column {names[j]!r}: expected a "
                                f"finite number, got {out[r, j]!r}")
            return out
        out = np.empty((len(self.cells), len(cols)), dtype=np.float64)
        for j, c in enumerate(cols):
            try:
                out[:, j] = [float(row[c]) for row in self.cells]
            except ValueError:
                pass   # find the culprit below, with its position
            else:
                if np.isfinite(out[:, j]).all():
                    continue
            for r, row in enumerate(self.cells):
                text = row[c].strip()
                try:
                    value = float(text)
                except ValueError:
                    value = None
                if value is None or not math.isfinite(value):
                    what = "an empty cell" if not text else repr(row[c])
                    kind = "a number" if value is None else "a finite number"
                    raise DataError(f"{self.path}: row {self.row_numbers[r]}, column "
                                    f"{self.names[c]!r} (rows counted with the header as row 1): "
                                    f"expected {kind}, got {what}")
        return out

    def labels(self, name: str) -> list[str]:
        """Column `name` as class labels: text, with numbers written canonically
        (so "1", "1.0" and 1.0 are the same label "1")."""
        c = self.index(name)
        if self.array is not None:
            return label_strings([float(v) for v in self.array[:, c]])
        values = [row[c].strip() for row in self.cells]
        for r, v in enumerate(values):
            if not v:
                raise DataError(f"{self.path}: row {self.row_numbers[r]}, column {name!r} (rows "
                                f"counted with the header as row 1): empty class label")
        return label_strings(values)


def label_strings(values) -> list[str]:
    """Class labels as strings. When every value is a number, each is written
    canonically: integers without a decimal point ("3"), others as Python's
    shortest float text ("0.5"). Otherwise the text is kept as it is."""
    numbers = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return [str(v).strip() for v in values]
        if not math.isfinite(x):
            return [str(v).strip() for v in values]
        numbers.append(x)
    return [str(int(x)) if x.is_integer() else repr(x) for x in numbers]


def sorted_labels(labels: list[str]) -> list[str]:
    """The distinct labels, in numeric order when all are numbers, else text order."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------

def read_table(path) -> Table:
    """Read a data file: .npy and .npz by extension, anything else as CSV."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, expected a data file (.csv, .npy or .npz)")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            return _read_npy(path)
        if ext == ".npz":
            return _read_npz(path)
        return _read_csv(path)
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None


def _read_csv(path: str) -> Table:
    cells: list[list[str]] = []
    row_numbers: list[int] = []
    header: list[str] | None = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            # Row numbers count every record csv yields, blank ones included, so
            # they match the file's lines (header = row 1) unless a quoted cell
            # spans lines.
            for number, row in enumerate(csv.reader(f), start=1):
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [name.strip() for name in row]
                    continue
                cells.append(row)
                row_numbers.append(number)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text CSV file ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    empty = [i + 1 for i, name in enumerate(header) if not name]
    if empty:
        raise DataError(f"{path}: the header row leaves column(s) {empty} unnamed; every "
                        f"column needs a name")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: the header row names column {name!r} twice")
        seen.add(name)
    if not cells:
        raise DataError(f"{path}: the header has no data rows below it")
    for row, number in zip(cells, row_numbers):
        if len(row) != len(header):
            raise DataError(f"{path}: row {number} (the header is row 1) has {len(row)} cells, "
                            f"the header has {len(header)}")
    return Table(path, CSV, header, cells=cells, row_numbers=row_numbers)


def _numeric_2d(path: str, a: np.ndarray, what: str) -> np.ndarray:
    """`a` as a non-empty 2-D float64 array (1-D -> one column), or DataError."""
    if a.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} must be numeric, got dtype {a.dtype}")
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{path}: {what} must be a non-empty 2-D array, got shape {a.shape}")
    return np.asarray(a, dtype=np.float64)


def _read_npy(path: str) -> Table:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({_reason(exc)})") from None
    if not isinstance(a, np.ndarray):   # an .npz archive under a .npy name
        a.close()
        raise DataError(f"{path}: is an .npz archive, not an .npy array; rename it to .npz")
    a = _numeric_2d(path, a, "the array")
    return Table(path, ARRAY, [str(i) for i in range(a.shape[1])], array=a)


def _read_npz(path: str) -> Table:
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):   # an .npy array under an .npz name
            raise DataError(f"{path}: is a single .npy array, not an .npz archive; rename it "
                            f"to .npy")
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({_reason(exc)})") from None
    y_key = "y" if "y" in arrays else "Y" if "Y" in arrays else None
    if "X" in arrays and y_key:
        X = _numeric_2d(path, arrays["X"], "X")
        y = _numeric_2d(path, arrays[y_key], y_key)
        if y.shape[0] != X.shape[0]:
            raise DataError(f"{path}: X has {X.shape[0]} rows but {y_key} has {y.shape[0]}")
        names = [f"x{i}" for i in range(X.shape[1])] + [f"y{i}" for i in range(y.shape[1])]
        return Table(path, XY, names, array=np.hstack([X, y]), n_x=X.shape[1])
    if len(arrays) == 1:
        a = _numeric_2d(path, next(iter(arrays.values())), "the array")
        return Table(path, ARRAY, [str(i) for i in range(a.shape[1])], array=a)
    raise DataError(f"{path}: expected arrays 'X' and 'y' (or 'Y'), or a single 2-D array; "
                    f"found {sorted(arrays) or 'no arrays'}")


def _reason(exc: BaseException) -> str:
    """A short reason for a failed np.load, without numpy's allow_pickle advice."""
    text = str(exc).split("\n")[0]
    if "allow_pickle" in text or "pickled" in text:
        return "it holds Python objects, which are never unpickled"
    return text or type(exc).__name__


# ---------------------------------------------------------------------------
# Standardization
# ---------------------------------------------------------------------------

@dataclass
class Standardizer:
    """x -> (x - mean) / std per column, with the statistics of training data.

    A constant column (std 0) gets std 1, so it becomes all zeros rather than
    NaN. The statistics round-trip through a JSON-able dict (to_dict /
    from_dict) stored in the model file's metadata.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> "Standardizer":
        """Column means and (population) standard deviations of X (rows, columns)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X: expected a non-empty 2-D array, got shape {X.shape}")
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    @property
    def n_columns(self) -> int:
        return int(self.mean.shape[0])

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_columns:
            raise ValueError(f"X: expected {self.n_columns} columns, got shape {X.shape}")
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardized copy of X (float64)."""
        return (self._check(X) - self.mean) / self.std

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Undo transform: Z * std + mean (float64)."""
        return self._check(Z) * self.std + self.mean

    def to_dict(self) -> dict:
        """{"mean": [...], "std": [...]}, JSON-able."""
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d) -> "Standardizer":
        """Inverse of to_dict; ValueError if `d` is not a valid one."""
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"standardization statistics: expected {{'mean': [...], 'std': [...]}}, "
                             f"got {d!r:.80} ({type(exc).__name__})") from None
        if (mean.ndim != 1 or mean.shape != std.shape or not np.isfinite(mean).all()
                or not np.isfinite(std).all() or (std <= 0).any()):
            raise ValueError("standardization statistics: mean and std must be lists of equal "
                             "length, finite, with std > 0")
        return cls(mean, std)
