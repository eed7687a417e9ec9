"""The `layernet` command end to end, in process via main([...]), plus one subprocess run.

Expectations are computed independently: feature statistics with numpy on the
CSV's columns, predictions with ln.load(model).predict on features
standardized by hand.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import layernet as ln
from layernet.cli import main

FEATURES = ["x1", "x2", "x3"]
FAST = ["--epochs", "3", "--batch-size", "16", "-q"]


def _make_csv(path: Path, n: int = 120, seed: int = 0) -> dict:
    """A CSV with three features, a regression target and a string class label."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(-2, 2, n), rng.normal(100, 15, n), rng.uniform(0, 1, n)])
    price = 3 * X[:, 0] - 0.02 * X[:, 1] + rng.normal(0, 0.1, n)
    kind = np.where(X[:, 0] > 0.5, "high", np.where(X[:, 0] < -0.5, "low", "mid"))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id"] + FEATURES + ["price", "kind"])
        for i in range(n):
            w.writerow([f"r{i}"] + [repr(float(v)) for v in X[i]] + [repr(float(price[i])), kind[i]])
    return {"X": X, "price": price, "kind": kind}


@pytest.fixture
def data(tmp_path):
    d = _make_csv(tmp_path / "train.csv")
    d["csv"] = tmp_path / "train.csv"
    return d


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def standardized(X: np.ndarray) -> np.ndarray:
    """Features standardized by hand with the statistics of all rows (--val-split 0)."""
    return (X - X.mean(axis=0)) / X.std(axis=0)


def values(out: str) -> dict:
    """'name: number' lines of evaluate's output ("loss (what it is): number" too)."""
    result = {}
    for line in out.splitlines():
        key, _, value = line.rpartition(": ")
        key = key.split(" (")[0]
        try:
            result[key] = float(value)
        except ValueError:
            pass
    return result


# ---------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------

def forward(net, X: np.ndarray) -> np.ndarray:
    """The network's output computed with numpy in float64, layer by layer."""
    H = np.asarray(X, dtype=np.float64)
    for layer in net.layers:
        if layer.kind == "standardize":
            H = (H - layer.mean.astype(np.float64)) / layer.std.astype(np.float64)
        elif layer.kind == "dense":
            H = H @ layer.W.astype(np.float64) + layer.B.astype(np.float64)
            H = {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh,
                 "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "identity": lambda v: v}[
                layer.activation](H)
    return H


def test_regression_train_evaluate_predict_info(tmp_path, capsys, data):
    model = tmp_path / "reg.npz"
    code, out, err = run(capsys, "train", data["csv"], "--target", "price", "--features",
                         ",".join(FEATURES), "--val-split", "0", "--layers", "8", *FAST,
                         "--out", model)
    assert code == 0, err
    assert "train: loss" in out and f"wrote {model}" in out and model.exists()
    assert "epoch losses are on standardized targets" in out

    net = ln.load(model)
    meta = net.metadata
    assert meta["features"] == FEATURES and meta["targets"] == ["price"]
    assert "standardize" not in meta and "target_standardize" not in meta
    # the feature statistics live in the model's first layer
    assert [l.kind for l in net.layers] == ["standardize", "dense", "dense"]
    np.testing.assert_allclose(net.layers[0].mean, data["X"].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(net.layers[0].std, data["X"].std(axis=0), rtol=1e-6)
    y_mean, y_std = data["price"].mean(), data["price"].std()
    np.testing.assert_allclose(meta["target_statistics"]["mean"], [y_mean], rtol=1e-12)
    np.testing.assert_allclose(meta["target_statistics"]["std"], [y_std], rtol=1e-12)
    assert net.optimizer is None and net.epochs_trained == 3   # see the module notes
    assert [l.n_out for l in net.layers] == [3, 8, 1]

    # The same training done with the library on standardized targets, rescaled by hand,
    # predicts what the saved model predicts on raw rows.
    twin = ln.Network([ln.Standardize(data["X"].mean(axis=0), data["X"].std(axis=0)),
                       ln.Dense(3, 8, activation="relu"), ln.Dense(8, 1)], seed=0)
    twin.fit(data["X"], (data["price"] - y_mean) / y_std, epochs=3, batch_size=16,
             optimizer=ln.Adam(1e-3), seed=0)
    expected = twin.predict(data["X"])[:, 0].astype(np.float64) * y_std + y_mean
    np.testing.assert_allclose(net.predict(data["X"])[:, 0], expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(forward(net, data["X"])[:, 0], expected, rtol=1e-5, atol=1e-4)

    # predict: the loaded model's output on the raw rows, to the printed precision
    preds = tmp_path / "preds.csv"
    code, out, err = run(capsys, "predict", model, data["csv"], "--out", preds)
    assert code == 0, err
    assert "wrote 120 predictions" in out
    header, rows = read_csv(preds)
    assert header == ["price"]
    got = np.array([float(r[0]) for r in rows])
    np.testing.assert_allclose(got, net.predict(data["X"])[:, 0], rtol=6e-7, atol=0)

    # evaluate: the loss on standardized targets, rmse, mae and r2 in price units
    code, out, err = run(capsys, "evaluate", model, data["csv"], "--target", "price")
    assert code == 0, err
    assert "loss (mse on standardized targets): " in out
    m = values(out)
    pred = net.predict(data["X"])[:, 0].astype(np.float64)
    assert m["loss"] == pytest.approx(np.mean(((pred - data["price"]) / y_std) ** 2), rel=1e-5)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - data["price"]) ** 2)), rel=1e-5)
    assert m["mae"] == pytest.approx(np.mean(np.abs(pred - data["price"])), rel=1e-5)
    r2 = 1 - np.sum((pred - data["price"]) ** 2) / np.sum((data["price"] - y_mean) ** 2)
    assert m["r2"] == pytest.approx(r2, rel=1e-5)
    # the library's evaluate on raw rows is in price units: its mse is the CLI's times std**2
    assert float(net.evaluate(data["X"], data["price"])["loss"]) == pytest.approx(
        m["loss"] * y_std ** 2, rel=1e-4)
    assert "accuracy" not in m

    code, out, err = run(capsys, "info", model)
    assert code == 0, err
    assert "architecture: 3 -> standardize -> 8 (relu) -> 1 (identity)" in out
    assert f"parameters: {3 * 8 + 8 + 8 + 1}" in out
    assert "dtype: float32" in out and "loss: mse" in out
    assert "features (3): x1, x2, x3" in out and "targets: price" in out
    assert "standardized: features, by the model's first layer; trained on standardized " \
           "targets, predicts in the targets' units" in out

    code, out, err = run(capsys, "info", model, "--json")
    doc = json.loads(out)
    assert doc["parameters"] == 41 and doc["metadata"]["features"] == FEATURES


