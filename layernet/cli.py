"""The `layernet` command: train, predict, evaluate, info and demo.

    layernet train data.csv --target price --layers 64,32 --out model.npz
    layernet evaluate model.npz test.csv
    layernet predict model.npz new.csv --keep id --out predictions.csv
    layernet info model.npz
    layernet demo

Data files are CSV with a header row (columns by name), .npy (a 2-D array,
columns by index) or .npz (arrays X and y, or one 2-D array); see
layernet.tabular.

A model written by `layernet train` carries its preprocessing, so that
ln.load(model).predict(raw_rows), predict_proba and predict_classes give
what `layernet predict` prints for the same rows:

- its first layer, ln.Standardize, standardizes the features with the
  training rows' means and standard deviations;
- a classifier keeps its class labels in net.classes: the data file's text,
  or integers (numbers) when every label is one;
- a regression trains on standardized targets, (y - mean) / std with the
  training rows' statistics, which suits the default learning rates
  whatever the targets' scale. After training, the last Dense layer is
  rescaled (W * std, B * std + mean), so the saved network predicts in the
  targets' own units. The statistics stay in the metadata
  ("target_statistics") for the loss reports; the optimizer state, which
  belongs to the standardized problem, is not saved with a regression.

The `loss` a report prints names its definition and units: a regression's
loss is taken on standardized targets (the scale the epoch losses, the
validation loss and early stopping use), while rmse, mae and r2 are in the
targets' units; a classifier's loss is the mean cross-entropy per row in
nats. Models of the metadata layout are read too: their statistics sit in
the metadata keys "standardize" and "target_standardize", and their network
works on standardized inputs and outputs, which predict and evaluate
standardize and undo around it.

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
import contextlib
import csv
import io
import json
import math
import os
import sys

import numpy as np

from ._files import write_atomic
from .callbacks import Callback
from .tabular import (CSV, XY, DataError, Standardizer, Table, check_in_range,
                      check_representable, class_text, class_values, coarse_columns,
                      integer_levels, r_squared, read_table, regression_metrics, sorted_labels,
                      split_rows)

EXIT_USAGE = 2

REGRESSION_LOSSES = ("mse", "mae", "huber")
CLASSIFICATION_LOSSES = ("cross_entropy", "binary_cross_entropy")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "cosine", "step", "plateau", "warmup")
#: early stopping's patience when there is a validation split and --patience is not given
DEFAULT_PATIENCE = 10

# Metadata keys written by `layernet train` (the rest is shown by `info` as is).
_KNOWN_KEYS = ("features", "targets", "input", "labels", "standardize", "target_standardize",
               "target_statistics", "weight_column", "source", "rows", "training", "metrics")


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


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # no isatty, or a closed stream
        return False


# ---------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------

def _load_model(path: str) -> "Model":
    """The model file at `path`, with every failure turned into a one-line CLIError."""
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
    return Model(net, path)


class Model:
    """A network and how the command line feeds it.

    stats_in_metadata: the metadata layout (feature and target statistics in
    the metadata, the network working on standardized values). Otherwise the
    network takes raw feature values and a regression's outputs are in the
    targets' units.
    """

    def __init__(self, net, path: str):
        self.net = net
        self.path = path
        self.stats_in_metadata = "standardize" in net.metadata

    @property
    def is_classifier(self) -> bool:
        return bool(self.net.loss_function.has_proba)

    @property
    def targets(self) -> list[str] | None:
        """The target column names the model was trained on, when its metadata has them."""
        targets = self.net.metadata.get("targets")
        if isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets):
            return targets
        return None

    def features(self) -> list[str]:
        features = self.net.metadata.get("features")
        if (not isinstance(features, list) or len(features) != self.net.n_in
                or not all(isinstance(f, str) for f in features)):
            raise CLIError(f"{self.path}: the model's metadata has no valid feature list; "
                           f"predict and evaluate need a model written by `layernet train`")
        return features

    def statistics(self, key: str) -> Standardizer:
        try:
            return Standardizer.from_dict(self.net.metadata[key])
        except KeyError:
            raise CLIError(f"{self.path}: the model's metadata has no {key!r} statistics; "
                           f"predict and evaluate need a model written by `layernet train`") from None
        except ValueError as exc:
            raise CLIError(f"{self.path}: the model's metadata is damaged ({exc})") from None

    def target_statistics(self) -> Standardizer | None:
        """The statistics the targets were standardized with for training (None
        for a network trained some other way)."""
        if self.stats_in_metadata:
            return self.statistics("target_standardize")
        if "target_statistics" not in self.net.metadata:
            return None
        stats = self.statistics("target_statistics")
        if stats.n_columns != self.net.n_out:
            raise CLIError(f"{self.path}: the model's metadata is damaged (target statistics "
                           f"for {stats.n_columns} columns, the network has {self.net.n_out} "
                           f"outputs)")
        return stats

    def class_labels(self) -> list[str]:
        """The classes as text, in the order of the network's class indices."""
        net = self.net
        n = net.loss_function.n_classes(net.n_out)
        if n is None:
            raise CLIError(f"{self.path}: this {net.loss_name} model has {net.n_out} independent "
                           f"yes/no outputs; layernet predict and evaluate handle one label "
                           f"column (use the model from Python)")
        if net.classes is not None:
            return [class_text(c) for c in net.classes]
        labels = net.metadata.get("labels")
        if isinstance(labels, list) and len(labels) == n:
            return [str(label) for label in labels]
        return [str(i) for i in range(n)]

    def loss_text(self) -> str:
        """What the loss a report prints is: its definition and units."""
        loss = self.net.loss_function
        if self.is_classifier:
            return f"{loss.name}, nats per row"
        stats = None
        if self.stats_in_metadata or loss.name in REGRESSION_LOSSES:
            stats = self.target_statistics()
        if stats is not None:
            if loss.name == "huber":
                delta = self.standardized_delta(stats)
                return f"huber with delta {delta:.6g} on standardized targets"
            return f"{loss.name} on standardized targets"
        units = "target units" if loss.name == "mae" else "squared target units"
        return f"{loss.name}, in {units}"

    def standardized_delta(self, stats: Standardizer) -> float:
        """A Huber model's delta on standardized targets (its own is in target units)."""
        return self.net.loss_function.delta / float(stats.std[0])


