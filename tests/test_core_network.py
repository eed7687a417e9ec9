"""Network: predict, loss, gradients and train_step against the numpy oracle
(tests/oracle.py) under every ISA, input conversion, parameter access,
initialisation, seeding, and a small end-to-end XOR fit."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle as O  # noqa: E402

import layernet as ln  # noqa: E402
from layernet import _kernels as K  # noqa: E402

DTYPES = [np.float32, np.float64]
ACTS = list(O.ACTIVATIONS)


@pytest.fixture(params=K.available_isas())
def isa(request):
    previous = K.get_isa()
    K.set_isa(request.param)
    yield request.param
    K.set_isa(previous)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


def tols(dtype):
    return (2e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)


def random_net(seed, dtype, widths=None, acts=None):
    rng = np.random.default_rng(seed)
    if widths is None:
        depth = int(rng.integers(1, 5))
        widths = [int(w) for w in rng.choice([1, 3, 8, 17, 33], depth + 1)]
    if acts is None:
        acts = [str(a) for a in rng.choice(ACTS, len(widths) - 1)]
    layers = [ln.Dense(a, b, activation=f) for a, b, f in zip(widths[:-1], widths[1:], acts)]
    net = ln.Network(layers, dtype=dtype, seed=seed)
    for layer in net.layers:
        layer.B = rng.uniform(-0.3, 0.3, layer.n_out)
    return net, widths, acts


def params64(net):
    return [(l.W.astype(np.float64), l.B.astype(np.float64)) for l in net.layers]


def acts_of(net):
    return [l.activation for l in net.layers]


def batch(seed, n, n_in, n_out, dtype):
    rng = np.random.default_rng(seed + 99)
    return (rng.uniform(-1, 1, (n, n_in)).astype(dtype),
            rng.uniform(-1, 1, (n, n_out)).astype(dtype))


# ---------------------------------------------------------------------------
# predict / loss / gradients / train_step vs the oracle
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 7, 64])
@pytest.mark.parametrize("seed", range(6))
def test_predict_loss_gradients_match_oracle(isa, dtype, seed, n):
    net, widths, acts = random_net(seed, dtype)
    X, Y = batch(seed, n, widths[0], widths[-1], dtype)
    rtol, atol = tols(dtype)
    P = params64(net)
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)

    H = net.predict(X)
    assert H.dtype == dtype and H.shape == (n, widths[-1])
    np.testing.assert_allclose(H, O.predict(P, acts, X64), rtol=rtol, atol=atol)

    L = net.loss(X, Y)
    eL, grads = O.gradients(P, acts, X64, Y64)
    assert isinstance(L, float)
    assert L == pytest.approx(eL, rel=rtol * 10, abs=atol)

    got = net.gradients(X, Y)
    assert len(got) == len(net.layers)
    for (dW, dB), (eW, eB), layer in zip(got, grads, net.layers):
        assert dW.dtype == dtype and dB.dtype == dtype
        assert dW.shape == layer.W.shape and dB.shape == layer.B.shape
        assert O.rel_err(dW, eW) < (1e-4 if dtype == np.float32 else 1e-10)
        assert O.rel_err(dB, eB) < (1e-4 if dtype == np.float32 else 1e-10)


def test_gradients_are_new_arrays(dtype):
    net, widths, _ = random_net(3, dtype)
    X, Y = batch(3, 5, widths[0], widths[-1], dtype)
    g1 = net.gradients(X, Y)
    saved = [(dW.copy(), dB.copy()) for dW, dB in g1]
    X2, Y2 = batch(4, 5, widths[0], widths[-1], dtype)
    net.gradients(X2, Y2)
    for (dW, dB), (sW, sB) in zip(g1, saved):
        assert np.array_equal(dW, sW) and np.array_equal(dB, sB)
    assert not np.shares_memory(g1[0][0], net.layers[0].W)


@pytest.mark.parametrize("seed", range(4))
def test_train_step_is_plain_sgd(isa, dtype, seed):
    net, widths, acts = random_net(seed + 10, dtype)
    X, Y = batch(seed, 9, widths[0], widths[-1], dtype)
    lr = 0.05
    before = [(l.W.copy(), l.B.copy()) for l in net.layers]
    loss_before = net.loss(X, Y)
    own_grads = net.gradients(X, Y)
    eL, grads = O.gradients(params64(net), acts, X.astype(np.float64), Y.astype(np.float64))
    expected = O.sgd_step(params64(net), grads, lr)

    returned = net.train_step(X, Y, lr)
    assert returned == pytest.approx(loss_before, rel=1e-12, abs=0)
    assert returned == pytest.approx(eL, rel=tols(dtype)[0] * 10)
    rtol, atol = tols(dtype)
    for layer, (eW, eB), (W0, B0), (dW, dB) in zip(net.layers, expected, before, own_grads):
        # the oracle step
        np.testing.assert_allclose(layer.W, eW, rtol=rtol, atol=atol)
        np.testing.assert_allclose(layer.B, eB, rtol=rtol, atol=atol)
        # exactly W -= lr*dW with the network's own gradients (up to one rounding)
        step_tol = 2 * np.finfo(dtype).eps
        np.testing.assert_allclose(layer.W, W0 - dtype.type(lr) * dW, rtol=step_tol, atol=step_tol)
        np.testing.assert_allclose(layer.B, B0 - dtype.type(lr) * dB, rtol=step_tol, atol=step_tol)
    # the loss went down for this small step
    assert net.loss(X, Y) < loss_before


def test_train_step_lr_zero_changes_nothing(dtype):
    net, widths, _ = random_net(5, dtype)
    X, Y = batch(5, 4, widths[0], widths[-1], dtype)
    before = [(l.W.copy(), l.B.copy()) for l in net.layers]
    net.train_step(X, Y, 0.0)
    for l, (W, B) in zip(net.layers, before):
        assert np.array_equal(l.W, W) and np.array_equal(l.B, B)


# ---------------------------------------------------------------------------
# Input conversion
# ---------------------------------------------------------------------------

def _views(X):
    """(description, array) pairs that all hold X's values."""
    n, d = X.shape
    wide = np.zeros((n, 2 * d), dtype=X.dtype)
    wide[:, ::2] = X
    tall = np.zeros((2 * n, d), dtype=X.dtype)
    tall[::2] = X
    return [
        ("strided columns", wide[:, ::2]),
        ("strided rows", tall[::2]),
        ("fortran", np.asfortranarray(X)),
        ("transposed view", np.ascontiguousarray(X.T).T),
        ("reversed", X[::-1][::-1]),
    ]


