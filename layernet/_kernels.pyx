# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Cython boundary between layernet's Python API and its C kernels.

Design
------
What lives here:
  * thin hooks (gemm, dense_forward, dense_backward, loss, optimizer_update) that
    validate their arguments once and call one C kernel with the GIL released;
    the tests and benchmarks reach each kernel through them;
  * ISA and thread controls;
  * NetEngine, which owns a C `ln_net` and runs whole predict / gradient /
    train-step / fit-epoch calls in one C call each.
What does not: no numeric loops (they are in csrc/), no model logic (that is
layernet/network.py). Arguments of the NetEngine methods are validated by
layernet/network.py; the engine re-checks only what would crash C
(type, dtype, contiguity, shapes) and reports a mismatch by returning
NEEDS_CONVERSION, so the common case costs a few pointer tests.
"""

import numpy as np
cimport numpy as cnp
from cython cimport floating
from libc.math cimport isfinite

cnp.import_array()

cdef extern from *:
    """
    #ifndef LN_COMPILE_FLAGS
    #define LN_COMPILE_FLAGS "unknown"
    #endif
    """
    const char *LN_COMPILE_FLAGS

ln_init()

ACTIVATIONS = {"identity": LN_ACT_IDENTITY, "sigmoid": LN_ACT_SIGMOID,
               "relu": LN_ACT_RELU, "tanh": LN_ACT_TANH}
LOSSES = {"mse": LN_LOSS_MSE_MEAN, "mse_sum": LN_LOSS_MSE_SUM,
          "cross_entropy": LN_LOSS_CROSS_ENTROPY}
_ISAS = {"generic": LN_ISA_GENERIC, "avx2": LN_ISA_AVX2, "avx512": LN_ISA_AVX512}
_EPILOGUES = {None: LN_EPI_NONE, "none": LN_EPI_NONE,
              "bias_act": LN_EPI_BIAS_ACT, "dact": LN_EPI_DACT}

#: returned by NetEngine methods when an array needs converting first
NEEDS_CONVERSION = -1
#: fit_batches' status when a step came out non-finite
STATUS_NONFINITE = LN_ERR_NONFINITE


# ---------------------------------------------------------------------------
# ISA and threads
# ---------------------------------------------------------------------------

def available_isas():
    """Names of the instruction-set paths this build can run on this CPU."""
    return [name for name, code in _ISAS.items() if ln_isa_supported(code)]


def get_isa():
    """Name of the instruction-set path in use."""
    return ln_isa_name(ln_get_isa()).decode()


def set_isa(name):
    """Force an instruction-set path: 'generic', 'avx2' or 'avx512'."""
    if not isinstance(name, str) or name not in _ISAS:
        raise ValueError(f"isa: expected one of {sorted(_ISAS)}, got {name!r}")
    if ln_set_isa(_ISAS[name]) != LN_OK:
        raise ValueError(f"isa: {name!r} is not available on this CPU/build; "
                         f"available: {available_isas()}")


def set_num_threads(n):
    """Number of threads the kernels use (1 or more)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive integer number of threads, got {n!r}")
    ln_set_num_threads(<int>min(int(n), 1 << 16))


def get_num_threads():
    return ln_get_num_threads()


def openmp_enabled():
    return bool(ln_openmp_enabled())


def alloc_count():
    """Heap allocations the C library has made so far (for tests: a step or a
    prediction after the first at a given batch size must not change it)."""
    return ln_alloc_count()


def compile_flags():
    """The compiler flags this extension was built with."""
    return LN_COMPILE_FLAGS.decode().split()


# ---------------------------------------------------------------------------
# Validation shared by the hooks
# ---------------------------------------------------------------------------

cdef int _dtype_code(object dtype) except -1:
    if dtype == np.float32:
        return LN_FLOAT32
    if dtype == np.float64:
        return LN_FLOAT64
    raise TypeError(f"dtype: expected float32 or float64, got {dtype}")


