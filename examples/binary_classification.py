"""Binary classification on imbalanced data, with and without class weights.

A generated data set: 10 measurements per case, 5% of the cases positive
(say, faulty parts), the two classes overlapping. A 10-16-1 network with
binary cross-entropy (a sigmoid output), a Standardize first layer and a
cosine learning-rate schedule is trained twice: plainly, and with
class_weight="balanced" (each class weighs as much as the other in the
loss). It prints accuracy, balanced accuracy, recall of the positive class
and F1 on a held-out test set for both.

Plain training buys its high accuracy by calling most overlapping cases
negative; balanced weights find far more of the positives (expected:
balanced accuracy up by at least 0.05, to 0.8 or more).

    python examples/binary_classification.py
"""
import numpy as np

import layernet as ln

N_FEATURES = 10
#: each measurement's unit: unlike scales, which the Standardize layer evens out
UNITS = np.linspace(0.5, 20.0, N_FEATURES)


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n cases, 5% positive; positives are shifted by 0.7 units in every measurement."""
    y = (rng.uniform(size=n) < 0.05).astype(np.int64)
    X = (rng.normal(size=(n, N_FEATURES)) + 0.7 * y[:, None]) * UNITS
    return X.astype(np.float32), y


def scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Accuracy, balanced accuracy, recall and F1 of the positive class (1)."""
    tp = int(np.sum((pred == 1) & (truth == 1)))
    fp = int(np.sum((pred == 1) & (truth == 0)))
    fn = int(np.sum((pred == 0) & (truth == 1)))
    recall = tp / max(tp + fn, 1)
    specificity = float(np.mean(pred[truth == 0] == 0))
    precision = tp / max(tp + fp, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"accuracy": float(np.mean(pred == truth)),
            "balanced accuracy": (recall + specificity) / 2, "recall": recall, "F1": f1}


def train(X: np.ndarray, y: np.ndarray, class_weight) -> ln.Network:
    epochs = 30
    net = ln.Network([ln.Standardize.from_data(X), ln.Dense(N_FEATURES, 16, activation="relu"),
                      ln.Dense(16, 1)], seed=0, loss="binary_cross_entropy")
    net.classes = ["ok", "faulty"]
    net.fit(X, y.reshape(-1, 1).astype(np.float32), epochs=epochs, batch_size=64,
            optimizer=ln.Adam(3e-3), callbacks=[ln.CosineAnnealingLR(T_max=epochs)],
            class_weight=class_weight, seed=0)
    return net


def main() -> int:
    rng = np.random.default_rng(0)
    X_train, y_train = make_data(6000, rng)
    X_test, y_test = make_data(4000, rng)
    print(f"training: {len(y_train)} cases, {int(y_train.sum())} faulty; "
          f"test: {len(y_test)} cases, {int(y_test.sum())} faulty")

    results = {}
    for name, weight in (("plain", None), ('class_weight="balanced"', "balanced")):
        net = train(X_train, y_train, weight)
        labels = net.predict_classes(X_test)                 # "ok" / "faulty"
        results[name] = scores((labels == "faulty").astype(np.int64), y_test)

    keys = list(results["plain"])
    print(f"\n{'':24s}" + "".join(f"{k:>18s}" for k in keys))
    for name, s in results.items():
        print(f"{name:24s}" + "".join(f"{s[k]:18.3f}" for k in keys))
    plain, weighted = results.values()
    print(f"\nbalanced class weights: recall of the faulty cases {plain['recall']:.3f} -> "
          f"{weighted['recall']:.3f}, balanced accuracy {plain['balanced accuracy']:.3f} -> "
          f"{weighted['balanced accuracy']:.3f}")
    ok = (weighted["balanced accuracy"] >= 0.8
          and weighted["balanced accuracy"] >= plain["balanced accuracy"] + 0.05)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
