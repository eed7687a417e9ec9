"""Shared definitions for layernet's benchmarks.

What lives here: the workloads (GEMM sizes, the four training networks, the
predict network, the call-overhead network), thread control for every library,
and one factory per (library, task) that returns a zero-argument callable doing
exactly one unit of work (one GEMM, one training step, one predict). The
pytest-benchmark files and bench/report.py (through bench/_worker.py) both time
these callables, so every number compares the same work. ``report_workloads``
describes the report's workloads as plain JSON-ready dicts, which is how the
report hands a workload to a worker process.

The peers:

* numpy: the obvious efficient step. Buffers are preallocated per batch size,
  the products go through ``np.matmul(..., out=...)`` and the updates are
  in place.
* PyTorch eager: ``torch.nn.Linear`` + ``ReLU``, ``F.mse_loss`` (mean),
  ``backward()``, then a plain SGD update applied in place under
  ``torch.no_grad`` (cheaper per step than ``torch.optim.SGD``'s bookkeeping
  on small networks; the arithmetic is the same). Optional.
* scikit-learn: ``MLPRegressor.partial_fit`` with solver="sgd", no momentum and
  no L2 penalty, as an extra reference for training. Optional.

All networks have ReLU hidden layers, an identity output layer, MSE loss (mean
over all elements) and plain SGD. Every implementation of one workload starts
from the same weights, so their first losses can be compared (see
``agreement``), which guards against timing something that computes the
wrong thing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------
DTYPES = {"float32": np.float32, "float64": np.float64}

GEMM_SIZES = (64, 128, 256, 512, 1024, 2048)


@dataclass(frozen=True)
class TrainWorkload:
    sizes: tuple          # layer widths, input first: (n_in, hidden..., n_out)
    batch: int
    lr: float = 1e-3

    @property
    def name(self) -> str:
        return "-".join(str(s) for s in self.sizes)

    @property
    def id(self) -> str:
        return f"{self.name}/b{self.batch}"

    @property
    def flops(self) -> float:
        """Multiply-add flops of one step: forward X@W, backward X.T@A and
        A@W.T (the first layer needs no input gradient)."""
        return train_flops(self.sizes, self.batch)


TRAIN_WORKLOADS = (
    TrainWorkload((2, 16, 1), 32, lr=1e-2),                # overhead-bound
    TrainWorkload((64, 128, 64, 1), 64, lr=1e-2),
    TrainWorkload((784, 256, 128, 10), 128, lr=1e-2),
    TrainWorkload((1024, 2048, 2048, 1024), 1024, lr=1e-3),  # GEMM-bound
)

PREDICT_SIZES = (784, 256, 128, 10)
PREDICT_BATCHES = (1, 64, 4096)
# A small network at a mid-size batch: work a second thread barely repays,
# and so the shape most exposed to a busy core (--contention).
PREDICT_SMALL = ((32, 64, 4), 512)


def _pairs(sizes):
    return list(zip(sizes[:-1], sizes[1:]))


def predict_flops(sizes, batch: int) -> float:
    return float(sum(2 * batch * a * b for a, b in _pairs(sizes)))


def train_flops(sizes, batch: int) -> float:
    pairs = _pairs(sizes)
    total = 3 * predict_flops(sizes, batch)          # forward, dW, dX
    total -= 2 * batch * pairs[0][0] * pairs[0][1]   # no dX for the first layer
    return float(total)


def gemm_flops(n: int) -> float:
    return 2.0 * n ** 3


# ---------------------------------------------------------------------------
# Data and initial parameters (shared by every implementation)
# ---------------------------------------------------------------------------
def make_data(sizes, batch: int, dtype=np.float32, seed: int = 0):
    """X (batch, n_in) ~ N(0, 1) and targets Y (batch, n_out) ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    Y = rng.standard_normal((batch, sizes[-1])).astype(dtype)
    return X, Y


