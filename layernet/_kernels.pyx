# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Cython boundary between layernet's Python API and its C kernels.

Design
------
What lives here:
  * the names of the C tables (activations, losses, optimizers, layer kinds,
    instruction sets), read from C once at import;
  * ISA and thread controls;
  * thin hooks (gemm, activation, loss, optimizer_update) that validate
    their arguments once and call one C kernel with the GIL released; the
    tests and benchmarks reach each kernel through them;
  * NetEngine, which owns a C network and runs whole predict / loss /
    gradient / train-step / fit-chunk calls in one C call each, every call
    with a workspace of its own from a per-network pool, so one network
    serves many threads at once.
What does not: no numeric loops (they are in csrc/), no model logic (that is
layernet/network.py). Arguments of the NetEngine methods are validated by
network.py; the engine re-checks only what would crash C (type, dtype, byte
order, alignment, contiguity, shapes) and returns None when an array must
be converted first, so the common case costs a few pointer tests.
"""

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from cpython.mem cimport PyMem_Malloc, PyMem_Free

cnp.import_array()

cdef extern from *:
    """
    #ifndef LN_COMPILE_FLAGS
    #define LN_COMPILE_FLAGS "unknown"
    #endif
    """
    const char *LN_COMPILE_FLAGS

ln_init()


#: activation names, in the C table's order (their indices are their codes)
ACTIVATIONS = tuple(ln_activation_name(i).decode() for i in range(ln_activation_count()))
#: activations whose derivative needs the pre-activation Z
ACTIVATIONS_NEEDING_Z = tuple(a for i, a in enumerate(ACTIVATIONS) if ln_activation_needs_z(i))
LOSSES = tuple(ln_loss_name(i).decode() for i in range(ln_loss_count()))
OPTIMIZERS = tuple(ln_optimizer_name(i).decode() for i in range(ln_optimizer_count()))
OPTIMIZER_N_STATE = {ln_optimizer_name(i).decode(): ln_optimizer_n_state(i)
                     for i in range(ln_optimizer_count())}
LAYER_KINDS = tuple(ln_layer_kind_name(i).decode() for i in range(ln_layer_kind_count()))
ISAS = tuple(ln_isa_name_at(i).decode() for i in range(ln_isa_count()))
#: hyper-parameters an optimizer kind can take (the length of ln_optim.hp)
MAX_HYPERPARAMS = LN_OPT_MAX_HP
cdef int _SGD_KIND = OPTIMIZERS.index("sgd")

_EPILOGUES = {None: LN_EPI_NONE, "none": LN_EPI_NONE,
              "bias_act": LN_EPI_BIAS_ACT, "dact": LN_EPI_DACT}


# ---------------------------------------------------------------------------
# ISA and threads
# ---------------------------------------------------------------------------

def available_isas():
    """Names of the instruction-set paths this build can run on this CPU, best first."""
    return [name for name in ISAS if ln_isa_supported(name.encode())]


def get_isa():
    """Name of the instruction-set path in use."""
    return ln_get_isa().decode()


def set_isa(name):
    """Force an instruction-set path by name (see available_isas())."""
    if not isinstance(name, str) or name not in ISAS:
        raise ValueError(f"isa: expected one of {list(ISAS)}, got {name!r}")
    if ln_set_isa(name.encode()) != LN_OK:
        raise ValueError(f"isa: {name!r} is not available on this CPU; available: {available_isas()}")


def set_num_threads(n):
    """Number of threads the kernels use (1 or more)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive integer number of threads, got {n!r}")
    ln_set_num_threads(<int>min(int(n), 1 << 16))


def get_num_threads():
    return ln_get_num_threads()


