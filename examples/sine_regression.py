"""Regression: fit y = sin(x) on [-pi, pi] from noisy samples.

A 1-32-32-1 tanh network is trained with Adam on 512 noisy samples, holding
out a validation set, with early stopping. It prints the test error against
the true sine and a small table of predictions.

    python examples/sine_regression.py
"""
import numpy as np

import layernet as ln


def main() -> int:
    rng = np.random.default_rng(0)
    x_train = rng.uniform(-np.pi, np.pi, (512, 1))
    y_train = np.sin(x_train) + rng.normal(0.0, 0.05, x_train.shape)
    x_test = np.linspace(-np.pi, np.pi, 201).reshape(-1, 1)
    y_test = np.sin(x_test)

    net = ln.Network([ln.Dense(1, 32, activation="tanh"), ln.Dense(32, 32, activation="tanh"),
                      ln.Dense(32, 1)], dtype=np.float64, seed=0)
    history = net.fit(x_train, y_train, epochs=300, batch_size=32, optimizer=ln.Adam(0.01),
                      validation_split=0.2, callbacks=[ln.EarlyStopping(patience=30)], seed=0)
    print(f"trained {len(history.epochs)} epochs"
          + (" (stopped early)" if history.stopped_early else "")
          + f"; last training loss {history.history['loss'][-1]:.5f}, best validation loss "
          f"{min(history.history['val_loss']):.5f}")

    pred = net.predict(x_test)
    rmse = float(np.sqrt(np.mean((pred - y_test) ** 2)))
    print("\n      x    sin(x)   network")
    for i in range(0, 201, 25):
        print(f"  {x_test[i, 0]:+.3f}   {y_test[i, 0]:+.4f}   {pred[i, 0]:+.4f}")
    print(f"\ntest RMSE against the true sine on 201 points: {rmse:.4f} (the noise was 0.05)")
    return 0 if rmse < 0.1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