def init_params(sizes, dtype=np.float32, seed: int = 1):
    """[(W (n_in, n_out), B (n_out,)), ...], He-normal weights, small biases."""
    rng = np.random.default_rng(seed)
    params = []
    for a, b in _pairs(sizes):
        W = (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(dtype)
        B = (0.01 * rng.standard_normal(b)).astype(dtype)
        params.append((W, B))
    return params


def gemm_operands(n: int, dtype=np.float32, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    C = np.empty((n, n), dtype=dtype)
    return A, B, C


# ---------------------------------------------------------------------------
# Optional peers and thread control
# ---------------------------------------------------------------------------
IMPLS = ("layernet", "numpy", "torch", "sklearn")


def _try_import(name):
    try:
        return __import__(name)
    except Exception:     # ImportError, or a broken install raising something else
        return None


def torch_module():
    return _try_import("torch")


def sklearn_available() -> bool:
    return _try_import("sklearn") is not None


def available(impl: str) -> bool:
    if impl in ("layernet", "numpy"):
        return True
    if impl == "torch":
        return torch_module() is not None
    if impl == "sklearn":
        return sklearn_available()
    raise ValueError(f"impl: expected one of {IMPLS}, got {impl!r}")


_blas_limiter = None


def threadpoolctl_available() -> bool:
    # BENCH_NO_THREADPOOLCTL=1 exercises the path used when it is not installed.
    if os.environ.get("BENCH_NO_THREADPOOLCTL"):
        return False
    return _try_import("threadpoolctl") is not None


def set_threads(n: int) -> dict:
    """Use `n` threads in layernet, numpy's BLAS (through threadpoolctl; without
    it the BLAS keeps the count it read from OPENBLAS_NUM_THREADS & co. at import)
    and torch. Returns what each library reports afterwards."""
    global _blas_limiter
    import layernet as ln
    ln.set_num_threads(n)
    got = {"layernet": ln.get_num_threads()}
    if threadpoolctl_available():
        from threadpoolctl import threadpool_info, threadpool_limits
        if _blas_limiter is not None:
            _blas_limiter.restore_original_limits()
        # Only the BLAS: layernet's and torch's thread pools are set through their own APIs.
        _blas_limiter = threadpool_limits(limits=n, user_api="blas")
        blas = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        got["numpy"] = blas[0] if blas else None
    else:
        got["numpy"] = int(os.environ.get("OPENBLAS_NUM_THREADS", "0")) or None
    torch = torch_module()
    if torch is not None:
        torch.set_num_threads(n)
        got["torch"] = torch.get_num_threads()
    return got


# ---------------------------------------------------------------------------
# GEMM: C = A @ B into a preallocated C
# ---------------------------------------------------------------------------
def make_gemm(impl: str, n: int, dtype=np.float32):
    A, B, C = gemm_operands(n, dtype)
    if impl == "layernet":
        from layernet import _kernels as K
        gemm = K.gemm
        return lambda: gemm(A, B, C)
    if impl == "numpy":
        matmul = np.matmul
        return lambda: matmul(A, B, out=C)
    if impl == "torch":
        torch = torch_module()
        At, Bt, Ct = torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(C)
        mm = torch.mm
        return lambda: mm(At, Bt, out=Ct)
    raise ValueError(f"impl: no GEMM for {impl!r}")


# ---------------------------------------------------------------------------
# numpy MLP: preallocated buffers, in-place updates
# ---------------------------------------------------------------------------
class NumpyMLP:
    """ReLU hidden layers, identity output, MSE (mean), plain SGD; the obvious
    numpy implementation with every buffer allocated once per batch size."""

    def __init__(self, params):
        self.W = [W.copy() for W, _ in params]
        self.B = [B.copy() for _, B in params]
        self.dtype = self.W[0].dtype
        self._bufs = {}

    def _buffers(self, n):
        bufs = self._bufs.get(n)
        if bufs is None:
            dt = self.dtype
            H = [np.empty((n, W.shape[1]), dt) for W in self.W]       # layer outputs
            G = [np.empty((n, W.shape[1]), dt) for W in self.W]       # dL/dZ per layer
            mask = [np.empty((n, W.shape[1]), bool) for W in self.W[:-1]]
            dW = [np.empty_like(W) for W in self.W]
            dB = [np.empty_like(B) for B in self.B]
            bufs = self._bufs[n] = (H, G, mask, dW, dB)
        return bufs

    def predict(self, X):
        H = self._buffers(X.shape[0])[0]
        last = len(self.W) - 1
        prev = X
        for i, (W, B) in enumerate(zip(self.W, self.B)):
            np.matmul(prev, W, out=H[i])
            H[i] += B
            if i < last:
                np.maximum(H[i], 0, out=H[i])
            prev = H[i]
        return H[-1]

    def train_step(self, X, Y, lr):
        H, G, mask, dW, dB = self._buffers(X.shape[0])
        out = self.predict(X)
        g = G[-1]
        np.subtract(out, Y, out=g)
        flat = g.reshape(-1)
        loss = float(np.dot(flat, flat)) / flat.size
        g *= 2.0 / flat.size
        for i in range(len(self.W) - 1, -1, -1):
            prev = H[i - 1] if i else X
            np.matmul(prev.T, G[i], out=dW[i])
            np.sum(G[i], axis=0, out=dB[i])
            if i:
                np.matmul(G[i], self.W[i].T, out=G[i - 1])      # before W[i] changes
                np.greater(H[i - 1], 0, out=mask[i - 1])        # ReLU'(Z) from its output
                np.multiply(G[i - 1], mask[i - 1], out=G[i - 1])
            dW[i] *= lr
            self.W[i] -= dW[i]
            dB[i] *= lr
            self.B[i] -= dB[i]
        return loss


# ---------------------------------------------------------------------------
# PyTorch eager MLP
# ---------------------------------------------------------------------------
def _torch_model(params):
    torch = torch_module()
    dtype = torch.float32 if params[0][0].dtype == np.float32 else torch.float64
    mods = []
    for i, (W, B) in enumerate(params):
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(B))
        mods.append(lin)
        if i < len(params) - 1:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


class TorchMLP:
    def __init__(self, params):
        self.torch = torch_module()
        self.model = _torch_model(params)
        self.params = list(self.model.parameters())

    def predict(self, Xt):
        with self.torch.inference_mode():
            return self.model(Xt)

    def train_step(self, Xt, Yt, lr):
        torch = self.torch
        for p in self.params:
            p.grad = None
        loss = torch.nn.functional.mse_loss(self.model(Xt), Yt)
        loss.backward()
        with torch.no_grad():
            for p in self.params:
                p.add_(p.grad, alpha=-lr)
        return loss.item()


# ---------------------------------------------------------------------------
# Factories: one zero-argument callable per (impl, workload)
# ---------------------------------------------------------------------------
def _layernet_net(params, dtype):
    import layernet as ln
    n = len(params)
    layers = [ln.Dense(W.shape[0], W.shape[1], activation="relu" if i < n - 1 else None)
              for i, (W, _) in enumerate(params)]
    net = ln.Network(layers, dtype=dtype, loss="mse")
    for layer, (W, B) in zip(net.layers, params):
        layer.W = W
        layer.B = B
    return net


def _sklearn_model(params, X, Y, lr):
    """An MLPRegressor initialised by one partial_fit, then given our weights."""
    import warnings
    from sklearn.neural_network import MLPRegressor
    hidden = tuple(W.shape[1] for W, _ in params[:-1])
    model = MLPRegressor(hidden_layer_sizes=hidden, activation="relu", solver="sgd",
                         learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False,
                         alpha=0.0, batch_size=X.shape[0], shuffle=False, random_state=0)
    y = Y.ravel() if Y.shape[1] == 1 else Y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X, y)
    for i, (W, B) in enumerate(params):
        model.coefs_[i][...] = W
        model.intercepts_[i][...] = B
    return model, y


