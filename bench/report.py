#!/usr/bin/env python
"""layernet benchmark report: GEMM, training steps and predict, beside numpy and
(when installed) PyTorch and scikit-learn, all timed in one run, printed as
markdown with GFLOP/s, speedups and the issue-3 targets.

    python bench/report.py                    # everything, 1 and 2 threads (a few minutes)
    python bench/report.py --quick            # fewer sizes, shorter measurements (smoke run)
    python bench/report.py --only train --threads 2
    python bench/report.py --json results.json

Method. Each measurement is the median of several samples; a sample times k
back-to-back calls (k chosen so that a sample lasts a few milliseconds) and
the number of samples is chosen so that a peer gets about --budget seconds.
The peers of one measurement (same work, same thread count) take their samples
in interleaved blocks, so that drift on a shared machine hits them alike; each
block starts after a short pause so that the previous peer's thread pool
(OpenBLAS, OpenMP) has stopped spinning and does not steal a core.
Speedup = peer time / layernet time: above 1 means layernet is faster.

Threads are set in-process (layernet.set_num_threads, threadpoolctl for numpy's
BLAS, torch.set_num_threads). Without threadpoolctl the script re-runs itself
once per thread count with OPENBLAS_NUM_THREADS set before numpy is imported.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
try:
    import layernet  # noqa: F401  (an installed layernet wins)
except ImportError:
    sys.path.insert(0, os.path.dirname(_HERE))

import numpy as np  # noqa: E402

import workloads as W  # noqa: E402

SAMPLE_SECONDS = 0.004      # one sample lasts at least this long (k calls)
MIN_SAMPLES = 3
MAX_SAMPLES = 41
BLOCKS = 3                  # each peer's samples come in this many interleaved runs
SETTLE_SECONDS = 0.15       # pause before each run: lets other thread pools go idle


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
def _calibrate(fn, sample_seconds):
    """Warm fn up and return (seconds per call, k calls per sample)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    if first > 0.05:
        return first, 1
    calls, t = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t
        if elapsed > 0.03 or calls >= 10000:
            break
    per_call = elapsed / calls
    return per_call, max(1, math.ceil(sample_seconds / per_call))


def measure(fns: dict, budget: float, min_samples=MIN_SAMPLES, max_samples=MAX_SAMPLES,
            sample_seconds=SAMPLE_SECONDS, blocks=BLOCKS, settle=SETTLE_SECONDS) -> dict:
    """Median seconds per call of each callable in `fns`, in interleaved blocks.

    Each peer takes its samples in `blocks` runs of consecutive samples; the
    peers take turns block by block (rotating who goes first), and each block
    starts after a `settle` pause and one untimed call. The pause matters with
    threads: a BLAS or OpenMP pool keeps spinning for a while after its last
    call (OpenBLAS for about 0.1 s), and would otherwise steal a core from the
    peer timed next."""
    plan = {}
    for name, fn in fns.items():
        per_call, k = _calibrate(fn, sample_seconds)
        n = min(max_samples, max(min_samples, round(budget / (per_call * k))))
        plan[name] = (k, n)
    samples = {name: [] for name in fns}
    names = list(fns)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for b in range(blocks):
            order = names[b % len(names):] + names[:b % len(names)]   # rotate who goes first
            for name in order:
                k, n = plan[name]
                todo = math.ceil(n * (b + 1) / blocks) - len(samples[name])
                if todo <= 0:
                    continue
                fn = fns[name]
                time.sleep(settle)
                fn()
                for _ in range(todo):
                    t = time.perf_counter()
                    for _ in range(k):
                        fn()
                    samples[name].append((time.perf_counter() - t) / k)
    finally:
        if gc_was_enabled:
            gc.enable()
    out = {}
    for name, s in samples.items():
        q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0]] * 3
        out[name] = {"median": statistics.median(s), "p25": q[0], "p75": q[2],
                     "samples": len(s), "calls_per_sample": plan[name][0]}
    return out


