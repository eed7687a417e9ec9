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
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import layernet as ln
from child_python import child_env
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
    proc = subprocess.run([sys.executable, "-m", "layernet", "demo", "--epochs", "3"],
                          capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "epoch   3  loss" in proc.stdout and "test accuracy:" in proc.stdout


# ---------------------------------------------------------------------------
# Training options, against the same training done with the library
# ---------------------------------------------------------------------------

EPOCHS = 6
TWIN_ARGS = ["--target", "price", "--features", ",".join(FEATURES), "--layers", "8",
             "--epochs", str(EPOCHS), "--batch-size", "16", "--val-split", "0", "--verbose", "2"]


def epoch_lines(err: str) -> list[dict]:
    """The per-epoch lines of a training log: [{"loss": ..., "lr": ...}, ...]."""
    lines = []
    for line in err.splitlines():
        head, _, rest = line.partition(": ")
        if head.startswith("epoch ") and "/" in head:
            fields = dict(part.split(" ") for part in rest.split("  "))
            lines.append({key: float(value) for key, value in fields.items()})
    return lines


def twin(data, *, dropout=0.0, loss="mse", optimizer=None, callbacks=(), weights=None):
    """The library doing what `layernet train ... TWIN_ARGS` does: a Standardize layer, one
    hidden layer of 8, standardized targets; returns (predictions in price units, history)."""
    X, y = data["X"], data["price"]
    layers = [ln.Standardize(X.mean(axis=0), X.std(axis=0)), ln.Dense(3, 8, activation="relu")]
    layers += [ln.Dropout(dropout)] if dropout else []
    layers += [ln.Dense(8, 1)]
    net = ln.Network(layers, seed=0, loss=ln.Huber(1.0) if loss == "huber" else loss)
    history = net.fit(X, (y - y.mean()) / y.std(), epochs=EPOCHS, batch_size=16,
                      optimizer=optimizer or ln.Adam(1e-3), callbacks=list(callbacks), seed=0,
                      sample_weight=weights)
    return net.predict(X)[:, 0].astype(np.float64) * y.std() + y.mean(), history


def cosine(e):
    return 1e-3 * (1 + np.cos(np.pi * e / EPOCHS)) / 2


# option -> (the library's settings, the lr of each epoch by hand, or None)
OPTIONS = {
    "adamw": (["--optimizer", "adamw"], lambda: {"optimizer": ln.AdamW(1e-3)}, [1e-3] * EPOCHS),
    "rmsprop_clip": (["--optimizer", "rmsprop", "--clip-norm", "0.5"],
                     lambda: {"optimizer": ln.RMSprop(1e-3, clip_norm=0.5)}, [1e-3] * EPOCHS),
    "momentum": (["--optimizer", "momentum"],
                 lambda: {"optimizer": ln.SGD(1e-2, momentum=0.9)}, [1e-2] * EPOCHS),
    "dropout": (["--dropout", "0.3"], lambda: {"dropout": 0.3}, None),
    "cosine": (["--schedule", "cosine"],
               lambda: {"callbacks": [ln.CosineAnnealingLR(EPOCHS)]},
               [cosine(e) for e in range(EPOCHS)]),
    "step": (["--schedule", "step"], lambda: {"callbacks": [ln.StepLR(2, 0.1)]},
             [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5]),
    "warmup": (["--schedule", "warmup"], lambda: {"callbacks": [ln.LinearWarmup(1, 0.1)]},
               [1e-4] + [1e-3] * (EPOCHS - 1)),
    "plateau": (["--schedule", "plateau"],
                lambda: {"callbacks": [ln.ReduceLROnPlateau("loss", factor=0.5, patience=1)]},
                None),
    "huber": (["--loss", "huber"], lambda: {"loss": "huber"}, None),
    "mae": (["--loss", "mae"], lambda: {"loss": "mae"}, None),
}


@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_train_option_matches_the_library(tmp_path, capsys, data, case):
    argv, settings, lrs = OPTIONS[case]
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", data["csv"], *TWIN_ARGS, *argv, "--out", model)
    assert code == 0, err
    net = ln.load(model)
    expected, history = twin(data, **settings())
    np.testing.assert_allclose(net.predict(data["X"])[:, 0], expected, rtol=1e-5, atol=1e-4)
    logged = epoch_lines(err)
    assert len(logged) == EPOCHS
    np.testing.assert_allclose([e["loss"] for e in logged], history["loss"], rtol=1e-5)
    np.testing.assert_allclose([e["lr"] for e in logged], history["lr"], rtol=2e-3)
    if lrs is not None:     # the defaults derived from --epochs, by hand
        np.testing.assert_allclose(history["lr"], lrs, rtol=1e-12)
    if case == "plateau":   # patience 1: the lr halves after two epochs without improvement
        lr = history["lr"]
        assert all(b in (a, a / 2) for a, b in zip(lr, lr[1:]))
    assert net.metadata["training"]["schedule"] == (case if case in ("cosine", "step", "warmup",
                                                                     "plateau") else "none")


def test_dropout_layers_follow_each_hidden_layer(tmp_path, capsys, data):
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", data["csv"], "--target", "price", "--layers", "8,4",
                         "--features", ",".join(FEATURES), "--dropout", "0.25", *FAST,
                         "--out", model)
    assert code == 0, err
    net = ln.load(model)
    assert [l.kind for l in net.layers] == ["standardize", "dense", "dropout", "dense", "dropout",
                                            "dense"]
    assert [l.rate for l in net.layers if l.kind == "dropout"] == [0.25, 0.25]
    assert "3 -> standardize -> 8 (relu) -> dropout 0.25 -> 4 (relu) -> dropout 0.25 -> 1" in out
    # predict is deterministic: dropout is off outside training
    np.testing.assert_array_equal(net.predict(data["X"]), net.predict(data["X"]))
    np.testing.assert_allclose(net.predict(data["X"])[:, 0], forward(net, data["X"])[:, 0],
                               rtol=1e-5, atol=1e-4)


