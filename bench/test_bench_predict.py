"""Predict benchmarks (float32) of a 784-256-128-10 ReLU network: latency at
batch 1, and throughput at larger batches, in layernet, numpy and PyTorch eager
(inference_mode). In-process (pytest-benchmark); bench/report.py is the method
for published numbers."""
import numpy as np
import pytest

import workloads
from conftest import require

IMPLS = ("layernet", "numpy", "torch")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("batch", workloads.PREDICT_BATCHES)
def test_predict(benchmark, impl, batch):
    require(impl)
    predict = workloads.make_predict(impl, workloads.PREDICT_SIZES, batch, np.float32)
    name = "-".join(map(str, workloads.PREDICT_SIZES))
    benchmark.group = f"predict {name}/b{batch}"
    benchmark.extra_info["gflop"] = workloads.predict_flops(workloads.PREDICT_SIZES, batch) / 1e9
    benchmark(predict)
