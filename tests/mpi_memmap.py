"""Training from memory-mapped arrays larger than the process may allocate
(tests/test_distributed.py runs it under `mpiexec -n 2 python -m mpi4py` with
mode "distributed", and as a plain process with mode "single").

usage: mpi_memmap.py X.npy Y.npy OUT.npy HEADROOM_MB MODE BATCH_SIZE

The process caps its data segment (RLIMIT_DATA: heap and private writable
mappings, where a copy of X would live) at what it uses now plus HEADROOM_MB,
checks that a copy of X is now refused, then fits one epoch from the
memory-mapped X and Y (a read-only file mapping, which RLIMIT_DATA does not
count; RLIMIT_AS would count it, so it cannot express "may map but not
copy"). Rank 0 saves the trained parameters to OUT.npy and prints a JSON line.
"""
import json
import resource
import sys

import numpy as np

import layernet as ln
import layernet.distributed as dist

x_path, y_path, out_path, headroom_mb, mode, batch_size = sys.argv[1:7]
distributed = mode == "distributed"

X = np.load(x_path, mmap_mode="r")
Y = np.load(y_path, mmap_mode="r")
if distributed:
    from mpi4py import MPI  # noqa: F401  (initialise MPI before the cap)


def data_segment_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise OSError("VmData not found in /proc/self/status")


limit = data_segment_bytes() + int(headroom_mb) * 2**20
resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
try:
    np.array(X)
    copy_refused = False
except MemoryError:
    copy_refused = True

net = ln.Network([ln.Dense(X.shape[1], 16, activation="relu"), ln.Dense(16, Y.shape[1])],
                 dtype=np.float64, seed=5)
history = net.fit(X, Y, epochs=1, batch_size=int(batch_size), optimizer=ln.Adam(1e-3), seed=1,
                  distributed=distributed)
if dist.is_root():
    np.save(out_path, net._params)
    print(json.dumps({"copy_refused": copy_refused, "x_bytes": X.nbytes,
                      "headroom_bytes": int(headroom_mb) * 2**20, "loss": history["loss"],
                      "x_type": type(X).__name__}), flush=True)
