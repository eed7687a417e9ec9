"""Tabular data for the command line: reading data files, splitting rows,
standardizing columns and measuring regression error.

Three kinds of file are understood:

- **CSV** (UTF-8, comma-separated) with a header row. Columns are addressed
  by their header names. Cells stay text until a column is asked for as
  numbers, so a label column may hold words. Numbers are written as CSV
  readers such as numpy's and pandas' accept them: an optional sign, ASCII
  digits with an optional decimal point and exponent ("-1.5e3", ".5", "5."),
  or inf, infinity and nan in any case (which are then refused as not
  finite), with optional ASCII spaces around. Digit group separators
  ("1_000"), other scripts' digits ("１２"), hexadecimal and decimal commas
  are not numbers. Rows are numbered as a spreadsheet shows them: the header
  is row 1, the first data row is row 2.
- **.npy**: a 2-D numeric array (a 1-D one is one column). Columns are
  addressed by index, "0", "1", ..., negative indices counting from the end.
- **.npz**: either arrays "X" and "y" (or "Y"), in which case the features
  are X's columns and the targets y's (addressed as "y0", "y1", ... or by
  index into y), or a single 2-D array, addressed like a .npy file.

Every problem a person can make with a data file (a missing file, an unknown
column, a non-numeric or non-finite cell, ragged rows, a binary file, a
value too large to standardize) raises DataError, a ValueError whose message
names the file and, for cells, the row and column. Nothing is ever unpickled.

Besides reading: split_rows (a seeded train/validation split), Standardizer
(per-column mean and standard deviation, safe for values near the float64
limits), class labels as values (class_values, class_text), checks that a
model's dtype holds the data (check_in_range, check_representable,
coarse_columns), and regression_metrics and r_squared (in the targets'
units, safe near the float64 limits).
"""
from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["DataError", "Standardizer", "Table", "check_in_range", "check_representable",
           "class_text", "class_values", "coarse_columns", "integer_levels", "label_strings",
           "parse_number", "r_squared", "read_table", "regression_metrics", "sorted_labels",
           "split_rows"]

#: kinds of Table
CSV, ARRAY, XY = "csv", "array", "xy"

#: The number syntax of a CSV cell (see the module docstring). ASCII only:
#: Python's float() would also take "1_000" and non-ASCII digits.
_NUMBER = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|inf(?:inity)?|nan)[ \t\n\r\f\v]*", re.ASCII | re.IGNORECASE)

#: Longest CSV cell accepted, in characters. Generous enough for a free-text
#: column nobody trains on; a longer cell is nearly always a quote never closed.
MAX_CELL_CHARS = 1 << 20

#: Separators a header of a single column may betray (then the file is not comma-separated).
_OTHER_SEPARATORS = {";": "';'", "\t": "a tab", "|": "'|'"}

#: Leading bytes of files that are not CSV text, and what they are.
_BINARY_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (such as an .npz file or an .xlsx workbook)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x93NUMPY", "a NumPy .npy array (rename it to .npy)"),
    (b"\x1f\x8b", "gzip-compressed (decompress it first)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or other OLE document"),
    (b"\x7fELF", "an executable"),
)


class DataError(ValueError):
    """A data file cannot be used as asked; the message says why."""