def test_non_contiguous_inputs_match_contiguous(dtype):
    net, widths, _ = random_net(21, dtype, widths=[6, 5, 2], acts=["tanh", "identity"])
    X, Y = batch(21, 8, 6, 2, dtype)
    ref_pred = net.predict(X)
    ref_loss = net.loss(X, Y)
    ref_grads = net.gradients(X, Y)
    for name, V in _views(X):
        assert np.array_equal(V, X)
        assert np.array_equal(net.predict(V), ref_pred), name
        assert net.loss(V, Y) == ref_loss, name
        for (a, b), (c, d) in zip(net.gradients(V, np.asfortranarray(Y)), ref_grads):
            assert np.array_equal(a, c) and np.array_equal(b, d), name
    # train_step with a non-contiguous X equals train_step with the contiguous one
    twin, _, _ = random_net(21, dtype, widths=[6, 5, 2], acts=["tanh", "identity"])
    l1 = net.train_step(_views(X)[0][1], Y, 0.1)
    l2 = twin.train_step(X, Y, 0.1)
    assert l1 == l2
    for a, b in zip(net.layers, twin.layers):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.B, b.B)


def test_dtype_conversion():
    net32, _, _ = random_net(22, np.float32, widths=[4, 3, 1], acts=["relu", "sigmoid"])
    X64 = np.random.default_rng(0).uniform(-1, 1, (6, 4))
    X32 = X64.astype(np.float32)
    out = net32.predict(X64)
    assert out.dtype == np.float32
    assert np.array_equal(out, net32.predict(X32))
    Y64 = np.random.default_rng(1).uniform(0, 1, (6, 1))
    assert net32.loss(X64, Y64) == net32.loss(X32, Y64.astype(np.float32))
    # a float32 X into a float64 net
    net64, _, _ = random_net(22, np.float64, widths=[4, 3, 1], acts=["relu", "sigmoid"])
    out64 = net64.predict(X32)
    assert out64.dtype == np.float64
    assert np.array_equal(out64, net64.predict(X32.astype(np.float64)))


