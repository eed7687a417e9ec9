"""layernet.tabular: CSV/.npy/.npz reading, the number syntax, column lookup, error
messages, split_rows, Standardizer (including values near the float64 limits),
class labels as values, check_in_range, check_representable, coarse_columns,
regression_metrics and r_squared."""
from __future__ import annotations

import csv
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from layernet.tabular import (MAX_CELL_CHARS, DataError, Standardizer, check_in_range,
                              check_representable, class_text, class_values, coarse_columns,
                              integer_levels, label_strings, parse_number, r_squared, read_table,
                              regression_metrics, sorted_labels, split_rows)


def write(path, text: str, encoding: str = "utf-8"):
    path.write_text(text, encoding=encoding)
    return path


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

def test_csv_names_rows_and_values(tmp_path):
    p = write(tmp_path / "d.csv", "a, b ,label\n1,2.5,x\n-3,4e1,y\n")
    t = read_table(p)
    assert t.kind == "csv"
    assert t.names == ["a", "b", "label"]          # header cells are stripped
    assert t.n_rows == 2 and t.n_columns == 3
    np.testing.assert_array_equal(t.numeric(["b", "a"]), [[2.5, 1.0], [40.0, -3.0]])
    assert t.numeric(["a"]).dtype == np.float64
    assert t.labels("label") == ["x", "y"]


def test_csv_byte_order_mark_and_crlf(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffx,y\r\n1,2\r\n3,4\r\n".encode("utf-8"))
    t = read_table(p)
    assert t.names == ["x", "y"]
    np.testing.assert_array_equal(t.numeric(["x", "y"]), [[1, 2], [3, 4]])


def test_csv_bad_cell_names_row_counting_header_and_column(tmp_path):
    p = write(tmp_path / "d.csv", "a,b\n1,2\n3,4\n5,oops\n")
    with pytest.raises(DataError) as err:
        read_table(p).numeric(["a", "b"])
    msg = str(err.value)
    assert "d.csv" in msg and "row 4" in msg and "'b'" in msg and "'oops'" in msg
    assert "header as row 1" in msg


def test_csv_row_numbers_survive_blank_lines(tmp_path):
    # Line 5 of the file holds the bad cell; two blank lines come before it.
    p = write(tmp_path / "d.csv", "a\n1\n\n\nx\n")
    t = read_table(p)
    assert t.n_rows == 2
    with pytest.raises(DataError, match=r"row 5, column 'a'"):
        t.numeric(["a"])


def test_csv_empty_cell_and_non_finite_cells(tmp_path):
    t = read_table(write(tmp_path / "d.csv", "a,b\n1,\n"))
    with pytest.raises(DataError, match=r"row 2, column 'b'.*an empty cell"):
        t.numeric(["a", "b"])
    for bad in ("nan", "inf", "-Infinity"):
        t = read_table(write(tmp_path / "n.csv", f"a\n1\n{bad}\n"))
        with pytest.raises(DataError, match=r"row 3, column 'a'.*finite number"):
            t.numeric(["a"])


def test_csv_only_requested_columns_are_converted(tmp_path):
    t = read_table(write(tmp_path / "d.csv", "a,name\n1,alice\n2,bob\n"))
    np.testing.assert_array_equal(t.numeric(["a"]), [[1], [2]])


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("a,b\n", "no data rows"),
    ("a,a\n1,2\n", "names column 'a' twice"),
    ("a,,c\n1,2,3\n", "column(s) [2] unnamed"),
    ("a,b\n1,2\n3\n", "row 3 (the header is row 1) has 1 cells, the header has 2"),
])
def test_csv_structure_errors(tmp_path, text, fragment):
    p = write(tmp_path / "d.csv", text)
    with pytest.raises(DataError) as err:
        read_table(p)
    assert fragment in str(err.value) and "d.csv" in str(err.value)


def test_csv_not_utf8(tmp_path):
    p = tmp_path / "bin.csv"
    p.write_bytes(b"a,b\n\xff\xfe,\x80\n")
    with pytest.raises(DataError, match="not a UTF-8 text CSV"):
        read_table(p)


def test_unknown_column_lists_the_available_ones(tmp_path):
    t = read_table(write(tmp_path / "d.csv", "alpha,beta\n1,2\n"))
    with pytest.raises(DataError) as err:
        t.resolve("alpha,gamma")
    assert "'gamma'" in str(err.value) and "alpha, beta" in str(err.value)


