"""Data-parallel training over MPI (mpi4py): Network.fit(..., distributed=True).

Every rank (process) runs the same script with the same data. Each rank:

  * receives rank 0's parameters, optimizer state and step, epoch count and
    seeds when fit starts, so the ranks start alike whatever their seeds;
  * draws epoch e's permutation from (seed, e) exactly as fit does, so the
    ranks agree on it without talking;
  * takes a contiguous slice of each global batch (batch_size * size rows)
    and computes its gradient with the loss divided by the global batch's
    total weight, so the sum over the ranks is the global batch's gradient;
  * sums the flat gradient with one in-place Allreduce, then applies the
    same update as every other rank (the parameters stay identical);
  * leaves callbacks, validation, progress bars and files to rank 0, which
    broadcasts its decisions (stop, learning rate, the History row).

Errors: bad arguments or data on any rank, disagreeing ranks, an error in
rank 0's callbacks and a non-finite step reach every rank as exceptions.
Anything else that fails on one rank mid-epoch (or Ctrl-C) leaves the others
waiting in the Allreduce unless the script runs under `python -m mpi4py`:
launch with `mpiexec -n 4 python -m mpi4py script.py`, and an uncaught
exception on any rank aborts the whole job with a non-zero status.

Differences from fit on one process: the running accuracy is counted from an
inference-mode forward of each rank's rows (fit counts the training-mode
outputs, which differ only with Dropout); each rank draws its own dropout
masks; Ctrl-C is not turned into an interrupted History.

mpi4py is imported only when distributed training is asked for or a launcher
(mpiexec) started this process; rank(), size() and is_root() work without it.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from typing import Sequence

import numpy as np

from ._validation import check_int, check_positive_int, check_seed
from .callbacks import Callback, History, ProgressBar
from .losses import Loss, get_loss

__all__ = ["rank", "size", "is_root", "last_fit_timing"]

# Environment variables an MPI launcher (MPICH/Hydra, Open MPI, PMIx) sets in each process
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE")

# The rank's dropout seed: rank 0 keeps the network's, others get independent ones
_RANK_SEED_STEP = 0x9E3779B97F4A7C15

# Rank 0 visits its progress callbacks about this often inside an epoch
_PROGRESS_SECONDS = 0.2

_last_timing: dict = {}


# ---------------------------------------------------------------------------
# Communicators
# ---------------------------------------------------------------------------

def _import_mpi(required: bool):
    """mpi4py's MPI module, or None when it is missing and not required."""
    try:
        from mpi4py import MPI
    except ImportError:
        if not required:
            return None
        raise ValueError('distributed: training on several processes needs mpi4py and an MPI '
                         'library, which are not installed here; install them with '
                         'pip install "layernet[mpi]"') from None
    return MPI


def _world():
    """COMM_WORLD when this process uses MPI (mpi4py already imported, or an
    MPI launcher started it), else None; never initialises MPI otherwise."""
    if "mpi4py.MPI" in sys.modules or any(v in os.environ for v in _LAUNCHER_VARIABLES):
        MPI = _import_mpi(required=False)
        if MPI is not None:
            return MPI.COMM_WORLD
    return None


def _communicator(distributed, argument: str = "distributed"):
    """The communicator that `distributed` names: True for MPI.COMM_WORLD, or
    an mpi4py intracommunicator."""
    if isinstance(distributed, (bool, np.bool_)):
        if not distributed:
            raise ValueError(f"{argument}: expected True or a communicator, got False")
        return _import_mpi(required=True).COMM_WORLD
    if not type(distributed).__module__.startswith("mpi4py"):
        raise TypeError(f"{argument}: expected True, False or an mpi4py communicator such as "
                        f"MPI.COMM_WORLD, got {type(distributed).__name__}")
    MPI = _import_mpi(required=True)
    if not isinstance(distributed, MPI.Intracomm) or distributed == MPI.COMM_NULL:
        raise TypeError(f"{argument}: expected an mpi4py intracommunicator such as MPI.COMM_WORLD, "
                        f"got {distributed!r}")
    return distributed


def rank(comm=None) -> int:
    """This process's rank in `comm` (default: MPI.COMM_WORLD); 0 when the
    process does not run under MPI or mpi4py is not installed."""
    comm = _world() if comm is None else _communicator(comm, "comm")
    return 0 if comm is None else comm.Get_rank()


