"""Network.fit (issue 4): batching, History, validation, callbacks, early stopping,
checkpoints, resuming, Ctrl-C and verbosity.

The numeric oracle is a small numpy forward/backward pass written here (float64).
Callback-based checks record copies of the weights at every epoch end and compare
bit for bit where the library promises identical results.
"""

import math
import os
import warnings

import numpy as np
import pytest

import layernet as ln

DTYPES = [np.float32, np.float64]


def tols(dtype):
    return (1e-4, 1e-5) if np.dtype(dtype) == np.float32 else (1e-10, 1e-12)


# ---------------------------------------------------------------------------
# numpy oracle: forward, loss and backward of a Dense stack
# ---------------------------------------------------------------------------

_ACT = {
    "identity": lambda z: z,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}
_DACT = {  # derivative from the output H
    "identity": lambda h: np.ones_like(h),
    "tanh": lambda h: 1.0 - h * h,
    "relu": lambda h: (h > 0).astype(h.dtype),
    "sigmoid": lambda h: h * (1.0 - h),
}


def np_loss_and_grads(params, acts, X, Y, loss="mse"):
    """(loss, [(dW, dB), ...]) in float64 for targets Y of shape (N, n_out)."""
    Hs = [np.asarray(X, dtype=np.float64)]
    for (W, B), a in zip(params, acts):
        Hs.append(_ACT[a](Hs[-1] @ W + B))
    H = Hs[-1]
    Y = np.asarray(Y, dtype=np.float64)
    n, m = H.shape
    if loss == "mse":
        value = float(np.mean((H - Y) ** 2))
        dH = 2.0 * (H - Y) / (n * m)
    else:
        zmax = H.max(axis=1, keepdims=True)
        logp = H - zmax - np.log(np.exp(H - zmax).sum(axis=1, keepdims=True))
        value = float(-(Y * logp).sum() / n)
        dH = (np.exp(logp) * Y.sum(axis=1, keepdims=True) - Y) / n
    grads = []
    for li in range(len(params) - 1, -1, -1):
        A = dH * _DACT[acts[li]](Hs[li + 1])
        grads.append((Hs[li].T @ A, A.sum(axis=0)))
        dH = A @ params[li][0].T
    return value, grads[::-1]


def _oracle_self_check():
    # one identity neuron, x = 2, w = 1, b = 0, y = 0: L = 4, dL/dw = 2*2*2 = 8, dL/db = 4
    value, ((dW, dB),) = np_loss_and_grads([(np.ones((1, 1)), np.zeros(1))], ["identity"],
                                           np.array([[2.0]]), np.array([[0.0]]))
    assert value == 4.0 and dW[0, 0] == 8.0 and dB[0] == 4.0


_oracle_self_check()


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _params(net):
    return [(layer.W.copy(), layer.B.copy()) for layer in net.layers]


def _assert_params_equal(a, b, msg=""):
    for i, ((Wa, Ba), (Wb, Bb)) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(Wa, Wb, err_msg=f"{msg} W{i}")
        np.testing.assert_array_equal(Ba, Bb, err_msg=f"{msg} B{i}")


def _net(dtype=np.float64, seed=0, loss="mse", sizes=(3, 5, 2), acts=("tanh", None)):
    layers = [ln.Dense(a, b, act) for a, b, act in zip(sizes[:-1], sizes[1:], acts)]
    return ln.Network(layers, dtype=dtype, seed=seed, loss=loss)