def _shown(names: list[str], limit: int = 20) -> str:
    """A readable list of column names for error messages."""
    text = ", ".join(names[:limit])
    return text + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _shown_cell(text: str, limit: int = 40) -> str:
    """repr of a cell for an error message, shortened when it is long."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def parse_number(text: str) -> float | None:
    """The value of `text` written in the CSV number syntax, or None if it is not a number."""
    return float(text) if _NUMBER.fullmatch(text) else None


@dataclass
class Table:
    """Named columns of one data file.

    kind is "csv", "array" (.npy or a single-array .npz) or "xy" (.npz with X
    and y). CSV data is kept as rows of strings (``cells``) with the row
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

    # Positions in messages ----------------------------------------------------
    def row_text(self, i: int) -> str:
        """Data row `i` (0-based) as a message names it: the file's row number for CSV."""
        if self.row_numbers is not None:
            return f"row {self.row_numbers[i]}"
        return f"row {i} (0-based)"

    def cell_text(self, i: int, name: str) -> str:
        """Data row `i`, column `name`, as a message names the cell."""
        if self.row_numbers is not None:
            return (f"row {self.row_numbers[i]}, column {name!r} (rows counted with the header "
                    f"as row 1)")
        return f"row {i} (0-based), column {name!r}"

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
                raise DataError(f"{self.path}: {self.cell_text(r, names[j])}: expected a "
                                f"finite number, got {out[r, j]!r}")
            return out
        out = np.empty((len(self.cells), len(cols)), dtype=np.float64)
        for j, c in enumerate(cols):
            column = [row[c] for row in self.cells]
            # Validate the whole column with the regex, then let float() convert it in
            # one pass; only a column that fails is searched for its first bad cell.
            if all(map(_NUMBER.fullmatch, column)):
                out[:, j] = np.fromiter(map(float, column), dtype=np.float64, count=len(column))
                if np.isfinite(out[:, j]).all():
                    continue
            for r, text in enumerate(column):
                value = parse_number(text)
                if value is None or not math.isfinite(value):
                    what = "an empty cell" if not text.strip() else _shown_cell(text)
                    kind = "a number" if value is None else "a finite number"
                    raise DataError(f"{self.path}: {self.cell_text(r, self.names[c])}: "
                                    f"expected {kind}, got {what}")
        return out

    def text_cells(self, name: str, limit: int = 3) -> tuple[int, list[str]]:
        """How many non-empty cells of column `name` are not numbers, and the
        first `limit` distinct ones (an array column has none)."""
        if self.cells is None:
            return 0, []
        c = self.index(name)
        count, examples = 0, []
        for row in self.cells:
            text = row[c].strip()
            if text and parse_number(text) is None:
                count += 1
                if len(examples) < limit and text not in examples:
                    examples.append(text)
        return count, examples

    def labels(self, name: str) -> list[str]:
        """Column `name` as class labels: text, with numbers written canonically
        (so "1", "1.0" and 1.0 are the same label "1")."""
        c = self.index(name)
        if self.array is not None:
            return label_strings([float(v) for v in self.array[:, c]])
        values = [row[c].strip() for row in self.cells]
        for r, v in enumerate(values):
            if not v:
                raise DataError(f"{self.path}: {self.cell_text(r, name)}: empty class label")
        return label_strings(values)


def _label_number(value) -> float | None:
    """A label's value when it is a finite number (text in the CSV number syntax), else None."""
    x = parse_number(value) if isinstance(value, str) else float(value)
    return x if x is not None and math.isfinite(x) else None


def label_strings(values) -> list[str]:
    """Class labels as strings. When every value is a finite number (text in
    the CSV number syntax, or a float), each is written canonically: integers
    without a decimal point ("3"), others as Python's shortest float text
    ("0.5"). Otherwise the text is kept as it is, stripped."""
    numbers = []
    for v in values:
        x = _label_number(v)
        if x is None:
            return [str(v).strip() for v in values]
        numbers.append(x)
    return [str(int(x)) if x.is_integer() else repr(x) for x in numbers]


def class_values(labels: Sequence[str]) -> list:
    """Class labels as the values a model keeps (net.classes): integers when
    every label is an integer written canonically ("3"), floats when every one
    is a number ("0.5"), else the text itself. `labels` are label_strings output."""
    numbers = [_label_number(label) for label in labels]
    if any(x is None for x in numbers):
        return list(labels)
    if all(x.is_integer() for x in numbers):
        return [int(label) for label in labels]   # exact, even beyond 2**53
    return numbers


def class_text(value) -> str:
    """A class value as label_strings writes it, so that a data file's labels
    match a model's classes: "3" for 3 and 3.0, "0.5", text as it is (stripped),
    "True" for True."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return label_strings([float(value)])[0]
    return str(value).strip()


def integer_levels(values: np.ndarray, limit: int = 10) -> list[int] | None:
    """The distinct values of a numeric column when they are at most `limit`
    integers (the look of class labels), else None."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(values == np.round(values)):
        return None
    distinct = np.unique(values)
    if len(distinct) > limit or np.abs(distinct).max() >= 2.0 ** 53:
        return None
    return [int(v) for v in distinct]


def sorted_labels(labels: list[str]) -> list[str]:
    """The distinct labels, in numeric order when all are numbers, else text order."""
    distinct = set(labels)
    numbers = {label: _label_number(label) for label in distinct}
    if all(x is not None for x in numbers.values()):
        return sorted(distinct, key=numbers.__getitem__)
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
    except MemoryError:
        raise DataError(f"{path}: too large to load into memory") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _line_of(data: bytes, offset: int) -> int:
    """1-based line number of byte `offset` in `data`."""
    return data.count(b"\n", 0, offset) + 1