def _input_columns(model: Model, table: Table) -> list[str]:
    """The columns of `table` that feed the model, in its feature order.

    A CSV model reads a CSV file's columns by name (other columns are
    ignored). Otherwise, an "xy" .npz gives its X; a file with exactly the
    model's number of columns is read in order; a file laid out like the
    training file (the model's feature columns present by name) gives those.
    """
    net, meta = model.net, model.net.metadata
    features = model.features()
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
    return columns


def model_inputs(model: Model, table: Table) -> np.ndarray:
    """The model's feature columns from `table` as the network takes them: raw
    values (checked to fit its dtype), or standardized for a model of the metadata layout."""
    columns = _input_columns(model, table)
    raw = table.numeric(columns)
    if model.stats_in_metadata:
        Z = model.statistics("standardize").transform(raw)
        check_in_range(Z, raw, model.net.dtype, table, columns)
        return Z
    check_representable(raw, model.net.dtype, table, columns)
    return raw


def model_targets(model: Model, table: Table, targets: list[str]) -> np.ndarray:
    """The targets of `table` as evaluation takes them: class indices
    (binary_cross_entropy: a float column of 0 and 1), or regression values in
    the targets' units."""
    net = model.net
    if model.is_classifier:
        if len(targets) != 1:
            raise CLIError(f"--target: a classification model needs one label column, got "
                           f"{', '.join(targets)}")
        labels = model.class_labels()
        index = {label: i for i, label in enumerate(labels)}
        values = table.labels(targets[0])
        unknown = sorted({v for v in values if v not in index})
        if unknown:
            raise CLIError(f"{table.path}: column {targets[0]!r} has label(s) "
                           f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} the "
                           f"model was not trained on (its classes: {', '.join(labels)})")
        indices = np.array([index[v] for v in values], dtype=np.int64)
        if net.loss_name == "binary_cross_entropy":
            return indices.astype(np.float64).reshape(-1, 1)
        return indices
    if len(targets) != net.n_out:
        raise CLIError(f"--target: the model predicts {net.n_out} target column(s), "
                       f"got {len(targets)} ({', '.join(targets)})")
    return table.numeric(targets)


def _too_far(net) -> str:
    return (f"the inputs lie too far outside the training data for this "
            f"{np.dtype(net.dtype).name} network")


def _check_predictions(values: np.ndarray, table: Table | None, reason: str, where: str = "",
                       rows: np.ndarray | None = None) -> None:
    """CLIError naming the first row (of `table`, `rows` mapping positions to
    its rows, else of `where`) whose prediction is not finite."""
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        r = int(bad[0])
        value = values[r][~np.isfinite(values[r])][0]
        if table is not None:
            place = f"{table.path}: {table.row_text(int(rows[r]) if rows is not None else r)}"
        else:
            place = where
        raise CLIError(f"{place}: the model's prediction is not finite ({value}); {reason}")


def regression_predictions(model: Model, X: np.ndarray, table: Table | None, where: str = "",
                           rows: np.ndarray | None = None) -> np.ndarray:
    """The model's predictions in the targets' units (float64), checked finite."""
    out = model.net.predict(X).astype(np.float64)
    _check_predictions(out, table, _too_far(model.net), where, rows)
    if model.stats_in_metadata:
        out = model.target_statistics().inverse(out)
        _check_predictions(out, table, "in the targets' units it exceeds the float64 range",
                           where, rows)
    return out


def _loss_on_standardized(name: str, Zp: np.ndarray, Zt: np.ndarray, w, delta: float) -> float:
    """The regression loss `name` of standardized predictions Zp against
    standardized targets Zt: the (w-weighted) mean over rows of each row's mean
    over outputs, as the library's losses define it."""
    with np.errstate(over="ignore", invalid="ignore"):
        E = Zp - Zt
        A = np.abs(E)
        if name == "mse":
            per_row = np.mean(E * E, axis=1)
        elif name == "mae":
            per_row = np.mean(A, axis=1)
        else:   # huber
            per_row = np.mean(np.where(A <= delta, 0.5 * E * E, delta * (A - 0.5 * delta)), axis=1)
        return float(np.average(per_row, weights=w))


