"""Run under `mpiexec -n 2 python -m mpi4py` (tests/test_distributed.py): rank 1
fails in the middle of an epoch while rank 0 waits in the gradient Allreduce.
With `-m mpi4py`, the uncaught exception aborts the whole job with a non-zero
status instead of leaving rank 0 waiting forever.
"""
import numpy as np
from mpi4py import MPI

import layernet as ln


class FailingEngine:
    """Passes every call to the real engine; the third backward raises."""

    def __init__(self, engine):
        self._engine = engine
        self._backwards = 0

    def backward_into(self, *args, **kwargs):
        self._backwards += 1
        if self._backwards == 3:
            raise RuntimeError("simulated failure on rank 1")
        return self._engine.backward_into(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._engine, name)


net = ln.Network([ln.Dense(4, 6, activation="tanh"), ln.Dense(6, 2)], dtype=np.float64, seed=0)
if MPI.COMM_WORLD.Get_rank() == 1:
    net._engine = FailingEngine(net._engine)
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(200, 4)), rng.normal(size=(200, 2))
net.fit(X, Y, epochs=1000, batch_size=4, lr=0.01, distributed=True)
print("rank", MPI.COMM_WORLD.Get_rank(), "finished training: the failure did not stop the job",
      flush=True)
