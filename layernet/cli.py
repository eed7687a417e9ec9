"""The `layernet` command: train, predict, evaluate, info and demo.

    layernet train data.csv --target price --layers 64,32 --out model.npz
    layernet evaluate model.npz test.csv --target price
    layernet predict model.npz new.csv --out predictions.csv
    layernet info model.npz
    layernet demo

Features are standardized with statistics kept in the model file, so predict
and evaluate apply the same transform. Regression targets are standardized
too (and mapped back for output). Class labels of a cross_entropy model may be
any text; the label list is kept in the model file.

Mistakes a person makes (missing files, unknown columns, bad cells, a model
that does not fit the data) end with one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys

import numpy as np

from ._files import write_atomic
from .data import DataError, Standardizer, Table, read_table

EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------

def _columns(spec: str, table: Table, option: str = "--target") -> list[str]:
    names = [c.strip() for c in spec.split(",") if c.strip()]
    if not names:
        raise CLIError(f"{option}: expected one or more column names, got {spec!r}")
    for name in names:
        table.index(name)
    return names


def _hidden_layers(spec: str) -> list[int]:
    if spec.strip() in ("", "none"):
        return []
    try:
        widths = [int(w) for w in spec.split(",")]
    except ValueError:
        raise CLIError(f"--layers: expected comma-separated positive integers such as 64,32, "
                       f"got {spec!r}") from None
    if any(w < 1 for w in widths):
        raise CLIError(f"--layers: widths must be positive, got {spec!r}")
    return widths


def _sorted_labels(values: list[str]) -> list[str]:
    """Distinct labels, numerically ordered when they are all numbers."""
    distinct = set(values)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def _load_model(path: str):
    import layernet as ln
    try:
        return ln.load(path)
    except FileNotFoundError:
        raise CLIError(f"{path}: no such model file") from None


def _features(net, table: Table) -> np.ndarray:
    """The model's feature columns from `table`, standardized as in training."""
    meta = net.metadata
    names = meta.get("features")
    if names is None:
        raise CLIError("the model has no feature list; was it written by `layernet train`?")
    if table.cells is not None:
        missing = [n for n in names if n not in table.names]
        if missing:
            raise CLIError(f"{table.path}: missing feature column(s) {missing} that the model "
                           f"was trained on")
        X = table.numeric(names)
    else:
        targets = [n for n in meta.get("targets", []) if n in table.names]
        cols = [n for n in table.names if n not in targets]
        if len(cols) != net.n_in:
            raise CLIError(f"{table.path}: the model expects {net.n_in} feature columns, the file "
                           f"has {len(cols)}")
        X = table.numeric(cols)
    if X.shape[1] != net.n_in:
        raise CLIError(f"{table.path}: the model expects {net.n_in} features, got {X.shape[1]}")
    return Standardizer.from_dict(meta["standardize"]).transform(X)


def _targets_for(net, table: Table, names: list[str]):
    """Targets in the form the network trains on: class indices, or standardized values."""
    meta = net.metadata
    if net.loss_name == "cross_entropy":
        labels = meta.get("labels") or []
        index = {label: i for i, label in enumerate(labels)}
        values = table.text(names[0])
        unknown = sorted({v for v in values if v not in index})
        if unknown:
            raise CLIError(f"{table.path}: column {names[0]!r} has label(s) {unknown[:5]} the "
                           f"model was not trained on (known: {labels})")
        return np.array([index[v] for v in values], dtype=np.int64)
    Y = table.numeric(names)
    if Y.shape[1] != net.n_out:
        raise CLIError(f"the model predicts {net.n_out} target column(s), --target names {Y.shape[1]}")
    return Standardizer.from_dict(meta["target_standardize"]).transform(Y)


def _metrics_line(net, X, Y) -> str:
    """Loss (in the targets' own units for regression) and accuracy for classification."""
    if net.loss_name == "cross_entropy":
        m = net.evaluate(X, Y)
        return f"loss {m['loss']:.6g}, accuracy {m['accuracy']:.4f}"
    scaler = Standardizer.from_dict(net.metadata["target_standardize"])
    pred = scaler.inverse(net.predict(X).astype(np.float64))
    true = scaler.inverse(Y)
    mse = float(np.mean((pred - true) ** 2))
    return f"mse {mse:.6g}, rmse {mse ** 0.5:.6g}"


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