def evaluation(model: Model, X: np.ndarray, T: np.ndarray, where: str, table: Table | None = None,
               columns: list[str] | None = None, rows: np.ndarray | None = None,
               sample_weight=None) -> dict:
    """The model's loss (see Model.loss_text) and accuracy, or rmse, mae and
    r2 in the targets' units. T is what model_targets gives, from `columns` of
    `table` (rows: which of its rows, when not all). CLIError naming `where`
    (or the row) if a value is not finite."""
    net = model.net
    if model.is_classifier:
        result = {k: float(v) for k, v in net.evaluate(X, T, sample_weight).items()}
    else:
        pred = regression_predictions(model, X, table, where, rows)
        stats = model.target_statistics()
        if model.stats_in_metadata:
            Z = stats.transform(T)
            if table is not None and rows is None and columns:
                check_in_range(Z, T, net.dtype, table, columns)
            loss = float(net.evaluate(X, Z, sample_weight)["loss"])
        elif stats is not None and net.loss_name in REGRESSION_LOSSES:
            delta = model.standardized_delta(stats) if net.loss_name == "huber" else 0.0
            loss = _loss_on_standardized(net.loss_name, stats.transform(pred), stats.transform(T),
                                         sample_weight, delta)
        else:
            loss = float(net.evaluate(X, T, sample_weight)["loss"])
        result = {"loss": loss, **regression_metrics(pred, T, sample_weight),
                  "r2": r_squared(pred, T, sample_weight)}
    for key, value in result.items():
        if not math.isfinite(value):
            reason = _too_far(net) if key == "loss" else "its value exceeds the float64 range"
            raise CLIError(f"{where}: the model's {key} is not finite ({value}); {reason}")
    return result


def _format_metrics(m: dict, loss_text: str | None = None) -> str:
    parts = []
    for key, value in m.items():
        if not isinstance(value, (int, float)):
            continue
        text = f"{key} {value:.4f}" if key == "accuracy" else f"{key} {value:.6g}"
        if key == "loss" and loss_text:
            text += f" ({loss_text})"
        parts.append(text)
    return "  ".join(parts)


def _architecture(net) -> str:
    parts = [str(net.n_in)]
    for layer in net.layers:
        if layer.kind == "standardize":
            parts.append("standardize")
        elif layer.kind == "dropout":
            parts.append(f"dropout {layer.rate:g}")
        else:
            parts.append(f"{layer.n_out} ({layer.activation})")
    return " -> ".join(parts)


# ---------------------------------------------------------------------------
# Training: columns, targets, network, schedule
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


def _weight_column(table: Table, spec: str | None, targets: list[str]) -> str | None:
    if spec is None:
        return None
    columns = table.resolve(spec, "--weight-column")
    if len(columns) != 1:
        raise CLIError(f"--weight-column: expected one column, got {', '.join(columns)}")
    if columns[0] in targets:
        raise CLIError(f"--weight-column: column {columns[0]!r} is a target")
    return columns[0]


def _feature_columns(table: Table, spec: str | None, targets: list[str],
                     weight_column: str | None) -> list[str]:
    if spec:
        features = table.resolve(spec, "--features")
        overlap = [f for f in features if f in targets]
        if overlap:
            raise CLIError(f"--features: column(s) {', '.join(overlap)} are also targets")
        if weight_column in features:
            raise CLIError(f"--features: column {weight_column!r} holds the --weight-column "
                           f"weights, which are not a feature")
    elif table.kind == XY:
        features = [n for n in table.feature_names if n != weight_column]
    else:
        features = [n for n in table.names if n not in targets and n != weight_column]
    if not features:
        raise CLIError(f"{table.path}: no feature columns left besides the target(s) "
                       f"{', '.join(targets)}")
    return features


def _row_weights(table: Table, column: str, dtype, train_rows: np.ndarray,
                 val_rows: np.ndarray) -> np.ndarray:
    """Column `column` as per-row sample weights: finite numbers >= 0, with a
    positive sum over the training rows and over the validation rows."""
    w = table.numeric([column])
    check_representable(w, dtype, table, [column])
    w = w[:, 0]
    negative = np.flatnonzero(w < 0)
    if negative.size:
        r = int(negative[0])
        raise DataError(f"{table.path}: {table.cell_text(r, column)}: expected a weight >= 0, "
                        f"got {w[r]:.6g}")
    for part, rows in (("training", train_rows), ("validation", val_rows)):
        if len(rows) and not w[rows].sum() > 0:
            raise CLIError(f"--weight-column: the {part} rows' weights in column {column!r} are "
                           f"all zero; at least one must be positive")
    return w


def _class_targets(table: Table, column: str, loss: str) -> tuple[np.ndarray, list]:
    """(targets for the network, class values) of a label column: class indices
    for cross_entropy, a 0/1 float column for binary_cross_entropy (the second
    class in sorted order is 1)."""
    values = table.labels(column)
    labels = sorted_labels(values)
    if len(labels) < 2:
        raise CLIError(f"--target: column {column!r} holds a single class ({labels[0]}); "
                       f"classification needs at least two")
    if loss == "binary_cross_entropy" and len(labels) != 2:
        shown = ", ".join(labels[:6]) + (", ..." if len(labels) > 6 else "")
        raise CLIError(f"--loss binary_cross_entropy: column {column!r} holds {len(labels)} "
                       f"classes ({shown}); binary cross-entropy tells two apart, use --loss "
                       f"cross_entropy for more")
    index = {label: i for i, label in enumerate(labels)}
    indices = np.array([index[v] for v in values], dtype=np.int64)
    if loss == "binary_cross_entropy":
        return indices.astype(np.float64).reshape(-1, 1), class_values(labels)
    return indices, class_values(labels)


def _regression_targets(table: Table, targets: list[str], loss: str) -> np.ndarray:
    """The target columns as numbers; a column that is mostly text gets advice
    to classify it instead."""
    try:
        return table.numeric(targets)
    except DataError:
        for column in targets:
            count, examples = table.text_cells(column)
            if count and 2 * count >= table.n_rows:
                raise CLIError(
                    f"--target: column {column!r} holds text (such as "
                    f"{', '.join(map(repr, examples))}), which a regression with --loss {loss} "
                    f"cannot fit; to classify these labels use --loss cross_entropy (or --loss "
                    f"binary_cross_entropy for two classes)") from None
        raise


