"""pytest-benchmark configuration for bench/ (never collected by `pytest tests/`).

These benchmarks time every library inside the one pytest process, where one
library's idle-spinning thread pool slows the next; they are for quick local
comparisons. Published numbers come from bench/report.py, which times each
peer in a fresh process of its own.

Run from the repository root:

    pytest bench/                          # all benchmarks, 2 threads
    pytest bench/ --bench-threads 1        # 1 thread in layernet, numpy's BLAS and torch
    pytest bench/test_bench_gemm.py -k "float32 and 1024"

Peers that are not installed (torch, scikit-learn) are skipped, not failed.
Benchmarks in one group ("gemm float32 n=1024", "train 784-256-128-10/b128", ...)
time the same work, so `--benchmark-group-by=group` (the default) puts them
side by side. bench/test_report.py holds unit tests of bench/report.py.
"""
import os
import sys

# Without threadpoolctl, numpy's BLAS only reads its thread count at import.
if os.environ.get("BENCH_THREADS"):
    for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, os.environ["BENCH_THREADS"])

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)                      # `import workloads`
try:
    import layernet  # noqa: F401  (an installed layernet wins)
except ImportError:
    sys.path.insert(0, os.path.dirname(_HERE))  # else the in-place build of this checkout

import pytest  # noqa: E402

import workloads  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--bench-threads", type=int,
                     default=int(os.environ.get("BENCH_THREADS", "2")),
                     help="threads for layernet, numpy's BLAS and torch (default 2, or $BENCH_THREADS)")


def pytest_configure(config):
    config.addinivalue_line("markers", "bench_impl(name): which library a benchmark times")


@pytest.fixture(scope="session", autouse=True)
def bench_threads(request):
    n = request.config.getoption("--bench-threads")
    got = workloads.set_threads(n)
    if not workloads.threadpoolctl_available():
        import warnings
        warnings.warn("threadpoolctl is not installed: numpy's BLAS uses the thread count it "
                      "read at import (set BENCH_THREADS=n to control it)")
    return got


def require(impl):
    """Skip the calling benchmark when `impl`'s library is not installed."""
    if not workloads.available(impl):
        pytest.skip(f"{impl} is not installed")