def make_train_step(impl: str, workload: TrainWorkload, dtype=np.float32):
    """A zero-argument callable doing one training step of `workload`; it returns
    the loss before the update (MSE mean over all elements)."""
    X, Y = make_data(workload.sizes, workload.batch, dtype)
    params = init_params(workload.sizes, dtype)
    lr = workload.lr
    if impl == "layernet":
        net = _layernet_net(params, dtype)
        step = net.train_step
        return lambda: step(X, Y, lr)
    if impl == "numpy":
        mlp = NumpyMLP(params)
        step = mlp.train_step
        return lambda: step(X, Y, lr)
    if impl == "torch":
        torch = torch_module()
        mlp = TorchMLP(params)
        Xt, Yt = torch.from_numpy(X.copy()), torch.from_numpy(Y.copy())
        step = mlp.train_step
        return lambda: step(Xt, Yt, lr)
    if impl == "sklearn":
        model, y = _sklearn_model(params, X, Y, lr)
        fit = model.partial_fit

        def step():
            fit(X, y)
            return 2.0 * model.loss_    # sklearn's squared_error is half the MSE
        return step
    raise ValueError(f"impl: expected one of {IMPLS}, got {impl!r}")


def make_predict(impl: str, sizes, batch: int, dtype=np.float32):
    """A zero-argument callable computing the network's output for one batch."""
    X, _ = make_data(sizes, batch, dtype)
    params = init_params(sizes, dtype)
    if impl == "layernet":
        predict = _layernet_net(params, dtype).predict
        return lambda: predict(X)
    if impl == "numpy":
        predict = NumpyMLP(params).predict
        return lambda: predict(X)
    if impl == "torch":
        torch = torch_module()
        mlp = TorchMLP(params)
        Xt = torch.from_numpy(X.copy())
        predict = mlp.predict
        return lambda: predict(Xt)
    raise ValueError(f"impl: no predict for {impl!r}")


