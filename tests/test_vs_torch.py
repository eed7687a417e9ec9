"""layernet against PyTorch itself: every loss's value and gradient, every
optimizer's and schedule's trajectory, gradient clipping, and whole training
runs of every activation and loss, in both dtypes.

PyTorch is a test oracle here, not a dependency: this module runs when torch
is installed (`pip install torch==2.13.0`); the numpy replays in
tests/test_toolkit.py and tests/test_optimizers.py check the same
definitions without it. Run with -s to print the largest difference over
each 20-step trajectory.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this module")

import layernet as ln  # noqa: E402
from layernet import _kernels as K  # noqa: E402

DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
WORST: dict[str, float] = {}


def note(name, diff):
    WORST[name] = max(WORST.get(name, 0.0), float(diff))


def tol(dtype):
    return 2e-5 if dtype == np.float32 else 1e-11


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------

def torch_loss(kind, H, T, w, delta):
    F = torch.nn.functional
    if kind == "cross_entropy":
        rows = F.cross_entropy(H, T, reduction="none")
    else:
        fn = {"mse": F.mse_loss, "mae": F.l1_loss,
              "huber": lambda a, b, reduction: F.huber_loss(a, b, reduction=reduction, delta=delta),
              "binary_cross_entropy": F.binary_cross_entropy_with_logits}[kind]
        rows = fn(H, T, reduction="none").mean(dim=1)
    return (rows * w).sum() / w.sum() if w is not None else rows.mean()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind,delta", [("mse", 1.0), ("mae", 1.0), ("huber", 0.7),
                                        ("binary_cross_entropy", 1.0), ("cross_entropy", 1.0)])
def test_loss_value_and_gradient_match_torch(dtype, kind, delta, weighted):
    rng = np.random.default_rng(1)
    H = (rng.standard_normal((17, 4)) * 2).astype(dtype)
    if kind == "binary_cross_entropy":
        T = rng.uniform(0, 1, (17, 4)).astype(dtype)
    elif kind == "cross_entropy":
        T = np.eye(4, dtype=dtype)[rng.integers(0, 4, 17)]
    else:
        T = rng.standard_normal((17, 4)).astype(dtype)
    w = rng.uniform(0.1, 2, 17).astype(dtype) if weighted else None
    value, G = K.loss(H, T, kind, w=w, param=(delta,))
    th = torch.tensor(H, requires_grad=True)
    tt = torch.tensor(T)
    tw = torch.tensor(w) if weighted else None
    loss = torch_loss(kind, th, tt, tw, delta)
    loss.backward()
    assert value == pytest.approx(loss.item(), rel=tol(dtype) * 5)
    np.testing.assert_allclose(G, th.grad.numpy(), rtol=tol(dtype) * 5, atol=tol(dtype) * 1e-2)
    note(f"loss {kind} ({np.dtype(dtype).name})", rel(G, th.grad.numpy()))


# ---------------------------------------------------------------------------
# Optimizers: 20 steps of one tensor with the same gradients
# ---------------------------------------------------------------------------

OPTIMIZERS = [
    ("sgd momentum", lambda: ln.SGD(0.05, momentum=0.9, weight_decay=0.01),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("sgd nesterov", lambda: ln.SGD(0.05, momentum=0.8, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    ("adam", lambda: ln.Adam(1e-2, weight_decay=0.01),
     lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.01)),
    ("adamw", lambda: ln.AdamW(1e-2, beta1=0.85, weight_decay=0.05),
     lambda p: torch.optim.AdamW(p, lr=1e-2, betas=(0.85, 0.999), weight_decay=0.05)),
    ("rmsprop", lambda: ln.RMSprop(1e-2, alpha=0.9),
     lambda p: torch.optim.RMSprop(p, lr=1e-2, alpha=0.9)),
    ("rmsprop momentum", lambda: ln.RMSprop(5e-3, momentum=0.7, weight_decay=0.02),
     lambda p: torch.optim.RMSprop(p, lr=5e-3, momentum=0.7, weight_decay=0.02)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,make,make_torch", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_trajectory_matches_torch(dtype, name, make, make_torch):
    rng = np.random.default_rng(2)
    p = rng.standard_normal(50).astype(dtype)
    opt = make()
    states = [np.zeros_like(p) for _ in range(opt.n_state)]
    tp = torch.nn.Parameter(torch.tensor(p.copy()))
    topt = make_torch([tp])
    for t in range(1, 21):
        g = rng.standard_normal(50).astype(dtype)
        K.optimizer_update(p, g, states, opt.kind, opt.lr, t=t, weight_decay=opt.weight_decay,
                           hp=opt.hyperparams())
        tp.grad = torch.tensor(g)
        topt.step()
    diff = rel(p, tp.detach().numpy())
    note(f"optimizer {name} ({np.dtype(dtype).name})", diff)
    assert diff < tol(dtype) * 10


# ---------------------------------------------------------------------------
# Whole networks: 20 steps of every activation and every loss
# ---------------------------------------------------------------------------

TORCH_ACT = {"identity": torch.nn.Identity, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
             "tanh": torch.nn.Tanh, "leaky_relu": lambda: torch.nn.LeakyReLU(0.01),
             "softplus": torch.nn.Softplus, "silu": torch.nn.SiLU, "gelu": torch.nn.GELU}


def twin_training(dtype, activation, loss, make_opt, make_torch_opt, clip=None, steps=20):
    rng = np.random.default_rng(3)
    n_out = 3 if loss == "cross_entropy" else 2
    net = ln.Network([ln.Dense(5, 7, activation), ln.Dense(7, 6, activation), ln.Dense(6, n_out)],
                     dtype=dtype, seed=4, loss=loss)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), TORCH_ACT[activation](), torch.nn.Linear(7, 6),
                                TORCH_ACT[activation](), torch.nn.Linear(6, n_out)).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        for lin, dense in zip([m for m in model if isinstance(m, torch.nn.Linear)], net.layers):
            lin.weight.copy_(torch.tensor(dense.W.T.copy()))
            lin.bias.copy_(torch.tensor(dense.B.copy()))
    X = rng.standard_normal((40, 5)).astype(dtype)
    if loss == "cross_entropy":
        Y = rng.integers(0, 3, 40)
        tY = torch.tensor(Y)
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (40, 2)).astype(dtype)
        tY = torch.tensor(Y)
    else:
        Y = rng.standard_normal((40, 2)).astype(dtype)
        tY = torch.tensor(Y)
    loss_fn = {"mse": torch.nn.MSELoss(), "mae": torch.nn.L1Loss(), "huber": torch.nn.HuberLoss(),
               "binary_cross_entropy": torch.nn.BCEWithLogitsLoss(),
               "cross_entropy": torch.nn.CrossEntropyLoss()}[loss]
    topt = make_torch_opt(model.parameters())
    tX = torch.tensor(X)
    for _ in range(steps):
        topt.zero_grad()
        loss_fn(model(tX), tY).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        topt.step()
    net.fit(X, Y, epochs=steps, batch_size=40, optimizer=make_opt(), shuffle=False)
    worst = 0.0
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    for lin, dense in zip(linears, net.layers):
        worst = max(worst, rel(dense.W, lin.weight.detach().numpy().T), rel(dense.B, lin.bias.detach().numpy()))
    return worst


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(TORCH_ACT))
def test_training_every_activation_matches_torch(dtype, activation):
    worst = twin_training(dtype, activation, "mse", lambda: ln.Adam(1e-2),
                          lambda p: torch.optim.Adam(p, lr=1e-2))
    note(f"activation {activation} ({np.dtype(dtype).name})", worst)
    assert worst < (2e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "binary_cross_entropy", "cross_entropy"])
def test_training_every_loss_matches_torch(dtype, loss):
    worst = twin_training(dtype, "tanh", loss, lambda: ln.AdamW(1e-2),
                          lambda p: torch.optim.AdamW(p, lr=1e-2))
    note(f"training {loss} ({np.dtype(dtype).name})", worst)
    assert worst < (2e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_norm_matches_clip_grad_norm(dtype):
    worst = twin_training(dtype, "relu", "mse", lambda: ln.RMSprop(1e-2, clip_norm=0.1),
                          lambda p: torch.optim.RMSprop(p, lr=1e-2), clip=0.1)
    note(f"clip_norm ({np.dtype(dtype).name})", worst)
    assert worst < (2e-4 if dtype == np.float32 else 1e-9)


# ---------------------------------------------------------------------------
# Schedules: the lr of 30 epochs
# ---------------------------------------------------------------------------

SCHEDULES = [
    ("step", lambda: ln.StepLR(4, gamma=0.3), lambda o: torch.optim.lr_scheduler.StepLR(o, 4, gamma=0.3)),
    ("exponential", lambda: ln.ExponentialLR(0.87),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.87)),
    ("cosine", lambda: ln.CosineAnnealingLR(12, eta_min=0.002),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 12, eta_min=0.002)),
    ("warmup", lambda: ln.LinearWarmup(6, start_factor=0.25),
     lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=6)),
]


@pytest.mark.parametrize("name,make,make_torch", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_matches_torch(name, make, make_torch):
    net = ln.Network([ln.Dense(2, 1)], dtype=np.float64)
    h = net.fit(np.ones((4, 2)), np.ones(4), epochs=30, batch_size=4, optimizer=ln.SGD(0.1),
                callbacks=[make()])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = make_torch(opt)
    expected = []
    for _ in range(30):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    diff = max(abs(a - b) / b for a, b in zip(h["lr"], expected))
    note(f"schedule {name}", diff)
    assert diff < 1e-12


def test_reduce_lr_on_plateau_matches_torch():
    values = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.5, 0.6, 0.55, 0.58, 0.57, 0.56, 0.3, 0.31, 0.32]
    sched = ln.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, cooldown=1)

    class Net:
        optimizer = ln.SGD(0.1)

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1)
    for e, v in enumerate(values):
        sched.on_epoch_end(Net, e, {"val_loss": v})
        tsched.step(v)
        assert Net.optimizer.lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-15), e


def test_zz_report_largest_differences():
    """Runs last (file order); prints the largest relative difference per check."""
    for name, diff in sorted(WORST.items()):
        print(f"  {name}: {diff:.2e}")
    assert WORST