def size(comm=None) -> int:
    """The number of processes in `comm` (default: MPI.COMM_WORLD); 1 when the
    process does not run under MPI or mpi4py is not installed."""
    comm = _world() if comm is None else _communicator(comm, "comm")
    return 1 if comm is None else comm.Get_size()


def is_root(comm=None) -> bool:
    """True on rank 0, the rank that writes files and prints (and in a
    process that does not run under MPI)."""
    return rank(comm) == 0


def last_fit_timing() -> dict:
    """Where this process's last distributed fit spent its time: steps,
    seconds (the epochs' batches), allreduce_seconds (in the gradient
    Allreduce, including waiting for slower ranks), backward_seconds
    (gathering the rank's rows, forward and backward, and the running
    metric), metric_seconds (the running accuracy's extra forward, part of
    backward_seconds), update_seconds and ranks. Empty before the first
    distributed fit."""
    return dict(_last_timing)


# ---------------------------------------------------------------------------
# The settings every rank must share
# ---------------------------------------------------------------------------

def _checksum(a: np.ndarray) -> float:
    """A cheap fingerprint of an array's first, middle and last rows."""
    n = a.shape[0]
    rows = np.asarray(a[[0, n // 2, n - 1]], dtype=np.float64).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.dot(rows, np.arange(1, rows.size + 1, dtype=np.float64)))


# What _facts reports, in the order the ranks exchange it
_FACT_NAMES = ("rows", "inputs", "outputs", "parameters", "dtype size", "loss", "batch_size", "epochs",
               "shuffle", "seed", "optimizer", "optimizer states", "sample weights",
               "validation rows", "X checksum", "Y checksum", "sample weight checksum",
               "lr_scaling", "warmup_epochs")


def _facts(net, X, Y, w, val, opt, batch_size, epochs, shuffle, seed, lr_scaling,
           warmup_epochs) -> dict:
    from . import _kernels
    return {
        "rows": X.shape[0], "inputs": net.n_in, "outputs": net.n_out,
        "parameters": net._engine.param_size, "dtype size": np.dtype(net.dtype).itemsize,
        "loss": net.loss_function.c_kind, "batch_size": batch_size, "epochs": epochs,
        "shuffle": bool(shuffle), "seed": -1 if seed is None else seed,
        "optimizer": _kernels.OPTIMIZERS.index(opt.kind), "optimizer states": opt.n_state,
        "sample weights": w is not None, "validation rows": 0 if val is None else val[0].shape[0],
        "X checksum": _checksum(X), "Y checksum": _checksum(Y),
        "sample weight checksum": 0.0 if w is None else _checksum(w[:, None]),
        "lr_scaling": lr_scaling is not None, "warmup_epochs": warmup_epochs,
    }


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _agree(comm, facts: dict | None) -> str | None:
    """Allgather every rank's readiness and settings; the same message on
    every rank when one failed or the ranks disagree, else None."""
    names = _FACT_NAMES
    mine = np.full(len(names) + 1, np.nan)
    mine[0] = facts is not None
    if facts is not None:
        mine[1:] = [float(facts[k]) for k in names]
    table = np.empty((comm.Get_size(), mine.size))
    comm.Allgather(mine, table)
    failed = [r for r in range(table.shape[0]) if table[r, 0] != 1.0]
    if failed:
        return (f"distributed: rank {failed[0]} could not start training (its own error says "
                f"why); no rank trained")
    for r in range(1, table.shape[0]):
        for j, name in enumerate(names, start=1):
            if not _same(table[0, j], table[r, j]):
                return (f"distributed: the ranks disagree on {name}: rank 0 has {table[0, j]:.17g}, "
                        f"rank {r} has {table[r, j]:.17g}; every rank must call fit with the same "
                        f"arguments and the same data")
    return None


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

def _check_scaling(lr_scaling, warmup_epochs) -> int:
    if lr_scaling not in (None, "linear"):
        raise ValueError(f"lr_scaling: expected None or 'linear', got {lr_scaling!r}")
    warmup_epochs = check_int(warmup_epochs, "warmup_epochs", 0)
    if warmup_epochs and lr_scaling is None:
        raise ValueError(f"warmup_epochs: ramps the scaled learning rate, so it needs "
                         f"lr_scaling='linear'; got warmup_epochs={warmup_epochs} with lr_scaling=None")
    return warmup_epochs


def lr_factor(lr_scaling, warmup_epochs: int, ranks: int, epoch: int) -> float:
    """The learning rate's multiplier in epoch `epoch` (counted over the
    network's life): 1 without scaling; with "linear" (Goyal et al. 2017),
    `ranks`, reached by a linear ramp from 1 over the first warmup_epochs."""
    if lr_scaling is None:
        return 1.0
    if epoch >= warmup_epochs:
        return float(ranks)
    return 1.0 + (ranks - 1) * epoch / warmup_epochs


def _broadcast_status(comm, root_error: BaseException | None, where: str) -> None:
    """Tell every rank whether rank 0 hit an error; rank 0 re-raises its own."""
    flag = np.array([0.0 if root_error is None else 1.0])
    comm.Bcast(flag, root=0)
    if root_error is not None:
        raise root_error
    if flag[0]:
        raise ValueError(f"distributed: rank 0 stopped with an error {where} (its own error says "
                         f"why); every rank stopped")


def fit(net, X, Y, distributed, *, epochs: int, batch_size: int, lr, optimizer, loss,
        validation_data, validation_split: float, callbacks: Sequence[Callback] | None,
        shuffle: bool, seed: int | None, verbose: int, sample_weight, class_weight,
        lr_scaling, warmup_epochs: int) -> History:
    """Network.fit on every rank of the communicator `distributed` (True:
    MPI.COMM_WORLD). batch_size is the rows per rank in a step: a step takes
    a global batch of batch_size * size rows, as fit on one process with that
    batch size would. Returns the same History on every rank."""
    comm = _communicator(distributed)
    MPI = _import_mpi(required=True)
    me, ranks = comm.Get_rank(), comm.Get_size()
    root = me == 0

    # Every rank checks its arguments and data, then all learn whether every rank is ready.
    guard = contextlib.ExitStack()
    previous_loss = net._loss
    problem: Exception | None = None
    facts = None
    try:
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        seed = check_seed(seed)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
        verbose = check_int(verbose, "verbose", 0, 2)
        warmup_epochs = _check_scaling(lr_scaling, warmup_epochs)
        new_loss: Loss = net._loss if loss is None else get_loss(loss)
        new_loss.check_network(net.n_out)
        opt = net._resolve_optimizer(lr, optimizer)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected ln.Callback objects, got {type(cb).__name__}")
        guard.enter_context(net._training())
        net._loss = new_loss
        X, Y, w, val = net._split(X, Y, sample_weight, validation_data, validation_split)
        if class_weight is not None:
            cw = net._class_weights(class_weight, Y)
            w = cw if w is None else w * cw
        facts = _facts(net, X, Y, w, val, opt, batch_size, epochs, shuffle, seed, lr_scaling,
                       warmup_epochs)
    except Exception as exc:
        problem = exc
    try:
        disagreement = _agree(comm, facts)
    except BaseException:
        net._loss = previous_loss
        guard.close()
        raise
    if problem is not None or disagreement is not None:
        net._loss = previous_loss
        guard.close()
        if problem is not None:
            raise problem
        raise ValueError(disagreement)

    with guard:
        return _train(net, comm, MPI, X, Y, w, val, opt, callbacks if root else [], epochs,
                      batch_size, shuffle, seed, verbose if root else 0, lr_scaling,
                      warmup_epochs, me, ranks)


def _start(net, comm, opt, callbacks, seed) -> int:
    """Rank 0 begins its callbacks; then every rank takes rank 0's parameters,
    optimizer state, step, learning rate, epoch count and seeds. Returns the
    shuffling seed."""
    root = comm.Get_rank() == 0
    error = None
    if root:
        try:
            for cb in callbacks:
                cb.on_train_begin(net)
        except Exception as exc:
            error = exc
    _broadcast_status(comm, error, "as training began")
    base_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**63))
    scalars = np.array([opt.step, net.epochs_trained, net._dropout_seed, base_seed,
                        np.float64(opt.lr).view(np.uint64)], dtype=np.uint64)
    comm.Bcast(scalars, root=0)
    opt.step, net.epochs_trained, net._dropout_seed, base_seed = (int(v) for v in scalars[:4])
    opt.lr = float(scalars[4:5].view(np.float64)[0])
    comm.Bcast(net._params, root=0)
    for state in opt._state_vectors():
        comm.Bcast(state, root=0)
    return base_seed


def _train(net, comm, MPI, X, Y, w, val, opt, callbacks, epochs, batch_size, shuffle, seed,
           verbose, lr_scaling, warmup_epochs, me, ranks) -> History:
    root = me == 0
    n = X.shape[0]
    global_batch = min(batch_size * ranks, n)    # a batch never holds more rows than the data
    n_batches = -(-n // global_batch)
    if verbose:
        callbacks.insert(0, ProgressBar(verbose, epochs, n_batches))
    metric = net.loss_function.running_metric
    keys = ["loss", *([metric] if metric else []), "lr"]
    if val is not None:
        keys += ["val_loss", *(f"val_{m}" for m in net.loss_function.metric_names)]
    history = History(keys)
    net._bind_optimizer(opt)
    base_seed = _start(net, comm, opt, callbacks, seed)
    rank_seed = (net._dropout_seed + me * _RANK_SEED_STEP) % 2**64
    epoch_step = _EpochRunner(net, comm, MPI, X, Y, w, opt, callbacks, global_batch, n_batches,
                              rank_seed, me, ranks)
    failure: FloatingPointError | None = None
    try:
        for i in range(epochs):
            epoch = net.epochs_trained
            perm = (np.random.default_rng([base_seed, epoch]).permutation(n) if shuffle
                    else np.arange(n)).astype(np.int64)
            unscaled = opt.lr
            opt.lr = unscaled * lr_factor(lr_scaling, warmup_epochs, ranks, epoch)
            lr_used = opt.lr
            try:
                logs = epoch_step.run(perm, f"at epoch {i + 1} of {epochs} in this call")
            except FloatingPointError as exc:   # raised on every rank at the same step
                failure = exc
                break
            finally:
                opt.lr = unscaled
            logs["lr"] = lr_used
            net.epochs_trained += 1
            if _end_epoch(net, comm, history, callbacks, val, keys, epoch, logs):
                history.stopped_early = True
                break
    except BaseException:
        if root:            # close the progress bar; no collective call on this path
            for cb in callbacks:
                with contextlib.suppress(Exception):
                    cb.on_train_end(net)
        raise
    error = None
    if root:
        try:
            for cb in callbacks:
                cb.on_train_end(net)
        except Exception as exc:
            error = exc
    comm.Bcast(net._params, root=0)         # on_train_end may restore the best parameters
    _broadcast_status(comm, error, "as training ended")
    _last_timing.clear()
    _last_timing.update(epoch_step.timing)
    if failure is not None:
        raise failure
    return history


def _end_epoch(net, comm, history, callbacks, val, keys, epoch, logs) -> bool:
    """Rank 0 validates, records and runs the callbacks, then broadcasts the
    History row, its stop decision and the learning rate. Returns stop."""
    root = comm.Get_rank() == 0
    packet = np.zeros(3 + len(keys))
    error = None
    if root:
        try:
            if val is not None:
                logs.update({"val_" + k: v for k, v in net.evaluate(*val).items()})
            history._record(epoch, logs)
            stop = False
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(net, epoch, logs)) or stop
            packet[1], packet[2] = stop, net.optimizer.lr
            packet[3:] = [logs[k] for k in keys]
        except Exception as exc:
            error, packet[0] = exc, 1.0
    comm.Bcast(packet, root=0)
    if error is not None:
        raise error
    if packet[0]:
        raise ValueError(f"distributed: rank 0 stopped with an error in validation or a callback "
                         f"after epoch {epoch + 1} (its own error says why); every rank stopped")
    if not root:
        history._record(epoch, dict(zip(keys, packet[3:].tolist())))
        net.optimizer.lr = float(packet[2])
    return bool(packet[1])


class _EpochRunner:
    """One rank's share of an epoch's steps: gather its rows, backward, one
    Allreduce of the flat gradient, the update."""

    def __init__(self, net, comm, MPI, X, Y, w, opt, callbacks, global_batch, n_batches,
                 rank_seed, me, ranks):
        self.net, self.comm, self.MPI = net, comm, MPI
        self.X, self.Y, self.w, self.opt = X, Y, w, opt
        self.callbacks = callbacks
        self.global_batch, self.n_batches = global_batch, n_batches
        self.rank_seed, self.me, self.ranks = rank_seed, me, ranks
        self.engine = net._engine
        self.workspace = self.engine.new_workspace()
        # The gradient of a rank that has no rows in a batch
        self.zero_grad = np.zeros(self.engine.param_size, dtype=net.dtype)
        loss = net.loss_function
        self.kind, self.params = loss.c_kind, loss.c_params()
        self.loss = loss
        self.metric = loss.running_metric
        self.timing = {"ranks": ranks, "steps": 0, "seconds": 0.0, "allreduce_seconds": 0.0,
                       "backward_seconds": 0.0, "metric_seconds": 0.0, "update_seconds": 0.0}

    def run(self, perm: np.ndarray, where: str) -> dict:
        X, Y, w, opt, engine = self.X, self.Y, self.w, self.opt, self.engine
        n, ranks, me = X.shape[0], self.ranks, self.me
        states = opt._state_vectors()
        in_place, add = self.MPI.IN_PLACE, self.MPI.SUM
        loss_sum = local_weight = weight_sum = 0.0
        hits = units = 0
        timing = self.timing
        clock = time.perf_counter
        started = last_visit = clock()
        for b in range(self.n_batches):
            start = b * self.global_batch
            stop = min(start + self.global_batch, n)
            m = stop - start
            lo, hi = start + m * me // ranks, start + m * (me + 1) // ranks
            # The loss's divisor: the global batch's total weight, summed as C sums it
            denom = float(m) if w is None else float(np.cumsum(w[perm[start:stop]],
                                                               dtype=np.float64)[-1])
            t0 = clock()
            if hi > lo:
                rows = perm[lo:hi]
                Xb, Yb = X[rows], Y[rows]
                wb = None if w is None else w[rows]
                result = engine.backward_into(self.workspace, Xb, Yb, wb, self.kind, self.params,
                                              denom, seed=self.rank_seed, step=opt.step + 1)
                if result is None:
                    raise TypeError("fit: a batch's rows could not be passed to the engine "
                                    "(X, Y or the weights changed layout after validation)")
                value, grad = result
                if not math.isfinite(value):
                    grad.fill(np.nan)       # every rank's update then refuses this step
                loss_sum += value * denom
                local_weight += (hi - lo) if wb is None else float(np.sum(wb, dtype=np.float64))
                t_metric = clock()
                if self.metric is not None:
                    # An inference-mode forward: backward_into does not hand back its outputs
                    right, count = self.loss.hits(engine.predict(Xb, False), Yb)
                    hits += right
                    units += count
                timing["metric_seconds"] += clock() - t_metric
            else:
                grad = self.zero_grad
                grad.fill(0)
            t1 = clock()
            self.comm.Allreduce(in_place, grad, op=add)
            t2 = clock()
            try:
                engine.update(opt, states, grad)
            except FloatingPointError:
                raise FloatingPointError(
                    f"fit: the loss, a gradient or an updated parameter became non-finite {where}, "
                    f"batch {b + 1} of {self.n_batches}; the network holds the parameters of the "
                    f"step before (try a smaller lr, or clip_norm on the optimizer)") from None
            t3 = clock()
            timing["backward_seconds"] += t1 - t0   # includes the metric's forward
            timing["allreduce_seconds"] += t2 - t1
            timing["update_seconds"] += t3 - t2
            timing["steps"] += 1
            weight_sum += denom
            if self.callbacks and t3 - last_visit >= _PROGRESS_SECONDS:
                last_visit = t3
                for cb in self.callbacks:   # rank 0's own running loss
                    cb.on_batches_end(self.net, b + 1, loss_sum / max(local_weight, 1e-300))
        # The epoch's metrics over every rank's rows
        totals = np.array([loss_sum, hits, units], dtype=np.float64)
        self.comm.Allreduce(in_place, totals, op=add)
        timing["seconds"] += clock() - started
        if self.callbacks:
            for cb in self.callbacks:
                cb.on_batches_end(self.net, self.n_batches, totals[0] / weight_sum)
        logs = {"loss": totals[0] / weight_sum}
        if self.metric:
            logs[self.metric] = totals[1] / totals[2] if totals[2] else math.nan
        return logs