def threads_enabled():
    """True if this build runs the kernels on several threads (a thread pool
    on POSIX threads); False if every call runs on the calling thread."""
    return bool(ln_threads_enabled())


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
    """a as a native, aligned, C-contiguous array of `dtype` with `ndim` dimensions."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got {a.ndim}-D with shape {a.shape}")
    if a.dtype.kind != "f" or a.dtype.itemsize != np.dtype(dtype).itemsize:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    return np.require(a, dtype=dtype, requirements=("C", "A"))


def _check_out(name, a, dtype, shape):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    if a.dtype != dtype or not a.dtype.isnative:
        raise TypeError(f"{name}: expected native dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if not a.flags.c_contiguous or not a.flags.writeable or not a.flags.aligned:
        raise ValueError(f"{name}: expected a writeable, aligned, C-contiguous array")


def aligned_zeros(Py_ssize_t size, dtype):
    """A zeroed 1-D array of `size` elements of `dtype` whose data starts on a
    64-byte boundary (numpy promises only 16). The engine lays each tensor out
    on a 64-byte boundary of its flat vectors, so on an aligned vector a weight
    row of a multiple of 16 floats never straddles two cache lines; the row
    kernel of a batch-1 predict reads the weights in place, and a 784 x 256
    float layer took 6.5 us at 2 threads against 8.4 us at 16-byte alignment."""
    dt = np.dtype(dtype)
    if size < 0:
        raise ValueError(f"size: expected 0 or more elements, got {size}")
    raw = np.zeros(size * dt.itemsize + 64, dtype=np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + size * dt.itemsize].view(dt)


def _index_of(table, name, argument):
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"{argument}: expected one of {', '.join(map(repr, table))}, got {name!r}")
    return table.index(name)


cdef int _check_status(int status) except -1:
    if status == LN_OK:
        return 0
    if status == LN_ERR_NOMEM:
        raise MemoryError("layernet: not enough memory for the workspace this call needs "
                          "(or its size does not fit in memory at all)")
    if status == LN_ERR_NONFINITE:
        raise FloatingPointError("layernet: the loss, a gradient or an updated value is not "
                                 "finite (inf or nan); nothing was changed")
    raise ValueError(f"layernet: the C kernels refused their arguments (status {status}); "
                     f"this is a bug in layernet's validation")


def _nonfinite_input(name, Py_ssize_t flat, Py_ssize_t cols, value, hint=True):
    skip = " (pass check_finite=False to skip this check)" if hint else ""
    return ValueError(f"{name}: row {flat // cols}, column {flat % cols} is {value}; expected "
                      f"finite values{skip}")


# ---------------------------------------------------------------------------
# Kernel hooks
# ---------------------------------------------------------------------------

def gemm(A, B, C, transa=False, transb=False, alpha=1.0, beta=0.0,
         epilogue=None, activation=None, bias=None, saved=None, zout=None):
    """C := epilogue(alpha * op(A) @ op(B) + beta * C), in place; returns C.

    op(A) is A, or A.T when `transa`. C must be a writeable C-contiguous array
    of A's dtype; A and B are copied to C-contiguous order when they are not.
    epilogue: None, "bias_act" (add `bias`, keep Z in `zout` if given, apply
    `activation`) or "dact" (multiply by the derivative of `activation` at
    `saved`: its output H, or its input Z for an activation that needs Z)."""
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
    cdef ln_epilogue epi
    epi.kind = _EPILOGUES[epilogue]
    epi.act = _index_of(ACTIVATIONS, "identity" if activation is None else activation, "activation")
    epi.bias = NULL
    epi.zout = NULL
    epi.saved = NULL
    epi.ldz = epi.ld_saved = n
    if epi.kind == LN_EPI_BIAS_ACT and bias is not None:
        bias = _as_array("bias", bias, dt, 1)
        if bias.shape[0] != n:
            raise ValueError(f"bias: expected {n} elements, got {bias.shape[0]}")
        epi.bias = cnp.PyArray_DATA(bias)
    if epi.kind == LN_EPI_BIAS_ACT and zout is not None:
        _check_out("zout", zout, dt, (m, n))
        epi.zout = cnp.PyArray_DATA(zout)
    if epi.kind == LN_EPI_DACT:
        if saved is None:
            raise ValueError("saved: the 'dact' epilogue needs the activation's kept tensor")
        saved = _as_array("saved", saved, dt, 2)
        if saved.shape != (m, n):
            raise ValueError(f"saved: expected shape {(m, n)}, got {saved.shape}")
        epi.saved = cnp.PyArray_DATA(saved)
    cdef int status
    cdef int ta = bool(transa), tb = bool(transb)
    cdef double al = alpha, be = beta
    cdef Py_ssize_t cm = m, cn = n, k = ka, lda = A.shape[1], ldb = B.shape[1]
    cdef void *ap = cnp.PyArray_DATA(A)
    cdef void *bp = cnp.PyArray_DATA(B)
    cdef void *cp = cnp.PyArray_DATA(C)
    if dt == np.float32:
        with nogil:
            status = ln_sgemm(ta, tb, cm, cn, k, <float>al, <const float *>ap, lda, <const float *>bp, ldb,
                              <float>be, <float *>cp, cn, &epi)
    else:
        with nogil:
            status = ln_dgemm(ta, tb, cm, cn, k, al, <const double *>ap, lda, <const double *>bp, ldb,
                              be, <double *>cp, cn, &epi)
    _check_status(status)
    return C


def activation(x, name, derivative=False):
    """act(x), or act'(x) with `derivative`, element-wise through the active
    instruction set's vector forms. For the derivative, x is the kept tensor:
    the output H, or the input Z for an activation that needs Z."""
    dt = x.dtype if isinstance(x, np.ndarray) else None
    cdef int code = _dtype_code(dt)
    cdef int act = _index_of(ACTIVATIONS, name, "name")
    x = np.require(x, dtype=dt, requirements=("C", "A"))
    out = np.empty_like(x)
    cdef Py_ssize_t size = x.size
    cdef int mode = bool(derivative)
    cdef const void *xp = cnp.PyArray_DATA(x)
    cdef void *op = cnp.PyArray_DATA(out)
    cdef int status
    with nogil:
        status = ln_activation_apply(code, act, mode, size, xp, op)
    _check_status(status)
    return out


def loss(H, Y, kind="mse", w=None, param=None, scale=None):
    """(loss, dL/dH) of outputs H against targets Y through the C loss table.
    w: per-row sample weights; param: the loss's parameters (Huber's delta);
    scale: the divisor's inverse (default: 1 / total weight, or 1 for a sum)."""
    dt = H.dtype if isinstance(H, np.ndarray) else None
    cdef int code = _dtype_code(dt)
    cdef int k = _index_of(LOSSES, kind, "kind")
    H = _as_array("H", H, dt, 2)
    Y = _as_array("Y", Y, dt, 2)
    if Y.shape != H.shape:
        raise ValueError(f"Y: expected shape {H.shape}, got {Y.shape}")
    if H.size == 0:
        raise ValueError(f"H: expected a non-empty batch, got shape {H.shape}")
    cdef const void *wp = NULL
    if w is not None:
        w = _as_array("w", w, dt, 1)
        if w.shape[0] != H.shape[0]:
            raise ValueError(f"w: expected {H.shape[0]} weights, got {w.shape[0]}")
        wp = cnp.PyArray_DATA(w)
    cdef double c_param[2]
    c_param[0] = c_param[1] = 0.0
    for i, v in enumerate(param or ()):
        c_param[i] = v
    cdef double c_scale
    if scale is not None:
        c_scale = scale
    elif ln_loss_reduces_by_sum(k):
        c_scale = 1.0
    else:
        c_scale = 1.0 / (float(np.sum(w, dtype=np.float64)) if w is not None else H.shape[0])
    G = np.empty_like(H)
    cdef Py_ssize_t n = H.shape[0], m = H.shape[1]
    cdef const void *hp = cnp.PyArray_DATA(H)
    cdef const void *yp = cnp.PyArray_DATA(Y)
    cdef void *gp = cnp.PyArray_DATA(G)
    cdef double value = 0.0
    cdef int status
    with nogil:
        status = ln_loss(code, k, c_param, n, m, hp, yp, wp, c_scale, gp, &value)
    _check_status(status)
    return value, G


