# Declarations of the C API in csrc/layernet.h. Every function is
# `noexcept nogil`: the kernels never call into Python and never raise.
from libc.stdint cimport int64_t, uint64_t

cdef extern from "layernet.h" nogil:
    enum:
        LN_OK
        LN_ERR_NOMEM
        LN_ERR_NONFINITE
        LN_ERR_ARG
        LN_ERR_ISA
        LN_ERR_INPUT
    enum:
        LN_FLOAT32
        LN_FLOAT64
    enum:
        LN_EPI_NONE
        LN_EPI_BIAS_ACT
        LN_EPI_DACT
    enum:
        LN_OPT_MAX_HP
        LN_OPT_MAX_STATE

    int ln_activation_count() noexcept
    const char *ln_activation_name(int act) noexcept
    int ln_activation_needs_z(int act) noexcept
    int ln_loss_count() noexcept
    const char *ln_loss_name(int kind) noexcept
    int ln_loss_reduces_by_sum(int kind) noexcept
    int ln_optimizer_count() noexcept
    const char *ln_optimizer_name(int kind) noexcept
    int ln_optimizer_n_state(int kind) noexcept
    int ln_layer_kind_count() noexcept
    const char *ln_layer_kind_name(int kind) noexcept

    void ln_init() noexcept
    int ln_isa_count() noexcept
    const char *ln_isa_name_at(int i) noexcept
    int ln_isa_supported(const char *name) noexcept
    int ln_set_isa(const char *name) noexcept
    const char *ln_get_isa() noexcept
    void ln_set_num_threads(int n) noexcept
    int ln_get_num_threads() noexcept
    int ln_threads_enabled() noexcept
    long long ln_alloc_count() noexcept

    ctypedef struct ln_epilogue:
        int kind
        int act
        const void *bias
        void *zout
        Py_ssize_t ldz
        const void *saved
        Py_ssize_t ld_saved

    int ln_sgemm(int transa, int transb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                 float alpha, const float *A, Py_ssize_t lda, const float *B, Py_ssize_t ldb,
                 float beta, float *C, Py_ssize_t ldc, const ln_epilogue *epi) noexcept
    int ln_dgemm(int transa, int transb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                 double alpha, const double *A, Py_ssize_t lda, const double *B, Py_ssize_t ldb,
                 double beta, double *C, Py_ssize_t ldc, const ln_epilogue *epi) noexcept

    Py_ssize_t ln_first_nonfinite(int dtype, Py_ssize_t size, const void *x) noexcept
    int ln_activation_apply(int dtype, int act, int mode, Py_ssize_t size,
                            const void *inp, void *out) noexcept
    int ln_loss(int dtype, int kind, const double *param, Py_ssize_t n, Py_ssize_t m,
                const void *H, const void *Y, const void *w, double scale,
                void *grad, double *loss) noexcept

    ctypedef struct ln_optim:
        int kind
        double lr
        double weight_decay
        double hp[6]
        double clip_norm
        long long step

    int ln_optimizer_update(int dtype, const ln_optim *opt, long long t, Py_ssize_t size,
                            void *p, const void *g, void *const *s) noexcept

    ctypedef struct ln_node_spec:
        int kind
        Py_ssize_t n_in
        Py_ssize_t n_out
        int act
        double rate

    ctypedef struct ln_net:
        pass
    ctypedef struct ln_ws:
        pass

    ln_net *ln_net_create(int dtype, int n_nodes, const ln_node_spec *nodes, int *status) noexcept
    void ln_net_free(ln_net *net) noexcept
    Py_ssize_t ln_net_param_size(const ln_net *net) noexcept
    int ln_net_tensor_count(const ln_net *net) noexcept
    void ln_net_tensor(const ln_net *net, int i, int *node, Py_ssize_t *offset, Py_ssize_t *size) noexcept
    Py_ssize_t ln_net_const_size(const ln_net *net) noexcept
    int ln_net_const_count(const ln_net *net) noexcept
    void ln_net_const(const ln_net *net, int i, int *node, Py_ssize_t *offset, Py_ssize_t *size) noexcept
    void ln_net_bind(ln_net *net, void *params, const void *consts) noexcept

    ln_ws *ln_ws_create() noexcept
    void ln_ws_free(ln_ws *ws) noexcept
    void *ln_ws_grad(ln_ws *ws) noexcept

    int ln_net_predict(ln_net *net, ln_ws *ws, Py_ssize_t n, const void *X, void *out,
                       int check_finite, Py_ssize_t *bad) noexcept

    ctypedef struct ln_batch_opts:
        int kind
        double param[2]
        const void *w
        double denom
        int training
        uint64_t seed
        long long step

    int ln_net_backward(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, Py_ssize_t n,
                        const void *X, const void *Y, double *loss) noexcept
    int ln_net_loss(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, Py_ssize_t n,
                    const void *X, const void *Y, double *loss) noexcept
    int ln_net_update(ln_net *net, ln_optim *opt, void *const *state, const void *grad,
                      double *grad_norm) noexcept
    int ln_net_train_step(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ln_optim *opt,
                          void *const *state, Py_ssize_t n, const void *X, const void *Y,
                          double *loss) noexcept

    ctypedef struct ln_fit_args:
        Py_ssize_t n_samples
        const void *X
        const void *Y
        const void *w
        const int64_t *perm
        Py_ssize_t batch_size
        Py_ssize_t first_batch
        Py_ssize_t n_batches
        double loss_sum
        double weight_sum
        Py_ssize_t hits
        Py_ssize_t hit_units
        Py_ssize_t steps_done

    int ln_net_fit_batches(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ln_optim *opt,
                           void *const *state, ln_fit_args *args) noexcept