def _as_array(name, a, dtype, ndim):
    """a as a C-contiguous array of `dtype` with `ndim` dimensions (copied only if needed)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got {a.ndim}-D with shape {a.shape}")
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    return np.ascontiguousarray(a)


def _check_out(name, a, dtype, shape):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(f"{name}: expected a writeable C-contiguous array")


def _activation_code(activation):
    name = "identity" if activation is None else activation
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)} or None, "
                         f"got {activation!r}")
    return ACTIVATIONS[name]


cdef int _check_status(int status) except -1:
    if status == LN_OK:
        return 0
    if status == LN_ERR_NOMEM:
        raise MemoryError("layernet: out of memory allocating a workspace")
    if status == LN_ERR_NONFINITE:
        raise FloatingPointError("layernet: the loss or a gradient is not finite (inf or nan)")
    raise RuntimeError(f"layernet: internal error, C status {status}")


# ---------------------------------------------------------------------------
# Kernel hooks
# ---------------------------------------------------------------------------

cdef int _gemm_typed(bint transa, bint transb, floating[:, ::1] A, floating[:, ::1] B,
                     floating[:, ::1] C, double alpha, double beta, int epi_kind, int act,
                     const void *bias, const void *h) noexcept nogil:
    cdef ln_epilogue epi
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1]
    cdef Py_ssize_t k = A.shape[0] if transa else A.shape[1]
    epi.kind = epi_kind
    epi.act = act
    epi.bias = bias
    epi.h = h
    epi.ldh = n
    if floating is float:
        return ln_sgemm(transa, transb, m, n, k, <float>alpha, &A[0, 0] if A.shape[0] * A.shape[1] else NULL,
                        A.shape[1], &B[0, 0] if B.shape[0] * B.shape[1] else NULL, B.shape[1],
                        <float>beta, &C[0, 0], n, &epi)
    else:
        return ln_dgemm(transa, transb, m, n, k, alpha, &A[0, 0] if A.shape[0] * A.shape[1] else NULL,
                        A.shape[1], &B[0, 0] if B.shape[0] * B.shape[1] else NULL, B.shape[1],
                        beta, &C[0, 0], n, &epi)


def gemm(A, B, C, transa=False, transb=False, alpha=1.0, beta=0.0,
         epilogue=None, activation=None, bias=None, H=None):
    """C := epilogue(alpha * op(A) @ op(B) + beta * C), in place; returns C.

    op(A) is A, or A.T when `transa`. C must be a writeable C-contiguous array of
    A's dtype; A and B are copied to C-contiguous order when they are not.
    epilogue: None, "bias_act" (add `bias`, apply `activation`) or "dact"
    (multiply by the derivative of `activation` at its output `H`)."""
    dt = C.dtype if isinstance(C, np.ndarray) else None
    _dtype_code(dt)
    A = _as_array("A", A, dt, 2)
    B = _as_array("B", B, dt, 2)
    m, ka = (A.shape[1], A.shape[0]) if transa else A.shape
    kb, n = (B.shape[1], B.shape[0]) if transb else B.shape
    if ka != kb:
        raise ValueError(f"B: expected op(B) to have {ka} rows to match op(A)'s columns, got {kb}")
    _check_out("C", C, dt, (m, n))
    if epilogue not in _EPILOGUES:
        raise ValueError(f"epilogue: expected None, 'bias_act' or 'dact', got {epilogue!r}")
    cdef int epi_kind = _EPILOGUES[epilogue]
    cdef int act = _activation_code(activation)
    cdef const void *bias_ptr = NULL
    cdef const void *h_ptr = NULL
    if epi_kind == LN_EPI_BIAS_ACT and bias is not None:
        bias = _as_array("bias", bias, dt, 1)
        if bias.shape[0] != n:
            raise ValueError(f"bias: expected {n} elements, got {bias.shape[0]}")
        bias_ptr = cnp.PyArray_DATA(bias)
    if epi_kind == LN_EPI_DACT:
        if H is None:
            raise ValueError("H: the 'dact' epilogue needs the activation output H")
        H = _as_array("H", H, dt, 2)
        if H.shape != (m, n):
            raise ValueError(f"H: expected shape {(m, n)}, got {H.shape}")
        h_ptr = cnp.PyArray_DATA(H)
    cdef int status
    cdef bint ta = bool(transa), tb = bool(transb)
    cdef double a = alpha, b = beta
    # The memoryviews are made here, with the GIL held: acquiring one creates
    # and refcounts Python objects, which must never happen inside nogil.
    cdef float[:, ::1] As, Bs, Cs
    cdef double[:, ::1] Ad, Bd, Cd
    if dt == np.float32:
        As, Bs, Cs = A, B, C
        with nogil:
            status = _gemm_typed[float](ta, tb, As, Bs, Cs, a, b, epi_kind, act, bias_ptr, h_ptr)
    else:
        Ad, Bd, Cd = A, B, C
        with nogil:
            status = _gemm_typed[double](ta, tb, Ad, Bd, Cd, a, b, epi_kind, act, bias_ptr, h_ptr)
    _check_status(status)
    return C


def dense_forward(X, W, B, activation=None):
    """H = activation(X @ W + B) through the fused C kernel."""
    dt = W.dtype if isinstance(W, np.ndarray) else None
    cdef int code = _dtype_code(dt)
    X = _as_array("X", X, dt, 2)
    W = _as_array("W", W, dt, 2)
    B = _as_array("B", B, dt, 1)
    cdef Py_ssize_t n = X.shape[0], n_in = W.shape[0], n_out = W.shape[1]
    if X.shape[1] != n_in:
        raise ValueError(f"X: expected {n_in} columns, got {X.shape[1]}")
    if B.shape[0] != n_out:
        raise ValueError(f"B: expected {n_out} elements, got {B.shape[0]}")
    cdef int act = _activation_code(activation)
    H = np.empty((n, n_out), dtype=dt)
    cdef void *xp = cnp.PyArray_DATA(X)
    cdef void *wp = cnp.PyArray_DATA(W)
    cdef void *bp = cnp.PyArray_DATA(B)
    cdef void *hp = cnp.PyArray_DATA(H)
    cdef int status
    with nogil:
        status = ln_dense_forward(code, act, n, n_in, n_out, xp, wp, bp, hp)
    _check_status(status)
    return H


def dense_backward(X, W, H, dH, activation=None, need_dX=True):
    """(dW, dB, dX) of one dense layer given its input X, output H and dL/dH.
    dX is None when `need_dX` is false."""
    dt = W.dtype if isinstance(W, np.ndarray) else None
    cdef int code = _dtype_code(dt)
    X = _as_array("X", X, dt, 2)
    W = _as_array("W", W, dt, 2)
    H = _as_array("H", H, dt, 2)
    dH = _as_array("dH", dH, dt, 2)
    cdef Py_ssize_t n = X.shape[0], n_in = W.shape[0], n_out = W.shape[1]
    if X.shape[1] != n_in:
        raise ValueError(f"X: expected {n_in} columns, got {X.shape[1]}")
    if H.shape != (n, n_out):
        raise ValueError(f"H: expected shape {(n, n_out)}, got {H.shape}")
    if dH.shape != (n, n_out):
        raise ValueError(f"dH: expected shape {(n, n_out)}, got {dH.shape}")
    cdef int act = _activation_code(activation)
    A = np.empty((n, n_out), dtype=dt)
    dW = np.empty((n_in, n_out), dtype=dt)
    dB = np.empty(n_out, dtype=dt)
    dX = np.empty((n, n_in), dtype=dt) if need_dX else None
    cdef void *ptrs[8]
    ptrs[0] = cnp.PyArray_DATA(X)
    ptrs[1] = cnp.PyArray_DATA(W)
    ptrs[2] = cnp.PyArray_DATA(H)
    ptrs[3] = cnp.PyArray_DATA(dH)
    ptrs[4] = cnp.PyArray_DATA(A)
    ptrs[5] = cnp.PyArray_DATA(dW)
    ptrs[6] = cnp.PyArray_DATA(dB)
    ptrs[7] = cnp.PyArray_DATA(dX) if need_dX else NULL
    cdef int status
    with nogil:
        status = ln_dense_backward(code, act, n, n_in, n_out, ptrs[0], ptrs[1], ptrs[2],
                                   ptrs[3], ptrs[4], ptrs[5], ptrs[6], ptrs[7])
    _check_status(status)
    return dW, dB, dX


def loss(H, Y, kind="mse"):
    """(loss, dL/dH) for 'mse' (mean over all elements), 'mse_sum', or
    'cross_entropy' (softmax of the logits H against target distributions Y)."""
    dt = H.dtype if isinstance(H, np.ndarray) else None
    cdef int code = _dtype_code(dt)
    if kind not in LOSSES:
        raise ValueError(f"kind: expected one of {sorted(LOSSES)}, got {kind!r}")
    H = _as_array("H", H, dt, 2)
    Y = _as_array("Y", Y, dt, 2)
    if Y.shape != H.shape:
        raise ValueError(f"Y: expected shape {H.shape}, got {Y.shape}")
    if H.size == 0:
        raise ValueError(f"H: expected a non-empty batch, got shape {H.shape}")
    G = np.empty_like(H)
    cdef int k = LOSSES[kind]
    cdef Py_ssize_t n = H.shape[0], m = H.shape[1]
    cdef void *hp = cnp.PyArray_DATA(H)
    cdef void *yp = cnp.PyArray_DATA(Y)
    cdef void *gp = cnp.PyArray_DATA(G)
    cdef double value = 0.0
    cdef int status
    with nogil:
        status = ln_loss(code, k, n, m, hp, yp, gp, &value)
    _check_status(status)
    return value, G


cdef ln_optimizer _make_optimizer(kind, lr, momentum, nesterov, beta1, beta2, eps,
                                  weight_decay, step) except *:
    cdef ln_optimizer opt
    if kind not in ("sgd", "adam"):
        raise ValueError(f"kind: expected 'sgd' or 'adam', got {kind!r}")
    opt.kind = LN_OPT_ADAM if kind == "adam" else LN_OPT_SGD
    opt.lr = lr
    opt.momentum = momentum
    opt.nesterov = bool(nesterov)
    opt.beta1 = beta1
    opt.beta2 = beta2
    opt.eps = eps
    opt.weight_decay = weight_decay
    opt.step = step
    return opt


def optimizer_update(p, g, state1, state2, kind, lr, t=1, momentum=0.0, nesterov=False,
                     beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """One in-place optimizer update of parameter `p` with gradient `g`.
    kind 'sgd' uses state1 as the velocity when momentum != 0; 'adam' uses
    state1/state2 as its moments. `t` is the 1-based step number."""
    if not isinstance(p, np.ndarray):
        raise TypeError(f"p: expected a numpy array, got {type(p).__name__}")
    dt = p.dtype
    cdef int code = _dtype_code(dt)
    _check_out("p", p, dt, p.shape)
    g = _as_array("g", g, dt, p.ndim)
    if g.shape != p.shape:
        raise ValueError(f"g: expected shape {p.shape}, got {g.shape}")
    cdef ln_optimizer opt = _make_optimizer(kind, lr, momentum, nesterov, beta1, beta2, eps,
                                            weight_decay, 0)
    need1 = kind == "adam" or momentum != 0.0
    need2 = kind == "adam"
    cdef void *s1 = NULL
    cdef void *s2 = NULL
    if need1:
        _check_out("state1", state1, dt, p.shape)
        s1 = cnp.PyArray_DATA(state1)
    if need2:
        _check_out("state2", state2, dt, p.shape)
        s2 = cnp.PyArray_DATA(state2)
    if t < 1:
        raise ValueError(f"t: expected a step number >= 1, got {t}")
    cdef long long step = t
    cdef Py_ssize_t size = p.size
    cdef void *pp = cnp.PyArray_DATA(p)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef int status
    with nogil:
        status = ln_optimizer_update(code, &opt, step, size, pp, gp, s1, s2)
    _check_status(status)


# ---------------------------------------------------------------------------
# Whole networks
# ---------------------------------------------------------------------------

cdef inline bint _conforms(object a, int typenum, Py_ssize_t cols) noexcept:
    """a is a C-contiguous 2-D array of the engine's dtype with `cols` columns and rows."""
    if type(a) is not np.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_TYPE(arr) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_DIM(arr, 1) == cols
            and cnp.PyArray_DIM(arr, 0) > 0)


