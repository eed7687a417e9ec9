"""Environment configuration (LAYERNET_ISA, LAYERNET_NUM_THREADS), ln.info(),
thread controls, and no per-step allocation in steady state."""
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import layernet as ln
from child_python import PACKAGE_PARENT, child_env
from layernet import _kernels as K

INFO_CMD = [sys.executable, "-c", "import layernet, json; print(json.dumps(layernet.info()))"]


def run_info(**env_vars):
    env = child_env({k: v for k, v in os.environ.items()
                     if k not in ("LAYERNET_ISA", "LAYERNET_NUM_THREADS", "OMP_NUM_THREADS")},
                    **env_vars)
    return subprocess.run(INFO_CMD, env=env, capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(PACKAGE_PARENT) or "/")


def info_from(**env_vars):
    proc = run_info(**env_vars)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("isa", K.available_isas())
def test_env_isa_honoured(isa):
    info = info_from(LAYERNET_ISA=isa)
    assert info["isa"] == isa
    assert isa in info["available_isas"]


def test_env_isa_case_and_space_insensitive():
    assert info_from(LAYERNET_ISA=" Reference ")["isa"] == "reference"


def test_env_isa_default_is_best_available():
    info = info_from()
    order = list(K.ISAS)                # the build's own order of preference
    best = next(name for name in order if name in info["available_isas"])
    assert info["isa"] == best
    assert info["available_isas"] == K.available_isas()


@pytest.mark.parametrize("value", ["nonsense", "sse9"]
                         + [n for n in ("avx2", "avx512") if n not in K.available_isas()])
def test_env_isa_unknown_or_unavailable_fails_import(value):
    proc = run_info(LAYERNET_ISA=value)
    assert proc.returncode != 0
    assert "LAYERNET_ISA" in proc.stderr
    assert value in proc.stderr
    assert "ImportError" in proc.stderr or "RuntimeError" in proc.stderr


def test_env_num_threads():
    info = info_from(LAYERNET_NUM_THREADS="1")
    assert info["num_threads"] == 1
    if info["threads_enabled"]:
        assert info_from(LAYERNET_NUM_THREADS="2")["num_threads"] == 2
        # LAYERNET_NUM_THREADS wins over OMP_NUM_THREADS
        assert info_from(LAYERNET_NUM_THREADS="1", OMP_NUM_THREADS="2")["num_threads"] == 1
        assert info_from(OMP_NUM_THREADS="2")["num_threads"] == 2


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_env_num_threads_invalid_fails_import(value):
    proc = run_info(LAYERNET_NUM_THREADS=value)
    assert proc.returncode != 0
    assert "LAYERNET_NUM_THREADS" in proc.stderr


def test_info_keys_and_types():
    info = ln.info()
    assert {"isa", "available_isas", "num_threads", "threads_enabled", "compiler_flags",
            "version"} <= set(info)
    assert isinstance(info["isa"], str) and info["isa"] in info["available_isas"]
    assert isinstance(info["available_isas"], list) and "reference" in info["available_isas"]
    assert isinstance(info["num_threads"], int) and info["num_threads"] >= 1
    assert isinstance(info["threads_enabled"], bool)
    assert isinstance(info["compiler_flags"], list)
    assert all(isinstance(f, str) for f in info["compiler_flags"])
    assert info["version"] == ln.__version__
    json.dumps(info)


def test_info_follows_set_isa():
    previous = K.get_isa()
    try:
        for isa in K.available_isas():
            K.set_isa(isa)
            assert ln.info()["isa"] == isa
    finally:
        K.set_isa(previous)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_rejects(bad):
    before = ln.get_num_threads()
    with pytest.raises(ValueError):
        ln.set_num_threads(bad)
    assert ln.get_num_threads() == before


def test_set_num_threads_roundtrip():
    before = ln.get_num_threads()
    try:
        ln.set_num_threads(1)
        assert ln.get_num_threads() == 1
        assert ln.info()["num_threads"] == 1
        if ln.info()["threads_enabled"]:
            ln.set_num_threads(3)
            assert ln.get_num_threads() == 3
    finally:
        ln.set_num_threads(before)
    assert ln.get_num_threads() == before


# ---------------------------------------------------------------------------
# No allocation per step
# ---------------------------------------------------------------------------

def _growth(fn, calls=300):
    """Traced Python-heap growth over `calls` calls of fn, after a warm-up."""
    for _ in range(20):
        fn()
    tracemalloc.start()
    try:
        for _ in range(5):
            fn()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(calls):
            fn()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before


def _net(dtype):
    return ln.Network([ln.Dense(16, 32, activation="relu"), ln.Dense(32, 8, activation="tanh"),
                       ln.Dense(8, 3)], dtype=dtype, seed=0)


@pytest.mark.parametrize("isa", K.available_isas())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_train_step_does_not_grow_memory(dtype, isa):
    previous = K.get_isa()
    K.set_isa(isa)
    try:
        net = _net(dtype)
        rng = np.random.default_rng(0)
        X = rng.uniform(-1, 1, (64, 16)).astype(dtype)
        Y = rng.uniform(-1, 1, (64, 3)).astype(dtype)
        growth = _growth(lambda: net.train_step(X, Y, 0.001))
    finally:
        K.set_isa(previous)
    assert growth < 4096, f"traced memory grew by {growth} bytes over 300 train_step calls"