def _integer_target_notes(Y: np.ndarray, targets: list[str], loss: str) -> list[str]:
    notes = []
    for j, column in enumerate(targets):
        levels = integer_levels(Y[:, j])
        if levels is not None and 2 <= len(levels) < len(Y):
            classify = "binary_cross_entropy" if len(levels) == 2 else "cross_entropy"
            notes.append(f"note: target {column!r} holds only the integers "
                         f"{', '.join(map(str, levels))}; --loss {loss} treats them as numbers "
                         f"and predicts values in between; to predict them as classes use "
                         f"--loss {classify}")
    return notes


def _coarse_note(scaler: Standardizer, names: list[str], dtype, what: str) -> list[str]:
    coarse = coarse_columns(scaler, names, dtype)
    if not coarse:
        return []
    shown = ", ".join(map(repr, coarse))
    return [f"note: a {np.dtype(dtype).name} model rounds the {what} {shown} to steps above "
            f"1/1000 of a standard deviation (large values that vary little); --dtype float64 "
            f"keeps their precision"]


def _check_statistics(scaler: Standardizer, names: list[str], dtype, source: str) -> None:
    """CLIError when a mean or standard deviation is beyond what `dtype` holds."""
    limit = float(np.finfo(dtype).max)
    for j, name in enumerate(names):
        if not (abs(scaler.mean[j]) <= limit and scaler.std[j] <= limit):
            raise CLIError(f"{source}: column {name!r} has a standard deviation of "
                           f"{scaler.std[j]:.3g}, beyond the range of a {np.dtype(dtype).name} "
                           f"model (numbers up to {limit:.3g}); use --dtype float64")


def _build_network(args, n_features: int, hidden: list[int], n_out: int, scaler: Standardizer,
                   dtype):
    import layernet as ln

    layers = [ln.Standardize(scaler.mean, scaler.std)]
    widths = [n_features] + hidden
    for a, b in zip(widths, widths[1:]):
        layers.append(ln.Dense(a, b, activation=args.activation))
        if args.dropout:
            layers.append(ln.Dropout(args.dropout))
    layers.append(ln.Dense(widths[-1], n_out))
    loss = ln.Huber(1.0) if args.loss == "huber" else args.loss
    return ln.Network(layers, dtype=dtype, seed=args.seed, loss=loss)


def _optimizer(name: str, lr: float, clip_norm: float | None):
    import layernet as ln

    if name in ("sgd", "momentum"):
        return ln.SGD(lr, momentum=0.9 if name == "momentum" else 0.0, clip_norm=clip_norm)
    kind = {"adam": ln.Adam, "adamw": ln.AdamW, "rmsprop": ln.RMSprop}[name]
    return kind(lr, clip_norm=clip_norm)


def _default_lr(optimizer: str) -> float:
    return 1e-2 if optimizer in ("sgd", "momentum") else 1e-3