def test_huber_and_mae_report_their_loss_on_standardized_targets(tmp_path, capsys, data):
    y, y_std = data["price"], data["price"].std()
    for loss in ("huber", "mae"):
        model = tmp_path / f"{loss}.npz"
        assert run(capsys, "train", data["csv"], *TWIN_ARGS, "--loss", loss, "--out", model)[0] == 0
        net = ln.load(model)
        code, out, err = run(capsys, "evaluate", model, data["csv"])
        assert code == 0, err
        E = (net.predict(data["X"])[:, 0].astype(np.float64) - y) / y_std
        if loss == "huber":
            # delta is one standard deviation of the target: 1 on standardized targets
            assert net.loss_function.delta == pytest.approx(y_std, rel=1e-12)
            assert "loss (huber with delta 1 on standardized targets): " in out
            expected = np.mean(np.where(np.abs(E) <= 1, E ** 2 / 2, np.abs(E) - 0.5))
        else:
            assert "loss (mae on standardized targets): " in out
            expected = np.mean(np.abs(E))
        assert values(out)["loss"] == pytest.approx(expected, rel=1e-5)
        # the model's own loss is in price units: the library gives std**2 (huber) or std (mae)
        # times the standardized value
        factor = y_std ** 2 if loss == "huber" else y_std
        assert float(net.evaluate(data["X"], y)["loss"]) == pytest.approx(expected * factor,
                                                                         rel=1e-4)


def test_weight_column_weights_rows_and_is_not_a_feature(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 2))
    y = X[:, 0] - 2 * X[:, 1] + rng.normal(0, 0.3, 80)
    w = rng.integers(0, 4, 80).astype(float)
    path = tmp_path / "w.csv"
    path.write_text("a,b,weight,y\n" + "".join(f"{a!r},{b!r},{c!r},{t!r}\n" for (a, b), c, t
                                               in zip(X.tolist(), w.tolist(), y.tolist())))
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", path, "--target", "y", "--weight-column", "weight",
                         "--layers", "8", "--epochs", str(EPOCHS), "--batch-size", "16",
                         "--val-split", "0", "--verbose", "2", "--out", model)
    assert code == 0, err
    net = ln.load(model)
    assert net.metadata["features"] == ["a", "b"] and net.metadata["weight_column"] == "weight"
    assert "rows weighted by column 'weight'" in out

    layers = [ln.Standardize(X.mean(axis=0), X.std(axis=0)), ln.Dense(2, 8, activation="relu"),
              ln.Dense(8, 1)]
    library = ln.Network(layers, seed=0)
    library.fit(X, (y - y.mean()) / y.std(), epochs=EPOCHS, batch_size=16,
                optimizer=ln.Adam(1e-3), seed=0, sample_weight=w)
    expected = library.predict(X)[:, 0].astype(np.float64) * y.std() + y.mean()
    pred = net.predict(X)[:, 0].astype(np.float64)
    np.testing.assert_allclose(pred, expected, rtol=1e-5, atol=1e-4)

    # the training report is weighted too
    line = next(l for l in out.splitlines() if l.startswith("train (weighted by column "))
    fields = line.split(": ", 1)[1].split("  ")
    reported = {f.split(" ")[0]: float(f.split(" ")[1]) for f in fields}
    assert reported["rmse"] == pytest.approx(np.sqrt(np.average((pred - y) ** 2, weights=w)),
                                             rel=1e-5)
    assert reported["mae"] == pytest.approx(np.average(np.abs(pred - y), weights=w), rel=1e-5)


