"""scikit-learn drop-ins: MLPRegressor and MLPClassifier trained by layernet,
and from_sklearn, which turns a fitted scikit-learn MLP into an ln.Network.

    from layernet.sklearn import MLPClassifier   # instead of sklearn.neural_network
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300).fit(X, y)

The estimators take scikit-learn's parameters with scikit-learn's names and
defaults, follow its training loop (initialisation, shuffling, early
stopping, tol and n_iter_no_change, the learning-rate schedules) and give
its attributes; each epoch's minibatches run in layernet's C engine.
Importing this module imports scikit-learn (1.6 or newer); importing
layernet does not.
"""
from __future__ import annotations

import contextlib
import copy
import math
import numbers
import warnings

import numpy as np

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as _exc:  # scikit-learn missing, or older than 1.6 (no validate_data)
    raise ImportError(f"layernet.sklearn needs scikit-learn 1.6 or newer (pip install "
                      f"'layernet[sklearn]'): {_exc}") from None

from ._validation import check_dtype, check_int, to_dtype
from .layers import ACTIVATIONS, Dense
from .network import Network
from .optimizers import SGD, Adam
from . import _kernels

__all__ = ["MLPClassifier", "MLPRegressor", "TrainingDivergedError", "from_sklearn"]

# scikit-learn's hidden activation names and layernet's for the same function
_SKLEARN_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


class TrainingDivergedError(FloatingPointError, ValueError):
    """Training produced a non-finite loss, gradient or parameter. A
    FloatingPointError as layernet raises, and a ValueError as scikit-learn's
    MLP raises for the same failure."""


# Parameter checks ------------------------------------------------------------
def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_real(value, name: str, low: float, high: float = math.inf, low_open: bool = False,
                high_open: bool = False) -> float:
    """A finite real number within the given bounds, or a ValueError naming it."""
    ok = _is_real(value) and math.isfinite(float(value))
    if ok:
        x = float(value)
        ok = (x > low if low_open else x >= low) and (x < high if high_open else x <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name}: expected a real number in {interval}, got {value!r}")
    return float(value)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _hidden_activation(activation) -> str:
    """layernet's name for a hidden activation given by scikit-learn's or layernet's name."""
    if isinstance(activation, str):
        if activation in _SKLEARN_ACTIVATIONS:
            return _SKLEARN_ACTIVATIONS[activation]
        if activation in ACTIVATIONS:
            return activation
    choices = sorted(set(_SKLEARN_ACTIVATIONS) | set(ACTIVATIONS))
    raise ValueError(f"activation: expected one of {', '.join(map(repr, choices))}, got {activation!r}")


def _hidden_sizes(value) -> tuple[int, ...]:
    sizes = value if hasattr(value, "__iter__") and not isinstance(value, str) else [value]
    out = []
    for i, size in enumerate(sizes):
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"hidden_layer_sizes: expected positive integers, got {size!r} at "
                             f"position {i} of {value!r}")
        out.append(check_int(size, "hidden_layer_sizes", 1, 2**31 - 1))
    return tuple(out)


@contextlib.contextmanager
def _threads(n_threads):
    """Run the kernels with n_threads (process-wide while the call lasts)."""
    if n_threads is None:
        yield
        return
    previous = _kernels.get_num_threads()
    _kernels.set_num_threads(n_threads)
    try:
        yield
    finally:
        _kernels.set_num_threads(previous)


def _sigmoid(Z: np.ndarray) -> np.ndarray:
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


def _log_sigmoid(Z: np.ndarray) -> np.ndarray:
    return np.minimum(Z, 0.0) - np.log1p(np.exp(-np.abs(Z)))