def softmax(Z: np.ndarray) -> np.ndarray:
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def test_classification_with_string_labels(tmp_path, capsys, data):
    model = tmp_path / "cls.npz"
    code, out, err = run(capsys, "train", data["csv"], "--target", "kind", "--features",
                         ",".join(FEATURES), "--loss", "cross_entropy", "--val-split", "0",
                         "--optimizer", "momentum", "--lr", "0.05", "--dtype", "float64",
                         *FAST, "--out", model)
    assert code == 0, err
    assert "(3 classes)" in out and "accuracy" in out
    assert "train: loss " in out and "(cross_entropy, nats per row)" in out
    net = ln.load(model)
    assert net.classes == ["high", "low", "mid"] and "labels" not in net.metadata
    assert net.loss_name == "cross_entropy" and net.dtype == np.float64
    assert net.optimizer.config()["momentum"] == 0.9   # a classifier keeps its optimizer
    labels = np.array(["high", "low", "mid"])
    expected_proba = softmax(forward(net, data["X"]))
    expected_labels = labels[expected_proba.argmax(axis=1)]

    # without --proba: the label only, as predict_classes gives it on the raw rows
    code, out, err = run(capsys, "predict", model, data["csv"])
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["kind"] and all(len(r) == 1 for r in rows)
    assert [r[0] for r in rows[1:]] == list(net.predict_classes(data["X"]))
    assert [r[0] for r in rows[1:]] == list(expected_labels)

    # --proba: each class's probability beside the label, equal to predict_proba
    code, out, err = run(capsys, "predict", model, data["csv"], "--proba")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["kind", "p_high", "p_low", "p_mid"]
    proba = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_array_equal(proba, net.predict_proba(data["X"]))   # float64: repr
    np.testing.assert_allclose(proba, expected_proba, rtol=1e-12, atol=1e-15)
    assert [r[0] for r in rows[1:]] == list(expected_labels)

    code, out, err = run(capsys, "evaluate", model, data["csv"], "--target", "kind")
    assert code == 0, err
    assert "loss (cross_entropy, nats per row): " in out
    m = values(out)
    truth = np.searchsorted(labels, data["kind"])
    assert m["accuracy"] == pytest.approx(np.mean(expected_proba.argmax(axis=1) == truth),
                                          abs=1e-4)
    log_p = np.log(expected_proba[np.arange(len(truth)), truth])
    assert m["loss"] == pytest.approx(-log_p.mean(), rel=1e-6)

    code, out, err = run(capsys, "info", model)
    assert "classes (3): high, low, mid" in out and "loss: cross_entropy" in out