@pytest.mark.parametrize("cells, fragment", [
    ({5: "-1"}, "row 7, column 'weight'"),
    ({i: "0" for i in range(20)}, "--weight-column: the training rows' weights in column "
                                  "'weight' are all zero"),
    ({2: "heavy"}, "row 4, column 'weight'"),
])
def test_weight_column_errors(tmp_path, capsys, cells, fragment):
    rows = [[str(i), str(i % 3), "1", str(2 * i)] for i in range(20)]
    for r, cell in cells.items():
        rows[r][2] = cell
    path = tmp_path / "w.csv"
    path.write_text("a,b,weight,y\n" + "".join(",".join(r) + "\n" for r in rows))
    code, out, err = run(capsys, "train", path, "--target", "y", "--weight-column", "weight",
                         "--val-split", "0", *FAST, "--out", tmp_path / "m.npz")
    check_error(code, err, fragment)
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("extra, fragment", [
    (["--target", "price", "--class-weight", "balanced"],
     "--class-weight: balancing classes needs a classification loss (--loss cross_entropy or "
     "binary_cross_entropy), got --loss mse"),
    (["--target", "price", "--layers", "none", "--dropout", "0.5"],
     "--dropout: there is no hidden layer to apply it to (--layers none)"),
    (["--target", "price,x3", "--features", "x1,x2", "--loss", "huber"],
     "--target: huber needs one target column, got price, x3"),
    (["--target", "kind,price", "--loss", "binary_cross_entropy"],
     "--target: binary_cross_entropy needs one column of class labels"),
    (["--target", "kind", "--features", "x1,x2", "--loss", "binary_cross_entropy"],
     "--loss binary_cross_entropy: column 'kind' holds 3 classes (high, low, mid); binary "
     "cross-entropy tells two apart, use --loss cross_entropy for more"),
    (["--target", "price", "--weight-column", "price"], "--weight-column: column 'price' is a "
                                                        "target"),
    (["--target", "price", "--weight-column", "x1,x2"], "--weight-column: expected one column"),
    (["--target", "price", "--features", "x1,x2", "--weight-column", "x2"],
     "--features: column 'x2' holds the --weight-column weights"),
])
def test_toolkit_option_errors(tmp_path, capsys, data, extra, fragment):
    code, out, err = run(capsys, "train", data["csv"], *extra, *FAST, "--out", tmp_path / "m.npz")
    check_error(code, err, fragment)
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------------------
# Classification: binary cross-entropy, class weights, labels as the file spells them
# ---------------------------------------------------------------------------

def _imbalanced_csv(path: Path, labels=("benign", "malignant"), n: int = 200) -> dict:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, 2))
    positive = X[:, 0] + 0.5 * X[:, 1] > 1.3          # about 12% of the rows
    names = np.where(positive, labels[1], labels[0])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "u", "v", "diagnosis"])
        for i in range(n):
            w.writerow([f"p{i:03d}", repr(float(X[i, 0])), repr(float(X[i, 1])), names[i]])
    return {"X": X, "y": positive.astype(np.int64), "names": names}


