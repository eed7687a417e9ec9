"""Markdown for bench/report.py: the header (machine, libraries, method), one
table per section, the contention table and the cross-checks. Standard
library only; every function takes the report's plain records."""
from __future__ import annotations

import statistics

BASELINE = "layernet@baseline"
LIBRARY_PEERS = ("numpy", "torch", "sklearn")       # the other libraries ("best peer" is one)
PEER_ORDER = ("layernet", BASELINE) + LIBRARY_PEERS
MEANINGFUL_FLOPS = 1e6      # below this a call is overhead-bound: GFLOP/s would mislead
DISTURBED_LOAD = 0.25       # other processes' share of a core that marks a cell with "*"
DISTURBED_NOTE = (f"\\* other processes used more than {DISTURBED_LOAD:.0%} of a core during at "
                  f"least one round of this measurement (each job's load is in --json).")
SECTION_TITLES = {
    "train": "Training step (forward, backward, SGD update), float32",
    "predict": "Predict, float32",
    "gemm": "GEMM: C = A @ B, square n x n, into a preallocated C "
            "(`layernet._kernels.gemm`, `np.matmul(out=)`, `torch.mm(out=)`)",
    "overhead": "Call overhead: a 1-1 network at batch 1 (what one call through the "
                "Python/C boundary costs), float32",
}
SECTION_ORDER = ("train", "predict", "gemm", "overhead")