@pytest.mark.parametrize("int_dtype", [np.int32, np.int64, np.uint8, bool])
def test_integer_and_bool_inputs(dtype, int_dtype):
    net, _, _ = random_net(23, dtype, widths=[3, 4, 2], acts=["tanh", "identity"])
    Xi = np.array([[0, 1, 2], [3, 0, 1], [1, 1, 0]]).astype(int_dtype)
    Yi = np.array([[1, 0], [0, 1], [1, 1]]).astype(int_dtype)
    assert np.array_equal(net.predict(Xi), net.predict(Xi.astype(dtype)))
    assert net.loss(Xi, Yi) == net.loss(Xi.astype(dtype), Yi.astype(dtype))
    for (a, b), (c, d) in zip(net.gradients(Xi, Yi), net.gradients(Xi.astype(dtype),
                                                                     Yi.astype(dtype))):
        assert np.array_equal(a, c) and np.array_equal(b, d)


def test_list_input(dtype):
    net, _, _ = random_net(24, dtype, widths=[2, 1], acts=["identity"])
    X = [[0.5, -1.0], [2.0, 0.25]]
    assert np.array_equal(net.predict(X), net.predict(np.array(X, dtype=dtype)))


def test_1d_targets_only_for_single_output(dtype):
    net1, _, _ = random_net(25, dtype, widths=[3, 1], acts=["sigmoid"])
    X, Y = batch(25, 5, 3, 1, dtype)
    assert net1.loss(X, Y.ravel()) == net1.loss(X, Y)
    for (a, b), (c, d) in zip(net1.gradients(X, Y.ravel()), net1.gradients(X, Y)):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    net2, _, _ = random_net(25, dtype, widths=[3, 2], acts=["sigmoid"])
    X2, Y2 = batch(25, 5, 3, 2, dtype)
    with pytest.raises(ValueError, match="Y"):
        net2.loss(X2, Y2[:, 0])
    with pytest.raises(ValueError, match="Y"):
        net2.gradients(X2, Y2[:, 0])
    with pytest.raises(ValueError, match="Y"):
        net2.train_step(X2, Y2[:, 0], 0.1)


# ---------------------------------------------------------------------------
# Parameters, repr, initialisation, seeding
# ---------------------------------------------------------------------------

def test_inplace_weight_write_changes_predictions(dtype):
    net, _, acts = random_net(30, dtype, widths=[3, 4, 2], acts=["tanh", "identity"])
    X, _ = batch(30, 5, 3, 2, dtype)
    before = net.predict(X)
    net.layers[0].W[1, 2] += 0.5
    net.layers[1].B[0] -= 1.0
    after = net.predict(X)
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, O.predict(params64(net), acts, X.astype(np.float64)),
                               rtol=tols(dtype)[0], atol=tols(dtype)[1])


def test_weight_assignment_changes_predictions(dtype):
    net, _, acts = random_net(31, dtype, widths=[3, 4, 2], acts=["relu", "sigmoid"])
    X, _ = batch(31, 5, 3, 2, dtype)
    W_obj = net.layers[0].W
    new = np.arange(12, dtype=np.float64).reshape(3, 4) / 10 - 0.5   # float64 into any net
    net.layers[0].W = new
    net.layers[1].B = [0.1, -0.2]
    assert net.layers[0].W is W_obj                                 # same buffer
    assert net.layers[0].W.dtype == dtype
    np.testing.assert_array_equal(net.layers[0].W, new.astype(dtype))
    expected = O.predict(params64(net), acts, X.astype(np.float64))
    np.testing.assert_allclose(net.predict(X), expected, rtol=tols(dtype)[0], atol=tols(dtype)[1])
    # training still updates the assigned values
    net.train_step(X, np.zeros((5, 2)), 0.1)
    assert not np.array_equal(net.layers[0].W, new.astype(dtype)) or \
        not np.array_equal(net.layers[1].B, np.array([0.1, -0.2], dtype=dtype))


def test_repr_mentions_widths_and_activation():
    d = ln.Dense(7, 3, activation="tanh")
    r = repr(d)
    assert "7" in r and "3" in r and "tanh" in r
    net = ln.Network([ln.Dense(5, 9, activation="relu"), ln.Dense(9, 2)], seed=0)
    r = repr(net)
    for token in ("5", "9", "2", "relu", "identity", "Dense"):
        assert token in r, token