def wait_quiet(max_seconds, log, threshold=0.10, window=1.0):
    """Wait (up to max_seconds) until other processes use less than `threshold`
    of a core over a `window`-second interval. Returns True when quiet."""
    deadline = time.perf_counter() + max_seconds
    while True:
        probe = OtherLoad()
        time.sleep(window)
        share = probe.share()
        if share is None or share < threshold:
            return True
        if time.perf_counter() >= deadline:
            log(f"machine still busy ({share * 100:.0f}% of a core used by others); going on")
            return False
        log(f"waiting for a quiet machine ({share * 100:.0f}% of a core used by others)")


NOISY_SHARE = 0.15
STATS = {"remeasured": 0}     # groups measured again because of other load


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def is_noisy(share, threads):
    """Did other processes compete with a `threads`-thread measurement? They may
    use the cores it leaves free, plus NOISY_SHARE of a core."""
    return share is not None and share > max(0, usable_cpus() - threads) + NOISY_SHARE


def measure_guarded(fns, args, log, what):
    """measure(), repeated (up to --retries times, after waiting for quiet) when
    other processes competed for the cores it uses (see is_noisy). Each timing
    gets "other_load" (the share of a core others used meanwhile) and "noisy"."""
    for attempt in range(args.retries + 1):
        load = OtherLoad()
        timings = measure(fns, args.budget)
        share = load.share()
        noisy = is_noisy(share, args.current_threads)
        if not noisy or attempt == args.retries or args.max_wait_left <= 0:
            break
        log(f"{what}: others used {share * 100:.0f}% of a core meanwhile; measuring again")
        t = time.perf_counter()
        wait_quiet(min(20.0, args.max_wait_left), log)
        args.max_wait_left -= time.perf_counter() - t
        STATS["remeasured"] += 1
    for t in timings.values():
        t["other_load"] = share
        t["noisy"] = noisy
    return timings


# ---------------------------------------------------------------------------
# The three sections
# ---------------------------------------------------------------------------
def _peers(impls):
    return [i for i in impls if W.available(i)]


def _record(results, section, key, threads, flops, timings, extra=None):
    for impl, t in timings.items():
        rec = {"section": section, "key": key, "threads": threads, "impl": impl,
               "flops": flops, **t}
        if extra:
            rec.update(extra)
        results.append(rec)


def _as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


_PROBE = """
import sys; sys.path[:0] = %r
import numpy as np
from layernet import _kernels as K
for dt in (np.float32, np.float64):
    A = np.ones((3, 5), dt); B = np.ones((5, 4), dt); C = np.empty((3, 4), dt)
    K.gemm(A, B, C)
    assert (C == 5).all(), C
"""
PROBLEMS = []      # layernet failures found while running, printed in the report
_PROBED = []       # the probe's verdict, once per process


def gemm_hook_works(log):
    """Call layernet._kernels.gemm once in a child process first: a crash there
    must not take the whole report down."""
    if _PROBED:
        return _PROBED[0]
    import layernet
    code = _PROBE % ([os.path.dirname(os.path.dirname(os.path.abspath(layernet.__file__)))],)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    _PROBED.append(proc.returncode == 0)
    if proc.returncode == 0:
        return True
    what = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
            else (proc.stderr.strip().splitlines() or ["exit status %d" % proc.returncode])[-1])
    msg = f"layernet._kernels.gemm(A, B, C) on a 3x5 @ 5x4 product failed ({what}); GEMM rows show peers only"
    if msg not in PROBLEMS:
        PROBLEMS.append(msg)
    log(msg)
    return False


def run_gemm(results, threads, args, log):
    sizes = W.GEMM_SIZES_QUICK if args.quick else W.GEMM_SIZES
    impls = _peers(("layernet", "numpy", "torch"))
    if not gemm_hook_works(log):
        impls.remove("layernet")
    for dtype_name, dtype in W.DTYPES.items():
        for n in sizes:
            _guarded(f"gemm {dtype_name} n={n} ({threads} threads)", log, _gemm_group,
                     results, threads, args, log, impls, dtype_name, dtype, n)


def _gemm_group(results, threads, args, log, impls, dtype_name, dtype, n):
    key = f"{dtype_name} n={n}"
    fns = {impl: W.make_gemm(impl, n, dtype) for impl in impls}
    err = None
    if "layernet" in fns:
        # Sanity: layernet's C against numpy's, relative to the result's scale.
        ref = _as_numpy(fns["numpy"]()).copy()
        got = _as_numpy(fns["layernet"]())
        err = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    timings = measure_guarded(fns, args, log, f"gemm {key}")
    _record(results, "gemm", key, threads, W.gemm_flops(n), timings,
            {"dtype": dtype_name, "n": n, "max_rel_err": err})
    log(f"gemm {key} t={threads}: " + _brief(timings))