def test_predict_reads_features_by_name(tmp_path, capsys, data):
    """Column order does not matter for CSV; extra and target columns are ignored."""
    model = tmp_path / "m.npz"
    assert run(capsys, "train", data["csv"], "--target", "price", "--features",
               ",".join(FEATURES), *FAST, "--out", model)[0] == 0
    shuffled = tmp_path / "new.csv"
    with open(shuffled, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x3", "note", "x1", "x2"])
        for row in data["X"][:5]:
            w.writerow([repr(float(row[2])), "n/a", repr(float(row[0])), repr(float(row[1]))])
    code, out_a, err = run(capsys, "predict", model, shuffled)
    assert code == 0, err
    code, out_b, err = run(capsys, "predict", model, data["csv"])
    lines_a, lines_b = out_a.splitlines(), out_b.splitlines()[:6]
    assert lines_a[0] == lines_b[0] == "price"
    # equal up to float32 rounding (a 5-row batch may take another kernel path than 120 rows)
    np.testing.assert_allclose([float(v) for v in lines_a[1:]], [float(v) for v in lines_b[1:]],
                               rtol=1e-5, atol=1e-5)


def test_default_features_are_all_other_columns(tmp_path, capsys):
    p = tmp_path / "d.csv"
    p.write_text("a,b,t\n" + "".join(f"{i},{i % 3},{2 * i}\n" for i in range(20)))
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", p, "--target", "t", *FAST, "--out", model)
    assert code == 0, err
    assert ln.load(model).metadata["features"] == ["a", "b"]


def test_npy_and_npz_inputs(tmp_path, capsys, data):
    table = np.column_stack([data["X"], data["price"]])
    np.save(tmp_path / "d.npy", table)
    model = tmp_path / "npy.npz"
    code, out, err = run(capsys, "train", tmp_path / "d.npy", "--target", "-1", "--val-split",
                         "0", *FAST, "--out", model)
    assert code == 0, err
    net = ln.load(model)
    assert net.metadata["features"] == ["0", "1", "2"] and net.metadata["targets"] == ["3"]
    # a features-only array and the full training layout give the same predictions
    np.save(tmp_path / "feat.npy", data["X"])
    code, out_a, _ = run(capsys, "predict", model, tmp_path / "feat.npy")
    code, out_b, _ = run(capsys, "predict", model, tmp_path / "d.npy")
    assert out_a == out_b
    got = np.array([float(v) for v in out_a.splitlines()[1:]])
    np.testing.assert_allclose(got, forward(net, data["X"])[:, 0], rtol=1e-5, atol=1e-4)

    # .npz with X and y: no --target needed; integer labels print as integers
    labels = (data["X"][:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "xy.npz", X=data["X"], y=labels)
    model = tmp_path / "xy_model.npz"
    code, out, err = run(capsys, "train", tmp_path / "xy.npz", "--loss", "cross_entropy",
                         *FAST, "--out", model)
    assert code == 0, err
    net = ln.load(model)
    assert net.classes == [0, 1] and all(type(c) is int for c in net.classes)
    code, out, err = run(capsys, "evaluate", model, tmp_path / "xy.npz")
    assert code == 0 and "accuracy: " in out
    code, out, err = run(capsys, "predict", model, tmp_path / "xy.npz")
    assert out.splitlines()[0] == "y0"
    assert [int(r) for r in out.splitlines()[1:]] == net.predict_classes(data["X"]).tolist()


def test_early_stopping_and_validation_metrics(tmp_path, capsys, data):
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", data["csv"], "--target", "price", "--features",
                         ",".join(FEATURES), "--epochs", "40", "--lr", "0.05", "--optimizer",
                         "sgd", "--patience", "1", "--val-split", "0.25", "-q", "--out", model)
    assert code == 0, err
    assert "validation: loss" in out and "stopped early after epoch" in out
    net = ln.load(model)
    meta = net.metadata
    assert meta["training"]["epochs"] < 40 and net.epochs_trained == meta["training"]["epochs"]
    assert meta["training"]["patience"] == 1
    assert meta["rows"] == {"train": 90, "validation": 30}
    assert set(meta["metrics"]) == {"train", "validation"}


def _matplotlib_installed() -> bool:
    import importlib.util
    return importlib.util.find_spec("matplotlib") is not None


def test_plot_writes_png_or_says_matplotlib_is_missing(tmp_path, capsys, data):
    png = tmp_path / "curve.png"
    code, out, err = run(capsys, "train", data["csv"], "--target", "price", "--features",
                         "x1,x2,x3", *FAST, "--out", tmp_path / "m.npz", "--plot", png)
    if _matplotlib_installed():
        assert code == 0, err
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        check_error(code, err, "--plot needs matplotlib")
        assert not png.exists() and not (tmp_path / "m.npz").exists()


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, capsys, data, monkeypatch):
    # Hide matplotlib whether or not it is installed: a None entry makes the import fail.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run(capsys, "train", data["csv"], "--target", "price", "--features",
                         "x1,x2,x3", *FAST, "--out", tmp_path / "m.npz", "--plot",
                         tmp_path / "curve.png")
    check_error(code, err, "--plot needs matplotlib", "pip install matplotlib")
    assert not (tmp_path / "m.npz").exists()


def test_demo_in_process(capsys):
    code, out, err = run(capsys, "demo", "--epochs", "2")
    assert code == 0, err
    assert "epoch   1  loss" in out and "epoch   2  loss" in out
    assert "test accuracy:" in out


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "train" in out and "predict" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and ln.__version__ in out


