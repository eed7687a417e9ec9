"""Dense layers and the activation table."""
from __future__ import annotations

import numpy as np

from ._validation import check_positive_int

#: activation names accepted by Dense; None means "identity"
ACTIVATION_NAMES = ("identity", "sigmoid", "relu", "tanh")


def activation_name(activation: str | None, argument: str = "activation") -> str:
    """The canonical name of `activation`, or a ValueError naming the choices."""
    if activation is None:
        return "identity"
    if not isinstance(activation, str) or activation.lower() not in ACTIVATION_NAMES:
        raise ValueError(
            f"{argument}: expected one of {', '.join(repr(a) for a in ACTIVATION_NAMES)} "
            f"or None, got {activation!r}")
    return activation.lower()


class Dense:
    """A fully connected layer: H = activation(X @ W + B).

    W has shape (n_in, n_out) and B shape (n_out,). They are created by the
    Network the layer joins (He initialisation for ReLU, Glorot otherwise).
    Writing into them in place, or assigning a new array of the same shape
    (copied into the existing buffer, dtype converted), changes the network.
    """

    def __init__(self, n_in: int, n_out: int, activation: str | None = None):
        self.n_in = check_positive_int(n_in, "n_in")
        self.n_out = check_positive_int(n_out, "n_out")
        self.activation = activation_name(activation)
        self._W: np.ndarray | None = None
        self._B: np.ndarray | None = None

    # Parameters -----------------------------------------------------------
    def _require_built(self) -> None:
        if self._W is None:
            raise AttributeError(
                "this Dense layer has no parameters yet: add it to a Network, which creates them")

    @property
    def W(self) -> np.ndarray:
        """Weights, shape (n_in, n_out)."""
        self._require_built()
        return self._W

    @W.setter
    def W(self, value) -> None:
        self._require_built()
        self._assign(self._W, value, "W")

    @property
    def B(self) -> np.ndarray:
        """Biases, shape (n_out,)."""
        self._require_built()
        return self._B

    @B.setter
    def B(self, value) -> None:
        self._require_built()
        self._assign(self._B, value, "B")

    @staticmethod
    def _assign(target: np.ndarray, value, name: str) -> None:
        try:
            array = np.asarray(value, dtype=target.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__}") from exc
        if array.shape != target.shape:
            raise ValueError(f"{name}: expected shape {target.shape}, got {array.shape}")
        target[...] = array   # same buffer: the C engine keeps pointing at it

    def _build(self, dtype: np.dtype, rng: np.random.Generator) -> None:
        """Create W and B: He-normal for ReLU, Glorot-uniform otherwise; zero biases."""
        if self.activation == "relu":
            W = rng.standard_normal((self.n_in, self.n_out)) * np.sqrt(2.0 / self.n_in)
        else:
            limit = np.sqrt(6.0 / (self.n_in + self.n_out))
            W = rng.uniform(-limit, limit, (self.n_in, self.n_out))
        self._W = np.ascontiguousarray(W, dtype=dtype)
        self._B = np.zeros(self.n_out, dtype=dtype)

    @property
    def n_params(self) -> int:
        return self.n_in * self.n_out + self.n_out

    def __repr__(self) -> str:
        dtype = "" if self._W is None else f", dtype={self._W.dtype}"
        return f"Dense({self.n_in} -> {self.n_out}, activation={self.activation!r}{dtype})"