def _schedule(name: str, epochs: int, lr: float, monitor: str, patience: int):
    """(the schedule callback or None, a description) for --schedule `name`,
    its settings derived from the number of epochs and early stopping's patience."""
    import layernet as ln

    if name == "cosine":
        return (ln.CosineAnnealingLR(T_max=epochs),
                f"cosine annealing of the lr from {lr:g} to 0 over {epochs} epochs")
    if name == "step":
        step = max(1, epochs // 3)
        return ln.StepLR(step, gamma=0.1), f"lr times 0.1 every {step} epochs"
    if name == "warmup":
        warm = max(1, epochs // 10)
        return (ln.LinearWarmup(warm, start_factor=0.1),
                f"lr rising linearly from {0.1 * lr:g} to {lr:g} over {warm} epochs")
    if name == "plateau":
        wait = max(1, patience // 2 - 1) if patience else max(1, epochs // 10)
        what = "validation loss" if monitor == "val_loss" else "training loss"
        return (ln.ReduceLROnPlateau(monitor, factor=0.5, patience=wait),
                f"lr halved after {wait + 1} epochs without a lower {what}")
    return None, ""


class EpochLines(Callback):
    """One line per epoch on stderr (logs without a terminal, or --verbose 2)."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.count = 0

    def on_epoch_end(self, net, epoch: int, logs: dict) -> None:
        self.count += 1
        parts = [f"{key} {logs[key]:.6g}" for key in ("loss", "accuracy", "val_loss",
                                                      "val_accuracy") if key in logs]
        parts.append(f"lr {logs['lr']:.3g}")
        print(f"epoch {self.count}/{self.epochs}: {'  '.join(parts)}", file=sys.stderr,
              flush=True)


def _in_target_units(net, y_scaler: Standardizer, seed: int):
    """A copy of the regression network `net`, trained on standardized targets,
    whose last Dense layer is rescaled to predict in the targets' units:
    W * std and B * std + mean. A Huber loss's delta scales with std too."""
    import layernet as ln

    layers = []
    for layer in net.layers:
        if layer.kind == "standardize":
            layers.append(ln.Standardize(np.asarray(layer.mean, dtype=np.float64),
                                         np.asarray(layer.std, dtype=np.float64)))
        elif layer.kind == "dropout":
            layers.append(ln.Dropout(layer.rate))
        else:
            layers.append(ln.Dense(layer.n_in, layer.n_out, activation=layer.activation))
    weights = net.get_weights()
    W = weights[-2].astype(np.float64) * y_scaler.std
    B = weights[-1].astype(np.float64) * y_scaler.std + y_scaler.mean
    limit = float(np.finfo(net.dtype).max)
    if not (np.abs(W) <= limit).all() or not (np.abs(B) <= limit).all():
        raise CLIError(f"the targets' scale (standard deviation up to {y_scaler.std.max():.3g}) "
                       f"makes the last layer's weights exceed the range of a "
                       f"{np.dtype(net.dtype).name} model (numbers up to {limit:.3g})"
                       + ("; use --dtype float64" if net.dtype == np.float32 else ""))
    loss = net.loss_function
    if loss.name == "huber":
        loss = ln.Huber(loss.delta * float(y_scaler.std[0]))
    scaled = ln.Network(layers, dtype=net.dtype, seed=seed, loss=loss)
    scaled.set_weights(weights[:-2] + [W, B])
    scaled.epochs_trained = net.epochs_trained
    return scaled


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

def cmd_train(args) -> int:
    """Train a network on a data file and write the model (with its metadata).
    With --distributed every MPI process runs this; only rank 0 prints and writes."""
    if args.lr_scaling and not args.distributed:
        raise CLIError("--lr-scaling: applies to --distributed training only")
    if args.distributed:
        from . import distributed
        if not distributed.is_root():
            args.silent_rank = True
            with contextlib.redirect_stdout(io.StringIO()):
                return _train(args)
    return _train(args)


def _train(args) -> int:
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
    classification = args.loss in CLASSIFICATION_LOSSES
    if args.class_weight and not classification:
        raise CLIError(f"--class-weight: balancing classes needs a classification loss (--loss "
                       f"cross_entropy or binary_cross_entropy), got --loss {args.loss}")
    if args.dropout and not hidden:
        raise CLIError("--dropout: there is no hidden layer to apply it to (--layers none)")

    table = read_table(args.data)
    targets = _target_columns(table, args.target)
    weight_column = _weight_column(table, args.weight_column, targets)
    features = _feature_columns(table, args.features, targets, weight_column)
    if (classification or args.loss == "huber") and len(targets) != 1:
        what = "one column of class labels" if classification else "one target column"
        raise CLIError(f"--target: {args.loss} needs {what}, got {', '.join(targets)}")

    try:
        X = table.numeric(features)
    except DataError as exc:
        if args.features:
            raise
        raise CLIError(f"{exc} (every column but the target is a feature unless --features "
                       f"names them)") from None
    dtype = np.dtype(args.dtype)
    float64_advice = "; use --dtype float64 for such values" if dtype == np.float32 else ""
    check_representable(X, dtype, table, features, float64_advice)
    train_rows, val_rows = split_rows(table.n_rows, args.val_split, args.seed)
    scaler = Standardizer.fit(X[train_rows], features, args.data)
    _check_statistics(scaler, features, dtype, args.data)
    notes = _coarse_note(scaler, features, dtype, "feature(s)")
    weights = (_row_weights(table, weight_column, dtype, train_rows, val_rows)
               if weight_column else None)
    metadata: dict = {"features": features, "targets": targets, "input": table.kind}
    if weight_column:
        metadata["weight_column"] = weight_column

    y_scaler = None
    if classification:
        Y, classes = _class_targets(table, targets[0], args.loss)
        n_out = len(classes) if args.loss == "cross_entropy" else 1
    else:
        Y_raw = _regression_targets(table, targets, args.loss)
        notes += _integer_target_notes(Y_raw, targets, args.loss)
        y_scaler = Standardizer.fit(Y_raw[train_rows], targets, args.data)
        _check_statistics(y_scaler, targets, dtype, args.data)
        notes += _coarse_note(y_scaler, targets, dtype, "target(s)")
        Y = y_scaler.transform(Y_raw)
        check_in_range(Y, Y_raw, dtype, table, targets)
        n_out = len(targets)
        metadata["target_statistics"] = y_scaler.to_dict()

    net = _build_network(args, len(features), hidden, n_out, scaler, dtype)
    if classification:
        net.classes = classes
    lr = args.lr if args.lr is not None else _default_lr(args.optimizer)
    optimizer = _optimizer(args.optimizer, lr, args.clip_norm)
    has_validation = len(val_rows) > 0
    monitor = "val_loss" if has_validation else "loss"
    patience = args.patience if args.patience is not None else \
        (DEFAULT_PATIENCE if has_validation else 0)
    callbacks: list = []
    early = None
    if patience:
        early = ln.EarlyStopping(monitor=monitor, patience=patience, restore_best=True)
        callbacks.append(early)
    schedule, schedule_text = _schedule(args.schedule, args.epochs, lr, monitor, patience)
    if schedule is not None:
        callbacks.append(schedule)
    bar = args.verbose == 1 and _is_terminal(sys.stderr)
    if args.verbose and not bar:
        callbacks.append(EpochLines(args.epochs))

    print(f"network: {_architecture(net)}, {net.n_params} parameters, {net.dtype}, "
          f"loss {args.loss}, {args.optimizer} lr {lr:g}"
          + (f", clip norm {args.clip_norm:g}" if args.clip_norm else ""))
    print(f"data: {args.data}, {len(features)} feature(s), target {', '.join(targets)}"
          + (f" ({len(classes)} classes)" if classification else "")
          + f"; {len(train_rows)} training rows, {len(val_rows)} validation rows"
          + (f"; rows weighted by column {weight_column!r}" if weight_column else "")
          + ("; classes weighted to balance" if args.class_weight else ""))
    if not classification:
        print("targets: trained as (y - mean) / std of the training rows, so the epoch losses "
              "are on standardized targets; the saved model predicts in the targets' units")
    if early is not None:
        what = "validation loss" if has_validation else "training loss"
        print(f"early stopping: after {patience} epochs without a lower {what}, keeping the "
              f"best epoch's weights (--patience 0 turns it off)")
    if schedule_text:
        print(f"schedule: {schedule_text}")
    for note in notes:
        print(note)
    sys.stdout.flush()

    w_train = weights[train_rows] if weights is not None else None
    validation = None
    if has_validation:
        validation = (X[val_rows], Y[val_rows]) + \
            ((weights[val_rows],) if weights is not None else ())
    try:
        history = net.fit(X[train_rows], Y[train_rows], epochs=args.epochs,
                          batch_size=args.batch_size, optimizer=optimizer,
                          validation_data=validation, callbacks=callbacks, shuffle=True,
                          seed=args.seed, verbose=1 if bar else 0, sample_weight=w_train,
                          class_weight="balanced" if args.class_weight else None,
                          distributed=args.distributed, lr_scaling=args.lr_scaling,
                          warmup_epochs=args.warmup_epochs)
    except FloatingPointError as exc:
        raise CLIError(f"{exc}; no model was written") from None
    sys.stderr.flush()

    if y_scaler is not None:
        net = _in_target_units(net, y_scaler, args.seed)
    net.metadata = metadata
    model = Model(net, args.out)
    loss_text = model.loss_text()
    targets_for = (lambda rows: Y[rows]) if classification else (lambda rows: Y_raw[rows])
    parts = [("train", train_rows)] + ([("validation", val_rows)] if has_validation else [])
    results = {}
    try:
        for name, rows in parts:
            results[name] = evaluation(
                model, X[rows], targets_for(rows), f"{args.data} ({name} rows)", table,
                targets, rows, None if weights is None else weights[rows])
    except CLIError as exc:
        raise CLIError(f"{exc}; no model was written") from None

    epochs_run = len(history.epochs)
    best_epoch = None
    if early is not None and early.best_epoch is not None:
        best_epoch = early.best_epoch - history.epochs[0] + 1
        kept = f"{monitor} {early.best_value:.6g}"
        if history.stopped_early:
            print(f"stopped early after epoch {epochs_run}; kept the best epoch, {best_epoch} "
                  f"({kept})")
        elif best_epoch != epochs_run:
            print(f"kept the best epoch, {best_epoch} of {epochs_run} ({kept})")
    if history.interrupted:
        print("training was interrupted; saving the network as of its last completed step")
    weighted = f" (weighted by column {weight_column!r})" if weight_column else ""
    for name, m in results.items():
        print(f"{name}{weighted}: {_format_metrics(m, loss_text)}")

    metadata.update({
        "source": os.path.basename(args.data),
        "rows": {"train": int(len(train_rows)), "validation": int(len(val_rows))},
        "training": {"layers": hidden, "activation": args.activation, "dropout": args.dropout,
                     "loss": args.loss, "optimizer": args.optimizer, "lr": lr,
                     "clip_norm": args.clip_norm, "schedule": args.schedule,
                     "epochs": epochs_run, "best_epoch": best_epoch,
                     "batch_size": args.batch_size, "val_split": args.val_split,
                     "patience": patience, "class_weight": args.class_weight,
                     "seed": args.seed},
        "metrics": results,
    })
    # A regression's optimizer state belongs to the standardized problem (see the module notes).
    if not getattr(args, "silent_rank", False):
        net.save(args.out, include_optimizer=classification, metadata=metadata)
    print(f"wrote {args.out}")
    if args.plot and not getattr(args, "silent_rank", False):
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


def _number_text(value: float) -> str:
    """A number from an array file as a CSV cell: integers without a decimal point."""
    value = float(value)
    if value.is_integer() and abs(value) < 2.0 ** 53:
        return str(int(value))
    return repr(value)


def _kept_columns(table: Table, spec: str | None) -> tuple[list[str], list[list[str]]]:
    """(names, per-row cells) of the --keep columns: CSV cells as written, numbers
    of an array file as _number_text writes them."""
    if not spec:
        return [], [[] for _ in range(table.n_rows)]
    names = table.resolve(spec, "--keep")
    positions = [table.index(name) for name in names]
    if table.cells is not None:
        return names, [[row[c] for c in positions] for row in table.cells]
    return names, [[_number_text(v) for v in row] for row in table.array[:, positions]]


def _output_names(names: list[str], kept: list[str]) -> list[str]:
    """Prediction column names, "predicted_<name>" where a kept column has the name."""
    return [f"predicted_{name}" if name in kept else name for name in names]


def cmd_predict(args) -> int:
    """Write one prediction per data row (CSV) to --out or standard output."""
    if args.out:
        _check_output(args.out, "--out")
    model = _load_model(args.model)
    net = model.net
    if args.proba and not model.is_classifier:
        raise CLIError(f"--proba: class probabilities need a classification model; "
                       f"{args.model} is a regression (loss {net.loss_name})")
    table = read_table(args.data)
    X = model_inputs(model, table)
    kept, kept_cells = _kept_columns(table, args.keep)
    targets = model.targets or []
    # As many digits as the network's dtype carries (float32: 7 significant).
    text = (lambda v: f"{v:.7g}") if net.dtype == np.float32 else (lambda v: repr(float(v)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if model.is_classifier:
        labels = model.class_labels()
        proba = net.predict_proba(X).astype(np.float64)
        _check_predictions(proba, table, _too_far(net))
        predicted = net.predict_classes(X)
        names = [targets[0] if len(targets) == 1 else "label"]
        if args.proba:
            shown = labels if net.loss_name == "cross_entropy" else labels[1:]
            names += [f"p_{label}" for label in shown]
        writer.writerow(kept + _output_names(names, kept))
        for cells, value, p in zip(kept_cells, predicted, proba):
            label = class_text(value) if net.classes is not None else labels[int(value)]
            writer.writerow(cells + [label] + ([text(v) for v in p] if args.proba else []))
    else:
        pred = regression_predictions(model, X, table)
        names = targets if len(targets) == net.n_out else [f"y{i}" for i in range(net.n_out)]
        writer.writerow(kept + _output_names(names, kept))
        for cells, row in zip(kept_cells, pred):
            writer.writerow(cells + [text(v) for v in row])
    if args.out:
        write_atomic(args.out, lambda f: f.write(out.getvalue()), "w", newline="",
                     encoding="utf-8")
        print(f"wrote {X.shape[0]} predictions to {args.out}")
    else:
        sys.stdout.write(out.getvalue())
    return 0


def _evaluation_targets(model: Model, table: Table, spec: str | None) -> list[str]:
    """--target's columns, else the model's own target columns, else an .npz's y."""
    if spec is not None:
        return table.resolve(spec, "--target")
    saved = model.targets
    if saved and all(name in table.names for name in saved):
        return saved
    if table.kind == XY:
        return list(table.target_names)
    if saved:
        missing = [name for name in saved if name not in table.names]
        raise CLIError(f"{table.path}: no column {', '.join(map(repr, missing))}, the model's "
                       f"target; the file's columns are: {', '.join(table.names)}; name the "
                       f"target column(s) with --target")
    raise CLIError(f"--target is required: {model.path} names no target columns")


def cmd_evaluate(args) -> int:
    """Print the model's loss (and accuracy, or rmse, mae and r2) on labelled data."""
    model = _load_model(args.model)
    table = read_table(args.data)
    targets = _evaluation_targets(model, table, args.target)
    X = model_inputs(model, table)
    T = model_targets(model, table, targets)
    m = evaluation(model, X, T, args.data, table, targets)
    print(f"{args.data}: {table.n_rows} rows" + ("" if args.target else
                                                f", target {', '.join(targets)}"))
    for key, value in m.items():
        if key == "loss":
            print(f"loss ({model.loss_text()}): {value:.6g}")
        else:
            print(f"{key}: {value:.4f}" if key == "accuracy" else f"{key}: {value:.6g}")
    return 0


def cmd_info(args) -> int:
    """Describe a model file: architecture, dtype, loss, parameters, features, metadata."""
    model = _load_model(args.model)
    net = model.net
    meta = dict(net.metadata)
    if args.json:
        doc = {"architecture": [{"kind": l.kind, "n_in": l.n_in, "n_out": l.n_out,
                                 "activation": l.activation} for l in net.layers],
               "dtype": str(net.dtype), "loss": net.loss_function.config(),
               "parameters": net.n_params, "epochs_trained": net.epochs_trained,
               "classes": net.classes,
               "optimizer": net.optimizer.config() if net.optimizer is not None else None,
               "metadata": meta}
        print(json.dumps(doc, indent=2))
        return 0
    print(f"model: {args.model}")
    print(f"architecture: {_architecture(net)}")
    print(f"parameters: {net.n_params}")
    print(f"dtype: {net.dtype}")
    delta = getattr(net.loss_function, "delta", None)
    print(f"loss: {net.loss_name}" + (f" (delta {delta:.6g})" if delta is not None else ""))
    print(f"epochs trained: {net.epochs_trained}")
    if net.optimizer is not None:
        print(f"optimizer: {net.optimizer!r}, step {net.optimizer.step}")
    if "features" in meta:
        print(f"features ({len(meta['features'])}): {', '.join(map(str, meta['features']))}")
    if "targets" in meta:
        print(f"targets: {', '.join(map(str, meta['targets']))}")
    if model.is_classifier and net.loss_function.n_classes(net.n_out) is not None:
        labels = model.class_labels()
        print(f"classes ({len(labels)}): {', '.join(labels)}")
    if model.stats_in_metadata:
        print("standardized: features" + (" and targets" if "target_standardize" in meta else "")
              + " (statistics of the training rows, in the metadata)")
    elif net.layers[0].kind == "standardize":
        print("standardized: features, by the model's first layer"
              + ("; trained on standardized targets, predicts in the targets' units"
                 if "target_statistics" in meta else ""))
    if "weight_column" in meta:
        print(f"weight column: {meta['weight_column']}")
    for key in ("source", "rows", "training"):
        if key in meta:
            print(f"{key}: {json.dumps(meta[key])}")
    if isinstance(meta.get("metrics"), dict):
        try:
            loss_text = model.loss_text()
        except CLIError:
            loss_text = None
        for split, m in meta["metrics"].items():
            if isinstance(m, dict):
                print(f"{split} metrics: {_format_metrics(m, loss_text)}")
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


def cmd_export(args) -> int:
    """Write the ONNX form of a model file."""
    _check_output(args.onnx, "onnx")
    model = _load_model(args.model)
    if model.stats_in_metadata:
        raise CLIError(f"{args.model}: written by an older layernet train, whose standardization "
                       f"lives in the metadata, not the network; retrain it to export it")
    try:
        from . import onnx as ln_onnx
        ln_onnx.save(model.net, args.onnx, opset=args.opset, output=args.output)
    except ImportError:
        raise CLIError("export needs the onnx package: pip install \"layernet[onnx]\"") from None
    print(f"wrote {args.onnx} (opset {args.opset}, outputs: {args.output})")
    return 0


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
                       "The model standardizes its features in its first layer and keeps its "
                       "class labels; a regression predicts in the targets' units.")
    p.add_argument("data", help="CSV with a header row, .npy (2-D array) or .npz (X and y, "
                   "or one 2-D array)")
    p.add_argument("--target", default=None, metavar="COLS",
                   help="target column(s), comma separated: CSV header names, or column indices "
                   "for .npy/.npz (optional for an .npz with X and y)")
    p.add_argument("--features", default=None, metavar="COLS",
                   help="feature column(s), comma separated (default: every other column "
                   "but the --weight-column)")
    p.add_argument("--layers", default="64,32", metavar="WIDTHS",
                   help="hidden layer widths, comma separated, or 'none' (default 64,32)")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"],
                   help="hidden layers' activation (default relu); the last layer is linear")
    p.add_argument("--dropout", type=_fraction, default=0.0, metavar="RATE",
                   help="a Dropout layer with this rate after each hidden layer (default 0: none)")
    p.add_argument("--loss", default="mse", choices=REGRESSION_LOSSES + CLASSIFICATION_LOSSES,
                   help="regression: mse (default), mae, huber (delta: one standard deviation "
                   "of the target); classification of one label column: cross_entropy, or "
                   "binary_cross_entropy for two classes")
    p.add_argument("--class-weight", default=None, choices=["balanced"],
                   help="weight each class inversely to its share of the training rows")
    p.add_argument("--weight-column", default=None, metavar="COL",
                   help="per-row sample weights (numbers >= 0) from this column, which is then "
                   "not a feature")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS,
                   help="default adam; momentum is SGD with momentum 0.9; adamw has weight "
                   "decay 0.01")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default 0.01 for sgd and momentum, 0.001 otherwise)")
    p.add_argument("--clip-norm", type=_positive_float, default=None, metavar="X",
                   help="scale each step's gradient down to a global norm of at most X")
    p.add_argument("--schedule", default="none", choices=SCHEDULES,
                   help="learning-rate schedule: cosine (to 0 over --epochs), step (x0.1 every "
                   "third of the epochs), plateau (halve when the monitored loss stalls), "
                   "warmup (from 0.1 x lr over the first tenth of the epochs); default none")
    p.add_argument("--epochs", type=_positive_int, default=50, help="default 50")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="default 32")
    p.add_argument("--val-split", type=_fraction, default=0.1,
                   help="share of rows held out for validation, chosen at random with --seed "
                   "(default 0.1; 0 for none)")
    p.add_argument("--patience", type=_non_negative_int, default=None,
                   help="early stopping: stop after this many epochs without a lower validation "
                   f"loss (the training loss without validation) and keep the best epoch; "
                   f"default {DEFAULT_PATIENCE} with a validation split, off without; 0 turns "
                   f"it off")
    p.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seeds the initial weights, the validation split, the shuffling and "
                   "dropout")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument("--plot", default=None, help="also write a loss-curve PNG (needs matplotlib)")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                   help="progress on stderr: 0 none, 1 a bar per epoch on a terminal and a "
                   "line per epoch otherwise (default), 2 a line per epoch")
    p.add_argument("-q", "--quiet", dest="verbose", action="store_const", const=0,
                   help="same as --verbose 0")
    p.add_argument("--distributed", action="store_true",
                   help="train data-parallel on every MPI process: launch with "
                   "mpiexec -n N python -m mpi4py -m layernet train ... --distributed (needs "
                   "layernet[mpi]); each process takes --batch-size rows of each global batch, "
                   "and only rank 0 prints and writes files")
    p.add_argument("--lr-scaling", choices=["linear"], default=None,
                   help="with --distributed: multiply the learning rate by the number of "
                   "processes (Goyal et al.), reached over --warmup-epochs")
    p.add_argument("--warmup-epochs", type=_non_negative_int, default=0,
                   help="with --lr-scaling linear: epochs over which the scaled rate is reached")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="predict with a model; writes CSV",
                       description="Predict one row per data row. The file must hold the model's "
                       "feature columns (by name for CSV); other columns are ignored. "
                       "Classification writes the predicted label (with --proba, also the "
                       "class probabilities).")
    p.add_argument("model", help="model file written by 'layernet train'")
    p.add_argument("data", help="CSV, .npy or .npz with the feature columns")
    p.add_argument("--keep", default=None, metavar="COLS",
                   help="copy these input columns (such as an id) into the output, first")
    p.add_argument("--proba", action="store_true",
                   help="classification: also write each class's probability (p_<label>; one "
                   "column, the second class's, for binary_cross_entropy)")
    p.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="loss and accuracy, or rmse, mae and r2, of a model on "
                       "labelled data")
    p.add_argument("model", help="model file written by 'layernet train'")
    p.add_argument("data", help="CSV, .npy or .npz with the feature and target columns")
    p.add_argument("--target", default=None, metavar="COLS",
                   help="target column(s), as for train (default: the model's own)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export", help="write a model file's ONNX form (needs layernet[onnx])",
                       description="Export a layernet model to ONNX: Dense layers as Gemm or "
                       "MatMul+Add, the activations, standardization as Sub/Div, and the loss's "
                       "output transform (Softmax or Sigmoid). The batch dimension is dynamic.")
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("onnx", help="ONNX file to write")
    p.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--output", default="auto", choices=["auto", "raw", "probabilities", "both"],
                   help="graph outputs: auto (probabilities for a classifier, else the raw "
                   "outputs), raw, probabilities, or both")
    p.set_defaults(func=cmd_export)

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