def test_python_dash_m_demo_subprocess(tmp_path):
    # Run from an empty directory with PYTHONPATH naming the package under test, so the
    # child imports the same layernet as this process (installed, or built in place) and
    # never a source tree without its compiled extension.
    package_root = str(Path(ln.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=package_root)
    proc = subprocess.run([sys.executable, "-m", "layernet", "demo", "--epochs", "3"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "epoch   3  loss" in proc.stdout and "test accuracy:" in proc.stdout


# ---------------------------------------------------------------------------
# Errors: one line on stderr, exit status 2
# ---------------------------------------------------------------------------

def check_error(code: int, err: str, *fragments: str, usage: bool = False) -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if usage:
        assert lines[0].startswith("usage: layernet")
    else:
        assert len(lines) == 1, err
    assert lines[-1].startswith("layernet: error: ")
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture
def model(tmp_path, capsys, data):
    path = tmp_path / "model.npz"
    assert run(capsys, "train", data["csv"], "--target", "price", "--features",
               ",".join(FEATURES), *FAST, "--out", path)[0] == 0
    return path


def test_error_missing_data_file(tmp_path, capsys):
    code, out, err = run(capsys, "train", tmp_path / "nope.csv", "--target", "y",
                         "--out", tmp_path / "m.npz")
    check_error(code, err, "nope.csv: no such file")
    assert not (tmp_path / "m.npz").exists()


def test_error_missing_model_file(tmp_path, capsys, data):
    code, out, err = run(capsys, "predict", tmp_path / "absent.npz", data["csv"])
    check_error(code, err, "absent.npz: no such model file")


def test_error_unknown_column_lists_available(tmp_path, capsys, data):
    code, out, err = run(capsys, "train", data["csv"], "--target", "prize",
                         "--out", tmp_path / "m.npz")
    check_error(code, err, "no column 'prize'", "id, x1, x2, x3, price, kind")


def test_error_non_numeric_cell_row_and_column(tmp_path, capsys, data):
    lines = data["csv"].read_text().splitlines()
    cells = lines[7].split(",")
    cells[2] = "12,5"            # a decimal comma, quoted so the row keeps its width
    lines[7] = ",".join(cells[:2] + ['"12,5"'] + cells[3:])
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "train", bad, "--target", "price", "--features", "x1,x2,x3",
                         "--out", tmp_path / "m.npz")
    check_error(code, err, "bad.csv: row 8, column 'x2'", "header as row 1", "'12,5'")


def test_error_string_feature_column(tmp_path, capsys, data):
    # Without --features every other column is a feature, including the labels.
    code, out, err = run(capsys, "train", data["csv"], "--target", "price",
                         "--out", tmp_path / "m.npz")
    check_error(code, err, "row 2, column 'id'", "expected a number, got 'r0'",
                "unless --features names them")


def test_error_feature_column_missing_at_predict(tmp_path, capsys, model):
    p = tmp_path / "few.csv"
    p.write_text("x1,x3\n1,2\n")
    code, out, err = run(capsys, "predict", model, p)
    check_error(code, err, "missing feature column(s) x2", "the file's columns are: x1, x3")


def test_error_feature_count_mismatch_array(tmp_path, capsys, model):
    np.save(tmp_path / "two.npy", np.ones((4, 2)))
    code, out, err = run(capsys, "predict", model, tmp_path / "two.npy")
    check_error(code, err, "the model expects 3 feature column(s) (x1, x2, x3)", "has 2")


@pytest.mark.parametrize("spec", ["64,x", "64,,32", "0", "-4", "3.5"])
def test_error_bad_layers(tmp_path, capsys, data, spec):
    code, out, err = run(capsys, "train", data["csv"], "--target", "price",
                         f"--layers={spec}", "--out", tmp_path / "m.npz")
    check_error(code, err, "--layers: expected comma-separated positive integers", repr(spec))


def test_error_corrupt_model_files(tmp_path, capsys, data, model):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a model")
    code, out, err = run(capsys, "info", garbage)
    check_error(code, err, "garbage.npz: not a valid layernet model file")

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(model.read_bytes()[:300])
    code, out, err = run(capsys, "predict", truncated, data["csv"])
    check_error(code, err, "truncated.npz")

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, W0=np.ones((2, 2)))
    code, out, err = run(capsys, "evaluate", foreign, data["csv"], "--target", "price")
    check_error(code, err, "foreign.npz", "header")

    code, out, err = run(capsys, "info", data["csv"])
    check_error(code, err, "train.csv: not a valid layernet model file")


def test_error_model_without_cli_metadata(tmp_path, capsys, data):
    bare = tmp_path / "bare.npz"
    ln.Network([ln.Dense(3, 1)], seed=0).save(bare)
    code, out, err = run(capsys, "predict", bare, data["csv"])
    check_error(code, err, "no valid feature list", "layernet train")


def test_error_unknown_label_at_evaluate(tmp_path, capsys, data):
    model = tmp_path / "cls.npz"
    assert run(capsys, "train", data["csv"], "--target", "kind", "--features", "x1,x2,x3",
               "--loss", "cross_entropy", *FAST, "--out", model)[0] == 0
    p = tmp_path / "new.csv"
    p.write_text("x1,x2,x3,kind\n0,100,0.5,huge\n")
    code, out, err = run(capsys, "evaluate", model, p, "--target", "kind")
    check_error(code, err, "label(s) huge the model was not trained on", "high, low, mid")


@pytest.mark.parametrize("argv, fragment", [
    (["train", "DATA", "--target", "price"], "the following arguments are required: --out"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--epochs", "0"],
     "argument --epochs: expected a positive integer, got '0'"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--val-split", "1.5"],
     "argument --val-split: expected a fraction in [0, 1)"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--lr", "-1"],
     "argument --lr: expected a positive number"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--optimizer", "adagrad"],
     "argument --optimizer: invalid choice: 'adagrad'"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--schedule", "linear"],
     "argument --schedule: invalid choice: 'linear'"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--dropout", "1"],
     "argument --dropout: expected a fraction in [0, 1), got '1'"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--clip-norm", "0"],
     "argument --clip-norm: expected a positive number, got '0'"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--class-weight", "auto"],
     "argument --class-weight: invalid choice: 'auto'"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--loss", "hinge"],
     "argument --loss: invalid choice: 'hinge'"),
    (["train", "DATA", "--target", "price", "--out", "m.npz", "--patience", "-1"],
     "argument --patience: expected an integer >= 0, got '-1'"),
    (["fly"], "invalid choice: 'fly'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_usage_errors_exit_2(tmp_path, capsys, data, argv, fragment):
    argv = [str(data["csv"]) if a == "DATA" else a for a in argv]
    code, out, err = run(capsys, *argv)
    check_error(code, err, fragment, usage=True)


@pytest.mark.parametrize("extra, fragment", [
    (["--target", "kind,price", "--loss", "cross_entropy"], "cross_entropy needs one column"),
    (["--target", "price", "--features", "x1,price"], "--features: column(s) price are also targets"),
    (["--target", "price", "--features", "x1", "--val-split", "0.001"],
     "--val-split: 0.001 of 120 rows leaves 0"),
    (["--target", "kind", "--features", "x1", "--loss", "cross_entropy", "--val-split", "0"], None),
])
def test_train_option_errors(tmp_path, capsys, data, extra, fragment):
    code, out, err = run(capsys, "train", data["csv"], *extra, *FAST, "--out", tmp_path / "m.npz")
    if fragment is None:
        assert code == 0, err
    else:
        check_error(code, err, fragment)


def test_error_single_class(tmp_path, capsys):
    p = tmp_path / "d.csv"
    p.write_text("x,c\n1,a\n2,a\n3,a\n")
    code, out, err = run(capsys, "train", p, "--target", "c", "--loss", "cross_entropy",
                         "--val-split", "0", "--out", tmp_path / "m.npz")
    check_error(code, err, "single class (a)")


def test_error_target_required_for_npy(tmp_path, capsys):
    np.save(tmp_path / "d.npy", np.ones((5, 3)))
    code, out, err = run(capsys, "train", tmp_path / "d.npy", "--out", tmp_path / "m.npz")
    check_error(code, err, "--target is required", "0 to 2")


def test_error_output_directory_missing(tmp_path, capsys, data, model):
    code, out, err = run(capsys, "train", data["csv"], "--target", "price",
                         "--out", tmp_path / "no" / "m.npz")
    check_error(code, err, "--out: the directory", "does not exist")
    code, out, err = run(capsys, "predict", model, data["csv"], "--out", tmp_path / "no" / "p.csv")
    check_error(code, err, "--out: the directory")


def test_error_plot_without_matplotlib(tmp_path, capsys, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib -> ImportError
    code, out, err = run(capsys, "train", data["csv"], "--target", "price", "--features",
                         "x1,x2,x3", "--out", tmp_path / "m.npz", "--plot", tmp_path / "c.png")
    check_error(code, err, "--plot needs matplotlib", "pip install matplotlib")
    assert not (tmp_path / "m.npz").exists()


def test_error_non_finite_training_is_reported(tmp_path, capsys, data):
    code, out, err = run(capsys, "train", data["csv"], "--target", "price", "--features",
                         "x1,x2,x3", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "5", "-q",
                         "--out", tmp_path / "m.npz")
    check_error(code, err, "non-finite", "no model was written")
    assert not (tmp_path / "m.npz").exists()


def test_predictions_file_written_atomically(tmp_path, capsys, data, model):
    out_path = tmp_path / "preds.csv"
    out_path.write_text("old contents\n")
    # a failing predict leaves the previous file untouched and no temporary file behind
    code, _, err = run(capsys, "predict", model, tmp_path / "missing.csv", "--out", out_path)
    assert code == 2 and out_path.read_text() == "old contents\n"
    code, _, err = run(capsys, "predict", model, data["csv"], "--out", out_path)
    assert code == 0 and out_path.read_text().startswith("price\n")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".layernet-")) == []


# ---------------------------------------------------------------------------
# Malformed and unusual CSV files through train, evaluate and predict
# ---------------------------------------------------------------------------

def _good_rows(n: int = 40) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, 2))
    y = 2 * X[:, 0] - X[:, 1] + rng.normal(0, 0.1, n)
    return [(float(a), float(b), float(c)) for a, b, c in zip(X[:, 0], X[:, 1], y)]


GOOD_ROWS = _good_rows()
GOOD_TEXT = "x1,x2,y\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in GOOD_ROWS)
TRAIN_ARGS = ["--target", "y", "--features", "x1,x2", "--layers", "4", "--epochs", "2",
              "--batch-size", "16", "--val-split", "0", "-q"]


def _with_bad_x2(cell: str) -> bytes:
    """The good file with row 3's x2 cell replaced by `cell` (written as is; a lone
    surrogate U+DCXX becomes the raw byte XX)."""
    lines = GOOD_TEXT.splitlines(keepends=True)
    a, _, c = lines[2].split(",")
    lines[2] = f"{a},{cell},{c}"
    return "".join(lines).encode("utf-8", "surrogateescape")


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, X=np.ones((3, 2)), y=np.ones(3))
    return buffer.getvalue()