# ---------------------------------------------------------------------------
# The report's workloads, as JSON-ready specs (a worker process gets one)
# ---------------------------------------------------------------------------
SECTIONS = ("train", "predict", "gemm", "overhead")
OVERHEAD_SIZES = (1, 1)           # one 1-1 layer: the call costs nothing but its boundary
OVERHEAD_LR = 1e-2
REPORT_GEMM_N = 1024
PREDICT_PEERS = ("layernet", "numpy", "torch")
GEMM_PEERS = ("layernet", "numpy", "torch")
# sklearn's partial_fit spends its time validating input, which says nothing about a boundary.
OVERHEAD_PEERS = ("layernet", "numpy", "torch")


def _train_spec(section, wl: TrainWorkload, peers) -> dict:
    key = wl.id if section == "train" else f"train step {wl.id}"
    return {"section": section, "key": key, "task": "train", "sizes": list(wl.sizes),
            "batch": wl.batch, "lr": wl.lr, "dtype": "float32", "peers": list(peers)}


def _predict_spec(section, sizes, batch, peers) -> dict:
    name = "-".join(map(str, sizes)) + f"/b{batch}"
    key = name if section == "predict" else f"predict {name}"
    return {"section": section, "key": key, "task": "predict", "sizes": list(sizes),
            "batch": batch, "dtype": "float32", "peers": list(peers)}


def _gemm_spec(dtype_name, n) -> dict:
    return {"section": "gemm", "key": f"{dtype_name} n={n}", "task": "gemm", "n": n,
            "dtype": dtype_name, "peers": list(GEMM_PEERS)}