def _reg_data(dtype=np.float64, n=20, n_in=3, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    Y = np.tanh(X @ rng.standard_normal((n_in, n_out))).astype(dtype)
    return X, Y


class EpochRecorder(ln.Callback):
    """Copies the weights (and the logs) at every epoch end."""

    def __init__(self):
        self.params, self.logs, self.epochs = [], [], []

    def on_epoch_end(self, net, epoch, logs):
        self.params.append(_params(net))
        self.logs.append(dict(logs))
        self.epochs.append(epoch)
        return False


def _early_stopping_problem(dtype=np.float64):
    """One linear neuron trained by full-batch GD from zero toward w = [2, -1] while the
    validation targets follow 0.5 * w: val_loss falls for a few epochs, then rises."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 2)).astype(dtype)
    w = np.array([[2.0], [-1.0]])
    Y = (X @ w).astype(dtype)
    Yv = (X @ (0.5 * w)).astype(dtype)
    net = ln.Network([ln.Dense(2, 1)], dtype=dtype, seed=0)
    net.layers[0].W = np.zeros((2, 1))
    net.layers[0].B = np.zeros(1)
    return net, X, Y, (X, Yv)


def _keras_stop(values, patience, min_delta=0.0):
    """(epoch index at which training stops or None, best index) for a loss-like metric:
    stop once `patience` consecutive epochs have not improved on the best by > min_delta."""
    best, best_i, wait = math.inf, None, 0
    for i, v in enumerate(values):
        if v < best - min_delta:
            best, best_i, wait = v, i, 0
        else:
            wait += 1
            if wait >= patience:
                return i, best_i
    return None, best_i


# ---------------------------------------------------------------------------
# batching and the History
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_minibatch_sgd_matches_numpy_backprop(dtype):
    """shuffle=False: batches are consecutive rows, the last one partial (10 = 4 + 4 + 2)."""
    X, Y = _reg_data(dtype, n=10)
    net = _net(dtype, seed=1)
    acts = [layer.activation for layer in net.layers]
    params = [(W.astype(np.float64), B.astype(np.float64)) for W, B in _params(net)]
    lr, bs = 0.3, 4
    hist = net.fit(X, Y, epochs=2, batch_size=bs, lr=lr, shuffle=False, verbose=0)
    epoch_losses = []
    for _ in range(2):
        total = 0.0
        for start in range(0, 10, bs):
            xb, yb = X[start:start + bs], Y[start:start + bs]
            value, grads = np_loss_and_grads(params, acts, xb, yb)
            total += value * len(xb)
            params = [(W - lr * dW, B - lr * dB) for (W, B), (dW, dB) in zip(params, grads)]
        epoch_losses.append(total / 10)
    rtol, atol = tols(dtype)
    for (Wg, Bg), (W, B) in zip(_params(net), params):
        np.testing.assert_allclose(Wg, W, rtol=rtol, atol=atol)
        np.testing.assert_allclose(Bg, B, rtol=rtol, atol=atol)
    # "loss" is the mean of the epoch's batch losses (each before its update), row-weighted
    np.testing.assert_allclose(hist.history["loss"], epoch_losses, rtol=rtol)
    assert set(hist.history) == {"loss", "lr"}
    assert len(hist.epochs) == 2 and hist.epochs[1] == hist.epochs[0] + 1
    assert hist.interrupted is False and hist.stopped_early is False


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_minibatch_fit_matches_numpy_backprop(dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((9, 3)).astype(dtype)
    y = rng.integers(0, 4, 9)
    T = np.eye(4)[y]
    net = _net(dtype, seed=2, loss="cross_entropy", sizes=(3, 6, 4), acts=("relu", None))
    acts = [layer.activation for layer in net.layers]
    params = [(W.astype(np.float64), B.astype(np.float64)) for W, B in _params(net)]
    net.fit(X, y, epochs=3, batch_size=5, lr=0.5, shuffle=False, verbose=0)
    for _ in range(3):
        for start in range(0, 9, 5):
            _, grads = np_loss_and_grads(params, acts, X[start:start + 5], T[start:start + 5],
                                         "cross_entropy")
            params = [(W - 0.5 * dW, B - 0.5 * dB) for (W, B), (dW, dB) in zip(params, grads)]
    rtol, atol = tols(dtype)
    for (Wg, Bg), (W, B) in zip(_params(net), params):
        np.testing.assert_allclose(Wg, W, rtol=rtol, atol=atol)
        np.testing.assert_allclose(Bg, B, rtol=rtol, atol=atol)


def test_history_loss_full_batch_is_loss_before_each_step():
    X, Y = _reg_data(n=12, seed=3)
    net = _net(seed=3)
    rec = EpochRecorder()
    before = net.loss(X, Y)
    hist = net.fit(X, Y, epochs=3, batch_size=12, lr=0.2, shuffle=False, callbacks=[rec])
    expected = [before] + [
        np_loss_and_grads(p, [l.activation for l in net.layers], X, Y)[0] for p in rec.params[:-1]
    ]
    np.testing.assert_allclose(hist.history["loss"], expected, rtol=1e-12)
    assert hist.history["loss"][2] < hist.history["loss"][0]


def test_shuffle_is_seeded_and_changes_the_order():
    X, Y = _reg_data(n=24, seed=5)

    def run(**kw):
        net = _net(seed=7)
        net.fit(X, Y, epochs=2, batch_size=5, lr=0.1, verbose=0, **kw)
        return _params(net)

    a = run(shuffle=True, seed=3)
    _assert_params_equal(a, run(shuffle=True, seed=3), "same seed")
    assert not np.array_equal(a[0][0], run(shuffle=True, seed=4)[0][0])
    assert not np.array_equal(a[0][0], run(shuffle=False)[0][0])


def test_lr_alone_is_plain_sgd():
    X, Y = _reg_data(n=15, seed=6)
    n1, n2 = _net(seed=8), _net(seed=8)
    n1.fit(X, Y, epochs=2, batch_size=4, lr=0.05, seed=1)
    opt = ln.SGD(lr=0.05)
    n2.fit(X, Y, epochs=2, batch_size=4, optimizer=opt, seed=1)
    _assert_params_equal(_params(n1), _params(n2))
    assert n2.optimizer is opt


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


class ValLossProbe(ln.Callback):
    def __init__(self, Xv, Yv):
        self.Xv, self.Yv, self.val = Xv, Yv, []

    def on_epoch_end(self, net, epoch, logs):
        self.val.append(net.evaluate(self.Xv, self.Yv))
        return False


@pytest.mark.parametrize("dtype", DTYPES)
def test_validation_data_mse(dtype):
    X, Y = _reg_data(dtype, n=20, seed=1)
    Xv, Yv = _reg_data(dtype, n=7, seed=2)
    net = _net(dtype, seed=4)
    probe = ValLossProbe(Xv, Yv)
    hist = net.fit(X, Y, epochs=4, batch_size=6, lr=0.1, validation_data=(Xv, Yv),
                   callbacks=[probe], verbose=0)
    assert set(hist.history) == {"loss", "lr", "val_loss", "val_rmse", "val_mae", "val_r2"}
    assert len(hist.history["val_loss"]) == 4
    rtol, _ = tols(dtype)
    np.testing.assert_allclose(hist.history["val_loss"], [d["loss"] for d in probe.val], rtol=rtol)
    assert hist.history["val_loss"][-1] == pytest.approx(net.loss(Xv, Yv), rel=rtol)
    # computed independently of the library as well
    acts = [layer.activation for layer in net.layers]
    ref, _ = np_loss_and_grads([(W.astype(float), B.astype(float)) for W, B in _params(net)],
                               acts, Xv, Yv)
    assert hist.history["val_loss"][-1] == pytest.approx(ref, rel=rtol)
    # the values move from epoch to epoch (they are not the initial network's)
    assert len(set(hist.history["val_loss"])) == 4


def test_validation_data_cross_entropy_has_accuracies():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((30, 3))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    Xv = rng.standard_normal((11, 3))
    yv = (Xv[:, 0] + 0.3 * Xv[:, 1] > 0).astype(int)
    net = _net(np.float64, seed=5, loss="cross_entropy", sizes=(3, 4, 2))
    probe = ValLossProbe(Xv, yv)
    hist = net.fit(X, y, epochs=3, batch_size=8, lr=0.2, validation_data=(Xv, yv),
                   callbacks=[probe], verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "lr", "val_loss", "val_accuracy"}
    np.testing.assert_allclose(hist.history["val_loss"], [d["loss"] for d in probe.val],
                               rtol=1e-12)
    np.testing.assert_allclose(hist.history["val_accuracy"],
                               [d["accuracy"] for d in probe.val], atol=1e-12)
    final_acc = float(np.mean(np.argmax(net.predict(Xv), axis=1) == yv))
    assert hist.history["val_accuracy"][-1] == pytest.approx(final_acc, abs=1e-12)
    for a in hist.history["accuracy"] + hist.history["val_accuracy"]:
        assert 0.0 <= a <= 1.0


def test_validation_split_holds_out_the_last_rows():
    """Resolved ambiguity (the contract does not say which rows): like Keras, the last
    round(N * split) rows, taken before shuffling. Training on the split must equal
    training on the first rows with those last rows as validation_data."""
    X, Y = _reg_data(n=20, seed=9)
    a, b = _net(seed=6), _net(seed=6)
    ha = a.fit(X, Y, epochs=3, batch_size=4, lr=0.1, validation_split=0.25, seed=2)
    hb = b.fit(X[:15], Y[:15], epochs=3, batch_size=4, lr=0.1, validation_data=(X[15:], Y[15:]),
               seed=2)
    _assert_params_equal(_params(a), _params(b))
    assert ha.history["val_loss"] == hb.history["val_loss"]
    assert ha.history["loss"] == hb.history["loss"]
    assert ha.history["val_loss"][-1] == pytest.approx(a.loss(X[15:], Y[15:]), rel=1e-12)


@pytest.mark.parametrize("split", [1.0, -0.1, 1.5])
def test_validation_split_out_of_range(split):
    X, Y = _reg_data(n=10)
    net = _net()
    before = _params(net)
    with pytest.raises(ValueError, match="validation_split"):
        net.fit(X, Y, epochs=1, validation_split=split)
    _assert_params_equal(before, _params(net))


# ---------------------------------------------------------------------------
# callbacks
# ---------------------------------------------------------------------------


def test_callback_hooks_with_contract_signatures_called_in_order():
    """The contract's signatures: on_train_begin(net), on_epoch_end(net, epoch, logs),
    on_train_end(net). A subclass written exactly like that must work."""
    calls = []

    class Tracer(ln.Callback):
        def on_train_begin(self, net):
            calls.append(("begin", net))

        def on_epoch_end(self, net, epoch, logs):
            calls.append(("epoch", epoch, dict(logs)))
            return False

        def on_train_end(self, net):
            calls.append(("end", net))

    X, Y = _reg_data(n=8)
    net = _net()
    hist = net.fit(X, Y, epochs=3, batch_size=4, lr=0.1, callbacks=[Tracer()])
    assert [c[0] for c in calls] == ["begin", "epoch", "epoch", "epoch", "end"]
    assert calls[0][1] is net and calls[-1][1] is net
    assert [c[1] for c in calls[1:4]] == hist.epochs
    assert [c[2]["loss"] for c in calls[1:4]] == hist.history["loss"]


def test_callback_epoch_logs_match_history():
    X, Y = _reg_data(n=12)
    Xv, Yv = _reg_data(n=5, seed=1)
    rec = EpochRecorder()
    hist = _net().fit(X, Y, epochs=3, batch_size=5, lr=0.1, validation_data=(Xv, Yv),
                      callbacks=[rec])
    assert rec.epochs == hist.epochs
    assert [lg["loss"] for lg in rec.logs] == hist.history["loss"]
    assert [lg["val_loss"] for lg in rec.logs] == hist.history["val_loss"]


def test_callback_returning_true_stops_training():
    class StopAfterSecond(ln.Callback):
        def __init__(self):
            self.seen = 0

        def on_epoch_end(self, net, epoch, logs):
            self.seen += 1
            return self.seen == 2

    X, Y = _reg_data(n=8)
    rec = EpochRecorder()
    net = _net()
    hist = net.fit(X, Y, epochs=10, batch_size=4, lr=0.1, callbacks=[StopAfterSecond(), rec])
    assert len(hist.history["loss"]) == 2
    assert hist.stopped_early is True and hist.interrupted is False
    _assert_params_equal(rec.params[-1], _params(net))


# ---------------------------------------------------------------------------
# EarlyStopping
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("patience", [0, 1, 3])
def test_early_stopping_stops_after_patience_epochs_and_restores_best(patience, dtype):
    net, X, Y, val = _early_stopping_problem(dtype)
    rec = EpochRecorder()
    es = ln.EarlyStopping(monitor="val_loss", patience=patience, restore_best=True)
    hist = net.fit(X, Y, epochs=40, batch_size=16, lr=0.1, shuffle=False, validation_data=val,
                   callbacks=[rec, es])
    vals = hist.history["val_loss"]
    stop_i, best_i = _keras_stop(vals, patience)
    assert best_i is not None and best_i > 0  # the problem has its best epoch inside the run
    assert hist.stopped_early is True
    # "patience" epochs without improvement, then stop: the stop is the last recorded epoch
    assert stop_i == len(vals) - 1, (vals, patience)
    # restore_best: bit-for-bit the weights recorded at the end of the best epoch
    _assert_params_equal(_params(net), rec.params[best_i], "restored")
    assert not np.array_equal(rec.params[best_i][0][0], rec.params[-1][0][0])


def test_early_stopping_without_restore_keeps_last_weights():
    net, X, Y, val = _early_stopping_problem()
    rec = EpochRecorder()
    hist = net.fit(X, Y, epochs=40, batch_size=16, lr=0.1, shuffle=False, validation_data=val,
                   callbacks=[rec, ln.EarlyStopping(patience=2, restore_best=False)])
    assert hist.stopped_early and len(hist.history["val_loss"]) < 40
    _assert_params_equal(_params(net), rec.params[-1])


def test_early_stopping_min_delta():
    """With a huge min_delta nothing after the first epoch counts as an improvement."""
    net, X, Y, val = _early_stopping_problem()
    rec = EpochRecorder()
    hist = net.fit(X, Y, epochs=40, batch_size=16, lr=0.1, shuffle=False, validation_data=val,
                   callbacks=[rec, ln.EarlyStopping(patience=2, min_delta=1e9)])
    assert len(hist.history["val_loss"]) == 3  # epoch 0 is the best, then 2 without improvement
    _assert_params_equal(_params(net), rec.params[0])


def test_early_stopping_on_training_loss_does_not_stop_a_decreasing_run():
    net, X, Y, _ = _early_stopping_problem()
    hist = net.fit(X, Y, epochs=8, batch_size=16, lr=0.1, shuffle=False,
                   callbacks=[ln.EarlyStopping(monitor="loss", patience=1)])
    assert np.all(np.diff(hist.history["loss"]) < 0)
    assert len(hist.history["loss"]) == 8 and hist.stopped_early is False


# ---------------------------------------------------------------------------
# ModelCheckpoint
# ---------------------------------------------------------------------------


class FileProbe(ln.Callback):
    """Placed after a ModelCheckpoint: loads its file at every epoch end."""

    def __init__(self, path):
        self.path = path
        self.loaded, self.current, self.val = [], [], []

    def on_epoch_end(self, net, epoch, logs):
        self.loaded.append(ln.load(self.path) if os.path.exists(self.path) else None)
        self.current.append(_params(net))
        self.val.append(logs.get("val_loss"))
        return False


@pytest.mark.parametrize("dtype", DTYPES)
def test_model_checkpoint_every_epoch(tmp_path, dtype):
    path = str(tmp_path / "ckpt.npz")
    X, Y = _reg_data(dtype, n=12)
    net = _net(dtype, seed=2)
    probe = FileProbe(path)
    opt = ln.Adam(lr=0.01)
    net.fit(X, Y, epochs=3, batch_size=5, optimizer=opt,
            callbacks=[ln.ModelCheckpoint(path), probe])
    assert all(m is not None for m in probe.loaded)
    for e, (m, cur) in enumerate(zip(probe.loaded, probe.current)):
        _assert_params_equal(_params(m), cur, f"epoch {e}")
        assert m.dtype == np.dtype(dtype)
        # saved with the optimizer state: Adam with the step count of that epoch end
        assert isinstance(m.optimizer, ln.Adam)
        assert m.optimizer.step == 3 * (e + 1)
    assert not np.array_equal(probe.current[0][0][0], probe.current[2][0][0])


def test_model_checkpoint_save_best_only(tmp_path):
    path = str(tmp_path / "best.npz")
    net, X, Y, val = _early_stopping_problem()
    probe = FileProbe(path)
    hist = net.fit(X, Y, epochs=8, batch_size=16, lr=0.1, shuffle=False, validation_data=val,
                   callbacks=[ln.ModelCheckpoint(path, save_best_only=True), probe])
    vals = hist.history["val_loss"]
    best_i = int(np.argmin(vals))
    assert 0 < best_i < len(vals) - 1  # the file must stop changing during this run
    for e in range(len(vals)):
        best_so_far = int(np.argmin(vals[: e + 1]))
        _assert_params_equal(_params(probe.loaded[e]), probe.current[best_so_far], f"epoch {e}")
    _assert_params_equal(_params(ln.load(path)), probe.current[best_i])


# ---------------------------------------------------------------------------
# checkpoint, then resume
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("make_opt", [lambda: ln.Adam(lr=0.02, weight_decay=0.01),
                                      lambda: ln.SGD(lr=0.05, momentum=0.9, nesterov=True)],
                         ids=["adam", "nesterov"])
def test_resume_from_checkpoint_is_bit_identical(tmp_path, dtype, shuffle, make_opt):
    """N epochs with a checkpoint, load, M more epochs == N + M uninterrupted epochs.
    The shuffle of each epoch must depend on the epoch counted over the network's
    life (the model file carries the count), so the resumed run repeats the same order."""
    X, Y = _reg_data(dtype, n=22, seed=12)
    N, M, seed = 3, 2, 5
    full = _net(dtype, seed=9)
    full.fit(X, Y, epochs=N + M, batch_size=4, optimizer=make_opt(), shuffle=shuffle, seed=seed)

    path = str(tmp_path / "resume.npz")
    first = _net(dtype, seed=9)
    first.fit(X, Y, epochs=N, batch_size=4, optimizer=make_opt(), shuffle=shuffle, seed=seed,
              callbacks=[ln.ModelCheckpoint(path)])
    resumed = ln.load(path)
    assert resumed.optimizer is not None
    resumed.fit(X, Y, epochs=M, batch_size=4, optimizer=resumed.optimizer, shuffle=shuffle,
                seed=seed)
    _assert_params_equal(_params(resumed), _params(full), "resumed vs uninterrupted")
    if isinstance(resumed.optimizer, ln.Adam):
        assert resumed.optimizer.step == full.optimizer.step == (N + M) * 6


def test_resume_without_checkpoint_state_differs(tmp_path):
    """Guard for the test above: restarting Adam from fresh state gives other weights,
    so bit-identity there really depends on the saved optimizer state."""
    X, Y = _reg_data(n=22, seed=12)
    full = _net(seed=9)
    full.fit(X, Y, epochs=5, batch_size=4, optimizer=ln.Adam(lr=0.02), shuffle=False)
    first = _net(seed=9)
    first.fit(X, Y, epochs=3, batch_size=4, optimizer=ln.Adam(lr=0.02), shuffle=False)
    first.fit(X, Y, epochs=2, batch_size=4, optimizer=ln.Adam(lr=0.02), shuffle=False)
    assert not np.array_equal(_params(first)[0][0], _params(full)[0][0])


# ---------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------


class InterruptAt(ln.Callback):
    """Records the weights at each epoch end, and raises KeyboardInterrupt at call k."""

    def __init__(self, k):
        self.k, self.calls, self.params = k, 0, []

    def on_epoch_end(self, net, epoch, logs):
        self.params.append(_params(net))
        self.calls += 1
        if self.calls == self.k:
            raise KeyboardInterrupt
        return False


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3])
def test_keyboard_interrupt_returns_history(dtype, k):
    X, Y = _reg_data(dtype, n=16)
    net = _net(dtype, seed=3)
    cb = InterruptAt(k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = net.fit(X, Y, epochs=10, batch_size=5, optimizer=ln.Adam(lr=0.01), callbacks=[cb])
    assert isinstance(hist, ln.History)
    assert hist.interrupted is True
    assert hist.stopped_early is False
    assert cb.calls == k
    # the interrupted epoch's own entry may or may not be recorded; earlier ones must be
    assert len(hist.history["loss"]) in (k - 1, k)
    for W, B in _params(net):
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(B))
    # the network is as of the last completed step: what the callback saw
    _assert_params_equal(_params(net), cb.params[-1])
    assert net.optimizer.step == 4 * k
    # and it can go on training afterwards
    net.fit(X, Y, epochs=1, batch_size=5)
    assert not np.array_equal(_params(net)[0][0], cb.params[-1][0][0])


# ---------------------------------------------------------------------------
# verbosity
# ---------------------------------------------------------------------------


def test_verbose_0_prints_nothing(capfd, tmp_path):
    X, Y = _reg_data(n=30)
    Xv, Yv = _reg_data(n=6, seed=1)
    net = _net()
    net.fit(X, Y, epochs=3, batch_size=4, lr=0.1, validation_data=(Xv, Yv), verbose=0,
            callbacks=[ln.EarlyStopping(patience=5),
                       ln.ModelCheckpoint(str(tmp_path / "m.npz"))])
    net.evaluate(Xv, Yv)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_verbose_1_prints_progress(capfd):
    X, Y = _reg_data(n=30)
    net = _net()
    net.fit(X, Y, epochs=2, batch_size=4, lr=0.1, verbose=1)
    out, err = capfd.readouterr()
    text = out + err
    assert text.strip() != ""
    assert "loss" in text
