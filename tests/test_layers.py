"""The Layer protocol and its kinds: Dense and Dropout (against the numpy
oracle, including the dropout mask reimplemented there), the fixed structure
of a Network, summary(), get/set_weights, and copies and pickles."""
import copy
import io
import os
import pickle
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle as O  # noqa: E402

import layernet as ln  # noqa: E402

DTYPES = [np.float32, np.float64]


def tols(dtype):
    return (2e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-13)


def dropout_net(dtype, rate=0.4, seed=11, act="tanh"):
    return ln.Network([ln.Dense(6, 9, act), ln.Dropout(rate), ln.Dense(9, 2)], dtype=dtype, seed=seed)


def oracle_layers(net, keep=None):
    """The network as oracle layers; keep: the dropout mask (None: inference)."""
    out = []
    for layer in net.layers:
        if isinstance(layer, ln.Dense):
            out.append({"kind": "dense", "W": layer.W, "B": layer.B, "act": layer.activation})
        else:
            out.append({"kind": "dropout", "rate": layer.rate, "keep": keep})
    return out


# ---------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_is_identity_outside_training(dtype):
    net = dropout_net(dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 6)).astype(dtype)
    Y = rng.standard_normal((5, 2)).astype(dtype)
    rtol, atol = tols(dtype)
    trace = O.forward_layers(oracle_layers(net), X)
    np.testing.assert_allclose(net.predict(X), trace[-1][2], rtol=rtol, atol=atol)
    L, grads = O.backward_layers(oracle_layers(net), X, Y)
    assert net.loss(X, Y) == pytest.approx(L, rel=rtol * 10)
    got = net.gradients(X, Y)
    assert len(got) == 2        # one (dW, dB) per layer with parameters; Dropout has none
    for (dW, dB), (eW, eB) in zip(got, grads):
        np.testing.assert_allclose(dW, eW, rtol=rtol * 10, atol=atol * 10)
        np.testing.assert_allclose(dB, eB, rtol=rtol * 10, atol=atol * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.0, 0.25, 0.6])
def test_dropout_train_step_matches_oracle_mask(dtype, rate):
    net = dropout_net(dtype, rate=rate, seed=5)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 6)).astype(dtype)
    Y = rng.standard_normal((7, 2)).astype(dtype)
    keep = O.dropout_keep(seed=5, node=1, step=1, n_rows=7, n_cols=9, rate=rate)
    layers = oracle_layers(net, keep)
    L, grads = O.backward_layers(layers, X, Y)
    before = net.get_weights()
    loss = net.train_step(X, Y, 0.1)
    rtol, atol = tols(dtype)
    assert loss == pytest.approx(L, rel=rtol * 10)
    expected = [before[0] - 0.1 * grads[0][0], before[1] - 0.1 * grads[0][1],
                before[2] - 0.1 * grads[1][0], before[3] - 0.1 * grads[1][1]]
    for got, want in zip(net.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=rtol * 10, atol=atol * 10)
    # the next step draws a new mask
    assert not np.array_equal(keep, O.dropout_keep(5, 1, 2, 7, 9, rate)) or rate == 0.0


def test_dropout_mask_keeps_about_one_minus_rate():
    keep = O.dropout_keep(seed=3, node=2, step=9, n_rows=400, n_cols=250, rate=0.3)
    assert keep.mean() == pytest.approx(0.7, abs=0.005)
    # columns and rows are not correlated
    assert np.abs(keep.mean(axis=0) - 0.7).max() < 0.12
    assert np.abs(keep.mean(axis=1) - 0.7).max() < 0.12


@pytest.mark.parametrize("dtype", DTYPES)
def test_seeded_fit_with_dropout_is_reproducible_bit_for_bit(dtype):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 6)).astype(dtype)
    Y = rng.standard_normal((60, 2)).astype(dtype)
    runs = []
    for _ in range(2):
        net = dropout_net(dtype, seed=3)
        h = net.fit(X, Y, epochs=3, batch_size=8, optimizer=ln.Adam(1e-2), seed=17)
        runs.append((net.get_weights(), h["loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]
    other = dropout_net(dtype, seed=3)
    other.fit(X, Y, epochs=3, batch_size=8, optimizer=ln.Adam(1e-2), seed=18)
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0][0], other.get_weights()))


def test_dropout_rejects_bad_rates_and_first_position():
    for rate in (-0.1, 1.0, 2, float("nan")):
        with pytest.raises(ValueError, match="rate"):
            ln.Dropout(rate)
    with pytest.raises(TypeError, match="rate"):
        ln.Dropout("half")
    with pytest.raises(ValueError, match="cannot come first"):
        ln.Network([ln.Dropout(0.5), ln.Dense(3, 1)])


def test_dropout_round_trips_through_the_model_file(tmp_path):
    net = dropout_net(np.float64, rate=0.35)
    path = tmp_path / "d.npz"
    net.save(path)
    loaded = ln.load(path)
    assert isinstance(loaded.layers[1], ln.Dropout) and loaded.layers[1].rate == 0.35
    X = np.random.default_rng(0).standard_normal((4, 6))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


# ---------------------------------------------------------------------------
# A network's structure is fixed
# ---------------------------------------------------------------------------

