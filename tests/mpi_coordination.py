"""Run under MPI (tests/test_distributed.py launches it with 2 ranks, without
`-m mpi4py`, so that a rank left waiting would hang the job): decisions
taken on rank 0 and errors that every rank must learn about.

Every rank writes one JSON line per scenario, tagged with its rank, to
ARGV1/report-rank<r>.jsonl (files of their own: the ranks' stdout lines can
interleave); the checkpoint scenario writes into ARGV1/checkpoints.
"""
import json
import os
import sys

import numpy as np
from mpi4py import MPI

import layernet as ln
import layernet.distributed as dist

comm = MPI.COMM_WORLD
RANK = comm.Get_rank()
OUT_DIR = sys.argv[1]
CHECKPOINTS = os.path.join(OUT_DIR, "checkpoints")
os.makedirs(CHECKPOINTS, exist_ok=True)
REPORT = open(os.path.join(OUT_DIR, f"report-rank{RANK}.jsonl"), "w")


def say(scenario, **fields):
    REPORT.write(json.dumps({"scenario": scenario, "rank": RANK, **fields}) + "\n")
    REPORT.flush()


def make_net(seed):
    return ln.Network([ln.Dense(4, 6, activation="tanh"), ln.Dense(6, 2)], dtype=np.float64,
                      seed=seed)


rng = np.random.default_rng(3)
X = rng.normal(size=(90, 4))
Y = rng.normal(size=(90, 2))


def checksum_everywhere(params):
    everyone = np.empty((comm.Get_size(), params.size))
    comm.Allgather(params, everyone)
    return bool(all(np.array_equal(everyone[0], row) for row in everyone))


def error_of(call):
    try:
        call()
    except Exception as exc:    # the scenario reports what each rank raised
        return type(exc).__name__, str(exc)
    return None, None


# The helpers, under mpiexec
say("identity", rank_fn=dist.rank(), size_fn=dist.size(), is_root=dist.is_root(),
    rank_comm=dist.rank(MPI.COMM_WORLD), size_self=dist.size(MPI.COMM_SELF))


# A communicator of one process (each rank alone): the same parameters as fit
# without MPI at the same batch size.
alone, plain = make_net(seed=4), make_net(seed=4)
alone.fit(X, Y, epochs=2, batch_size=8, optimizer=ln.Adam(0.01), distributed=MPI.COMM_SELF)
plain.fit(X, Y, epochs=2, batch_size=8, optimizer=ln.Adam(0.01))
say("comm_self", rel_err=float(np.max(np.abs(alone._params - plain._params))
                               / np.max(np.abs(plain._params))))


# A stop decided on rank 0 alone: rank 1's callback object is never called, yet
# rank 1 stops at the same epoch.
class StopOnRankZero(ln.Callback):
    def __init__(self):
        self.calls = 0

    def on_epoch_end(self, net, epoch, logs):
        self.calls += 1
        return dist.rank() == 0 and self.calls == 2


net = make_net(seed=RANK)
stopper = StopOnRankZero()
history = net.fit(X, Y, epochs=10, batch_size=8, lr=0.05, callbacks=[stopper], distributed=True)
say("early_stop", epochs_run=len(history["loss"]), stopped_early=history.stopped_early,
    callback_calls=stopper.calls, identical=checksum_everywhere(net._params),
    epochs_trained=net.epochs_trained)

# EarlyStopping with restore_best on rank 0, and a schedule: the restored
# parameters and rank 0's learning rates reach every rank.
net = make_net(seed=RANK)
stopping = ln.EarlyStopping(monitor="val_loss", patience=0, restore_best=True, min_delta=1e9)
schedule = ln.StepLR(step_size=1, gamma=0.5)
history = net.fit(X, Y, epochs=5, batch_size=8, lr=0.05, validation_split=0.2,
                  callbacks=[schedule, stopping], distributed=True)
say("restore_best", epochs_run=len(history["loss"]), lr=history["lr"],
    val_loss=history["val_loss"], identical=checksum_everywhere(net._params),
    optimizer_lr=net.optimizer.lr)

# Checkpoints are written by rank 0 only.
path = os.path.join(CHECKPOINTS, "ckpt-{epoch}.npz")
net = make_net(seed=0)
net.fit(X, Y, epochs=2, batch_size=8, lr=0.05, callbacks=[ln.ModelCheckpoint(path)],
        distributed=True)
comm.Barrier()
say("checkpoint", files=sorted(os.listdir(CHECKPOINTS)))

# Bad data on rank 1 only: rank 1 raises its own error, rank 0 learns that rank 1 failed.
Xbad = X.copy()
if RANK == 1:
    Xbad[5, 2] = np.nan
kind, message = error_of(lambda: make_net(0).fit(Xbad, Y, epochs=1, distributed=True))
say("bad_data_on_one_rank", error=kind, message=message)

# Different arguments on the ranks: every rank gets the same ValueError.
kind, message = error_of(lambda: make_net(0).fit(X, Y, epochs=1, batch_size=8 + RANK,
                                                 distributed=True))
say("disagreement", error=kind, message=message)

# Bad distributed options: the same ValueError on every rank.
kind, message = error_of(lambda: make_net(0).fit(X, Y, epochs=1, lr_scaling="square",
                                                 distributed=True))
say("bad_lr_scaling", error=kind, message=message)
kind, message = error_of(lambda: make_net(0).fit(X, Y, epochs=1, warmup_epochs=2,
                                                 distributed=True))
say("warmup_without_scaling", error=kind, message=message)

# An error in a callback on rank 0 (EarlyStopping on a metric that does not exist).
kind, message = error_of(lambda: make_net(0).fit(
    X, Y, epochs=3, callbacks=[ln.EarlyStopping(monitor="val_accuracy")], distributed=True))
say("callback_error", error=kind, message=message)

# A step whose loss overflows (one huge target, met after some good steps): every
# rank refuses the same step, and the parameters of the step before stay identical.
net = make_net(seed=0)
before = net._params.copy()
Yhuge = Y.copy()
Yhuge[np.random.default_rng([0, 0]).permutation(len(Y))[40]] = 1e200
kind, message = error_of(lambda: net.fit(X, Yhuge, epochs=2,
                                         batch_size=8, lr=0.05, seed=0, distributed=True))
say("non_finite", error=kind, message=message, identical=checksum_everywhere(net._params),
    changed=bool(not np.array_equal(before, net._params)),
    params_finite=bool(np.isfinite(net._params).all()))

# The network is usable after all of this, on every rank.
net = make_net(seed=RANK)
history = net.fit(X, Y, epochs=1, distributed=True)
say("after", loss=history["loss"], identical=checksum_everywhere(net._params))
