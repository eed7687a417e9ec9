"""layernet.sklearn against scikit-learn itself: its estimator checks, its
own MLP trained side by side (the same updates, step for step, where the
mapping is exact), its model-selection tools, and from_sklearn's networks
against the source model's predictions."""
import io
import pickle
import subprocess
import sys
import warnings
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pytest
import sklearn.neural_network as sknn
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import layernet as ln
from child_python import child_env
from layernet.sklearn import MLPClassifier, MLPRegressor, TrainingDivergedError, from_sklearn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ---------------------------------------------------------------------------
# scikit-learn's estimator checks
# ---------------------------------------------------------------------------

# Checks that do not apply to these estimators, left out rather than run to a skip
NOT_APPLICABLE = {
    "check_array_api_input": "the estimators compute with numpy arrays; scikit-learn runs "
                             "array-API checks only when SCIPY_ARRAY_API is set",
    "check_classifiers_multilabel_output_format_decision_function":
        "there is no decision_function, as in scikit-learn's own MLPClassifier",
}


def _applicable(marker):
    """parametrize_with_checks' marker without the checks in NOT_APPLICABLE."""
    names, pairs = marker.args
    kept = [pair for pair in pairs
            if getattr(pair[1], "func", pair[1]).__name__ not in NOT_APPLICABLE]
    return pytest.mark.parametrize(names, kept, ids=marker.kwargs.get("ids"))


# float64 instances: several checks compare two fits or two predictions with
# rtol=1e-7, which is below float32's resolution (the float32 defaults are
# exercised by the rest of this file).
@_applicable(parametrize_with_checks([MLPClassifier(max_iter=100, dtype=np.float64),
                                      MLPRegressor(max_iter=100, dtype=np.float64)]))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_estimator_checks_leave_out_only_what_does_not_apply():
    names = {getattr(check, "func", check).__name__
             for _, check in parametrize_with_checks([MLPClassifier(), MLPRegressor()]).args[1]}
    assert set(NOT_APPLICABLE) <= names and len(names) > 50


def test_float32_defaults_meet_the_checks_to_float32_precision():
    # The two checks the float32 defaults miss at rtol=1e-7, at float32's own
    # precision: weights equal to repetitions (full batch), and predictions
    # of a subset equal to those of the whole (each row's sums may run in
    # another order when the batch is smaller: about one ulp).
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    w = rng.randint(0, 5, size=15)
    for est, method in ((MLPClassifier(max_iter=100, random_state=0), "predict_proba"),
                        (MLPRegressor(max_iter=100, random_state=0), "predict")):
        weighted = clone(est).fit(X, y, sample_weight=w)
        repeated = clone(est).fit(X.repeat(w, axis=0), y.repeat(w))
        np.testing.assert_allclose(getattr(weighted, method)(X), getattr(repeated, method)(X),
                                   rtol=2e-5, atol=1e-7)
        whole = getattr(weighted, method)(X)
        rows = np.vstack([getattr(weighted, method)(X[i:i + 1]).reshape(1, -1) for i in range(15)])
        np.testing.assert_allclose(rows, whole.reshape(15, -1), rtol=2e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# Side by side with scikit-learn's MLP (float64, same random_state)
# ---------------------------------------------------------------------------

def _data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 5)
    y_reg = np.c_[2 * X[:, 0] + np.sin(X[:, 1]), X[:, 2] ** 2]
    y_multi = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, {"reg": y_reg, "multiclass": y_multi, "binary": y_multi > 0}


def _pair(kind, **params):
    ours, theirs = ((MLPRegressor, sknn.MLPRegressor) if kind == "reg"
                    else (MLPClassifier, sknn.MLPClassifier))
    common = dict(hidden_layer_sizes=(8, 6), activation="tanh", random_state=3, **params)
    return ours(dtype=np.float64, **common), theirs(**common)


def _max_rel_diff(a, b) -> float:
    return max(float(np.abs(p - q).max() / np.abs(q).max())
               for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


EXACT = {
    "sgd nesterov": dict(solver="sgd", learning_rate_init=0.05),
    "sgd plain": dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    "sgd classical momentum": dict(solver="sgd", nesterovs_momentum=False, learning_rate_init=0.05),
    "sgd invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5),
    "sgd adaptive": dict(solver="sgd", learning_rate="adaptive", tol=0.5, n_iter_no_change=2,
                         learning_rate_init=0.05),
    "sgd early stopping": dict(solver="sgd", early_stopping=True, learning_rate_init=0.05),
    "adam full batch": dict(solver="adam", batch_size=120, learning_rate_init=0.01),
}


@pytest.mark.parametrize("kind", ["reg", "multiclass", "binary"])
@pytest.mark.parametrize("case", sorted(EXACT))
def test_same_updates_as_sklearn(case, kind):
    X, ys = _data()
    params = dict(alpha=0.0, max_iter=15, **{"batch_size": 40, **EXACT[case]})
    ours, theirs = _pair(kind, **params)
    ours.fit(X, ys[kind])
    theirs.fit(X, ys[kind])
    assert _max_rel_diff(ours, theirs) < 1e-10
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    if ours.early_stopping:
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-10)
        assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-10)
    else:
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-10)
    if ours.learning_rate == "adaptive":
        # the rate was divided by 5 several times, momentum buffers rescaled
        assert ours._learning_rate == pytest.approx(theirs._optimizer.learning_rate, rel=1e-12)
        assert ours._learning_rate < 0.05 / 5
    np.testing.assert_allclose(ours.predict(X) if kind == "reg" else ours.predict_proba(X),
                               theirs.predict(X) if kind == "reg" else theirs.predict_proba(X),
                               rtol=1e-9, atol=1e-12)


