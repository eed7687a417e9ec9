"""The `layernet` command: train, predict, evaluate, info and demo.

    layernet train data.csv --target price --layers 64,32 --out model.npz
    layernet evaluate model.npz test.csv --target price
    layernet predict model.npz new.csv --out predictions.csv
    layernet info model.npz
    layernet demo

Data files are CSV with a header row (columns by name), .npy (a 2-D array,
columns by index) or .npz (arrays X and y, or one 2-D array); see
layernet.tabular. Features are standardized with the training rows' statistics,
which are kept in the model file's metadata so that predict and evaluate
apply the same transform. Regression targets are standardized too (the
reported rmse/mae and the predictions are in the targets' own units). Class
labels of a cross_entropy model may be any text; the label list is kept in
the model file and predictions print the original labels.

Every failure ends with one line on stderr, "layernet: error: ...", and exit
status 2: mistakes a person makes (a missing file, an unknown column, a bad
cell, a model that does not fit the data, a bad option value), values the
model's dtype cannot hold, non-finite predictions or metrics, and errors from
the library or the file system alike. Usage errors print the usage line
first, as argparse does. An interrupt (Ctrl-C) exits with status 130. This
module holds the command-line logic only; reading, splitting, standardizing
and the regression metrics live in layernet.tabular.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys

import numpy as np

from ._files import write_atomic
from .tabular import (CSV, XY, DataError, Standardizer, Table, check_in_range, read_table,
                      regression_metrics, sorted_labels, split_rows)

EXIT_USAGE = 2

# Metadata keys written by `layernet train` (the rest is shown by `info` as is).
_KNOWN_KEYS = ("features", "targets", "input", "labels", "standardize", "target_standardize",
               "source", "rows", "training", "metrics")


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


# ---------------------------------------------------------------------------
# Option parsing helpers
# ---------------------------------------------------------------------------

def _option_value(convert, accept, expected: str):
    """An argparse `type` that converts with `convert` and rejects values
    `accept` refuses, saying what was expected and what came."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_positive_int = _option_value(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _option_value(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _option_value(float, lambda v: bool(np.isfinite(v)) and v > 0, "a positive number")
