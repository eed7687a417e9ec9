"""Bad inputs raise the right exception type with a message that names the
problem; a non-finite step raises FloatingPointError and changes nothing."""
import re

import numpy as np
import pytest

import layernet as ln

DTYPES = [np.float32, np.float64]


def make_net(dtype=np.float32, n_in=4, hidden=5, n_out=2):
    return ln.Network([ln.Dense(n_in, hidden, activation="tanh"), ln.Dense(hidden, n_out)],
                      dtype=dtype, seed=0)


def data(n=6, n_in=4, n_out=2, dtype=np.float32):
    rng = np.random.default_rng(0)
    return (rng.uniform(-1, 1, (n, n_in)).astype(dtype),
            rng.uniform(-1, 1, (n, n_out)).astype(dtype))


def snapshot(net):
    return [(l.W.copy(), l.B.copy()) for l in net.layers]


def assert_unchanged(net, snap):
    for layer, (W, B) in zip(net.layers, snap):
        assert np.array_equal(layer.W, W), "W changed"
        assert np.array_equal(layer.B, B), "B changed"


# Each entry point that takes X (and Y), as callables (net, X, Y) -> anything.
ENTRY_XY = {
    "loss": lambda net, X, Y: net.loss(X, Y),
    "gradients": lambda net, X, Y: net.gradients(X, Y),
    "train_step": lambda net, X, Y: net.train_step(X, Y, 0.1),
    "fit": lambda net, X, Y: net.fit(X, Y, epochs=1, batch_size=4, lr=0.1),
    "evaluate": lambda net, X, Y: net.evaluate(X, Y),
}
ENTRY_X = dict(ENTRY_XY, predict=lambda net, X, Y: net.predict(X))


# ---------------------------------------------------------------------------
# X
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("entry", sorted(ENTRY_X))
@pytest.mark.parametrize("dtype", DTYPES)
def test_x_wrong_feature_count(entry, dtype):
    net = make_net(dtype)
    X, Y = data(dtype=dtype)
    snap = snapshot(net)
    with pytest.raises(ValueError, match=r"X.*4.*3") as info:
        ENTRY_X[entry](net, X[:, :3], Y)
    assert "features" in str(info.value) or "columns" in str(info.value)
    with pytest.raises(ValueError, match=r"X.*4.*5"):
        ENTRY_X[entry](net, np.zeros((6, 5), dtype), Y)
    assert_unchanged(net, snap)


@pytest.mark.parametrize("entry", sorted(ENTRY_X))
def test_x_one_dimensional(entry):
    net = make_net()
    _, Y = data()
    with pytest.raises(ValueError, match=r"X.*2-D.*1-D"):
        ENTRY_X[entry](net, np.zeros(4, np.float32), Y[:1])


@pytest.mark.parametrize("entry", sorted(ENTRY_X))
def test_x_three_dimensional(entry):
    net = make_net()
    _, Y = data()
    with pytest.raises(ValueError, match=r"X.*2-D.*3-D"):
        ENTRY_X[entry](net, np.zeros((6, 4, 1), np.float32), Y)


@pytest.mark.parametrize("entry", sorted(ENTRY_X))
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(entry, dtype):
    net = make_net(dtype)
    snap = snapshot(net)
    with pytest.raises(ValueError, match="empty"):
        ENTRY_X[entry](net, np.zeros((0, 4), dtype), np.zeros((0, 2), dtype))
    assert_unchanged(net, snap)


@pytest.mark.parametrize("entry", sorted(ENTRY_X))
@pytest.mark.parametrize("bad", [
    np.array([["a", "b", "c", "d"]]),
    np.array([[1.0, 2.0, 3.0, 4.0]], dtype=object),
    np.array([[1 + 2j, 0, 0, 0]]),
], ids=["str", "object", "complex"])
def test_x_non_numeric_is_type_error(entry, bad):
    net = make_net()
    with pytest.raises(TypeError, match="X"):
        ENTRY_X[entry](net, bad, np.zeros((1, 2), np.float32))