def test_adam_minibatches_close_to_sklearn():
    # epsilon is matched at each epoch's first step only: a tiny difference
    X, ys = _data()
    ours, theirs = _pair("multiclass", solver="adam", alpha=0.0, batch_size=40, max_iter=15,
                         learning_rate_init=0.01)
    ours.fit(X, ys["multiclass"])
    theirs.fit(X, ys["multiclass"])
    assert _max_rel_diff(ours, theirs) < 1e-5


def test_sample_weight_same_updates_as_sklearn():
    X, ys = _data()
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(X))
    ours, theirs = _pair("multiclass", solver="sgd", alpha=0.0, batch_size=30, max_iter=10)
    ours.fit(X, ys["multiclass"], sample_weight=w)
    theirs.fit(X, ys["multiclass"], sample_weight=w)
    assert _max_rel_diff(ours, theirs) < 1e-10


def test_partial_fit_and_warm_start_same_as_sklearn():
    X, ys = _data()
    ours, theirs = _pair("reg", solver="sgd", alpha=0.0, batch_size=25, shuffle=False)
    for _ in range(3):
        for rows in (slice(0, 60), slice(60, 120)):
            ours.partial_fit(X[rows], ys["reg"][rows])
            theirs.partial_fit(X[rows], ys["reg"][rows])
    assert _max_rel_diff(ours, theirs) < 1e-10
    assert ours.t_ == theirs.t_ == 360 and len(ours.loss_curve_) == 6
    ours, theirs = _pair("multiclass", solver="sgd", alpha=0.0, batch_size=25, warm_start=True,
                         max_iter=4)
    for _ in range(3):
        ours.fit(X, ys["multiclass"])
        theirs.fit(X, ys["multiclass"])
    assert _max_rel_diff(ours, theirs) < 1e-10
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 12


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_alpha_regularises_as_sklearn(solver):
    # alpha maps to weight decay on every parameter (intercepts too): not
    # step-for-step equal, but the same strength: the coefficients' norm
    # follows scikit-learn's, well away from the unregularised one.
    X, ys = _data()
    kw = dict(solver=solver, batch_size=40, max_iter=60, learning_rate_init=0.02)
    norms = {}
    for alpha in (0.0, 5.0):
        ours, theirs = _pair("reg", alpha=alpha, **kw)
        ours.fit(X, ys["reg"])
        theirs.fit(X, ys["reg"])
        norms[alpha] = [np.sqrt(sum((W ** 2).sum() for W in m.coefs_)) for m in (ours, theirs)]
    (free_ours, free_theirs), (reg_ours, reg_theirs) = norms[0.0], norms[5.0]
    assert abs(reg_ours - reg_theirs) < 0.05 * reg_theirs
    assert reg_theirs < 0.8 * free_theirs and reg_ours < 0.8 * free_ours


# ---------------------------------------------------------------------------
# The scikit-learn toolbox around the estimators (float32 defaults)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def test_clone_keeps_parameters_only(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0, alpha=1e-3).fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "network_") and not hasattr(twin, "coefs_")
    with pytest.raises(NotFittedError):
        twin.predict(X)


def test_pipeline_predicts_labels_and_values(digits):
    X, y = digits
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                       "nine"])[y]
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=60,
                                                         random_state=0))
    predicted = pipe.fit(X, labels).predict(X)
    assert predicted.dtype == labels.dtype and set(predicted) <= set(labels)
    assert accuracy_score(labels, predicted) > 0.95
    Xd, yd = load_diabetes(return_X_y=True)
    reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,),
                                                       learning_rate_init=0.1, max_iter=100,
                                                       random_state=0))
    values = reg.fit(Xd, yd).predict(Xd)
    assert values.dtype == np.float64 and values.shape == yd.shape
    assert r2_score(yd, values) > 0.5   # values on the target's scale


