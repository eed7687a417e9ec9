#!/usr/bin/env python
"""One benchmark job, run in a process of its own; results go to stdout as
JSON lines (one object per line, each with a "kind").

    python bench/_worker.py measure '<job as JSON>'
    python bench/_worker.py probe '<job as JSON>'

bench/report.py starts one `measure` process per (workload, peer, round), so
that a library is timed where no other library's thread pool exists. The thread
counts arrive through the environment (LAYERNET_NUM_THREADS, OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, MKL_NUM_THREADS), set before this process starts; the
torch job also calls torch.set_num_threads.

measure: imports only the library of job["peer"] (plus numpy, which makes every
peer's data), builds job["workload"] (a spec from workloads.report_workloads),
warms up, then times samples of k back-to-back calls. Prints one line of kind
"measurement" with the median seconds per call and the sample statistics.

probe: imports every library of job["peers"], prints one "info" line (versions,
numpy's BLAS, layernet.info()) and one "check" line per workload in
job["workloads"] (see workloads.agreement), line by line, so that a crash in
one check keeps what came before it.

A job that fails prints a line of kind "error" and exits with status 1.
"""
from __future__ import annotations

import gc
import json
import math
import os
import platform
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

LIBRARY_MODULES = {"layernet": "layernet", "numpy": "numpy", "torch": "torch",
                   "sklearn": "sklearn"}


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def import_layernet(layernet_dir):
    """Import layernet; from `layernet_dir` when given (and check that it came
    from there: a baseline tree without a built package must not silently
    measure another build)."""
    if layernet_dir and layernet_dir not in sys.path:
        sys.path.insert(0, layernet_dir)
    import layernet
    if layernet_dir:
        where = os.path.realpath(os.path.dirname(os.path.dirname(layernet.__file__)))
        if where != os.path.realpath(layernet_dir):
            raise ImportError(f"layernet: expected the package under {layernet_dir!r}, "
                              f"imported {layernet.__file__!r}")
    return layernet


def thread_counts(peer: str) -> dict:
    """The thread count the timed library reports (or was given by the environment)."""
    if peer == "layernet":
        return {"layernet": sys.modules["layernet"].get_num_threads()}
    if peer == "torch":
        return {"torch": sys.modules["torch"].get_num_threads()}
    value = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return {"blas": int(value) if value.isdigit() else None}


def time_calls(fn, timing: dict) -> dict:
    """Warm `fn` up, then time samples of k back-to-back calls.

    k makes a sample last about timing["sample_seconds"]; the number of samples
    fills about timing["budget_seconds"], within [min_samples, max_samples].
    Returns seconds per call: median, quartiles, min, max, and the counts."""
    t0 = time.perf_counter()
    fn()                                     # first call: allocation, thread start-up
    first = time.perf_counter() - t0
    calls, t0 = 0, time.perf_counter()
    while calls < 2 or (time.perf_counter() - t0 < timing["warmup_seconds"] and calls < 100000):
        fn()
        calls += 1
    per_call = max((time.perf_counter() - t0) / calls, 1e-9)
    k = max(1, math.ceil(timing["sample_seconds"] / per_call))
    n = round(timing["budget_seconds"] / (per_call * k))
    n = min(timing["max_samples"], max(timing["min_samples"], n))
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            t = time.perf_counter()
            for _ in range(k):
                fn()
            samples.append((time.perf_counter() - t) / k)
    finally:
        if gc_was_enabled:
            gc.enable()
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    return {"median": statistics.median(samples), "p25": q[0], "p75": q[2],
            "min": min(samples), "max": max(samples), "samples": n, "calls_per_sample": k,
            "first_call": first}


def run_measure(job: dict) -> dict:
    """Time job["peer"] on job["workload"]; the "measurement" record."""
    peer = job["peer"]
    if peer not in LIBRARY_MODULES:
        raise ValueError(f"peer: expected one of {sorted(LIBRARY_MODULES)}, got {peer!r}")
    import workloads as W
    record = {"kind": "measurement", "peer": peer, "key": job["workload"]["key"]}
    if peer == "layernet":
        record["layernet_file"] = import_layernet(job.get("layernet_dir")).__file__
    elif peer == "torch":
        import torch
        torch.set_num_threads(job["threads"])
    elif peer == "sklearn":
        import sklearn  # noqa: F401
    fn = W.make_callable(job["workload"], peer)
    record.update(time_calls(fn, job["timing"]))
    record["threads"] = thread_counts(peer)
    # the method's premise, checked: no other timed library lives in this process
    record["other_libraries_loaded"] = [lib for lib, module in LIBRARY_MODULES.items()
                                        if lib not in (peer, "numpy") and module in sys.modules]
    return record


def blas_description() -> str:
    """numpy's BLAS, from threadpoolctl when installed, else from numpy's build config."""
    import numpy as np
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
        blas.sort(key=lambda d: "numpy" not in str(d.get("filepath", "")))  # numpy's own first
        if blas:
            d = blas[0]
            return (f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')}, "
                    f"{d.get('threading_layer')}, {d.get('num_threads')} threads)")
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:          # older numpy: no dict mode
        return "unknown"


def library_info(peers, layernet_dir) -> dict:
    """Versions of numpy (and its BLAS) and of each library in `peers`; a
    library that fails to import gets {"error": message} instead."""
    import numpy as np
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "blas": blas_description()}
    for lib in peers:
        if lib == "numpy":
            continue
        try:
            if lib == "layernet":
                ln = import_layernet(layernet_dir)
                info[lib] = {**ln.info(), "file": ln.__file__}
            else:
                info[lib] = __import__(LIBRARY_MODULES[lib]).__version__
        except Exception as exc:   # reported; the checks of the other peers still run
            info[lib] = {"error": f"{type(exc).__name__}: {exc}"}
    return info


def run_probe(job: dict, out=emit) -> None:
    """Versions and the peers' agreement on each workload, as records given to `out`."""
    peers = job["peers"]
    out({"kind": "info", **library_info(peers, job.get("layernet_dir"))})
    import workloads as W
    for spec in job["workloads"]:
        impls = [p for p in spec["peers"] if p in peers]
        out({"kind": "check", "section": spec["section"], "key": spec["key"],
             **W.agreement(spec, impls)})


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("measure", "probe"):
        print("usage: _worker.py measure|probe '<job as JSON>'", file=sys.stderr)
        return 2
    try:
        job = json.loads(argv[1])
        if argv[0] == "measure":
            emit(run_measure(job))
        else:
            run_probe(job)
    except Exception as exc:       # the report shows the message and goes on
        emit({"kind": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
