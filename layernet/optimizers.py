"""Optimizers: one class per optimizer.

The updates run in C (one function per row of csrc/tables/optimizers.h),
over the network's whole flat parameter vector at once. An optimizer object
holds the hyper-parameters (passed to C as data, in its row's order), the
step count and the state: n_state flat vectors the size of the parameters,
seen per parameter through `state` (one list of tensors per parameter).

All follow torch.optim's definitions. Adding an optimizer is its C row and
update function plus one class here, registered with @register_optimizer.
"""
from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from . import _kernels

#: optimizer classes by kind (the model file's optimizer "kind")
OPTIMIZERS: dict[str, type["Optimizer"]] = {}


def register_optimizer(cls: type["Optimizer"]) -> type["Optimizer"]:
    """Class decorator: makes an Optimizer known to fit and the model file."""
    if cls.kind not in _kernels.OPTIMIZERS:
        raise ValueError(f"optimizer {cls.kind!r} has no C implementation; the C optimizers are "
                         f"{_kernels.OPTIMIZERS}")
    OPTIMIZERS[cls.kind] = cls
    return cls


def check_number(value, argument: str, low: float = 0.0, high: float = math.inf,
                 include_low: bool = True, include_high: bool = True) -> float:
    """`value` as a float within [low, high] (bounds as asked), or an error naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argument}: expected a number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf if value > 0 else -math.inf
    ok = math.isfinite(x)
    ok = ok and (x >= low if include_low else x > low)
    ok = ok and (x <= high if include_high else x < high)
    if not ok:
        lo = "[" if include_low else "("
        hi = "]" if include_high else ")"
        shown = value if not isinstance(value, int) or abs(value) < 10**20 else f"{str(value)[:12]}..."
        raise ValueError(f"{argument}: expected a finite number in {lo}{low}, {high}{hi}, got {shown}")
    return x


class Optimizer:
    """Base class: hyper-parameters, a step counter and the state vectors.

    lr: the learning rate; weight_decay: L2 added to the gradient
    (g += weight_decay * p); clip_norm: when set, the gradient of all
    parameters together is scaled to at most this global norm before the
    update, as torch.nn.utils.clip_grad_norm_ does.
    """

    kind: ClassVar[str] = ""

    def __init__(self, lr: float, weight_decay: float = 0.0, clip_norm: float | None = None):
        self.lr = check_number(lr, "lr")
        self.weight_decay = check_number(weight_decay, "weight_decay")
        self.clip_norm = None if clip_norm is None else check_number(clip_norm, "clip_norm",
                                                                     include_low=False)
        self.step = 0
        self._flat: list[np.ndarray] | None = None   # n_state vectors, the parameters' layout
        self._views: list[list[np.ndarray]] | None = None

    # What C needs ------------------------------------------------------------
    @property
    def n_state(self) -> int:
        """State tensors kept per parameter with these hyper-parameters."""
        return _kernels.OPTIMIZER_N_STATE[self.kind]

    def hyperparams(self) -> tuple[float, ...]:
        """The hyper-parameters in the C row's order."""
        return ()

    def _c_config(self) -> tuple:
        return (self.kind, self.lr, self.weight_decay, self.hyperparams(), self.clip_norm)

    # State ---------------------------------------------------------------------
    @property
    def state(self) -> list[list[np.ndarray]] | None:
        """Per parameter tensor (in the network's order), the list of its state
        tensors (n_state each), or None before the first step."""
        return self._views

    def _attach(self, size: int, tensors: list[tuple[int, tuple]], dtype) -> None:
        """Make zeroed state for a parameter vector of `size` elements unless
        matching state exists (from a checkpoint). tensors: (offset, shape) of
        each parameter tensor."""
        if (self._flat is not None and len(self._flat) == self.n_state
                and all(v.shape == (size,) and v.dtype == dtype for v in self._flat)
                and self._views is not None and len(self._views) == len(tensors)):
            return
        self._flat = [_kernels.aligned_zeros(size, dtype) for _ in range(self.n_state)]
        self._views = [[v[off:off + int(np.prod(shape, dtype=np.int64))].reshape(shape)
                        for v in self._flat] for off, shape in tensors]
        self.step = 0

    def _state_vectors(self) -> list[np.ndarray]:
        return list(self._flat or [])

    # The model file ---------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able hyper-parameters and step (what the model file stores)."""
        config = {"kind": self.kind, "lr": self.lr, "weight_decay": self.weight_decay,
                  "clip_norm": self.clip_norm, "step": self.step}
        config.update(self._extra_config())
        return config

    def _extra_config(self) -> dict:
        return {}

    @staticmethod
    def from_config(config: dict) -> "Optimizer":
        """Inverse of config() (ValueError or TypeError naming a bad entry)."""
        if not isinstance(config, dict):
            raise ValueError(f"optimizer: expected an object, got {type(config).__name__}")
        kind = config.get("kind")
        if kind not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected kind one of {sorted(OPTIMIZERS)}, got {kind!r}")
        params = {k: v for k, v in config.items() if k not in ("kind", "step")}
        opt = OPTIMIZERS[kind](**params)
        step = config.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 2**62:
            raise ValueError(f"optimizer: step must be an integer >= 0, got {step!r}")
        opt.step = step
        return opt

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k not in ("kind", "step"))
        return f"{type(self).__name__}({params})"


