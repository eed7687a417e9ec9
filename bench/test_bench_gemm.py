"""GEMM benchmarks: C = A @ B (square n x n, into a preallocated C) through
layernet._kernels.gemm, numpy.matmul(out=) and torch.mm(out=). In-process
(pytest-benchmark); bench/report.py is the method for published numbers."""
import pytest

import workloads
from conftest import require

IMPLS = ("layernet", "numpy", "torch")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", workloads.GEMM_SIZES)
@pytest.mark.parametrize("dtype", list(workloads.DTYPES))
def test_gemm(benchmark, impl, n, dtype):
    require(impl)
    fn = workloads.make_gemm(impl, n, workloads.DTYPES[dtype])
    benchmark.group = f"gemm {dtype} n={n}"
    benchmark.extra_info["gflop"] = workloads.gemm_flops(n) / 1e9
    benchmark(fn)
