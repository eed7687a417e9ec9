"""Unit tests of bench/report.py's machinery (aggregation, ratios, tables, the
order of the jobs, failure handling, the busy-loop process, the worker's sample
plan on a fake clock). They time nothing and assert no timings.

    pytest bench/test_report.py
"""
import json
import math
import os
import signal

import pytest

import _markdown
import _worker
import report
import workloads as W


def _rec(peer, rnd, median, condition="idle", key="2-16-1/b32", section="train", **extra):
    return {"section": section, "key": key, "peer": peer, "condition": condition,
            "round": rnd, "median": median, **extra}


def _spec(section="train", key="2-16-1/b32", peers=("layernet", "numpy", "torch"), flops=7168.0):
    return {"section": section, "key": key, "peers": list(peers), "flops": flops}


# ---------------------------------------------------------------------------
# Aggregation and ratios
# ---------------------------------------------------------------------------
def test_summary_is_the_median_of_round_medians_with_min_max_and_errors():
    records = [_rec("numpy", 1, 30e-6), _rec("numpy", 2, 10e-6), _rec("numpy", 3, 20e-6),
               {**_rec("numpy", 4, None), "error": "boom"}, _rec("layernet", 1, 4e-6)]
    rows = {r["peer"]: r for r in report.summarize(records, [_spec()])}
    assert rows["numpy"]["median"] == 20e-6
    assert (rows["numpy"]["min"], rows["numpy"]["max"]) == (10e-6, 30e-6)
    assert rows["numpy"]["rounds"] == 3
    assert rows["numpy"]["errors"] == ["round 4: boom"]
    assert rows["numpy"]["flops"] == 7168.0
    # (30 - 10) / 2 / 20 = 50%
    assert _markdown.spread_percent(rows["numpy"]) == pytest.approx(50.0)
    assert _markdown.fmt_cell(rows["numpy"]) == "20.0 µs ±50%"
    assert _markdown.fmt_cell(rows["layernet"]) == "4.0 µs"      # one round: no spread


def test_cells_disturbed_by_other_processes_are_marked_and_explained():
    records = [_rec("layernet", 1, 4e-6, other_load=0.02), _rec("numpy", 1, 40e-6, other_load=0.9),
               _rec("numpy", 2, 40e-6, other_load=0.0)]
    summary = report.summarize(records, [_spec()])
    rows = {r["peer"]: r for r in summary}
    assert rows["numpy"]["max_other_load"] == 0.9
    assert _markdown.fmt_cell(rows["numpy"]) == "40.0 µs ±0.0% \\*"
    assert _markdown.fmt_cell(rows["layernet"]) == "4.0 µs"
    lines = _markdown.section_table("train", [_spec()], summary, ["layernet", "numpy"])
    assert lines[-2] == _markdown.DISTURBED_NOTE


def test_a_peer_whose_every_round_failed_shows_failed():
    records = [{**_rec("torch", 1, None), "error": "ImportError: no torch"}]
    (row,) = report.summarize(records, [_spec()])
    assert row["median"] is None and row["rounds"] == 0
    assert _markdown.fmt_cell(row) == "failed"


def test_best_peer_is_the_fastest_other_library_never_the_baseline_build():
    summary = report.summarize(
        [_rec("layernet", 1, 2e-6), _rec("layernet@baseline", 1, 1e-6), _rec("numpy", 1, 10e-6),
         _rec("torch", 1, 5e-6)], [_spec()])
    idx = _markdown._index(summary)
    name, row = _markdown.best_peer(idx, "train", "2-16-1/b32",
                                    ["layernet", "layernet@baseline", "numpy", "torch"])
    assert name == "torch"
    assert _markdown.ratio(row, idx[("train", "2-16-1/b32", "layernet")]) == pytest.approx(2.5)


def test_section_table_rows_hold_times_ratios_and_gflops():
    spec = _spec(section="gemm", key="float32 n=1024", flops=W.gemm_flops(1024))
    summary = report.summarize([_rec("layernet", 1, 10e-3, section="gemm", key="float32 n=1024"),
                                _rec("numpy", 1, 12e-3, section="gemm", key="float32 n=1024"),
                                _rec("torch", 1, 15e-3, section="gemm", key="float32 n=1024")],
                               [spec])
    lines = _markdown.section_table("gemm", [spec], summary, ["layernet", "numpy", "torch"])
    head = [c.strip() for c in lines[2].strip("|").split("|")]
    row = [c.strip() for c in lines[4].strip("|").split("|")]
    cells = dict(zip(head, row))
    assert cells["layernet"] == "10.00 ms" and cells["numpy"] == "12.00 ms"
    assert cells["numpy / layernet"] == "1.20x" and cells["torch / layernet"] == "1.50x"
    assert cells["best peer / layernet"] == "1.20x (numpy)"
    # 2 * 1024**3 flops in 10 ms
    assert cells["layernet GFLOP/s"] == f"{2 * 1024 ** 3 / 10e-3 / 1e9:.1f}"