_fraction = _option_value(float, lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")


def parse_layers(spec: str) -> list[int]:
    """Hidden layer widths from "64,32"; "none" (or "") means no hidden layer."""
    text = spec.strip().lower()
    if text in ("", "none"):
        return []
    widths = []
    for part in text.split(","):
        try:
            width = int(part.strip())
        except ValueError:
            width = 0
        if width < 1:
            raise CLIError(f"--layers: expected comma-separated positive integers such as 64,32 "
                           f"(or 'none'), got {spec!r}")
        widths.append(width)
    return widths


def _check_output(path: str, option: str) -> None:
    """Fail before any work when `path` cannot be written: its directory must exist."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{option}: {path} is a directory, expected a file name")
    if not os.path.isdir(directory):
        raise CLIError(f"{option}: the directory {directory} does not exist")


# ---------------------------------------------------------------------------
# Data <-> model
# ---------------------------------------------------------------------------

def _target_columns(table: Table, spec: str | None) -> list[str]:
    if spec is None:
        if table.kind == XY:
            return list(table.target_names)
        if table.kind == CSV:
            raise CLIError(f"--target is required for a CSV file: name the target column(s); "
                           f"the columns are: {', '.join(table.names)}")
        raise CLIError(f"--target is required for an .npy file or a single-array .npz: give "
                       f"the target column index(es), 0 to {table.n_columns - 1}")
    return table.resolve(spec, "--target")


def _load_model(path: str):
    """ln.load(path), with every failure turned into a one-line CLIError."""
    import layernet as ln

    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, expected a model file (.npz)")
    try:
        net = ln.load(path)
    except FileNotFoundError:
        raise CLIError(f"{path}: no such model file") from None
    except PermissionError:
        raise CLIError(f"{path}: permission denied") from None
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc).split("\n")[0]) from None
    return net


def _scaler(net, key: str, path: str) -> Standardizer:
    try:
        return Standardizer.from_dict(net.metadata[key])
    except KeyError:
        raise CLIError(f"{path}: the model's metadata has no {key!r} statistics; predict and "
                       f"evaluate need a model written by `layernet train`") from None
    except ValueError as exc:
        raise CLIError(f"{path}: the model's metadata is damaged ({exc})") from None


def model_inputs(net, table: Table, model_path: str) -> np.ndarray:
    """The model's feature columns from `table`, standardized as in training.

    A CSV model reads a CSV file's columns by name (other columns are
    ignored). Otherwise, an "xy" .npz gives its X; a file with exactly the
    model's number of columns is read in order; a file laid out like the
    training file (the model's feature columns present by name) gives those.
    """
    meta = net.metadata
    features = meta.get("features")
    if not isinstance(features, list) or len(features) != net.n_in:
        raise CLIError(f"{model_path}: the model's metadata has no valid feature list; predict "
                       f"and evaluate need a model written by `layernet train`")
    scaler = _scaler(net, "standardize", model_path)
    shown = ", ".join(features[:10]) + (", ..." if len(features) > 10 else "")
    if table.kind == CSV and meta.get("input") == CSV:
        missing = [f for f in features if f not in table.names]
        if missing:
            raise CLIError(f"{table.path}: missing feature column(s) {', '.join(missing)} that "
                           f"the model was trained on; the file's columns are: "
                           f"{', '.join(table.names)}")
        columns = features
    elif table.kind == XY:
        columns = table.feature_names
    elif table.n_columns == net.n_in:
        columns = table.names
    elif meta.get("input") != CSV and all(f in table.names for f in features):
        columns = features
    else:
        columns = table.names
    if len(columns) != net.n_in:
        raise CLIError(f"{table.path}: the model expects {net.n_in} feature column(s) ({shown}), "
                       f"the file has {len(columns)}")
    return _standardized(table, columns, scaler, net.dtype)


def _standardized(table: Table, columns: list[str], scaler: Standardizer, dtype) -> np.ndarray:
    """`columns` of `table` standardized by `scaler`, checked to fit a `dtype` network."""
    raw = table.numeric(columns)
    Z = scaler.transform(raw)
    check_in_range(Z, raw, dtype, table, columns)
    return Z


def model_targets(net, table: Table, targets: list[str], model_path: str) -> np.ndarray:
    """Targets in the form the network was trained on: class indices, or standardized values."""
    if net.loss_name == "cross_entropy":
        if len(targets) != 1:
            raise CLIError(f"--target: a classification model needs one label column, got "
                           f"{', '.join(targets)}")
        labels = net.metadata.get("labels")
        if not isinstance(labels, list) or len(labels) != net.n_out:
            raise CLIError(f"{model_path}: the model's metadata has no valid class list")
        index = {label: i for i, label in enumerate(labels)}
        values = table.labels(targets[0])
        unknown = sorted({v for v in values if v not in index})
        if unknown:
            raise CLIError(f"{table.path}: column {targets[0]!r} has label(s) "
                           f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} the "
                           f"model was not trained on (its classes: {', '.join(labels)})")
        return np.array([index[v] for v in values], dtype=np.int64)
    if len(targets) != net.n_out:
        raise CLIError(f"--target: the model predicts {net.n_out} target column(s), "
                       f"got {len(targets)} ({', '.join(targets)})")
    scaler = _scaler(net, "target_standardize", model_path)
    return _standardized(table, targets, scaler, net.dtype)


def _too_far(net) -> str:
    return (f"the inputs lie too far outside the training data for this "
            f"{np.dtype(net.dtype).name} network")


def metrics(net, X: np.ndarray, Y: np.ndarray, where: str = "the data") -> dict:
    """The network's loss, plus accuracy (classification) or rmse and mae in the
    targets' own units (regression; the loss is on standardized targets).
    CLIError, naming `where`, if a value is not finite."""
    result = {k: float(v) for k, v in net.evaluate(X, Y).items()}
    if net.loss_name != "cross_entropy" and all(map(math.isfinite, result.values())):
        scaler = Standardizer.from_dict(net.metadata["target_standardize"])
        pred = scaler.inverse(net.predict(X).astype(np.float64))
        if not np.isfinite(pred).all():
            raise CLIError(f"{where}: some predictions, in the targets' units, exceed the "
                           f"float64 range")
        result.update(regression_metrics(pred, scaler.inverse(Y)))
    for key, value in result.items():
        if not math.isfinite(value):
            reason = _too_far(net) if key == "loss" else "its value exceeds the float64 range"
            raise CLIError(f"{where}: the model's {key} is not finite ({value}); {reason}")
    return result


def _check_predictions(values: np.ndarray, table: Table, reason: str) -> None:
    """CLIError naming the first row of `table` whose prediction is not finite."""
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        r = int(bad[0])
        value = values[r][~np.isfinite(values[r])][0]
        raise CLIError(f"{table.path}: {table.row_text(r)}: the model's prediction is not "
                       f"finite ({value}); {reason}")


def _format_metrics(m: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" if k == "accuracy" else f"{k} {v:.6g}" for k, v in m.items())


def _architecture(net) -> str:
    return " -> ".join([str(net.n_in)] + [f"{layer.n_out} ({layer.activation})"
                                          for layer in net.layers])


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

def cmd_train(args) -> int:
    """Train a network on a data file and write the model (with its metadata)."""
    import layernet as ln

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError("--plot needs matplotlib, which is not installed: pip install "
                           "matplotlib (or drop --plot)") from None
        _check_output(args.plot, "--plot")
    _check_output(args.out, "--out")
    hidden = parse_layers(args.layers)

    table = read_table(args.data)
    targets = _target_columns(table, args.target)
    if args.features:
        features = table.resolve(args.features, "--features")
        overlap = [f for f in features if f in targets]
        if overlap:
            raise CLIError(f"--features: column(s) {', '.join(overlap)} are also targets")
    elif table.kind == XY:
        features = list(table.feature_names)
    else:
        features = [n for n in table.names if n not in targets]
    if not features:
        raise CLIError(f"{args.data}: no feature columns left besides the target(s) "
                       f"{', '.join(targets)}")
    if args.loss == "cross_entropy" and len(targets) != 1:
        raise CLIError(f"--target: cross_entropy needs one column of class labels, got "
                       f"{', '.join(targets)}")

    try:
        X_raw = table.numeric(features)
    except DataError as exc:
        if args.features:
            raise
        raise CLIError(f"{exc} (every column but the target is a feature unless --features "
                       f"names them)") from None
    dtype = np.dtype(args.dtype)
    train_rows, val_rows = split_rows(table.n_rows, args.val_split, args.seed)
    scaler = Standardizer.fit(X_raw[train_rows], features, args.data)
    X = scaler.transform(X_raw)
    check_in_range(X, X_raw, dtype, table, features)   # validation rows may lie far out
    metadata: dict = {"features": features, "targets": targets, "input": table.kind,
                      "standardize": scaler.to_dict()}
    if args.loss == "cross_entropy":
        values = table.labels(targets[0])
        labels = sorted_labels(values)
        if len(labels) < 2:
            raise CLIError(f"--target: column {targets[0]!r} holds a single class "
                           f"({labels[0]}); classification needs at least two")
        index = {label: i for i, label in enumerate(labels)}
        Y = np.array([index[v] for v in values], dtype=np.int64)
        n_out = len(labels)
        metadata["labels"] = labels
    else:
        Y_raw = table.numeric(targets)
        y_scaler = Standardizer.fit(Y_raw[train_rows], targets, args.data)
        Y = y_scaler.transform(Y_raw)
        check_in_range(Y, Y_raw, dtype, table, targets)
        n_out = len(targets)
        metadata["target_standardize"] = y_scaler.to_dict()

    widths = [len(features)] + hidden + [n_out]
    layers = [ln.Dense(a, b, activation=args.activation if i < len(hidden) else None)
              for i, (a, b) in enumerate(zip(widths, widths[1:]))]
    net = ln.Network(layers, dtype=dtype, seed=args.seed, loss=args.loss)
    net.metadata = metadata   # metrics() below reads the target statistics from it
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
    if args.optimizer == "adam":
        optimizer = ln.Adam(lr)
    else:
        optimizer = ln.SGD(lr, momentum=0.9 if args.optimizer == "momentum" else 0.0)
    callbacks = []
    monitor = "val_loss" if len(val_rows) else "loss"
    if args.patience is not None:
        callbacks.append(ln.EarlyStopping(monitor=monitor, patience=args.patience))

    Xt, Yt = X[train_rows], Y[train_rows]
    validation = (X[val_rows], Y[val_rows]) if len(val_rows) else None
    print(f"network: {_architecture(net)}, {net.n_params} parameters, {net.dtype}, "
          f"loss {net.loss_name}, {args.optimizer} lr {lr:g}")
    print(f"data: {args.data}, {len(features)} feature(s), target {', '.join(targets)}"
          + (f" ({n_out} classes)" if args.loss == "cross_entropy" else "")
          + f"; {len(train_rows)} training rows, {len(val_rows)} validation rows", flush=True)
    try:
        history = net.fit(Xt, Yt, epochs=args.epochs, batch_size=args.batch_size,
                          optimizer=optimizer, validation_data=validation, callbacks=callbacks,
                          shuffle=True, seed=args.seed, verbose=args.verbose)
    except FloatingPointError as exc:
        raise CLIError(f"{exc}; no model was written") from None
    sys.stderr.flush()

    try:
        results = {"train": metrics(net, Xt, Yt, f"{args.data} (training rows)")}
        if validation is not None:
            results["validation"] = metrics(net, *validation, f"{args.data} (validation rows)")
    except CLIError as exc:
        raise CLIError(f"{exc}; no model was written") from None
    for early in callbacks:
        if history.stopped_early and early.best_epoch is not None:
            print(f"stopped early after epoch {history.epochs[-1] + 1}; kept the best epoch, "
                  f"{early.best_epoch + 1} ({monitor} {early.best_value:.6g})")
    if history.interrupted:
        print("training was interrupted; saving the network as of its last completed step")
    for name, m in results.items():
        print(f"{name}: {_format_metrics(m)}")

    metadata.update({
        "source": os.path.basename(args.data),
        "rows": {"train": int(len(train_rows)), "validation": int(len(val_rows))},
        "training": {"layers": hidden, "activation": args.activation,
                     "optimizer": args.optimizer, "lr": lr, "epochs": len(history.epochs),
                     "batch_size": args.batch_size, "val_split": args.val_split,
                     "patience": args.patience, "seed": args.seed},
        "metrics": results,
    })
    net.save(args.out, include_optimizer=True, metadata=metadata)
    print(f"wrote {args.out}")
    if args.plot:
        plot_history(history, args.plot, title=os.path.basename(args.data))
        print(f"wrote {args.plot}")
    return 0


def plot_history(history, path: str, title: str = "") -> None:
    """Write the loss curve(s) of `history` as a PNG (atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [e + 1 for e in history.epochs]
    ax.plot(epochs, history.history["loss"], label="training loss")
    if "val_loss" in history.history:
        ax.plot(epochs, history.history["val_loss"], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)


def cmd_predict(args) -> int:
    """Write one prediction per data row (CSV) to --out or standard output."""
    if args.out:
        _check_output(args.out, "--out")
    net = _load_model(args.model)
    table = read_table(args.data)
    X = model_inputs(net, table, args.model)
    meta = net.metadata
    targets = meta.get("targets") or []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if net.loss_name == "cross_entropy":
        labels = meta.get("labels")
        if not isinstance(labels, list) or len(labels) != net.n_out:
            labels = [str(i) for i in range(net.n_out)]
        proba = net.predict_proba(X).astype(np.float64)
        _check_predictions(proba, table, _too_far(net))
        writer.writerow([targets[0] if targets else "label"] + [f"p_{label}" for label in labels])
        for row in proba:
            writer.writerow([labels[int(np.argmax(row))]] + [f"{p:.6g}" for p in row])
    else:
        scaler = _scaler(net, "target_standardize", args.model)
        standardized = net.predict(X).astype(np.float64)
        _check_predictions(standardized, table, _too_far(net))
        pred = scaler.inverse(standardized)
        _check_predictions(pred, table, "in the targets' units it exceeds the float64 range")
        if len(targets) != net.n_out:
            targets = [f"y{i}" for i in range(net.n_out)]
        writer.writerow(targets)
        # As many digits as the network's dtype carries (float32: 7 significant).
        text = (lambda v: f"{v:.7g}") if net.dtype == np.float32 else (lambda v: repr(float(v)))
        for row in pred:
            writer.writerow([text(v) for v in row])
    if args.out:
        write_atomic(args.out, lambda f: f.write(out.getvalue()), "w", newline="",
                     encoding="utf-8")
        print(f"wrote {X.shape[0]} predictions to {args.out}")
    else:
        sys.stdout.write(out.getvalue())
    return 0


def cmd_evaluate(args) -> int:
    """Print the model's loss (and accuracy, or rmse/mae) on labelled data."""
    net = _load_model(args.model)
    table = read_table(args.data)
    targets = _target_columns(table, args.target)
    X = model_inputs(net, table, args.model)
    Y = model_targets(net, table, targets, args.model)
    m = metrics(net, X, Y, args.data)
    print(f"{args.data}: {table.n_rows} rows")
    for key, value in m.items():
        print(f"{key}: {value:.4f}" if key == "accuracy" else f"{key}: {value:.6g}")
    return 0


def cmd_info(args) -> int:
    """Describe a model file: architecture, dtype, loss, parameters, features, metadata."""
    net = _load_model(args.model)
    meta = dict(net.metadata)
    if args.json:
        doc = {"architecture": [{"n_in": l.n_in, "n_out": l.n_out, "activation": l.activation}
                                for l in net.layers],
               "dtype": str(net.dtype), "loss": net.loss_name, "parameters": net.n_params,
               "epochs_trained": net.epochs_trained,
               "optimizer": net.optimizer.config() if net.optimizer is not None else None,
               "metadata": meta}
        print(json.dumps(doc, indent=2))
        return 0
    print(f"model: {args.model}")
    print(f"architecture: {_architecture(net)}")
    print(f"parameters: {net.n_params}")
    print(f"dtype: {net.dtype}")
    print(f"loss: {net.loss_name}")
    print(f"epochs trained: {net.epochs_trained}")
    if net.optimizer is not None:
        print(f"optimizer: {net.optimizer!r}, step {net.optimizer.step}")
    if "features" in meta:
        print(f"features ({len(meta['features'])}): {', '.join(map(str, meta['features']))}")
    if "targets" in meta:
        print(f"targets: {', '.join(map(str, meta['targets']))}")
    if "labels" in meta:
        print(f"classes ({len(meta['labels'])}): {', '.join(map(str, meta['labels']))}")
    if "standardize" in meta:
        print("standardized: features" + (" and targets" if "target_standardize" in meta else "")
              + " (statistics of the training rows)")
    for key in ("source", "rows", "training"):
        if key in meta:
            print(f"{key}: {json.dumps(meta[key])}")
    if isinstance(meta.get("metrics"), dict):
        for split, m in meta["metrics"].items():
            if isinstance(m, dict):
                print(f"{split} metrics: {_format_metrics(m)}")
    extra = {k: v for k, v in meta.items() if k not in _KNOWN_KEYS}
    if extra:
        print(f"metadata: {json.dumps(extra)}")
    return 0


def demo_data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals with a little noise, generated on the spot:
    (X float32 (n, 2), y int64 (n,) in {0, 1})."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3 * np.pi
    y = rng.integers(0, 2, n)
    sign = np.where(y == 0, 1.0, -1.0)
    X = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) / (3 * np.pi)
    X += rng.normal(0, 0.02, X.shape)
    return X.astype(np.float32), y.astype(np.int64)


def cmd_demo(args) -> int:
    """Classify two generated spirals; prints the loss per epoch and the test accuracy."""
    import layernet as ln

    X, y = demo_data()
    n_train = 480
    net = ln.Network([ln.Dense(2, 64, activation="relu"), ln.Dense(64, 64, activation="relu"),
                      ln.Dense(64, 2)], seed=0, loss="cross_entropy")
    info = ln.info()
    print(f"layernet demo: two interleaved spirals, {n_train} training and {len(X) - n_train} "
          f"test points")
    print(f"network: {_architecture(net)}, {net.n_params} parameters, Adam lr 0.01; "
          f"kernels {info['isa']}, {info['num_threads']} thread(s)")

    class PrintEpoch(ln.Callback):
        def on_epoch_end(self, net, epoch, logs):
            print(f"epoch {epoch + 1:3d}  loss {logs['loss']:.4f}  accuracy "
                  f"{logs['accuracy']:.3f}  test loss {logs['val_loss']:.4f}", flush=True)

    net.fit(X[:n_train], y[:n_train], epochs=args.epochs, batch_size=16,
            optimizer=ln.Adam(0.01), validation_data=(X[n_train:], y[n_train:]),
            callbacks=[PrintEpoch()], seed=0)
    result = net.evaluate(X[n_train:], y[n_train:])
    print(f"test accuracy: {result['accuracy']:.3f} (test loss {result['loss']:.4f})")
    return 0


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error prints the usage and then raises CLIError,
    so that main returns 2 with the usual "layernet: error:" line."""

    def error(self, message):
        self.print_usage(sys.stderr)
        raise CLIError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `layernet` command."""
    from . import __version__

    parser = _Parser(prog="layernet",
                     description="Train and use layernet networks on CSV, .npy and .npz files.",
                     epilog="Run 'layernet COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"layernet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a network on a data file and write the model",
                       description="Train a network on a CSV (with a header), .npy or .npz file. "
                       "Features are standardized; the statistics go into the model file.")
    p.add_argument("data", help="CSV with a header row, .npy (2-D array) or .npz (X and y, "
                   "or one 2-D array)")
    p.add_argument("--target", default=None, metavar="COLS",
                   help="target column(s), comma separated: CSV header names, or column indices "
                   "for .npy/.npz (optional for an .npz with X and y)")
    p.add_argument("--features", default=None, metavar="COLS",
                   help="feature column(s), comma separated (default: every other column)")
    p.add_argument("--layers", default="64,32", metavar="WIDTHS",
                   help="hidden layer widths, comma separated, or 'none' (default 64,32)")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"],
                   help="hidden layers' activation (default relu); the last layer is linear")
    p.add_argument("--loss", default="mse", choices=["mse", "cross_entropy"],
                   help="mse: regression; cross_entropy: classification of one label column")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "momentum", "adam"],
                   help="default adam; momentum is SGD with momentum 0.9")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default 0.001 for adam, 0.01 otherwise)")
    p.add_argument("--epochs", type=_positive_int, default=50, help="default 50")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="default 32")
    p.add_argument("--val-split", type=_fraction, default=0.1,
                   help="share of rows held out for validation, chosen at random with --seed "
                   "(default 0.1; 0 for none)")
    p.add_argument("--patience", type=_non_negative_int, default=None,
                   help="stop after this many epochs without improvement of the validation "
                   "loss (the training loss without validation) and keep the best epoch")
    p.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seeds the initial weights, the validation split and the shuffling")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument("--plot", default=None, help="also write a loss-curve PNG (needs matplotlib)")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                   help="progress on stderr: 0 none, 1 a bar per epoch (default), 2 a line per epoch")
    p.add_argument("-q", "--quiet", dest="verbose", action="store_const", const=0,
                   help="same as --verbose 0")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="predict with a model; writes CSV",
                       description="Predict one row per data row. The file must hold the model's "
                       "feature columns (by name for CSV); other columns are ignored. "
                       "Classification prints the label and each class's probability.")
    p.add_argument("model", help="model file written by 'layernet train'")
    p.add_argument("data", help="CSV, .npy or .npz with the feature columns")
    p.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="loss (and accuracy, or rmse) of a model on labelled data")
    p.add_argument("model", help="model file written by 'layernet train'")
    p.add_argument("data", help="CSV, .npy or .npz with the feature and target columns")
    p.add_argument("--target", default=None, metavar="COLS",
                   help="target column(s), as for train (optional for an .npz with X and y)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="train a small network on built-in data (a few seconds)")
    p.add_argument("--epochs", type=_positive_int, default=30, help="default 30")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default sys.argv[1:]); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except SystemExit as exc:   # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("layernet: interrupted", file=sys.stderr)
        return 130
    except (CLIError, DataError) as exc:
        return _fail(str(exc))
    except MemoryError as exc:
        return _fail(f"out of memory ({_first_line(exc)})" if str(exc) else "out of memory")
    except (ValueError, TypeError, FloatingPointError, OSError) as exc:
        # A check inside the library (an lr out of range, ...) or the file system (disk full).
        return _fail(_first_line(exc) or type(exc).__name__)
    except Exception as exc:   # a defect: still one line, never a traceback
        return _fail(f"unexpected {type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n")[0]


def _fail(message: str) -> int:
    """Print the one error line and return the exit status for failures."""
    message = " ".join(message.split("\n"))   # a column name may hold a line break
    print(f"layernet: error: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
