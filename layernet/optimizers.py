"""Optimizers. The updates run in C (ln_optimizer_update); these objects hold
the hyper-parameters, the step count and the state buffers.

Both follow PyTorch's definitions: weight decay is L2 added to the gradient
(g += weight_decay * p) for weights and biases alike; SGD's momentum buffer
starts as the first gradient; Adam's bias corrections use the step count.
"""
from __future__ import annotations

import math

import numpy as np


def _check_number(value, argument: str, low: float = 0.0, high: float = math.inf,
                  include_low: bool = True, include_high: bool = True) -> float:
    """`value` as a float within [low, high] (bounds as asked), or a ValueError naming it."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{argument}: expected a number, got {value!r}") from None
    ok = math.isfinite(x)
    ok = ok and (x >= low if include_low else x > low)
    ok = ok and (x <= high if include_high else x < high)
    if not ok:
        lo = "[" if include_low else "("
        hi = "]" if include_high else ")"
        raise ValueError(f"{argument}: expected a finite number in {lo}{low}, {high}{hi}, got {value!r}")
    return x


class Optimizer:
    """Base class: hyper-parameters, a step counter and per-layer state buffers."""

    kind = "sgd"
    #: number of state tensors kept per parameter (0, 1 or 2)
    n_state = 0

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = _check_number(lr, "lr")
        self.weight_decay = _check_number(weight_decay, "weight_decay")
        self.momentum = 0.0
        self.nesterov = False
        self.beta1 = 0.9
        self.beta2 = 0.999
        self.eps = 1e-8
        self.step = 0
        # state[l] = (W1, B1, W2, B2) for layer l, None where unused
        self.state: list[tuple] | None = None

    def _ensure_state(self, layers, dtype) -> bool:
        """Create zeroed state buffers for `layers` unless matching ones exist
        (e.g. loaded from a checkpoint). Returns True when new buffers were made."""
        if self._state_matches(layers, dtype):
            return False
        self.state = []
        for layer in layers:
            bufs = [None, None, None, None]
            for i in range(self.n_state):
                bufs[2 * i] = np.zeros((layer.n_in, layer.n_out), dtype=dtype)
                bufs[2 * i + 1] = np.zeros(layer.n_out, dtype=dtype)
            self.state.append(tuple(bufs))
        self.step = 0
        return True

    def _state_matches(self, layers, dtype) -> bool:
        if self.state is None or len(self.state) != len(layers):
            return False
        for bufs, layer in zip(self.state, layers):
            for i in range(self.n_state):
                W, B = bufs[2 * i], bufs[2 * i + 1]
                if (W is None or B is None or W.shape != (layer.n_in, layer.n_out)
                        or B.shape != (layer.n_out,) or W.dtype != dtype or B.dtype != dtype):
                    return False
        return True

    def config(self) -> dict:
        """JSON-able hyper-parameters (what the model file stores)."""
        raise NotImplementedError

    @staticmethod
    def from_config(config: dict) -> "Optimizer":
        kind = config.get("kind")
        params = {k: v for k, v in config.items() if k not in ("kind", "step")}
        if kind == "sgd":
            opt = SGD(**params)
        elif kind == "adam":
            opt = Adam(**params)
        else:
            raise ValueError(f"optimizer: expected kind 'sgd' or 'adam', got {kind!r}")
        opt.step = int(config.get("step", 0))
        return opt


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum:
    v = momentum * v + g;  p -= lr * (g + momentum * v if nesterov else v)."""

    kind = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _check_number(momentum, "momentum", 0.0, 1.0)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum=0")
        self.n_state = 1 if self.momentum else 0

    def config(self) -> dict:
        return {"kind": "sgd", "lr": self.lr, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay, "step": self.step}

    def __repr__(self) -> str:
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay})")


class Adam(Optimizer):
    """Adam (Kingma & Ba), with PyTorch's bias-correction and L2 weight decay."""

    kind = "adam"
    n_state = 2

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = _check_number(beta1, "beta1", 0.0, 1.0, include_high=False)
        self.beta2 = _check_number(beta2, "beta2", 0.0, 1.0, include_high=False)
        self.eps = _check_number(eps, "eps", 0.0, include_low=False)

    def config(self) -> dict:
        return {"kind": "adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "weight_decay": self.weight_decay, "step": self.step}

    def __repr__(self) -> str:
        return (f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps}, "
                f"weight_decay={self.weight_decay})")