def _decode_csv(path: str, data: bytes) -> str:
    """The text of a CSV file's bytes, or DataError if they are not UTF-8 text."""
    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise DataError(f"{path}: is {what}, not a CSV text file")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{path}: is UTF-16 text; save it as UTF-8 (\"CSV UTF-8\" in "
                        f"spreadsheet programs)")
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    nul = data.find(b"\0", start)
    if nul >= 0:
        raise DataError(f"{path}: has a NUL byte at offset {nul} (line {_line_of(data, nul)}); "
                        f"this is a binary file, not a CSV text file")
    try:
        return codecs.decode(memoryview(data)[start:], "utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        raise DataError(f"{path}: not a UTF-8 text CSV file (byte {data[offset]:#04x} at offset "
                        f"{offset}, line {_line_of(data, offset)}); save it as UTF-8") from None


def _csv_error(path: str, row: int, exc: csv.Error) -> DataError:
    """A csv module error, explained, at the record that starts on `row`."""
    text = str(exc)
    if "field larger than field limit" in text:
        reason = (f"a cell is longer than {MAX_CELL_CHARS} characters, the most one cell may "
                  f"hold; unless the file has such a cell, a quote (\") opened there is never "
                  f"closed")
    elif "unexpected end of data" in text:
        reason = "a quoted cell starts there and is never closed (a '\"' is missing)"
    elif "expected after" in text:
        reason = ("a quoted cell is followed by more text before the next comma; inside a "
                  "quoted cell, write a quote as \"\"")
    else:
        reason = f"malformed CSV ({text})"
    return DataError(f"{path}: row {row} (rows counted with the header as row 1): {reason}")


def _read_csv(path: str) -> Table:
    with open(path, "rb") as f:
        data = f.read()
    text = _decode_csv(path, data)
    del data
    header: list[str] | None = None
    header_line = 0
    cells: list[list[str]] = []
    lines: list[int] = []
    # Strict quoting: a quote never closed or text after a closing quote is an
    # error instead of cells silently running together.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1   # the file line on which the next record starts
    previous_limit = csv.field_size_limit(MAX_CELL_CHARS)
    try:
        for row in reader:
            first, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue   # blank line
            if header is None:
                header, header_line = [name.strip() for name in row], first
            else:
                cells.append(row)
                lines.append(first)
    except csv.Error as exc:
        raise _csv_error(path, line - (header_line if header is not None else line) + 1,
                         exc) from None
    finally:
        csv.field_size_limit(previous_limit)
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    if len(header) == 1:
        for separator, name in _OTHER_SEPARATORS.items():
            if separator in header[0]:
                raise DataError(f"{path}: the file seems to use {name} as separator (the header "
                                f"is one column, {_shown_cell(header[0])}); layernet reads "
                                f"comma-separated files with '.' as decimal point")
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
    row_numbers = [first - header_line + 1 for first in lines]
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
# Splitting, standardization, metrics
# ---------------------------------------------------------------------------

def split_rows(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation), each sorted: a seeded shuffle of range(n),
    then the last round(n * val_split) rows are held out (so sorted files split
    fairly). DataError if a non-zero split leaves either part empty."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_split))
    if val_split > 0 and (n_val < 1 or n_val >= n):
        raise DataError(f"--val-split: {val_split} of {n} rows leaves {n_val} validation and "
                        f"{n - n_val} training rows; both need at least one")
    return np.sort(order[: n - n_val]), np.sort(order[n - n_val:])


def _power_of_two_scale(magnitude: np.ndarray) -> np.ndarray:
    """A power of two s per entry with magnitude / s in [1, 2); 1 where the
    magnitude is 0 or not finite. Dividing by s is exact, so statistics of
    the scaled values, scaled back, equal the unscaled ones wherever those do
    not overflow."""
    magnitude = np.asarray(magnitude, dtype=np.float64)
    _, exponent = np.frexp(magnitude)          # magnitude = m * 2**exponent, m in [0.5, 1)
    scale = np.ldexp(1.0, exponent - 1)
    return np.where((magnitude > 0) & np.isfinite(magnitude), scale, 1.0)


@dataclass
class Standardizer:
    """x -> (x - mean) / std per column, with the statistics of training data.

    A constant column gets std 1, so it becomes all zeros rather than NaN.
    Any finite data gives finite statistics, values near the float64 limits
    included. The statistics round-trip through a JSON-able dict (to_dict /
    from_dict) stored in the model file's metadata.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, names: Sequence[str] | None = None,
            source: str = "X") -> "Standardizer":
        """Column means and (population) standard deviations of X (rows, columns).

        Each column is divided by a power of two near its largest magnitude
        before the statistics are taken, so squares cannot overflow. DataError
        (naming `source` and the column, from `names` when given) if a
        statistic is still unusable: not finite (X holds NaN or inf), or a
        standard deviation that underflows to 0 for a column that is not
        constant.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X: expected a non-empty 2-D array, got shape {X.shape}")
        if names is not None and len(names) != X.shape[1]:
            raise ValueError(f"names: expected {X.shape[1]} column names, got {len(names)}")
        constant = (X == X[0]).all(axis=0)
        scale = _power_of_two_scale(np.abs(X).max(axis=0))
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = X / scale
            mean = np.where(constant, X[0], scaled.mean(axis=0) * scale)
            std = np.where(constant, 1.0, scaled.std(axis=0) * scale)
        unusable = np.flatnonzero(~np.isfinite(mean) | ~np.isfinite(std) | ~(std > 0))
        if unusable.size:
            j = int(unusable[0])
            column = repr(names[j]) if names is not None else str(j)
            if np.isfinite(mean[j]) and std[j] == 0:
                reason = (f"its values (largest magnitude {np.abs(X[:, j]).max():.3g}) are too "
                          f"close to zero for their standard deviation to be represented")
            else:
                reason = (f"its statistics are not finite (mean {mean[j]:.6g}, standard "
                          f"deviation {std[j]:.6g})")
            raise DataError(f"{source}: column {column} cannot be standardized: {reason}")
        return cls(mean, std)

    @property
    def n_columns(self) -> int:
        return int(self.mean.shape[0])

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_columns:
            raise ValueError(f"X: expected {self.n_columns} columns, got shape {X.shape}")
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardized copy of X (float64). A result beyond the float64 range is inf."""
        X = self._check(X)
        with np.errstate(over="ignore", invalid="ignore"):
            Z = (X - self.mean) / self.std
            lost = ~np.isfinite(Z) & np.isfinite(X)
            if lost.any():   # x - mean overflowed; halving both first cannot
                Z = np.where(lost, (X * 0.5 - self.mean * 0.5) / self.std * 2.0, Z)
        return Z

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Undo transform: Z * std + mean (float64). A result beyond the float64 range is inf."""
        Z = self._check(Z)
        with np.errstate(over="ignore", invalid="ignore"):
            X = Z * self.std + self.mean
            lost = ~np.isfinite(X) & np.isfinite(Z)
            if lost.any():   # z * std overflowed although the sum may not
                X = np.where(lost, (Z * (self.std * 0.5) + self.mean * 0.5) * 2.0, X)
        return X

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


def check_in_range(Z: np.ndarray, X: np.ndarray, dtype, table: Table,
                   columns: Sequence[str]) -> None:
    """DataError naming the first cell whose standardized value Z[r, j] a model
    of `dtype` cannot hold (beyond its largest finite number, or not finite).
    X holds the raw values, columns the names of Z's columns in `table`."""
    dtype = np.dtype(dtype)
    limit = float(np.finfo(dtype).max)
    outside = np.argwhere(~(np.abs(Z) <= limit))
    if outside.size:
        r, j = (int(v) for v in outside[0])
        z = abs(float(Z[r, j]))
        amount = f"{z:.3g}" if math.isfinite(z) else f"more than {np.finfo(np.float64).max:.3g}"
        raise DataError(f"{table.path}: {table.cell_text(r, columns[j])}: the value "
                        f"{X[r, j]:.6g} lies {amount} standard deviations from the training "
                        f"rows' mean, beyond the range of a {dtype.name} model (numbers up to "
                        f"{limit:.3g})")


def _checked_pair(pred, target, sample_weight) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pred and target as 2-D float64 arrays of one shape, finite; the row weights
    (ones when sample_weight is None) as float64, >= 0 with a positive sum."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.size == 0:
        raise ValueError(f"pred: expected a non-empty array shaped like target {target.shape}, "
                         f"got shape {pred.shape}")
    for name, a in (("pred", pred), ("target", target)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: expected finite values, got {a[~np.isfinite(a)][0]}")
    if pred.ndim == 1:
        pred, target = pred.reshape(-1, 1), target.reshape(-1, 1)
    pred, target = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    if sample_weight is None:
        w = np.ones(len(pred))
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (len(pred),) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise ValueError(f"sample_weight: expected {len(pred)} finite weights >= 0 with a "
                             f"positive sum, got shape {w.shape}")
    return pred, target, w


def check_representable(X: np.ndarray, dtype, table: Table, columns: Sequence[str],
                        advice: str = "") -> None:
    """DataError naming the first cell of X (raw values of `columns` in `table`)
    beyond the largest finite number of `dtype`, followed by `advice`."""
    dtype = np.dtype(dtype)
    limit = float(np.finfo(dtype).max)
    outside = np.argwhere(~(np.abs(X) <= limit))
    if outside.size:
        r, j = (int(v) for v in outside[0])
        raise DataError(f"{table.path}: {table.cell_text(r, columns[j])}: the value "
                        f"{X[r, j]:.6g} is beyond the range of a {dtype.name} model (numbers "
                        f"up to {limit:.3g}){advice}")


def coarse_columns(scaler: "Standardizer", names: Sequence[str], dtype,
                   tolerance: float = 1e-3) -> list[str]:
    """The columns whose typical values (|mean| + std), held in `dtype`, are
    rounded to steps larger than `tolerance` standard deviations (say a float32
    column of values near 1e6 that vary by about 1): a model of that dtype
    sees them coarsely."""
    dtype = np.dtype(dtype)
    typical = np.abs(scaler.mean) + scaler.std
    with np.errstate(over="ignore"):
        step = np.spacing(typical.astype(dtype)).astype(np.float64)
    return [name for name, s, d in zip(names, step, scaler.std) if not s <= tolerance * d]


def regression_metrics(pred: np.ndarray, target: np.ndarray,
                       sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """Root mean squared error and mean absolute error over all entries of
    `pred` and `target` (same shape, finite), in their units:
    {"rmse": ..., "mae": ...}. With sample_weight (one weight per row), each
    row's mean counts in proportion to its weight.

    The errors are scaled by a power of two before squaring, so the result
    equals the textbook formula and stays finite as long as it is
    representable; it is inf only when the true value exceeds float64.
    """
    pred, target, w = _checked_pair(pred, target, sample_weight)
    share = w / w.sum()
    with np.errstate(over="ignore", invalid="ignore"):
        error, factor = pred - target, 1.0
        if not np.isfinite(error).all():   # the difference overflowed; halve both first
            error, factor = pred * 0.5 - target * 0.5, 2.0
        scale = float(_power_of_two_scale(np.abs(error).max()))
        scaled = error / scale
        # factor * scale alone may overflow (2 * 2**1023); the means are at most 2.
        mean_square = float(share @ np.mean(scaled * scaled, axis=1))
        rmse = scale * (factor * math.sqrt(mean_square))
        mae = scale * (factor * float(share @ np.mean(np.abs(scaled), axis=1)))
    return {"rmse": rmse, "mae": mae}


def r_squared(pred: np.ndarray, target: np.ndarray,
              sample_weight: np.ndarray | None = None) -> float:
    """The coefficient of determination 1 - SS_res / SS_tot of each target
    column, averaged over the columns (scikit-learn's r2_score with
    uniform_average; a constant column scores 1 when predicted exactly, else
    0), weighted by sample_weight when given. Finite for any finite input:
    both sums are taken on values halved and scaled by one power of two."""
    pred, target, w = _checked_pair(pred, target, sample_weight)
    share = w / w.sum()
    scores = []
    for j in range(target.shape[1]):
        t, p = target[:, j], pred[:, j]
        t_scale = float(_power_of_two_scale(np.abs(t).max()))
        mean = float(share @ (t / t_scale)) * t_scale
        residual = p * 0.5 - t * 0.5            # halves cannot overflow
        spread = t * 0.5 - mean * 0.5
        scale = float(_power_of_two_scale(max(np.abs(residual).max(), np.abs(spread).max())))
        ss_res = float(w @ ((residual / scale) ** 2))
        ss_tot = float(w @ ((spread / scale) ** 2))
        if ss_tot > 0:
            scores.append(1.0 - ss_res / ss_tot)
        else:
            scores.append(1.0 if ss_res == 0 else 0.0)
    return float(np.mean(scores))