def _log_softmax(Z: np.ndarray) -> np.ndarray:
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# The estimators ----------------------------------------------------------------
class _BaseMLP(BaseEstimator):
    """Shared training loop of MLPRegressor and MLPClassifier.

    Gradient scale: scikit-learn minimises, per minibatch, half the squared
    error summed over the outputs (regression), the log-loss summed over the
    outputs (logistic outputs) or the softmax log-loss, each averaged over
    rows. layernet's mse and binary_cross_entropy average over the outputs
    instead (mse without the half), so the gradients differ by a constant
    factor s (n_outputs / 2, n_outputs, 1); sgd multiplies its learning rate
    by s and adam divides its epsilon by s, which gives scikit-learn's updates.
    """


    def _check_params(self) -> dict:
        """The parameters, checked, as a dict of resolved values (self unchanged)."""
        p = {}
        p["hidden"] = _hidden_sizes(self.hidden_layer_sizes)
        p["activation"] = _hidden_activation(self.activation)
        if self.solver == "lbfgs":
            raise ValueError("solver: 'lbfgs' is not supported by layernet, which trains by "
                             "minibatches; use solver='adam' or 'sgd' (or scikit-learn's own MLP "
                             "for L-BFGS)")
        if self.solver not in ("adam", "sgd"):
            raise ValueError(f"solver: expected 'adam' or 'sgd', got {self.solver!r}")
        p["alpha"] = _check_real(self.alpha, "alpha", 0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            if isinstance(self.batch_size, (bool, np.bool_)) or not isinstance(
                    self.batch_size, numbers.Integral) or self.batch_size < 1:
                raise ValueError(f"batch_size: expected 'auto' or an integer >= 1, got "
                                 f"{self.batch_size!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"learning_rate: expected 'constant', 'invscaling' or 'adaptive', got "
                             f"{self.learning_rate!r}")
        p["lr"] = _check_real(self.learning_rate_init, "learning_rate_init", 0.0, low_open=True)
        p["power_t"] = _check_real(self.power_t, "power_t", 0.0)
        p["max_iter"] = check_int(self.max_iter, "max_iter", 1)
        _check_bool(self.shuffle, "shuffle")
        p["tol"] = _check_real(self.tol, "tol", 0.0)
        if isinstance(self.verbose, numbers.Real) and not isinstance(self.verbose, (bool, np.bool_)):
            if self.verbose < 0:
                raise ValueError(f"verbose: expected True, False or an integer >= 0, got "
                                 f"{self.verbose!r}")
        elif not isinstance(self.verbose, (bool, np.bool_)):
            raise ValueError(f"verbose: expected True, False or an integer >= 0, got {self.verbose!r}")
        _check_bool(self.warm_start, "warm_start")
        p["momentum"] = _check_real(self.momentum, "momentum", 0.0, 1.0)
        _check_bool(self.nesterovs_momentum, "nesterovs_momentum")
        _check_bool(self.early_stopping, "early_stopping")
        p["validation_fraction"] = _check_real(self.validation_fraction, "validation_fraction", 0.0,
                                               1.0, low_open=self.early_stopping, high_open=True)
        p["beta_1"] = _check_real(self.beta_1, "beta_1", 0.0, 1.0, high_open=True)
        p["beta_2"] = _check_real(self.beta_2, "beta_2", 0.0, 1.0, high_open=True)
        p["epsilon"] = _check_real(self.epsilon, "epsilon", 0.0, low_open=True)
        if _is_real(self.n_iter_no_change) and float(self.n_iter_no_change) == math.inf:
            p["n_iter_no_change"] = math.inf
        else:
            p["n_iter_no_change"] = check_int(self.n_iter_no_change, "n_iter_no_change", 1)
        check_int(self.max_fun, "max_fun", 1)
        p["dtype"] = check_dtype(self.dtype)
        if self.n_threads is not None:
            check_int(self.n_threads, "n_threads", 1)
        return p

    # Inputs ------------------------------------------------------------------------
    def _dense(self, X) -> np.ndarray:
        """X densified (sparse input) and converted to the network's dtype."""
        if hasattr(X, "toarray"):
            X = X.toarray()
        return to_dtype(np.asarray(X), self._network_dtype, "X")

    def _check_sample_weight(self, sample_weight, n_samples: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        if _is_real(sample_weight) or isinstance(sample_weight, np.generic):
            sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "biuf":
            raise TypeError(f"sample_weight: expected numbers, got dtype {w.dtype}")
        if w.ndim != 1 or w.shape[0] != n_samples:
            raise ValueError(f"sample_weight: expected shape ({n_samples},), one weight per sample, "
                             f"got {w.shape}")
        w = w.astype(np.float64)
        if not np.isfinite(w).all():
            raise ValueError(f"sample_weight: element {int(np.argmin(np.isfinite(w)))} is "
                             f"{w[~np.isfinite(w)][0]}; expected finite weights")
        if (w < 0).any():
            raise ValueError(f"sample_weight: element {int(np.argmax(w < 0))} is "
                             f"{w[w < 0][0]}; expected weights >= 0")
        if not w.sum() > 0:
            raise ValueError("sample_weight: all weights are zero; expected at least one non-zero "
                             "weight")
        return w

    # The network ---------------------------------------------------------------------
    def _initialize(self, p: dict, n_features: int, n_outputs: int, rng) -> None:
        """A new network with scikit-learn's initialisation (Glorot uniform,
        intercepts too, drawn from random_state in scikit-learn's order)."""
        units = [n_features, *p["hidden"], n_outputs]
        layers = [Dense(units[i], units[i + 1], p["activation"] if i < len(units) - 2 else None)
                  for i in range(len(units) - 1)]
        net = Network(layers, dtype=p["dtype"], seed=0, loss=self._network_loss())
        factor = 2.0 if p["activation"] == "sigmoid" else 6.0
        weights = []
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            bound = math.sqrt(factor / (fan_in + fan_out))
            weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
            weights.append(rng.uniform(-bound, bound, fan_out))
        net.set_weights(weights)
        self.network_ = net
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(units)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self._best_weights = net.get_weights()

    def _check_warm_network(self, p: dict, n_outputs: int) -> None:
        """A warm start or partial_fit continues the fitted network: its shape must fit."""
        net = self.network_
        hidden = tuple(layer.n_out for layer in net.layers[:-1])
        if hidden != p["hidden"]:
            raise ValueError(f"hidden_layer_sizes: the fitted network has hidden layers {hidden}, "
                             f"got {p['hidden']}; refit with warm_start=False")
        if len(net.layers) > 1 and net.layers[0].activation != p["activation"]:
            raise ValueError(f"activation: the fitted network uses {net.layers[0].activation!r}, got "
                             f"{self.activation!r}; refit with warm_start=False")
        if net.dtype != p["dtype"]:
            raise ValueError(f"dtype: the fitted network is {net.dtype}, got {p['dtype']}; refit "
                             f"with warm_start=False")
        if n_outputs != self.n_outputs_:
            raise ValueError(f"y: the fitted network has {self.n_outputs_} outputs, y gives "
                             f"{n_outputs}; refit with warm_start=False")

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, layer by layer, shape (n_in, n_out): views of the
        network's parameters (writing into them changes the model)."""
        check_is_fitted(self, "network_")
        return [layer.W for layer in self.network_.layers]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, layer by layer: views of the network's parameters."""
        check_is_fitted(self, "network_")
        return [layer.B for layer in self.network_.layers]

    @property
    def _network_dtype(self) -> np.dtype:
        return self.network_.dtype if hasattr(self, "network_") else check_dtype(self.dtype)

    def _gradient_scale(self) -> float:
        """scikit-learn's loss gradient over layernet's for the same outputs."""
        raise NotImplementedError

    def _loss_scale(self) -> float:
        """scikit-learn's loss value over layernet's for the same outputs."""
        raise NotImplementedError

    def _squared_coefs(self) -> float:
        return float(sum(np.dot(W.ravel().astype(np.float64), W.ravel().astype(np.float64))
                         for W in self.coefs_))

    def _outputs(self, X) -> np.ndarray:
        """The network's raw outputs (logits for classifiers) in float64."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                          reset=False)
        X = self._dense(X)
        with _threads(self.n_threads):
            return self.network_.predict(X).astype(np.float64)

    # Training ----------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental: bool = False, classes=None):
        p = self._check_params()
        if self.early_stopping and incremental:
            raise ValueError("early_stopping: partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        if first_pass and hasattr(self, "network_"):
            # a new fit that fails leaves the estimator unfitted, never half old, half new
            del self.network_
        X, Y = self._validate_input(X, y, incremental, first_pass, classes)
        if hasattr(X, "toarray"):
            X = X.toarray()
        X = to_dtype(np.asarray(X), p["dtype"] if first_pass else self._network_dtype, "X")
        sample_weight = self._check_sample_weight(sample_weight, X.shape[0])
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(p, X.shape[1], Y.shape[1], rng)
        else:
            self._check_warm_network(p, Y.shape[1])
        self._set_output_classes()
        with _threads(self.n_threads):
            self._fit_stochastic(p, X, Y, sample_weight, rng, incremental)
        return self

    def _new_optimizer(self, p: dict):
        if self.solver == "sgd":
            return SGD(p["lr"], momentum=p["momentum"],
                       nesterov=bool(self.nesterovs_momentum) and p["momentum"] > 0)
        return Adam(p["lr"], beta1=p["beta_1"], beta2=p["beta_2"], eps=p["epsilon"])

    def _set_learning_rate(self, opt, new_lr: float) -> None:
        """Change scikit-learn's learning rate. scikit-learn's momentum buffer
        holds past steps (lr times gradients), layernet's the gradients, so the
        buffer is rescaled by old / new to keep the next updates the same."""
        old_lr = self._learning_rate
        if isinstance(opt, SGD) and opt.state is not None and new_lr != old_lr:
            for tensors in opt.state:
                for buffer in tensors:
                    buffer *= old_lr / new_lr
        self._learning_rate = new_lr

    def _fit_stochastic(self, p, X, Y, sample_weight, rng, incremental):
        net = self.network_
        # fit starts a new optimizer (as scikit-learn); partial_fit continues it
        opt = net.optimizer if incremental else None
        if opt is None:
            opt = self._new_optimizer(p)
            self._learning_rate = p["lr"]
        if self.early_stopping:
            # as scikit-learn: stratified for single-output classification
            stratify = Y if self._is_classifier() and self.n_outputs_ == 1 else None
            arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
            parts = train_test_split(*arrays, random_state=rng, test_size=p["validation_fraction"],
                                     stratify=stratify)
            X_train, X_val, Y_train, Y_val = parts[:4]
            w_train, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("validation_fraction: the validation set is too small (fewer than "
                                 "2 samples); increase validation_fraction or the data")
            val = (X_val, self._validation_targets(Y_val), w_val)
        else:
            X_train, Y_train, w_train, val = X, Y, sample_weight, None
        if w_train is not None:
            # A weight of zero removes the row; it also keeps batches from
            # having no weight at all.
            keep = w_train > 0
            if not keep.all():
                X_train, Y_train, w_train = X_train[keep], Y_train[keep], w_train[keep]
            if X_train.shape[0] == 0:
                raise ValueError("sample_weight: every training sample has weight zero")
        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                              "to be clipped", UserWarning, stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        n_batches = -(-n_samples // batch_size)
        mean_weight = 1.0 if w_train is None else float(w_train.mean())
        weight_total = n_samples * mean_weight
        scale = self._gradient_scale()
        # alpha / 2 * ||W||^2 over a batch's total weight, as L2 on the gradient
        opt.weight_decay = p["alpha"] / (scale * batch_size * mean_weight)
        w_train = None if w_train is None else to_dtype(w_train, net.dtype, "sample_weight")
        sample_idx = np.arange(n_samples)
        try:
            self.n_iter_ = 0
            for _ in range(p["max_iter"]):
                if self.shuffle:
                    # the permutation sklearn.utils.shuffle draws, without its overhead
                    order = np.arange(n_samples)
                    rng.shuffle(order)
                    sample_idx = sample_idx[order]
                    Xe, Ye = X_train[sample_idx], Y_train[sample_idx]
                    we = None if w_train is None else w_train[sample_idx]
                else:
                    Xe, Ye, we = X_train, Y_train, w_train
                if isinstance(opt, SGD):
                    opt.lr = self._learning_rate * scale
                else:
                    # scikit-learn adds epsilon to sqrt(v) before the bias
                    # correction, torch after it: exact at each epoch's first step
                    opt.eps = p["epsilon"] / (scale * math.sqrt(1.0 - p["beta_2"] ** (opt.step + 1)))
                try:
                    data_loss = net.partial_fit(Xe, Ye, batch_size=batch_size, optimizer=opt,
                                                sample_weight=we)
                except FloatingPointError as exc:
                    raise TrainingDivergedError(
                        f"{exc}. The input data may contain large values and need to be "
                        f"preprocessed (scaled), or learning_rate_init may be too large") from None
                self.n_iter_ += 1
                reg = 0.5 * p["alpha"] * self._squared_coefs() * n_batches / weight_total
                self.loss_ = data_loss * self._loss_scale() + reg
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(p, val)
                if self.learning_rate == "invscaling" and self.solver == "sgd":
                    self._set_learning_rate(opt, p["lr"] / (self.t_ + 1) ** p["power_t"])
                if self._no_improvement_count > p["n_iter_no_change"]:
                    what = ("Validation score" if self.early_stopping else "Training loss")
                    msg = (f"{what} did not improve more than tol={p['tol']:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if self.solver == "sgd" and self.learning_rate == "adaptive":
                        if self._learning_rate <= 1e-6:
                            if self.verbose:
                                print(msg + " Learning rate too small. Stopping.")
                            break
                        self._set_learning_rate(opt, self._learning_rate / 5.0)
                        if self.verbose:
                            print(msg + " Setting learning rate to %f" % self._learning_rate)
                        self._no_improvement_count = 0
                    else:
                        if self.verbose:
                            print(msg + " Stopping.")
                        break
                if incremental:
                    break
                if self.n_iter_ == p["max_iter"]:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({p['max_iter']}) "
                                  f"reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning, stacklevel=3)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", RuntimeWarning, stacklevel=3)
        if self.early_stopping:
            net.set_weights(self._best_weights)

    def _update_no_improvement_count(self, p, val) -> None:
        if val is not None:
            X_val, y_val, w_val = val
            score = self._score_arrays(X_val, y_val, w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + p["tol"]:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_weights = self.network_.get_weights()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - p["tol"]:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score_arrays(self, X, y, sample_weight) -> float:
        """The score on converted X (validation during early stopping)."""
        pred = self._predict_from_outputs(self.network_.predict(X).astype(np.float64))
        if np.issubdtype(np.asarray(pred).dtype, np.floating) and not np.isfinite(pred).all():
            return np.nan
        return float(self._score_function(y, pred, sample_weight=sample_weight))

    def _set_output_classes(self) -> None:
        pass

    def _is_classifier(self) -> bool:
        return False

    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features; sparse input is densified) and y.

        sample_weight: one weight >= 0 per sample; each minibatch's loss is
        the weighted mean of its samples' losses, and samples of weight zero
        are left out of training.

        Returns self.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_PARAMS_DOC = """
    Parameters are scikit-learn's (same names, defaults and meaning):
    hidden_layer_sizes, activation ('identity', 'logistic', 'tanh', 'relu', or
    a layernet name: 'sigmoid', 'leaky_relu', 'softplus', 'silu', 'gelu'),
    solver ('adam' or 'sgd'; 'lbfgs' is refused), alpha, batch_size,
    learning_rate ('constant', 'invscaling', 'adaptive'; sgd only),
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol,
    verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, and
    max_fun (accepted, unused: it bounds L-BFGS only). Beyond scikit-learn:

    dtype : float32 (default) or float64
        The network's precision. Inputs are converted to it; predictions and
        probabilities are returned in float64.
    n_threads : int or None
        Kernel threads during fit and predict (set process-wide for the
        duration of the call); None keeps layernet's setting.

    Training follows scikit-learn's: the same initialisation (Glorot uniform
    for weights and intercepts), shuffling and validation split drawn from
    random_state, the same stopping rules and learning-rate schedules, the
    loss_curve_ in scikit-learn's units, and the same minibatch updates for
    sgd (momentum, Nesterov) and adam, with these differences:

    - alpha: scikit-learn adds alpha * W / (the batch's total sample weight)
      to the gradient of the coefficients only. layernet applies L2 weight
      decay to every parameter with one coefficient per fit, so here it is
      alpha / (batch_size * mean sample weight) (divided by the gradient
      scale), applied to the intercepts as well; the last, smaller batch of
      an epoch gets the same coefficient as the others. With alpha=0 the
      updates are scikit-learn's.
    - adam: scikit-learn adds epsilon to sqrt(v) before bias correction; here
      it is matched exactly at the first step of each epoch and differs by a
      factor of at most sqrt((1 - beta_2**t) / (1 - beta_2**t0)) within it.
    - loss_curve_'s regularisation term uses the coefficients at the end of
      each epoch rather than before each batch.

    Fitted attributes: coefs_, intercepts_ (views of the network's
    parameters), loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_features_in_, feature_names_in_,
    n_layers_, n_outputs_, out_activation_, and network_, the trained
    ln.Network.
"""


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, trained by layernet: a drop-in for
    sklearn.neural_network.MLPRegressor (squared error; loss='poisson' is
    not supported).
    """

    __doc__ += _PARAMS_DOC

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=np.float32, n_threads=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads

    def _check_params(self) -> dict:
        if self.loss == "poisson":
            raise ValueError("loss: 'poisson' is not supported by layernet (it has no exponential "
                             "output); use loss='squared_error'")
        if self.loss != "squared_error":
            raise ValueError(f"loss: expected 'squared_error', got {self.loss!r}")
        return super()._check_params()

    def _network_loss(self) -> str:
        return "mse"

    def _gradient_scale(self) -> float:
        return self.n_outputs_ / 2.0

    def _loss_scale(self) -> float:
        return 0.5

    def _validate_input(self, X, y, incremental, reset, classes=None):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if reset:
            self.out_activation_ = "identity"
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        dtype = (check_dtype(self.dtype) if reset or not hasattr(self, "network_")
                 else self._network_dtype)
        return X, to_dtype(np.asarray(Y, dtype=np.float64), dtype, "y")

    def _validation_targets(self, Y_val):
        Y_val = Y_val.astype(np.float64)
        return Y_val.ravel() if Y_val.shape[1] == 1 else Y_val

    def _predict_from_outputs(self, outputs: np.ndarray) -> np.ndarray:
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def _score_function(self, y, pred, sample_weight=None):
        return r2_score(y, pred, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predicted values (float64), shape (n_samples,) for one output, else
        (n_samples, n_outputs)."""
        return self._predict_from_outputs(self._outputs(X))

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the network and optimizer (the
        first call creates them). Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, trained by layernet: a drop-in for
    sklearn.neural_network.MLPClassifier.

    Labels may be of any type (strings, integers, booleans). Two classes:
    one logistic output (binary cross-entropy); more: a softmax output
    (cross-entropy); a 2-D indicator y (multilabel): one independent
    logistic output per label. predict_proba returns float64 rows that sum
    to 1 (binary: [1 - p, p]).
    """

    __doc__ += _PARAMS_DOC

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=np.float32, n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads

    def _is_classifier(self) -> bool:
        return True

    def _network_loss(self) -> str:
        return "cross_entropy" if self.out_activation_ == "softmax" else "binary_cross_entropy"

    def _gradient_scale(self) -> float:
        return 1.0 if self.out_activation_ == "softmax" else float(self.n_outputs_)

    def _loss_scale(self) -> float:
        return self._gradient_scale()

    def _validate_input(self, X, y, incremental, reset, classes=None):
        binarizer = None
        if incremental and not hasattr(self, "classes_"):
            # the first partial_fit call fixes the classes
            if type_of_target(y).startswith("multilabel"):
                binarizer = LabelBinarizer().fit(y)
            elif classes is None:
                raise ValueError("classes: must be passed on the first call to partial_fit")
            else:
                binarizer = LabelBinarizer().fit(unique_labels(classes))
        elif incremental and classes is not None and not np.array_equal(
                unique_labels(classes), self.classes_):
            raise ValueError(f"classes: {unique_labels(classes)} is not the same as on the first "
                             f"call to partial_fit, {self.classes_}")
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if binarizer is None and not incremental and (not self.warm_start
                                                      or not hasattr(self, "classes_")):
            binarizer = LabelBinarizer().fit(y)
        elif binarizer is None and self.warm_start and not incremental:
            if set(unique_labels(y)) != set(self.classes_):
                raise ValueError(f"y: warm_start can only be used where y has the same classes as "
                                 f"in the previous call to fit; previously got {self.classes_}, y "
                                 f"has {unique_labels(y)}")
        if binarizer is not None:
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            self.out_activation_ = "softmax" if binarizer.y_type_ == "multiclass" else "logistic"
        if incremental and self._label_binarizer.y_type_ != "multilabel-indicator":
            unknown = np.setdiff1d(unique_labels(y), self.classes_)
            if len(unknown):
                raise ValueError(f"y: has classes not in classes_; classes_ is {self.classes_}, y "
                                 f"has {unique_labels(y)}")
        dtype = (check_dtype(self.dtype) if reset or not hasattr(self, "network_")
                 else self._network_dtype)
        Y = self._label_binarizer.transform(y)
        return X, np.ascontiguousarray(Y, dtype=dtype)

    def _set_output_classes(self) -> None:
        # the network predicts labels itself (net.predict_classes) when it can
        net = self.network_
        if self.out_activation_ == "softmax" or (self.n_outputs_ == 1 and len(self.classes_) == 2):
            try:
                net.classes = list(self.classes_)
            except (TypeError, ValueError):
                net.classes = None

    def _validation_targets(self, Y_val):
        return self._label_binarizer.inverse_transform(Y_val)

    def _proba_outputs(self, outputs: np.ndarray) -> np.ndarray:
        if self.out_activation_ == "softmax":
            return np.exp(_log_softmax(outputs))
        return _sigmoid(outputs)

    def _predict_from_outputs(self, outputs: np.ndarray) -> np.ndarray:
        proba = self._proba_outputs(outputs)
        if self.n_outputs_ == 1:
            proba = proba.ravel()
        return self._label_binarizer.inverse_transform(proba)

    def _score_function(self, y, pred, sample_weight=None):
        return accuracy_score(y, pred, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_samples,); multilabel: an indicator
        array (n_samples, n_labels)."""
        return self._predict_from_outputs(self._outputs(X))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (float64), columns in the order of classes_."""
        outputs = self._outputs(X)
        proba = self._proba_outputs(outputs)
        if self.n_outputs_ == 1:
            p = proba.ravel()
            return np.vstack([1.0 - p, p]).T
        return proba

    def predict_log_proba(self, X) -> np.ndarray:
        """log(predict_proba(X)), computed from the logits (stays finite
        where the probability underflows)."""
        outputs = self._outputs(X)
        if self.out_activation_ == "softmax":
            return _log_softmax(outputs)
        if self.n_outputs_ == 1:
            z = outputs.ravel()
            return np.vstack([_log_sigmoid(-z), _log_sigmoid(z)]).T
        return _log_sigmoid(outputs)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing the network and optimizer.
        classes (all the labels there will be) is required on the first
        call, unless y is a multilabel indicator. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True, classes=classes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# From scikit-learn ---------------------------------------------------------------
def from_sklearn(mlp, dtype=None) -> Network:
    """An ln.Network computing what a fitted scikit-learn MLP computes.

    mlp: a fitted sklearn.neural_network.MLPRegressor or MLPClassifier (or
    one of layernet.sklearn's, whose network_ is copied). Each coefs_[i],
    intercepts_[i] pair becomes a Dense layer with the hidden activation
    (the last one without); the output activation becomes the loss:
    identity -> "mse", logistic -> "binary_cross_entropy" (one output for
    two classes, one per label for multilabel), softmax -> "cross_entropy".
    net.predict equals mlp.predict for a regressor; net.predict_proba equals
    mlp.predict_proba for a multiclass or multilabel classifier, and its
    column is mlp.predict_proba's second column for a binary one; the
    classes_ become net.classes, so net.predict_classes equals mlp.predict.
    dtype: float64 or float32 (default: that of mlp.coefs_).

    Unsupported: solvers do not matter, but loss='poisson' (exponential
    output) and classifiers fitted on a single class have no layernet
    equivalent and raise ValueError.
    """
    if isinstance(mlp, _BaseMLP):
        check_is_fitted(mlp, "network_")
        net = copy.copy(mlp.network_)
        if dtype is not None and check_dtype(dtype) != net.dtype:
            raise ValueError(f"dtype: this layernet estimator's network is {net.dtype}, got "
                             f"{check_dtype(dtype)}; refit it with dtype={check_dtype(dtype)}")
        return net
    from sklearn.neural_network import MLPClassifier as SkClassifier
    from sklearn.neural_network import MLPRegressor as SkRegressor
    if not isinstance(mlp, (SkClassifier, SkRegressor)):
        raise TypeError(f"mlp: expected a fitted sklearn.neural_network.MLPRegressor or "
                        f"MLPClassifier, got {type(mlp).__name__}")
    check_is_fitted(mlp)
    if mlp.activation not in _SKLEARN_ACTIVATIONS:
        raise ValueError(f"mlp.activation: {mlp.activation!r} is not supported; expected one of "
                         f"{sorted(_SKLEARN_ACTIVATIONS)}")
    out = mlp.out_activation_
    losses = {"identity": "mse", "logistic": "binary_cross_entropy", "softmax": "cross_entropy"}
    if out not in losses:
        detail = " (loss='poisson')" if out == "exp" else ""
        raise ValueError(f"mlp.out_activation_: {out!r}{detail} is not supported; layernet has "
                         f"identity (squared error), logistic and softmax outputs")
    classifier = isinstance(mlp, SkClassifier)
    if classifier and len(mlp.classes_) < 2:
        raise ValueError(f"mlp.classes_: a classifier fitted on a single class "
                         f"({list(mlp.classes_)}) is not supported; a network needs two classes")
    coefs, intercepts = mlp.coefs_, mlp.intercepts_
    dtype = check_dtype(coefs[0].dtype if dtype is None else dtype)
    hidden = _SKLEARN_ACTIVATIONS[mlp.activation]
    layers = [Dense(W.shape[0], W.shape[1], hidden if i < len(coefs) - 1 else None)
              for i, W in enumerate(coefs)]
    net = Network(layers, dtype=dtype, seed=0, loss=losses[out])
    weights = []
    for W, b in zip(coefs, intercepts):
        weights += [np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)]
    net.set_weights(weights)
    if classifier and (out == "softmax" or mlp.n_outputs_ == 1):
        net.classes = list(mlp.classes_)
    if getattr(mlp, "feature_names_in_", None) is not None:
        net.metadata = {"feature_names": [str(name) for name in mlp.feature_names_in_]}
    return net
