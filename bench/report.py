#!/usr/bin/env python
"""layernet benchmark report: training steps, predict, GEMM and call overhead,
beside numpy, PyTorch eager (CPU) and scikit-learn, each peer timed in a fresh
process of its own, printed as markdown tables.

    python bench/report.py                       # every workload, 3 rounds (about 5 minutes)
    python bench/report.py --quick               # smoke run (about 30 s)
    python bench/report.py --only train --rounds 5
    python bench/report.py --contention          # also under one busy-looping process
    python bench/report.py --baseline ../old     # another layernet build as an extra peer
    python bench/report.py --json out.json --markdown speed.md

Method. Each (workload, peer) measurement is a fresh Python process
(bench/_worker.py) that imports only the library it times, warms up, times
samples of k back-to-back calls and keeps their median. A round measures every
peer once per workload, in an order rotated from round to round; a peer's time
is the median of its round medians, and its spread the min-max range of those.
Within one process, a library's thread pool (OpenBLAS, OpenMP, torch's) keeps
spinning after its last call and slows the library timed next by up to 3x; a
process per measurement removes that. --in-process times every peer in this
process instead (the old way, labelled as such in the output).

Threads: every peer uses --threads N (default: all usable cores), set through
LAYERNET_NUM_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS
before the worker imports anything, plus torch.set_num_threads.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
WORKER = os.path.join(_HERE, "_worker.py")
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import _markdown  # noqa: E402  (standard library only: numpy is imported later)

SECTIONS = ("train", "predict", "gemm", "overhead")
LIBRARIES = ("layernet", "numpy", "torch", "sklearn")
BASELINE = "layernet@baseline"
THREAD_VARIABLES = ("LAYERNET_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")
TIMING = {"warmup_seconds": 0.2, "sample_seconds": 0.01, "budget_seconds": 0.6,
          "min_samples": 5, "max_samples": 61}
TIMING_QUICK = {"warmup_seconds": 0.05, "sample_seconds": 0.004, "budget_seconds": 0.12,
                "min_samples": 3, "max_samples": 31}
ROUNDS, ROUNDS_QUICK = 3, 2

# A pure-CPU busy loop for --contention. It exits by itself when the report
# dies (parent-death signal where Linux offers it, else a parent check every
# few milliseconds), so it can never outlive the run.
SPIN_CODE = """
import os, sys
parent = int(sys.argv[1])
try:
    import ctypes
    ctypes.CDLL(None).prctl(1, 9)          # PR_SET_PDEATHSIG, SIGKILL
except Exception:
    pass
while os.getppid() == parent:
    for _ in range(200000):
        pass
"""


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------
# Peers
# ---------------------------------------------------------------------------
def main_layernet_dir() -> str:
    """The directory the main "layernet" peer is imported from: an installed
    package's, else this checkout (its in-place build). Workers get it
    explicitly, since their sys.path is not this process's."""
    try:
        spec = importlib.util.find_spec("layernet")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        return os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
    return _REPO


def library_of(peer: str) -> str:
    return "layernet" if peer == BASELINE else peer


def resolve_peers(requested, baseline):
    """(peers to run, {peer: reason it is unavailable}). A library that is not
    installed is left out with a reason; the report goes on without it."""
    peers, unavailable = [], {}
    for lib in requested:
        if lib != "layernet":
            try:
                found = importlib.util.find_spec(lib) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                unavailable[lib] = "not installed"
                continue
        peers.append(lib)
        if lib == "layernet" and baseline:
            peers.append(BASELINE)
    return peers, unavailable


def peer_job_fields(peer, args) -> dict:
    if peer == BASELINE:
        return {"peer": "layernet", "layernet_dir": args.baseline}
    if peer == "layernet":
        return {"peer": "layernet", "layernet_dir": args.layernet_dir}
    return {"peer": peer}


def peer_env(peer, args) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(args.threads)
    if peer == BASELINE:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.baseline, env.get("PYTHONPATH")) if p)
    return env


# ---------------------------------------------------------------------------
# Running jobs: a fresh process each, or (--in-process) this process
# ---------------------------------------------------------------------------
def _describe_failure(proc, records) -> str:
    errors = [r["error"] for r in records if r.get("kind") == "error"]
    if errors:
        return errors[-1]
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = str(-proc.returncode)
        what = f"killed by signal {name}"
    else:
        what = f"exit status {proc.returncode}"
    tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:]
    return what + (f": {tail[0]}" if tail else "")