def test_binary_cross_entropy_with_string_labels(tmp_path, capsys):
    d = _imbalanced_csv(tmp_path / "cells.csv")
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", tmp_path / "cells.csv", "--target", "diagnosis",
                         "--features", "u,v", "--loss", "binary_cross_entropy", "--layers", "8",
                         "--epochs", "20", "--lr", "0.01", "--val-split", "0", "-q",
                         "--out", model)
    assert code == 0, err
    assert "(2 classes)" in out and "(binary_cross_entropy, nats per row)" in out
    net = ln.load(model)
    assert net.classes == ["benign", "malignant"] and net.n_out == 1
    logits = forward(net, d["X"])[:, 0]
    p = 1 / (1 + np.exp(-logits))

    code, out, err = run(capsys, "predict", model, tmp_path / "cells.csv", "--keep", "id",
                         "--proba")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["id", "diagnosis", "p_malignant"]
    assert [r[0] for r in rows[1:]] == [f"p{i:03d}" for i in range(200)]
    assert [r[1] for r in rows[1:]] == list(net.predict_classes(d["X"]))
    assert [r[1] for r in rows[1:]] == list(np.where(logits > 0, "malignant", "benign"))
    printed = np.array([float(r[2]) for r in rows[1:]])
    np.testing.assert_allclose(printed, net.predict_proba(d["X"])[:, 0], rtol=6e-7, atol=1e-12)
    np.testing.assert_allclose(printed, p, rtol=1e-5, atol=1e-7)

    code, out, err = run(capsys, "evaluate", model, tmp_path / "cells.csv")
    assert code == 0, err
    m = values(out)
    t = d["y"]
    bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert m["loss"] == pytest.approx(bce, rel=1e-4)
    assert m["accuracy"] == pytest.approx(np.mean((logits > 0) == t), abs=1e-4)


def balanced_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[truth == c] == c) for c in np.unique(truth)]))


def test_class_weight_balanced_matches_the_library(tmp_path, capsys):
    d = _imbalanced_csv(tmp_path / "cells.csv", labels=("0", "1"))
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", tmp_path / "cells.csv", "--target", "diagnosis",
                         "--features", "u,v", "--loss", "binary_cross_entropy", "--layers", "8",
                         "--epochs", "20", "--lr", "0.01", "--val-split", "0",
                         "--class-weight", "balanced", "-q", "--out", model)
    assert code == 0, err
    assert "classes weighted to balance" in out
    net = ln.load(model)
    assert net.classes == [0, 1]                    # integers, as the file spells them
    X, y = d["X"], d["y"]
    library = ln.Network([ln.Standardize(X.mean(axis=0), X.std(axis=0)),
                          ln.Dense(2, 8, activation="relu"), ln.Dense(8, 1)],
                         seed=0, loss="binary_cross_entropy")
    library.fit(X, y.astype(float).reshape(-1, 1), epochs=20, batch_size=32,
                optimizer=ln.Adam(0.01), seed=0, class_weight="balanced")
    np.testing.assert_allclose(net.predict(X), library.predict(X), rtol=1e-4, atol=1e-4)
    # balancing lifts the rare class's recall: balanced accuracy at least that of no weights
    plain = tmp_path / "plain.npz"
    assert run(capsys, "train", tmp_path / "cells.csv", "--target", "diagnosis", "--features",
               "u,v", "--loss", "binary_cross_entropy", "--layers", "8", "--epochs", "20",
               "--lr", "0.01", "--val-split", "0", "-q", "--out", plain)[0] == 0
    weighted = balanced_accuracy(net.predict_classes(X), y)
    unweighted = balanced_accuracy(ln.load(plain).predict_classes(X), y)
    assert weighted >= unweighted


# ---------------------------------------------------------------------------
# Early stopping by default
# ---------------------------------------------------------------------------

