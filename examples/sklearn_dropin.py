"""layernet.sklearn as a drop-in for scikit-learn's MLP: one script, two imports.

`scikit_learn_script` below is ordinary scikit-learn code: digits
classification and diabetes regression with MLPClassifier / MLPRegressor.
It runs twice, once with the classes from sklearn.neural_network and once
with those from layernet.sklearn, and prints test accuracy, R^2 and fit
times side by side. Both datasets ship with scikit-learn (no download).

Each fit is timed once, on whatever else the machine is doing: the times
are indicative, not a benchmark (see bench/ for that). The script exits 0
when layernet's scores are within a reasonable margin of scikit-learn's
(accuracy within 0.02, R^2 within 0.05), 1 otherwise.

    pip install scikit-learn      # or: pip install 'layernet[sklearn]'
    python examples/sklearn_dropin.py
"""
import sys
import time
import warnings

ACCURACY_MARGIN = 0.02
R2_MARGIN = 0.05


def scikit_learn_script(MLPClassifier, MLPRegressor) -> dict:
    """Plain scikit-learn code; only the two classes come from outside."""
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    results = {}
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    clf = make_pipeline(StandardScaler(),
                        MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0))
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    results["digits fit (s)"] = time.perf_counter() - start
    results["digits accuracy"] = clf.score(X_test, y_test)

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    reg = make_pipeline(StandardScaler(),
                        MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.05,
                                     max_iter=300, early_stopping=True, random_state=0))
    start = time.perf_counter()
    reg.fit(X_train, y_train)
    results["diabetes fit (s)"] = time.perf_counter() - start
    results["diabetes R^2"] = reg.score(X_test, y_test)
    return results


def main() -> int:
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier as SkClassifier
        from sklearn.neural_network import MLPRegressor as SkRegressor
        from layernet.sklearn import MLPClassifier, MLPRegressor
    except ImportError as exc:
        print(f"sklearn_dropin.py needs scikit-learn 1.6 or newer: {exc}", file=sys.stderr)
        return 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # max_iter is kept small on purpose
        theirs = scikit_learn_script(SkClassifier, SkRegressor)
        ours = scikit_learn_script(MLPClassifier, MLPRegressor)

    print(f"{'':20s} {'scikit-learn':>14s} {'layernet':>10s}")
    for key in theirs:
        print(f"{key:20s} {theirs[key]:14.3f} {ours[key]:10.3f}")
    print("(fit times: one run each, indicative only)")

    ok = (ours["digits accuracy"] >= theirs["digits accuracy"] - ACCURACY_MARGIN
          and ours["diabetes R^2"] >= theirs["diabetes R^2"] - R2_MARGIN)
    print("layernet's scores are within the margin of scikit-learn's" if ok else
          f"layernet's scores fall short of scikit-learn's by more than {ACCURACY_MARGIN} "
          f"(accuracy) or {R2_MARGIN} (R^2)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
