"""Inputs and call patterns that used to crash, misread or raise undocumented
errors: huge sizes and integers, foreign byte orders, steps whose update
overflows, non-finite data, bad callback patterns, and what a failed save
leaves behind."""
import io
import os

import numpy as np
import pytest

import layernet as ln

DTYPES = [np.float32, np.float64]


def make_net(dtype=np.float32, loss="mse", n_out=2, seed=0):
    return ln.Network([ln.Dense(4, 8, "relu"), ln.Dense(8, n_out)], dtype=dtype, seed=seed,
                      loss=loss)


def data(n=10, n_out=2, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(dtype), rng.standard_normal((n, n_out)).astype(dtype)


def state(net):
    opt = net.optimizer
    return (net.get_weights(), None if opt is None else (opt.step, [
        [t.copy() for t in tensors] for tensors in (opt.state or [])]), net.loss_name,
        dict(net.metadata), net.epochs_trained)


def assert_same_state(a, b):
    for x, y in zip(a[0], b[0]):
        np.testing.assert_array_equal(x, y)
    assert (a[1] is None) == (b[1] is None)
    if a[1] is not None:
        assert a[1][0] == b[1][0]
        for ta, tb in zip(a[1][1], b[1][1]):
            for x, y in zip(ta, tb):
                np.testing.assert_array_equal(x, y)
    assert a[2:] == b[2:]


# ---------------------------------------------------------------------------
# Sizes and integers of any magnitude
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [2**31, 2**62, 2**63 - 1, 2**64, 10**400])
def test_huge_batch_size_is_the_whole_data_set(batch_size):
    X, Y = data()
    a, b = make_net(), make_net()
    a.fit(X, Y, epochs=2, batch_size=batch_size, lr=0.1, shuffle=False)
    b.fit(X, Y, epochs=2, batch_size=10, lr=0.1, shuffle=False)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("call", [
    lambda net, X, Y: net.train_step(X, Y, lr=10**400),
    lambda net, X, Y: ln.SGD(10**400),
    lambda net, X, Y: ln.SGD(0.1, momentum=2**63 - 1),
    lambda net, X, Y: ln.Adam(beta1=10**400),
    lambda net, X, Y: ln.Adam(eps=-(10**400)),
    lambda net, X, Y: ln.EarlyStopping(min_delta=10**400),
    lambda net, X, Y: ln.EarlyStopping(patience=-(2**64)),
    lambda net, X, Y: net.fit(X, Y, validation_split=10**400),
    lambda net, X, Y: net.fit(X, Y, epochs=-(2**64)),
    lambda net, X, Y: net.fit(X, Y, seed=2**64),
    lambda net, X, Y: net.fit(X, Y, seed=10**400),
    lambda net, X, Y: net.fit(X, Y, verbose=10**400),
    lambda net, X, Y: ln.Dense(10**400, 2),
    lambda net, X, Y: ln.Dropout(10**400),
], ids=lambda f: "")
def test_huge_integers_get_a_clear_error(call):
    net = make_net()
    X, Y = data()
    before = state(net)
    with pytest.raises(ValueError) as exc:
        call(net, X, Y)
    assert "expected" in str(exc.value)
    assert len(str(exc.value)) < 300          # a 400-digit number is shortened, not printed
    assert_same_state(before, state(net))


def test_ridiculous_layer_width_is_a_memory_error_not_a_crash():
    with pytest.raises(MemoryError):
        ln.Network([ln.Dense(2**31 - 1, 2**31 - 1)])


# ---------------------------------------------------------------------------
# Byte order and layout: converted, never misread
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_big_endian_inputs_equal_native(dtype):
    X, Y = data(dtype=dtype)
    w = np.linspace(0.5, 2.0, 10).astype(dtype)
    be = np.dtype(dtype).newbyteorder(">")
    Xb, Yb, wb = X.astype(be), Y.astype(be), w.astype(be)
    net = make_net(dtype)
    np.testing.assert_array_equal(net.predict(Xb), net.predict(X))
    assert net.loss(Xb, Yb, sample_weight=wb) == net.loss(X, Y, sample_weight=w)
    assert net.evaluate(Xb, Yb) == net.evaluate(X, Y)
    for (a, b), (c, d) in zip(net.gradients(Xb, Yb), net.gradients(X, Y)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    twin = make_net(dtype)
    assert net.train_step(Xb, Yb, 0.1) == twin.train_step(X, Y, 0.1)
    for a, b in zip(net.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_big_endian_classification():
    X, _ = data(dtype=np.float64)
    y = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 0])
    net = make_net(np.float64, loss="cross_entropy", n_out=3)
    np.testing.assert_array_equal(net.predict_proba(X.astype(">f8")), net.predict_proba(X))
    onehot = np.eye(3)[y]
    assert net.loss(X.astype(">f8"), onehot.astype(">f8")) == net.loss(X, y)


def test_misaligned_and_strided_inputs_equal_native():
    X, _ = data(dtype=np.float64)
    raw = np.zeros(X.nbytes + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, dtype=np.float64, count=X.size, offset=1).reshape(X.shape)
    unaligned[...] = X
    assert not unaligned.flags.aligned
    net = make_net(np.float64)
    np.testing.assert_array_equal(net.predict(unaligned), net.predict(X))
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X)), net.predict(X))
    np.testing.assert_array_equal(net.predict(X[::-1])[::-1], net.predict(X))


def test_float64_values_beyond_float32_are_refused():
    X, _ = data()
    X = X.astype(np.float64)
    X[3, 2] = 1e39
    with pytest.raises(ValueError, match=r"X: the value 1e\+39 at \(3, 2\) is beyond the range of float32"):
        make_net().predict(X)