def run_job(mode, job, env, args):
    """Run a worker job; returns (records, error message or None)."""
    if args.in_process:
        import _worker
        records = []
        try:
            if mode == "measure":
                records.append(_worker.run_measure(job))
            else:
                _worker.run_probe(job, out=records.append)
        except Exception as exc:        # a failing peer must not lose the rest of the report
            return records, f"{type(exc).__name__}: {exc}"
        return records, None
    try:
        proc = subprocess.run([sys.executable, WORKER, mode, json.dumps(job)], env=env,
                              capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return [], f"no result within {args.timeout:g} s (--timeout)"
    records = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "kind" in record:
                records.append(record)
    if proc.returncode != 0:
        return records, _describe_failure(proc, records)
    return records, None


class OtherLoad:
    """What else used the CPUs during a span, as shares of one core: other
    processes (from /proc/stat, minus this process and its waited-for
    children) and the hypervisor ("steal": time a virtual machine's CPUs were
    taken away). Both are None where /proc/stat does not exist. `exclude`, a
    callable giving CPU seconds, names a process of the report's own that is
    not waited for (the busy loop): its time does not count as other."""

    def __init__(self, exclude=None):
        self.exclude = exclude
        self.t0, self.cpu0, self.own0 = time.perf_counter(), self._cpu(), self._own()

    @staticmethod
    def _cpu():
        """(busy seconds without steal, steal seconds) over all CPUs, or None."""
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, irq, softirq = (fields + [0] * 7)[:7]
        steal = fields[7] if len(fields) > 7 else 0
        return (user + nice + system + irq + softirq) / tick, steal / tick

    def _own(self):
        import resource
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        extra = (self.exclude() or 0.0) if self.exclude else 0.0
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + extra

    def shares(self):
        """(other processes' share of a core, steal's share of a core) since construction."""
        wall = time.perf_counter() - self.t0
        cpu = self._cpu()
        if cpu is None or self.cpu0 is None or wall <= 0:
            return None, None
        other = max(0.0, (cpu[0] - self.cpu0[0]) - (self._own() - self.own0)) / wall
        return other, max(0.0, cpu[1] - self.cpu0[1]) / wall


class Spinner:
    """One busy-looping process for --contention, paused (SIGSTOP) while the
    machine should be idle and killed on leaving the `with` block, whatever
    ended it."""

    def __init__(self):
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", SPIN_CODE, str(os.getpid())])
        os.kill(self.proc.pid, signal.SIGSTOP)
        return self

    def cpu_seconds(self):
        """CPU time the busy loop has used so far (None where /proc is missing)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except (OSError, IndexError, ValueError):
            return None

    def busy(self, on: bool) -> None:
        os.kill(self.proc.pid, signal.SIGCONT if on else signal.SIGSTOP)
        if on:
            time.sleep(0.05)              # let it reach its core before the next job starts

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()              # SIGKILL also ends a stopped process
            self.proc.wait()
        return False


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)       # unwinds through the `finally`s: no spinner left behind


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
def selected_workloads(args, W):
    return [spec for section in args.sections for spec in W.report_workloads(section, args.quick)]


def probe(args, peers, specs, log):
    """Versions and the cross-check, once, before any timing: (info per peer
    group, check records, problems)."""
    info, checks, problems = {}, [], []
    groups = [("main", [p for p in peers if p != BASELINE], "layernet")]
    if BASELINE in peers:
        groups.append(("baseline", ["layernet"], BASELINE))
    for name, libs, layernet_peer in groups:
        job = {"peers": libs, "workloads": specs,
               "layernet_dir": args.baseline if name == "baseline" else args.layernet_dir}
        records, error = run_job("probe", job, peer_env(layernet_peer, args), args)
        for r in records:
            if r["kind"] == "info":
                info[name] = r
            elif r["kind"] == "check":
                if name == "baseline":
                    r["values"] = {BASELINE if k == "layernet" else k: v for k, v in r["values"].items()}
                    r["errors"] = {BASELINE if k == "layernet" else k: v for k, v in r["errors"].items()}
                checks.append(r)
        if error:
            problems.append(f"cross-check ({name} build): {error}")
            log(f"cross-check ({name}) failed: {error}")
    return info, checks, problems


def measure_all(args, peers, specs, log, records):
    """Every (workload, peer) once per round, peers in a rotated order, each in
    its own job; with --contention each round measures idle and busy, the
    phase that comes first alternating. Appends the measurement records to
    `records` as they come, so that an interrupted run keeps them."""
    conditions = ("idle", "busy") if args.contention else ("idle",)
    total = args.rounds * len(conditions) * sum(
        len([p for p in peers if library_of(p) in s["peers"]]) for s in specs)
    with (Spinner() if args.contention else contextlib.nullcontext()) as spinner:
        for rnd in range(args.rounds):
            phases = conditions if rnd % 2 == 0 else conditions[::-1]
            for spec in specs:
                here = [p for p in peers if library_of(p) in spec["peers"]]
                shift = rnd % len(here) if here else 0
                order = here[shift:] + here[:shift]
                for condition in phases:
                    if spinner is not None:
                        spinner.busy(condition == "busy")
                    for peer in order:
                        rec = measure_one(args, spec, peer, condition, rnd + 1, spinner)
                        records.append(rec)
                        log(f"[{len(records)}/{total}] round {rnd + 1} {condition} "
                            f"{spec['section']} {spec['key']} {peer}: "
                            + (f"FAILED {rec['error']}" if "error" in rec
                               else _markdown.fmt_time(rec["median"])))


def measure_one(args, spec, peer, condition, rnd, spinner=None) -> dict:
    """One job: `peer` timed on `spec`; the record, with "error" when it failed.
    Its "other_load" leaves out the busy loop's own time."""
    job = {**peer_job_fields(peer, args), "workload": spec, "timing": args.timing,
           "threads": args.threads}
    load = OtherLoad(exclude=spinner.cpu_seconds if spinner is not None else None)
    got, error = run_job("measure", job, peer_env(peer, args), args)
    other, steal = load.shares()
    rec = {"section": spec["section"], "key": spec["key"], "peer": peer,
           "condition": condition, "round": rnd, "other_load": other, "steal": steal}
    result = next((r for r in got if r.get("kind") == "measurement"), None)
    if error or result is None:
        rec["error"] = error or "the worker printed no measurement"
    else:
        rec.update({k: v for k, v in result.items() if k not in ("kind", "peer", "key")})
    return rec


def summarize(records, specs):
    """Per (section, key, condition, peer): the median of the round medians and
    their min and max, the number of rounds, the most CPU other processes took
    during one of its rounds, and the errors."""
    flops = {(s["section"], s["key"]): s["flops"] for s in specs}
    groups = {}
    for r in records:
        groups.setdefault((r["section"], r["key"], r["condition"], r["peer"]), []).append(r)
    out = []
    for (section, key, condition, peer), rs in groups.items():
        medians = [r["median"] for r in rs if "error" not in r]
        loads = [r["other_load"] for r in rs if r.get("other_load") is not None]
        out.append({"section": section, "key": key, "condition": condition, "peer": peer,
                    "flops": flops.get((section, key)), "rounds": len(medians),
                    "median": statistics.median(medians) if medians else None,
                    "min": min(medians) if medians else None,
                    "max": max(medians) if medians else None,
                    "max_other_load": max(loads) if loads else None,
                    "errors": [f"round {r['round']}: {r['error']}" for r in rs if "error" in r]})
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return []
    return [x for x in ("avx2", "fma", "avx512f") if x in flags]


# ---------------------------------------------------------------------------
def _positive_int():
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < 1:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
        return value
    return parse


def _positive_float():
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
        return value
    return parse


def _choice_list(allowed):
    def parse(text):
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of "
                                             f"{', '.join(allowed)}, got {text!r}")
        return [x for x in allowed if x in items]          # canonical order, no repeats
    return parse


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", type=_choice_list(SECTIONS), default=list(SECTIONS),
                   metavar="SECTIONS", help="train, predict, gemm and/or overhead, comma-separated "
                                            "(default: all)")
    p.add_argument("--quick", action="store_true",
                   help="one or two workloads per section, 2 rounds, short samples (smoke run)")
    p.add_argument("--rounds", type=_positive_int(), default=None,
                   help=f"rounds of every peer (default {ROUNDS}, quick {ROUNDS_QUICK})")
    p.add_argument("--threads", type=_positive_int(), default=None,
                   help="threads for every peer (default: all usable cores)")
    p.add_argument("--peers", type=_choice_list(LIBRARIES), default=list(LIBRARIES),
                   help="libraries to time, comma-separated (default: all installed)")
    p.add_argument("--contention", action="store_true",
                   help="measure every workload idle and beside one busy-looping process")
    p.add_argument("--baseline", metavar="PATH",
                   help="a source tree with an in-place built layernet, measured as the extra "
                        "peer layernet@baseline")
    p.add_argument("--in-process", action="store_true",
                   help="time every peer in this one process (thread pools interfere; "
                        "not for published numbers)")
    p.add_argument("--timeout", type=_positive_float(), default=600.0,
                   help="seconds a worker may take before it counts as failed (default 600)")
    p.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    p.add_argument("--markdown", metavar="PATH", nargs="?", const="-", default="-",
                   help="markdown output (the default, on stdout); with PATH, also write it there")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    if args.baseline is not None:
        path = os.path.abspath(args.baseline)
        if not os.path.isfile(os.path.join(path, "layernet", "__init__.py")):
            p.error(f"--baseline: expected a source tree holding layernet/__init__.py (built in "
                    f"place), got {args.baseline!r}")
        if args.in_process:
            p.error("--baseline: a second layernet build cannot share one process with the first; "
                    "leave out --in-process")
        args.baseline = path
    args.sections = args.only
    args.rounds = args.rounds or (ROUNDS_QUICK if args.quick else ROUNDS)
    args.threads_given = args.threads is not None
    args.threads = args.threads or usable_cpus()
    args.timing = TIMING_QUICK if args.quick else TIMING
    return args


