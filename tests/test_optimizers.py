"""Optimizer updates (issue 4): ln.SGD and ln.Adam against hand-computed steps.

The expected updates are written out from PyTorch's documented definitions of
torch.optim.SGD (dampening 0) and torch.optim.Adam (amsgrad off, L2 weight decay):

    SGD:  g += wd * p
          v = g on the first step, else v = mu * v + g      (only when mu != 0)
          g = g + mu * v if nesterov else v                  (only when mu != 0)
          p -= lr * g
    Adam: g += wd * p
          m = b1 * m + (1 - b1) * g
          v = b2 * v + (1 - b2) * g^2
          p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

They are checked three ways: literal numbers worked out by hand, the kernel hook
K.optimizer_update against a float64 numpy replay, and whole networks (fit with an
optimizer) against a numpy replay fed with the gradients reported by net.gradients.
"""

import numpy as np
import pytest

import layernet as ln
from layernet import _kernels as K

DTYPES = [np.float32, np.float64]


def tols(dtype):
    """(rtol, atol) for comparing a float32/float64 result with a float64 oracle."""
    if np.dtype(dtype) == np.float32:
        return 2e-5, 2e-6
    return 1e-11, 1e-13


# ---------------------------------------------------------------------------
# Independent numpy oracles (float64), one state dict per parameter tensor
# ---------------------------------------------------------------------------


class RefSGD:
    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.lr, self.mu, self.nesterov, self.wd = lr, momentum, nesterov, weight_decay
        self.buf = {}

    def update(self, key, p, g):
        p = np.asarray(p, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64) + self.wd * p
        if self.mu != 0.0:
            v = g.copy() if key not in self.buf else self.mu * self.buf[key] + g
            self.buf[key] = v
            g = g + self.mu * v if self.nesterov else v
        return p - self.lr * g


class RefAdam:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self.lr, self.b1, self.b2, self.eps, self.wd = lr, beta1, beta2, eps, weight_decay
        self.m, self.v, self.t = {}, {}, {}

    def update(self, key, p, g):
        p = np.asarray(p, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64) + self.wd * p
        m = self.m.get(key, np.zeros_like(p))
        v = self.v.get(key, np.zeros_like(p))
        t = self.t.get(key, 0) + 1
        m = self.b1 * m + (1 - self.b1) * g
        v = self.b2 * v + (1 - self.b2) * g * g
        self.m[key], self.v[key], self.t[key] = m, v, t
        mhat = m / (1 - self.b1**t)
        vhat = v / (1 - self.b2**t)
        return p - self.lr * mhat / (np.sqrt(vhat) + self.eps)


# ---------------------------------------------------------------------------
# Literal hand-worked numbers through the kernel hook
# ---------------------------------------------------------------------------