def report_workloads(section: str, quick: bool = False) -> list:
    """The workloads bench/report.py measures in `section` (one of SECTIONS);
    `quick` keeps one or two per section for a smoke run."""
    if section == "train":
        chosen = TRAIN_WORKLOADS[:1] if quick else TRAIN_WORKLOADS
        return [_train_spec("train", wl, IMPLS) for wl in chosen]
    if section == "predict":
        batches = (1,) if quick else PREDICT_BATCHES
        specs = [_predict_spec("predict", PREDICT_SIZES, b, PREDICT_PEERS) for b in batches]
        return specs if quick else specs + [_predict_spec("predict", *PREDICT_SMALL, PREDICT_PEERS)]
    if section == "gemm":
        dtypes = ("float32",) if quick else tuple(DTYPES)
        return [_gemm_spec(dt, REPORT_GEMM_N) for dt in dtypes]
    if section == "overhead":
        specs = [_predict_spec("overhead", OVERHEAD_SIZES, 1, OVERHEAD_PEERS),
                 _train_spec("overhead", TrainWorkload(OVERHEAD_SIZES, 1, OVERHEAD_LR),
                             OVERHEAD_PEERS)]
        return specs[1:] if quick else specs
    raise ValueError(f"section: expected one of {SECTIONS}, got {section!r}")


def spec_flops(spec: dict) -> float:
    """Multiply-add flops of one call of the spec's work (matrix products only)."""
    if spec["task"] == "gemm":
        return gemm_flops(spec["n"])
    if spec["task"] == "train":
        return train_flops(spec["sizes"], spec["batch"])
    if spec["task"] == "predict":
        return predict_flops(spec["sizes"], spec["batch"])
    raise ValueError(f"task: expected 'train', 'predict' or 'gemm', got {spec['task']!r}")


def make_callable(spec: dict, impl: str):
    """The zero-argument callable doing one unit of the spec's work in `impl`."""
    dtype = DTYPES[spec["dtype"]]
    if spec["task"] == "gemm":
        return make_gemm(impl, spec["n"], dtype)
    if spec["task"] == "train":
        wl = TrainWorkload(tuple(spec["sizes"]), spec["batch"], spec["lr"])
        return make_train_step(impl, wl, dtype)
    if spec["task"] == "predict":
        return make_predict(impl, tuple(spec["sizes"]), spec["batch"], dtype)
    raise ValueError(f"task: expected 'train', 'predict' or 'gemm', got {spec['task']!r}")


def agreement(spec: dict, impls) -> dict:
    """What each of `impls` computes for the spec's work, to compare peers:
    {"metric": ..., "tolerance": ..., "rule": the tolerance in words,
    "values": {impl: number}, "errors": {impl: message}}.

    train: the first-step loss (numpy's is the reference); predict: the largest
    absolute difference from numpy's output; gemm: the largest difference from
    numpy's product relative to its largest entry. One failing impl does not
    stop the others."""
    dtype = DTYPES[spec["dtype"]]
    values, errors = {}, {}
    if spec["task"] == "train":
        metric, tol = "first-step loss (must match numpy's)", 1e-3
        rule = "first-step losses within 1e-3 (relative) of numpy's"
        for impl in ["numpy"] + [i for i in impls if i != "numpy"]:
            try:
                values[impl] = float(make_callable(spec, impl)())
            except Exception as exc:      # one broken peer must not hide the others' results
                errors[impl] = f"{type(exc).__name__}: {exc}"
        return {"metric": metric, "tolerance": tol, "rule": rule, "values": values,
                "errors": errors}
    ref = np.array(make_callable(spec, "numpy")(), dtype=np.float64, copy=True)
    if spec["task"] == "predict":
        metric, tol, scale = "max |output - numpy's|", 1e-3, 1.0
        rule = "predict outputs within 1e-3 of numpy's"
    else:
        metric = "max |C - numpy's C| / max |numpy's C|"
        tol = 1e-4 if dtype == np.float32 else 1e-10
        scale = max(1.0, float(np.max(np.abs(ref))))
        rule = (f"GEMM {spec['dtype']} results within {tol:.0e} of numpy's, relative to its "
                f"largest entry")
    for impl in impls:
        if impl == "numpy":
            continue
        try:
            got = make_callable(spec, impl)()
            got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
            values[impl] = float(np.max(np.abs(got.astype(np.float64) - ref))) / scale
        except Exception as exc:
            errors[impl] = f"{type(exc).__name__}: {exc}"
    return {"metric": metric, "tolerance": tol, "rule": rule, "values": values, "errors": errors}
