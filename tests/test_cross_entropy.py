"""Softmax cross-entropy (issue 4): loss, gradient, predict_proba and evaluate.

Oracles: a float64 numpy log-sum-exp computation written here, and central finite
differences in float64. Convention (DESIGN.md): L = mean over rows of
-sum_j T_ij log softmax(Z)_ij, dL/dZ = (softmax(Z) * rowsum(T) - T) / N.
"""

import numpy as np
import pytest

import layernet as ln
from layernet import _kernels as K

DTYPES = [np.float32, np.float64]


def tols(dtype):
    return (2e-5, 1e-6) if np.dtype(dtype) == np.float32 else (1e-12, 1e-14)


# ---------------------------------------------------------------------------
# numpy oracle
# ---------------------------------------------------------------------------


def log_softmax(Z):
    Z = np.asarray(Z, dtype=np.float64)
    zmax = Z.max(axis=1, keepdims=True)
    lse = zmax + np.log(np.exp(Z - zmax).sum(axis=1, keepdims=True))
    return Z - lse


def softmax(Z):
    return np.exp(log_softmax(Z))


def xent_loss(Z, T):
    T = np.asarray(T, dtype=np.float64)
    return float(-(T * log_softmax(Z)).sum() / Z.shape[0])


def xent_grad(Z, T):
    T = np.asarray(T, dtype=np.float64)
    return (softmax(Z) * T.sum(axis=1, keepdims=True) - T) / Z.shape[0]


def onehot(y, m, dtype=np.float64):
    out = np.zeros((len(y), m), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def _oracle_self_check():
    # Two-class rows with logits [0, 0]: loss = log 2; gradient = (0.5 - 1, 0.5) / 1.
    assert abs(xent_loss(np.zeros((1, 2)), [[1, 0]]) - np.log(2)) < 1e-15
    assert np.allclose(xent_grad(np.zeros((1, 2)), [[1, 0]]), [[-0.5, 0.5]])


_oracle_self_check()


# ---------------------------------------------------------------------------
# Kernel hook K.loss(H, Y, "cross_entropy")
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, m", [(1, 2), (5, 3), (17, 10), (3, 1)])
@pytest.mark.parametrize("targets", ["onehot", "soft"])
def test_kernel_loss_matches_logsumexp_oracle(n, m, targets, dtype):
    rng = np.random.default_rng(n * 100 + m)
    Z = (3 * rng.standard_normal((n, m))).astype(dtype)
    if targets == "onehot":
        T = onehot(rng.integers(0, m, n), m, dtype)
    else:
        T = rng.random((n, m)) + 0.05
        T = (T / T.sum(axis=1, keepdims=True)).astype(dtype)
    loss, grad = K.loss(Z, T, "cross_entropy")
    rtol, atol = tols(dtype)
    assert isinstance(loss, float)
    assert loss == pytest.approx(xent_loss(Z, T), rel=rtol, abs=atol)
    assert grad.shape == (n, m) and grad.dtype == dtype
    np.testing.assert_allclose(grad, xent_grad(Z, T), rtol=rtol * 5, atol=atol * 5)


def test_kernel_loss_hand_numbers():
    # logits [ln 1, ln 3] -> softmax [0.25, 0.75]; label 1 -> loss = -ln 0.75
    Z = np.log(np.array([[1.0, 3.0]]))
    loss, grad = K.loss(Z, np.array([[0.0, 1.0]]), "cross_entropy")
    assert loss == pytest.approx(-np.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.25, -0.25]], rtol=1e-14, atol=1e-15)


