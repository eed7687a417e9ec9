"""Learning-rate schedules: callbacks that set the optimizer's lr at the end
of each epoch, following torch.optim.lr_scheduler's definitions (with
scheduler.step() called once per epoch).

Each schedule remembers the optimizer's lr when training begins as its base
lr and counts the epochs it has seen, so epoch e of the schedule (0-based)
trains with the lr the formula gives for e. The History records the lr each
epoch trained with under "lr".
"""
from __future__ import annotations

import math

from ._validation import check_int
from .callbacks import Callback, _check_monitor, _require_monitor
from .optimizers import check_number


class Schedule(Callback):
    """Base class: lr_at(epoch) gives the lr of the schedule's epoch `epoch`."""

    def __init__(self) -> None:
        self.base_lr: float | None = None
        self.last_epoch = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def on_train_begin(self, net) -> None:
        if self.base_lr is None:            # a resumed fit keeps its schedule's place
            self.base_lr = net.optimizer.lr
            net.optimizer.lr = self.lr_at(0)

    def on_epoch_end(self, net, epoch: int, logs: dict) -> None:
        self.last_epoch += 1
        net.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(Schedule):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        super().__init__()
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_number(gamma, "gamma")

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Schedule):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, gamma: float):
        super().__init__()
        self.gamma = check_number(gamma, "gamma")

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
    (torch's closed form; past T_max the cosine rises again, as in torch)."""

    def __init__(self, T_max: int, eta_min: float = 0.0):
        super().__init__()
        self.T_max = check_int(T_max, "T_max", 1)
        self.eta_min = check_number(eta_min, "eta_min")

    def lr_at(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearWarmup(Schedule):
    """torch's LinearLR(start_factor, end_factor=1, total_iters=epochs): the lr
    rises linearly from start_factor * base_lr to base_lr over `epochs` epochs,
    then stays there."""

    def __init__(self, epochs: int, start_factor: float = 0.1):
        super().__init__()
        self.epochs = check_int(epochs, "epochs", 1)
        self.start_factor = check_number(start_factor, "start_factor", 0.0, 1.0, include_low=False)

    def lr_at(self, epoch: int) -> float:
        progress = min(epoch, self.epochs) / self.epochs
        return self.base_lr * (self.start_factor + (1.0 - self.start_factor) * progress)


class ReduceLROnPlateau(Callback):
    """torch's ReduceLROnPlateau: when `monitor` has not improved for more than
    `patience` epochs, lr = max(lr * factor, min_lr); then `cooldown` epochs
    pass before counting again. Improvement is relative (threshold_mode
    "rel"): a loss must fall below best * (1 - threshold), an accuracy rise
    above best * (1 + threshold)."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        self.monitor = _check_monitor(monitor)
        self.factor = check_number(factor, "factor", 0.0, 1.0, include_low=False, include_high=False)
        self.patience = check_int(patience, "patience", 0)
        self.threshold = check_number(threshold, "threshold")
        self.cooldown = check_int(cooldown, "cooldown", 0)
        self.min_lr = check_number(min_lr, "min_lr")
        self.best: float | None = None
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def check_metrics(self, metrics) -> None:
        _require_monitor("ReduceLROnPlateau", self.monitor, metrics)

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.monitor.endswith("accuracy"):
            return value > self.best * (1 + self.threshold)
        return value < self.best * (1 - self.threshold)

    def on_epoch_end(self, net, epoch: int, logs: dict) -> None:
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau: monitor {self.monitor!r} is not among the epoch's "
                             f"metrics {sorted(logs)} (val_* metrics need validation data)")
        value = logs[self.monitor]
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = net.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > 1e-8:
                net.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