# ---------------------------------------------------------------------------
# Y
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("entry", sorted(ENTRY_XY))
@pytest.mark.parametrize("dtype", DTYPES)
def test_y_wrong_rows(entry, dtype):
    net = make_net(dtype)
    X, Y = data(dtype=dtype)
    snap = snapshot(net)
    with pytest.raises(ValueError, match=r"Y.*6.*5"):
        ENTRY_XY[entry](net, X, Y[:5])
    assert_unchanged(net, snap)


@pytest.mark.parametrize("entry", sorted(ENTRY_XY))
@pytest.mark.parametrize("dtype", DTYPES)
def test_y_wrong_columns(entry, dtype):
    net = make_net(dtype)
    X, _ = data(dtype=dtype)
    snap = snapshot(net)
    with pytest.raises(ValueError, match=r"Y.*2.*3"):
        ENTRY_XY[entry](net, X, np.zeros((6, 3), dtype))
    assert_unchanged(net, snap)


@pytest.mark.parametrize("entry", sorted(ENTRY_XY))
def test_y_non_numeric_is_type_error(entry):
    net = make_net()
    X, _ = data(n=1)
    for bad in (np.array([["a", "b"]]), np.array([[1.0, 2.0]], dtype=object)):
        with pytest.raises(TypeError, match="Y"):
            ENTRY_XY[entry](net, X, bad)


# ---------------------------------------------------------------------------
# Network and Dense construction
# ---------------------------------------------------------------------------

def test_layer_chain_mismatch():
    with pytest.raises(ValueError, match=r"layers\[1\].*5.*4") as info:
        ln.Network([ln.Dense(3, 5), ln.Dense(4, 2)])
    assert "n_in" in str(info.value)
    with pytest.raises(ValueError, match=re.escape("layers[2]")):
        ln.Network([ln.Dense(3, 5), ln.Dense(5, 2), ln.Dense(3, 1)])


@pytest.mark.parametrize("name", ["softmax", "ReLU6", "", "swish"])
def test_unknown_activation(name):
    with pytest.raises(ValueError, match=r"activation.*" + re.escape(repr(name))):
        ln.Dense(3, 2, activation=name)


def test_empty_network():
    with pytest.raises(ValueError, match="layers"):
        ln.Network([])


def test_non_dense_layer():
    with pytest.raises(TypeError, match=r"layers\[1\]"):
        ln.Network([ln.Dense(2, 2), "dense"])


@pytest.mark.parametrize("bad", [np.int32, np.int64, np.float16, "complex128"])
def test_bad_network_dtype(bad):
    with pytest.raises(TypeError, match="dtype"):
        ln.Network([ln.Dense(2, 1)], dtype=bad)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match=r"loss.*'hinge'"):
        ln.Network([ln.Dense(2, 1)], loss="hinge")


@pytest.mark.parametrize("n_in,n_out", [(0, 1), (1, 0), (-2, 3), (2.5, 1)])
def test_bad_dense_sizes(n_in, n_out):
    # a non-integer width is a TypeError, an integer out of range a ValueError
    error = TypeError if isinstance(n_in, float) else ValueError
    with pytest.raises(error, match="n_in" if n_in != 1 else "n_out"):
        ln.Dense(n_in, n_out)


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 4), (4,), (4, 5, 1), (3, 5)], ids=str)
def test_assign_wrong_shaped_w(shape):
    net = make_net()
    snap = snapshot(net)
    with pytest.raises(ValueError, match=r"W.*\(4, 5\)"):
        net.layers[0].W = np.zeros(shape)
    assert_unchanged(net, snap)


def test_assign_wrong_shaped_b():
    net = make_net()
    snap = snapshot(net)
    with pytest.raises(ValueError, match=r"B.*\(5,\)"):
        net.layers[0].B = np.zeros(4)
    assert_unchanged(net, snap)


def test_assign_non_numeric_w():
    net = make_net()
    with pytest.raises(TypeError, match="W"):
        net.layers[0].W = np.full((4, 5), "x")


# ---------------------------------------------------------------------------
# Learning rate
# ---------------------------------------------------------------------------