@pytest.mark.parametrize("spec", ["", "a,,b", " , "])
def test_empty_column_specs(tmp_path, spec):
    t = read_table(write(tmp_path / "d.csv", "a,b\n1,2\n"))
    with pytest.raises(DataError, match="comma-separated"):
        t.resolve(spec)


def test_column_named_twice(tmp_path):
    t = read_table(write(tmp_path / "d.csv", "a,b\n1,2\n"))
    with pytest.raises(DataError, match="named twice"):
        t.resolve("a,a")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)


# ---------------------------------------------------------------------------
# .npy / .npz
# ---------------------------------------------------------------------------

def test_npy_columns_by_index(tmp_path):
    a = np.arange(12, dtype=np.int32).reshape(4, 3)
    np.save(tmp_path / "a.npy", a)
    t = read_table(tmp_path / "a.npy")
    assert t.kind == "array" and t.names == ["0", "1", "2"] and t.n_rows == 4
    assert t.resolve("-1") == ["2"]
    assert t.resolve("0, 2") == ["0", "2"]
    np.testing.assert_array_equal(t.numeric(t.resolve("2,0")), a[:, [2, 0]])
    with pytest.raises(DataError, match="index 3 is out of range.*3 columns"):
        t.resolve("3")
    with pytest.raises(DataError, match="by index"):
        t.resolve("price")


def test_npy_one_dimensional_is_one_column(tmp_path):
    np.save(tmp_path / "v.npy", np.array([1.0, 2.0, 3.0]))
    t = read_table(tmp_path / "v.npy")
    assert t.n_columns == 1 and t.n_rows == 3


def test_npy_non_finite_value_reported(tmp_path):
    a = np.zeros((3, 2))
    a[2, 1] = np.nan
    np.save(tmp_path / "a.npy", a)
    with pytest.raises(DataError, match=r"row 2 \(0-based\), column '1'"):
        read_table(tmp_path / "a.npy").numeric(["0", "1"])


@pytest.mark.parametrize("array, fragment", [
    (np.array([["a", "b"]]), "must be numeric"),
    (np.zeros((0, 3)), "non-empty 2-D"),
    (np.zeros((2, 2, 2)), "non-empty 2-D"),
])
def test_npy_rejected_arrays(tmp_path, array, fragment):
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(DataError, match=fragment):
        read_table(tmp_path / "a.npy")


def test_npy_object_array_is_never_unpickled(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="never unpickled"):
        read_table(tmp_path / "o.npy")


def test_garbage_npy_and_npz(tmp_path):
    (tmp_path / "g.npy").write_bytes(b"not numpy at all")
    (tmp_path / "g.npz").write_bytes(b"not a zip either")
    with pytest.raises(DataError, match="not a readable .npy"):
        read_table(tmp_path / "g.npy")
    with pytest.raises(DataError, match="not a readable .npz"):
        read_table(tmp_path / "g.npz")


