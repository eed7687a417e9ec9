"""The training toolkit against numpy replays written from torch's
definitions (tests/test_vs_torch.py checks the same against torch itself):
binary cross-entropy, Huber and MAE; AdamW and RMSprop; gradient clipping;
the learning-rate schedules; sample and class weights; partial_fit; the
Standardize layer; class labels; History as a mapping; regression metrics."""
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle as O  # noqa: E402

import layernet as ln  # noqa: E402
from layernet import _kernels as K  # noqa: E402

DTYPES = [np.float32, np.float64]


def tols(dtype):
    return (3e-5, 3e-6) if np.dtype(dtype) == np.float32 else (1e-11, 1e-13)


# ---------------------------------------------------------------------------
# Losses: value and gradient, weighted and not
# ---------------------------------------------------------------------------

def _targets(kind, rng, n, m):
    if kind == "binary_cross_entropy":
        return rng.uniform(0, 1, (n, m)).round(1)
    if kind == "cross_entropy":
        return np.eye(m)[rng.integers(0, m, n)]
    return rng.standard_normal((n, m))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind,param", [("mse", None), ("mae", None), ("huber", 1.0),
                                        ("huber", 0.3), ("binary_cross_entropy", None),
                                        ("cross_entropy", None)])
@pytest.mark.parametrize("n,m", [(1, 1), (9, 3), (40, 7)], ids=lambda v: str(v))
def test_loss_value_and_gradient(dtype, kind, param, weighted, n, m):
    if kind == "cross_entropy" and m == 1:
        m = 2
    rng = np.random.default_rng(n * 13 + m)
    H = (rng.standard_normal((n, m)) * 2).astype(dtype)
    T = _targets(kind, rng, n, m).astype(dtype)
    w = rng.uniform(0.2, 3.0, n).astype(dtype) if weighted else None
    value, G = K.loss(H, T, kind, w=w, param=(param,) if param else None)
    expected, eG = O.loss_and_grad(kind, H, T, w=w, delta=param or 1.0)
    rtol, atol = tols(dtype)
    assert value == pytest.approx(expected, rel=rtol * 10, abs=atol)
    np.testing.assert_allclose(G, eG, rtol=rtol * 10, atol=atol)


