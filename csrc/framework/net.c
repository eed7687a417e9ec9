/* net.c: dense-layer drivers and whole-network steps (ln_dense_*, ln_net_*).
 *
 * A network points at parameters the caller owns and keeps its own
 * workspaces: per-layer outputs H, two dL/dZ buffers used in turn, gradient
 * buffers and the batch-gather buffers of fit. Workspaces grow only when a
 * larger batch arrives, so steady-state steps allocate nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "alloc.h"

#ifdef _OPENMP
#include <omp.h>
#define LN_THREAD_ID() omp_get_thread_num()
#define LN_THREAD_COUNT() omp_get_num_threads()
#else
#define LN_THREAD_ID() 0
#define LN_THREAD_COUNT() 1
#endif

/* Parameters from which the per-step element-wise passes (finiteness check,
 * optimizer update) are split across threads: below it a fork costs more
 * than the memory-bound pass it would share. */
#define LN_ELEMENTWISE_MT_PARAMS 65536

struct ln_net {
    int dtype;
    int n_layers;
    size_t elem;            /* bytes per element */
    ptrdiff_t *sizes;       /* n_layers + 1 widths */
    int *acts;
    ptrdiff_t max_width;
    /* caller-owned parameters and optimizer state, per layer */
    void **W, **B, **S1W, **S1B, **S2W, **S2B;
    /* owned */
    void **dW, **dB;
    ptrdiff_t capacity;     /* rows the batch workspaces hold */
    void **H;               /* per layer, capacity x sizes[l + 1] */
    void *A[2];             /* capacity x max_width each */
    void *Xb, *Yb;          /* fit's gathered batch */
};

/* Threads for the element-wise passes over this network's parameters. */
static int ln_elementwise_threads(const struct ln_net *net)
{
    ptrdiff_t params = 0;
    int l;
    for (l = 0; l < net->n_layers; l++) params += net->sizes[l] * net->sizes[l + 1];
    return params >= LN_ELEMENTWISE_MT_PARAMS ? ln_get_num_threads() : 1;
}

#define T float
#define SFX f32
#define GEMM ln_sgemm
#include "net_impl.h"
#undef T
#undef SFX
#undef GEMM

#define T double
#define SFX f64
#define GEMM ln_dgemm
#include "net_impl.h"
#undef T
#undef SFX
#undef GEMM

int ln_dense_forward(int dtype, int act, ptrdiff_t n, ptrdiff_t n_in, ptrdiff_t n_out,
                     const void *X, const void *W, const void *B, void *H)
{
    if (dtype == LN_FLOAT32)
        return dense_forward_f32(act, n, n_in, n_out, X, W, B, H);
    return dense_forward_f64(act, n, n_in, n_out, X, W, B, H);
}

int ln_dense_backward(int dtype, int act, ptrdiff_t n, ptrdiff_t n_in, ptrdiff_t n_out,
                      const void *X, const void *W, const void *H, const void *dH,
                      void *A, void *dW, void *dB, void *dX)
{
    if (dtype == LN_FLOAT32)
        return dense_backward_f32(act, n, n_in, n_out, X, W, H, dH, A, dW, dB, dX);
    return dense_backward_f64(act, n, n_in, n_out, X, W, H, dH, A, dW, dB, dX);
}

static void **alloc_ptr_array(int n)
{
    return (void **)ln_calloc((size_t)n, sizeof(void *));
}

void ln_net_free(ln_net *net)
{
    int l;
    if (net == NULL) return;
    for (l = 0; l < net->n_layers; l++) {
        if (net->dW) ln_aligned_free(net->dW[l]);
        if (net->dB) ln_aligned_free(net->dB[l]);
        if (net->H) ln_aligned_free(net->H[l]);
    }
    ln_aligned_free(net->A[0]);
    ln_aligned_free(net->A[1]);
    ln_aligned_free(net->Xb);
    ln_aligned_free(net->Yb);
    free(net->sizes); free(net->acts);
    free(net->W); free(net->B); free(net->S1W); free(net->S1B); free(net->S2W); free(net->S2B);
    free(net->dW); free(net->dB); free(net->H);
    free(net);
}

ln_net *ln_net_create(int dtype, int n_layers, const ptrdiff_t *sizes, const int *acts)
{
    ln_net *net;
    int l;
    if (n_layers < 1 || (dtype != LN_FLOAT32 && dtype != LN_FLOAT64)) return NULL;
    for (l = 0; l <= n_layers; l++)
        if (sizes[l] < 1) return NULL;
    net = (ln_net *)ln_calloc(1, sizeof *net);
    if (net == NULL) return NULL;
    net->dtype = dtype;
    net->n_layers = n_layers;
    net->elem = dtype == LN_FLOAT32 ? sizeof(float) : sizeof(double);
    net->sizes = (ptrdiff_t *)ln_malloc((size_t)(n_layers + 1) * sizeof(ptrdiff_t));
    net->acts = (int *)ln_malloc((size_t)n_layers * sizeof(int));
    net->W = alloc_ptr_array(n_layers); net->B = alloc_ptr_array(n_layers);
    net->S1W = alloc_ptr_array(n_layers); net->S1B = alloc_ptr_array(n_layers);
    net->S2W = alloc_ptr_array(n_layers); net->S2B = alloc_ptr_array(n_layers);
    net->dW = alloc_ptr_array(n_layers); net->dB = alloc_ptr_array(n_layers);
    net->H = alloc_ptr_array(n_layers);
    if (!net->sizes || !net->acts || !net->W || !net->B || !net->S1W || !net->S1B ||
        !net->S2W || !net->S2B || !net->dW || !net->dB || !net->H) {
        ln_net_free(net);
        return NULL;
    }
    memcpy(net->sizes, sizes, (size_t)(n_layers + 1) * sizeof(ptrdiff_t));
    memcpy(net->acts, acts, (size_t)n_layers * sizeof(int));
    for (l = 0; l <= n_layers; l++)
        if (sizes[l] > net->max_width) net->max_width = sizes[l];
    for (l = 0; l < n_layers; l++) {
        net->dW[l] = ln_aligned_alloc((size_t)(sizes[l] * sizes[l + 1]) * net->elem);
        net->dB[l] = ln_aligned_alloc((size_t)sizes[l + 1] * net->elem);
        if (!net->dW[l] || !net->dB[l]) {
            ln_net_free(net);
            return NULL;
        }
    }
    return net;
}

