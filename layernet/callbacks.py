"""Training history and callbacks: progress bar, early stopping, checkpoints."""
from __future__ import annotations

import math
import os
import sys

from ._validation import check_int
from .optimizers import check_number


class History(dict):
    """Per-epoch metrics of one fit call: a dict of metric name to a list with
    one value per epoch ("loss", "lr" and, where they apply, "accuracy",
    "rmse", ... and their "val_" forms), so `in`, len, keys, items,
    dict(history) and pd.DataFrame(history) work as for any dict.

    epoch: the epoch numbers (0-based, counted over the network's life);
    interrupted: Ctrl-C stopped the run; stopped_early: a callback stopped it.
    The keys exist from the start of the run, so a run interrupted in its
    first epoch has them with empty lists.
    """

    def __init__(self, keys=()):
        super().__init__({key: [] for key in keys})
        self.epoch: list[int] = []
        self.interrupted = False
        self.stopped_early = False

    @property
    def history(self) -> "History":
        """The history itself (Keras spells it history.history)."""
        return self

    @property
    def epochs(self) -> list[int]:
        """The same as epoch."""
        return self.epoch

    def _record(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.setdefault(key, []).append(float(value))

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.items() if v}
        flags = " interrupted" if self.interrupted else ""
        flags += " stopped_early" if self.stopped_early else ""
        return f"History(epochs={len(self.epoch)}, last={last}{flags})"


class Callback:
    """Base class. Override the hooks you need; on_epoch_end returns True to stop."""

    def check_metrics(self, metrics) -> None:
        """Called before training with the names the epochs' logs will hold;
        raise ValueError if this callback needs one that will not be there."""

    def on_train_begin(self, net) -> None:
        pass

    def on_batches_end(self, net, batches_done: int, running_loss: float) -> None:
        """Called every few hundred milliseconds inside an epoch."""

    def on_epoch_end(self, net, epoch: int, logs: dict) -> bool | None:
        return None

    def on_train_end(self, net) -> None:
        pass


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k} {v:.6g}" for k, v in logs.items())


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss (verbose=1), or one line per
    epoch (verbose=2). Added by fit when verbose is non-zero; writes to stderr."""

    def __init__(self, verbose: int = 1, epochs: int = 0, n_batches: int = 0, file=None):
        self.verbose = verbose
        self.file = file
        self._bar = None
        self._epochs = epochs
        self._n_batches = n_batches
        self._epoch = 0

    def _open_bar(self, net):
        try:
            from tqdm import tqdm
        except ImportError:   # a declared dependency, but never fail training over a bar
            self.verbose = 2
            return
        self._epoch += 1
        self._bar = tqdm(total=self._n_batches, desc=f"epoch {self._epoch}/{self._epochs}",
                         unit="batch", leave=True, file=self.file or sys.stderr,
                         dynamic_ncols=True)

    def on_batches_end(self, net, batches_done: int, running_loss: float) -> None:
        if self.verbose != 1:
            return
        if self._bar is None:
            self._open_bar(net)
            if self._bar is None:
                return
        self._bar.n = batches_done
        self._bar.set_postfix_str(f"loss {running_loss:.5g}", refresh=True)

    def on_epoch_end(self, net, epoch: int, logs: dict) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(_format_logs(logs), refresh=True)
            self._bar.close()
            self._bar = None
        else:
            self._epoch += 1
            print(f"epoch {self._epoch}/{self._epochs} - {_format_logs(logs)}",
                  file=self.file or sys.stderr)

    def on_train_end(self, net) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _check_monitor(monitor: str) -> str:
    if not isinstance(monitor, str) or monitor.split("_")[-1] not in ("loss", "accuracy"):
        raise ValueError(f"monitor: expected a metric such as 'loss', 'val_loss', 'accuracy' or "
                         f"'val_accuracy', got {monitor!r}")
    return monitor


def _require_monitor(who: str, monitor: str, metrics) -> None:
    """ValueError before training when `monitor` will not be among the epochs' metrics."""
    if monitor not in metrics:
        raise ValueError(f"{who}: monitor {monitor!r} will not be among the epoch's metrics "
                         f"{sorted(metrics)} (val_* metrics need validation data)")


def _improved(monitor: str, value: float, best: float, min_delta: float) -> bool:
    """Losses improve downwards, accuracies upwards."""
    if monitor.endswith("accuracy"):
        return value > best + min_delta
    return value < best - min_delta


class EarlyStopping(Callback):
    """Stops training after `patience` epochs in a row in which `monitor` did not
    improve by more than `min_delta` (Keras's definition; 0 stops at the first). With restore_best, the network gets back the
    parameters of its best epoch when training ends."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True):
        self.monitor = _check_monitor(monitor)
        self.patience = check_int(patience, "patience", 0)
        self.min_delta = check_number(min_delta, "min_delta")
        self.restore_best = bool(restore_best)
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self.stopped_epoch: int | None = None

    def check_metrics(self, metrics) -> None:
        _require_monitor("EarlyStopping", self.monitor, metrics)

    def on_train_begin(self, net) -> None:
        self._best = -math.inf if self.monitor.endswith("accuracy") else math.inf
        self._wait = 0
        self._snapshot = None
        self.best_epoch = self.best_value = self.stopped_epoch = None

    def on_epoch_end(self, net, epoch: int, logs: dict) -> bool:
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: monitor {self.monitor!r} is not among the epoch's "
                             f"metrics {sorted(logs)} (val_* metrics need validation data)")
        value = logs[self.monitor]
        if _improved(self.monitor, value, self._best, self.min_delta):
            self._best, self._wait = value, 0
            self.best_epoch, self.best_value = epoch, value
            if self.restore_best:
                self._snapshot = net.get_weights()
            return False
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, net) -> None:
        if self.restore_best and self._snapshot is not None:
            net.set_weights(self._snapshot)


class ModelCheckpoint(Callback):
    """Saves the network (with its optimizer state) after every epoch, or only
    when `monitor` improves (save_best_only). `path` may contain "{epoch}"."""

    def __init__(self, path, save_best_only: bool = False, monitor: str = "val_loss"):
        if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
            raise TypeError(f"path: expected a file name, got {type(path).__name__}")
        self.path = os.fsdecode(os.fspath(path))
        try:
            self.path.format(epoch=1)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(f"path: {self.path!r} is not a valid pattern; the only placeholder it "
                             f"may hold is {{epoch}} (write {{{{ and }}}} for literal braces): "
                             f"{type(exc).__name__}: {exc}") from None
        self.save_best_only = bool(save_best_only)
        self.monitor = _check_monitor(monitor)
        self._best = None

    def check_metrics(self, metrics) -> None:
        if self.save_best_only:
            _require_monitor("ModelCheckpoint", self.monitor, metrics)

    def on_train_begin(self, net) -> None:
        self._best = -math.inf if self.monitor.endswith("accuracy") else math.inf

    def on_epoch_end(self, net, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint: monitor {self.monitor!r} is not among the "
                                 f"epoch's metrics {sorted(logs)}")
            if not _improved(self.monitor, logs[self.monitor], self._best, 0.0):
                return None
            self._best = logs[self.monitor]
        net.save(self.path.format(epoch=epoch + 1), include_optimizer=True)
        return None