@pytest.mark.parametrize("kind", ["mse", "mae", "huber", "binary_cross_entropy"])
def test_weighted_loss_is_the_weighted_mean_of_row_losses(kind):
    """sum_i w_i l_i / sum_i w_i: a weight of 2 counts a row twice."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 3))
    T = _targets(kind, rng, 6, 2)
    net = ln.Network([ln.Dense(3, 2)], dtype=np.float64, loss=kind, seed=0)
    w = np.array([1, 2, 1, 0, 3, 1.0])
    doubled = np.repeat(np.arange(6), w.astype(int))
    assert net.loss(X, T, sample_weight=w) == pytest.approx(net.loss(X[doubled], T[doubled]), rel=1e-13)


def test_binary_cross_entropy_targets_and_outputs():
    net = ln.Network([ln.Dense(3, 2)], dtype=np.float64, loss="binary_cross_entropy", seed=0)
    X = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(net.predict_proba(X), O.sigmoid(net.predict(X)), rtol=1e-15)
    with pytest.raises(ValueError, match=r"row 1, column 0 is 1.5; expected targets in \[0, 1\]"):
        net.loss(X, np.array([[0, 1], [1.5, 0], [0, 0], [1, 1], [0, 1]]))


def test_huber_delta_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="delta"):
        ln.Huber(delta=0)
    net = ln.Network([ln.Dense(2, 1)], loss=ln.Huber(delta=0.25))
    net.save(tmp_path / "h.npz")
    loaded = ln.load(tmp_path / "h.npz")
    assert loaded.loss_function == ln.Huber(delta=0.25)


def test_loss_rows_come_from_registration():
    # Each registered loss knows its C row; a loss class that was never
    # registered keeps the base class's row -1, which is refused by name
    # before it reaches C
    for name, cls in ln.losses.LOSSES.items():
        assert K.LOSSES[cls.c_kind] == name

    class Unregistered(ln.losses.MSE):
        c_kind = -1

    net = ln.Network([ln.Dense(2, 1)], loss=Unregistered())
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="loss_kind: .* got -1"):
        net.train_step(X, np.ones((3, 1)), 0.1)


# ---------------------------------------------------------------------------
# Optimizers: 25-step trajectories of one tensor
# ---------------------------------------------------------------------------

class RefAdamW:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        self.__dict__.update(lr=lr, b1=beta1, b2=beta2, eps=eps, wd=weight_decay, m=0.0, v=0.0, t=0)

    def step(self, p, g):
        self.t += 1
        p = p * (1 - self.lr * self.wd)
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        denom = np.sqrt(self.v) / math.sqrt(1 - self.b2 ** self.t) + self.eps
        return p - self.lr / (1 - self.b1 ** self.t) * self.m / denom


class RefRMSprop:
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        self.__dict__.update(lr=lr, alpha=alpha, eps=eps, mu=momentum, wd=weight_decay, v=0.0, b=0.0)

    def step(self, p, g):
        g = g + self.wd * p
        self.v = self.alpha * self.v + (1 - self.alpha) * g * g
        step = g / (np.sqrt(self.v) + self.eps)
        if self.mu:
            self.b = self.mu * self.b + step
            step = self.b
        return p - self.lr * step


OPTIMIZERS = [
    (ln.AdamW, RefAdamW, dict(lr=1e-2)),
    (ln.AdamW, RefAdamW, dict(lr=3e-3, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.1)),
    (ln.RMSprop, RefRMSprop, dict(lr=1e-2)),
    (ln.RMSprop, RefRMSprop, dict(lr=5e-3, alpha=0.9, momentum=0.8, weight_decay=0.01)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls,ref_cls,kw", OPTIMIZERS, ids=["adamw", "adamw-args", "rmsprop",
                                                              "rmsprop-momentum"])
def test_optimizer_trajectory_matches_replay(dtype, cls, ref_cls, kw):
    rng = np.random.default_rng(3)
    p = rng.standard_normal(37).astype(dtype)
    opt = cls(**kw)
    states = [np.zeros_like(p) for _ in range(opt.n_state)]
    ref, p_ref = ref_cls(**kw), p.astype(np.float64)
    rtol, atol = tols(dtype)
    for t in range(1, 26):
        g = rng.standard_normal(37).astype(dtype)
        K.optimizer_update(p, g, states, opt.kind, opt.lr, t=t, weight_decay=opt.weight_decay,
                           hp=opt.hyperparams())
        p_ref = ref.step(p_ref, g.astype(np.float64))
        np.testing.assert_allclose(p, p_ref, rtol=rtol * 20, atol=atol * 20, err_msg=f"step {t}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_norm_scales_the_global_gradient(dtype):
    """clip_grad_norm_: the gradient of all tensors together is scaled by
    max_norm / (norm + 1e-6) when that is below 1."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((12, 3)).astype(dtype)
    Y = (rng.standard_normal((12, 2)) * 10).astype(dtype)
    for clip in (0.05, 1e6):
        net = ln.Network([ln.Dense(3, 4, "tanh"), ln.Dense(4, 2)], dtype=dtype, seed=1)
        w0 = net.get_weights()
        grads = [g for pair in net.gradients(X, Y) for g in pair]
        norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
        scale = min(1.0, clip / (norm + 1e-6))
        net.fit(X, Y, epochs=1, batch_size=12, optimizer=ln.SGD(0.1, clip_norm=clip), shuffle=False)
        rtol, atol = tols(dtype)
        for w, g, new in zip(w0, grads, net.get_weights()):
            np.testing.assert_allclose(new, w - 0.1 * scale * g, rtol=rtol * 10, atol=atol * 10)