def run_train(results, threads, args, log):
    workloads = W.TRAIN_WORKLOADS_QUICK if args.quick else W.TRAIN_WORKLOADS
    impls = _peers(W.IMPLS if not args.no_sklearn else ("layernet", "numpy", "torch"))
    for wl in workloads:
        _guarded(f"train {wl.id} ({threads} threads)", log, _train_group,
                 results, threads, args, log, impls, wl)


def _train_group(results, threads, args, log, impls, wl):
    losses = W.first_losses(wl, impls)
    fns = {impl: W.make_train_step(impl, wl, np.float32) for impl in impls}
    timings = measure_guarded(fns, args, log, f"train {wl.id}")
    for impl in timings:
        timings[impl]["first_loss"] = losses[impl]
    _record(results, "train", wl.id, threads, wl.flops, timings)
    log(f"train {wl.id} t={threads}: " + _brief(timings))


def run_predict(results, threads, args, log):
    batches = W.PREDICT_BATCHES_QUICK if args.quick else W.PREDICT_BATCHES
    impls = _peers(("layernet", "numpy", "torch"))
    for batch in batches:
        _guarded(f"predict b{batch} ({threads} threads)", log, _predict_group,
                 results, threads, args, log, impls, batch)


def _predict_group(results, threads, args, log, impls, batch):
    key = "-".join(map(str, W.PREDICT_SIZES)) + f"/b{batch}"
    diffs = W.predict_agreement(W.PREDICT_SIZES, batch, impls)
    fns = {impl: W.make_predict(impl, W.PREDICT_SIZES, batch, np.float32) for impl in impls}
    timings = measure_guarded(fns, args, log, f"predict {key}")
    for impl in timings:
        timings[impl]["max_abs_diff"] = diffs[impl]
    _record(results, "predict", key, threads, W.predict_flops(W.PREDICT_SIZES, batch), timings,
            {"batch": batch})
    log(f"predict {key} t={threads}: " + _brief(timings))


def _guarded(what, log, fn, *a):
    """Run one measurement group; an exception is reported, not fatal."""
    try:
        fn(*a)
    except Exception as exc:      # a failing peer must not lose the rest of the report
        msg = f"{what}: {type(exc).__name__}: {exc}"
        PROBLEMS.append(msg)
        log(msg)


SECTIONS = {"gemm": run_gemm, "train": run_train, "predict": run_predict}


def _brief(timings):
    return ", ".join(f"{k} {fmt_time(v['median'])}" for k, v in timings.items())


def collect(args, threads_list, log):
    results = []
    sections = [args.only] if args.only else list(SECTIONS)
    for threads in threads_list:
        args.current_threads = threads
        got = W.set_threads(threads)
        log(f"threads={threads}: {got}")
        for section in sections:
            SECTIONS[section](results, threads, args, log)
    return results


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------
def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.3f} s"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def _index(results):
    idx = {}
    for r in results:
        idx[(r["section"], r["key"], r["threads"], r["impl"])] = r
    return idx


def _groups(results, section):
    seen = []
    for r in results:
        g = (r["key"], r["threads"])
        if r["section"] == section and g not in seen:
            seen.append(g)
    return seen


def _peer_list(results, section):
    impls = []
    for r in results:
        if r["section"] == section and r["impl"] != "layernet" and r["impl"] not in impls:
            impls.append(r["impl"])
    return impls


def speedup(idx, section, key, threads, peer):
    ln = idx.get((section, key, threads, "layernet"))
    other = idx.get((section, key, threads, peer))
    if not ln or not other:
        return None
    return other["median"] / ln["median"]