cdef class NetEngine:
    """A C network: layer widths, activations and a pointer to each layer's
    parameters (numpy arrays the engine keeps alive), plus reusable workspaces.

    Not safe to use from two threads at once (like the Network that owns it)."""
    cdef ln_net *net
    cdef readonly int dtype_code
    cdef int typenum
    cdef readonly Py_ssize_t n_in, n_out
    cdef readonly int n_layers
    cdef list _sizes
    cdef list _params
    cdef list _state

    def __cinit__(self, sizes, activations, dtype):
        cdef int L = len(sizes) - 1
        cdef Py_ssize_t c_sizes[256]
        cdef int c_acts[255]
        if L < 1 or L > 255:
            raise ValueError(f"sizes: expected 2 to 256 widths, got {len(sizes)}")
        self.dtype_code = _dtype_code(np.dtype(dtype))
        self.typenum = cnp.NPY_FLOAT32 if self.dtype_code == LN_FLOAT32 else cnp.NPY_FLOAT64
        for i in range(L + 1):
            c_sizes[i] = sizes[i]
        for i in range(L):
            c_acts[i] = _activation_code(activations[i])
        self.net = ln_net_create(self.dtype_code, L, c_sizes, c_acts)
        if self.net is NULL:
            raise MemoryError("layernet: could not create the network's workspaces")
        self.n_layers = L
        self.n_in = sizes[0]
        self.n_out = sizes[L]
        self._sizes = list(sizes)
        self._params = [None] * L
        self._state = [None] * L

    def __dealloc__(self):
        ln_net_free(self.net)

    def bind_params(self, int layer, cnp.ndarray W, cnp.ndarray B):
        """Point layer `layer` at W and B (C-contiguous, the engine's dtype)."""
        _check_out("W", W, W.dtype, (self._sizes[layer], self._sizes[layer + 1]))
        _check_out("B", B, B.dtype, (self._sizes[layer + 1],))
        if cnp.PyArray_TYPE(W) != self.typenum or cnp.PyArray_TYPE(B) != self.typenum:
            raise TypeError("W, B: expected the network's dtype")
        self._params[layer] = (W, B)
        ln_net_set_params(self.net, layer, cnp.PyArray_DATA(W), cnp.PyArray_DATA(B))

    def bind_state(self, int layer, W1, B1, W2, B2):
        """Point layer `layer` at its optimizer state buffers (None where unused)."""
        arrays = (W1, B1, W2, B2)
        cdef void *ptrs[4]
        for i, (a, shape) in enumerate(zip(arrays, ((self._sizes[layer], self._sizes[layer + 1]),
                                                    (self._sizes[layer + 1],)) * 2)):
            if a is None:
                ptrs[i] = NULL
            else:
                _check_out("state", a, a.dtype, shape)
                if cnp.PyArray_TYPE(a) != self.typenum:
                    raise TypeError("state: expected the network's dtype")
                ptrs[i] = cnp.PyArray_DATA(a)
        self._state[layer] = arrays
        ln_net_set_state(self.net, layer, ptrs[0], ptrs[1], ptrs[2], ptrs[3])

    def predict(self, X, out):
        """out = network(X). Returns NEEDS_CONVERSION if X or out does not conform."""
        if not _conforms(X, self.typenum, self.n_in) or not _conforms(out, self.typenum, self.n_out):
            return NEEDS_CONVERSION
        cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>X, 0)
        if cnp.PyArray_DIM(<cnp.ndarray>out, 0) != n:
            return NEEDS_CONVERSION
        cdef void *xp = cnp.PyArray_DATA(<cnp.ndarray>X)
        cdef void *op = cnp.PyArray_DATA(<cnp.ndarray>out)
        cdef int status
        with nogil:
            status = ln_net_predict(self.net, n, xp, op)
        _check_status(status)
        return 0

    cdef int _xy(self, object X, object Y, Py_ssize_t *n, void **xp, void **yp) noexcept:
        if not _conforms(X, self.typenum, self.n_in) or not _conforms(Y, self.typenum, self.n_out):
            return 0
        n[0] = cnp.PyArray_DIM(<cnp.ndarray>X, 0)
        if cnp.PyArray_DIM(<cnp.ndarray>Y, 0) != n[0]:
            return 0
        xp[0] = cnp.PyArray_DATA(<cnp.ndarray>X)
        yp[0] = cnp.PyArray_DATA(<cnp.ndarray>Y)
        return 1

    def gradients(self, X, Y, int loss_kind):
        """Forward, loss and backward into the engine's gradient buffers; returns the
        loss, or NEEDS_CONVERSION. Raises FloatingPointError on a non-finite result."""
        cdef Py_ssize_t n
        cdef void *xp
        cdef void *yp
        cdef double value = 0.0
        cdef int status
        if not self._xy(X, Y, &n, &xp, &yp):
            return NEEDS_CONVERSION
        with nogil:
            status = ln_net_gradients(self.net, loss_kind, n, xp, yp, &value)
        _check_status(status)
        return value

    def grad(self, int layer):
        """Copies of layer `layer`'s (dW, dB) from the last gradients/step call."""
        if not 0 <= layer < self.n_layers:
            raise IndexError(f"layer: expected 0..{self.n_layers - 1}, got {layer}")
        dt = np.float32 if self.dtype_code == LN_FLOAT32 else np.float64
        dW = np.empty((self._sizes[layer], self._sizes[layer + 1]), dtype=dt)
        dB = np.empty(self._sizes[layer + 1], dtype=dt)
        cdef size_t item = 4 if self.dtype_code == LN_FLOAT32 else 8
        memcpy(cnp.PyArray_DATA(dW), ln_net_grad(self.net, layer, 0), dW.size * item)
        memcpy(cnp.PyArray_DATA(dB), ln_net_grad(self.net, layer, 1), dB.size * item)
        return dW, dB

    def train_step_sgd(self, X, Y, int loss_kind, double lr):
        """One plain-SGD step; returns the loss before the update, or NEEDS_CONVERSION."""
        cdef Py_ssize_t n
        cdef void *xp
        cdef void *yp
        cdef double value = 0.0
        cdef int status
        cdef ln_optimizer opt
        if not self._xy(X, Y, &n, &xp, &yp):
            return NEEDS_CONVERSION
        opt.kind = LN_OPT_SGD
        opt.lr = lr
        opt.momentum = 0.0
        opt.nesterov = 0
        opt.weight_decay = 0.0
        opt.step = 0
        with nogil:
            status = ln_net_train_step(self.net, loss_kind, &opt, n, xp, yp, &value)
        _check_status(status)
        return value

    def train_step(self, X, Y, int loss_kind, optimizer):
        """One step with `optimizer` (an object with kind, lr, momentum, nesterov,
        beta1, beta2, eps, weight_decay and step attributes; its step is advanced)."""
        cdef Py_ssize_t n
        cdef void *xp
        cdef void *yp
        cdef double value = 0.0
        cdef int status
        if not self._xy(X, Y, &n, &xp, &yp):
            return NEEDS_CONVERSION
        cdef ln_optimizer opt = _optimizer_struct(optimizer)
        with nogil:
            status = ln_net_train_step(self.net, loss_kind, &opt, n, xp, yp, &value)
        _check_status(status)
        optimizer.step = opt.step
        return value

    def fit_batches(self, X, Y, cnp.ndarray perm, Py_ssize_t batch_size,
                    Py_ssize_t first_batch, Py_ssize_t n_batches, int loss_kind, optimizer):
        """Run batches first_batch .. first_batch + n_batches - 1 of an epoch in C.
        Returns (sum of row-weighted losses, rows predicted right before their step,
        steps completed, status) where status is 0, or STATUS_NONFINITE if a step
        stopped the run (that step changed nothing)."""
        cdef Py_ssize_t n
        cdef void *xp
        cdef void *yp
        if not self._xy(X, Y, &n, &xp, &yp):
            raise ValueError("fit: X and Y must be converted before fit_batches")
        if (cnp.PyArray_TYPE(perm) != cnp.NPY_INT64 or perm.ndim != 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(perm) or perm.shape[0] != n):
            raise ValueError("perm: expected a contiguous int64 permutation of the rows")
        cdef ln_optimizer opt = _optimizer_struct(optimizer)
        cdef const long long *pp = <const long long *>cnp.PyArray_DATA(perm)
        cdef double loss_sum = 0.0
        cdef Py_ssize_t done = 0, hits = 0
        cdef int status
        with nogil:
            status = ln_net_fit_batches(self.net, loss_kind, &opt, n, xp, yp, pp, batch_size,
                                        first_batch, n_batches, &loss_sum, &hits, &done)
        optimizer.step = opt.step
        if status != LN_ERR_NONFINITE:
            _check_status(status)
        return loss_sum, hits, done, status


cdef extern from "string.h":
    void *memcpy(void *dst, const void *src, size_t n)


cdef ln_optimizer _optimizer_struct(optimizer) except *:
    return _make_optimizer(optimizer.kind, optimizer.lr, optimizer.momentum, optimizer.nesterov,
                           optimizer.beta1, optimizer.beta2, optimizer.eps,
                           optimizer.weight_decay, optimizer.step)