def fmt_time(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def fmt_ratio(x) -> str:
    return "-" if x is None else f"{x:.2f}x"


def spread_percent(row):
    """Half the min-max range of the round medians, relative to their median."""
    if row is None or row["median"] is None or row["rounds"] < 2:
        return None
    return (row["max"] - row["min"]) / 2 / row["median"] * 100


def disturbed(row) -> bool:
    return bool(row) and (row.get("max_other_load") or 0.0) > DISTURBED_LOAD


def fmt_cell(row) -> str:
    if row is None:
        return "-"
    if row["median"] is None:
        return "failed"
    spread = spread_percent(row)
    text = fmt_time(row["median"])
    if spread is not None:
        text += f" ±{spread:.1f}%" if spread < 10 else f" ±{spread:.0f}%"
    return text + (" \\*" if disturbed(row) else "")


def ratio(row, ref):
    """row's time / ref's time (> 1: ref is faster), or None."""
    if not row or not ref or row["median"] is None or ref["median"] is None:
        return None
    return row["median"] / ref["median"]


def _index(summary, condition="idle"):
    return {(r["section"], r["key"], r["peer"]): r for r in summary if r["condition"] == condition}


def best_peer(idx, section, key, peers):
    """The fastest of the other libraries on (section, key): (peer, row) or (None, None)."""
    rows = [(p, idx.get((section, key, p))) for p in peers if p in LIBRARY_PEERS]
    rows = [(p, r) for p, r in rows if r and r["median"] is not None]
    return min(rows, key=lambda pr: pr[1]["median"]) if rows else (None, None)


# ---------------------------------------------------------------------------
def header(run, machine, info, peers, unavailable) -> list:
    main = info.get("main", {})
    lines = ["# layernet benchmark report", ""]
    if run["mode"] == "in-process":
        lines += ["**In-process mode: every peer was timed inside one Python process, where one "
                  "library's idle-spinning thread pool slows the next by up to 3x. These numbers "
                  "are not the published method's (run without `--in-process` for those).**", ""]
    if run.get("interrupted"):
        lines += ["**Interrupted: the tables hold only what was measured before.**", ""]
    flags = ", ".join(machine["cpu_flags"]) or "no AVX2"
    lines.append(f"- Machine: {machine['cpu']}, {machine['usable_cpus']} usable cores ({flags}), "
                 f"{machine['os']}, {machine['date']}")
    libs = [f"Python {main.get('python', '?')}",
            f"numpy {main.get('numpy', '?')} (BLAS: {main.get('blas', '?')})"]
    names = {"torch": "PyTorch", "sklearn": "scikit-learn"}
    for lib in ("torch", "sklearn"):
        if isinstance(main.get(lib), dict):
            libs.append(f"{names[lib]}: import failed ({main[lib].get('error')})")
        elif lib in main:
            libs.append(f"{names[lib]} {main[lib]}")
        elif lib in unavailable:
            libs.append(f"{names[lib]}: {unavailable[lib]}, left out")
    lines.append("- " + "; ".join(libs))
    for name, peer in (("main", "layernet"), ("baseline", BASELINE)):
        ln = info.get(name, {}).get("layernet")
        if peer not in peers:
            continue
        if ln is None or "error" in ln:
            why = ln["error"] if ln else "no build information (see Checks)"
            lines.append(f"- {peer}: {why}")
            continue
        lines.append(f"- {peer} {ln.get('version')} from `{ln.get('file')}`: kernels "
                     f"{ln.get('isa')} (available: {', '.join(ln.get('available_isas', []))}), "
                     f"threads {'on' if ln.get('threads_enabled', ln.get('openmp')) else 'off'}")
    threads = (f"{run['threads']} per peer (--threads)" if run["threads_given"]
               else f"{run['threads']} per peer (all usable cores)")
    rounds = f"{run['rounds']} round" + ("s" if run["rounds"] != 1 else "")
    lines.append(f"- Threads: {threads}; {rounds}"
                 + ("; quick run (short samples, fewer workloads)" if run["quick"] else ""))
    t = run["timing"]
    if run["mode"] == "in-process":
        where = "every peer runs in this one process"
    else:
        where = "each (workload, peer, round) runs in a fresh Python process that imports only " \
                "the library it times"
    lines.append(f"- Method: {where}; it warms up, then times samples of k back-to-back calls "
                 f"(a sample lasts about {t['sample_seconds'] * 1e3:g} ms) and keeps their median. "
                 f"Each round times every peer once per workload, in an order rotated from round "
                 f"to round. A time is the median of the round medians, ± half their min-max "
                 f"range. Ratios are peer time / layernet time: above 1, layernet is faster. "
                 f"GFLOP/s count the matrix products only.")
    return lines + [""]


def load_line(records) -> list:
    """How much else ran during the measurements: other processes (never the
    report's own busy loop), and the hypervisor's steal on a virtual machine."""
    parts = []
    for field, what in (("other_load", "Other processes' CPU use"),
                        ("steal", "CPU time stolen by the hypervisor")):
        vals = [(r[field], r) for r in records if r.get(field) is not None]
        if not vals:
            continue
        worst, r = max(vals, key=lambda x: x[0])
        parts.append(f"{what} while measuring: median "
                     f"{statistics.median(x for x, _ in vals) * 100:.0f}% of a core, worst "
                     f"{worst * 100:.0f}% ({r['section']} {r['key']}, {r['peer']}, "
                     f"round {r['round']}{', busy' if r['condition'] == 'busy' else ''}).")
    return [" ".join(parts), ""] if parts else []


def section_table(section, specs, summary, peers) -> list:
    rows = [s for s in specs if s["section"] == section]
    if not rows:
        return []
    idx = _index(summary)
    cols = [p for p in PEER_ORDER if p in peers
            and any(p.split("@")[0] in s["peers"] for s in rows)]
    others = [p for p in cols if p in LIBRARY_PEERS]
    show_gflops = section != "overhead" and any(s["flops"] >= MEANINGFUL_FLOPS for s in rows)
    head = ["workload"] + cols + [f"{p} / layernet" for p in others]
    if others:
        head.append("best peer / layernet")
    if BASELINE in cols:
        head.append(f"{BASELINE} / layernet")
    if show_gflops:
        head += [f"{p} GFLOP/s" for p in cols]
    lines = [f"## {SECTION_TITLES[section]}", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for s in rows:
        key = s["key"]
        ln = idx.get((section, key, "layernet"))
        cells = [key] + [fmt_cell(idx.get((section, key, p))) for p in cols]
        cells += [fmt_ratio(ratio(idx.get((section, key, p)), ln)) for p in others]
        if others:
            name, row = best_peer(idx, section, key, others)
            r = ratio(row, ln)
            cells.append("-" if r is None else f"{r:.2f}x ({name})")
        if BASELINE in cols:
            cells.append(fmt_ratio(ratio(idx.get((section, key, BASELINE)), ln)))
        if show_gflops:
            for p in cols:
                row = idx.get((section, key, p))
                ok = row and row["median"] and s["flops"] >= MEANINGFUL_FLOPS
                cells.append(f"{s['flops'] / row['median'] / 1e9:.1f}" if ok else "-")
        lines.append("| " + " | ".join(cells) + " |")
    if any(disturbed(idx.get((section, s["key"], p))) for s in rows for p in cols):
        lines += ["", DISTURBED_NOTE]
    return lines + [""]


def contention_table(specs, summary, peers) -> list:
    idle, busy = _index(summary, "idle"), _index(summary, "busy")
    if not busy:
        return []
    lines = ["## Under contention: one busy-loop process", "",
             "Each round measured every workload twice: with the machine idle and beside one "
             "extra process spinning a pure-Python loop (paused while idle); which came first "
             "alternated from round to round.", "",
             "| workload | peer | idle | busy | busy / idle |", "|---|---|---:|---:|---:|"]
    marked = False
    for s in specs:
        for p in PEER_ORDER:
            if p not in peers or p.split("@")[0] not in s["peers"]:
                continue
            i, b = idle.get((s["section"], s["key"], p)), busy.get((s["section"], s["key"], p))
            if i is None and b is None:
                continue
            lines.append(f"| {s['section']} {s['key']} | {p} | {fmt_cell(i)} | {fmt_cell(b)} | "
                         f"{fmt_ratio(ratio(b, i))} |")
            marked = marked or disturbed(i) or disturbed(b)
    if marked:
        lines += ["", DISTURBED_NOTE + " The busy loop's own time is not counted."]
    return lines + [""]


def disagreements(check) -> list:
    """The peers whose result on one check differs from numpy's beyond its tolerance."""
    out = []
    values, tol = check["values"], check["tolerance"]
    where = f"{check['section']} {check['key']}"
    if check["metric"].startswith("first-step loss"):
        ref = values.get("numpy")
        for peer, v in values.items():
            if peer != "numpy" and ref is not None and not abs(v - ref) <= tol * max(1.0, abs(ref)):
                out.append(f"- {where}: {peer}'s first-step loss {v:.6g} differs from numpy's "
                           f"{ref:.6g}")
    else:
        for peer, v in values.items():
            if not v <= tol:                      # NaN counts as a disagreement
                out.append(f"- {where}: {peer} differs from numpy by {v:.2e} ({check['metric']})")
    return out


def checks_section(checks, problems, records) -> list:
    lines = ["## Checks", ""]
    bad = [line for c in checks for line in disagreements(c)]
    compared = sum(len(c["values"]) for c in checks)
    if bad:
        lines += ["Results that disagree with numpy (checked once, before timing):", ""] + bad
    elif compared:
        worst = {}
        for c in checks:
            if not c["metric"].startswith("first-step loss"):
                for peer, v in c["values"].items():
                    if v > worst.get(c["section"], (-1.0, "", ""))[0]:
                        worst[c["section"]] = (v, peer, c["key"])
        detail = "; ".join(f"largest {sec} difference {v:.1e} ({peer}, {key})"
                           for sec, (v, peer, key) in worst.items())
        rules = list(dict.fromkeys(c["rule"] for c in checks))
        n = len({(c["section"], c["key"]) for c in checks})
        lines.append(f"Before timing, every peer that ran computed the same thing as numpy on "
                     f"{n} workload{'s' if n != 1 else ''}: {', '.join(rules)}"
                     + (f"; {detail}." if detail else "."))
    failures = {}
    for r in records:
        if "error" in r:
            failures.setdefault((r["section"], r["key"], r["peer"], r["error"]), []).append(
                f"{r['condition']} round {r['round']}")
    check_errors = [f"- {c['section']} {c['key']}, {peer} (cross-check): {err}"
                    for c in checks for peer, err in c["errors"].items()]
    if problems or failures or check_errors:
        lines += ["", "Failures (the report went on without these):", ""]
        lines += [f"- {p}" for p in problems] + check_errors
        lines += [f"- {sec} {key}, {peer} ({', '.join(when)}): {err}"
                  for (sec, key, peer, err), when in failures.items()]
    return lines + [""]


def render(run, machine, info, peers, unavailable, specs, summary, records, checks,
           problems) -> str:
    out = header(run, machine, info, peers, unavailable)
    out += load_line(records)
    for section in SECTION_ORDER:
        if section in run["sections"]:
            out += section_table(section, specs, summary, peers)
    out += contention_table(specs, summary, peers)
    out += checks_section(checks, problems, records)
    return "\n".join(out).rstrip() + "\n"