# name -> (file content, fragments the one error line must hold besides the file name)
MALFORMED = {
    "empty": (b"", ["the file is empty"]),
    "blank_lines_only": (b"\n  \n\t\r\n", ["the file is empty"]),
    "header_only": (b"x1,x2,y\r\n\r\n", ["the header has no data rows"]),
    "ragged_too_few": (GOOD_TEXT.replace(GOOD_TEXT.splitlines()[2], "1.5,2.5").encode(),
                       ["row 3 (the header is row 1) has 2 cells, the header has 3"]),
    "ragged_too_many": (GOOD_TEXT.replace(GOOD_TEXT.splitlines()[4], "1,2,3,4").encode(),
                        ["row 5 (the header is row 1) has 4 cells, the header has 3"]),
    "duplicate_header": (b"x1,x2,x2,y\n1,2,3,4\n", ["the header row names column 'x2' twice"]),
    "empty_header_name": (b"x1,,x2,y\n1,2,3,4\n", ["leaves column(s) [2] unnamed"]),
    "empty_cell": (_with_bad_x2(""), ["row 3, column 'x2'", "expected a number, got an empty cell"]),
    "semicolons": (b"x1;x2;y\n1,5;2,5;3\n", ["seems to use ';' as separator"]),
    "tabs": (b"x1\tx2\ty\n1\t2\t3\n", ["seems to use a tab as separator"]),
    "not_utf8": (_with_bad_x2("\udce9"), ["not a UTF-8 text CSV file (byte 0xe9", "line 3"]),
    "latin1_header": ("x1,x2,y,café\n1,2,3,4\n".encode("latin-1"),
                      ["not a UTF-8 text CSV file (byte 0xe9", "line 1"]),
    "utf16": (GOOD_TEXT.encode("utf-16"), ["is UTF-16 text"]),
    "huge_number": (_with_bad_x2("1e400"), ["row 3, column 'x2'", "finite number, got '1e400'"]),
    "nan": (_with_bad_x2("NaN"), ["row 3, column 'x2'", "finite number, got 'NaN'"]),
    "nul_byte": (_with_bad_x2("2\x00"), ["NUL byte", "(line 3)"]),
    "unterminated_quote": (_with_bad_x2('"2.5'), ["row 3 (rows counted with the header as "
                                                  "row 1): a quoted cell starts there and is "
                                                  "never closed"]),
    "text_after_quote": (_with_bad_x2('"2"5'), ["row 3", "a quoted cell is followed by more text"]),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", ["is a PNG image"]),
    "npz_renamed": (_npz_bytes(), ["is a zip archive"]),
    "underscore": (_with_bad_x2("1_000"), ["row 3, column 'x2'", "got '1_000'"]),
    "full_width_digits": (_with_bad_x2("\uff11\uff12"), ["row 3, column 'x2'",
                                                         "got '\uff11\uff12'"]),
    "hexadecimal": (_with_bad_x2("0x10"), ["row 3, column 'x2'", "got '0x10'"]),
    "decimal_comma": (_with_bad_x2('"2,5"'), ["row 3, column 'x2'", "got '2,5'"]),
    "no_break_space": (_with_bad_x2("\u00a02.5"), ["row 3, column 'x2'", "got '\\xa02.5'"]),
    "word": (_with_bad_x2("n/a"), ["row 3, column 'x2'", "expected a number, got 'n/a'"]),
    "giant_cell": (_with_bad_x2("9" * 1_100_000), ["row 3", "a cell is longer than 1048576"]),
}


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    """A model trained once on the good CSV, and that file's predict and evaluate output."""
    directory = tmp_path_factory.mktemp("good")
    data = directory / "good.csv"
    data.write_text(GOOD_TEXT)
    model = directory / "model.npz"
    outputs = []
    for argv in (["train", data, *TRAIN_ARGS, "--out", model], ["predict", model, data],
                 ["evaluate", model, data, "--target", "y"]):
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            assert main([str(a) for a in argv]) == 0, stderr.getvalue()
        outputs.append(stdout.getvalue())
    return {"csv": data, "model": model, "predictions": outputs[1],
            "evaluation": outputs[2].splitlines()[1:]}


