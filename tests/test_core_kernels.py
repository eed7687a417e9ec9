"""The C kernels through their Cython hooks (layernet._kernels), against the
numpy oracle in tests/oracle.py. Every test runs in float32 and float64 and
under every instruction-set path this build can run on this CPU."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle as O  # noqa: E402

from layernet import _kernels as K  # noqa: E402

DTYPES = [np.float32, np.float64]
ACTS = list(O.ACTIVATIONS)
TRANS = [(False, False), (False, True), (True, False), (True, True)]

# Sizes chosen to hit every tile edge; a seeded sample of (m, n, k) triples in
# which every size occurs at least once as m, as n and as k.
SIZES = [1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 65, 100, 257]


def _shapes():
    rng = np.random.default_rng(20240601)
    s = len(SIZES)
    triples = [(SIZES[i], SIZES[(i + 5) % s], SIZES[(i + 11) % s]) for i in range(s)]
    for _ in range(10):
        triples.append(tuple(int(v) for v in rng.choice(SIZES, 3)))
    return triples


SHAPES = _shapes()
SHAPE_IDS = [f"{m}x{n}x{k}" for m, n, k in SHAPES]


@pytest.fixture(params=K.available_isas())
def isa(request):
    previous = K.get_isa()
    K.set_isa(request.param)
    assert K.get_isa() == request.param
    yield request.param
    K.set_isa(previous)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


def tol(dtype, k=1):
    """(rtol, atol) for a result built from k-term sums of O(1) products."""
    if dtype == np.float32:
        return 1e-4, 2e-6 * max(k, 1)
    return 1e-10, 1e-13 * max(k, 1)


def close(actual, expected, dtype, k=1):
    rtol, atol = tol(dtype, k)
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def rand(rng, shape, dtype, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(dtype)


def operands(rng, m, n, k, transa, transb, dtype):
    """A and B stored as the hook expects, and op(A), op(B) in float64."""
    A = rand(rng, (k, m) if transa else (m, k), dtype)
    B = rand(rng, (n, k) if transb else (k, n), dtype)
    opA = (A.T if transa else A).astype(np.float64)
    opB = (B.T if transb else B).astype(np.float64)
    return A, B, opA, opB


def kept(rng, name, shape, dtype):
    """What layernet keeps for the derivative: Z for activations that need it,
    else the output H (relu outputs include exact zeros)."""
    return O.kept_tensor(name, rng.uniform(-3, 3, shape)).astype(dtype)


# ---------------------------------------------------------------------------
# GEMM
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("transa,transb", TRANS, ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("m,n,k", SHAPES, ids=SHAPE_IDS)
def test_gemm_transpose_combos(isa, dtype, m, n, k, transa, transb):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    A, B, opA, opB = operands(rng, m, n, k, transa, transb, dtype)
    C = np.full((m, n), np.nan, dtype=dtype)          # beta=0: C must not be read
    out = K.gemm(A, B, C, transa=transa, transb=transb)
    assert out is C
    assert not np.isnan(C).any()
    close(C, opA @ opB, dtype, k)


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.25), (0.0, 3.0),
                                        (2.0, 0.0)])
@pytest.mark.parametrize("transa,transb", TRANS, ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 17, 33), (65, 31, 16), (100, 63, 257)],
                         ids=lambda v: str(v))
def test_gemm_alpha_beta(isa, dtype, m, n, k, transa, transb, alpha, beta):
    rng = np.random.default_rng(k * 7 + m)
    A, B, opA, opB = operands(rng, m, n, k, transa, transb, dtype)
    C0 = rand(rng, (m, n), dtype)
    C = C0.copy()
    K.gemm(A, B, C, transa=transa, transb=transb, alpha=alpha, beta=beta)
    expected = alpha * (opA @ opB) + beta * C0.astype(np.float64)
    close(C, expected, dtype, k * 3)


@pytest.mark.parametrize("m,n,k", [(3, 5, 7), (33, 65, 17), (257, 100, 63)], ids=lambda v: str(v))
@pytest.mark.parametrize("epilogue", [None, "bias_act", "dact"])
def test_gemm_beta_zero_nan_c_never_leaks(isa, dtype, m, n, k, epilogue):
    rng = np.random.default_rng(5)
    A, B, opA, opB = operands(rng, m, n, k, False, False, dtype)
    for fill in (np.nan, np.inf, -np.inf):
        C = np.full((m, n), fill, dtype=dtype)
        kw = {}
        if epilogue == "bias_act":
            kw = dict(activation="tanh", bias=rand(rng, n, dtype))
        elif epilogue == "dact":
            kw = dict(activation="tanh", saved=kept(rng, "tanh", (m, n), dtype))
        K.gemm(A, B, C, alpha=1.0, beta=0.0, epilogue=epilogue, **kw)
        assert np.isfinite(C).all(), f"C's {fill} leaked with beta=0 (epilogue {epilogue})"
        P = opA @ opB
        if epilogue == "bias_act":
            P = np.tanh(P + kw["bias"].astype(np.float64))
        elif epilogue == "dact":
            P = P * O.dact_from_saved("tanh", kw["saved"].astype(np.float64))
        close(C, P, dtype, k)


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("m,n,k", SHAPES[::2], ids=SHAPE_IDS[::2])
def test_gemm_epilogue_bias_act(isa, dtype, m, n, k, activation, with_bias):
    rng = np.random.default_rng(m + 3 * n + 11 * k)
    A, B, opA, opB = operands(rng, m, n, k, False, False, dtype)
    bias = rand(rng, n, dtype) if with_bias else None
    C0 = rand(rng, (m, n), dtype)
    C = C0.copy()
    K.gemm(A, B, C, alpha=0.75, beta=0.5, epilogue="bias_act", activation=activation,
           bias=bias)
    Z = 0.75 * (opA @ opB) + 0.5 * C0.astype(np.float64)
    if with_bias:
        Z = Z + bias.astype(np.float64)
    close(C, O.act(activation, Z), dtype, 2 * k)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("transa,transb", [(False, False), (True, True)], ids=["NN", "TT"])
@pytest.mark.parametrize("m,n,k", SHAPES[1::2], ids=SHAPE_IDS[1::2])
def test_gemm_epilogue_dact(isa, dtype, m, n, k, activation, transa, transb):
    rng = np.random.default_rng(m * 3 + n * 5 + k * 7)
    A, B, opA, opB = operands(rng, m, n, k, transa, transb, dtype)
    S = kept(rng, activation, (m, n), dtype)
    C0 = rand(rng, (m, n), dtype)
    C = C0.copy()
    K.gemm(A, B, C, transa=transa, transb=transb, alpha=1.25, beta=-0.5, epilogue="dact",
           activation=activation, saved=S)
    P = 1.25 * (opA @ opB) - 0.5 * C0.astype(np.float64)
    close(C, P * O.dact_from_saved(activation, S.astype(np.float64)), dtype, 2 * k)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 17, 33), (65, 31, 16)], ids=lambda v: str(v))
def test_gemm_epilogue_keeps_z(isa, dtype, m, n, k, activation):
    """bias_act with zout keeps Z = product + bias and stores act(Z)."""
    rng = np.random.default_rng(m * 5 + n + k)
    A, B, opA, opB = operands(rng, m, n, k, False, False, dtype)
    bias = rand(rng, n, dtype)
    C = np.full((m, n), np.nan, dtype)
    Z = np.full((m, n), np.nan, dtype)
    K.gemm(A, B, C, epilogue="bias_act", activation=activation, bias=bias, zout=Z)
    expected_z = opA @ opB + bias.astype(np.float64)
    close(Z, expected_z, dtype, k)
    close(C, O.act(activation, expected_z), dtype, 2 * k)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("epilogue", [None, "bias_act", "dact"])
@pytest.mark.parametrize("n,k", [(1, 5), (7, 3), (23, 100), (250, 300), (1001, 700)],
                         ids=lambda v: str(v))
def test_gemm_one_row(isa, dtype, n, k, epilogue, threads):
    # m == 1 takes the row kernel; 1001 x 700 is big enough to split its
    # columns across threads, so bias and H must follow each thread's slice.
    rng = np.random.default_rng(n + k)
    A, B, opA, opB = operands(rng, 1, n, k, False, False, dtype)
    kw = {}
    if epilogue == "bias_act":
        kw = dict(activation="sigmoid", bias=rand(rng, n, dtype))
    elif epilogue == "dact":
        kw = dict(activation="relu", saved=kept(rng, "relu", (1, n), dtype))
    C = np.full((1, n), np.nan, dtype=dtype)
    previous = K.get_num_threads()
    K.set_num_threads(threads)
    try:
        K.gemm(A, B, C, alpha=-0.5, epilogue=epilogue, **kw)
    finally:
        K.set_num_threads(previous)
    P = -0.5 * (opA @ opB)
    if epilogue == "bias_act":
        P = O.act("sigmoid", P + kw["bias"].astype(np.float64))
    elif epilogue == "dact":
        P = P * O.dact_from_saved("relu", kw["saved"].astype(np.float64))
    close(C, P, dtype, k)


@pytest.mark.parametrize("size", [1000, 1023])
def test_gemm_large_square(isa, dtype, size):
    rng = np.random.default_rng(size)
    A = rand(rng, (size, size), dtype)
    B = rand(rng, (size, size), dtype)
    C = np.full((size, size), np.nan, dtype=dtype)
    K.gemm(A, B, C)
    close(C, A.astype(np.float64) @ B.astype(np.float64), dtype, size)


def test_gemm_threads_agree(isa, dtype):
    rng = np.random.default_rng(300)
    A = rand(rng, (300, 300), dtype)
    B = rand(rng, (300, 300), dtype)
    previous = K.get_num_threads()
    try:
        K.set_num_threads(1)
        C1 = K.gemm(A, B, np.empty((300, 300), dtype=dtype))
        K.set_num_threads(2)
        C2 = K.gemm(A, B, np.empty((300, 300), dtype=dtype))
    finally:
        K.set_num_threads(previous)
    assert K.get_num_threads() == previous
    rtol, atol = tol(dtype, 300)
    np.testing.assert_allclose(C1, C2, rtol=rtol, atol=atol)
    close(C1, A.astype(np.float64) @ B.astype(np.float64), dtype, 300)


# ---------------------------------------------------------------------------
# Activations: every row of the C table, forward and derivative
# ---------------------------------------------------------------------------

def test_activation_table_matches_the_oracle():
    assert K.ACTIVATIONS == O.ACTIVATIONS
    assert set(K.ACTIVATIONS_NEEDING_Z) == set(O.NEEDS_Z)


def _activation_inputs(dtype):
    big = 80.0 if dtype == np.float32 else 700.0
    z = np.concatenate([np.linspace(-big, big, 2001), np.linspace(-6, 6, 1201),
                        np.geomspace(1e-12, 1e3, 300), -np.geomspace(1e-12, 1e3, 300),
                        [0.0, -0.0, 1e-30, -1e-30]])
    return z.astype(dtype)


@pytest.mark.parametrize("activation", ACTS)
def test_activation_forward_matches_oracle(isa, dtype, activation):
    z = _activation_inputs(dtype)
    got = K.activation(z, activation)
    want = O.act(activation, z.astype(np.float64))
    # float32: rounding z / sqrt 2 is amplified by 2x^2 in erfc's far tail (gelu)
    rtol, atol = (1e-5, 1e-30) if dtype == np.float32 else (1e-12, 1e-300)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("activation", ACTS)
def test_activation_derivative_matches_oracle(isa, dtype, activation):
    z = _activation_inputs(dtype).astype(np.float64)
    z = z[np.abs(z) < (30 if dtype == np.float32 else 300)]
    saved = O.kept_tensor(activation, z).astype(dtype)
    got = K.activation(saved, activation, derivative=True)
    want = O.dact_from_saved(activation, saved.astype(np.float64))
    rtol, atol = (4e-6, 1e-7) if dtype == np.float32 else (1e-13, 1e-15)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("activation", ACTS)
def test_activation_saturates_without_nan_and_passes_nan(isa, dtype, activation):
    big = 1e30 if dtype == np.float32 else 1e300
    z = np.array([big, -big, 0.0, np.nan], dtype)
    out = K.activation(z, activation)
    assert np.isfinite(out[:3]).all() or activation in ("identity", "leaky_relu", "relu",
                                                         "softplus", "silu", "gelu")
    assert not np.isnan(out[:3]).any()
    assert np.isnan(out[3])
    np.testing.assert_allclose(out[:3], O.act(activation, z[:3].astype(np.float64)), rtol=1e-6)


# ---------------------------------------------------------------------------
# Losses and the SGD update
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mse", "mse_sum"])
@pytest.mark.parametrize("n,m", [(1, 1), (1, 5), (7, 1), (33, 17), (257, 3)], ids=lambda v: str(v))
def test_loss_mse(isa, dtype, n, m, kind):
    rng = np.random.default_rng(n * 31 + m)
    H = rand(rng, (n, m), dtype, -2, 2)
    Y = rand(rng, (n, m), dtype, -2, 2)
    value, G = K.loss(H, Y, kind)
    ref = O.mse_mean if kind == "mse" else O.mse_sum
    eL, eG = ref(H.astype(np.float64), Y.astype(np.float64))
    assert isinstance(value, float)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert value == pytest.approx(eL, rel=rtol, abs=1e-30)
    close(G, eG, dtype)


@pytest.mark.parametrize("shape", [(1,), (17,), (5, 3), (65, 33)], ids=lambda v: str(v))
def test_optimizer_update_plain_sgd(isa, dtype, shape):
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    p = rand(rng, shape, dtype)
    g = rand(rng, shape, dtype)
    p0 = p.copy()
    K.optimizer_update(p, g, [], "sgd", 0.1)
    expected = p0.astype(np.float64) - 0.1 * g.astype(np.float64)
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(p, expected, rtol=rtol, atol=rtol)
    assert not np.array_equal(p, p0)
    # lr = 0 leaves p untouched bit for bit
    p1 = p.copy()
    K.optimizer_update(p, g, [], "sgd", 0.0)
    assert np.array_equal(p, p1)


# ---------------------------------------------------------------------------
# ISA selection
# ---------------------------------------------------------------------------

def test_available_isas_sane():
    isas = K.available_isas()
    # the portable reference kernels are always built, and preferred last
    assert "reference" in isas and K.ISAS[-1] == "reference"
    assert set(isas) <= set(K.ISAS)
    assert "avx512" not in K.ISAS      # no kernels for it in this build
    assert K.get_isa() in isas


def test_set_isa_unknown_name():
    previous = K.get_isa()
    with pytest.raises(ValueError, match="nonsense"):
        K.set_isa("nonsense")
    assert K.get_isa() == previous


def test_set_isa_unavailable_names_it():
    missing = [name for name in K.ISAS if name not in K.available_isas()]
    previous = K.get_isa()
    for name in missing:
        with pytest.raises(ValueError, match=name):
            K.set_isa(name)
        assert K.get_isa() == previous


# ---------------------------------------------------------------------------
# Edge cases: k = 0, non-contiguous operands, saturating activations
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_gemm_k_zero(isa, dtype, beta):
    """k == 0 is allowed: C = beta*C, then the epilogue (C not read when beta == 0)."""
    A = np.zeros((3, 0), dtype)
    B = np.zeros((0, 4), dtype)
    C0 = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype(dtype)
    C = C0.copy() if beta else np.full((3, 4), np.nan, dtype)
    K.gemm(A, B, C, beta=beta)
    close(C, beta * C0.astype(np.float64), dtype)
    bias = np.arange(4, dtype=dtype)
    C = C0.copy() if beta else np.full((3, 4), np.nan, dtype)
    K.gemm(A, B, C, beta=beta, epilogue="bias_act", activation="sigmoid", bias=bias)
    close(C, O.act("sigmoid", beta * C0.astype(np.float64) + bias), dtype)


def test_gemm_non_contiguous_operands(isa, dtype):
    rng = np.random.default_rng(77)
    A = rand(rng, (40, 18), dtype)[::2, ::2]          # 20 x 9, strided
    B = np.asfortranarray(rand(rng, (9, 13), dtype))
    C = np.empty((20, 13), dtype)
    K.gemm(A, B, C)
    close(C, A.astype(np.float64) @ B.astype(np.float64), dtype, 9)
    Ct = np.empty((9, 9), dtype)
    K.gemm(A, A, Ct, transa=True)                     # A^T A with a strided A
    close(Ct, A.T.astype(np.float64) @ A.astype(np.float64), dtype, 20)


def test_gemm_rejects_mismatched_shapes(dtype):
    with pytest.raises(ValueError, match="B"):
        K.gemm(np.ones((2, 3), dtype), np.ones((4, 2), dtype), np.empty((2, 2), dtype))
    with pytest.raises(ValueError, match="C"):
        K.gemm(np.ones((2, 3), dtype), np.ones((3, 2), dtype), np.empty((3, 2), dtype))
    with pytest.raises(TypeError, match="dtype"):
        other = np.float64 if dtype == np.float32 else np.float32
        K.gemm(np.ones((2, 3), other), np.ones((3, 2), dtype), np.empty((2, 2), dtype))
