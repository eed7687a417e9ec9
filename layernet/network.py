"""Network: a sequence of layers with predict, loss, gradients, train_step and fit.

Every numeric step is one call into C (layernet._kernels.NetEngine): a
predict, a loss, a gradient computation, a training step, or a chunk of an
epoch's batches. Python validates inputs once and owns the parameters: one
flat vector laid out by the C engine, of which each layer holds views.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from typing import Sequence

import numpy as np

from . import _kernels
from ._validation import (as_features, check_finite, check_fraction, check_int, check_lr,
                          check_dtype, check_positive_int, check_seed, real_array, to_dtype)
from .callbacks import Callback, History, ProgressBar
from .layers import Layer
from .losses import Loss, get_loss
from .optimizers import SGD, Optimizer, check_number

# fit hands control back to Python about this often (progress, callbacks, Ctrl-C)
_CHUNK_SECONDS = 0.2


class Network:
    """A feed-forward network: layers applied in order.

    Parameters
    ----------
    layers : sequence of Layer (ln.Dense, ln.Dropout, ...)
        Each layer's n_in must equal the previous layer's n_out. The network
        keeps them as a tuple: its structure cannot change after creation.
    dtype : float32 (default) or float64
        The dtype of parameters, workspaces and outputs. Inputs of another
        dtype, byte order or layout are converted (copied) once per call.
    seed : int or None
        Seeds the weight initialisation (He for ReLU-like layers, Glorot
        otherwise) and the dropout masks of train_step.
    loss : str or Loss
        The training loss: "mse" (default), "cross_entropy", or a Loss object.

    Threads: predict, predict_proba, loss, evaluate and gradients may be
    called on one Network from many threads at once; each call uses buffers
    of its own and returns exactly what a single thread would. While the
    network trains (fit or train_step) in one thread, a predict from another
    sees the parameters of before or after a step, never a mixture: updates
    are applied under a lock that forward passes share. Training from two
    threads at once raises RuntimeError. Writing into layer.W directly while
    other threads predict is not synchronised.
    """

    def __init__(self, layers: Sequence[Layer], dtype=np.float32, seed: int | None = None,
                 loss: str | Loss = "mse"):
        layers = (layers,) if isinstance(layers, Layer) else tuple(layers)
        if not layers:
            raise ValueError("layers: expected at least one layer, got an empty list")
        width = None
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}]: expected a layer such as ln.Dense, got "
                                f"{type(layer).__name__}")
            if layer.built:
                raise ValueError(f"layers[{i}]: this {type(layer).__name__} layer already belongs to "
                                 f"a Network; create a new one")
            if width is None and layer.n_in is None:
                raise ValueError(f"layers[{i}]: a {type(layer).__name__} layer takes its width from "
                                 f"the layer before it, so it cannot come first")
            try:
                width = layer.connect(layer.n_in if width is None else width)
            except ValueError as exc:
                raise ValueError(f"layers[{i}]: {exc}") from None
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("layers: the same layer object appears twice")
        self.dtype = check_dtype(dtype)
        self._loss = get_loss(loss)
        self._loss.check_network(layers[-1].n_out)
        self._seed = check_seed(seed, "seed")
        self._layers = layers
        self._engine = _kernels.NetEngine([layer._node() for layer in layers], self.dtype)
        try:
            self._params = _kernels.aligned_zeros(self._engine.param_size, self.dtype)
            self._consts = _kernels.aligned_zeros(self._engine.const_size, self.dtype)
        except (ValueError, MemoryError):
            raise MemoryError(f"layers: {self.n_params:,} parameters of {self.dtype} do not fit in "
                              f"memory") from None
        self._tensors = self._lay_out(self._engine.tensors(), self._params, "param")
        self._lay_out(self._engine.constants(), self._consts, "const")
        rng = np.random.default_rng(seed)
        for layer in layers:
            layer.init_params(layer._params, rng)
            layer.init_consts(layer._consts)
        self._engine.bind(self._params, self._consts)
        self._dropout_seed = self._seed if self._seed is not None else int(rng.integers(2**63))
        self._train_lock = threading.Lock()
        self._sgd_steps = 0
        self.optimizer: Optimizer | None = None
        self.metadata: dict = {}
        self.epochs_trained = 0
        self._classes: list | None = None

    def _lay_out(self, tensors, flat: np.ndarray, what: str) -> list[tuple[int, tuple]]:
        """Give each layer views of its tensors in `flat`; returns (offset, shape) per tensor."""
        views: list[dict] = [{} for _ in self._layers]
        layout = []
        by_node: dict[int, list] = {}
        for node, offset, size in tensors:
            by_node.setdefault(node, []).append((offset, size))
        for i, layer in enumerate(self._layers):
            shapes = layer.param_shapes() if what == "param" else layer.const_shapes()
            placed = by_node.get(i, [])
            if len(placed) != len(shapes):
                raise ValueError(f"layers[{i}]: the C layer kind lays out {len(placed)} tensors, "
                                 f"the Python class declares {len(shapes)}")
            for (name, shape), (offset, size) in zip(shapes.items(), placed):
                views[i][name] = flat[offset:offset + size].reshape(shape)
                layout.append((offset, shape))
        for i, layer in enumerate(self._layers):
            if what == "param":
                layer._bind(views[i], {})
            else:
                layer._consts = views[i]
        return layout

    # Shape and description ------------------------------------------------
    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers, in order (a tuple: the structure is fixed)."""
        return self._layers

    @property
    def n_in(self) -> int:
        return self._layers[0].n_in

    @property
    def n_out(self) -> int:
        return self._layers[-1].n_out

    @property
    def n_params(self) -> int:
        """Number of trained parameters."""
        return sum(layer.n_params for layer in self._layers)

    @property
    def loss_function(self) -> Loss:
        """The training loss (a Loss object)."""
        return self._loss

    @property
    def loss_name(self) -> str:
        return self._loss.name

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self._layers)
        return (f"Network([\n  {inner}\n], dtype={self.dtype}, loss={self._loss.name!r}, "
                f"params={self.n_params})")

    def summary(self, file=None) -> None:
        """Print a table of the layers: type, output shape, settings and
        parameter count, ending with the totals (like Keras's summary), to
        `file` (a text stream; default standard output)."""
        if file is not None and not callable(getattr(file, "write", None)):
            raise TypeError(f"file: expected a text stream with a write method, got "
                            f"{type(file).__name__}")
        rows = [("#", "Layer", "Output shape", "Settings", "Params")]
        for i, layer in enumerate(self._layers):
            name, settings = layer.summary_row()
            rows.append((str(i), name, f"(batch, {layer.n_out})", settings, f"{layer.n_params:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        rule = "  ".join("-" * w for w in widths)
        lines = [rule]
        for j, row in enumerate(rows):
            cells = [row[c].ljust(widths[c]) if c < 4 else row[c].rjust(widths[c]) for c in range(5)]
            lines.append("  ".join(cells).rstrip())
            if j == 0:
                lines.append(rule)
        lines.append(rule)
        lines.append(f"Total params: {self.n_params:,}  (input {self.n_in}, dtype {self.dtype}, "
                     f"loss {self._loss.name})")
        print("\n".join(lines), file=file)

    @property
    def classes(self) -> list | None:
        """The class labels (strings, numbers or booleans) of a classification
        network, index by index, or None; predict_classes returns them, and
        the model file keeps them."""
        return None if self._classes is None else list(self._classes)

    @classes.setter
    def classes(self, labels) -> None:
        if labels is None:
            self._classes = None
            return
        labels = list(labels)
        expected = self._loss.n_classes(self.n_out)
        if expected is None:
            raise ValueError(f"classes: only a classification network has classes (loss "
                             f"{self._loss.name!r} with {self.n_out} outputs)")
        if len(labels) != expected:
            raise ValueError(f"classes: expected {expected} labels, got {len(labels)}")
        for label in labels:
            if isinstance(label, np.generic):
                label = label.item()
            if not isinstance(label, (str, int, float, bool)) or (
                    isinstance(label, float) and not np.isfinite(label)):
                raise TypeError(f"classes: expected strings, numbers or booleans, got {label!r}")
        labels = [label.item() if isinstance(label, np.generic) else label for label in labels]
        if len(set(map(repr, labels))) != len(labels):
            raise ValueError("classes: the labels must be distinct")
        self._classes = labels

    # Parameters -----------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of every trained tensor, layer by layer in parameter order."""
        return [self._params[off:off + int(np.prod(shape))].reshape(shape).copy()
                for off, shape in self._tensors]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Overwrite every trained tensor from a list like get_weights() returns."""
        weights = list(weights)
        if len(weights) != len(self._tensors):
            raise ValueError(f"weights: expected {len(self._tensors)} arrays, got {len(weights)}")
        arrays = [(off, real_array(w, shape, self.dtype, f"weights[{i}]"))
                  for i, (w, (off, shape)) in enumerate(zip(weights, self._tensors))]
        for off, a in arrays:
            self._params[off:off + a.size] = a.ravel()

    # Inputs ------------------------------------------------------------------
    def _features(self, X, name: str = "X") -> np.ndarray:
        return as_features(X, self.n_in, self.dtype, name)

    def _targets(self, Y, n_rows: int, name: str = "Y") -> np.ndarray:
        try:
            return self._loss.prepare_targets(Y, n_rows, self.n_out, self.dtype)
        except (ValueError, TypeError) as exc:
            if name == "Y":
                raise
            raise type(exc)(str(exc).replace("Y:", f"{name}:", 1)) from None

    def _class_weights(self, class_weight, targets: np.ndarray) -> np.ndarray:
        """Per-row weights from class_weight: "balanced" (n_rows / (n_classes *
        rows of the class), over the classes present, as scikit-learn) or a
        dict from class index or label to weight (others get 1)."""
        rows = self._loss.class_of_rows(targets)
        if isinstance(class_weight, str):
            if class_weight != "balanced":
                raise ValueError(f"class_weight: expected 'balanced' or a dict, got {class_weight!r}")
            present, counts = np.unique(rows, return_counts=True)
            table = dict(zip(present.tolist(), (len(rows) / (len(present) * counts)).tolist()))
        elif isinstance(class_weight, dict):
            labels = self._classes or []
            table = {}
            for key, value in class_weight.items():
                if key in labels:
                    index = labels.index(key)
                elif isinstance(key, (int, np.integer)) and not isinstance(key, bool) and \
                        0 <= key < (self._loss.n_classes(self.n_out) or 0):
                    index = int(key)
                else:
                    raise ValueError(f"class_weight: {key!r} is neither a class index nor one of "
                                     f"net.classes {labels}")
                table[index] = check_number(value, f"class_weight[{key!r}]")
        else:
            raise TypeError(f"class_weight: expected 'balanced' or a dict, got "
                            f"{type(class_weight).__name__}")
        return np.array([table.get(int(r), 1.0) for r in rows], dtype=self.dtype)

    def _weights(self, sample_weight, n_rows: int, name: str = "sample_weight") -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected numeric weights, got dtype {w.dtype}")
        if w.shape != (n_rows,):
            raise ValueError(f"{name}: expected shape ({n_rows},), one weight per row, got {w.shape}")
        w = to_dtype(w, self.dtype, name)
        check_finite(w, name)
        if (w < 0).any():
            raise ValueError(f"{name}: element {int(np.argmax(w < 0))} is negative; expected "
                             f"weights >= 0")
        if not float(w.sum(dtype=np.float64)) > 0:
            raise ValueError(f"{name}: expected weights with a positive sum, got all zeros")
        return w

    # Inference ------------------------------------------------------------
    def predict(self, X, *, check_finite: bool = True) -> np.ndarray:
        """The network's output for X (batch, n_in): (batch, n_out). For a
        cross_entropy network these are the logits; see predict_proba.
        An inf or nan in X is a ValueError naming its row and column unless
        check_finite=False (then such rows give inf or nan outputs)."""
        out = self._engine.predict(X, check_finite)
        if out is None:
            out = self._engine.predict(self._features(X), check_finite)
        return out

    def predict_proba(self, X, *, check_finite: bool = True) -> np.ndarray:
        """Class probabilities: the loss's output transform of the outputs
        (softmax for cross_entropy, sigmoid for binary_cross_entropy)."""
        return self._loss.transform(self.predict(X, check_finite=check_finite))

    def predict_classes(self, X, *, check_finite: bool = True) -> np.ndarray:
        """Each row's predicted class: its label from net.classes when set, else
        its class index (cross_entropy: the largest output; binary_cross_entropy
        with one output: 1 where the probability is above 1/2)."""
        index = self._loss.predicted_class(self.predict(X, check_finite=check_finite))
        if self._classes is None:
            return index
        return np.array(self._classes, dtype=object)[index]

    def _eval_inputs(self, X, Y, sample_weight):
        X = self._features(X)
        check_finite(X, "X")
        return X, self._targets(Y, X.shape[0]), self._weights(sample_weight, X.shape[0])

    def loss(self, X, Y, sample_weight=None) -> float:
        """The network's loss on (X, Y), in inference mode (dropout off): the
        training loss's mean over rows (MSE: over all elements), weighted by
        sample_weight when given (sum of w_i * row loss / sum of w)."""
        X, T, w = self._eval_inputs(X, Y, sample_weight)
        return self._engine.loss(X, T, w, self._loss.c_kind, self._loss.c_params())

    def evaluate(self, X, Y, sample_weight=None) -> dict:
        """{"loss": ...} plus the loss's metrics (accuracy for cross_entropy)."""
        X, T, w = self._eval_inputs(X, Y, sample_weight)
        H = self._engine.predict(X, False)
        value, _ = _kernels.loss(H, T, self._loss.name, w=w, param=self._loss.c_params())
        return {"loss": value, **self._loss.metrics(H, T, w)}

    # Gradients and steps --------------------------------------------------
    def gradients(self, X, Y, sample_weight=None) -> list[tuple[np.ndarray, ...]]:
        """The loss's gradient, in inference mode (dropout off): one tuple per
        layer that has parameters, in order, holding a new array per
        parameter (Dense: (dW, dB)). Raises FloatingPointError if the loss or
        a gradient is not finite."""
        X, T, w = self._eval_inputs(X, Y, sample_weight)
        _, flat = self._engine.gradients(X, T, w, self._loss.c_kind, self._loss.c_params())
        out, i = [], 0
        for layer in self._layers:
            shapes = list(layer.param_shapes().values())
            if not shapes:
                continue
            grads = []
            for shape in shapes:
                off, _ = self._tensors[i]
                grads.append(flat[off:off + int(np.prod(shape))].reshape(shape).copy())
                i += 1
            out.append(tuple(grads))
        return out

    @staticmethod
    def _busy() -> RuntimeError:
        return RuntimeError("this Network is already training in another thread; train it from "
                            "one thread at a time (predicting from other threads is fine)")

    @contextlib.contextmanager
    def _training(self):
        """Held while the network trains: a second trainer gets a RuntimeError."""
        if not self._train_lock.acquire(False):
            raise self._busy()
        try:
            yield
        finally:
            self._train_lock.release()

    def train_step(self, X, Y, lr: float, sample_weight=None) -> float:
        """One forward, backward and plain-SGD update (W -= lr * dW, B -= lr * dB),
        with dropout active. Returns the loss before the update. A non-finite
        loss, gradient or updated parameter raises FloatingPointError and
        leaves the parameters as they were."""
        lr = check_lr(lr)
        loss = self._loss
        if not self._train_lock.acquire(False):   # positional: a keyword costs 0.2 us here
            raise self._busy()
        try:
            value = None
            if sample_weight is None and loss.raw_targets_ok:
                # Conforming arrays go straight to C: a non-finite value makes the step fail
                value = self._engine.train_step_sgd(X, Y, None, loss.c_kind, loss.c_params(), lr,
                                                    self._sgd_steps, self._dropout_seed)
            if value is None:
                X, T, w = self._eval_inputs(X, Y, sample_weight)
                value = self._engine.train_step_sgd(X, T, w, loss.c_kind, loss.c_params(), lr,
                                                    self._sgd_steps, self._dropout_seed)
            self._sgd_steps += 1
        finally:
            self._train_lock.release()
        return value

    # Training -------------------------------------------------------------
    def _resolve_optimizer(self, lr, optimizer) -> Optimizer:
        if optimizer is not None:
            if lr is not None:
                raise ValueError("lr: pass the learning rate to the optimizer, not both lr= and "
                                 "optimizer=")
            if not isinstance(optimizer, Optimizer):
                raise TypeError(f"optimizer: expected a layernet optimizer such as ln.SGD or ln.Adam, "
                                f"got {type(optimizer).__name__}")
            return optimizer
        if lr is None and self.optimizer is not None:
            return self.optimizer   # resume with the optimizer (and state) used last
        return SGD(check_lr(0.01 if lr is None else lr))

    def _bind_optimizer(self, optimizer: Optimizer) -> None:
        optimizer._attach(self._engine.param_size, self._tensors, self.dtype)
        self.optimizer = optimizer

    def _adopt_optimizer(self, optimizer: Optimizer, states) -> None:
        """Attach `optimizer` with its step and, when given, its state tensors
        (per parameter, a list of n_state arrays), as loaded from a file."""
        step = optimizer.step
        optimizer._attach(self._engine.param_size, self._tensors, self.dtype)
        optimizer.step = step
        for tensors, values in zip(optimizer.state or [], states or []):
            for target, value in zip(tensors, values):
                target[...] = value
        self.optimizer = optimizer

    def _split(self, X, Y, w, validation_data, validation_split):
        X = self._features(X)
        check_finite(X, "X")
        Y = self._targets(Y, X.shape[0])
        w = self._weights(w, X.shape[0])
        if validation_data is not None:
            if validation_split:
                raise ValueError("validation_split: give validation_data or validation_split, not both")
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected a tuple (X_val, Y_val) or "
                                 "(X_val, Y_val, sample_weight_val)")
            Xv = self._features(validation_data[0], "validation_data[0]")
            check_finite(Xv, "validation_data[0]")
            Yv = self._targets(validation_data[1], Xv.shape[0], "validation_data[1]")
            wv = (self._weights(validation_data[2], Xv.shape[0], "validation_data[2]")
                  if len(validation_data) == 3 else None)
            return X, Y, w, (Xv, Yv, wv)
        split = check_fraction(validation_split, "validation_split")
        if split == 0.0:
            return X, Y, w, None
        n_val = int(round(X.shape[0] * split))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError(f"validation_split: {split} of {X.shape[0]} rows leaves "
                             f"{n_val} validation and {X.shape[0] - n_val} training rows; "
                             f"both need at least one")
        # Like Keras: the last rows, taken before any shuffling.
        cut = X.shape[0] - n_val
        val = (X[cut:], Y[cut:], None if w is None else w[cut:])
        return X[:cut], Y[:cut], None if w is None else w[:cut], val

    def fit(self, X, Y, epochs: int = 10, batch_size: int = 32, lr: float | None = None,
            optimizer: Optimizer | None = None, loss: str | Loss | None = None,
            validation_data=None, validation_split: float = 0.0,
            callbacks: Sequence[Callback] | None = None, shuffle: bool = True,
            seed: int | None = 0, verbose: int = 0, sample_weight=None,
            class_weight=None, distributed=False, lr_scaling: str | None = None,
            warmup_epochs: int = 0) -> History:
        """Minibatch training; returns a History of per-epoch metrics.

        lr alone means plain SGD with that rate (default 0.01); optimizer= takes
        an ln.SGD, ln.Adam, ln.AdamW, ln.RMSprop. With neither, a network that
        was trained (or loaded with its optimizer) before resumes with the same
        optimizer and state. sample_weight: one weight per row; each batch's
        loss is the weighted mean of its rows' losses. class_weight (for
        classification): "balanced" or {class: weight}, multiplied into the
        training rows' weights.

        Each epoch's batches run in C; Python is visited about every 0.2 s for
        progress, and once per epoch for validation and callbacks (schedules
        among them). Shuffling of epoch e (counted over the network's life, so
        a resumed run repeats an uninterrupted one) and the dropout masks use
        the seed. "loss" (and "accuracy") in the history are running means
        over the epoch's batches, each taken before its update; "val_*" are
        computed after the epoch; "lr" is the learning rate the epoch trained
        with. Ctrl-C stops training after the current step: the network keeps
        every completed step and the History (interrupted=True) is returned.

        distributed: True (MPI.COMM_WORLD) or an mpi4py communicator trains
        data-parallel on every process of it (see layernet.distributed): each
        runs this same call on the same data; a step takes batch_size rows per
        process (batch_size * size in all) and gives the parameters one process
        would get with that global batch. lr_scaling="linear" multiplies the
        learning rate by the number of processes, reached over warmup_epochs
        epochs. X may be a memory-mapped array (np.load(path, mmap_mode="r"))
        of the network's dtype, larger than memory: it is read batch by batch,
        not copied.
        """
        # -- distributed training: layernet.distributed runs the whole fit --
        if distributed is not False and distributed is not None:
            from . import distributed as _distributed
            return _distributed.fit(
                self, X, Y, distributed, epochs=epochs, batch_size=batch_size, lr=lr,
                optimizer=optimizer, loss=loss, validation_data=validation_data,
                validation_split=validation_split, callbacks=callbacks, shuffle=shuffle,
                seed=seed, verbose=verbose, sample_weight=sample_weight,
                class_weight=class_weight, lr_scaling=lr_scaling, warmup_epochs=warmup_epochs)
        if lr_scaling is not None or warmup_epochs != 0:
            raise ValueError(f"lr_scaling, warmup_epochs: apply only to distributed training "
                             f"(distributed=True); got lr_scaling={lr_scaling!r}, "
                             f"warmup_epochs={warmup_epochs!r}")
        # -- end of the distributed hook --
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        seed = check_seed(seed)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
        verbose = check_int(verbose, "verbose", 0, 2)
        new_loss = self._loss if loss is None else get_loss(loss)
        new_loss.check_network(self.n_out)
        opt = self._resolve_optimizer(lr, optimizer)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected ln.Callback objects, got {type(cb).__name__}")
        with self._training():
            previous_loss, self._loss = self._loss, new_loss
            try:
                X, Y, w, val = self._split(X, Y, sample_weight, validation_data, validation_split)
                if class_weight is not None:
                    cw = self._class_weights(class_weight, Y)
                    w = cw if w is None else w * cw
            except BaseException:
                self._loss = previous_loss
                raise
            n = X.shape[0]
            batch_size = min(batch_size, n)          # a batch never holds more rows than the data
            n_batches = -(-n // batch_size)
            if verbose:
                callbacks.insert(0, ProgressBar(verbose, epochs, n_batches))
            running = [self._loss.running_metric] if self._loss.running_metric else []
            keys = ["loss", *running, "lr"]
            if val is not None:
                keys += ["val_loss", *(f"val_{m}" for m in self._loss.metric_names)]
            try:
                for cb in callbacks:
                    cb.check_metrics(keys)
            except BaseException:
                self._loss = previous_loss
                raise
            history = History(keys)
            previous_opt = self.optimizer
            self._bind_optimizer(opt)
            steps_before = opt.step
            base_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**63))
            for cb in callbacks:
                cb.on_train_begin(self)
            try:
                for i in range(epochs):
                    epoch = self.epochs_trained
                    perm = (np.random.default_rng([base_seed, epoch]).permutation(n) if shuffle
                            else np.arange(n)).astype(np.int64)
                    lr_used = opt.lr
                    logs = self._run_epoch(X, Y, w, perm, batch_size, n_batches, opt, callbacks,
                                           f"at epoch {i + 1} of {epochs} in this call", base_seed)
                    logs["lr"] = lr_used
                    self.epochs_trained += 1
                    if val is not None:
                        logs.update({"val_" + k: v for k, v in self.evaluate(*val).items()})
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
            except BaseException:
                if opt.step == steps_before:
                    # Nothing was trained: the network keeps its optimizer and loss too
                    self.optimizer, self._loss = previous_opt, previous_loss
                raise
            finally:
                for cb in callbacks:
                    cb.on_train_end(self)
        return history

    def partial_fit(self, X, Y, batch_size: int = 32, optimizer: Optimizer | None = None,
                    sample_weight=None) -> float:
        """One pass over the given rows, in order (no shuffling), in batches of
        batch_size; returns the pass's mean loss. The optimizer and its state
        carry over between calls, so streaming data through partial_fit chunk
        by chunk trains as one long fit with shuffle=False would. optimizer:
        the one to use from now on (default: the network's current optimizer,
        else SGD with lr 0.01)."""
        batch_size = check_positive_int(batch_size, "batch_size")
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a layernet optimizer such as ln.SGD or ln.Adam, "
                            f"got {type(optimizer).__name__}")
        opt = optimizer or self.optimizer or SGD(0.01)
        with self._training():
            X, Y, w = self._eval_inputs(X, Y, sample_weight)
            n = X.shape[0]
            batch_size = min(batch_size, n)
            self._bind_optimizer(opt)
            logs = self._run_epoch(X, Y, w, np.arange(n, dtype=np.int64), batch_size,
                                   -(-n // batch_size), opt, [], "in this partial_fit call",
                                   self._dropout_seed)
        return logs["loss"]

    def _run_epoch(self, X, Y, w, perm, batch_size, n_batches, opt, callbacks, where, seed) -> dict:
        """Runs one epoch's batches in C, in chunks of about _CHUNK_SECONDS."""
        done, loss_sum, weight_sum, hits, units, chunk = 0, 0.0, 0.0, 0, 0, 1
        kind, params = self._loss.c_kind, self._loss.c_params()
        states = opt._state_vectors()
        while done < n_batches:
            t0 = time.perf_counter()
            c_loss, c_weight, c_hits, c_units, steps, status = self._engine.fit_batches(
                X, Y, w, perm, batch_size, done, chunk, kind, params, opt, states, seed)
            elapsed = time.perf_counter() - t0
            loss_sum += c_loss
            weight_sum += c_weight
            hits += c_hits
            units += c_units
            done += steps
            if status != 0:
                raise FloatingPointError(
                    f"fit: the loss, a gradient or an updated parameter became non-finite {where}, "
                    f"batch {done + 1} of {n_batches}; the network holds the parameters of the step "
                    f"before (try a smaller lr, or clip_norm on the optimizer)")
            for cb in callbacks:
                cb.on_batches_end(self, done, loss_sum / max(weight_sum, 1e-300))
            # Size the next chunk so that Python is visited about every _CHUNK_SECONDS.
            per_batch = elapsed / max(steps, 1)
            chunk = max(1, min(n_batches, int(_CHUNK_SECONDS / max(per_batch, 1e-9))))
        logs = {"loss": loss_sum / weight_sum}
        if units:
            logs[self._loss.running_metric] = hits / units
        return logs

    # Persistence ----------------------------------------------------------
    def save(self, path, include_optimizer: bool = False, metadata: dict | None = None) -> None:
        """Write the model to `path` (a file name, or a writable binary file
        object) atomically; see layernet.model_file. metadata (JSON-able)
        replaces net.metadata, but only once the file is written."""
        from .model_file import save
        save(self, path, include_optimizer=include_optimizer, metadata=metadata)

    def to_bytes(self, include_optimizer: bool = True) -> bytes:
        """The model file's bytes (what save writes)."""
        from .model_file import to_bytes
        return to_bytes(self, include_optimizer=include_optimizer)

    def _run_state(self) -> dict:
        """What the model file leaves out but train_step's dropout masks depend on."""
        return {"dropout_seed": self._dropout_seed, "sgd_steps": self._sgd_steps}

    def __setstate__(self, state: dict) -> None:
        self._dropout_seed = check_int(state["dropout_seed"], "dropout_seed", 0, 2**64 - 1)
        self._sgd_steps = check_int(state["sgd_steps"], "sgd_steps", 0)

    def __reduce__(self):
        # Pickles through the safe model format: the payload is the .npz bytes.
        from .model_file import from_bytes
        return from_bytes, (self.to_bytes(include_optimizer=True),), self._run_state()

    def __copy__(self) -> "Network":
        """An independent copy (parameters, optimizer state and metadata are not shared)."""
        from .model_file import from_bytes
        twin = from_bytes(self.to_bytes(include_optimizer=True))
        twin.__setstate__(self._run_state())
        return twin

    def __deepcopy__(self, memo) -> "Network":
        return self.__copy__()