def _three_commands(capsys, data: Path, model: Path, out: Path):
    """(name, exit status, stdout, stderr) of train, predict and evaluate on `data`."""
    results = []
    for name, argv in (("train", ["train", data, *TRAIN_ARGS, "--out", out]),
                       ("predict", ["predict", model, data]),
                       ("evaluate", ["evaluate", model, data, "--target", "y"])):
        results.append((name, *run(capsys, *argv)))
    return results


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_csv_is_one_clear_line(tmp_path, capsys, good_model, case):
    content, fragments = MALFORMED[case]
    data = tmp_path / f"{case}.csv"
    data.write_bytes(content)
    out = tmp_path / "m.npz"
    for command, code, stdout, err in _three_commands(capsys, data, good_model["model"], out):
        line = check_error(code, err, f"{data}: ", *fragments)
        assert len(line) < 400, (command, line)
        assert stdout == "", (command, stdout)
    assert not out.exists()


def test_directory_and_missing_file_are_one_clear_line(tmp_path, capsys, good_model):
    directory = tmp_path / "folder.csv"
    directory.mkdir()
    for data, fragment in ((directory, "is a directory"), (tmp_path / "gone.csv", "no such file")):
        for command, code, _, err in _three_commands(capsys, data, good_model["model"],
                                                     tmp_path / "m.npz"):
            check_error(code, err, f"{data}: {fragment}")


def _spelled(rows, cell, header="x1,x2,y", end="\n", extra=None) -> str:
    lines = [header]
    for i, row in enumerate(rows):
        cells = [cell(v) for v in row] + ([extra(i)] if extra else [])
        lines.append(",".join(cells))
    return end.join(lines) + end


# name -> file content holding exactly the good file's numbers
EQUIVALENT = {
    "bom": b"\xef\xbb\xbf" + GOOD_TEXT.encode(),
    "crlf": GOOD_TEXT.replace("\n", "\r\n").encode(),
    "quoted_cells_and_commas": _spelled(
        GOOD_ROWS, lambda v: f'"{v!r}"', header='"x1","x2","y","note, free text"',
        extra=lambda i: f'"Smith, J. said ""{i}"""').encode(),
    "blank_lines_and_whitespace": ("\n \nx1 , x2,y  \n\n" + "".join(
        f" {a!r}\t, {b!r}\t,{c!r}  \n \n" for a, b, c in GOOD_ROWS) + "\n\n").encode(),
    "exponent_spelling": _spelled(GOOD_ROWS, lambda v: f"{v:+.17E}").encode(),
    "reordered_with_extra_columns": ("id,y,x2,label,x1\n" + "".join(
        f"r{i},{c!r},{b!r},{'abc'[i % 3]},{a!r}\n" for i, (a, b, c) in enumerate(GOOD_ROWS))
    ).encode(),
}