def test_layer_attributes():
    net = ln.Network([ln.Dense(4, 6, activation="Sigmoid"), ln.Dense(6, 1, activation=None)],
                     seed=0, dtype=np.float64)
    assert net.n_in == 4 and net.n_out == 1
    assert net.dtype == np.float64
    assert net.loss_name == "mse"
    a, b = net.layers
    assert (a.n_in, a.n_out, a.activation) == (4, 6, "sigmoid")
    assert (b.n_in, b.n_out, b.activation) == (6, 1, "identity")
    assert a.W.shape == (4, 6) and a.B.shape == (6,)
    assert a.W.flags.c_contiguous and a.W.dtype == np.float64


@pytest.mark.parametrize("dt", DTYPES)
def test_he_init_for_relu(dt):
    net = ln.Network([ln.Dense(500, 500, activation="relu")], dtype=dt, seed=1)
    W = net.layers[0].W.astype(np.float64)
    expected = np.sqrt(2.0 / 500)
    assert abs(W.std() - expected) < 0.05 * expected
    assert abs(W.mean()) < 0.05 * expected
    assert np.all(net.layers[0].B == 0)


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh"])
def test_glorot_uniform_for_others(activation):
    n_in, n_out = 300, 200
    net = ln.Network([ln.Dense(n_in, n_out, activation=activation)], seed=2)
    W = net.layers[0].W.astype(np.float64)
    limit = np.sqrt(6.0 / (n_in + n_out))
    assert np.all(np.abs(W) <= limit * (1 + 1e-6))
    assert W.max() > 0.99 * limit and W.min() < -0.99 * limit
    assert abs(W.std() - limit / np.sqrt(3)) < 0.05 * limit / np.sqrt(3)
    assert np.all(net.layers[0].B == 0)


def _arch():
    return [ln.Dense(6, 8, activation="relu"), ln.Dense(8, 4, activation="tanh"),
            ln.Dense(4, 1, activation="sigmoid")]


@pytest.mark.parametrize("dt", DTYPES)
def test_seed_reproducibility(dt):
    a = ln.Network(_arch(), dtype=dt, seed=123)
    b = ln.Network(_arch(), dtype=dt, seed=123)
    c = ln.Network(_arch(), dtype=dt, seed=124)
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.W, lb.W) and np.array_equal(la.B, lb.B)
    assert any(not np.array_equal(la.W, lc.W) for la, lc in zip(a.layers, c.layers))
    X = np.random.default_rng(0).uniform(-1, 1, (10, 6)).astype(dt)
    assert np.array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.predict(X), c.predict(X))


def _xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return X, Y


@pytest.mark.parametrize("dt", DTYPES)
def test_xor_train_step_loop(dt):
    X, Y = _xor()
    net = ln.Network([ln.Dense(2, 8, activation="sigmoid"), ln.Dense(8, 1, activation="sigmoid")],
                     dtype=dt, seed=0)
    first = net.train_step(X, Y, 2.0)
    for _ in range(8000):
        last = net.train_step(X, Y, 2.0)
        if last < 1e-3:
            break
    final = net.loss(X, Y)
    assert final < 0.01 < first
    assert np.array_equal(np.round(net.predict(X)), Y.astype(dt))


def test_xor_fit():
    X, Y = _xor()
    net = ln.Network([ln.Dense(2, 8, activation="sigmoid"), ln.Dense(8, 1, activation="sigmoid")],
                     dtype=np.float64, seed=0)
    hist = net.fit(X, Y, epochs=3000, batch_size=4, lr=2.0)
    assert net.loss(X, Y) < 0.01
    assert hist.history["loss"][-1] < hist.history["loss"][0]


@pytest.mark.parametrize("dt", DTYPES)
def test_fit_reproducible(dt):
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, (50, 6))
    Y = rng.uniform(0, 1, (50, 1))
    nets = []
    for _ in range(2):
        net = ln.Network(_arch(), dtype=dt, seed=9)
        net.fit(X, Y, epochs=5, batch_size=8, lr=0.1, seed=3)
        nets.append(net)
    a, b = nets
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.W, lb.W) and np.array_equal(la.B, lb.B)
    fresh = ln.Network(_arch(), dtype=dt, seed=9)
    assert not np.array_equal(fresh.layers[0].W, a.layers[0].W)   # training did something
