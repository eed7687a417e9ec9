"""Layers: the Layer protocol and its kinds (Dense, Dropout).

A layer describes one node of a network: its shape, its activation, the
parameter tensors it trains and their initialisation, and a spec for the
model file. The numeric work is the C layer kind of the same name
(csrc/layers/); a Network lays every layer's parameters out in one flat
vector and gives each layer views of its own tensors.

Adding a layer kind is its C file plus one class here, registered with
@register_layer: Network, the model file, the optimizers and the callbacks
see only this protocol.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from . import _kernels
from ._validation import check_width, real_array
from .optimizers import check_number

#: activation names Dense accepts (None means "identity"), from the C table
ACTIVATIONS: tuple[str, ...] = _kernels.ACTIVATIONS

#: layer classes by their kind name (the model file's "kind")
LAYER_KINDS: dict[str, type["Layer"]] = {}

# Activations initialised with He (normal, std sqrt(2 / n_in)); the others
# with Glorot (uniform, limit sqrt(6 / (n_in + n_out))).
_HE_INIT = ("relu", "leaky_relu", "silu", "gelu")


def register_layer(cls: type["Layer"]) -> type["Layer"]:
    """Class decorator: makes a Layer kind known to Network and the model file."""
    if cls.kind not in _kernels.LAYER_KINDS:
        raise ValueError(f"layer kind {cls.kind!r} has no C implementation; the C kinds are "
                         f"{_kernels.LAYER_KINDS}")
    LAYER_KINDS[cls.kind] = cls
    return cls


def activation_name(activation: str | None, argument: str = "activation") -> str:
    """The canonical name of `activation`, or a ValueError naming the choices."""
    if activation is None:
        return "identity"
    if not isinstance(activation, str) or activation.lower() not in ACTIVATIONS:
        raise ValueError(f"{argument}: expected one of {', '.join(map(repr, ACTIVATIONS))} or None, "
                         f"got {activation!r}")
    return activation.lower()


def layer_from_spec(spec) -> "Layer":
    """The Layer a model file's spec describes (ValueError when it is not one)."""
    if not isinstance(spec, dict):
        raise ValueError(f"layer spec: expected an object, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in LAYER_KINDS:
        raise ValueError(f"layer spec: unknown kind {kind!r}; known kinds: {sorted(LAYER_KINDS)}")
    return LAYER_KINDS[kind].from_spec(spec)


class Layer:
    """The protocol every layer kind implements.

    Attributes: n_in and n_out (widths; a shape-preserving layer learns them
    when it joins a network), activation (its output activation name).
    Class attributes: kind (the C kind's name) and param_names (its trained
    tensors, in the C kind's order).
    """

    kind: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    const_names: ClassVar[tuple[str, ...]] = ()

    n_in: int | None
    n_out: int | None
    activation: str = "identity"

    def __init__(self) -> None:
        self._params: dict[str, np.ndarray] | None = None
        self._consts: dict[str, np.ndarray] | None = None

    # Shape ------------------------------------------------------------------
    def connect(self, n_in: int) -> int:
        """Join a network after a layer of width n_in; returns this layer's n_out."""
        if self.n_in is not None and self.n_in != n_in:
            raise ValueError(f"expected n_in={n_in} to match the previous layer's n_out, got "
                             f"n_in={self.n_in}")
        return self.n_out

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the trained tensors, in param_names order."""
        return {}

    def const_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the constant (not trained) tensors, in const_names order."""
        return {}

    @property
    def n_params(self) -> int:
        """Number of trained parameters."""
        return int(sum(np.prod(s, dtype=np.int64) for s in self.param_shapes().values()))

    # Parameters -------------------------------------------------------------
    @property
    def built(self) -> bool:
        """True once the layer belongs to a network that holds its parameters."""
        return self._params is not None

    def init_params(self, params: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Fill freshly laid-out parameter views with initial values."""

    def init_consts(self, consts: dict[str, np.ndarray]) -> None:
        """Fill freshly laid-out constant views."""

    def parameters(self) -> dict[str, np.ndarray]:
        """The trained tensors by name: writable views into the network's parameters."""
        self._require_built()
        return dict(self._params)

    def constants(self) -> dict[str, np.ndarray]:
        self._require_built()
        return dict(self._consts)

    def _bind(self, params: dict[str, np.ndarray], consts: dict[str, np.ndarray]) -> None:
        """Called once by the Network that lays out this layer's tensors."""
        if self._params is not None:
            raise ValueError(f"this {type(self).__name__} layer already belongs to a Network; "
                             f"create a new one")
        self._params, self._consts = params, consts

    def _require_built(self) -> None:
        if self._params is None:
            raise ValueError(f"this {type(self).__name__} layer has no parameters yet: add it to "
                             f"a Network, which creates them")

    def _assign(self, name: str, value) -> None:
        """Copy `value` into parameter `name` (same buffer: the engine keeps pointing at it)."""
        self._require_built()
        target = self._params[name] if name in self._params else self._consts[name]
        target[...] = real_array(value, target.shape, target.dtype, name)

    # The C node and the model file -------------------------------------------
    def _node(self) -> tuple[str, int, int, str, float]:
        """(kind, n_in, n_out, activation, rate) for the C engine."""
        return (self.kind, self.n_in, self.n_out, self.activation, 0.0)

    def spec(self) -> dict:
        """A JSON-able description from which from_spec rebuilds the layer."""
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: dict) -> "Layer":
        raise NotImplementedError

    def summary_row(self) -> tuple[str, str]:
        """(name, a short description of its settings) for Network.summary()."""
        return type(self).__name__, ""


@register_layer
class Dense(Layer):
    """A fully connected layer: H = activation(X @ W + B).

    W has shape (n_in, n_out) and B shape (n_out,). The Network the layer
    joins creates them: He initialisation for ReLU-like activations (relu,
    leaky_relu, silu, gelu), Glorot otherwise; biases start at 0. Writing
    into them in place, or assigning a new array of the same shape (copied
    into the existing buffer, dtype converted), changes the network.
    """

    kind = "dense"
    param_names = ("W", "B")

    def __init__(self, n_in: int, n_out: int, activation: str | None = None):
        super().__init__()
        self.n_in = check_width(n_in, "n_in")
        self.n_out = check_width(n_out, "n_out")
        self.activation = activation_name(activation)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.n_in, self.n_out), "B": (self.n_out,)}

    def init_params(self, params: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        if self.activation in _HE_INIT:
            W = rng.standard_normal((self.n_in, self.n_out)) * np.sqrt(2.0 / self.n_in)
        else:
            limit = np.sqrt(6.0 / (self.n_in + self.n_out))
            W = rng.uniform(-limit, limit, (self.n_in, self.n_out))
        params["W"][...] = W
        params["B"][...] = 0

    @property
    def W(self) -> np.ndarray:
        """Weights, shape (n_in, n_out)."""
        self._require_built()
        return self._params["W"]

    @W.setter
    def W(self, value) -> None:
        self._assign("W", value)

    @property
    def B(self) -> np.ndarray:
        """Biases, shape (n_out,)."""
        self._require_built()
        return self._params["B"]

    @B.setter
    def B(self, value) -> None:
        self._assign("B", value)

    def spec(self) -> dict:
        return {"kind": self.kind, "n_in": self.n_in, "n_out": self.n_out,
                "activation": self.activation}

    @classmethod
    def from_spec(cls, spec: dict) -> "Dense":
        return cls(spec.get("n_in"), spec.get("n_out"), spec.get("activation"))

    def summary_row(self) -> tuple[str, str]:
        return "Dense", self.activation

    def __repr__(self) -> str:
        dtype = f", dtype={self.W.dtype}" if self.built else ""
        return f"Dense({self.n_in} -> {self.n_out}, activation={self.activation!r}{dtype})"


@register_layer
class Dropout(Layer):
    """Inverted dropout: in training, each element is zeroed with probability
    `rate` and the others are scaled by 1 / (1 - rate); in predict, evaluate
    and loss it is the identity. Its width is the previous layer's.

    The mask comes from a counter-based generator keyed by fit's seed, the
    layer's position, the step and the element, so a seeded fit is
    reproducible bit for bit.
    """

    kind = "dropout"

    def __init__(self, rate: float):
        super().__init__()
        self.rate = check_number(rate, "rate", 0.0, 1.0, include_high=False)
        self.n_in: int | None = None
        self.n_out: int | None = None

    def connect(self, n_in: int) -> int:
        self.n_in = self.n_out = n_in
        return n_in

    def _node(self) -> tuple[str, int, int, str, float]:
        return (self.kind, self.n_in, self.n_out, "identity", self.rate)

    def spec(self) -> dict:
        return {"kind": self.kind, "rate": self.rate}

    @classmethod
    def from_spec(cls, spec: dict) -> "Dropout":
        return cls(spec.get("rate"))

    def summary_row(self) -> tuple[str, str]:
        return "Dropout", f"rate {self.rate:g}"

    def __repr__(self) -> str:
        width = f", width={self.n_in}" if self.n_in is not None else ""
        return f"Dropout(rate={self.rate}{width})"


@register_layer
class Standardize(Layer):
    """Input standardization inside the model: y = (x - mean) / std per column.

    mean and std are constants, not trained: the model carries its
    preprocessing, so a saved network predicts from raw rows. Usually the
    first layer; from_data(X) computes the statistics of training data (a
    constant column gets std 1).
    """

    kind = "standardize"
    const_names = ("mean", "std")

    def __init__(self, mean, std):
        super().__init__()
        mean = np.asarray(mean, dtype=np.float64)
        std = np.asarray(std, dtype=np.float64)
        if mean.ndim != 1 or mean.size == 0:
            raise ValueError(f"mean: expected a non-empty 1-D array, got shape {mean.shape}")
        if std.shape != mean.shape:
            raise ValueError(f"std: expected shape {mean.shape} like mean, got {std.shape}")
        if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(std)) or (std <= 0).any():
            raise ValueError("mean, std: expected finite values, and std > 0")
        self.n_in = self.n_out = check_width(mean.size, "mean's length")
        self._mean, self._std = mean, std

    @classmethod
    def from_data(cls, X) -> "Standardize":
        """The statistics of X's columns (population std; 1 where it is 0)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X: expected a non-empty 2-D array, got shape {X.shape}")
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    def const_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"mean": (self.n_in,), "std": (self.n_in,)}

    def init_consts(self, consts: dict[str, np.ndarray]) -> None:
        consts["mean"][...] = self._mean
        consts["std"][...] = self._std
        if not (np.isfinite(consts["mean"]).all() and np.isfinite(consts["std"]).all()
                and (consts["std"] > 0).all()):
            raise ValueError("mean, std: the statistics do not fit the network's dtype")

    @property
    def mean(self) -> np.ndarray:
        return self._consts["mean"] if self.built else self._mean

    @property
    def std(self) -> np.ndarray:
        return self._consts["std"] if self.built else self._std

    def spec(self) -> dict:
        return {"kind": self.kind, "n": self.n_in}

    @classmethod
    def from_spec(cls, spec: dict) -> "Standardize":
        # The statistics themselves are arrays of the model file
        n = check_width(spec.get("n"), "n")
        return cls(np.zeros(n), np.ones(n))

    def summary_row(self) -> tuple[str, str]:
        return "Standardize", "(x - mean) / std"

    def __repr__(self) -> str:
        return f"Standardize(n={self.n_in})"