@pytest.mark.parametrize("case", sorted(EQUIVALENT))
def test_unusual_but_valid_csv_reads_like_the_plain_file(tmp_path, capsys, good_model, case):
    data = tmp_path / f"{case}.csv"
    data.write_bytes(EQUIVALENT[case])
    model = tmp_path / "m.npz"
    results = {name: (code, out, err) for name, code, out, err
               in _three_commands(capsys, data, good_model["model"], model)}
    for name, (code, out, err) in results.items():
        assert code == 0 and "Traceback" not in err, (name, err)
    assert results["predict"][1] == good_model["predictions"]
    assert results["evaluate"][1].splitlines() == [f"{data}: {len(GOOD_ROWS)} rows",
                                                  *good_model["evaluation"]]
    # Trained on the same numbers, the model is the good one: same statistics and outputs.
    trained, good = ln.load(model), ln.load(good_model["model"])
    np.testing.assert_array_equal(trained.layers[0].mean, good.layers[0].mean)
    np.testing.assert_array_equal(trained.layers[0].std, good.layers[0].std)
    assert trained.metadata["target_statistics"] == good.metadata["target_statistics"]
    code, out, err = run(capsys, "predict", model, good_model["csv"])
    assert code == 0, err
    np.testing.assert_allclose([float(v) for v in out.splitlines()[1:]],
                               [float(v) for v in good_model["predictions"].splitlines()[1:]],
                               rtol=1e-6)


def _run_module(tmp_path, *argv) -> subprocess.CompletedProcess:
    package_root = str(Path(ln.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=package_root)
    return subprocess.run([sys.executable, "-m", "layernet", *map(str, argv)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("command, case", [("train", "ragged_too_few"), ("predict", "png"),
                                           ("evaluate", "underscore"), ("train", "semicolons")])
def test_malformed_csv_subprocess_exit_status_and_stderr(tmp_path, good_model, command, case):
    content, fragments = MALFORMED[case]
    data = tmp_path / f"{case}.csv"
    data.write_bytes(content)
    argv = {"train": ["train", data, *TRAIN_ARGS, "--out", tmp_path / "m.npz"],
            "predict": ["predict", good_model["model"], data],
            "evaluate": ["evaluate", good_model["model"], data, "--target", "y"]}[command]
    proc = _run_module(tmp_path, *argv)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"layernet: error: {data}: ")
    assert all(f in lines[0] for f in fragments), lines[0]


# ---------------------------------------------------------------------------
# Values at the edges of float32 and float64
# ---------------------------------------------------------------------------

def test_huge_feature_and_target_values_train_and_evaluate(tmp_path, capsys):
    rows = _good_rows(60)
    X = np.array([[a * 1e155, b] for a, b, _ in rows])
    y = np.array([c * 1e155 for *_, c in rows])
    data = tmp_path / "huge.csv"
    data.write_text("x1,x2,y\n" + "".join(f"{a!r},{b!r},{c!r}\n"
                                          for (a, b), c in zip(X.tolist(), y.tolist())))
    model = tmp_path / "m.npz"
    # a float32 model cannot take such raw values; the message says what can
    code, out, err = run(capsys, "train", data, *TRAIN_ARGS, "--out", model)
    check_error(code, err, f"{data}: row 2, column 'x1'", "beyond the range of a float32 model",
                "use --dtype float64")
    assert not model.exists()

    code, out, err = run(capsys, "train", data, *TRAIN_ARGS, "--dtype", "float64",
                         "--out", model)
    assert code == 0, err
    net = ln.load(model)
    scale = np.abs(X).max(axis=0)     # numpy's statistics of the scaled columns, scaled back
    np.testing.assert_allclose(net.layers[0].mean, (X / scale).mean(axis=0) * scale, rtol=1e-12)
    np.testing.assert_allclose(net.layers[0].std, (X / scale).std(axis=0) * scale, rtol=1e-12)
    y_std = net.metadata["target_statistics"]["std"][0]
    np.testing.assert_allclose(y_std, (y / 1e155).std() * 1e155, rtol=1e-12)

    code, out, err = run(capsys, "evaluate", model, data, "--target", "y")
    assert code == 0, err
    pred = net.predict(X)[:, 0]
    np.testing.assert_allclose(pred / 1e155, forward(net, X)[:, 0] / 1e155, rtol=1e-9)
    err_scaled = (pred - y) / 1e155
    m = values(out)
    # printed with 6 significant digits
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(err_scaled ** 2)) * 1e155, rel=1e-5)
    assert m["mae"] == pytest.approx(np.mean(np.abs(err_scaled)) * 1e155, rel=1e-5)
    assert m["loss"] == pytest.approx(np.mean(err_scaled ** 2) / (y_std / 1e155) ** 2, rel=1e-5)
    code, out, err = run(capsys, "predict", model, data)
    assert code == 0, err
    np.testing.assert_array_equal([float(v) for v in out.splitlines()[1:]], pred)