@register_optimizer
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum:
    v = momentum * v + g (v starts as g);  p -= lr * (g + momentum * v if nesterov else v)."""

    kind = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        super().__init__(lr, weight_decay, clip_norm)
        self.momentum = check_number(momentum, "momentum", 0.0, 1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov: expected True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0")

    @property
    def n_state(self) -> int:
        return 1 if self.momentum else 0

    def hyperparams(self) -> tuple[float, ...]:
        return (self.momentum, 1.0 if self.nesterov else 0.0)

    def _extra_config(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov}


@register_optimizer
class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction and L2 weight decay."""

    kind = "adam"

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, clip_norm: float | None = None):
        super().__init__(lr, weight_decay, clip_norm)
        self.beta1 = check_number(beta1, "beta1", 0.0, 1.0, include_high=False)
        self.beta2 = check_number(beta2, "beta2", 0.0, 1.0, include_high=False)
        self.eps = check_number(eps, "eps", 0.0, include_low=False)

    def hyperparams(self) -> tuple[float, ...]:
        return (self.beta1, self.beta2, self.eps)

    def _extra_config(self) -> dict:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


@register_optimizer
class AdamW(Optimizer):
    """AdamW (Loshchilov & Hutter) as torch.optim.AdamW: the weight decay is
    decoupled from the gradient (p *= 1 - lr * weight_decay before the Adam
    step); default weight_decay 1e-2."""

    kind = "adamw"

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 1e-2, clip_norm: float | None = None):
        super().__init__(lr, weight_decay, clip_norm)
        self.beta1 = check_number(beta1, "beta1", 0.0, 1.0, include_high=False)
        self.beta2 = check_number(beta2, "beta2", 0.0, 1.0, include_high=False)
        self.eps = check_number(eps, "eps", 0.0, include_low=False)

    def hyperparams(self) -> tuple[float, ...]:
        return (self.beta1, self.beta2, self.eps)

    def _extra_config(self) -> dict:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


@register_optimizer
class RMSprop(Optimizer):
    """RMSprop as torch.optim.RMSprop (not centred): a running average of
    squared gradients with smoothing alpha, optional momentum, and L2 weight
    decay added to the gradient."""

    kind = "rmsprop"

    def __init__(self, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0, clip_norm: float | None = None):
        super().__init__(lr, weight_decay, clip_norm)
        self.alpha = check_number(alpha, "alpha", 0.0, 1.0)
        self.eps = check_number(eps, "eps", 0.0, include_low=False)
        self.momentum = check_number(momentum, "momentum", 0.0, 1.0)

    @property
    def n_state(self) -> int:
        return 2 if self.momentum else 1

    def hyperparams(self) -> tuple[float, ...]:
        return (self.alpha, self.eps, self.momentum)

    def _extra_config(self) -> dict:
        return {"alpha": self.alpha, "eps": self.eps, "momentum": self.momentum}