# ---------------------------------------------------------------------------
# Numeric failures never pass silently and never change the network
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_update_that_overflows_raises_and_changes_nothing(dtype):
    net = make_net(dtype)
    X, Y = data(dtype=dtype)
    before = state(net)
    lr = 1e38 if dtype == np.float32 else 1e307
    with pytest.raises(FloatingPointError):
        net.train_step(X * 1e3, Y, lr)
    assert_same_state(before, state(net))
    assert np.isfinite(net.train_step(X, Y, 0.01))     # and the network still trains


def test_adam_second_moment_overflow_leaves_state_exactly():
    net = make_net(np.float32)
    X, Y = data()
    net.fit(X, Y, epochs=1, batch_size=5, optimizer=ln.Adam(1e-3))
    before = state(net)
    # gradients around 1e21: g^2 overflows float32 in the second moment
    with pytest.raises(FloatingPointError, match="epoch 1 of 1 in this call"):
        net.fit(X * 1e19, Y * 1e21, epochs=1, batch_size=10, shuffle=False)
    after = state(net)
    assert_same_state(before, after)
    assert net.optimizer.step == before[1][0]


def test_divergence_message_counts_epochs_within_the_call():
    net = make_net(np.float32)
    X, Y = data()
    net.fit(X, Y, epochs=3, lr=1e-3)
    with pytest.raises(FloatingPointError, match="at epoch 1 of 2 in this call, batch 1"):
        net.fit(X, Y * 1e30, epochs=2, batch_size=10, lr=1e30)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_names_the_first_nonfinite_cell(dtype):
    X, _ = data(dtype=dtype)
    X[4, 1] = np.nan
    X[6, 0] = np.inf
    net = make_net(dtype)
    with pytest.raises(ValueError, match=r"X: row 4, column 1 is nan.*check_finite=False"):
        net.predict(X)
    out = net.predict(X, check_finite=False)
    assert np.isnan(out[4]).all() and np.isfinite(np.delete(out, [4, 6], axis=0)).all()


def test_cross_entropy_needs_two_outputs_and_valid_targets():
    with pytest.raises(ValueError, match="binary_cross_entropy"):
        make_net(loss="cross_entropy", n_out=1)
    net = make_net(np.float64, loss="cross_entropy", n_out=3)
    X, _ = data(dtype=np.float64, n=3)
    with pytest.raises(ValueError, match="sums to"):
        net.loss(X, np.array([[1.0, 0, 0], [0.5, 0.6, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match="negative"):
        net.loss(X, np.array([[1.5, -0.5, 0], [0, 1, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match=r"labels in \[0, 2\]"):
        net.loss(X, np.array([0, 3, 1]))
    with pytest.raises(ValueError, match="integer class labels"):
        net.loss(X, np.array([0, 1.5, 1]))
    assert net.loss(X, np.array([[0.2, 0.3, 0.5], [0, 1, 0], [0, 0, 1]])) > 0


# ---------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", ["ck_{foo}.npz", "ck_{0}.npz", "ck_{epoch.real}{", "ck_}.npz"])
def test_checkpoint_pattern_checked_in_the_constructor(pattern):
    with pytest.raises(ValueError, match="epoch"):
        ln.ModelCheckpoint(pattern)


def test_checkpoint_pattern_with_epoch_and_escaped_braces(tmp_path):
    X, Y = data()
    cb = ln.ModelCheckpoint(str(tmp_path / "ck_{{run}}_{epoch}.npz"))
    make_net().fit(X, Y, epochs=2, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["ck_{run}_1.npz", "ck_{run}_2.npz"]


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------

def test_failed_save_leaves_the_network_as_it_was(tmp_path):
    net = make_net()
    net.metadata = {"kept": 1}
    with pytest.raises(TypeError, match=r"metadata\['m'\]"):
        net.save(tmp_path / "m.npz", metadata={"m": np.arange(3)})
    assert net.metadata == {"kept": 1}
    net.save(tmp_path / "m.npz")                   # later saves still work
    assert ln.load(tmp_path / "m.npz").metadata == {"kept": 1}


def test_save_and_load_through_file_objects():
    net = make_net(np.float64)
    buffer = io.BytesIO()
    net.save(buffer, metadata={"via": "BytesIO"})
    loaded = ln.load(io.BytesIO(buffer.getvalue()))
    X, _ = data(dtype=np.float64)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.metadata == {"via": "BytesIO"}
    assert ln.load(buffer.getvalue()).metadata == {"via": "BytesIO"}


def test_save_refuses_what_is_not_a_path_or_file():
    with pytest.raises(TypeError, match="file name or a writable binary file object"):
        make_net().save(42)


def test_save_errors_name_the_users_path(tmp_path):
    target = tmp_path / "missing_dir" / "m.npz"
    with pytest.raises(OSError) as exc:
        make_net().save(target)
    assert str(target) in str(exc.value) and "tmp" not in os.path.basename(str(exc.value))


def test_train_step_validates_classification_targets_even_when_they_conform():
    """A float (n, n_out) array conforms to the engine, but a cross-entropy or
    binary cross-entropy target must still be checked, never trained on as is."""
    X, _ = data(n=3, dtype=np.float32)
    ce = make_net(loss="cross_entropy", n_out=3)
    before = ce.get_weights()
    with pytest.raises(ValueError, match="sums to"):
        ce.train_step(X, np.array([[0.5, 0.6, 0], [0, 1, 0], [0, 0, 1]], np.float32), 0.1)
    bce = make_net(loss="binary_cross_entropy", n_out=2)
    with pytest.raises(ValueError, match=r"expected targets in \[0, 1\]"):
        bce.train_step(X, np.full((3, 2), 2.0, np.float32), 0.1)
    for a, b in zip(before, ce.get_weights()):
        np.testing.assert_array_equal(a, b)