def _hook(p, g, s1, s2, kind, lr, t=1, weight_decay=0.0, **kw):
    """The C update of one tensor, with the hyper-parameters in the order the
    Python class passes them."""
    opt = {"sgd": ln.SGD, "adam": ln.Adam}[kind](lr=lr, weight_decay=weight_decay, **kw)
    K.optimizer_update(p, g, [s1, s2], kind, lr, t=t, weight_decay=weight_decay,
                       hp=opt.hyperparams())


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_plain_hand_numbers(dtype):
    p = np.array([1.0, -2.0], dtype=dtype)
    g = np.array([0.5, 0.25], dtype=dtype)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    _hook(p, g, s1, s2, "sgd", 0.1)
    # 1 - 0.1*0.5 = 0.95 ; -2 - 0.1*0.25 = -2.025
    rtol, atol = tols(dtype)
    np.testing.assert_allclose(p, [0.95, -2.025], rtol=rtol, atol=atol)
    np.testing.assert_array_equal(g, np.array([0.5, 0.25], dtype=dtype))  # g untouched


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_weight_decay_hand_numbers(dtype):
    p = np.array([1.0, -2.0], dtype=dtype)
    g = np.array([0.5, 0.25], dtype=dtype)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    _hook(p, g, s1, s2, "sgd", 0.1, weight_decay=0.1)
    # g_eff = [0.5 + 0.1*1, 0.25 + 0.1*(-2)] = [0.6, 0.05]; p = [0.94, -2.005]
    rtol, atol = tols(dtype)
    np.testing.assert_allclose(p, [0.94, -2.005], rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "nesterov, expected1, expected2",
    [
        # mu = 0.9, lr = 0.1, g1 = [1, -1], g2 = [0.5, 0.5], p0 = [0, 0]
        # step 1: v = g1 = [1, -1]               -> p = [-0.1, 0.1]
        # step 2: v = 0.9*[1,-1] + g2 = [1.4, -0.4] -> p = [-0.24, 0.14]
        (False, [-0.1, 0.1], [-0.24, 0.14]),
        # nesterov: step 1: g + mu*v = [1.9, -1.9]   -> p = [-0.19, 0.19]
        #           step 2: g2 + mu*[1.4,-0.4] = [1.76, 0.14] -> p = [-0.366, 0.176]
        (True, [-0.19, 0.19], [-0.366, 0.176]),
    ],
)
def test_sgd_momentum_hand_numbers(dtype, nesterov, expected1, expected2):
    p = np.zeros(2, dtype=dtype)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    rtol, atol = tols(dtype)
    _hook(p, np.array([1.0, -1.0], dtype=dtype), s1, s2, "sgd", 0.1, t=1,
          momentum=0.9, nesterov=nesterov)
    np.testing.assert_allclose(p, expected1, rtol=rtol, atol=atol)
    np.testing.assert_allclose(s1, [1.0, -1.0], rtol=rtol, atol=atol)  # the velocity buffer
    _hook(p, np.array([0.5, 0.5], dtype=dtype), s1, s2, "sgd", 0.1, t=2,
          momentum=0.9, nesterov=nesterov)
    np.testing.assert_allclose(p, expected2, rtol=rtol, atol=atol)
    np.testing.assert_allclose(s1, [1.4, -0.4], rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_first_step_hand_numbers(dtype):
    # On step 1 the bias corrections cancel: mhat = g, vhat = g^2, so each
    # parameter moves by lr * g / (|g| + eps), i.e. about lr against the sign of g.
    lr, eps = 0.01, 1e-8
    p = np.array([1.0, -1.0, 0.5], dtype=dtype)
    g = np.array([2.0, -1e-3, 0.0], dtype=dtype)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    _hook(p, g, s1, s2, "adam", lr, t=1, beta1=0.9, beta2=0.999, eps=eps)
    expected = [1.0 - lr * 2.0 / (2.0 + eps), -1.0 + lr * 1e-3 / (1e-3 + eps), 0.5]
    rtol, atol = tols(dtype)
    np.testing.assert_allclose(p, expected, rtol=rtol, atol=atol)
    # moments after one step: m = 0.1 g, v = 0.001 g^2
    np.testing.assert_allclose(s1, [0.2, -1e-4, 0.0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(s2, [0.004, 1e-9, 0.0], rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_two_steps_hand_numbers(dtype):
    # scalar, g1 = 1, g2 = 3, lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, p0 = 0
    # step 1: p1 = -0.1 * 1 / (1 + 1e-8)
    # step 2: m = 0.9*0.1 + 0.1*3 = 0.39, v = 0.999*0.001 + 0.001*9 = 0.009999
    #         mhat = 0.39 / (1 - 0.81) = 0.39 / 0.19, vhat = 0.009999 / (1 - 0.998001)
    p1 = -0.1 / (1 + 1e-8)
    p2 = p1 - 0.1 * (0.39 / 0.19) / (np.sqrt(0.009999 / 0.001999) + 1e-8)
    p = np.zeros(1, dtype=dtype)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    rtol, atol = tols(dtype)
    _hook(p, np.ones(1, dtype=dtype), s1, s2, "adam", 0.1, t=1)
    np.testing.assert_allclose(p, [p1], rtol=rtol, atol=atol)
    _hook(p, np.full(1, 3.0, dtype=dtype), s1, s2, "adam", 0.1, t=2)
    np.testing.assert_allclose(p, [p2], rtol=rtol, atol=atol)
    np.testing.assert_allclose(s1, [0.39], rtol=rtol, atol=atol)
    np.testing.assert_allclose(s2, [0.009999], rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_weight_decay_hand_numbers(dtype):
    # p0 = 2, g = 0.5, wd = 0.25 -> g_eff = 0.5 + 0.5 = 1; first step moves by lr*1/(1+eps)
    p = np.array([2.0], dtype=dtype)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    _hook(p, np.array([0.5], dtype=dtype), s1, s2, "adam", 0.01, t=1, weight_decay=0.25)
    rtol, atol = tols(dtype)
    np.testing.assert_allclose(p, [2.0 - 0.01 / (1 + 1e-8)], rtol=rtol, atol=atol)
    np.testing.assert_allclose(s1, [0.1], rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# The kernel hook over several steps and awkward sizes, against the numpy replay
# ---------------------------------------------------------------------------

OPT_CASES = [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, weight_decay=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6)),
    ("adam", dict(lr=0.01, weight_decay=0.05)),
]
OPT_IDS = ["sgd", "sgd-wd", "momentum", "nesterov", "nesterov-wd", "adam", "adam-betas",
           "adam-wd"]


def _ref_for(kind, kw):
    return RefSGD(**kw) if kind == "sgd" else RefAdam(**kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 37, 130])
@pytest.mark.parametrize("kind, kw", OPT_CASES, ids=OPT_IDS)
def test_optimizer_update_hook_matches_replay(kind, kw, size, dtype):
    rng = np.random.default_rng(size)
    p = rng.standard_normal(size).astype(dtype)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    ref = _ref_for(kind, kw)
    p_ref = p.astype(np.float64)
    hook_kw = {k: v for k, v in kw.items() if k != "lr"}
    rtol, atol = tols(dtype)
    for t in range(1, 5):
        g = rng.standard_normal(size).astype(dtype)
        g_before = g.copy()
        _hook(p, g, s1, s2, kind, kw["lr"], t=t, **hook_kw)
        p_ref = ref.update("p", p_ref, g)
        np.testing.assert_array_equal(g, g_before)
        assert p.dtype == dtype
        np.testing.assert_allclose(p, p_ref, rtol=rtol * 5, atol=atol * 5, err_msg=f"t={t}")
        if kind == "adam":
            np.testing.assert_allclose(s1, ref.m["p"], rtol=rtol, atol=atol)
            np.testing.assert_allclose(s2, ref.v["p"], rtol=rtol, atol=atol)
        elif kw.get("momentum", 0.0):
            np.testing.assert_allclose(s1, ref.buf["p"], rtol=rtol * 5, atol=atol * 5)


def test_optimizer_update_hook_rejects_bad_arguments():
    p = np.zeros(4)
    good = dict(g=np.zeros(4), state1=np.zeros(4), state2=np.zeros(4))
    states = [good["state1"], good["state2"]]
    with pytest.raises((TypeError, ValueError)):
        K.optimizer_update(p, np.zeros(4, np.float32), states, "sgd", 0.1)
    with pytest.raises(ValueError):
        K.optimizer_update(p, np.zeros(5), states, "sgd", 0.1)
    with pytest.raises(ValueError, match="lbfgs"):
        K.optimizer_update(p, good["g"], states, "lbfgs", 0.1)
    with pytest.raises(ValueError, match="states"):
        K.optimizer_update(p, good["g"], [np.zeros(3), np.zeros(4)], "adam", 0.1, hp=(0.9, 0.99, 1e-8))
    np.testing.assert_array_equal(p, 0.0)


# ---------------------------------------------------------------------------
# Through a Network: fit with an optimizer vs numpy replaying net.gradients
# ---------------------------------------------------------------------------


def _make_net(dtype, seed=3, loss="mse"):
    layers = [ln.Dense(4, 6, "tanh"), ln.Dense(6, 5, "relu"), ln.Dense(5, 3)]
    return ln.Network(layers, dtype=dtype, seed=seed, loss=loss)


def _data(dtype, n=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(dtype)
    Y = rng.standard_normal((n, 3)).astype(dtype)
    return X, Y


def _params(net):
    return [(layer.W.copy(), layer.B.copy()) for layer in net.layers]


def _make_opt(kind, kw):
    return ln.SGD(**kw) if kind == "sgd" else ln.Adam(**kw)


class _Recorder(ln.Callback):
    """Records the weights and the full-batch gradients: once when created (before fit)
    and after every epoch. (on_train_begin is left alone on purpose: its signature is
    tested separately in test_fit.py, so a mismatch there does not hide these checks.)"""

    def __init__(self, net, X, Y):
        self.X, self.Y = X, Y
        self.params, self.grads = [], []
        self._record(net)

    def _record(self, net):
        self.params.append(_params(net))
        self.grads.append([(dW.copy(), dB.copy()) for dW, dB in net.gradients(self.X, self.Y)])

    def on_epoch_end(self, net, epoch, logs):
        self._record(net)
        return False


def _replay_and_compare(ref, params0, grads_per_step, params_per_step, dtype, slack=1.0):
    rtol, atol = tols(dtype)
    rtol, atol = rtol * 50 * slack, atol * 50 * slack
    cur = [(W.astype(np.float64), B.astype(np.float64)) for W, B in params0]
    for step, (grads, got) in enumerate(zip(grads_per_step, params_per_step)):
        cur = [
            (ref.update(("W", i), W, dW), ref.update(("B", i), B, dB))
            for i, ((W, B), (dW, dB)) in enumerate(zip(cur, grads))
        ]
        for i, ((W, B), (Wg, Bg)) in enumerate(zip(cur, got)):
            np.testing.assert_allclose(Wg, W, rtol=rtol, atol=atol, err_msg=f"step {step} W{i}")
            np.testing.assert_allclose(Bg, B, rtol=rtol, atol=atol, err_msg=f"step {step} B{i}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, kw", OPT_CASES, ids=OPT_IDS)
def test_network_fit_matches_replay_of_gradients(kind, kw, dtype):
    """Full-batch fit (one step per epoch) equals the numpy optimizer fed with net.gradients."""
    X, Y = _data(dtype)
    net = _make_net(dtype)
    rec = _Recorder(net, X, Y)
    opt = _make_opt(kind, kw)
    epochs = 4
    hist = net.fit(X, Y, epochs=epochs, batch_size=len(X), optimizer=opt, shuffle=False,
                   callbacks=[rec], verbose=0)
    assert len(hist.history["loss"]) == epochs
    assert len(rec.params) == epochs + 1
    # the weights moved (an optimizer that silently does nothing must fail here)
    assert not np.array_equal(rec.params[0][0][0], rec.params[-1][0][0])
    _replay_and_compare(_ref_for(kind, kw), rec.params[0], rec.grads[:-1], rec.params[1:], dtype)
    # the network ends where the last recorded epoch left it
    for (W, B), layer in zip(rec.params[-1], net.layers):
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.B, B)
    if kind == "adam":
        assert opt.step == epochs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, kw", [OPT_CASES[4], OPT_CASES[7]], ids=["nesterov-wd", "adam-wd"])
def test_optimizer_state_persists_across_fit_calls(kind, kw, dtype):
    """Calling fit(epochs=1) repeatedly with one optimizer object continues its state."""
    X, Y = _data(dtype, seed=5)
    net = _make_net(dtype, seed=11)
    opt = _make_opt(kind, kw)
    params0 = _params(net)
    grads, params = [], []
    for _ in range(3):
        grads.append(net.gradients(X, Y))
        net.fit(X, Y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
        params.append(_params(net))
    assert net.optimizer is opt
    _replay_and_compare(_ref_for(kind, kw), params0, grads, params, dtype)
    if kind == "adam":
        assert opt.step == 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step_is_plain_sgd(dtype):
    X, Y = _data(dtype, seed=2)
    net = _make_net(dtype, seed=4)
    params0 = _params(net)
    grads = net.gradients(X, Y)
    loss_before = net.loss(X, Y)
    ret = net.train_step(X, Y, 0.07)
    rtol, _ = tols(dtype)
    assert ret == pytest.approx(loss_before, rel=rtol * 10)
    _replay_and_compare(RefSGD(0.07), params0, [grads], [_params(net)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_step_counts_minibatches(dtype):
    # 10 samples, batches of 4 -> 3 steps per epoch (the last one partial)
    X, Y = _data(dtype, n=10)
    net = _make_net(dtype)
    opt = ln.Adam(lr=1e-3)
    net.fit(X, Y, epochs=2, batch_size=4, optimizer=opt, verbose=0)
    assert opt.step == 6


def test_optimizer_defaults_and_attributes():
    sgd = ln.SGD()
    assert (sgd.lr, sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.01, 0.0, False, 0.0)
    adam = ln.Adam()
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weight_decay) == (
        1e-3, 0.9, 0.999, 1e-8, 0.0)
    assert adam.step == 0