void ln_net_set_params(ln_net *net, int layer, void *W, void *B)
{
    net->W[layer] = W;
    net->B[layer] = B;
}

void ln_net_set_state(ln_net *net, int layer, void *W1, void *B1, void *W2, void *B2)
{
    net->S1W[layer] = W1;
    net->S1B[layer] = B1;
    net->S2W[layer] = W2;
    net->S2B[layer] = B2;
}

int ln_net_reserve(ln_net *net, ptrdiff_t batch)
{
    const int L = net->n_layers;
    ptrdiff_t rows;
    int l;
    if (batch <= net->capacity) return LN_OK;
    /* Grow geometrically so a slowly rising batch size does not reallocate each call. */
    rows = net->capacity * 2 > batch ? net->capacity * 2 : batch;
    for (l = 0; l < L; l++) {
        ln_aligned_free(net->H[l]);
        net->H[l] = ln_aligned_alloc((size_t)(rows * net->sizes[l + 1]) * net->elem);
    }
    ln_aligned_free(net->A[0]);
    ln_aligned_free(net->A[1]);
    ln_aligned_free(net->Xb);
    ln_aligned_free(net->Yb);
    net->A[0] = ln_aligned_alloc((size_t)(rows * net->max_width) * net->elem);
    net->A[1] = ln_aligned_alloc((size_t)(rows * net->max_width) * net->elem);
    net->Xb = ln_aligned_alloc((size_t)(rows * net->sizes[0]) * net->elem);
    net->Yb = ln_aligned_alloc((size_t)(rows * net->sizes[L]) * net->elem);
    net->capacity = rows;
    for (l = 0; l < L; l++)
        if (!net->H[l]) net->capacity = 0;
    if (!net->A[0] || !net->A[1] || !net->Xb || !net->Yb) net->capacity = 0;
    return net->capacity ? LN_OK : LN_ERR_NOMEM;
}

int ln_net_predict(ln_net *net, ptrdiff_t n, const void *X, void *out)
{
    int status = ln_net_reserve(net, n);
    if (status != LN_OK) return status;
    if (net->dtype == LN_FLOAT32) return net_predict_f32(net, n, X, out);
    return net_predict_f64(net, n, X, out);
}

int ln_net_gradients(ln_net *net, int loss_kind, ptrdiff_t n, const void *X, const void *Y,
                     double *loss)
{
    int status = ln_net_reserve(net, n);
    if (status != LN_OK) return status;
    if (net->dtype == LN_FLOAT32) return net_gradients_f32(net, loss_kind, n, X, Y, loss);
    return net_gradients_f64(net, loss_kind, n, X, Y, loss);
}

const void *ln_net_grad(const ln_net *net, int layer, int which)
{
    return which == 0 ? net->dW[layer] : net->dB[layer];
}

/* Adam and momentum need their state buffers bound for every layer. */
static int state_ready(const ln_net *net, const ln_optimizer *opt)
{
    int l;
    int need1 = opt->kind == LN_OPT_ADAM || opt->momentum != 0.0;
    int need2 = opt->kind == LN_OPT_ADAM;
    for (l = 0; l < net->n_layers; l++) {
        if (need1 && (!net->S1W[l] || !net->S1B[l])) return 0;
        if (need2 && (!net->S2W[l] || !net->S2B[l])) return 0;
    }
    return 1;
}

int ln_net_train_step(ln_net *net, int loss_kind, ln_optimizer *opt, ptrdiff_t n,
                      const void *X, const void *Y, double *loss)
{
    int status;
    if (!state_ready(net, opt)) return LN_ERR_ARG;
    status = ln_net_reserve(net, n);
    if (status != LN_OK) return status;
    if (net->dtype == LN_FLOAT32) return net_train_step_f32(net, loss_kind, opt, n, X, Y, loss);
    return net_train_step_f64(net, loss_kind, opt, n, X, Y, loss);
}

int ln_net_fit_batches(ln_net *net, int loss_kind, ln_optimizer *opt, ptrdiff_t n_samples,
                       const void *X, const void *Y, const long long *perm,
                       ptrdiff_t batch_size, ptrdiff_t first_batch, ptrdiff_t n_batches,
                       double *loss_sum, ptrdiff_t *hits, ptrdiff_t *steps_done)
{
    int status;
    if (!state_ready(net, opt) || batch_size < 1) return LN_ERR_ARG;
    status = ln_net_reserve(net, batch_size);
    if (status != LN_OK) return status;
    if (net->dtype == LN_FLOAT32)
        return net_fit_batches_f32(net, loss_kind, opt, n_samples, X, Y, perm, batch_size,
                                   first_batch, n_batches, loss_sum, hits, steps_done);
    return net_fit_batches_f64(net, loss_kind, opt, n_samples, X, Y, perm, batch_size,
                               first_batch, n_batches, loss_sum, hits, steps_done);
}