def test_swapped_extensions(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    (tmp_path / "a.npz").write_bytes((tmp_path / "a.npy").read_bytes())
    with pytest.raises(DataError, match="single .npy array"):
        read_table(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", X=np.zeros((2, 2)), y=np.zeros(2))
    (tmp_path / "b.npy").write_bytes((tmp_path / "b.npz").read_bytes())
    with pytest.raises(DataError, match="is an .npz archive"):
        read_table(tmp_path / "b.npy")


@pytest.mark.parametrize("ykey", ["y", "Y"])
def test_npz_x_and_y(tmp_path, ykey):
    X = np.arange(10.0).reshape(5, 2)
    y = np.array([[0, 1], [1, 0], [2, 2], [3, 1], [4, 0]], dtype=np.int64)
    np.savez(tmp_path / "d.npz", X=X, **{ykey: y})
    t = read_table(tmp_path / "d.npz")
    assert t.kind == "xy"
    assert t.feature_names == ["x0", "x1"] and t.target_names == ["y0", "y1"]
    assert t.resolve("y") == ["y0", "y1"]
    assert t.resolve("1") == ["y1"]                            # an index into y for --target
    assert t.resolve("0", option="--features") == ["x0"]       # and into X for --features
    np.testing.assert_array_equal(t.numeric(t.feature_names), X)
    np.testing.assert_array_equal(t.numeric(["y1"]), y[:, 1:])
    assert t.labels("y0") == ["0", "1", "2", "3", "4"]


def test_npz_single_array_and_bad_layouts(tmp_path):
    np.savez(tmp_path / "one.npz", data=np.ones((3, 4)))
    t = read_table(tmp_path / "one.npz")
    assert t.kind == "array" and t.n_columns == 4
    np.savez(tmp_path / "rows.npz", X=np.ones((3, 2)), y=np.ones(4))
    with pytest.raises(DataError, match="X has 3 rows but y has 4"):
        read_table(tmp_path / "rows.npz")
    np.savez(tmp_path / "two.npz", a=np.ones(3), b=np.ones(3))
    with pytest.raises(DataError, match=r"found \['a', 'b'\]"):
        read_table(tmp_path / "two.npz")


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------

def test_label_strings_canonical_numbers_and_text():
    assert label_strings(["1", "1.0", " 2 ", "0.5"]) == ["1", "1", "2", "0.5"]
    assert label_strings([3.0, 1.0]) == ["3", "1"]
    assert label_strings(["cat", "1", " dog"]) == ["cat", "1", "dog"]
    assert sorted_labels(["10", "9", "1", "9"]) == ["1", "9", "10"]   # numeric order
    assert sorted_labels(["b", "a", "10"]) == ["10", "a", "b"]


def test_empty_label_is_an_error(tmp_path):
    t = read_table(write(tmp_path / "d.csv", "x,c\n1,a\n2,\n"))
    with pytest.raises(DataError, match=r"row 3, column 'c'.*empty class label"):
        t.labels("c")


# ---------------------------------------------------------------------------
# Standardizer
# ---------------------------------------------------------------------------

def test_standardizer_matches_numpy_and_handles_constant_columns():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(5, 3, 50), np.full(50, 7.0), rng.uniform(-1, 1, 50)])
    s = Standardizer.fit(X)
    np.testing.assert_allclose(s.mean, X.mean(axis=0))
    np.testing.assert_allclose(s.std, [X[:, 0].std(), 1.0, X[:, 2].std()])
    Z = s.transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z[:, 1], 0.0)
    np.testing.assert_allclose(Z[:, [0, 2]].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 2]].std(axis=0), 1.0)
    np.testing.assert_allclose(s.inverse(Z), X)


def test_standardizer_json_round_trip():
    s = Standardizer.fit(np.array([[1.0, 10.0], [3.0, 10.0]]))
    d = json.loads(json.dumps(s.to_dict()))
    assert d == {"mean": [2.0, 10.0], "std": [1.0, 1.0]}
    back = Standardizer.from_dict(d)
    np.testing.assert_array_equal(back.mean, s.mean)
    np.testing.assert_array_equal(back.std, s.std)


@pytest.mark.parametrize("d", [None, {}, {"mean": [1.0]}, {"mean": [1.0], "std": [0.0]},
                               {"mean": [1.0, 2.0], "std": [1.0]}, {"mean": ["a"], "std": [1]}])
def test_standardizer_rejects_bad_dicts(d):
    with pytest.raises(ValueError, match="standardization statistics"):
        Standardizer.from_dict(d)


def test_standardizer_checks_column_count():
    s = Standardizer.fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="expected 2 columns"):
        s.transform(np.ones((3, 3)))


# ---------------------------------------------------------------------------
# Number syntax
# ---------------------------------------------------------------------------

ACCEPTED_NUMBERS = [
    ("1", 1.0), ("-1", -1.0), ("+1", 1.0), ("007", 7.0), ("-0", -0.0), (" 2.5 ", 2.5),
    ("\t3\t", 3.0), (".5", 0.5), ("5.", 5.0), ("-.5", -0.5), ("1e5", 100000.0),
    ("1E-5", 0.00001), ("1.5e+3", 1500.0), ("2.e2", 200.0), (".5E1", 5.0),
]
NON_FINITE_NUMBERS = ["inf", "-Infinity", "+INF", "NaN", "nan", "-nan", "iNfInItY", "1e400"]
REJECTED_NUMBERS = [
    "1_000", "1_0.5", "\uff11\uff12", "\u0663", "\uff11.\uff15", "\u00bd", "\u00b2", "0x10",
    "0b1", "1,5", "1 000", "\u00a01", "1\u00a0", "e5", "1e", "1e5.5", "--1", "+-1", ".", "1.2.3",
    "infinit", "nanx", "1d5", "1j", "$1", "1%", "in f",
]