def cmd_train(args) -> int:
    import layernet as ln

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError("--plot needs matplotlib: pip install matplotlib "
                           "(or pip install 'layernet[examples]')") from None
    hidden = _hidden_layers(args.layers)
    table = read_table(args.data)
    targets = _columns(args.target, table)
    if args.features:
        features = _columns(args.features, table, "--features")
        overlap = sorted(set(features) & set(targets))
        if overlap:
            raise CLIError(f"--features: column(s) {overlap} are also targets")
    else:
        features = [n for n in table.names if n not in targets]
    if not features:
        raise CLIError(f"{args.data}: no feature columns left after removing the target(s)")
    if args.loss == "cross_entropy" and len(targets) != 1:
        raise CLIError(f"--target: cross_entropy needs one column of class labels, got {targets}")
    X_raw = table.numeric(features)
    scaler = Standardizer.fit(X_raw)
    X = scaler.transform(X_raw)
    metadata = {"features": features, "targets": targets, "standardize": scaler.to_dict(),
                "source": os.path.basename(args.data)}
    if args.loss == "cross_entropy":
        values = table.text(targets[0])
        labels = _sorted_labels(values)
        if len(labels) < 2:
            raise CLIError(f"--target: column {targets[0]!r} has a single class {labels}; "
                           f"classification needs at least two")
        index = {label: i for i, label in enumerate(labels)}
        Y = np.array([index[v] for v in values], dtype=np.int64)
        n_out = len(labels)
        metadata["labels"] = labels
    else:
        Y_raw = table.numeric(targets)
        y_scaler = Standardizer.fit(Y_raw)
        Y = y_scaler.transform(Y_raw)
        n_out = len(targets)
        metadata["target_standardize"] = y_scaler.to_dict()

    widths = [len(features)] + hidden + [n_out]
    layers = [ln.Dense(a, b, activation=args.activation if i < len(hidden) else None)
              for i, (a, b) in enumerate(zip(widths, widths[1:]))]
    dtype = np.float32 if args.dtype == "float32" else np.float64
    net = ln.Network(layers, dtype=dtype, seed=args.seed, loss=args.loss)
    net.metadata = metadata
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
    if args.optimizer == "adam":
        optimizer = ln.Adam(lr)
    else:
        optimizer = ln.SGD(lr, momentum=0.9 if args.optimizer == "momentum" else 0.0)

    callbacks = []
    if args.patience is not None:
        monitor = "val_loss" if args.val_split > 0 else "loss"
        callbacks.append(ln.EarlyStopping(monitor=monitor, patience=args.patience))
    n_val = int(round(X.shape[0] * args.val_split)) if args.val_split > 0 else 0
    print(f"training {net.n_params} parameters {widths} on {X.shape[0] - n_val} rows"
          + (f", validating on {n_val}" if n_val else ""), flush=True)
    history = net.fit(X, Y, epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer,
                      validation_split=args.val_split, callbacks=callbacks, shuffle=True,
                      seed=args.seed, verbose=0 if args.quiet else 1)
    cut = X.shape[0] - n_val
    print(f"train: {_metrics_line(net, X[:cut], Y[:cut])}")
    if n_val:
        print(f"validation: {_metrics_line(net, X[cut:], Y[cut:])}")
    if history.interrupted:
        print("training was interrupted; saving the network as of its last completed step",
              file=sys.stderr)
    net.save(args.out, include_optimizer=True)
    print(f"wrote {args.out}")
    if args.plot:
        _plot(history, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _plot(history, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [e + 1 for e in history.epochs]
    ax.plot(epochs, history["loss"], label="train loss")
    if "val_loss" in history.history:
        ax.plot(epochs, history["val_loss"], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    try:
        write_atomic(path, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)


def cmd_predict(args) -> int:
    net = _load_model(args.model)
    table = read_table(args.data)
    X = _features(net, table)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    meta = net.metadata
    if net.loss_name == "cross_entropy":
        labels = meta.get("labels") or [str(i) for i in range(net.n_out)]
        proba = net.predict_proba(X)
        writer.writerow([meta.get("targets", ["label"])[0]] + [f"p_{label}" for label in labels])
        for row in proba:
            writer.writerow([labels[int(np.argmax(row))]] + [f"{p:.6g}" for p in row])
    else:
        scaler = Standardizer.from_dict(meta["target_standardize"])
        pred = scaler.inverse(net.predict(X).astype(np.float64))
        writer.writerow(meta.get("targets") or [f"y{i}" for i in range(net.n_out)])
        for row in pred:
            writer.writerow([repr(float(v)) for v in row])
    if args.out:
        write_atomic(args.out, lambda f: f.write(out.getvalue()), "w", newline="")
        print(f"wrote {X.shape[0]} predictions to {args.out}")
    else:
        sys.stdout.write(out.getvalue())
    return 0


def cmd_evaluate(args) -> int:
    net = _load_model(args.model)
    table = read_table(args.data)
    targets = _columns(args.target, table)
    X = _features(net, table)
    Y = _targets_for(net, table, targets)
    print(f"{table.n_rows} rows: {_metrics_line(net, X, Y)}")
    return 0


def cmd_info(args) -> int:
    net = _load_model(args.model)
    meta = dict(net.metadata)
    print(f"model: {args.model}")
    print("layers: " + " -> ".join([str(net.n_in)] + [f"{l.n_out} ({l.activation})" for l in net.layers]))
    print(f"parameters: {net.n_params}, dtype: {net.dtype}, loss: {net.loss_name}, "
          f"epochs trained: {net.epochs_trained}")
    if net.optimizer is not None:
        print(f"optimizer: {net.optimizer!r}, step {net.optimizer.step}")
    if "features" in meta:
        print(f"features ({len(meta['features'])}): {', '.join(meta['features'])}")
    if "targets" in meta:
        print(f"targets: {', '.join(meta['targets'])}")
    if "labels" in meta:
        print(f"classes: {', '.join(meta['labels'])}")
    extra = {k: v for k, v in meta.items()
             if k not in ("features", "targets", "labels", "standardize", "target_standardize")}
    if extra:
        print(f"metadata: {extra}")
    return 0


def demo_data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals (a classic non-linear toy problem), made on the spot."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3 * np.pi
    y = rng.integers(0, 2, n)
    sign = np.where(y == 0, 1.0, -1.0)
    X = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) / (3 * np.pi)
    X += rng.normal(0, 0.02, X.shape)
    return X.astype(np.float32), y


def cmd_demo(args) -> int:
    import layernet as ln

    X, y = demo_data()
    n_train = 480
    net = ln.Network([ln.Dense(2, 64, activation="relu"), ln.Dense(64, 64, activation="relu"),
                      ln.Dense(64, 2)], seed=0, loss="cross_entropy")
    print(f"layernet demo: classify two spirals ({n_train} training and {len(X) - n_train} test "
          f"points) with {net.n_params} parameters; kernels: {ln.info()['isa']}, "
          f"{ln.get_num_threads()} thread(s)")

    class PrintEpoch(ln.Callback):
        def on_epoch_end(self, net, epoch, logs):
            if (epoch + 1) % 10 == 0 or epoch == 0:
                print(f"epoch {epoch + 1:3d}: loss {logs['loss']:.4f}  "
                      f"accuracy {logs['accuracy']:.3f}  val_loss {logs['val_loss']:.4f}")

    net.fit(X[:n_train], y[:n_train], epochs=args.epochs, batch_size=16,
            optimizer=ln.Adam(0.01), validation_data=(X[n_train:], y[n_train:]),
            callbacks=[PrintEpoch()], seed=0)
    result = net.evaluate(X[n_train:], y[n_train:])
    print(f"test accuracy: {result['accuracy']:.3f} (loss {result['loss']:.4f})")
    return 0


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise CLIError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="layernet", description="Train and use layernet networks on data files.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a network on a CSV/.npy/.npz file")
    p.add_argument("data", help="CSV with a header row, .npy or .npz")
    p.add_argument("--target", required=True, help="target column(s), comma separated")
    p.add_argument("--features", default=None,
                   help="feature column(s), comma separated (default: every other column)")
    p.add_argument("--layers", default="64,32", help="hidden layer widths (default 64,32)")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"])
    p.add_argument("--loss", default="mse", choices=["mse", "cross_entropy"])
    p.add_argument("--optimizer", default="adam", choices=["sgd", "momentum", "adam"])
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.001 for adam, 0.01 otherwise)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--val-split", type=float, default=0.1, help="share of rows held out (default 0.1)")
    p.add_argument("--patience", type=int, default=None, help="early stopping patience in epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument("--plot", default=None, help="write a loss-curve PNG here (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="predict with a model")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--out", default=None, help="CSV to write (default: standard output)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="loss (and accuracy) of a model on labelled data")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--target", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="train a small network on built-in data")
    p.add_argument("--epochs", type=int, default=60)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (CLIError, DataError) as exc:
        print(f"layernet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        # Argument checks inside the library (a bad lr, a corrupt model file, ...).
        print(f"layernet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