# ---------------------------------------------------------------------------
# Schedules: the lr of each epoch, as History records it
# ---------------------------------------------------------------------------

SCHEDULES = [
    (lambda: ln.StepLR(3, gamma=0.5), lambda e: 0.1 * 0.5 ** (e // 3)),
    (lambda: ln.ExponentialLR(0.9), lambda e: 0.1 * 0.9 ** e),
    (lambda: ln.CosineAnnealingLR(10, eta_min=0.01),
     lambda e: 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * e / 10)) / 2),
    (lambda: ln.LinearWarmup(5, start_factor=0.2),
     lambda e: 0.1 * (0.2 + 0.8 * min(e, 5) / 5)),
]


@pytest.mark.parametrize("make,formula", SCHEDULES, ids=["step", "exponential", "cosine", "warmup"])
def test_schedule_lr_per_epoch(make, formula):
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    net = ln.Network([ln.Dense(2, 1)], dtype=np.float64)
    h = net.fit(X, Y, epochs=25, batch_size=8, optimizer=ln.SGD(0.1), callbacks=[make()])
    np.testing.assert_allclose(h["lr"], [formula(e) for e in range(25)], rtol=1e-14)


def test_reduce_lr_on_plateau_follows_torch_rules():
    sched = ln.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, threshold=0.1, cooldown=1)

    class Net:                        # only the optimizer's lr matters here
        optimizer = ln.SGD(1.0)

    net = Net()
    losses = [10, 9.5, 9.4, 9.3, 9.2, 5, 5, 5, 5, 5, 5]
    lrs = []
    for e, value in enumerate(losses):
        sched.on_epoch_end(net, e, {"loss": value})
        lrs.append(net.optimizer.lr)
    # 9.5 is not < 10 * 0.9, so epochs 1..3 are bad; after the third the lr halves,
    # then one cooldown epoch; 5 improves; five bad epochs follow
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match="step_size"):
        ln.StepLR(0)
    with pytest.raises(ValueError, match="start_factor"):
        ln.LinearWarmup(3, start_factor=0)
    with pytest.raises(ValueError, match="factor"):
        ln.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="monitor"):
        ln.ReduceLROnPlateau(monitor="speed")


# ---------------------------------------------------------------------------
# History, weights, partial_fit
# ---------------------------------------------------------------------------

def test_history_is_a_mapping():
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 3, 30)
    net = ln.Network([ln.Dense(3, 3)], loss="cross_entropy", seed=0)
    h = net.fit(X, y, epochs=3, validation_split=0.2)
    assert list(h) == ["loss", "accuracy", "lr", "val_loss", "val_accuracy"]
    assert "val_loss" in h and "val_rmse" not in h and len(h) == 5
    assert dict(h) == {k: h[k] for k in h} and all(len(v) == 3 for v in h.values())
    assert h.epoch == [0, 1, 2] and dict(h.items())["lr"] == [0.01] * 3


def test_history_keys_exist_after_an_interrupt_in_the_first_epoch():
    class Interrupt(ln.Callback):
        def on_batches_end(self, net, done, loss):
            raise KeyboardInterrupt

    rng = np.random.default_rng(7)
    net = ln.Network([ln.Dense(3, 1)])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        h = net.fit(rng.standard_normal((20, 3)), rng.standard_normal(20), epochs=2,
                    validation_split=0.25, callbacks=[Interrupt()])
    assert h.interrupted and dict(h) == {"loss": [], "lr": [], "val_loss": [], "val_rmse": [],
                                         "val_mae": [], "val_r2": []}


def test_history_goes_into_a_dataframe():
    import pandas as pd
    net = ln.Network([ln.Dense(2, 1)])
    h = net.fit(np.ones((4, 2)), np.ones(4), epochs=2)
    frame = pd.DataFrame(h)
    assert list(frame.columns) == ["loss", "lr"] and len(frame) == 2


