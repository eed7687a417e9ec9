"""Handwritten digits: scikit-learn's bundled 8x8 images (1797 of them, no download).

A 64-128-10 ReLU network with a cross-entropy loss is trained with Adam on
75% of the images and tested on the rest; it prints the test accuracy
(expected: 95% or more) and a confusion matrix.

    pip install scikit-learn      # or: pip install 'layernet[examples]'
    python examples/digits.py
"""
import sys

import numpy as np

import layernet as ln


def main() -> int:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("digits.py needs scikit-learn for its bundled digits data: pip install scikit-learn",
              file=sys.stderr)
        return 2

    digits = load_digits()
    X = digits.data.astype(np.float32) / 16.0          # pixel intensities 0..16 -> 0..1
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(X))
    n_train = int(0.75 * len(X))
    train, test = order[:n_train], order[n_train:]

    net = ln.Network([ln.Dense(64, 128, activation="relu"), ln.Dense(128, 10)],
                     seed=0, loss="cross_entropy")
    history = net.fit(X[train], y[train], epochs=40, batch_size=32, optimizer=ln.Adam(1e-3),
                      validation_split=0.1, seed=0)
    for epoch in range(0, len(history.epochs), 5):
        print(f"epoch {epoch + 1:2d}: loss {history.history['loss'][epoch]:.4f}  "
              f"val_accuracy {history.history['val_accuracy'][epoch]:.3f}")

    result = net.evaluate(X[test], y[test])
    pred = net.predict(X[test]).argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y[test], pred), 1)
    print("\nconfusion matrix (rows: true digit, columns: predicted)")
    print("     " + " ".join(f"{d:3d}" for d in range(10)))
    for d in range(10):
        print(f"  {d}: " + " ".join(f"{n:3d}" for n in confusion[d]))
    print(f"\ntest accuracy on {len(test)} unseen images: {result['accuracy']:.4f} "
          f"(loss {result['loss']:.4f})")
    return 0 if result["accuracy"] >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