cdef int _fill_optim(ln_optim *o, kind, lr, weight_decay, hp, clip_norm, step) except -1:
    o.kind = _index_of(OPTIMIZERS, kind, "kind")
    o.lr = lr
    o.weight_decay = weight_decay
    hp = tuple(hp)
    if len(hp) > LN_OPT_MAX_HP:
        raise ValueError(f"hp: at most {LN_OPT_MAX_HP} hyper-parameters, got {len(hp)}")
    for i in range(LN_OPT_MAX_HP):
        o.hp[i] = hp[i] if i < len(hp) else 0.0
    o.clip_norm = clip_norm if clip_norm is not None else 0.0
    o.step = step
    return 0


def optimizer_update(p, g, states, kind, lr, t=1, weight_decay=0.0, hp=()):
    """One in-place update of parameter `p` with gradient `g` through the C
    optimizer table. states: the kind's state arrays (None where unused);
    hp: its hyper-parameters in its row's order; t: the 1-based step.
    Raises FloatingPointError, changing nothing, if a new value is not finite."""
    if not isinstance(p, np.ndarray):
        raise TypeError(f"p: expected a numpy array, got {type(p).__name__}")
    dt = p.dtype
    cdef int code = _dtype_code(dt)
    _check_out("p", p, dt, p.shape)
    g = _as_array("g", g, dt, p.ndim)
    if g.shape != p.shape:
        raise ValueError(f"g: expected shape {p.shape}, got {g.shape}")
    cdef ln_optim opt
    _fill_optim(&opt, kind, lr, weight_decay, hp, None, 0)
    cdef void *s[LN_OPT_MAX_STATE]
    states = list(states or ())
    for i in range(LN_OPT_MAX_STATE):
        s[i] = NULL
        if i < len(states) and states[i] is not None:
            _check_out(f"states[{i}]", states[i], dt, p.shape)
            s[i] = cnp.PyArray_DATA(states[i])
    if t < 1:
        raise ValueError(f"t: expected a step number >= 1, got {t}")
    cdef long long step = t
    cdef Py_ssize_t size = p.size
    cdef void *pp = cnp.PyArray_DATA(p)
    cdef const void *gp = cnp.PyArray_DATA(g)
    cdef int status
    with nogil:
        status = ln_optimizer_update(code, &opt, step, size, pp, gp, s)
    _check_status(status)