BAD_LRS = [-0.1, -1, float("nan"), float("inf"), -float("inf"), np.float32(np.nan),
           np.float64(-1e-3)]


@pytest.mark.parametrize("lr", BAD_LRS, ids=repr)
def test_bad_lr_train_step(lr):
    net = make_net()
    X, Y = data()
    snap = snapshot(net)
    with pytest.raises(ValueError, match="lr"):
        net.train_step(X, Y, lr)
    assert_unchanged(net, snap)


@pytest.mark.parametrize("lr", BAD_LRS, ids=repr)
def test_bad_lr_fit(lr):
    net = make_net()
    X, Y = data()
    snap = snapshot(net)
    with pytest.raises(ValueError, match="lr"):
        net.fit(X, Y, epochs=1, lr=lr)
    assert_unchanged(net, snap)


@pytest.mark.parametrize("lr", ["fast", None, [0.1]], ids=repr)
def test_non_numeric_lr_train_step(lr):
    net = make_net()
    X, Y = data()
    with pytest.raises(TypeError, match="lr"):
        net.train_step(X, Y, lr)


# ---------------------------------------------------------------------------
# Non-finite steps
# ---------------------------------------------------------------------------

def _poison(kind, X, Y):
    X, Y = X.copy(), Y.copy()
    if kind == "nan_Y":
        Y[2, 1] = np.nan
    elif kind == "inf_X":
        X[1, 0] = np.inf
    elif kind == "nan_X":
        X[3, 3] = np.nan
    elif kind == "-inf_Y":
        Y[0, 0] = -np.inf
    return X, Y


POISONS = ["nan_Y", "inf_X", "nan_X", "-inf_Y"]
# where _poison puts each bad value: (array, row, column)
POISON_AT = {"nan_Y": ("Y", 2, 1), "inf_X": ("X", 1, 0), "nan_X": ("X", 3, 3), "-inf_Y": ("Y", 0, 0)}


@pytest.mark.parametrize("kind", POISONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nonfinite_train_step_data_is_named_and_leaves_params(dtype, kind):
    net = make_net(dtype)
    X, Y = _poison(kind, *data(dtype=dtype))
    snap = snapshot(net)
    name, r, c = POISON_AT[kind]
    with pytest.raises(ValueError, match=rf"{name}: row {r}, column {c} is .*finite"):
        net.train_step(X, Y, 0.1)
    assert_unchanged(net, snap)
    # and the network still works afterwards
    Xc, Yc = data(dtype=dtype)
    assert np.isfinite(net.train_step(Xc, Yc, 0.1))


@pytest.mark.parametrize("kind", POISONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nonfinite_inputs_to_gradients_are_named(dtype, kind):
    # inf or nan in the data is found before any work, named by row and column
    net = make_net(dtype)
    X, Y = _poison(kind, *data(dtype=dtype))
    snap = snapshot(net)
    name, r, c = POISON_AT[kind]
    with pytest.raises(ValueError, match=rf"{name}: row {r}, column {c} is .*finite"):
        net.gradients(X, Y)
    assert_unchanged(net, snap)


@pytest.mark.parametrize("kind", POISONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nonfinite_fit_data_is_refused_up_front(dtype, kind):
    net = make_net(dtype)
    X, Y = _poison(kind, *data(dtype=dtype))
    snap = snapshot(net)
    name, r, c = POISON_AT[kind]
    with pytest.raises(ValueError, match=rf"{name}: row {r}, column {c} is .*finite"):
        net.fit(X, Y, epochs=1, batch_size=6, lr=0.1, shuffle=False)
    assert_unchanged(net, snap)
    assert net.optimizer is None and net.epochs_trained == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_overflow_to_nonfinite_step_leaves_params(dtype):
    """Finite inputs whose loss overflows (huge targets) are also refused."""
    net = make_net(dtype)
    X, _ = data(dtype=dtype)
    Y = np.full((6, 2), np.finfo(dtype).max, dtype=dtype)
    snap = snapshot(net)
    with pytest.raises(FloatingPointError):
        net.train_step(X, Y, 0.1)
    assert_unchanged(net, snap)