def test_early_stopping_is_on_by_default_with_a_validation_split(tmp_path, capsys):
    # few noisy rows and a wide network: the validation loss turns up early
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5))
    y = X[:, 0] + rng.normal(0, 1.0, 60)
    path = tmp_path / "noisy.csv"
    path.write_text("a,b,c,d,e,y\n" + "".join(",".join(map(repr, r)) + "\n"
                                              for r in np.column_stack([X, y]).tolist()))
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", path, "--target", "y", "--layers", "128,128",
                         "--lr", "0.01", "--epochs", "200", "--val-split", "0.25", "--verbose",
                         "2", "--out", model)
    assert code == 0, err
    assert "early stopping: after 10 epochs without a lower validation loss" in out
    logged = epoch_lines(err)
    val = [e["val_loss"] for e in logged]
    best = int(np.argmin(val))
    assert len(logged) == best + 1 + 10 < 200      # stopped 10 epochs after the best
    assert f"stopped early after epoch {len(logged)}; kept the best epoch, {best + 1}" in out
    net = ln.load(model)
    assert net.metadata["training"]["patience"] == 10
    assert net.metadata["training"]["best_epoch"] == best + 1
    # the saved weights are the best epoch's: their validation loss is the logged minimum
    line = next(l for l in out.splitlines() if l.startswith("validation: "))
    assert float(line.split()[2]) == pytest.approx(val[best], rel=1e-4)

    # --patience 0 turns it off: every epoch runs
    code, out, err = run(capsys, "train", path, "--target", "y", "--layers", "8", "--epochs",
                         "15", "--val-split", "0.25", "--patience", "0", "--verbose", "2",
                         "--out", model)
    assert code == 0, err
    assert "early stopping" not in out and len(epoch_lines(err)) == 15
    assert ln.load(model).metadata["training"]["patience"] == 0

    # without a validation split it is off unless --patience asks for it
    code, out, err = run(capsys, "train", path, "--target", "y", "--layers", "8", "--epochs",
                         "15", "--val-split", "0", "--verbose", "2", "--out", model)
    assert code == 0, err
    assert "early stopping" not in out and len(epoch_lines(err)) == 15


# ---------------------------------------------------------------------------
# evaluate without --target, predict --keep and --proba
# ---------------------------------------------------------------------------

def test_evaluate_takes_the_target_from_the_model(tmp_path, capsys, data, model):
    code, with_target, err = run(capsys, "evaluate", model, data["csv"], "--target", "price")
    assert code == 0, err
    code, without, err = run(capsys, "evaluate", model, data["csv"])
    assert code == 0, err
    assert without.splitlines()[0] == f"{data['csv']}: 120 rows, target price"
    assert without.splitlines()[1:] == with_target.splitlines()[1:]
    # a file without the model's target column: say so, and how to name another
    p = tmp_path / "unlabelled.csv"
    p.write_text("x1,x2,x3,cost\n1,100,0.5,3\n")
    code, out, err = run(capsys, "evaluate", model, p)
    check_error(code, err, f"{p}: no column 'price', the model's target", "x1, x2, x3, cost",
                "--target")
    code, out, err = run(capsys, "evaluate", model, p, "--target", "cost")
    assert code == 0, err


def test_predict_keep_copies_columns(tmp_path, capsys, data, model):
    code, out, err = run(capsys, "predict", model, data["csv"], "--keep", "id,kind")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["id", "kind", "price"]
    assert [r[:2] for r in rows[1:]] == [[f"r{i}", k] for i, k in enumerate(data["kind"])]
    net = ln.load(model)
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], net.predict(data["X"])[:, 0],
                               rtol=6e-7)
    # keeping the target itself: the prediction column is renamed, not duplicated
    code, out, err = run(capsys, "predict", model, data["csv"], "--keep", "price")
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["price", "predicted_price"]
    assert [float(r[0]) for r in rows[1:]] == pytest.approx(data["price"].tolist(), rel=1e-15)
    code, out, err = run(capsys, "predict", model, data["csv"], "--keep", "nope")
    check_error(code, err, "no column 'nope'")


def test_predict_keep_with_an_array_file(tmp_path, capsys, data):
    table = np.column_stack([data["X"], data["price"]])
    np.save(tmp_path / "d.npy", table)
    model = tmp_path / "m.npz"
    assert run(capsys, "train", tmp_path / "d.npy", "--target", "3", *FAST, "--out", model)[0] == 0
    # a file of the features alone: columns "0", "1", "2" feed the model
    np.save(tmp_path / "feat.npy", data["X"])
    code, out, err = run(capsys, "predict", model, tmp_path / "feat.npy", "--keep", "0")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["0", "3"]
    assert [r[0] for r in rows[1:]] == [repr(float(v)) for v in data["X"][:, 0]]
    # the training layout, column "3" holding integer ids: printed without a decimal point
    np.save(tmp_path / "int_ids.npy", np.column_stack([data["X"], np.arange(120) * 10]))
    code, out, err = run(capsys, "predict", model, tmp_path / "int_ids.npy", "--keep", "3")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["3", "predicted_3"]
    assert [r[0] for r in rows[1:]] == [str(10 * i) for i in range(120)]