def table(results, section, title, first_col):
    idx = _index(results)
    peers = _peer_list(results, section)
    if not _groups(results, section):
        return []
    head = ([first_col, "threads", "layernet", "GFLOP/s"]
            + [f"{p}" for p in peers] + [f"{p} GFLOP/s" for p in peers]
            + [f"vs {p}" for p in peers])
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    noisy = False
    for key, threads in _groups(results, section):
        ln = idx.get((section, key, threads, "layernet"))
        row = [key, str(threads), fmt_time(ln["median"]) if ln else "-",
               f"{ln['flops'] / ln['median'] / 1e9:.1f}" if ln else "-"]
        cells_t, cells_g, cells_r = [], [], []
        for p in peers:
            r = idx.get((section, key, threads, p))
            cells_t.append(fmt_time(r["median"]) if r else "-")
            cells_g.append(f"{r['flops'] / r['median'] / 1e9:.1f}" if r else "-")
            cells_r.append(fmt_ratio(speedup(idx, section, key, threads, p)))
        if any(r.get("noisy") for r in results if r["section"] == section
               and r["key"] == key and r["threads"] == threads):
            row[0] += " (noisy)"
            noisy = True
        lines.append("| " + " | ".join(row + cells_t + cells_g + cells_r) + " |")
    if noisy:
        lines += ["", f"(noisy): other processes competed for the cores this row used (they took "
                      f"more than the free cores + {NOISY_SHARE:.0%} of one), even after --retries."]
    lines.append("")
    return lines


# (description, section, key, threads, peers (the faster one counts), required speedup, wording)
TARGETS = [
    ("train 2-16-1, batch 32", "train", "2-16-1/b32", 2, ["numpy"], 6.0, ">= 6x faster than numpy"),
    ("train 64-128-64-1, batch 64", "train", "64-128-64-1/b64", 2, ["numpy"], 2.5,
     ">= 2.5x faster than numpy"),
    ("train 784-256-128-10, batch 128", "train", "784-256-128-10/b128", 2, ["numpy", "torch"], 1.2,
     ">= 1.2x faster than the faster of numpy and torch"),
    ("train 1024-2048-2048-1024, batch 1024", "train", "1024-2048-2048-1024/b1024", 2, ["torch"],
     1 / 1.05, "time <= 1.05x torch's"),
    *[(f"GEMM {dt} n=1024, {t} thread{'s' if t > 1 else ''}", "gemm", f"{dt} n=1024", t, ["numpy"],
       0.90, ">= 90% of numpy's GFLOP/s") for dt in ("float32", "float64") for t in (1, 2)],
    ("predict 784-256-128-10, batch 1", "predict", "784-256-128-10/b1", 2, ["numpy"], 2.5,
     ">= 2.5x faster than numpy"),
    ("predict 784-256-128-10, batch 4096", "predict", "784-256-128-10/b4096", 2, ["torch"], 1 / 1.05,
     "time <= 1.05x torch's"),
]


def targets_section(results):
    idx = _index(results)
    lines = ["### Issue 3 targets", "",
             "| target | requirement | measured speedup | status | margin |",
             "|---|---|---:|---|---:|"]
    met = missed = unmeasured = unreliable = 0
    loads = {(r["section"], r["key"], r["threads"]): r.get("other_load") for r in results}
    noisy_groups = {(r["section"], r["key"], r["threads"]) for r in results if r.get("noisy")}
    for desc, section, key, threads, peers, need, wording in TARGETS:
        ratios = {p: speedup(idx, section, key, threads, p) for p in peers}
        ratios = {p: r for p, r in ratios.items() if r is not None}
        if not ratios:
            lines.append(f"| {desc} | {wording} | - | not measured | - |")
            unmeasured += 1
            continue
        peer = min(ratios, key=ratios.get)          # the faster peer: smallest speedup over it
        got = ratios[peer]
        ok = got >= need
        margin = (got / need - 1) * 100
        load = loads.get((section, key, threads))
        if (section, key, threads) in noisy_groups:
            unreliable += 1           # a verdict from a disturbed measurement is no verdict
            status = (f"unreliable (others took {load * 100:.0f}% of a core; "
                      f"would be {'met' if ok else 'missed'})")
        else:
            met += ok
            missed += not ok
            status = "met" if ok else "**missed**"
        lines.append(f"| {desc} | {wording} | {got:.2f}x vs {peer} | {status} | {margin:+.0f}% |")
    lines += ["", f"{met} met, {missed} missed, {unreliable} unreliable (noisy), {unmeasured} not "
              f"measured. Margin = measured / required - 1 (required speedup 0.95x means 'within 5% "
              f"of the peer's time').", ""]
    return lines


