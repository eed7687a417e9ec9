"""layernet.tabular: CSV/.npy/.npz reading, column lookup, error messages, Standardizer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from layernet.tabular import DataError, Standardizer, label_strings, read_table, sorted_labels


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
