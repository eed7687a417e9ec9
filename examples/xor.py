"""XOR: the smallest problem a network without a hidden layer cannot solve.

A 2-4-1 network with a tanh hidden layer learns the four XOR cases with
plain SGD on the mean squared error, then prints its output for each case.

    python examples/xor.py
"""
import numpy as np

import layernet as ln


def main() -> int:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float32)

    net = ln.Network([ln.Dense(2, 4, activation="tanh"), ln.Dense(4, 1)], seed=1)
    print(net)
    history = net.fit(X, Y, epochs=2000, batch_size=4, optimizer=ln.SGD(0.1, momentum=0.9))
    for epoch in (0, 9, 99, 499, 1999):
        print(f"epoch {epoch + 1:5d}: loss {history.history['loss'][epoch]:.6f}")

    out = net.predict(X)[:, 0]
    print("\n  a  b   a xor b   network")
    for (a, b), y, o in zip(X.astype(int), Y[:, 0].astype(int), out):
        print(f"  {a}  {b}   {y:7d}   {o:7.4f}")
    correct = int(((out > 0.5) == (Y[:, 0] > 0.5)).sum())
    print(f"\n{correct}/4 cases right (output > 0.5 read as 1), final loss {net.loss(X, Y):.2e}")
    return 0 if correct == 4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