def test_class_weight_balanced_and_by_label():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((12, 3))
    y = np.array([0] * 8 + [1] * 3 + [2])
    base = ln.Network([ln.Dense(3, 3)], dtype=np.float64, loss="cross_entropy", seed=1)
    # balanced: n / (n_classes * count) = 12 / (3 * [8, 3, 1]) = [0.5, 4/3, 4]
    expected = np.array([0.5] * 8 + [4 / 3] * 3 + [4.0])
    a = ln.Network([ln.Dense(3, 3)], dtype=np.float64, loss="cross_entropy", seed=1)
    b = ln.Network([ln.Dense(3, 3)], dtype=np.float64, loss="cross_entropy", seed=1)
    a.fit(X, y, epochs=2, batch_size=5, class_weight="balanced", seed=3)
    b.fit(X, y, epochs=2, batch_size=5, sample_weight=expected, seed=3)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)
    # by label, through net.classes; classes absent from the dict weigh 1
    c = ln.Network([ln.Dense(3, 3)], dtype=np.float64, loss="cross_entropy", seed=1)
    c.classes = ["cat", "dog", "eel"]
    c.fit(X, y, epochs=2, batch_size=5, class_weight={"eel": 4.0, "cat": 0.5}, seed=3)
    d = ln.Network([ln.Dense(3, 3)], dtype=np.float64, loss="cross_entropy", seed=1)
    d.fit(X, y, epochs=2, batch_size=5, sample_weight=np.where(y == 2, 4.0, np.where(y == 0, 0.5, 1.0)),
          seed=3)
    for u, v in zip(c.get_weights(), d.get_weights()):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="class_weight"):
        ln.Network([ln.Dense(3, 1)]).fit(X, y[:, None] * 1.0, class_weight="balanced")
    with pytest.raises(ValueError, match="'fish'"):
        c.fit(X, y, class_weight={"fish": 2.0})
    del base


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_opt", [lambda: ln.Adam(1e-2), lambda: ln.RMSprop(1e-2, momentum=0.5)],
                         ids=["adam", "rmsprop"])