def test_grid_search_in_two_processes_and_cross_val_score(digits):
    X, y = digits
    X = X / 16.0
    search = GridSearchCV(MLPClassifier(max_iter=30, random_state=0),
                          {"hidden_layer_sizes": [(8,), (32,)], "alpha": [1e-4, 1e-1]},
                          cv=3, n_jobs=2)
    search.fit(X, y)
    assert search.best_params_["hidden_layer_sizes"] == (32,)
    best = search.best_estimator_
    assert accuracy_score(y, best.predict(X)) == pytest.approx(best.score(X, y))
    restored = pickle.loads(pickle.dumps(best))
    np.testing.assert_array_equal(restored.predict_proba(X), best.predict_proba(X))
    scores = cross_val_score(MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, random_state=0,
                                          learning_rate_init=0.01),
                             X, y.astype(float), cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.3)


def test_feature_names_checked_at_predict(digits):
    X, y = digits
    frame = pd.DataFrame(X[:, :6], columns=[f"px{i}" for i in range(6)])
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(frame, y)
    assert list(clf.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = clf.predict(frame.to_numpy())
    np.testing.assert_array_equal(clf.predict(frame), from_array)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[frame.columns[::-1]])


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([-5, 7, 40]),
                                    np.array([False, True])], ids=["str", "int", "bool"])
def test_any_label_type(labels):
    rng = np.random.RandomState(0)
    X = rng.randn(150, 3)
    index = np.argmax(X[:, :len(labels)], axis=1) if len(labels) > 2 else (X[:, 0] > 0).astype(int)
    y = labels[index]
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=150, learning_rate_init=0.01,
                        random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    predicted = clf.predict(X)
    assert predicted.dtype == y.dtype and accuracy_score(y, predicted) > 0.9
    assert clf.out_activation_ == ("softmax" if len(labels) > 2 else "logistic")
    assert clf.network_.loss_name == ("cross_entropy" if len(labels) > 2 else "binary_cross_entropy")
    # the network itself predicts the labels
    assert clf.network_.classes == list(np.sort(labels))
    np.testing.assert_array_equal(clf.network_.predict_classes(X).astype(y.dtype), predicted)


def test_multilabel_independent_sigmoids():
    X, Y = make_multilabel_classification(n_samples=300, n_features=8, n_classes=4,
                                          random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, learning_rate_init=0.01,
                        random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    assert clf.network_.loss_name == "binary_cross_entropy" and clf.network_.n_out == 4
    proba = clf.predict_proba(X)
    logits = clf.network_.predict(X).astype(np.float64)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits)), rtol=1e-12)
    predicted = clf.predict(X)
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    # the mean per-label accuracy beats always answering each label's majority
    majority = np.maximum(Y.mean(axis=0), 1 - Y.mean(axis=0)).mean()
    assert (predicted == Y).mean() > majority + 0.1
    assert clf.score(X, Y) == accuracy_score(Y, predicted)


@pytest.mark.parametrize("n_classes", [2, 5])
def test_probabilities_and_scores(n_classes):
    rng = np.random.RandomState(1)
    X = rng.randn(200, 4)
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], np.linspace(-1, 1, n_classes - 1))
    clf = MLPClassifier(hidden_layer_sizes=(12,), max_iter=50, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (200, n_classes) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])
    assert clf.score(X, y) == accuracy_score(y, clf.predict(X))
    reg = MLPRegressor(hidden_layer_sizes=(12,), max_iter=50, random_state=0).fit(X, X[:, 0] * 3)
    assert reg.score(X, X[:, 0] * 3) == pytest.approx(r2_score(X[:, 0] * 3, reg.predict(X)),
                                                      rel=1e-12)


