"""Run under MPI (tests/test_distributed.py launches it with 2 ranks):
data-parallel fit on every rank versus fit on one process with the global
batch size.

Each case builds the network with a seed that differs by rank (so only the
broadcast at the start can make the ranks agree), trains with
distributed=True and batch_size=b, and compares with a fit on rank 0 alone of
the rank-0-seeded network with batch_size=b * size. Rank 0 prints one JSON
line per case: the largest parameter difference relative to the largest
parameter, the largest relative History difference, and whether every rank
ended with bit-identical parameters.
"""
import json
import sys

import numpy as np
from mpi4py import MPI

import layernet as ln

comm = MPI.COMM_WORLD
RANK, SIZE = comm.Get_rank(), comm.Get_size()


def make_net(loss, dtype, seed, n_in=5, n_out=3):
    layers = [ln.Dense(n_in, 8, activation="tanh"), ln.Dense(8, 6, activation="relu"),
              ln.Dense(6, n_out)]
    return ln.Network(layers, dtype=dtype, seed=seed, loss=loss)


def data(n, loss, dtype, n_in=5, n_out=3):
    rng = np.random.default_rng(42)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if loss == "cross_entropy":
        Y = rng.integers(0, n_out, size=n)
    elif loss == "binary_cross_entropy":
        Y = (rng.random(size=(n, n_out)) < 0.4).astype(dtype)
    else:
        Y = rng.normal(size=(n, n_out)).astype(dtype)
    return X, Y


def rel_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b))) / scale


def history_diff(h1, h2):
    if set(h1) != set(h2) or h1.epoch != h2.epoch:
        return float("inf")
    worst = 0.0
    for key in h1:
        a, b = np.array(h1[key]), np.array(h2[key])
        if a.shape != b.shape:
            return float("inf")
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300), initial=0.0)))
    return worst


def identical_on_every_rank(params):
    everyone = np.empty((SIZE, params.size), dtype=params.dtype)
    comm.Allgather(params, everyone)
    return bool(all(np.array_equal(everyone[0], everyone[r]) for r in range(SIZE)))


def run_case(name, *, loss="mse", dtype=np.float64, n=203, b=16, make_opt, epochs=(3,),
             fit_kwargs=None, weighted=False, validation=False, scaling=None):
    fit_kwargs = dict(fit_kwargs or {})
    X, Y = data(n, loss, dtype)
    if weighted:
        fit_kwargs["sample_weight"] = np.random.default_rng(7).uniform(0.2, 2.0, size=n)
    if validation:
        Xv, Yv = data(37, loss, dtype)
        fit_kwargs["validation_data"] = (Xv, Yv)

    net = make_net(loss, dtype, seed=100 + RANK)
    histories = []
    for i, count in enumerate(epochs):
        extra = {"optimizer": make_opt()} if i == 0 else {}
        if scaling:
            extra.update(lr_scaling="linear", warmup_epochs=scaling)
        histories.append(net.fit(X, Y, epochs=count, batch_size=b, seed=11, distributed=True,
                                 **extra, **fit_kwargs))
    same = identical_on_every_rank(net._params)

    if RANK == 0:
        oracle = make_net(loss, dtype, seed=100)
        opt = make_opt()
        base_lr = opt.lr
        expected = []
        for count in epochs:
            if not scaling:
                expected.append(oracle.fit(X, Y, epochs=count, batch_size=b * SIZE, seed=11,
                                           optimizer=opt, **fit_kwargs))
                continue
            # Linear scaling with warm-up, epoch by epoch: lr * (1 + (size - 1) * e / warmup)
            hist = ln.History()
            for _ in range(count):
                e = oracle.epochs_trained
                opt.lr = base_lr * (SIZE if e >= scaling else 1 + (SIZE - 1) * e / scaling)
                h = oracle.fit(X, Y, epochs=1, batch_size=b * SIZE, seed=11, optimizer=opt,
                               **fit_kwargs)
                hist._record(h.epoch[0], {k: v[0] for k, v in h.items()})
                opt.lr = base_lr
            expected.append(hist)
        report = {
            "case": name,
            "param_rel_err": rel_diff(net._params, oracle._params),
            "history_rel_err": max(history_diff(h, e) for h, e in zip(histories, expected)),
            "ranks_identical": same,
            "epochs_trained": net.epochs_trained,
            "lr": [v for h in histories for v in h["lr"]],
            "loss": [v for h in histories for v in h["loss"]],
        }
        print(json.dumps(report), flush=True)


CASES = {
    "mse_sgd": dict(make_opt=lambda: ln.SGD(0.05)),
    "mse_adam": dict(make_opt=lambda: ln.Adam(0.01)),
    # 193 rows in global batches of 32: the last batch has one row, so rank 0 has none
    "ce_sgd_momentum": dict(loss="cross_entropy", n=193, make_opt=lambda: ln.SGD(0.1, momentum=0.9)),
    "ce_adam": dict(loss="cross_entropy", n=193, make_opt=lambda: ln.Adam(0.01)),
    "ce_adam_resumed": dict(loss="cross_entropy", make_opt=lambda: ln.Adam(0.01), epochs=(2, 1)),
    "bce_weighted_validation": dict(loss="binary_cross_entropy", make_opt=lambda: ln.RMSprop(0.01),
                                    weighted=True, validation=True),
    "mse_float32": dict(dtype=np.float32, make_opt=lambda: ln.Adam(0.01)),
    "mse_linear_scaling": dict(make_opt=lambda: ln.SGD(0.02), scaling=2),
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    for case in names:
        run_case(case, **CASES[case])