def test_proba_needs_a_classifier(tmp_path, capsys, data, model):
    code, out, err = run(capsys, "predict", model, data["csv"], "--proba")
    check_error(code, err, "--proba: class probabilities need a classification model",
                "is a regression (loss mse)")


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------

def test_text_target_with_a_regression_loss_suggests_classification(tmp_path, capsys, data):
    code, out, err = run(capsys, "train", data["csv"], "--target", "kind", "--features",
                         "x1,x2,x3", *FAST, "--out", tmp_path / "m.npz")
    first_seen = ", ".join(map(repr, dict.fromkeys(data["kind"].tolist())))
    check_error(code, err, f"--target: column 'kind' holds text (such as {first_seen})",
                "regression with --loss mse cannot fit", "use --loss cross_entropy")
    # one stray word in a numeric column is a bad cell, not a label column
    lines = data["csv"].read_text().splitlines()
    cells = lines[5].split(",")
    cells[4] = "n/a"
    lines[5] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "train", bad, "--target", "price", "--features", "x1,x2,x3",
                         *FAST, "--out", tmp_path / "m.npz")
    line = check_error(code, err, "row 6, column 'price'", "expected a number, got 'n/a'")
    assert "cross_entropy" not in line


def test_integer_classes_with_a_regression_loss_are_explained(tmp_path, capsys):
    path = tmp_path / "grades.csv"
    path.write_text("a,b,grade\n" + "".join(f"{i},{i % 5},{i % 3}\n" for i in range(30)))
    code, out, err = run(capsys, "train", path, "--target", "grade", *FAST,
                         "--out", tmp_path / "m.npz")
    assert code == 0, err
    assert ("note: target 'grade' holds only the integers 0, 1, 2; --loss mse treats them as "
            "numbers and predicts values in between; to predict them as classes use --loss "
            "cross_entropy") in out
    path.write_text("a,b,sick\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(30)))
    code, out, err = run(capsys, "train", path, "--target", "sick", *FAST,
                         "--out", tmp_path / "m.npz")
    assert "use --loss binary_cross_entropy" in out
    # many distinct integers are a count, not classes: no note
    path.write_text("a,b,count\n" + "".join(f"{i},{i % 5},{i * 7}\n" for i in range(30)))
    code, out, err = run(capsys, "train", path, "--target", "count", *FAST,
                         "--out", tmp_path / "m.npz")
    assert code == 0 and "note:" not in out


def test_float32_precision_note(tmp_path, capsys):
    path = tmp_path / "big.csv"
    path.write_text("pos,b,y\n" + "".join(f"{1e6 + (i % 7) * 0.5!r},{i % 5},{i % 4 + 0.5}\n"
                                          for i in range(30)))
    code, out, err = run(capsys, "train", path, "--target", "y", *FAST, "--out",
                         tmp_path / "m.npz")
    assert code == 0, err
    assert "note: a float32 model rounds the feature(s) 'pos' to steps above 1/1000 of a " \
           "standard deviation" in out and "--dtype float64" in out
    code, out, err = run(capsys, "train", path, "--target", "y", *FAST, "--dtype", "float64",
                         "--out", tmp_path / "m.npz")
    assert code == 0 and "note:" not in out


# ---------------------------------------------------------------------------
# Progress logs
# ---------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_logs_without_a_terminal_are_one_line_per_epoch(tmp_path, capsys, data, monkeypatch):
    argv = ["train", str(data["csv"]), "--target", "price", "--features", "x1,x2,x3",
            "--epochs", "4", "--patience", "0", "--out", str(tmp_path / "m.npz")]
    code, out, err = run(capsys, *argv)      # default --verbose 1, stderr captured: no tty
    assert code == 0, err
    assert "\r" not in err
    lines = err.splitlines()
    assert [l.split(":")[0] for l in lines] == [f"epoch {i}/4" for i in range(1, 5)]
    assert all("loss " in l and "val_loss " in l and "lr 0.001" in l for l in lines)

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    assert "\r" in terminal.getvalue() and "epoch 4/4" in terminal.getvalue()   # tqdm bars
    assert "epoch 1/4: loss" not in terminal.getvalue()

    code, out, err = run(capsys, *argv, "-q")
    assert code == 0 and err == ""


# ---------------------------------------------------------------------------
# The model file in Python predicts what `layernet predict` prints
# ---------------------------------------------------------------------------

def test_python_and_command_line_predictions_agree(tmp_path, capsys, data):
    """Default training (validation split, early stopping), float32, printed precision."""
    # regression
    model = tmp_path / "reg.npz"
    assert run(capsys, "train", data["csv"], "--target", "price", "--features", "x1,x2,x3",
               "-q", "--out", model)[0] == 0
    code, out, err = run(capsys, "predict", model, data["csv"])
    assert code == 0, err
    printed = np.array([float(v) for v in out.splitlines()[1:]])
    net = ln.load(model)
    from_python = net.predict(data["X"])[:, 0]
    assert np.all(np.abs(printed - from_python) <= 5e-7 * np.abs(from_python))
    # in target units: close to the price (the data is nearly linear)
    assert np.sqrt(np.mean((printed - data["price"]) ** 2)) < 0.5 * data["price"].std()

    # classification with string labels
    model = tmp_path / "cls.npz"
    assert run(capsys, "train", data["csv"], "--target", "kind", "--features", "x1,x2,x3",
               "--loss", "cross_entropy", "-q", "--out", model)[0] == 0
    code, out, err = run(capsys, "predict", model, data["csv"], "--proba")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    net = ln.load(model)
    assert rows[0] == ["kind"] + [f"p_{c}" for c in net.classes]
    assert [r[0] for r in rows[1:]] == list(net.predict_classes(data["X"]))
    proba = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    from_python = net.predict_proba(data["X"])
    assert np.all(np.abs(proba - from_python) <= 5e-7 * np.abs(from_python))


# ---------------------------------------------------------------------------
# Models written before models carried their preprocessing
# ---------------------------------------------------------------------------

V1 = Path(__file__).parent / "data" / "cli_v1"


def test_old_cli_model_files_predict_and_evaluate_as_before(tmp_path, capsys):
    rows = V1 / "rows.csv"
    code, out, err = run(capsys, "predict", V1 / "regression.npz", rows)
    assert code == 0, err
    assert out == (V1 / "regression_predict.csv").read_text()        # identical text
    code, out, err = run(capsys, "predict", V1 / "classifier.npz", rows, "--proba")
    assert code == 0, err
    new = list(csv.reader(out.splitlines()))
    old = list(csv.reader((V1 / "classifier_predict.csv").read_text().splitlines()))
    assert new[0] == old[0] and [r[0] for r in new] == [r[0] for r in old]
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in new[1:]],
                               [[float(v) for v in r[1:]] for r in old[1:]], rtol=1e-5)
    for name, target in (("regression", "y"), ("classifier", "kind")):
        recorded = values((V1 / f"{name}_evaluate.txt").read_text())
        for argv in ([], ["--target", target]):
            code, out, err = run(capsys, "evaluate", V1 / f"{name}.npz", rows, *argv)
            assert code == 0, err
            assert values(out) == pytest.approx(recorded, rel=1e-5)
    code, out, err = run(capsys, "info", V1 / "regression.npz")
    assert "standardized: features and targets (statistics of the training rows, in the " \
           "metadata)" in out