def test_attributes_and_coefs_are_the_network(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0).fit(X, y)
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 10 and clf.n_features_in_ == 64
    assert [W.shape for W in clf.coefs_] == [(64, 20), (20, 10), (10, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (10,), (10,)]
    assert clf.coefs_[0].dtype == np.float32 and clf.n_iter_ == 5 and clf.t_ == 5 * len(X)
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.loss_ == clf.loss_curve_[-1]
    assert isinstance(clf.network_, ln.Network)
    # coefs_ are views: zeroing the last layer gives uniform probabilities
    clf.coefs_[-1][...] = 0
    clf.intercepts_[-1][...] = 0
    np.testing.assert_allclose(clf.predict_proba(X[:3]), 0.1, rtol=1e-6)


def test_refusals_name_the_parameter(digits):
    X, y = digits
    with pytest.raises(ValueError, match="solver: 'lbfgs' is not supported"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="loss: 'poisson' is not supported"):
        MLPRegressor(loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match="activation: expected one of"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes: expected positive integers"):
        MLPClassifier(hidden_layer_sizes=(10, 0)).fit(X, y)
    with pytest.raises(ValueError, match=r"momentum: expected a real number in \[0.0, 1.0\], got 1.5"):
        MLPClassifier(solver="sgd", momentum=1.5).fit(X, y)
    with pytest.raises(TypeError, match="dtype: expected float32 or float64"):
        MLPClassifier(dtype=np.int32).fit(X, y)
    with pytest.raises(ValueError, match="classes: must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="early_stopping: partial_fit does not support"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes: the fitted network has hidden layers \(8,\)"):
        clf.set_params(hidden_layer_sizes=(9,)).fit(X, y)
    with pytest.raises(ValueError, match="y: has classes not in classes_"):
        MLPClassifier(max_iter=2).partial_fit(X, y % 3, classes=[0, 1, 2]).partial_fit(X, y)
    fitted = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight: element 3 is -1.0"):
        fitted.fit(X[:5], y[:5] % 3, sample_weight=[1, 1, 1, -1, 1])
    with pytest.raises(NotFittedError):       # not the old network with the new classes
        fitted.predict(X)


def test_divergence_is_both_floating_point_and_value_error():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 3) * 1e30
    with pytest.raises(TrainingDivergedError, match="non-finite") as info:
        MLPRegressor(solver="sgd", learning_rate_init=1.0, max_iter=5).fit(X, X[:, 0])
    assert isinstance(info.value, FloatingPointError) and isinstance(info.value, ValueError)


def test_verbose_threads_and_convergence_warning(digits):
    X, y = digits
    before = ln.get_num_threads()
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, verbose=True, n_threads=1).fit(X, y)
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert ln.get_num_threads() == before


def test_importing_layernet_does_not_import_sklearn(tmp_path):
    code = "import sys, layernet; assert 'sklearn' not in sys.modules; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env=child_env())
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# ---------------------------------------------------------------------------
# from_sklearn
# ---------------------------------------------------------------------------

def _fitted(kind, activation):
    rng = np.random.RandomState(0)
    X = rng.randn(80, 6)
    y = {"reg": X[:, :2] @ [[1.0, 2.0], [-1.0, 0.5]],
         "reg1": X[:, 0] - X[:, 1],
         "binary": np.where(X[:, 0] > 0, "yes", "no"),
         "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]) * 10,
         "multilabel": (X[:, :3] > 0).astype(int)}[kind]
    cls = sknn.MLPRegressor if kind.startswith("reg") else sknn.MLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(hidden_layer_sizes=(7, 5), activation=activation, max_iter=50,
                   random_state=0).fit(X, y), rng.randn(40, 6) * 2


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("kind", ["reg", "reg1", "binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_from_sklearn_predicts_the_same(kind, activation, dtype):
    mlp, X = _fitted(kind, activation)
    net = from_sklearn(mlp, dtype=dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert net.dtype == dtype and len(net.layers) == 3
    assert [layer.activation for layer in net.layers] == \
        [{"logistic": "sigmoid"}.get(activation, activation)] * 2 + ["identity"]
    if kind.startswith("reg"):
        expected = mlp.predict(X).reshape(len(X), -1)
        got = net.predict(X)
        assert net.loss_name == "mse"
    else:
        expected = mlp.predict_proba(X)
        got = net.predict_proba(X)
        if kind == "binary":
            expected = expected[:, 1:]       # the network's one output is P(second class)
        assert net.loss_name == ("cross_entropy" if kind == "multiclass" else "binary_cross_entropy")
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)
    if kind in ("binary", "multiclass"):
        assert net.classes == list(mlp.classes_)
        np.testing.assert_array_equal(net.predict_classes(X).astype(mlp.classes_.dtype),
                                      mlp.predict(X))


def test_from_sklearn_default_dtype_and_layernet_estimators():
    mlp, X = _fitted("multiclass", "relu")
    assert from_sklearn(mlp).dtype == np.float64
    ours = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, np.arange(40) % 3)
    net = from_sklearn(ours)
    assert net is not ours.network_
    np.testing.assert_array_equal(net.predict(X), ours.network_.predict(X))


def test_from_sklearn_refuses_what_it_cannot_map():
    rng = np.random.RandomState(0)
    X = rng.rand(30, 3)
    poisson = sknn.MLPRegressor(loss="poisson", max_iter=5).fit(X, X[:, 0] + 0.1)
    with pytest.raises(ValueError, match=r"'exp' \(loss='poisson'\) is not supported"):
        from_sklearn(poisson)
    single = sknn.MLPClassifier(max_iter=5).fit(X, np.ones(30))
    with pytest.raises(ValueError, match="fitted on a single class"):
        from_sklearn(single)
    with pytest.raises(TypeError, match="expected a fitted sklearn.neural_network.MLPRegressor"):
        from_sklearn(StandardScaler().fit(X))
    with pytest.raises(NotFittedError):
        from_sklearn(sknn.MLPClassifier())