def test_overhead_bound_rows_show_no_gflops():
    small, big = _spec(key="2-16-1/b32", flops=7168.0), _spec(key="big", flops=5e9)
    summary = report.summarize([_rec("layernet", 1, 4e-6), _rec("numpy", 1, 40e-6),
                                _rec("layernet", 1, 1.0, key="big"),
                                _rec("numpy", 1, 2.0, key="big")], [small, big])
    lines = _markdown.section_table("train", [small, big], summary, ["layernet", "numpy"])
    head = [c.strip() for c in lines[2].strip("|").split("|")]
    first = dict(zip(head, [c.strip() for c in lines[4].strip("|").split("|")]))
    second = dict(zip(head, [c.strip() for c in lines[5].strip("|").split("|")]))
    assert first["layernet GFLOP/s"] == "-"
    assert second["layernet GFLOP/s"] == "5.0" and second["numpy GFLOP/s"] == "2.5"


def test_contention_table_gives_busy_over_idle():
    records = [_rec("layernet", 1, 4e-6), _rec("layernet", 1, 6e-6, condition="busy")]
    summary = report.summarize(records, [_spec()])
    lines = _markdown.contention_table([_spec()], summary, ["layernet"])
    assert lines[-2] == "| train 2-16-1/b32 | layernet | 4.0 µs | 6.0 µs | 1.50x |"


# ---------------------------------------------------------------------------
# Cross-check verdicts
# ---------------------------------------------------------------------------
def test_disagreements_flag_wrong_losses_and_nan_but_not_rounding():
    loss = {"section": "train", "key": "k", "metric": "first-step loss (must match numpy's)",
            "tolerance": 1e-3, "values": {"numpy": 2.0, "layernet": 2.0 + 1e-4, "torch": 2.1}}
    out = _markdown.disagreements(loss)
    assert len(out) == 1 and "torch's first-step loss 2.1" in out[0]
    diff = {"section": "predict", "key": "k", "metric": "max |output - numpy's|",
            "tolerance": 1e-3, "values": {"layernet": 1e-6, "torch": float("nan")}}
    out = _markdown.disagreements(diff)
    assert len(out) == 1 and "torch" in out[0]


def test_agreement_reports_a_broken_peer_and_keeps_the_others(monkeypatch):
    spec = W.report_workloads("overhead")[1]            # train step 1-1/b1
    real = W.make_callable

    def broken_for_torch(s, impl):
        if impl == "torch":
            raise RuntimeError("torch is broken here")
        return real(s, impl)
    monkeypatch.setattr(W, "make_callable", broken_for_torch)
    got = W.agreement(spec, ["layernet", "numpy", "torch"])
    assert got["errors"] == {"torch": "RuntimeError: torch is broken here"}
    # hand-computed oracle: one 1-1 layer, y = x w + b on the shared data and weights
    X, Y = W.make_data((1, 1), 1)
    (w, b), = W.init_params((1, 1))
    expected = float((X[0, 0] * w[0, 0] + b[0] - Y[0, 0]) ** 2)
    assert got["values"]["numpy"] == pytest.approx(expected, rel=1e-6)
    assert got["values"]["layernet"] == pytest.approx(expected, rel=1e-5)


def test_report_workload_specs_and_flops():
    keys = [s["key"] for s in W.report_workloads("train")]
    assert keys == ["2-16-1/b32", "64-128-64-1/b64", "784-256-128-10/b128",
                    "1024-2048-2048-1024/b1024"]
    assert [s["key"] for s in W.report_workloads("predict")] == [
        "784-256-128-10/b1", "784-256-128-10/b64", "784-256-128-10/b4096", "32-64-4/b512"]
    assert [s["key"] for s in W.report_workloads("gemm")] == ["float32 n=1024", "float64 n=1024"]
    assert [s["key"] for s in W.report_workloads("overhead")] == ["predict 1-1/b1",
                                                                  "train step 1-1/b1"]
    # forward 2*32*(2*16 + 16*1) = 3072; train = 3 * 3072 - 2*32*2*16 (no dX for layer 1)
    assert W.spec_flops(W.report_workloads("train")[0]) == 3 * 3072 - 2048
    assert all(json.loads(json.dumps(s)) == s for sec in W.SECTIONS
               for s in W.report_workloads(sec))        # a spec crosses a process boundary
    assert report.SECTIONS == W.SECTIONS
    with pytest.raises(ValueError, match="section"):
        W.report_workloads("bogus")


# ---------------------------------------------------------------------------
# Peers, the order of jobs, failures
# ---------------------------------------------------------------------------
def test_a_missing_library_is_unavailable_and_the_baseline_follows_layernet(monkeypatch):
    real = report.importlib.util.find_spec
    monkeypatch.setattr(report.importlib.util, "find_spec",
                        lambda name: None if name == "torch" else real(name))
    peers, unavailable = report.resolve_peers(["layernet", "numpy", "torch", "sklearn"], "/x")
    assert peers[:3] == ["layernet", "layernet@baseline", "numpy"]
    assert "torch" not in peers and unavailable == {"torch": "not installed"}