def test_kernel_gradient_by_central_differences():
    rng = np.random.default_rng(7)
    Z = rng.standard_normal((4, 5))
    T = rng.random((4, 5))
    T /= T.sum(axis=1, keepdims=True)
    _, grad = K.loss(Z, T, "cross_entropy")
    h = 1e-6
    fd = np.zeros_like(Z)
    for idx in np.ndindex(*Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += h
        Zm[idx] -= h
        fd[idx] = (K.loss(Zp, T, "cross_entropy")[0] - K.loss(Zm, T, "cross_entropy")[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_large_logits_stay_finite(dtype):
    Z = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0], [500.0, 500.0, 500.0]],
                 dtype=dtype)
    T = onehot(np.array([2, 2, 0]), 3, dtype)
    loss, grad = K.loss(Z, T, "cross_entropy")
    # row 0: -log softmax at -1000 = 2000 (+ log(1 + e^-1000 + e^-2000) ~ 0)
    # row 1: lse = 1000 + log(1 + e^-1) ; loss = lse - 999 = 1 + log(1 + e^-1)
    # row 2: three equal logits -> log 3
    expected = (2000.0 + 1.0 + np.log1p(np.exp(-1.0)) + np.log(3.0)) / 3
    assert np.isfinite(loss)
    assert loss == pytest.approx(expected, rel=1e-6 if dtype == np.float32 else 1e-12)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, xent_grad(Z, T), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# Networks with loss="cross_entropy"
# ---------------------------------------------------------------------------


def _net(dtype, seed=0, n_in=4, hidden=7, n_out=3):
    return ln.Network([ln.Dense(n_in, hidden, "tanh"), ln.Dense(hidden, n_out)],
                      dtype=dtype, seed=seed, loss="cross_entropy")


def _cls_data(dtype, n=20, n_in=4, n_out=3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.integers(0, n_out, n)
    y[:n_out] = np.arange(n_out)  # every class present
    return X, y


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_loss_matches_oracle_on_its_logits(dtype):
    net = _net(dtype)
    assert net.loss_name == "cross_entropy"
    X, y = _cls_data(dtype)
    Z = net.predict(X)
    assert Z.shape == (len(X), 3) and Z.dtype == dtype
    rtol, atol = tols(dtype)
    assert net.loss(X, y) == pytest.approx(xent_loss(Z, onehot(y, 3)), rel=rtol, abs=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_labels_and_onehot_agree(dtype):
    net = _net(dtype, seed=3)
    X, y = _cls_data(dtype, seed=4)
    Y1 = onehot(y, 3, dtype)
    rtol, atol = tols(dtype)
    assert net.loss(X, y) == pytest.approx(net.loss(X, Y1), rel=rtol, abs=atol)
    for label_dtype in (np.int64, np.int32):
        ga = net.gradients(X, y.astype(label_dtype))
        gb = net.gradients(X, Y1)
        for (dWa, dBa), (dWb, dBb) in zip(ga, gb):
            np.testing.assert_allclose(dWa, dWb, rtol=rtol, atol=atol)
            np.testing.assert_allclose(dBa, dBb, rtol=rtol, atol=atol)


def test_network_gradients_by_central_differences():
    net = _net(np.float64, seed=5, hidden=5)
    X, y = _cls_data(np.float64, n=9, seed=6)
    grads = net.gradients(X, y)
    h = 1e-6
    for li, layer in enumerate(net.layers):
        for name, g in (("W", grads[li][0]), ("B", grads[li][1])):
            param = getattr(layer, name)
            assert g.shape == param.shape
            fd = np.zeros(param.shape)
            for idx in np.ndindex(*param.shape):
                orig = param[idx]
                param[idx] = orig + h
                lp = net.loss(X, y)
                param[idx] = orig - h
                lm = net.loss(X, y)
                param[idx] = orig
                fd[idx] = (lp - lm) / (2 * h)
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9, err_msg=f"{name}{li}")


def test_network_gradient_with_soft_targets_by_central_differences():
    net = ln.Network([ln.Dense(3, 4)], dtype=np.float64, seed=2, loss="cross_entropy")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 3))
    T = rng.random((6, 4))
    T /= T.sum(axis=1, keepdims=True)
    (dW, dB), = net.gradients(X, T)
    Z = net.predict(X)
    # the chain rule by hand for one linear layer: dW = X^T G, dB = colsum G
    G = xent_grad(Z, T)
    np.testing.assert_allclose(dW, X.T @ G, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dB, G.sum(axis=0), rtol=1e-10, atol=1e-13)
    W = net.layers[0].W
    h = 1e-6
    W[1, 2] += h
    lp = net.loss(X, T)
    W[1, 2] -= 2 * h
    lm = net.loss(X, T)
    W[1, 2] += h
    assert dW[1, 2] == pytest.approx((lp - lm) / (2 * h), rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_large_logits_stay_finite(dtype):
    net = ln.Network([ln.Dense(2, 3)], dtype=dtype, seed=0, loss="cross_entropy")
    net.layers[0].W = np.array([[1000.0, -1000.0, 0.0], [0.0, 500.0, -500.0]])
    net.layers[0].B = np.zeros(3)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=dtype)
    y = np.array([1, 0, 2])
    Z = net.predict(X)
    np.testing.assert_allclose(Z, [[1000, -1000, 0], [0, 500, -500], [1000, -500, -500]])
    loss = net.loss(X, y)
    # rows: -log softmax = 2000, 500, 1500 (other terms below e^-500)
    assert np.isfinite(loss)
    assert loss == pytest.approx((2000 + 500 + 1500) / 3, rel=1e-6)
    for dW, dB in net.gradients(X, y):
        assert np.all(np.isfinite(dW)) and np.all(np.isfinite(dB))
    P = net.predict_proba(X)
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)