def test_old_layout_built_with_the_library(tmp_path, capsys, data):
    """A network on standardized values, its statistics in the metadata, as the command
    line used to write them."""
    X, y = data["X"], data["price"]
    net = ln.Network([ln.Dense(3, 4, activation="tanh"), ln.Dense(4, 1)], seed=3)
    meta = {"features": FEATURES, "targets": ["price"], "input": "csv",
            "standardize": {"mean": X.mean(axis=0).tolist(), "std": X.std(axis=0).tolist()},
            "target_standardize": {"mean": [float(y.mean())], "std": [float(y.std())]}}
    net.save(tmp_path / "old.npz", metadata=meta)
    code, out, err = run(capsys, "predict", tmp_path / "old.npz", data["csv"])
    assert code == 0, err
    expected = net.predict(standardized(X))[:, 0].astype(np.float64) * y.std() + y.mean()
    np.testing.assert_allclose([float(v) for v in out.splitlines()[1:]], expected, rtol=1e-6)
    code, out, err = run(capsys, "evaluate", tmp_path / "old.npz", data["csv"])
    assert code == 0, err
    m = values(out)
    ys = (y - y.mean()) / y.std()
    hand = net.predict(standardized(X))[:, 0].astype(np.float64)
    assert "loss (mse on standardized targets): " in out
    assert m["loss"] == pytest.approx(np.mean((hand - ys) ** 2), rel=1e-5)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((expected - y) ** 2)), rel=1e-5)

    # classifier with its labels in the metadata
    net = ln.Network([ln.Dense(3, 3)], seed=3, loss="cross_entropy")
    meta = {"features": FEATURES, "targets": ["kind"], "input": "csv",
            "labels": ["high", "low", "mid"], "standardize": meta["standardize"]}
    net.save(tmp_path / "old_cls.npz", metadata=meta)
    code, out, err = run(capsys, "predict", tmp_path / "old_cls.npz", data["csv"])
    assert code == 0, err
    labels = np.array(["high", "low", "mid"])
    assert out.splitlines()[1:] == list(labels[net.predict(standardized(X)).argmax(axis=1)])

    # a prediction that overflows once scaled back to the targets' units
    net = ln.Network([ln.Dense(3, 1)], seed=3)
    net.layers[0].W = np.full((3, 1), 10.0)
    meta = {"features": FEATURES, "targets": ["price"], "input": "csv",
            "standardize": meta["standardize"],
            "target_standardize": {"mean": [0.0], "std": [1e308]}}
    net.save(tmp_path / "old_huge.npz", metadata=meta)
    code, out, err = run(capsys, "predict", tmp_path / "old_huge.npz", data["csv"])
    check_error(code, err, "the model's prediction is not finite (inf); in the targets' units "
                "it exceeds the float64 range")


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
    return subprocess.run([sys.executable, "-m", "layernet", *map(str, argv)],
                          capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=120)


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