@pytest.mark.parametrize("isa", K.available_isas())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_does_not_grow_memory(dtype, isa):
    previous = K.get_isa()
    K.set_isa(isa)
    try:
        net = _net(dtype)
        X = np.random.default_rng(1).uniform(-1, 1, (64, 16)).astype(dtype)
        kept = []
        growth = _growth(lambda: kept.clear() or kept.append(net.predict(X)))
    finally:
        K.set_isa(previous)
    assert growth < 4096, f"traced memory grew by {growth} bytes over 300 predict calls"


def test_gradients_steady_memory():
    net = _net(np.float64)
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (32, 16))
    Y = rng.uniform(-1, 1, (32, 3))
    kept = []
    growth = _growth(lambda: kept.clear() or kept.append(net.gradients(X, Y)))
    assert growth < 4096, f"traced memory grew by {growth} bytes over 300 gradients calls"


def test_memory_probe_sees_numpy_allocations():
    """Control: the probe above does detect kept arrays, so a pass means something."""
    net = _net(np.float32)
    X = np.ones((64, 16), np.float32)
    leak = []
    growth = _growth(lambda: leak.append(net.predict(X)))
    assert growth > 300 * 64 * 3 * 4


def _c_allocations(fn, calls=50):
    """Heap allocations the C library makes over `calls` calls of fn, after one warm-up."""
    fn()
    before = K.alloc_count()
    for _ in range(calls):
        fn()
    return K.alloc_count() - before


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", K.available_isas())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_steady_state_allocates_nothing_in_c(dtype, isa, threads):
    # A network big enough that its GEMMs pack, thread, and (batch 1) take the
    # row kernel with its columns split; tracemalloc cannot see any of this.
    previous_isa, previous_threads = K.get_isa(), K.get_num_threads()
    K.set_isa(isa)
    K.set_num_threads(threads)
    try:
        net = ln.Network([ln.Dense(300, 256, activation="relu"), ln.Dense(256, 260, activation="tanh"),
                          ln.Dense(260, 3)], dtype=dtype, seed=0)
        rng = np.random.default_rng(3)
        X = rng.uniform(-1, 1, (200, 300)).astype(dtype)
        Y = rng.uniform(-1, 1, (200, 3)).astype(dtype)
        adam = ln.Adam(1e-4)
        assert _c_allocations(lambda: net.train_step(X, Y, 1e-4)) == 0
        assert _c_allocations(lambda: net.predict(X)) == 0
        assert _c_allocations(lambda: net.predict(X[:1])) == 0
        assert _c_allocations(lambda: net.fit(X, Y, epochs=1, batch_size=50, optimizer=adam,
                                              verbose=0), calls=3) == 0
    finally:
        K.set_isa(previous_isa)
        K.set_num_threads(previous_threads)


def test_alloc_count_sees_workspace_growth():
    """Control: a larger batch than any before must grow the workspaces."""
    net = ln.Network([ln.Dense(16, 8, activation="relu"), ln.Dense(8, 3)], seed=0)
    rng = np.random.default_rng(4)
    net.train_step(rng.uniform(-1, 1, (8, 16)), rng.uniform(-1, 1, (8, 3)), 1e-3)
    before = K.alloc_count()
    net.train_step(rng.uniform(-1, 1, (4096, 16)), rng.uniform(-1, 1, (4096, 3)), 1e-3)
    assert K.alloc_count() > before


def test_aligned_zeros():
    """Zeroed vectors of the asked size and dtype, starting on 64-byte boundaries
    (numpy alone gives 16, so a plain np.zeros fails most of these)."""
    for dtype in (np.float32, np.float64):
        for size in range(1, 40):
            a = K.aligned_zeros(size, dtype)
            assert a.shape == (size,) and a.dtype == dtype
            assert a.ctypes.data % 64 == 0, (size, dtype)
            assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
            np.testing.assert_array_equal(a, np.zeros(size, dtype))
    assert K.aligned_zeros(0, np.float32).shape == (0,)
    with pytest.raises(ValueError, match="size: expected 0 or more elements, got -1"):
        K.aligned_zeros(-1, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_and_optimizer_state_start_on_64_byte_boundaries(dtype):
    """The engine lays each tensor out on a 64-byte boundary of its flat vectors;
    the vectors must start on one too, or the row kernel's loads of every weight
    row straddle cache lines."""
    rng = np.random.default_rng(0)
    for widths in ([784, 256, 128, 10], [3, 5, 1], [17, 33, 2]):
        net = ln.Network([ln.Dense(a, b, activation="relu") for a, b in zip(widths[:-1], widths[1:])],
                         dtype=dtype)
        opt = ln.Adam(lr=1e-3)
        X = rng.standard_normal((8, widths[0]))
        net.fit(X, rng.standard_normal((8, widths[-1])), epochs=1, batch_size=8, optimizer=opt)
        arrays = [t for layer in net.layers for t in (layer.W, layer.B)]
        arrays += [s for per_tensor in opt.state for s in per_tensor]
        assert len(arrays) == 2 * len(net.layers) * 3
        for a in arrays:
            assert a.ctypes.data % 64 == 0, (widths, a.shape)