def test_rounds_rotate_the_peers_and_alternate_idle_and_busy(monkeypatch):
    calls, switches = [], []

    class FakeSpinner:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            switches.append("killed")

        def busy(self, on):
            switches.append(on)

        def cpu_seconds(self):
            return 0.0

    def fake_run_job(mode, job, env, args):
        calls.append((job["peer"], env["OPENBLAS_NUM_THREADS"]))
        return [{"kind": "measurement", "median": 1e-6}], None
    monkeypatch.setattr(report, "run_job", fake_run_job)
    monkeypatch.setattr(report, "Spinner", FakeSpinner)
    args = report.parse_args(["--rounds", "3", "--contention", "--threads", "1"])
    args.layernet_dir = None
    records = []
    report.measure_all(args, ["layernet", "numpy", "torch"], [_spec()], lambda m: None, records)
    order = [peer for peer, _ in calls]
    assert order == (["layernet", "numpy", "torch"] * 2 + ["numpy", "torch", "layernet"] * 2
                     + ["torch", "layernet", "numpy"] * 2)
    assert {threads for _, threads in calls} == {"1"}
    assert switches == [False, True, True, False, False, True, "killed"]
    assert [r["condition"] for r in records[::3]] == ["idle", "busy", "busy", "idle", "idle",
                                                      "busy"]


def test_a_failing_worker_is_reported_not_raised(monkeypatch, tmp_path):
    args = report.parse_args(["--quick"])
    # a job the worker rejects: its message comes back
    records, error = report.run_job("measure", {"peer": "nope"}, dict(os.environ), args)
    assert error == "ValueError: peer: expected one of ['layernet', 'numpy', 'sklearn', " \
                    "'torch'], got 'nope'"
    # a worker killed by a signal
    crash = tmp_path / "crash.py"
    crash.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(report, "WORKER", str(crash))
    records, error = report.run_job("measure", {}, dict(os.environ), args)
    assert records == [] and error.startswith("killed by signal SIGSEGV")


def test_the_busy_loop_process_dies_with_the_block_even_on_error():
    with pytest.raises(RuntimeError):
        with report.Spinner() as spinner:
            spinner.busy(True)
            assert spinner.proc.poll() is None
            raise RuntimeError("interrupted")
    assert spinner.proc.returncode == -signal.SIGKILL


def test_the_busy_loop_uses_cpu_only_while_busy():
    import time
    with report.Spinner() as spinner:
        stopped = spinner.cpu_seconds()
        time.sleep(0.2)
        assert spinner.cpu_seconds() == stopped          # SIGSTOP: not one tick more
        spinner.busy(True)
        time.sleep(0.3)
        assert spinner.cpu_seconds() > stopped


def test_bad_options_name_the_option(capsys):
    for argv, text in ((["--rounds", "0"], "--rounds: expected a positive integer, got '0'"),
                       (["--only", "train,bogus"], "--only: expected a comma-separated list"),
                       (["--baseline", "/nonexistent"], "--baseline: expected a source tree")):
        with pytest.raises(SystemExit):
            report.parse_args(argv)
        assert text in capsys.readouterr().err
    assert report.parse_args(["--only", "gemm,train"]).sections == ["train", "gemm"]


# ---------------------------------------------------------------------------
# The worker's sample plan, on a fake clock (1 ms per call)
# ---------------------------------------------------------------------------
def test_time_calls_plans_samples_from_the_warm_up(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(_worker.time, "perf_counter", lambda: clock[0])
    calls = [0]

    def fn():
        calls[0] += 1
        clock[0] += 1e-3
    timing = {"warmup_seconds": 0.02, "sample_seconds": 0.0045, "budget_seconds": 0.1,
              "min_samples": 3, "max_samples": 41}
    got = _worker.time_calls(fn, timing)
    k = math.ceil(0.0045 / 1e-3)                  # 5 calls per sample
    n = round(0.1 / (1e-3 * k))                   # 20 samples
    assert (got["calls_per_sample"], got["samples"]) == (k, n)
    assert got["median"] == pytest.approx(1e-3) and got["min"] == pytest.approx(1e-3)
    warmup = 1 + 20                               # the first call, then 20 ms of calls
    assert calls[0] == warmup + n * k


def test_a_worker_imports_only_the_library_it_times():
    args = report.parse_args(["--quick", "--threads", "1"])
    args.layernet_dir = report.main_layernet_dir()
    tiny = {"warmup_seconds": 0.001, "sample_seconds": 0.0001, "budget_seconds": 0.001,
            "min_samples": 1, "max_samples": 2}
    spec = W.report_workloads("overhead")[1]
    for peer in ("numpy", "layernet"):
        job = {**report.peer_job_fields(peer, args), "workload": spec, "timing": tiny,
               "threads": 1}
        records, error = report.run_job("measure", job, report.peer_env(peer, args), args)
        assert error is None, error
        (rec,) = records
        assert rec["key"] == "train step 1-1/b1" and rec["samples"] in (1, 2)
        assert rec["other_libraries_loaded"] == []
        assert rec["threads"] == ({"blas": 1} if peer == "numpy" else {"layernet": 1})
