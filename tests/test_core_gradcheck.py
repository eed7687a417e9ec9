"""Gradient checks: net.gradients against central finite differences of
net.loss in float64, and float32 gradients against the float64 oracle.

Run with `pytest -s` to see the worst relative error per dtype."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle as O  # noqa: E402

import layernet as ln  # noqa: E402

ACTS = list(O.ACTIVATIONS)
EPS = 1e-6
WORST = {"float64": 0.0, "float32": 0.0}


def _cases():
    """32 seeded architectures: every activation at depths 1..4, widths and
    batches including 1."""
    rng = np.random.default_rng(7)
    cases = []
    n_acts = len(ACTS)
    for i in range(4 * n_acts):
        activation = ACTS[i % n_acts]
        depth = i // n_acts + 1
        batch = [1, 3, 2, 5][(i + i // n_acts) % 4]
        widths = [int(w) for w in rng.choice([1, 2, 3, 4, 6], depth + 1)]
        if i % 3 == 0:
            widths[int(rng.integers(depth + 1))] = 1
        cases.append((i, activation, widths, batch))
    return cases


CASES = _cases()
assert any(b == 1 for _, _, _, b in CASES) and any(1 in w for _, _, w, _ in CASES)
assert {len(w) - 1 for _, _, w, _ in CASES} == {1, 2, 3, 4}


def build(activation, widths, dtype, seed):
    layers = [ln.Dense(a, b, activation=activation) for a, b in zip(widths[:-1], widths[1:])]
    net = ln.Network(layers, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    # non-zero biases so that every parameter matters
    for layer in net.layers:
        layer.B = rng.uniform(-0.5, 0.5, layer.n_out)
    return net


def data(widths, batch, seed):
    rng = np.random.default_rng(seed + 2000)
    X = rng.uniform(-1.5, 1.5, (batch, widths[0]))
    Y = rng.uniform(-1.0, 1.0, (batch, widths[-1]))
    return X, Y


def rel(a, b):
    return O.rel_err(a, b)


@pytest.mark.parametrize("case,activation,widths,batch", CASES,
                         ids=[f"{i}-{a}-{'x'.join(map(str, w))}-b{b}" for i, a, w, b in CASES])
def test_gradients_match_finite_differences_float64(case, activation, widths, batch):
    net = build(activation, widths, np.float64, seed=case)
    X, Y = data(widths, batch, case)
    grads = net.gradients(X, Y)
    assert len(grads) == len(net.layers)
    worst = 0.0
    for layer, (dW, dB) in zip(net.layers, grads):
        assert dW.shape == layer.W.shape and dB.shape == layer.B.shape
        assert dW.dtype == np.float64 and dB.dtype == np.float64
        for param, analytic in ((layer.W, dW), (layer.B, dB)):
            numeric = np.zeros_like(param)
            flat = param.reshape(-1)            # a view: writes reach the network
            nflat = numeric.reshape(-1)
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + EPS
                up = net.loss(X, Y)
                flat[j] = orig - EPS
                down = net.loss(X, Y)
                flat[j] = orig
                nflat[j] = (up - down) / (2 * EPS)
            err = rel(analytic, numeric)
            worst = max(worst, err)
            assert err < 1e-6, (f"{activation} {widths} batch {batch}: analytic vs numeric "
                                f"rel error {err:.3e}")
    WORST["float64"] = max(WORST["float64"], worst)


@pytest.mark.parametrize("case,activation,widths,batch", CASES,
                         ids=[f"{i}-{a}-{'x'.join(map(str, w))}-b{b}" for i, a, w, b in CASES])
def test_float32_gradients_match_float64_oracle(case, activation, widths, batch):
    net = build(activation, widths, np.float32, seed=case)
    X, Y = data(widths, batch, case)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    grads = net.gradients(X32, Y32)
    params = [(l.W.astype(np.float64), l.B.astype(np.float64)) for l in net.layers]
    _, expected = O.gradients(params, [activation] * len(params), X32.astype(np.float64),
                              Y32.astype(np.float64))
    for (dW, dB), (eW, eB) in zip(grads, expected):
        assert dW.dtype == np.float32 and dB.dtype == np.float32
        for a, e in ((dW, eW), (dB, eB)):
            err = rel(a, e)
            WORST["float32"] = max(WORST["float32"], err)
            assert err < 1e-4, f"{activation} {widths} batch {batch}: rel error {err:.3e}"


def test_zz_report_worst_errors():
    """Runs last (file order); prints the worst errors seen above."""
    print(f"\nworst gradcheck error float64: {WORST['float64']:.3e}")
    print(f"worst gradcheck error float32 (vs float64 oracle): {WORST['float32']:.3e}")
    assert WORST["float64"] < 1e-6
    assert WORST["float32"] < 1e-4