def test_value_beyond_float32(tmp_path, capsys, good_model):
    data = tmp_path / "far.csv"
    data.write_text("x1,x2,y\n0.5,1,2\n1e39,1,2\n")
    for command in ("predict", "evaluate"):
        argv = [command, good_model["model"], data] + (["--target", "y"] * (command == "evaluate"))
        code, out, err = run(capsys, *argv)
        check_error(code, err, f"{data}: row 3, column 'x1'", "the value 1e+39",
                    "beyond the range of a float32 model (numbers up to 3.4e+38)")
        assert out == ""
    code, out, err = run(capsys, "train", data, *TRAIN_ARGS, "--out", tmp_path / "m.npz")
    check_error(code, err, f"{data}: row 3, column 'x1'", "the value 1e+39",
                "use --dtype float64 for such values")
    code, out, err = run(capsys, "train", data, *TRAIN_ARGS, "--dtype", "float64",
                         "--out", tmp_path / "m.npz")
    assert code == 0, err


def test_non_finite_predictions_are_an_error(tmp_path, capsys):
    data = tmp_path / "extreme.csv"
    data.write_text("x,y\n" + "".join(f"{s},{s * 1e308!r}\n" for s in [-1.0, 1.0] * 10))
    model = tmp_path / "m.npz"
    train = ["train", data, "--target", "y", "--layers", "none", "--epochs", "2", "--val-split",
             "0", "-q", "--out", model]
    # float32 cannot hold the targets' standard deviation, 1e308
    code, out, err = run(capsys, *train)
    check_error(code, err, f"{data}: column 'y' has a standard deviation of 1e+308",
                "beyond the range of a float32 model", "use --dtype float64")
    code, out, err = run(capsys, *train, "--dtype", "float64")
    assert code == 0, err
    far = tmp_path / "far.csv"
    far.write_text("x,y\n1,1e308\n1e30,1e308\n")
    # x = 1e30 times a last layer scaled by 1e308 overflows float64
    for command in (["predict", model, far], ["evaluate", model, far]):
        code, out, err = run(capsys, *command)
        check_error(code, err, f"{far}: row 3: the model's prediction is not finite (inf); the "
                    f"inputs lie too far outside the training data for this float64 network")
        assert out == ""


def test_unusable_statistics_name_file_and_column(tmp_path, capsys):
    data = tmp_path / "tiny.csv"
    data.write_text("x1,x2,y\n" + "".join(f"{i},{(i % 2) * 5e-324!r},{i}\n" for i in range(10)))
    code, out, err = run(capsys, "train", data, *TRAIN_ARGS, "--out", tmp_path / "m.npz")
    check_error(code, err, f"{data}: column 'x2' cannot be standardized")
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------------------
# Failures from the library or the system: one line, exit status 2
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("exception, fragment, status", [
    (TypeError("metadata: not JSON-serialisable\nsecond line"),
     "metadata: not JSON-serialisable", 2),
    (MemoryError(), "out of memory", 2),
    (MemoryError("cannot allocate 8 GB"), "out of memory (cannot allocate 8 GB)", 2),
    (FloatingPointError("loss became non-finite"), "loss became non-finite; no model was written", 2),
    (RuntimeError("a defect"), "unexpected RuntimeError: a defect", 2),
    (KeyboardInterrupt(), None, 130),
])
def test_library_exceptions_end_in_one_line(tmp_path, capsys, monkeypatch, good_model,
                                            exception, fragment, status):
    def fail(*args, **kwargs):
        raise exception

    monkeypatch.setattr(ln.Network, "fit", fail)
    code, out, err = run(capsys, "train", good_model["csv"], *TRAIN_ARGS,
                         "--out", tmp_path / "m.npz")
    if status == 130:
        assert code == 130 and err.strip() == "layernet: interrupted"
    else:
        check_error(code, err, fragment)
    assert not (tmp_path / "m.npz").exists()


def test_read_error_from_the_file_system_is_one_line(tmp_path, capsys, monkeypatch, good_model):
    import errno

    import layernet.tabular as tabular

    def broken_disk(path):
        raise OSError(errno.EIO, "Input/output error", path)

    monkeypatch.setattr(tabular, "_read_csv", broken_disk)
    code, out, err = run(capsys, "predict", good_model["model"], good_model["csv"])
    check_error(code, err, f"{good_model['csv']}: cannot be read (Input/output error)")


@pytest.mark.parametrize("loss, method", [("mse", "predict"), ("cross_entropy", "predict_proba")])
def test_non_finite_network_output_names_the_row(tmp_path, capsys, monkeypatch, loss, method):
    # Stands in for a float32 network overflowing inside: the CLI must not print nan.
    data = tmp_path / "d.csv"
    data.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(12)))
    model = tmp_path / "m.npz"
    assert run(capsys, "train", data, "--target", "y", "--loss", loss, "--layers", "none",
               "--epochs", "1", "--val-split", "0", "-q", "--out", model)[0] == 0
    real = getattr(ln.Network, method)

    def with_nan_in_row_5(self, X, *args, **kwargs):
        out = np.array(real(self, X, *args, **kwargs), copy=True)
        out[3, 0] = np.nan
        return out

    monkeypatch.setattr(ln.Network, method, with_nan_in_row_5)
    code, out, err = run(capsys, "predict", model, data)
    check_error(code, err, f"{data}: row 5: the model's prediction is not finite (nan); the "
                f"inputs lie too far outside the training data for this float32 network")
    assert out == ""