def _write_atomically(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()

    def log(msg):
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if args.in_process:
        # This process is the one timed: its libraries read these at import.
        for var in THREAD_VARIABLES:
            os.environ[var] = str(args.threads)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    args.layernet_dir = main_layernet_dir()
    if args.in_process and args.layernet_dir and args.layernet_dir not in sys.path:
        sys.path.insert(0, args.layernet_dir)
    import workloads as W
    specs = selected_workloads(args, W)
    for spec in specs:
        spec["flops"] = W.spec_flops(spec)
    peers, unavailable = resolve_peers(args.peers, args.baseline)

    log(f"{len(specs)} workloads, peers {', '.join(peers)}, {args.threads} threads, "
        f"{args.rounds} rounds" + (", in-process" if args.in_process else ""))
    interrupted = False
    info, checks, problems, records = {}, [], [], []
    try:
        info, checks, problems = probe(args, peers, specs, log)
        measure_all(args, peers, specs, log, records)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: reporting what was measured")

    machine = {"cpu": cpu_model(), "cpu_flags": cpu_flags(), "usable_cpus": usable_cpus(),
               "os": f"{platform.system()} {platform.release()}",
               "date": time.strftime("%Y-%m-%d %H:%M")}
    run = {"mode": "in-process" if args.in_process else "process per measurement",
           "threads": args.threads, "threads_given": args.threads_given, "rounds": args.rounds,
           "quick": args.quick, "contention": args.contention, "sections": args.sections,
           "timing": args.timing, "baseline": args.baseline, "interrupted": interrupted}
    summary = summarize(records, specs)
    text = _markdown.render(run=run, machine=machine, info=info, peers=peers,
                            unavailable=unavailable, specs=specs, summary=summary,
                            records=records, checks=checks, problems=problems)
    print(text)
    if args.markdown != "-":
        _write_atomically(args.markdown, text + "\n")
    if args.json:
        _write_atomically(args.json, json.dumps(
            {"run": run, "machine": machine, "info": info, "peers": peers,
             "unavailable": unavailable, "workloads": specs, "summary": summary,
             "measurements": records, "checks": checks, "problems": problems}, indent=1) + "\n")
    log(f"done in {time.perf_counter() - t0:.0f} s")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