def sanity_section(results):
    lines = []
    for r in results:
        if r["impl"] != "layernet":
            continue
        tol = 1e-4 if r.get("dtype") == "float32" else 1e-10
        if r["section"] == "gemm" and r.get("max_rel_err") is not None \
                and not r["max_rel_err"] <= tol:                     # NaN counts as a failure
            lines.append(f"- GEMM {r['key']}: layernet differs from numpy by {r['max_rel_err']:.2e} "
                         f"(relative)")
    by_group = {}
    for r in results:
        if r["section"] == "train":
            by_group.setdefault((r["key"], r["threads"]), {})[r["impl"]] = r["first_loss"]
        if r["section"] == "predict" and not r["max_abs_diff"] <= 1e-3:
            lines.append(f"- predict {r['key']}: {r['impl']} differs from numpy by "
                         f"{r['max_abs_diff']:.2e}")
    for (key, threads), losses in by_group.items():
        ref = losses.get("numpy")
        for impl, loss in losses.items():
            if ref is not None and not abs(loss - ref) <= 1e-3 * max(1.0, abs(ref)):
                lines.append(f"- train {key}: {impl}'s first loss {loss:.6g} differs from numpy's "
                             f"{ref:.6g}")
    spreads = [((r["p75"] - r["p25"]) / r["median"], r) for r in results]
    head = ["### Checks", ""]
    if PROBLEMS:
        head += ["Failures:", ""] + [f"- {p}" for p in PROBLEMS] + [""]
    if lines:
        head += ["Results that disagree with numpy:", ""] + lines
    else:
        done = {r["section"] for r in results if r["impl"] == "layernet"}
        what = {"gemm": "GEMM results match numpy's to float tolerance",
                "train": "every peer's first-step loss matches numpy's",
                "predict": "predict outputs match numpy's"}
        if done:
            head.append("No disagreement: " + "; ".join(what[s] for s in SECTIONS if s in done)
                        + ".")
    if spreads:
        s, r = max(spreads, key=lambda x: x[0])
        head += ["", f"Largest interquartile spread: {s * 100:.0f}% of the median "
                     f"({r['section']} {r['key']}, {r['impl']}, {r['threads']} threads); "
                     f"median {statistics.median(x for x, _ in spreads) * 100:.1f}% over all "
                     f"{len(spreads)} measurements."]
    return head + [""]


class OtherLoad:
    """CPU time that other processes used while the report ran (from /proc/stat
    minus this process's own), the best single indicator of a noisy run."""

    def __init__(self):
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), self._own()

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)       # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own():
        import resource
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def share(self):
        """Other processes' CPU use since construction, as a fraction of one core (or None)."""
        wall = time.perf_counter() - self.t0
        busy = self._busy()
        if busy is None or self.busy0 is None or wall <= 0:
            return None
        return max(0.0, (busy - self.busy0) - (self._own() - self.own0)) / wall

    def summary(self):
        wall = time.perf_counter() - self.t0
        busy = self._busy()
        if busy is None or self.busy0 is None or wall <= 0:
            return None, "other processes' CPU use unknown (no /proc/stat)"
        other = max(0.0, (busy - self.busy0) - (self._own() - self.own0))
        share = other / wall
        text = (f"other processes used {other:.1f} CPU-s during the {wall:.0f} s run "
                f"({share * 100:.0f}% of one core)")
        return share, text


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(args, threads_list):
    import layernet as ln
    info = ln.info()
    v = W.versions()
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            fl = next((l for l in f if l.startswith("flags")), "").split()
        flags = " ".join(x for x in ("avx2", "fma", "avx512f") if x in fl)
    except OSError:
        pass
    peers = ", ".join(f"{k} {v[k]}" for k in ("torch", "sklearn", "threadpoolctl") if k in v)
    missing = [k for k in ("torch", "sklearn") if k not in v]
    lines = [
        "# layernet benchmark report", "",
        f"- CPU: {cpu_model()} ({ncpu} CPUs usable; {flags or 'no AVX2'}), {platform.system()} "
        f"{platform.release()}",
        f"- layernet {info.get('version')}: isa {info.get('isa')} (available: "
        f"{', '.join(info.get('available_isas', []))}), OpenMP {info.get('openmp')}, "
        f"default threads {info.get('num_threads')}",
        f"- numpy {v['numpy']} with {W.blas_info()}; {peers or 'no other peers'}"
        + (f" (not installed: {', '.join(missing)})" if missing else ""),
        f"- Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}",
        f"- Run: threads {','.join(map(str, threads_list))}, sections "
        f"{args.only or 'gemm, train, predict'}, {'quick, ' if args.quick else ''}"
        f"~{args.budget:.2f} s per peer per measurement, float32 unless stated",
        "- Times are medians; peers are interleaved in blocks, each after a 0.15 s pause; **speedup = peer time / layernet time** "
        "(> 1: layernet faster). Train/predict GFLOP/s count the matrix products only.",
        "",
    ]
    return lines