# ---------------------------------------------------------------------------
# export (ONNX) and --distributed (MPI)
# ---------------------------------------------------------------------------

def test_export_writes_an_onnx_model_that_predicts_like_the_file(data, tmp_path, capsys):
    import onnxruntime
    model, onnx_path = tmp_path / "m.npz", tmp_path / "m.onnx"
    assert run(capsys, "train", data["csv"], "--target", "kind", "--loss", "cross_entropy",
               "--features", ",".join(FEATURES), "--out", model, *FAST)[0] == 0
    code, out, err = run(capsys, "export", model, onnx_path, "--output", "both")
    assert code == 0 and err == ""
    assert out.strip() == f"wrote {onnx_path} (opset 17, outputs: both)"
    net = ln.load(model)
    session = onnxruntime.InferenceSession(str(onnx_path))
    X = data["X"][:17].astype(np.float32)
    raw, proba = session.run(["outputs", "probabilities"], {"inputs": X})
    np.testing.assert_allclose(raw, net.predict(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(proba, net.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_export_errors_are_one_line(data, tmp_path, capsys):
    code, out, err = run(capsys, "export", tmp_path / "missing.npz", tmp_path / "m.onnx")
    assert code == 2 and err.count("layernet: error:") == 1 and "missing.npz" in err
    code, _, err = run(capsys, "export", data["csv"], tmp_path / "no_dir" / "m.onnx")
    assert code == 2 and "does not exist" in err


def test_distributed_training_prints_and_writes_once(data, tmp_path):
    """Two MPI processes train together; rank 0 alone prints and writes."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
    assert mpiexec, 'mpiexec not found: install the test extra (pip install "layernet[test]")'
    env = child_env({k: v for k, v in os.environ.items() if not k.startswith(("PMI", "OMPI_"))},
                    LAYERNET_NUM_THREADS="1")
    model = tmp_path / "d.npz"
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", "-m", "layernet",
                           "train", str(data["csv"]), "--target", "price", "--features",
                           ",".join(FEATURES), "--out", str(model), "--distributed", *FAST],
                          capture_output=True, text=True, env=env, timeout=180, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"wrote {model}") == 1
    assert done.stdout.count("network:") == 1
    assert ln.load(model).n_in == 3


def test_lr_scaling_needs_distributed(data, tmp_path, capsys):
    code, _, err = run(capsys, "train", data["csv"], "--target", "price", "--out",
                       tmp_path / "m.npz", "--lr-scaling", "linear", *FAST)
    assert code == 2 and "--distributed" in err
