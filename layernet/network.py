"""Network: a stack of Dense layers with predict, loss, gradients, train_step and fit.

Every numeric step is one call into C (layernet._kernels.NetEngine): a
predict, a gradient computation, a training step, or a chunk of an epoch's
batches. Python validates inputs once and owns the parameter arrays.
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Sequence

import numpy as np

from . import _kernels
from ._validation import as_features, check_dtype, check_lr, check_positive_int
from .callbacks import Callback, History, ProgressBar
from .layers import Dense
from .losses import accuracy, loss_code, prepare_targets, softmax
from .optimizers import SGD, Optimizer

_NEEDS_CONVERSION = _kernels.NEEDS_CONVERSION
# fit hands control back to Python about this often (progress, callbacks, Ctrl-C)
_CHUNK_SECONDS = 0.2


class Network:
    """A feed-forward network of Dense layers.

    Parameters
    ----------
    layers : list of Dense
        Each layer's n_in must equal the previous layer's n_out.
    dtype : float32 (default) or float64
        The dtype of parameters, workspaces and outputs. Inputs of another dtype,
        or not C-contiguous, are converted (copied) once per call.
    seed : int or None
        Seeds the weight initialisation (He for ReLU layers, Glorot otherwise).
    loss : "mse" or "cross_entropy"
        The training loss. "cross_entropy" applies softmax to the last layer's
        output (so keep that layer's activation None) and takes integer labels
        or one-hot rows as targets.
    """

    def __init__(self, layers: Sequence[Dense], dtype=np.float32, seed: int | None = None,
                 loss: str = "mse"):
        layers = list(layers) if not isinstance(layers, Dense) else [layers]
        if not layers:
            raise ValueError("layers: expected at least one Dense layer, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Dense):
                raise TypeError(f"layers[{i}]: expected a Dense layer, got {type(layer).__name__}")
            if layer._W is not None:
                raise ValueError(f"layers[{i}]: this Dense layer already belongs to a Network; "
                                 f"create a new one")
            if i and layer.n_in != layers[i - 1].n_out:
                raise ValueError(f"layers[{i}]: expected n_in={layers[i - 1].n_out} to match the "
                                 f"previous layer's n_out, got n_in={layer.n_in}")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("layers: the same Dense object appears twice")
        self.dtype = check_dtype(dtype)
        self._loss_code = loss_code(loss)
        self.loss_name = loss
        rng = np.random.default_rng(seed)
        for layer in layers:
            layer._build(self.dtype, rng)
        self.layers = layers
        self._engine = _kernels.NetEngine([layers[0].n_in] + [l.n_out for l in layers],
                                          [l.activation for l in layers], self.dtype)
        for i, layer in enumerate(layers):
            self._engine.bind_params(i, layer._W, layer._B)
        self.optimizer: Optimizer | None = None
        self.metadata: dict = {}
        self.epochs_trained = 0

    # Shape and description ------------------------------------------------
    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self.layers)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return (f"Network([\n  {inner}\n], dtype={self.dtype}, loss={self.loss_name!r}, "
                f"params={self.n_params})")

    def _set_loss(self, loss: str | None) -> None:
        if loss is not None:
            self._loss_code = loss_code(loss)
            self.loss_name = loss

    def _targets(self, Y, n_rows: int, name: str = "Y") -> np.ndarray:
        return prepare_targets(Y, self.loss_name, n_rows, self.n_out, self.dtype, name)

    # Inference ------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """The network's output for X (batch, n_in): (batch, n_out). For a
        cross_entropy network these are the logits; see predict_proba."""
        n = X.shape[0] if isinstance(X, np.ndarray) and X.ndim == 2 else 0
        if n:
            out = np.empty((n, self.n_out), dtype=self.dtype)
            if self._engine.predict(X, out) != _NEEDS_CONVERSION:
                return out
        X = as_features(X, self.n_in, self.dtype)
        out = np.empty((X.shape[0], self.n_out), dtype=self.dtype)
        self._engine.predict(X, out)
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (softmax of the logits) of a cross_entropy network."""
        if self.loss_name != "cross_entropy":
            raise ValueError(f"predict_proba: needs a network with loss='cross_entropy', "
                             f"this one has loss={self.loss_name!r}")
        return softmax(self.predict(X))

    def loss(self, X, Y) -> float:
        """The network's loss on (X, Y): the MSE mean over all elements, or the
        mean cross-entropy over rows for a cross_entropy network."""
        H = self.predict(X)
        T = self._targets(Y, H.shape[0])
        value, _ = _kernels.loss(H, T, self.loss_name)
        return value

    def evaluate(self, X, Y) -> dict:
        """{"loss": ...} and, for a cross_entropy network, "accuracy"."""
        H = self.predict(X)
        T = self._targets(Y, H.shape[0])
        value, _ = _kernels.loss(H, T, self.loss_name)
        result = {"loss": value}
        if self.loss_name == "cross_entropy":
            result["accuracy"] = accuracy(H, T)
        return result

    # Gradients and steps --------------------------------------------------
    def _inputs(self, X, Y) -> tuple[np.ndarray, np.ndarray]:
        X = as_features(X, self.n_in, self.dtype)
        return X, self._targets(Y, X.shape[0])

    def gradients(self, X, Y) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(dW, dB), ...]: the loss's gradient for each layer (new arrays).
        Raises FloatingPointError if the loss or a gradient is not finite."""
        if self._engine.gradients(X, Y, self._loss_code) == _NEEDS_CONVERSION:
            X, Y = self._inputs(X, Y)
            self._engine.gradients(X, Y, self._loss_code)
        return [self._engine.grad(i) for i in range(len(self.layers))]

    def train_step(self, X, Y, lr: float) -> float:
        """One forward, backward and plain-SGD update (W -= lr * dW, B -= lr * dB).
        Returns the loss before the update. A non-finite loss or gradient raises
        FloatingPointError and leaves the parameters as they were."""
        lr = float(lr) if type(lr) in (float, int) else check_lr(lr)
        if not 0.0 <= lr < math.inf:
            check_lr(lr)
        value = self._engine.train_step_sgd(X, Y, self._loss_code, lr)
        if value == _NEEDS_CONVERSION:
            X, Y = self._inputs(X, Y)
            value = self._engine.train_step_sgd(X, Y, self._loss_code, lr)
        return value

    # Training -------------------------------------------------------------
    def _resolve_optimizer(self, lr, optimizer) -> Optimizer:
        if optimizer is not None:
            if lr is not None:
                raise ValueError("lr: pass the learning rate to the optimizer, not both lr= and "
                                 "optimizer=")
            if not isinstance(optimizer, Optimizer):
                raise TypeError(f"optimizer: expected an ln.SGD or ln.Adam, got "
                                f"{type(optimizer).__name__}")
            return optimizer
        if lr is None and self.optimizer is not None:
            return self.optimizer   # resume with the optimizer (and state) used last
        return SGD(check_lr(0.01 if lr is None else lr))

    def _bind_optimizer(self, optimizer: Optimizer) -> None:
        optimizer._ensure_state(self.layers, self.dtype)
        for i, bufs in enumerate(optimizer.state):
            self._engine.bind_state(i, *bufs)
        self.optimizer = optimizer

    def _split(self, X, Y, validation_data, validation_split):
        X, Y = self._inputs(X, Y)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data: expected a tuple (X_val, Y_val)")
            Xv = as_features(validation_data[0], self.n_in, self.dtype, "validation_data[0]")
            Yv = self._targets(validation_data[1], Xv.shape[0], "validation_data[1]")
            return X, Y, Xv, Yv
        split = float(validation_split)
        if not 0.0 <= split < 1.0:
            raise ValueError(f"validation_split: expected a fraction in [0, 1), got {validation_split!r}")
        if split == 0.0:
            return X, Y, None, None
        n_val = int(round(X.shape[0] * split))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError(f"validation_split: {split} of {X.shape[0]} rows leaves "
                             f"{n_val} validation and {X.shape[0] - n_val} training rows; "
                             f"both need at least one")
        # Like Keras: the last rows, taken before any shuffling.
        cut = X.shape[0] - n_val
        return X[:cut], Y[:cut], X[cut:], Y[cut:]

    def fit(self, X, Y, epochs: int = 10, batch_size: int = 32, lr: float | None = None,
            optimizer: Optimizer | None = None, loss: str | None = None,
            validation_data=None, validation_split: float = 0.0,
            callbacks: Sequence[Callback] | None = None, shuffle: bool = True,
            seed: int | None = 0, verbose: int = 0) -> History:
        """Minibatch training; returns a History of per-epoch metrics.

        lr alone means plain SGD with that rate (default 0.01); optimizer= takes an
        ln.SGD or ln.Adam. With neither, a network that was trained (or loaded
        with its optimizer) before resumes with the same optimizer and state.
        Each epoch's batches run in C; Python is visited about every 0.2 s for
        progress, and once per epoch for validation and callbacks.
        Shuffling of epoch e (counted over the network's life, so a resumed run
        repeats an uninterrupted one) uses seed (seed, e).
        "loss" (and "accuracy") in the history are running means over the epoch's
        batches, each taken before its update; "val_*" are computed after the epoch.
        Ctrl-C stops training after the current step: the network keeps every
        completed step and the History (interrupted=True) is returned.
        """
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self._set_loss(loss)
        opt = self._resolve_optimizer(lr, optimizer)
        X, Y, Xv, Yv = self._split(X, Y, validation_data, validation_split)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected ln.Callback objects, got {type(cb).__name__}")
        n = X.shape[0]
        n_batches = -(-n // batch_size)
        if verbose:
            callbacks.insert(0, ProgressBar(verbose, epochs, n_batches))
        self._bind_optimizer(opt)

        history = History()
        base_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**63))
        for cb in callbacks:
            cb.on_train_begin(self)
        try:
            for _ in range(epochs):
                epoch = self.epochs_trained
                perm = (np.random.default_rng([base_seed, epoch]).permutation(n) if shuffle
                        else np.arange(n)).astype(np.int64)
                logs = self._run_epoch(X, Y, perm, batch_size, n_batches, opt, callbacks, epoch)
                self.epochs_trained += 1
                if Xv is not None:
                    logs.update({"val_" + k: v for k, v in self._metrics(Xv, Yv).items()})
                history._record(epoch, logs)
                stop = False
                for cb in callbacks:
                    stop = bool(cb.on_epoch_end(self, epoch, logs)) or stop
                if stop:
                    history.stopped_early = True
                    break
        except KeyboardInterrupt:
            history.interrupted = True
            warnings.warn(f"training interrupted during epoch {self.epochs_trained + 1}; the "
                          f"network holds the parameters of its last completed step",
                          RuntimeWarning, stacklevel=2)
        finally:
            for cb in callbacks:
                cb.on_train_end(self)
        return history

    def _metrics(self, X: np.ndarray, T: np.ndarray) -> dict:
        H = self.predict(X)
        value, _ = _kernels.loss(H, T, self.loss_name)
        out = {"loss": value}
        if self.loss_name == "cross_entropy":
            out["accuracy"] = accuracy(H, T)
        return out

    def _run_epoch(self, X, Y, perm, batch_size, n_batches, opt, callbacks, epoch) -> dict:
        """Runs one epoch's batches in C, in chunks of about _CHUNK_SECONDS."""
        done, loss_sum, hits, chunk = 0, 0.0, 0, 1
        while done < n_batches:
            t0 = time.perf_counter()
            chunk_loss, chunk_hits, steps, status = self._engine.fit_batches(
                X, Y, perm, batch_size, done, chunk, self._loss_code, opt)
            elapsed = time.perf_counter() - t0
            loss_sum += chunk_loss
            hits += chunk_hits
            done += steps
            if status == _kernels.STATUS_NONFINITE:
                raise FloatingPointError(
                    f"fit: the loss or a gradient became non-finite at epoch {epoch + 1}, batch "
                    f"{done + 1}; the network holds the parameters of the step before (try a "
                    f"smaller lr, or check the data for inf/nan)")
            rows = min(done * batch_size, X.shape[0])
            for cb in callbacks:
                cb.on_batches_end(self, done, loss_sum / rows)
            # Size the next chunk so that Python is visited about every _CHUNK_SECONDS.
            per_batch = elapsed / max(steps, 1)
            chunk = max(1, min(n_batches, int(_CHUNK_SECONDS / max(per_batch, 1e-9))))
        logs = {"loss": loss_sum / X.shape[0]}
        if self.loss_name == "cross_entropy":
            logs["accuracy"] = hits / X.shape[0]
        return logs

    # Persistence ----------------------------------------------------------
    def save(self, path, include_optimizer: bool = False, metadata: dict | None = None) -> None:
        """Write the model to `path` (.npz) atomically. See layernet.io."""
        from .io import save
        save(self, path, include_optimizer=include_optimizer, metadata=metadata)