def render(results, args, threads_list, load=None):
    out = header(args, threads_list)
    shares = {}
    for r in results:
        if r.get("other_load") is not None:
            shares[(r["section"], r["key"], r["threads"])] = r["other_load"]
    if shares:
        worst = max(shares, key=shares.get)
        noisy = len({(r["section"], r["key"], r["threads"]) for r in results if r.get("noisy")})
        out.insert(-1, f"- Machine load while measuring: other processes took "
                   f"{statistics.median(shares.values()) * 100:.0f}% of a core in the median group, "
                   f"{shares[worst] * 100:.0f}% at worst ({' '.join(map(str, worst))} threads); "
                   f"{STATS['remeasured']} group(s) re-measured, {noisy} still noisy"
                   + (" -- **treat the (noisy) rows with care**" if noisy else ""))
    if load is not None:
        _, text = load.summary()
        out.insert(-1, f"- Whole run, waits included: {text}")
    out += table(results, "gemm", "GEMM: C = A @ B, square n x n, preallocated C", "dtype, n")
    out += table(results, "train", "Training step (forward, backward, SGD update), float32",
                 "network/batch")
    out += table(results, "predict", "Predict, float32", "network/batch")
    out += targets_section(results)
    out += sanity_section(results)
    return "\n".join(out)


# ---------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer sizes and shorter measurements")
    p.add_argument("--only", choices=sorted(SECTIONS), help="run one section")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per peer per measurement (default 0.3, quick 0.1)")
    p.add_argument("--retries", type=int, default=2,
                   help="re-measure a group when other processes took >15%% of a core (default 2)")
    p.add_argument("--max-wait", type=float, default=120.0, metavar="SECONDS",
                   help="total time the retries may spend waiting for quiet (default 120)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for other processes to go quiet (default 0)")
    p.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out of training")
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--_worker-json", dest="worker_json", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.max_wait_left = args.max_wait
    if args.budget is None:
        args.budget = 0.1 if args.quick else 0.3
    try:
        args.threads_list = [int(t) for t in args.threads.split(",") if t.strip()]
        if not args.threads_list or min(args.threads_list) < 1:
            raise ValueError
    except ValueError:
        p.error(f"--threads: expected positive integers like 1,2, got {args.threads!r}")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    t0 = time.perf_counter()

    def log(msg):
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if args.worker_json:                         # one thread count, in a child process
        results = collect(args, args.threads_list, log)
        with open(args.worker_json, "w") as f:
            json.dump(results, f)
        return 0

    if args.wait_quiet and not args.worker_json:
        wait_quiet(args.wait_quiet, log)
    load = OtherLoad()
    if W.threadpoolctl_available():
        results = collect(args, args.threads_list, log)
    else:
        log("threadpoolctl not installed: one child process per thread count")
        results = []
        clean, skip = [], False                  # argv without --threads N / --threads=N
        for a in argv:
            if skip:
                skip = False
                continue
            if a == "--threads":
                skip = True
                continue
            if a.startswith("--threads="):
                continue
            clean.append(a)
        for n in args.threads_list:
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
                path = tmp.name
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
            subprocess.run([sys.executable, os.path.abspath(__file__), *clean,
                            "--threads", str(n), "--_worker-json", path], env=env, check=True)
            with open(path) as f:
                results += json.load(f)
            os.unlink(path)

    print(render(results, args, args.threads_list, load))
    log(f"done in {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
