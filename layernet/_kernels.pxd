# Declarations of the C API in csrc/layernet.h. Every function is
# `noexcept nogil`: the kernels never call into Python and never raise.

cdef extern from "layernet.h" nogil:
    enum:
        LN_OK
        LN_ERR_NOMEM
        LN_ERR_NONFINITE
        LN_ERR_ARG
        LN_ERR_ISA
    enum:
        LN_FLOAT32
        LN_FLOAT64
    enum:
        LN_ACT_IDENTITY
        LN_ACT_SIGMOID
        LN_ACT_RELU
        LN_ACT_TANH
    enum:
        LN_ISA_GENERIC
        LN_ISA_AVX2
        LN_ISA_AVX512
    enum:
        LN_EPI_NONE
        LN_EPI_BIAS_ACT
        LN_EPI_DACT
    enum:
        LN_LOSS_MSE_MEAN
        LN_LOSS_MSE_SUM
        LN_LOSS_CROSS_ENTROPY
    enum:
        LN_OPT_SGD
        LN_OPT_ADAM

    ctypedef struct ln_epilogue:
        int kind
        int act
        const void *bias
        const void *h
        Py_ssize_t ldh

    ctypedef struct ln_optimizer:
        int kind
        double lr
        double momentum
        int nesterov
        double beta1
        double beta2
        double eps
        double weight_decay
        long long step

    ctypedef struct ln_net:
        pass

    void ln_init() noexcept
    int ln_isa_supported(int isa) noexcept
    int ln_set_isa(int isa) noexcept
    int ln_get_isa() noexcept
    const char *ln_isa_name(int isa) noexcept
    void ln_set_num_threads(int n) noexcept
    int ln_get_num_threads() noexcept
    int ln_openmp_enabled() noexcept
    long long ln_alloc_count() noexcept

    int ln_sgemm(int transa, int transb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                 float alpha, const float *A, Py_ssize_t lda, const float *B, Py_ssize_t ldb,
                 float beta, float *C, Py_ssize_t ldc, const ln_epilogue *epi) noexcept
    int ln_dgemm(int transa, int transb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                 double alpha, const double *A, Py_ssize_t lda, const double *B, Py_ssize_t ldb,
                 double beta, double *C, Py_ssize_t ldc, const ln_epilogue *epi) noexcept

    int ln_dense_forward(int dtype, int act, Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out,
                         const void *X, const void *W, const void *B, void *H) noexcept
    int ln_dense_backward(int dtype, int act, Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out,
                          const void *X, const void *W, const void *H, const void *dH,
                          void *A, void *dW, void *dB, void *dX) noexcept
    int ln_loss(int dtype, int kind, Py_ssize_t n, Py_ssize_t m,
                const void *H, const void *Y, void *grad, double *loss) noexcept
    int ln_optimizer_update(int dtype, const ln_optimizer *opt, long long t, Py_ssize_t size,
                            void *p, const void *g, void *state1, void *state2) noexcept

    ln_net *ln_net_create(int dtype, int n_layers, const Py_ssize_t *sizes, const int *acts) noexcept
    void ln_net_free(ln_net *net) noexcept
    void ln_net_set_params(ln_net *net, int layer, void *W, void *B) noexcept
    void ln_net_set_state(ln_net *net, int layer, void *W1, void *B1, void *W2, void *B2) noexcept
    int ln_net_reserve(ln_net *net, Py_ssize_t batch) noexcept
    int ln_net_predict(ln_net *net, Py_ssize_t n, const void *X, void *out) noexcept
    int ln_net_gradients(ln_net *net, int loss_kind, Py_ssize_t n,
                         const void *X, const void *Y, double *loss) noexcept
    const void *ln_net_grad(const ln_net *net, int layer, int which) noexcept
    int ln_net_train_step(ln_net *net, int loss_kind, ln_optimizer *opt,
                          Py_ssize_t n, const void *X, const void *Y, double *loss) noexcept
    int ln_net_fit_batches(ln_net *net, int loss_kind, ln_optimizer *opt,
                           Py_ssize_t n_samples, const void *X, const void *Y,
                           const long long *perm, Py_ssize_t batch_size,
                           Py_ssize_t first_batch, Py_ssize_t n_batches,
                           double *loss_sum, Py_ssize_t *hits, Py_ssize_t *steps_done) noexcept