@pytest.mark.parametrize("text, value", ACCEPTED_NUMBERS)
def test_number_syntax_accepted(tmp_path, text, value):
    assert parse_number(text) == value
    assert math.copysign(1, parse_number(text)) == math.copysign(1, value)
    p = tmp_path / "d.csv"
    p.write_text(f"a,b\n{text},1\n", encoding="utf-8")
    got = read_table(p).numeric(["a"])
    assert got.tolist() == [[value]]


@pytest.mark.parametrize("text", NON_FINITE_NUMBERS)
def test_number_syntax_non_finite_is_a_number_but_refused(tmp_path, text):
    assert not math.isfinite(parse_number(text))
    p = tmp_path / "d.csv"
    p.write_text(f"a\n1\n{text}\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_table(p).numeric(["a"])
    assert f"d.csv: row 3, column 'a'" in str(err.value)
    assert f"expected a finite number, got {text!r}" in str(err.value)


@pytest.mark.parametrize("text", REJECTED_NUMBERS)
def test_number_syntax_rejected(tmp_path, text):
    assert parse_number(text) is None
    p = tmp_path / "d.csv"
    # Quoted, so that a comma or space stays inside the cell.
    p.write_text(f'a,b\n1,2\n"{text}",3\n', encoding="utf-8")
    t = read_table(p)
    np.testing.assert_array_equal(t.numeric(["b"]), [[2.0], [3.0]])
    with pytest.raises(DataError) as err:
        t.numeric(["a", "b"])
    assert f"d.csv: row 3, column 'a'" in str(err.value)
    assert f"expected a number, got {text!r}" in str(err.value)


def test_blank_cell_is_reported_as_empty(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n   ,3\n")
    with pytest.raises(DataError, match=r"row 3, column 'a'.*an empty cell"):
        read_table(p).numeric(["a"])


def test_labels_use_the_number_syntax():
    # "1_0" is text, so it is not merged with "10"; numbers in any spelling are.
    assert label_strings(["10", "1_0"]) == ["10", "1_0"]
    assert label_strings(["10", "1e1", " 10.0 "]) == ["10", "10", "10"]
    assert label_strings(["\uff11", "1"]) == ["\uff11", "1"]
    assert sorted_labels(["10", "9", "1_0"]) == ["10", "1_0", "9"]       # text order
    assert label_strings(["nan", "1"]) == ["nan", "1"]                   # not finite: text


# ---------------------------------------------------------------------------
# CSV structure
# ---------------------------------------------------------------------------

def test_csv_quoted_commas_quotes_and_line_breaks(tmp_path):
    p = tmp_path / "q.csv"
    p.write_bytes(b'name,"x, in m",y\r\n'
                  b'"Smith, J.",1.5,"2"\r\n'
                  b'"say ""hi""\nover two lines",-3,4\r\n'
                  b'plain,5,oops\r\n')
    t = read_table(p)
    assert t.names == ["name", "x, in m", "y"]
    assert t.labels("name") == ["Smith, J.", 'say "hi"\nover two lines', "plain"]
    np.testing.assert_array_equal(t.numeric(["x, in m"]), [[1.5], [-3.0], [5.0]])
    # The record spanning lines 3-4 keeps the next record at its file row, 5.
    with pytest.raises(DataError, match=r"row 5, column 'y'"):
        t.numeric(["y"])


def test_csv_blank_lines_and_trailing_whitespace(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("\n  \n a , b \t\n1 ,  2\t\n\n   \n3,4   \n\n")
    t = read_table(p)
    assert t.names == ["a", "b"]
    np.testing.assert_array_equal(t.numeric(["a", "b"]), [[1, 2], [3, 4]])
    assert t.row_numbers == [2, 5]     # counted from the header, blank lines included


@pytest.mark.parametrize("content, fragment", [
    (b'a,b\n1,"2\n3,4\n', 'row 2 (rows counted with the header as row 1): a quoted cell '
                          'starts there and is never closed'),
    (b'a,b\n1,2\n"3"x,4\n', "row 3 (rows counted with the header as row 1): a quoted cell is "
                            "followed by more text"),
    (b'a;b;c\n1;2;3\n', "seems to use ';' as separator"),
    (b'a\tb\n1\t2\n', "seems to use a tab as separator"),
    (b'a,b\n1,2\x003\n', "NUL byte at offset 7 (line 2)"),
    (b'a,b\n1,2\n\xe9,3\n', "not a UTF-8 text CSV file (byte 0xe9 at offset 8, line 3)"),
    ("a,b\n1,2\n".encode("utf-16"), "is UTF-16 text"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a PNG image, not a CSV text file"),
    (b"PK\x03\x04\x14\x00\x00\x00", "is a zip archive (such as an .npz file"),
    (b"\x93NUMPY\x01\x00v\x00", "is a NumPy .npy array"),
    (b"\x1f\x8b\x08\x00", "gzip-compressed"),
    (b"a,b\n1,2\n3,4,5\n", "row 3 (the header is row 1) has 3 cells, the header has 2"),
    (b"a, ,b\n1,2,3\n", "column(s) [2] unnamed"),
    (b" a ,b,a\n1,2,3\n", "names column 'a' twice"),
])
def test_csv_malformed_files(tmp_path, content, fragment):
    p = tmp_path / "m.csv"
    p.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_table(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: ") and fragment in msg, msg
    assert "\n" not in msg


def test_csv_npz_renamed_to_csv(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((3, 2)), y=np.ones(3))
    p = tmp_path / "d.csv"
    p.write_bytes((tmp_path / "d.npz").read_bytes())
    with pytest.raises(DataError, match="is a zip archive"):
        read_table(p)


def test_csv_giant_cell_is_a_clear_error_and_the_limit_is_restored(tmp_path):
    before = csv.field_size_limit()
    p = tmp_path / "g.csv"
    p.write_text("a,b\n1,2\n3," + "9" * (MAX_CELL_CHARS + 1) + "\n")
    with pytest.raises(DataError) as err:
        read_table(p)
    assert f"row 3 (rows counted with the header as row 1): a cell is longer than " \
           f"{MAX_CELL_CHARS} characters" in str(err.value)
    assert csv.field_size_limit() == before
    # A long cell within the limit is read, and shortened in a message.
    p.write_text("a,b\n1,2\n3," + "7" * 5000 + "x\n")
    t = read_table(p)
    with pytest.raises(DataError) as err:
        t.numeric(["b"])
    assert "'7777777777" in str(err.value) and "... (5001 characters)" in str(err.value)
    assert len(str(err.value)) < 300


# ---------------------------------------------------------------------------
# split_rows
# ---------------------------------------------------------------------------

def test_split_rows_is_a_seeded_partition():
    train, val = split_rows(10, 0.3, seed=4)
    assert len(train) == 7 and len(val) == 3
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(10))
    assert train.tolist() == sorted(train.tolist()) and val.tolist() == sorted(val.tolist())
    # the held-out rows are the last three of the seeded permutation
    assert val.tolist() == sorted(np.random.default_rng(4).permutation(10)[7:].tolist())
    again = split_rows(10, 0.3, seed=4)
    assert again[0].tolist() == train.tolist() and again[1].tolist() == val.tolist()
    assert split_rows(10, 0.3, seed=5)[1].tolist() != val.tolist()
    train, val = split_rows(5, 0.0, seed=0)
    assert train.tolist() == [0, 1, 2, 3, 4] and val.tolist() == []


@pytest.mark.parametrize("n, val_split, counts", [(10, 0.01, "0 validation and 10 training"),
                                                  (2, 0.9, "2 validation and 0 training")])
def test_split_rows_refuses_an_empty_part(n, val_split, counts):
    with pytest.raises(DataError, match=f"--val-split: {val_split} of {n} rows leaves {counts}"):
        split_rows(n, val_split, seed=0)


# ---------------------------------------------------------------------------
# Standardizer near the float64 limits
# ---------------------------------------------------------------------------

def test_standardizer_equals_numpy_exactly_on_ordinary_data():
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(37, 4)) * [1.0, 1e3, 1e-3, 7.0]
    s = Standardizer.fit(X)
    np.testing.assert_array_equal(s.mean, X.mean(axis=0))
    np.testing.assert_array_equal(s.std, X.std(axis=0))


def test_standardizer_huge_and_tiny_columns_give_finite_statistics():
    X = np.random.default_rng(2).normal(0.5, 1.0, size=(50, 3)) * [1e155, 1.0, 1e-155]
    with np.errstate(over="ignore"):
        assert np.isinf(X[:, 0].std())            # the plain formula overflows
    s = Standardizer.fit(X)
    m = np.abs(X).max(axis=0)
    np.testing.assert_allclose(s.mean, (X / m).mean(axis=0) * m, rtol=1e-12)
    np.testing.assert_allclose(s.std, (X / m).std(axis=0) * m, rtol=1e-12)
    assert json.loads(json.dumps(s.to_dict(), allow_nan=False)) == s.to_dict()
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(s.inverse(Z), X, rtol=1e-12)


def _exact_z_scores(values: list[float]) -> list[float]:
    """(v - mean) / std in exact rational arithmetic, rounded once at the end."""
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    var = sum((v - mean) ** 2 for v in exact) / len(exact)
    return [math.sqrt((v - mean) ** 2 / var) * (1 if v >= mean else -1) for v in exact]


@pytest.mark.parametrize("column", [[1e308, -1e308, 1e308, -1e308],
                                    [1.7e308, 1.7e308, -1.7e308],
                                    [-1.79e308, 0.0, 1.0, 1.79e308, 1.79e308]])
def test_standardizer_values_at_the_float64_limit(column):
    X = np.array(column).reshape(-1, 1)
    s = Standardizer.fit(X, ["big"], "f.csv")
    assert np.isfinite(s.mean).all() and np.isfinite(s.std).all()
    Z = s.transform(X)
    np.testing.assert_allclose(Z[:, 0], _exact_z_scores(column), rtol=1e-12, atol=1e-300)
    # Round trip to within rounding at the column's magnitude (0 and 1 beside 1.79e308 blur).
    np.testing.assert_allclose(s.inverse(Z), X, rtol=1e-12, atol=1e-12 * np.abs(X).max())


def test_standardizer_constant_columns_are_exact():
    X = np.column_stack([np.full(1000, 0.1), np.full(1000, -3e300)])
    s = Standardizer.fit(X)
    assert s.mean.tolist() == [0.1, -3e300] and s.std.tolist() == [1.0, 1.0]
    assert (s.transform(X) == 0.0).all()


def test_standardizer_unusable_statistics_name_file_and_column():
    with pytest.raises(DataError) as err:
        Standardizer.fit(np.array([[1.0, 0.0], [2.0, 5e-324]]), ["a", "tiny"], "f.csv")
    assert str(err.value).startswith("f.csv: column 'tiny' cannot be standardized")
    assert "too close to zero" in str(err.value)
    with pytest.raises(DataError, match=r"f.csv: column 'b' cannot be standardized: its "
                                        r"statistics are not finite"):
        Standardizer.fit(np.array([[1.0, np.inf], [2.0, 1.0]]), ["a", "b"], "f.csv")
    with pytest.raises(DataError, match=r"X: column 1 cannot"):
        Standardizer.fit(np.array([[1.0, np.nan], [2.0, 1.0]]))


def test_check_in_range_names_the_cell(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n1e39,3\n1e300,4\n")
    t = read_table(p)
    X = t.numeric(["a", "b"])
    s = Standardizer(np.zeros(2), np.ones(2))
    Z = s.transform(X)
    check_in_range(Z, X, np.float64, t, ["a", "b"])           # float64 holds them all
    with pytest.raises(DataError) as err:
        check_in_range(Z, X, np.float32, t, ["a", "b"])
    msg = str(err.value)
    assert msg.startswith(f"{p}: row 3, column 'a'") and "the value 1e+39" in msg
    assert "float32" in msg and "3.4e+38" in msg
    tiny = Standardizer(np.zeros(2), np.array([1e-300, 1.0]))
    with pytest.raises(DataError, match=r"row 3, column 'a'.*more than 1.8e\+308.*float64"):
        check_in_range(tiny.transform(X), X, np.float64, t, ["a", "b"])


# ---------------------------------------------------------------------------
# regression_metrics
# ---------------------------------------------------------------------------

def test_regression_metrics_by_hand():
    m = regression_metrics(np.array([[1.0], [2.0], [4.0]]), np.array([[1.0], [0.0], [1.0]]))
    assert m["rmse"] == pytest.approx(math.sqrt(13 / 3), rel=1e-15)   # errors 0, 2, 3
    assert m["mae"] == pytest.approx(5 / 3, rel=1e-15)
    m = regression_metrics(np.array([[1.0, -2.0], [3.0, 4.0]]), np.zeros((2, 2)))
    assert m["rmse"] == pytest.approx(math.sqrt(30 / 4), rel=1e-15)   # every entry counts
    assert m["mae"] == pytest.approx(10 / 4, rel=1e-15)
    assert regression_metrics(np.ones(3), np.ones(3)) == {"rmse": 0.0, "mae": 0.0}


def test_regression_metrics_do_not_overflow():
    pred, target = np.array([1e200, 2e200, 4e200]), np.array([1e200, 0.0, 1e200])
    with np.errstate(over="ignore"):
        assert np.isinf(np.sqrt(np.mean((pred - target) ** 2)))    # the plain formula
    m = regression_metrics(pred, target)
    assert m["rmse"] == pytest.approx(math.sqrt(13 / 3) * 1e200, rel=1e-14)
    assert m["mae"] == pytest.approx(5 / 3 * 1e200, rel=1e-14)
    # The difference itself overflows (2e308) but the mean does not.
    m = regression_metrics(np.array([1e308, 0, 0, 0]), np.array([-1e308, 0, 0, 0]))
    assert m["rmse"] == pytest.approx(1e308, rel=1e-14)
    assert m["mae"] == pytest.approx(5e307, rel=1e-14)
    # A true value beyond float64 is inf, never nan.
    m = regression_metrics(np.array([1.7e308]), np.array([-1.7e308]))
    assert m == {"rmse": math.inf, "mae": math.inf}


def test_regression_metrics_check_arguments():
    with pytest.raises(ValueError, match=r"pred: expected a non-empty array shaped like "
                                         r"target \(3,\), got shape \(2,\)"):
        regression_metrics(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="target: expected finite values, got nan"):
        regression_metrics(np.ones(2), np.array([1.0, np.nan]))


def test_regression_metrics_weighted_by_hand():
    pred, target = np.array([[1.0], [2.0], [4.0]]), np.array([[1.0], [0.0], [1.0]])
    m = regression_metrics(pred, target, np.array([1.0, 2.0, 1.0]))   # errors 0, 2, 3
    assert m["rmse"] == pytest.approx(math.sqrt((0 + 2 * 4 + 9) / 4), rel=1e-15)
    assert m["mae"] == pytest.approx((0 + 2 * 2 + 3) / 4, rel=1e-15)
    # integer weights equal repeated rows
    repeated = regression_metrics(np.array([1.0, 2.0, 2.0, 4.0]), np.array([1.0, 0.0, 0.0, 1.0]))
    assert m == pytest.approx(repeated, rel=1e-15)
    with pytest.raises(ValueError, match="sample_weight: expected 3 finite weights >= 0"):
        regression_metrics(pred, target, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="positive sum"):
        regression_metrics(pred, target, np.zeros(3))


# ---------------------------------------------------------------------------
# r_squared
# ---------------------------------------------------------------------------

def test_r_squared_by_hand():
    # target mean 1: SS_tot = 1 + 1 + 0 = 2 ... targets 0, 2, 1; predictions 0, 1, 1
    assert r_squared(np.array([0.0, 1.0, 1.0]), np.array([0.0, 2.0, 1.0])) == pytest.approx(
        1 - 1 / 2, rel=1e-15)
    # two columns: the mean of each column's score
    pred = np.array([[0.0, 5.0], [1.0, 5.0], [1.0, 7.0]])
    target = np.array([[0.0, 4.0], [2.0, 6.0], [1.0, 8.0]])   # column 2: SS_res 3, SS_tot 8
    assert r_squared(pred, target) == pytest.approx(((1 - 1 / 2) + (1 - 3 / 8)) / 2, rel=1e-15)
    # weights: integer weights equal repeated rows
    w = np.array([1.0, 3.0, 2.0])
    rep_p = np.repeat(pred, w.astype(int), axis=0)
    rep_t = np.repeat(target, w.astype(int), axis=0)
    assert r_squared(pred, target, w) == pytest.approx(r_squared(rep_p, rep_t), rel=1e-14)
    # a constant target: 1 when predicted exactly, else 0 (scikit-learn's convention)
    assert r_squared(np.full(3, 2.0), np.full(3, 2.0)) == 1.0
    assert r_squared(np.array([2.0, 2.0, 3.0]), np.full(3, 2.0)) == 0.0
    assert r_squared(np.array([2.0, 1.0]), np.array([1.0, 2.0])) == pytest.approx(-3.0)


def test_r_squared_near_the_float64_limits():
    pred, target = np.array([0.0, 1.0, 1.0]), np.array([0.0, 2.0, 1.0])
    for scale in (1e300, 1.7e308 / 2, 1e-300):
        assert r_squared(pred * scale, target * scale) == pytest.approx(0.5, rel=1e-12)
    # spread of +-1.7e308: differences overflow, the score does not
    assert r_squared(np.array([1.7e308, -1.7e308]), np.array([1.7e308, -1.7e308])) == 1.0
    assert r_squared(np.array([0.0, 0.0]), np.array([1.7e308, -1.7e308])) == pytest.approx(0.0)


# ---------------------------------------------------------------------------
# Class labels as values
# ---------------------------------------------------------------------------

def test_class_values_and_text_round_trip():
    assert class_values(["0", "1", "10"]) == [0, 1, 10]
    assert all(type(v) is int for v in class_values(["0", "1"]))
    assert class_values(["0.5", "1"]) == [0.5, 1.0]
    assert class_values(["cat", "dog"]) == ["cat", "dog"]
    assert class_values(["1", "cat"]) == ["1", "cat"]
    big = str(2 ** 70)
    assert class_values([big]) == [2 ** 70]                  # exact beyond 2**53
    for labels in (["0", "1", "10"], ["0.5", "1"], ["cat", "dog"], [big, "3"]):
        assert [class_text(v) for v in class_values(labels)] == labels
    assert class_text(3.0) == "3" and class_text(np.int64(-2)) == "-2"
    assert class_text(True) == "True" and class_text(" x ") == "x"
    # what a data file holds matches: read_table labels use the same spelling
    assert label_strings(["1.0", "2"]) == [class_text(1), class_text(2.0)]


def test_integer_levels():
    assert integer_levels(np.array([2.0, 0.0, 1.0, 1.0])) == [0, 1, 2]
    assert integer_levels(np.array([0.5, 1.0])) is None
    assert integer_levels(np.arange(11.0)) is None            # more than 10: not classes
    assert integer_levels(np.arange(11.0), limit=11) == list(range(11))
    assert integer_levels(np.array([2.0 ** 60, 0.0])) is None


def test_text_cells_counts_words_not_numbers(tmp_path):
    p = write(tmp_path / "d.csv", "a,b\n1,x\n2,\n3,y\nnan,x\n4,z\n")
    t = read_table(p)
    assert t.text_cells("b") == (4, ["x", "y", "z"])
    assert t.text_cells("b", limit=1) == (4, ["x"])
    assert t.text_cells("a") == (0, [])                        # nan is a number, if not finite


# ---------------------------------------------------------------------------
# What a model's dtype holds
# ---------------------------------------------------------------------------

def test_check_representable_names_the_cell(tmp_path):
    p = write(tmp_path / "d.csv", "a,b\n1,2\n3,-1e39\n")
    t = read_table(p)
    X = t.numeric(["a", "b"])
    check_representable(X, np.float64, t, ["a", "b"])
    with pytest.raises(DataError) as err:
        check_representable(X, np.float32, t, ["a", "b"], "; use --dtype float64")
    assert str(err.value) == (f"{p}: row 3, column 'b' (rows counted with the header as row 1): "
                              f"the value -1e+39 is beyond the range of a float32 model "
                              f"(numbers up to 3.4e+38); use --dtype float64")


def test_coarse_columns():
    # float32 steps: 0.0625 at 1e6 (6% of a std of 1), 2**-23 at 1 (1e-7 of a std of 1)
    s = Standardizer(np.array([1e6, 1.0, 1e6]), np.array([1.0, 1.0, 1e4]))
    assert coarse_columns(s, ["pos", "x", "wide"], np.float32) == ["pos"]
    assert coarse_columns(s, ["pos", "x", "wide"], np.float64) == []
    assert coarse_columns(s, ["pos", "x", "wide"], np.float32, tolerance=0.1) == []