# ---------------------------------------------------------------------------
# Whole networks
# ---------------------------------------------------------------------------

cdef inline bint _conforms(object a, int typenum, Py_ssize_t cols) noexcept:
    """a is a native, aligned, C-contiguous, non-empty 2-D array of the
    engine's dtype with `cols` columns (a subclass such as np.memmap is fine)."""
    if not cnp.PyArray_Check(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_TYPE(arr) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr)
            and cnp.PyArray_ISNOTSWAPPED(arr) and cnp.PyArray_DIM(arr, 1) == cols
            and cnp.PyArray_DIM(arr, 0) > 0)


cdef inline bint _conforms_1d(object a, int typenum, Py_ssize_t n) noexcept:
    if not cnp.PyArray_Check(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_TYPE(arr) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr)
            and cnp.PyArray_ISNOTSWAPPED(arr) and cnp.PyArray_DIM(arr, 0) == n)


cdef class Workspace:
    """The buffers of one call on a network (one call at a time)."""
    cdef ln_ws *ws

    def __cinit__(self):
        self.ws = ln_ws_create()
        if self.ws is NULL:
            raise MemoryError("layernet: could not create a workspace")

    def __dealloc__(self):
        ln_ws_free(self.ws)


cdef class NetEngine:
    """A C network: its nodes, its bound flat parameter and constant vectors
    (numpy arrays the engine keeps alive) and a pool of workspaces.

    Safe to call from many threads at once: every call takes a workspace of
    its own from the pool (list.pop and list.append are atomic under the
    GIL), forward passes hold the network's shared lock, and updates its
    exclusive one. Training from two threads at once is refused by Network."""
    cdef ln_net *net
    cdef readonly int dtype_code
    cdef int typenum
    cdef readonly Py_ssize_t n_in, n_out, param_size, const_size
    cdef object _params, _consts
    cdef list _pool

    def __cinit__(self, nodes, dtype):
        cdef Py_ssize_t count = len(nodes)
        if count < 1 or count > 100000:
            raise ValueError(f"nodes: expected 1 to 100000 layers, got {count}")
        self.dtype_code = _dtype_code(np.dtype(dtype))
        self.typenum = cnp.NPY_FLOAT32 if self.dtype_code == LN_FLOAT32 else cnp.NPY_FLOAT64
        cdef ln_node_spec *c_specs = <ln_node_spec *>PyMem_Malloc(count * sizeof(ln_node_spec))
        cdef int status = LN_OK
        if c_specs is NULL:
            raise MemoryError("layernet: no memory for the layer list")
        try:
            for i, (kind, n_in, n_out, act, rate) in enumerate(nodes):
                c_specs[i].kind = _index_of(LAYER_KINDS, kind, f"layers[{i}] kind")
                c_specs[i].n_in = n_in
                c_specs[i].n_out = n_out
                c_specs[i].act = _index_of(ACTIVATIONS, act, f"layers[{i}] activation")
                c_specs[i].rate = rate
            self.net = ln_net_create(self.dtype_code, <int>count, c_specs, &status)
        finally:
            PyMem_Free(c_specs)
        if self.net is NULL:
            if status == LN_ERR_NOMEM:
                raise MemoryError("layernet: the network's parameters do not fit in memory")
            raise ValueError("layers: the C engine refused this layer list (shapes or settings)")
        self.n_in = nodes[0][1]
        self.n_out = nodes[count - 1][2]
        self.param_size = ln_net_param_size(self.net)
        self.const_size = ln_net_const_size(self.net)
        self._pool = []

    def __dealloc__(self):
        ln_net_free(self.net)

    def tensors(self):
        """[(node, offset, size), ...] of the flat parameter vector's tensors."""
        cdef int node
        cdef Py_ssize_t offset, size
        out = []
        for i in range(ln_net_tensor_count(self.net)):
            ln_net_tensor(self.net, i, &node, &offset, &size)
            out.append((node, offset, size))
        return out

    def constants(self):
        """[(node, offset, size), ...] of the flat constant vector's tensors."""
        cdef int node
        cdef Py_ssize_t offset, size
        out = []
        for i in range(ln_net_const_count(self.net)):
            ln_net_const(self.net, i, &node, &offset, &size)
            out.append((node, offset, size))
        return out

    def bind(self, params, consts):
        """Point the network at its flat parameter and constant vectors."""
        _check_out("params", params, params.dtype, (self.param_size,))
        _check_out("consts", consts, consts.dtype, (self.const_size,))
        if cnp.PyArray_TYPE(params) != self.typenum or cnp.PyArray_TYPE(consts) != self.typenum:
            raise TypeError("params, consts: expected the network's dtype")
        self._params = params
        self._consts = consts
        ln_net_bind(self.net, cnp.PyArray_DATA(params), cnp.PyArray_DATA(consts))

    cdef Workspace _take(self):
        try:
            return self._pool.pop()
        except IndexError:
            return Workspace()

    cdef int _batch_opts(self, ln_batch_opts *o, int loss_kind, param, w, Py_ssize_t n,
                         double denom, int training, uint64_t seed, long long step) except -1:
        if loss_kind < 0 or loss_kind >= ln_loss_count():
            raise ValueError(f"loss_kind: expected a C loss row from 0 to {ln_loss_count() - 1}, "
                             f"got {loss_kind} (register the Loss class with register_loss)")
        o.kind = loss_kind
        o.param[0] = param[0] if param else 0.0
        o.param[1] = param[1] if param and len(param) > 1 else 0.0
        o.w = NULL
        o.denom = denom
        o.training = training
        o.seed = seed
        o.step = step
        if w is not None:
            if not _conforms_1d(w, self.typenum, n):
                return 1
            o.w = cnp.PyArray_DATA(<cnp.ndarray>w)
        return 0

    cdef int _xy(self, object X, object Y, Py_ssize_t *n, const void **xp, const void **yp) noexcept:
        if not _conforms(X, self.typenum, self.n_in) or not _conforms(Y, self.typenum, self.n_out):
            return 0
        n[0] = cnp.PyArray_DIM(<cnp.ndarray>X, 0)
        if cnp.PyArray_DIM(<cnp.ndarray>Y, 0) != n[0]:
            return 0
        xp[0] = cnp.PyArray_DATA(<cnp.ndarray>X)
        yp[0] = cnp.PyArray_DATA(<cnp.ndarray>Y)
        return 1

    def predict(self, X, bint check_finite=True):
        """The network's output for X in inference mode, or None if X must be
        converted first. With check_finite, an inf or nan in X is a ValueError
        naming its row and column."""
        if not _conforms(X, self.typenum, self.n_in):
            return None
        cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>X, 0), bad = -1
        cdef cnp.npy_intp dims[2]
        dims[0] = n
        dims[1] = self.n_out
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(2, dims, self.typenum, 0)
        cdef const void *xp = cnp.PyArray_DATA(<cnp.ndarray>X)
        cdef void *op = cnp.PyArray_DATA(out)
        cdef Workspace ws = self._take()
        cdef int status
        try:
            with nogil:
                status = ln_net_predict(self.net, ws.ws, n, xp, op, check_finite, &bad)
        finally:
            self._pool.append(ws)
        if status == LN_ERR_INPUT:
            raise _nonfinite_input("X", bad, self.n_in, X.flat[bad])
        _check_status(status)
        return out

    def loss(self, X, Y, w, int loss_kind, param):
        """The loss of (X, Y) in inference mode, or None if an input must be converted."""
        cdef Py_ssize_t n
        cdef const void *xp
        cdef const void *yp
        cdef ln_batch_opts o
        cdef double value = 0.0
        cdef int status
        if not self._xy(X, Y, &n, &xp, &yp) or self._batch_opts(&o, loss_kind, param, w, n, 0, 0, 0, 0):
            return None
        cdef Workspace ws = self._take()
        try:
            with nogil:
                status = ln_net_loss(self.net, ws.ws, &o, n, xp, yp, &value)
        finally:
            self._pool.append(ws)
        _check_status(status)
        return value

    def gradients(self, X, Y, w, int loss_kind, param, bint training=False, uint64_t seed=0,
                  long long step=0):
        """(loss, a copy of the flat gradient) of (X, Y), or None if an input
        must be converted. FloatingPointError if the loss or a gradient is not
        finite."""
        cdef Py_ssize_t n
        cdef const void *xp
        cdef const void *yp
        cdef ln_batch_opts o
        cdef double value = 0.0
        cdef int status
        if not self._xy(X, Y, &n, &xp, &yp) or self._batch_opts(&o, loss_kind, param, w, n, 0,
                                                                training, seed, step):
            return None
        grad = np.empty(self.param_size, dtype=np.float32 if self.dtype_code == LN_FLOAT32 else np.float64)
        cdef Workspace ws = self._take()
        try:
            with nogil:
                status = ln_net_backward(self.net, ws.ws, &o, n, xp, yp, &value)
            if status == LN_OK:
                memcpy(cnp.PyArray_DATA(grad), ln_ws_grad(ws.ws), self.param_size * grad.itemsize)
        finally:
            self._pool.append(ws)
        _check_status(status)
        return value, grad

    def train_step_sgd(self, X, Y, w, int loss_kind, param, double lr, long long step,
                       uint64_t seed=0):
        """One plain-SGD step (train_step's path, no optimizer object): returns
        the loss before the update, or None if an input must be converted."""
        cdef Py_ssize_t n
        cdef const void *xp
        cdef const void *yp
        cdef ln_batch_opts o
        cdef ln_optim opt
        cdef void *s[LN_OPT_MAX_STATE]
        cdef double value = 0.0
        cdef int status = 0, i
        cdef Py_ssize_t bad_x = -1, bad_y = -1
        if not self._xy(X, Y, &n, &xp, &yp) or self._batch_opts(&o, loss_kind, param, w, n, 0, 1, seed, 0):
            return None
        opt.kind = _SGD_KIND
        opt.lr = lr
        opt.weight_decay = 0.0
        opt.clip_norm = 0.0
        opt.step = step
        for i in range(LN_OPT_MAX_HP):
            opt.hp[i] = 0.0
        for i in range(LN_OPT_MAX_STATE):
            s[i] = NULL
        cdef Workspace ws = self._take()
        try:
            # The input checks and the step share one release of the GIL (tiny steps feel it)
            with nogil:
                bad_x = ln_first_nonfinite(self.dtype_code, n * self.n_in, xp)
                if bad_x < 0:
                    bad_y = ln_first_nonfinite(self.dtype_code, n * self.n_out, yp)
                if bad_x < 0 and bad_y < 0:
                    status = ln_net_train_step(self.net, ws.ws, &o, &opt, s, n, xp, yp, &value)
        finally:
            self._pool.append(ws)
        if bad_x >= 0:
            raise _nonfinite_input("X", bad_x, self.n_in, X.flat[bad_x], hint=False)
        if bad_y >= 0:
            raise _nonfinite_input("Y", bad_y, self.n_out, Y.flat[bad_y], hint=False)
        _check_status(status)
        return value

    def fit_batches(self, X, Y, w, cnp.ndarray perm, Py_ssize_t batch_size, Py_ssize_t first_batch,
                    Py_ssize_t n_batches, int loss_kind, param, optimizer, states, uint64_t seed):
        """Batches first_batch .. first_batch + n_batches - 1 of an epoch in C.
        Returns (loss_sum, weight_sum, hits, hit_units, steps done, status):
        status is 0, or nonzero if a step stopped the run (that step changed
        nothing)."""
        cdef Py_ssize_t n
        cdef const void *xp
        cdef const void *yp
        cdef ln_batch_opts o
        cdef ln_optim opt
        cdef void *s[LN_OPT_MAX_STATE]
        cdef ln_fit_args a
        cdef int status
        if not self._xy(X, Y, &n, &xp, &yp) or self._batch_opts(&o, loss_kind, param, w, n, 0, 1, seed, 0):
            raise ValueError("fit: X, Y and the sample weights must be converted before fit_batches")
        if (cnp.PyArray_TYPE(perm) != cnp.NPY_INT64 or perm.ndim != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(perm)
                or not cnp.PyArray_ISNOTSWAPPED(perm) or perm.shape[0] != n):
            raise ValueError("perm: expected a contiguous native int64 permutation of the rows")
        self._optim_from(&opt, optimizer, states, s)
        a.n_samples = n
        a.X = xp
        a.Y = yp
        a.w = o.w
        a.perm = <const int64_t *>cnp.PyArray_DATA(perm)
        a.batch_size = batch_size
        a.first_batch = first_batch
        a.n_batches = n_batches
        cdef Workspace ws = self._take()
        try:
            with nogil:
                status = ln_net_fit_batches(self.net, ws.ws, &o, &opt, s, &a)
        finally:
            self._pool.append(ws)
        optimizer.step = opt.step
        if status != LN_ERR_NONFINITE:
            _check_status(status)
        return a.loss_sum, a.weight_sum, a.hits, a.hit_units, a.steps_done, status

    # Data-parallel steps: a backward into a workspace the caller holds, whose
    # gradient the caller sums across processes, then the update from it.

    def new_workspace(self):
        """A workspace for backward_into (held by the caller, not pooled)."""
        return Workspace()

    def backward_into(self, Workspace ws, X, Y, w, int loss_kind, param, double denom,
                      uint64_t seed=0, long long step=0):
        """Forward and backward in training mode into ws; returns (loss, a
        numpy view of ws's flat gradient), or None if an input must be
        converted. denom: the loss's divisor (the global batch's total weight
        in data-parallel training; 0: this batch's own)."""
        cdef Py_ssize_t n
        cdef const void *xp
        cdef const void *yp
        cdef ln_batch_opts o
        cdef double value = 0.0
        cdef int status
        if not self._xy(X, Y, &n, &xp, &yp) or self._batch_opts(&o, loss_kind, param, w, n, denom,
                                                                1, seed, step):
            return None
        with nogil:
            status = ln_net_backward(self.net, ws.ws, &o, n, xp, yp, &value)
        if status != LN_OK and status != LN_ERR_NONFINITE:
            _check_status(status)
        cdef cnp.npy_intp dims[1]
        dims[0] = self.param_size
        grad = cnp.PyArray_SimpleNewFromData(1, dims, self.typenum, ln_ws_grad(ws.ws))
        cnp.set_array_base(grad, ws)        # the view keeps the workspace alive
        return value, grad

    def update(self, optimizer, states, grad):
        """The optimizer's step from a flat gradient (the summed one in
        data-parallel training); FloatingPointError, changing nothing, when
        the gradient or a new value is not finite."""
        cdef ln_optim opt
        cdef void *s[LN_OPT_MAX_STATE]
        cdef int status
        _check_out("grad", grad, grad.dtype, (self.param_size,))
        if cnp.PyArray_TYPE(grad) != self.typenum:
            raise TypeError("grad: expected the network's dtype")
        self._optim_from(&opt, optimizer, states, s)
        cdef const void *gp = cnp.PyArray_DATA(<cnp.ndarray>grad)
        with nogil:
            status = ln_net_update(self.net, &opt, s, gp, NULL)
        _check_status(status)
        optimizer.step = opt.step

    cdef int _optim_from(self, ln_optim *opt, optimizer, states, void **s) except -1:
        """The C optimizer of a Python one (its _c_config()) and its flat state vectors."""
        kind, lr, weight_decay, hp, clip_norm = optimizer._c_config()
        _fill_optim(opt, kind, lr, weight_decay, hp, clip_norm, optimizer.step)
        for i in range(LN_OPT_MAX_STATE):
            s[i] = NULL
            if i < len(states) and states[i] is not None:
                a = states[i]
                _check_out(f"optimizer state {i}", a, a.dtype, (self.param_size,))
                if cnp.PyArray_TYPE(a) != self.typenum:
                    raise TypeError("optimizer state: expected the network's dtype")
                s[i] = cnp.PyArray_DATA(<cnp.ndarray>a)
        return 0
