"""Regression on a stream: partial_fit, one chunk of rows at a time.

The rows arrive in chunks of 256 from a generator (standing in for a sensor
feed, a database cursor or a CSV read in pieces) and are never all in
memory at once. The target is a smooth nonlinear function of 6 measurements
in unlike units, plus noise with a standard deviation of 0.1. The
Standardize first layer takes its statistics from the first chunk; each
further chunk is one partial_fit call (one pass over its rows in batches of
32), with Adam's state carried from chunk to chunk. It prints the RMSE on a
fixed test set as the stream goes on (expected at the end: below 0.2, twice
the noise).

    python examples/streaming_regression.py
"""
from typing import Iterator

import numpy as np

import layernet as ln

N_FEATURES = 6
UNITS = np.array([1.0, 10.0, 0.1, 100.0, 1.0, 5.0])   # each measurement's scale
NOISE = 0.1


def target(X: np.ndarray) -> np.ndarray:
    Z = X / UNITS
    return (np.sin(2 * Z[:, 0]) + Z[:, 1] * Z[:, 2] + 0.5 * Z[:, 3] ** 2
            - np.tanh(Z[:, 4] - Z[:, 5])).reshape(-1, 1)


def stream(n_chunks: int, rows: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks (X, y) generated on the fly."""
    rng = np.random.default_rng(seed)
    for _ in range(n_chunks):
        X = rng.normal(size=(rows, N_FEATURES)) * UNITS
        yield X, target(X) + rng.normal(0, NOISE, (rows, 1))


def main() -> int:
    rng = np.random.default_rng(1)
    X_test = rng.normal(size=(2000, N_FEATURES)) * UNITS
    y_test = target(X_test)                                # noise-free truth

    chunks = stream(n_chunks=400, rows=256, seed=0)
    X_first, y_first = next(chunks)
    net = ln.Network([ln.Standardize.from_data(X_first),
                      ln.Dense(N_FEATURES, 64, activation="tanh"),
                      ln.Dense(64, 64, activation="tanh"), ln.Dense(64, 1)], seed=0)
    optimizer = ln.Adam(2e-3)
    net.partial_fit(X_first, y_first, batch_size=32, optimizer=optimizer)

    def test_rmse() -> float:
        return float(np.sqrt(np.mean((net.predict(X_test) - y_test) ** 2)))

    print(f"a stream of 400 chunks of 256 rows; test RMSE after chunk 1: {test_rmse():.4f}")
    seen = 1
    for X, y in chunks:
        loss = net.partial_fit(X, y, batch_size=32)        # the optimizer carries over
        seen += 1
        if seen % 50 == 0:
            print(f"after chunk {seen:3d} ({seen * 256:6d} rows): chunk loss {loss:.4f}, "
                  f"test RMSE {test_rmse():.4f}")
    rmse = test_rmse()
    print(f"\ntest RMSE against the noise-free target on {len(X_test)} points: {rmse:.4f} "
          f"(the training noise was {NOISE}); Adam took {optimizer.step} steps")
    return 0 if rmse < 2 * NOISE else 1


if __name__ == "__main__":
    raise SystemExit(main())
