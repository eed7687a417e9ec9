"""Training-step benchmarks (float32): one forward, backward and plain-SGD update
of the four benchmark networks, in layernet (net.train_step), numpy, PyTorch
eager and scikit-learn's MLPRegressor.partial_fit. In-process (pytest-benchmark);
bench/report.py is the method for published numbers."""
import numpy as np
import pytest

import workloads
from conftest import require


@pytest.mark.parametrize("impl", workloads.IMPLS)
@pytest.mark.parametrize("workload", workloads.TRAIN_WORKLOADS, ids=lambda w: w.id)
def test_train_step(benchmark, impl, workload):
    require(impl)
    step = workloads.make_train_step(impl, workload, np.float32)
    benchmark.group = f"train {workload.id}"
    benchmark.extra_info["gflop"] = workload.flops / 1e9
    loss = benchmark(step)
    assert np.isfinite(loss)
