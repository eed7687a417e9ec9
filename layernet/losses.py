"""Losses: one class per loss, each owning what is specific to it.

The value and the gradient run in C (one row each in csrc/tables/losses.h).
A Loss object owns the rest: which networks it suits, target preparation,
the output transform that turns the network's raw output into predictions
(softmax for cross-entropy), and the metrics evaluate reports. No code
outside this module branches on a loss's name.

Adding a loss is its C row plus one class here, registered with
@register_loss.
"""
from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from . import _kernels

#: loss classes by name (the model file's "loss")
LOSSES: dict[str, type["Loss"]] = {}


def register_loss(cls: type["Loss"]) -> type["Loss"]:
    """Class decorator: makes a Loss known to Network and the model file."""
    if cls.name not in _kernels.LOSSES:
        raise ValueError(f"loss {cls.name!r} has no C implementation; the C losses are "
                         f"{_kernels.LOSSES}")
    cls.c_kind = _kernels.LOSSES.index(cls.name)
    LOSSES[cls.name] = cls
    return cls


def get_loss(loss, argument: str = "loss") -> "Loss":
    """A Loss object from a name or a Loss (ValueError naming the choices)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"{argument}: expected one of {', '.join(map(repr, sorted(LOSSES)))} or a "
                     f"layernet Loss object, got {loss!r}")


def loss_from_config(config) -> "Loss":
    """Inverse of Loss.config() (a bare name is accepted too, as older files store it)."""
    if isinstance(config, str):
        return get_loss(config)
    if not isinstance(config, dict) or config.get("name") not in LOSSES:
        raise ValueError(f"loss: expected a known loss configuration, got {config!r}")
    params = {k: v for k, v in config.items() if k != "name"}
    return LOSSES[config["name"]](**params)


def _numeric_targets(Y, n_rows: int, name: str) -> np.ndarray:
    arr = np.asarray(Y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric targets, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name}: expected a 1-D or 2-D array, got {arr.ndim}-D with shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name}: expected {n_rows} rows to match X, got {arr.shape[0]}")
    return arr


def _as_matrix(arr: np.ndarray, n_rows: int, n_out: int, dtype, name: str) -> np.ndarray:
    """A (n_rows, n_out) target array of `dtype`, finite and within its range."""
    if arr.ndim == 1:
        if n_out != 1:
            raise ValueError(f"{name}: expected shape ({n_rows}, {n_out}), got 1-D shape {arr.shape} "
                             f"(1-D targets are accepted only for a single output)")
        arr = arr.reshape(n_rows, 1)
    if arr.shape[1] != n_out:
        raise ValueError(f"{name}: expected {n_out} columns (the network's outputs), got {arr.shape[1]}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.require(arr, dtype=dtype, requirements=("C", "A", "W"))
        finite = np.isfinite(out)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise ValueError(f"{name}: row {r}, column {c} is {arr[r, c].item()!r}, which is not a finite "
                         f"{np.dtype(dtype).name}; expected finite targets")
    if out is arr:
        out = out.copy()
    return out


class Loss:
    """Base class. name: the C row; metric_names: what evaluate adds to "loss"."""

    name: ClassVar[str] = ""
    metric_names: ClassVar[tuple[str, ...]] = ()
    #: the metric fit counts in C as it trains (the C row's "hits"), or None
    running_metric: ClassVar[str | None] = None
    #: any finite (n, n_out) array of the network's dtype is a valid target
    #: array as it is, so a conforming one may skip prepare_targets
    raw_targets_ok: ClassVar[bool] = True
    #: True when predict_proba means something for this loss
    has_proba: ClassVar[bool] = False
    #: the output transform predict_proba applies: "softmax", "sigmoid" or None
    output_transform: ClassVar[str | None] = None

    #: the C row's index, set by register_loss (read once per training step)
    c_kind: ClassVar[int] = -1

    def c_params(self) -> tuple[float, ...]:
        """The C row's parameters (Huber's delta, ...)."""
        return ()

    def check_network(self, n_out: int) -> None:
        """Raise ValueError when a network with n_out outputs cannot use this loss."""

    def prepare_targets(self, Y, n_rows: int, n_out: int, dtype) -> np.ndarray:
        """Y as a C-contiguous (n_rows, n_out) array of `dtype` (a new array)."""
        return _as_matrix(_numeric_targets(Y, n_rows, "Y"), n_rows, n_out, dtype, "Y")

    def transform(self, outputs: np.ndarray) -> np.ndarray:
        """What predict_proba returns for the network's raw outputs."""
        raise ValueError(f"predict_proba: needs a classification loss (cross_entropy or "
                         f"binary_cross_entropy), this network has loss={self.name!r}")

    def metrics(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> dict:
        """Metrics beyond the loss, from raw outputs and prepared targets."""
        return {}

    def n_classes(self, n_out: int) -> int | None:
        """How many classes a network with n_out outputs tells apart (None: not
        a single-label classification loss)."""
        return None

    def hits(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[int, int]:
        """(right answers, units) behind running_metric, counted as the C
        loss row counts them during fit; (0, 0) when there is none."""
        return 0, 0

    def class_of_rows(self, targets: np.ndarray) -> np.ndarray:
        """Each row's class index from prepared targets (class_weight uses it)."""
        raise _needs_one_label("class_weight", self.name)

    def predicted_class(self, outputs: np.ndarray) -> np.ndarray:
        """Each row's predicted class index from raw outputs."""
        raise _needs_one_label("predict_classes", self.name)

    def config(self) -> dict:
        """JSON-able: the name and the parameters (the model file stores it)."""
        return {"name": self.name}

    def __eq__(self, other) -> bool:
        return isinstance(other, Loss) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({params})"


class RegressionLoss(Loss):
    """A loss on real-valued targets: evaluate adds RMSE, MAE and R^2 (the
    mean of each output's R^2, as scikit-learn's r2_score), weighted by the
    sample weights when given."""

    metric_names = ("rmse", "mae", "r2")

    def metrics(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> dict:
        return regression_metrics(outputs, targets, sample_weight)


@register_loss
class MSE(RegressionLoss):
    """Mean squared error over all N*m elements (torch's MSELoss); with sample
    weights, the weighted mean of each row's mean squared error."""

    name = "mse"


@register_loss
class MSESum(RegressionLoss):
    """Sum of squared errors (the 'sum' reduction of torch's MSELoss)."""

    name = "mse_sum"


@register_loss
class Huber(RegressionLoss):
    """Huber loss with threshold delta (torch's HuberLoss): e^2 / 2 where
    |e| <= delta, else delta (|e| - delta / 2); the mean over elements."""

    name = "huber"

    def __init__(self, delta: float = 1.0):
        from .optimizers import check_number
        self.delta = check_number(delta, "delta", 0.0, include_low=False)

    def c_params(self) -> tuple[float, ...]:
        return (self.delta,)

    def config(self) -> dict:
        return {"name": self.name, "delta": self.delta}


@register_loss
class MAE(RegressionLoss):
    """Mean absolute error (torch's L1Loss, mean reduction); its gradient is
    sign(e), 0 where the error is 0."""

    name = "mae"


@register_loss
class CrossEntropy(Loss):
    """Softmax cross-entropy on the network's logits (torch's CrossEntropyLoss),
    mean over rows. Targets are integer class labels in [0, n_out) or rows of
    class probabilities (one-hot or soft) that sum to 1. predict_proba gives
    the softmax; evaluate adds the accuracy."""

    name = "cross_entropy"
    output_transform = "softmax"
    metric_names = ("accuracy",)
    running_metric = "accuracy"
    raw_targets_ok = False
    has_proba = True

    def check_network(self, n_out: int) -> None:
        if n_out < 2:
            raise ValueError("loss: cross_entropy needs at least 2 outputs (softmax over one logit "
                             "is always 1, so nothing would be learned); for a yes/no target use "
                             "one output with loss='binary_cross_entropy'")

    def prepare_targets(self, Y, n_rows: int, n_out: int, dtype) -> np.ndarray:
        arr = _numeric_targets(Y, n_rows, "Y")
        if arr.ndim == 1:
            labels = arr
            if labels.dtype.kind == "f":
                if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
                    raise ValueError("Y: expected integer class labels, got non-integer values")
            if labels.size and (labels.min() < 0 or labels.max() >= n_out):
                raise ValueError(f"Y: expected class labels in [0, {n_out - 1}], got values from "
                                 f"{labels.min()} to {labels.max()}")
            onehot = np.zeros((n_rows, n_out), dtype=dtype)
            onehot[np.arange(n_rows), labels.astype(np.int64)] = 1
            return onehot
        T = _as_matrix(arr, n_rows, n_out, dtype, "Y")
        if (T < 0).any():
            r = int(np.argwhere(T < 0)[0][0])
            raise ValueError(f"Y: row {r} has a negative class probability; expected rows of "
                             f"non-negative probabilities that sum to 1 (or integer labels)")
        sums = T.sum(axis=1, dtype=np.float64)
        tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-10
        bad = np.flatnonzero(np.abs(sums - 1.0) > tol * n_out)
        if bad.size:
            raise ValueError(f"Y: row {bad[0]} sums to {sums[bad[0]]:.6g}; expected class "
                             f"probabilities that sum to 1 (or integer labels)")
        return T

    def transform(self, outputs: np.ndarray) -> np.ndarray:
        return softmax(outputs)

    def metrics(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> dict:
        right = np.argmax(outputs, axis=1) == np.argmax(targets, axis=1)
        return {"accuracy": float(np.average(right, weights=sample_weight))}

    def n_classes(self, n_out: int) -> int | None:
        return n_out

    def hits(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[int, int]:
        """Rows whose largest output is where the target row is largest."""
        right = np.argmax(outputs, axis=1) == np.argmax(targets, axis=1)
        return int(np.count_nonzero(right)), outputs.shape[0]

    def class_of_rows(self, targets: np.ndarray) -> np.ndarray:
        return np.argmax(targets, axis=1)

    def predicted_class(self, outputs: np.ndarray) -> np.ndarray:
        return np.argmax(outputs, axis=1)


@register_loss
class BinaryCrossEntropy(Loss):
    """Sigmoid fused with binary cross-entropy on the logits (torch's
    BCEWithLogitsLoss), in the stable log-sigmoid form; one or more
    independent outputs, each a yes/no target given as 0/1 or a probability.
    predict_proba gives the sigmoid probabilities; evaluate adds the accuracy
    of the outputs thresholded at 1/2."""

    name = "binary_cross_entropy"
    output_transform = "sigmoid"
    metric_names = ("accuracy",)
    running_metric = "accuracy"
    raw_targets_ok = False
    has_proba = True

    def prepare_targets(self, Y, n_rows: int, n_out: int, dtype) -> np.ndarray:
        arr = _numeric_targets(Y, n_rows, "Y")
        T = _as_matrix(arr, n_rows, n_out, dtype, "Y")
        bad = np.argwhere((T < 0) | (T > 1))
        if bad.size:
            r, c = (int(i) for i in bad[0])
            raise ValueError(f"Y: row {r}, column {c} is {T[r, c].item()!r}; expected targets in [0, 1] "
                             f"(0/1 labels or probabilities)")
        return T

    def transform(self, outputs: np.ndarray) -> np.ndarray:
        return sigmoid(outputs)

    def metrics(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> dict:
        right = ((outputs > 0) == (targets > 0.5)).mean(axis=1)
        return {"accuracy": float(np.average(right, weights=sample_weight))}

    def n_classes(self, n_out: int) -> int | None:
        return 2 if n_out == 1 else None

    def hits(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[int, int]:
        """Outputs on their target's side of 1/2 (logit > 0 where the target is above 1/2)."""
        return int(np.count_nonzero((outputs > 0) == (targets > 0.5))), outputs.size

    def class_of_rows(self, targets: np.ndarray) -> np.ndarray:
        if targets.shape[1] != 1:
            raise _needs_one_label("class_weight", f"{self.name} with {targets.shape[1]} outputs")
        return (targets[:, 0] > 0.5).astype(np.int64)

    def predicted_class(self, outputs: np.ndarray) -> np.ndarray:
        if outputs.shape[1] != 1:
            raise _needs_one_label("predict_classes", f"{self.name} with {outputs.shape[1]} outputs")
        return (outputs[:, 0] > 0).astype(np.int64)


def _needs_one_label(what: str, loss: str) -> ValueError:
    return ValueError(f"{what}: needs a classification loss with one label per row "
                      f"(cross_entropy, or binary_cross_entropy with one output), this network "
                      f"has loss {loss}")


def regression_metrics(outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> dict:
    """RMSE, MAE and R^2 of outputs against targets (both (n, m)), weighted by
    sample_weight; R^2 is the mean over outputs, 1 for a perfect fit of a
    constant target and 0 for an imperfect one (scikit-learn's convention)."""
    H = np.asarray(outputs, dtype=np.float64)
    T = np.asarray(targets, dtype=np.float64)
    w = np.ones(len(T)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = w.sum()
    # Everything is scaled by a power of two near the largest magnitude first,
    # so errors up to the float64 limit square without overflowing
    scale = float(max(np.abs(H).max(initial=0.0), np.abs(T).max(initial=0.0), 1e-300))
    scale = 2.0 ** math.floor(math.log2(scale)) if math.isfinite(scale) else 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        Hs, Ts = H / scale, T / scale
        E = Hs - Ts
        mse = float(w @ (E * E).mean(axis=1) / total)
        mae = float(w @ np.abs(E).mean(axis=1) / total) * scale
        mean = (w @ Ts) / total
        ss_res = w @ (E * E)
        ss_tot = w @ ((Ts - mean) ** 2)
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
                      np.where(ss_res == 0, 1.0, 0.0))
    return {"rmse": float(np.sqrt(mse)) * scale, "mae": mae, "r2": float(r2.mean())}


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, split by sign so exp never overflows."""
    Z = np.asarray(Z)
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E)).astype(Z.dtype, copy=False)


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits stay finite."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)