def test_labels_out_of_range_are_rejected():
    net = _net(np.float64)
    X = np.zeros((3, 4))
    for bad in (np.array([0, 1, 3]), np.array([0, -1, 2])):
        with pytest.raises(ValueError, match="Y"):
            net.loss(X, bad)
        with pytest.raises(ValueError, match="Y"):
            net.gradients(X, bad)


# ---------------------------------------------------------------------------
# predict_proba and evaluate
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_proba_is_softmax_of_predict(dtype):
    net = _net(dtype, seed=8)
    X, _ = _cls_data(dtype, n=13, seed=9)
    P = net.predict_proba(X)
    assert P.shape == (13, 3)
    rtol, atol = tols(dtype)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=rtol, atol=atol)
    np.testing.assert_allclose(P, softmax(net.predict(X)), rtol=rtol * 5, atol=atol)
    assert np.all(P >= 0)


def test_predict_proba_on_mse_network_raises():
    net = ln.Network([ln.Dense(2, 3)], seed=0, loss="mse")
    with pytest.raises(ValueError):
        net.predict_proba(np.zeros((2, 2), dtype=np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_evaluate_cross_entropy(dtype):
    net = _net(dtype, seed=10)
    X, y = _cls_data(dtype, n=31, seed=11)
    res = net.evaluate(X, y)
    assert set(res) == {"loss", "accuracy"}
    Z = net.predict(X).astype(np.float64)
    rtol, atol = tols(dtype)
    assert res["loss"] == pytest.approx(xent_loss(Z, onehot(y, 3)), rel=rtol, abs=atol)
    acc = float(np.mean(np.argmax(Z, axis=1) == y))
    assert res["accuracy"] == pytest.approx(acc, abs=1e-12)
    # the accuracy must not be trivially 0 or 1 here, or the check above proves little
    assert 0.0 < acc < 1.0
    # one-hot targets give the same result
    res2 = net.evaluate(X, onehot(y, 3, dtype))
    assert res2["loss"] == pytest.approx(res["loss"], rel=rtol, abs=atol)
    assert res2["accuracy"] == pytest.approx(acc, abs=1e-12)


def test_evaluate_mse():
    net = ln.Network([ln.Dense(3, 2, "sigmoid"), ln.Dense(2, 2)], dtype=np.float64, seed=1)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    res = net.evaluate(X, Y)
    assert set(res) == {"loss", "rmse", "mae", "r2"}     # regression metrics beside the loss
    assert res["loss"] == pytest.approx(np.mean((net.predict(X) - Y) ** 2), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_cross_entropy_learns_separable_classes(dtype):
    rng = np.random.default_rng(12)
    centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    y = np.repeat(np.arange(3), 30)
    X = (centers[y] + 0.5 * rng.standard_normal((90, 2))).astype(dtype)
    net = ln.Network([ln.Dense(2, 8, "relu"), ln.Dense(8, 3)], dtype=dtype, seed=0,
                     loss="cross_entropy")
    before = net.evaluate(X, y)["loss"]
    hist = net.fit(X, y, epochs=30, batch_size=16, optimizer=ln.Adam(lr=0.05), seed=1, verbose=0)
    after = net.evaluate(X, y)
    assert after["loss"] < 0.25 * before
    assert after["accuracy"] >= 0.95
    assert "accuracy" in hist.history and len(hist.history["accuracy"]) == 30