def test_layers_cannot_change_behind_the_engine():
    net = ln.Network([ln.Dense(3, 4, "relu"), ln.Dense(4, 2)])
    assert isinstance(net.layers, tuple)
    with pytest.raises(AttributeError):
        net.layers.append(ln.Dense(2, 2))
    with pytest.raises(TypeError):
        net.layers[0] = ln.Dense(3, 4)
    with pytest.raises(AttributeError):
        net.layers = [ln.Dense(3, 2)]
    X = np.ones((5, 3), np.float32)
    net.fit(X, np.ones((5, 2)), epochs=1)        # still trains, as built
    assert net.predict(X).shape == (5, 2)


def test_a_layer_joins_one_network_only():
    dense = ln.Dense(3, 2)
    ln.Network([dense])
    with pytest.raises(ValueError, match="already belongs"):
        ln.Network([dense])
    d = ln.Dense(2, 2)
    with pytest.raises(ValueError, match="twice"):
        ln.Network([d, d])


def test_layer_protocol():
    net = ln.Network([ln.Dense(3, 5, "silu"), ln.Dropout(0.1), ln.Dense(5, 2)], seed=0)
    dense, drop, out = net.layers
    assert isinstance(dense, ln.Layer) and isinstance(drop, ln.Layer)
    assert dense.param_shapes() == {"W": (3, 5), "B": (5,)} and drop.param_shapes() == {}
    assert dense.n_params == 20 and drop.n_params == 0 and net.n_params == 20 + 12
    assert (drop.n_in, drop.n_out) == (5, 5)
    assert dense.spec() == {"kind": "dense", "n_in": 3, "n_out": 5, "activation": "silu"}
    assert drop.spec() == {"kind": "dropout", "rate": 0.1}
    assert ln.Dense.from_spec(dense.spec()).activation == "silu"
    params = dense.parameters()
    assert set(params) == {"W", "B"} and np.shares_memory(params["W"], dense.W)
    assert repr(drop) == "Dropout(rate=0.1, width=5)"
    assert "silu" in repr(dense) and "float32" in repr(dense)


def test_every_activation_builds_and_trains():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((32, 4))
    Y = rng.standard_normal((32, 1))
    for name in ln.ACTIVATIONS:
        net = ln.Network([ln.Dense(4, 8, name), ln.Dense(8, 1)], dtype=np.float64, seed=1)
        before = net.loss(X, Y)
        net.fit(X, Y, epochs=20, batch_size=8, optimizer=ln.Adam(1e-2))
        assert net.loss(X, Y) < before, name


def test_summary_table():
    net = ln.Network([ln.Dense(4, 16, "relu"), ln.Dropout(0.5), ln.Dense(16, 3)], loss="cross_entropy")
    out = io.StringIO()
    net.summary(file=out)
    text = out.getvalue()
    lines = text.splitlines()
    assert "Dense" in lines[3] and "(batch, 16)" in lines[3] and "relu" in lines[3] and "80" in lines[3]
    assert "Dropout" in lines[4] and "rate 0.5" in lines[4]
    assert "(batch, 3)" in lines[5] and "51" in lines[5]
    assert lines[-1].startswith("Total params: 131") and "cross_entropy" in lines[-1]


def test_get_and_set_weights():
    net = ln.Network([ln.Dense(3, 4, "relu"), ln.Dropout(0.2), ln.Dense(4, 2)], dtype=np.float64)
    weights = net.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 2), (2,)]
    assert not np.shares_memory(weights[0], net.layers[0].W)
    new = [np.full(w.shape, i + 0.5) for i, w in enumerate(weights)]
    net.set_weights(new)
    np.testing.assert_array_equal(net.layers[2].W, 2.5)
    with pytest.raises(ValueError, match="4 arrays"):
        net.set_weights(new[:3])
    with pytest.raises(ValueError, match=r"weights\[1\]: expected shape"):
        net.set_weights([new[0], np.zeros(5), new[2], new[3]])
    with pytest.raises(ValueError, match=r"weights\[3\].*finite"):
        net.set_weights(new[:3] + [np.array([1.0, np.nan])])
    np.testing.assert_array_equal(net.layers[2].W, 2.5)   # a refused call changes nothing


# ---------------------------------------------------------------------------
# Copies and pickles go through the model format
# ---------------------------------------------------------------------------

def trained_net():
    net = ln.Network([ln.Dense(3, 5, "gelu"), ln.Dropout(0.2), ln.Dense(5, 2)], dtype=np.float64,
                     seed=2)
    rng = np.random.default_rng(0)
    net.fit(rng.standard_normal((20, 3)), rng.standard_normal((20, 2)), epochs=2,
            optimizer=ln.Adam(1e-2))
    net.metadata = {"who": "test"}
    return net


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy,
                                       lambda n: pickle.loads(pickle.dumps(n))],
                         ids=["copy", "deepcopy", "pickle"])
def test_copies_are_independent_and_equal(make_copy):
    net = trained_net()
    twin = make_copy(net)
    X = np.random.default_rng(1).standard_normal((4, 3))
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))
    assert twin.metadata == net.metadata and twin.epochs_trained == net.epochs_trained
    assert type(twin.optimizer) is ln.Adam and twin.optimizer.step == net.optimizer.step
    before = net.get_weights()
    twin.fit(X, np.zeros((4, 2)), epochs=3)
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)          # training the copy left the original alone
    assert not np.shares_memory(twin.layers[0].W, net.layers[0].W)


def test_pickle_payload_is_the_model_file():
    net = trained_net()
    func, args, state = net.__reduce__()
    assert func is ln.model_file.from_bytes
    assert args[0][:4] == b"PK\x03\x04"
    assert set(state) == {"dropout_seed", "sgd_steps"}
    np.testing.assert_array_equal(ln.load(args[0]).layers[0].W, net.layers[0].W)
