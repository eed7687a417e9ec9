"""Data-parallel training on one machine: where a step's time goes, what the
gradient Allreduce costs, and a ring-allreduce cost model fitted to it.

    python bench/bench_distributed.py                 # about 30 s
    python bench/bench_distributed.py --json out.json

It runs, each in fresh processes:
  1. the 784-256-128-10 network (cross-entropy, float32, Adam) at a global
     batch of 256 in one process with 2 threads (and with 1 thread), fit's
     C loop; then the 1024-2048-2048-1024 network for a few steps;
  2. the same training on 2 processes (mpiexec -n 2), 1 thread each,
     batch_size 128 per rank, with layernet.distributed.last_fit_timing();
  3. an Allreduce sweep on 2 processes from 8 B to 32 MiB, plus the exact
     gradient buffer, fitted to t = bytes / bandwidth + 2 * latency (the
     ring model 2(N-1)/N * bytes / bandwidth + 2(N-1) * latency at N = 2);
and prints the model's predicted scaling efficiency at 4, 16 and 64 nodes.
Numbers from a shared machine are indicative only.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMALL = (784, 256, 128, 10)
LARGE = (1024, 2048, 2048, 1024)
GLOBAL_BATCH = 256


# ---------------------------------------------------------------------------
# Workers (each in a process of its own)
# ---------------------------------------------------------------------------

def _network(widths, loss):
    import layernet as ln
    layers = [ln.Dense(a, b, activation="relu") for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(ln.Dense(widths[-2], widths[-1]))
    return ln.Network(layers, dtype=np.float32, seed=0, loss=loss)


def _data(widths, rows, classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, widths[0])).astype(np.float32)
    Y = rng.integers(0, widths[-1], size=rows) if classes else \
        rng.normal(size=(rows, widths[-1])).astype(np.float32)
    return X, Y


def _flops_per_step(widths, batch):
    """Forward 2*b*n_in*n_out per layer, backward dW the same, dX the same
    except for the first layer."""
    pairs = list(zip(widths[:-1], widths[1:]))
    return sum(2 * batch * a * b * (3 if i else 2) for i, (a, b) in enumerate(pairs))


def worker_single(widths, steps, threads):
    import layernet as ln
    ln.set_num_threads(threads)
    classes = widths == SMALL
    net = _network(widths, "cross_entropy" if classes else "mse")
    X, Y = _data(widths, GLOBAL_BATCH * steps, classes)
    net.fit(X[:GLOBAL_BATCH], Y[:GLOBAL_BATCH], epochs=1, batch_size=GLOBAL_BATCH,
            optimizer=ln.Adam(1e-3))                              # warm-up: workspaces, pages
    t0 = time.perf_counter()
    net.fit(X, Y, epochs=1, batch_size=GLOBAL_BATCH, shuffle=False)
    per_step = (time.perf_counter() - t0) / steps
    return {"widths": widths, "threads": threads, "steps": steps, "step_seconds": per_step,
            "gflops": _flops_per_step(widths, GLOBAL_BATCH) / per_step / 1e9,
            "params": net.n_params, "grad_bytes": net._engine.param_size * 4}


def worker_ranks(steps):
    import layernet as ln
    import layernet.distributed as dist
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    ranks = comm.Get_size()
    net = _network(SMALL, "cross_entropy")
    X, Y = _data(SMALL, GLOBAL_BATCH * steps, True)
    per_rank = GLOBAL_BATCH // ranks
    net.fit(X[:GLOBAL_BATCH], Y[:GLOBAL_BATCH], epochs=1, batch_size=per_rank,
            optimizer=ln.Adam(1e-3), distributed=True)
    comm.Barrier()
    t0 = time.perf_counter()
    net.fit(X, Y, epochs=1, batch_size=per_rank, shuffle=False, distributed=True)
    elapsed = time.perf_counter() - t0
    timing = dist.last_fit_timing()
    mine = np.array([elapsed / steps] + [timing[k] / timing["steps"] for k in
                    ("allreduce_seconds", "backward_seconds", "metric_seconds", "update_seconds")])
    table = np.empty((ranks, mine.size))
    comm.Gather(mine, table, root=0)
    if comm.Get_rank() == 0:
        keys = ["step_seconds", "allreduce_seconds", "backward_seconds", "metric_seconds",
                "update_seconds"]
        return {"ranks": ranks, "steps": steps, "per_rank": [dict(zip(keys, row.tolist())) for row in table]}
    return None


def worker_allreduce(sizes_bytes, seconds_per_size):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    out = []
    for nbytes in sizes_bytes:
        buf = np.ones(max(1, nbytes // 4), dtype=np.float32)
        for _ in range(3):
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        # Repetitions: rank 0 decides from a timed probe so both ranks agree
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        probe = np.array([time.perf_counter() - t0])
        comm.Bcast(probe, root=0)
        reps = int(min(10000, max(3, seconds_per_size / 5 / max(probe[0], 1e-7))))
        samples = []
        for _ in range(5):
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(reps):
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            samples.append((time.perf_counter() - t0) / reps)
        out.append({"bytes": buf.nbytes, "seconds": float(np.median(samples)), "reps": reps})
    return out if comm.Get_rank() == 0 else None


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------

def _run(command, threads):
    env = {**os.environ, "LAYERNET_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise OSError(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def fit_ring(points):
    """Least squares, relative, of t = bytes / bandwidth + 2 * latency (N = 2)."""
    b = np.array([p["bytes"] for p in points], dtype=np.float64)
    t = np.array([p["seconds"] for p in points])
    A = np.stack([b, np.full_like(b, 2.0)], axis=1) / t[:, None]
    inv_bw, latency = np.linalg.lstsq(A, np.ones_like(t), rcond=None)[0]
    return 1.0 / inv_bw, latency


def ring_seconds(nodes, nbytes, bandwidth, latency):
    return 2 * (nodes - 1) / nodes * nbytes / bandwidth + 2 * (nodes - 1) * latency


def efficiency_table(compute, grad_bytes, latency):
    """compute: {(network, node): seconds per step}; grad_bytes: {network: bytes}.
    Weak scaling (256 rows per node per step). Without overlap a step is
    compute + allreduce; overlapped, the allreduce can hide behind the
    backward pass (about 2/3 of the compute), so only what exceeds it shows."""
    rows = []
    for (name, node), seconds in compute.items():
        for gbit, wire_latency in ((10, 10e-6), (100, 2e-6)):
            bandwidth = gbit * 1e9 / 8
            for nodes in (4, 16, 64):
                comm = ring_seconds(nodes, grad_bytes[name], bandwidth, latency + wire_latency)
                rows.append({"network": name, "node": node, "gbit": gbit, "nodes": nodes,
                             "compute_ms": seconds * 1e3, "allreduce_ms": comm * 1e3,
                             "efficiency": seconds / (seconds + comm),
                             "efficiency_overlapped": seconds / (
                                 seconds + max(0.0, comm - 2 / 3 * seconds))})
    return rows


def report(single2, single1, large, ranks, sweep) -> dict:
    """Print the measurements, the fitted ring model and its predictions;
    returns the fit and the predictions."""
    bandwidth, latency = fit_ring(sweep)
    grad_point = next(p for p in sweep if p["bytes"] == single2["grad_bytes"])
    # Compute per step on a node: one core of this machine at the rate measured with 1 thread
    # (2-thread figures suffer most from other load), and a 1 TFLOP/s node
    core_rate = _flops_per_step(SMALL, GLOBAL_BATCH) / single1["step_seconds"]
    compute = {}
    for name, widths in (("784-256-128-10", SMALL), ("1024-2048-2048-1024", LARGE)):
        flops = _flops_per_step(widths, GLOBAL_BATCH)
        compute[name, "1 core"] = flops / core_rate
        compute[name, "1 TFLOP/s"] = flops / 1e12
    grad_bytes = {"784-256-128-10": single2["grad_bytes"], "1024-2048-2048-1024": large["grad_bytes"]}
    table = efficiency_table(compute, grad_bytes, latency)

    print(f"1 process x 2 threads: {single2['step_seconds'] * 1e3:.3f} ms/step "
          f"({single2['gflops']:.1f} GFLOP/s); 1 thread: {single1['step_seconds'] * 1e3:.3f} ms/step")
    for r, row in enumerate(ranks["per_rank"]):
        print(f"2 processes x 1 thread, rank {r}: {row['step_seconds'] * 1e3:.3f} ms/step, of which "
              f"allreduce {row['allreduce_seconds'] * 1e3:.3f}, backward {row['backward_seconds'] * 1e3:.3f} "
              f"(metric forward {row['metric_seconds'] * 1e3:.3f}), update {row['update_seconds'] * 1e3:.3f}")
    print(f"one core: {core_rate / 1e9:.1f} GFLOP/s")
    print(f"1024-2048-2048-1024, 1 process x 2 threads: {large['step_seconds'] * 1e3:.1f} ms/step "
          f"({large['gflops']:.1f} GFLOP/s)")
    print("Allreduce on loopback (2 processes):")
    for p in sweep:
        print(f"  {p['bytes']:>10} B  {p['seconds'] * 1e6:10.1f} us  "
              f"{p['bytes'] / p['seconds'] / 1e9:7.3f} GB/s")
    print(f"fit: bandwidth {bandwidth / 1e9:.2f} GB/s, latency {latency * 1e6:.2f} us; gradient "
          f"({grad_point['bytes']} B): measured {grad_point['seconds'] * 1e6:.0f} us, model "
          f"{ring_seconds(2, grad_point['bytes'], bandwidth, latency) * 1e6:.0f} us")
    print("weak scaling, 256 rows per node per step:")
    for row in table:
        print(f"  {row['network']:>20} {row['gbit']:>3} Gbit/s {row['nodes']:>3} nodes: compute "
              f"{row['compute_ms']:8.2f} ms ({row['node']}), allreduce {row['allreduce_ms']:8.2f} ms, efficiency "
              f"{row['efficiency']:.0%} (overlapped {row['efficiency_overlapped']:.0%})")
    return {"bandwidth": bandwidth, "latency": latency, "model": table}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", choices=["single", "ranks", "allreduce"])
    parser.add_argument("--widths", default="784,256,128,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--sizes", default="")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)

    if args.worker == "single":
        widths = tuple(int(w) for w in args.widths.split(","))
        print(json.dumps(worker_single(widths, args.steps, args.threads)))
        return
    if args.worker == "ranks":
        result = worker_ranks(args.steps)
        if result is not None:
            print(json.dumps(result))
        return
    if args.worker == "allreduce":
        result = worker_allreduce([int(s) for s in args.sizes.split(",")], 0.3)
        if result is not None:
            print(json.dumps(result))
        return

    me = [sys.executable, str(Path(__file__).resolve())]
    mpi = [_mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", str(Path(__file__).resolve())]
    single2 = _run(me + ["--worker", "single", "--threads", "2"], 2)
    single1 = _run(me + ["--worker", "single", "--threads", "1"], 1)
    large = _run(me + ["--worker", "single", "--threads", "2", "--steps", "4",
                       "--widths", ",".join(map(str, LARGE))], 2)
    ranks = _run(mpi + ["--worker", "ranks"], 1)
    sizes = [8 * 4**k for k in range(12)] + [single2["grad_bytes"], large["grad_bytes"]]
    sweep = _run(mpi + ["--worker", "allreduce", "--sizes", ",".join(map(str, sorted(set(sizes))))], 1)
    summary = report(single2, single1, large, ranks, sweep)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"single_2_threads": single2, "single_1_thread": single1, "large": large,
             "ranks": ranks, "allreduce": sweep, **summary}, indent=2))


if __name__ == "__main__":
    main()