def test_partial_fit_over_chunks_equals_one_fit(dtype, make_opt):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((96, 4)).astype(dtype)
    Y = rng.standard_normal((96, 2)).astype(dtype)
    w = rng.uniform(0.5, 2, 96).astype(dtype)
    streamed = ln.Network([ln.Dense(4, 6, "relu"), ln.Dense(6, 2)], dtype=dtype, seed=2)
    whole = ln.Network([ln.Dense(4, 6, "relu"), ln.Dense(6, 2)], dtype=dtype, seed=2)
    opt = make_opt()
    for start in range(0, 96, 32):
        streamed.partial_fit(X[start:start + 32], Y[start:start + 32], batch_size=8,
                             optimizer=opt if start == 0 else None,
                             sample_weight=w[start:start + 32])
    whole.fit(X, Y, epochs=1, batch_size=8, optimizer=make_opt(), shuffle=False, sample_weight=w)
    for a, b in zip(streamed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert streamed.optimizer.step == 12


# ---------------------------------------------------------------------------
# Standardize, classes, regression metrics
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_standardize_layer(dtype, tmp_path):
    rng = np.random.default_rng(10)
    X = rng.normal(50, 7, (40, 3))
    std_layer = ln.Standardize.from_data(X)
    np.testing.assert_allclose(std_layer.mean, X.mean(axis=0))
    net = ln.Network([std_layer, ln.Dense(3, 2, "tanh"), ln.Dense(2, 1)], dtype=dtype, seed=0)
    plain = ln.Network([ln.Dense(3, 2, "tanh"), ln.Dense(2, 1)], dtype=dtype, seed=0)
    Z = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(dtype)
    rtol, atol = tols(dtype)
    np.testing.assert_allclose(net.predict(X), plain.predict(Z), rtol=rtol * 10, atol=atol * 10)
    Y = rng.standard_normal((40, 1))
    for (a, b), (c, d) in zip(net.gradients(X, Y), plain.gradients(Z, Y)):
        np.testing.assert_allclose(a, c, rtol=rtol * 100, atol=atol * 100)
    assert net.n_params == plain.n_params
    net.save(tmp_path / "s.npz")
    loaded = ln.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    np.testing.assert_array_equal(loaded.layers[0].std, net.layers[0].std)


def test_standardize_in_the_middle_gradient_check():
    rng = np.random.default_rng(11)
    net = ln.Network([ln.Dense(3, 4, "sigmoid"), ln.Standardize(np.full(4, 0.3), np.full(4, 0.7)),
                      ln.Dense(4, 2)], dtype=np.float64, seed=3)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    grads = net.gradients(X, Y)
    W = net.layers[0].W
    numeric = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        orig = W[idx]
        W[idx] = orig + 1e-6
        up = net.loss(X, Y)
        W[idx] = orig - 1e-6
        down = net.loss(X, Y)
        W[idx] = orig
        numeric[idx] = (up - down) / 2e-6
    assert O.rel_err(grads[0][0], numeric) < 1e-7


def test_standardize_checks_its_statistics():
    with pytest.raises(ValueError, match="std > 0"):
        ln.Standardize([0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        ln.Standardize([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="dtype"):
        ln.Network([ln.Standardize([0.0], [1e-300]), ln.Dense(1, 1)], dtype=np.float32)


def test_classes_and_predict_classes(tmp_path):
    rng = np.random.default_rng(12)
    X = rng.standard_normal((9, 2))
    net = ln.Network([ln.Dense(2, 3)], loss="cross_entropy", seed=0)
    np.testing.assert_array_equal(net.predict_classes(X), np.argmax(net.predict(X), axis=1))
    net.classes = ["setosa", "versicolor", "virginica"]
    labels = net.predict_classes(X)
    assert list(labels) == [net.classes[i] for i in np.argmax(net.predict(X), axis=1)]
    net.save(tmp_path / "c.npz")
    assert ln.load(tmp_path / "c.npz").classes == ["setosa", "versicolor", "virginica"]
    binary = ln.Network([ln.Dense(2, 1)], loss="binary_cross_entropy", seed=0)
    binary.classes = [False, True]
    assert list(binary.predict_classes(X)) == list(binary.predict(X)[:, 0] > 0)
    with pytest.raises(ValueError, match="expected 3 labels"):
        net.classes = ["a", "b"]
    with pytest.raises(ValueError, match="only a classification network"):
        ln.Network([ln.Dense(2, 1)]).classes = ["a"]
    with pytest.raises(ValueError, match="predict_classes"):
        ln.Network([ln.Dense(2, 1)]).predict_classes(X)


def test_regression_metrics_by_hand():
    H = np.array([[1.0, 2.0], [3.0, 5.0], [2.0, 2.0]])
    T = np.array([[1.5, 2.0], [2.0, 4.0], [2.5, 3.0]])
    m = ln.losses.regression_metrics(H, T)
    E = H - T
    assert m["rmse"] == pytest.approx(math.sqrt(np.mean(E ** 2)))
    assert m["mae"] == pytest.approx(np.mean(np.abs(E)))
    r2 = [1 - np.sum(E[:, j] ** 2) / np.sum((T[:, j] - T[:, j].mean()) ** 2) for j in range(2)]
    assert m["r2"] == pytest.approx(np.mean(r2))
    net = ln.Network([ln.Dense(2, 2)], dtype=np.float64, seed=0)
    X = np.random.default_rng(0).standard_normal((3, 2))
    out = net.evaluate(X, T)
    assert set(out) == {"loss", "rmse", "mae", "r2"}
    assert out["rmse"] == pytest.approx(math.sqrt(out["loss"]))
