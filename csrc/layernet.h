/* layernet.h: the C API of layernet's kernels.
 *
 * Plain C99, no Python headers. This is the only header the Cython layer
 * includes. Matrices are row-major with a leading dimension (row stride in
 * elements). Functions trust their arguments (Python validates them once)
 * and report failure through status codes; they never abort.
 */
#ifndef LAYERNET_H
#define LAYERNET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum {
    LN_OK = 0,
    LN_ERR_NOMEM = 1,      /* an allocation failed (only at set-up time) */
    LN_ERR_NONFINITE = 2,  /* a loss or gradient came out inf/nan; nothing was updated */
    LN_ERR_ARG = 3,        /* an argument the Python layer should have caught */
    LN_ERR_ISA = 4         /* the requested instruction set is not available */
};

/* Element types. */
enum { LN_FLOAT32 = 0, LN_FLOAT64 = 1 };

/* Activations. Each derivative is computed from the output H alone. */
enum {
    LN_ACT_IDENTITY = 0,
    LN_ACT_SIGMOID = 1,   /* f' = H(1-H) */
    LN_ACT_RELU = 2,      /* f' = 1 where H > 0, else 0 */
    LN_ACT_TANH = 3       /* f' = 1 - H^2 */
};

/* ------------------------------------------------------------------ */
/* Instruction-set dispatch and threads                                */
/* ------------------------------------------------------------------ */

enum { LN_ISA_GENERIC = 0, LN_ISA_AVX2 = 1, LN_ISA_AVX512 = 2 };

/* Detects the CPU and picks the best path. Idempotent; called at import. */
void ln_init(void);
/* 1 if this build has kernels for `isa` and the CPU runs them. */
int ln_isa_supported(int isa);
/* Forces a path; LN_ERR_ISA if it is not supported. */
int ln_set_isa(int isa);
int ln_get_isa(void);
const char *ln_isa_name(int isa);

/* Threads used by the kernels (>= 1). Without OpenMP this is always 1. */
void ln_set_num_threads(int n);
int ln_get_num_threads(void);
int ln_openmp_enabled(void);

/* Heap allocations the library has made since the process started. Steps and
 * predictions after the first at a given batch size leave it unchanged. */
long long ln_alloc_count(void);

/* ------------------------------------------------------------------ */
/* GEMM                                                                */
/* ------------------------------------------------------------------ */

/* What happens to each output element after the product, while the tile
 * is still in registers or L1 (never a separate pass over C).
 *   LN_EPI_NONE:     C = alpha*op(A)op(B) + beta*C
 *   LN_EPI_BIAS_ACT: C = act(alpha*op(A)op(B) + beta*C + bias[j])   (bias may be NULL)
 *   LN_EPI_DACT:     C = (alpha*op(A)op(B) + beta*C) * act'(H[i,j]) (H is m x n, row stride ldh) */
enum { LN_EPI_NONE = 0, LN_EPI_BIAS_ACT = 1, LN_EPI_DACT = 2 };

typedef struct {
    int kind;           /* LN_EPI_* */
    int act;            /* LN_ACT_* */
    const void *bias;   /* BIAS_ACT: n elements of the GEMM's type, or NULL */
    const void *h;      /* DACT: the activation output, m x n */
    ptrdiff_t ldh;
} ln_epilogue;

/* C := epilogue(alpha * op(A) * op(B) + beta * C), row-major.
 * op(A) is m x k: A itself (m x k, row stride lda) if transa == 0,
 * else the transpose of A stored as k x m (row stride lda). Same for B (k x n).
 * beta == 0 means C is not read (it may hold garbage or NaN); alpha == 0
 * means A and B are not read (as in BLAS).
 * epi may be NULL (same as LN_EPI_NONE). k == 0 is allowed (C = beta*C, then epilogue).
 * For DACT, H must not overlap C. relu passes NaN through (max(0, NaN) = NaN).
 * Returns LN_OK, or LN_ERR_NOMEM when the packing workspace must grow (the
 * first call on a thread, or a larger problem than before) and cannot.
 * Thread-safe: concurrent calls from different OS threads are allowed.
 * After the first call of a given size on a thread no memory is allocated.
 * ln_set_isa and ln_set_num_threads are process-wide: do not change them
 * while another thread is inside a call. */
int ln_sgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
             float alpha, const float *A, ptrdiff_t lda,
             const float *B, ptrdiff_t ldb,
             float beta, float *C, ptrdiff_t ldc, const ln_epilogue *epi);
int ln_dgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
             double alpha, const double *A, ptrdiff_t lda,
             const double *B, ptrdiff_t ldb,
             double beta, double *C, ptrdiff_t ldc, const ln_epilogue *epi);

/* ------------------------------------------------------------------ */
/* Single-layer kernels (also the oracle hooks the tests call)         */
/* ------------------------------------------------------------------ */

/* H = act(X W + B). X n x n_in, W n_in x n_out, B n_out (or NULL), H n x n_out; all contiguous. */
int ln_dense_forward(int dtype, int act, ptrdiff_t n, ptrdiff_t n_in, ptrdiff_t n_out,
                     const void *X, const void *W, const void *B, void *H);

/* A = dH * act'(H); dW = X^T A; dB = colsum(A); dX = A W^T (skipped if dX is NULL).
 * A is an n x n_out scratch buffer the caller provides. */
int ln_dense_backward(int dtype, int act, ptrdiff_t n, ptrdiff_t n_in, ptrdiff_t n_out,
                      const void *X, const void *W, const void *H, const void *dH,
                      void *A, void *dW, void *dB, void *dX);

/* Losses over an n x m output. Each returns the loss in *loss and, when
 * grad != NULL, writes the gradient with respect to its input.
 *   MSE mean: L = sum (H-Y)^2 / (n m), grad = 2 (H-Y) / (n m)
 *   MSE sum:  L = sum (H-Y)^2,         grad = 2 (H-Y)
 *   Softmax cross-entropy on logits Z against target distributions T (rows of
 *   one-hot or soft labels): L = -sum T log softmax(Z) / n,
 *   grad = (softmax(Z) * rowsum(T) - T) / n. Computed with log-sum-exp. */
enum { LN_LOSS_MSE_MEAN = 0, LN_LOSS_MSE_SUM = 1, LN_LOSS_CROSS_ENTROPY = 2 };
int ln_loss(int dtype, int kind, ptrdiff_t n, ptrdiff_t m,
            const void *H, const void *Y, void *grad, double *loss);

/* ------------------------------------------------------------------ */
/* Optimizers: in-place updates of one parameter tensor of `size`      */
/* elements. Definitions match PyTorch's SGD and Adam (weight decay is */
/* L2: g += wd * p).                                                   */
/* ------------------------------------------------------------------ */

enum { LN_OPT_SGD = 0, LN_OPT_ADAM = 1 };

typedef struct {
    int kind;            /* LN_OPT_* */
    double lr;
    double momentum;     /* SGD: 0 disables the velocity buffer */
    int nesterov;        /* SGD */
    double beta1, beta2, eps;  /* Adam */
    double weight_decay;
    long long step;      /* Adam: steps taken so far; incremented by ln_net steps */
} ln_optimizer;

/* p, g and the state buffers have `size` elements. state1 is the SGD velocity
 * or Adam's first moment; state2 is Adam's second moment. `t` is the 1-based
 * step number used by Adam's bias correction. */
int ln_optimizer_update(int dtype, const ln_optimizer *opt, long long t, ptrdiff_t size,
                        void *p, const void *g, void *state1, void *state2);

/* ------------------------------------------------------------------ */
/* Whole networks: one call per step, workspaces reused                */
/* ------------------------------------------------------------------ */

typedef struct ln_net ln_net;

/* sizes has n_layers + 1 entries, acts has n_layers. Returns NULL on bad
 * arguments or out of memory. */
ln_net *ln_net_create(int dtype, int n_layers, const ptrdiff_t *sizes, const int *acts);
void ln_net_free(ln_net *net);

/* Points layer i at its parameters (W: sizes[i] x sizes[i+1], B: sizes[i+1]),
 * owned by the caller, and at its optimizer state buffers (same shapes, may be NULL
 * when the optimizer does not need them). */
void ln_net_set_params(ln_net *net, int layer, void *W, void *B);
void ln_net_set_state(ln_net *net, int layer, void *W1, void *B1, void *W2, void *B2);

/* Makes room for batches of up to `batch` rows. Allocates only when the
 * batch is larger than any seen before. */
int ln_net_reserve(ln_net *net, ptrdiff_t batch);

/* out (n x sizes[n_layers]) = the network's output for X (n x sizes[0]). */
int ln_net_predict(ln_net *net, ptrdiff_t n, const void *X, void *out);

/* Forward, loss and backward. Gradients land in the net's buffers
 * (ln_net_grad). Returns the loss in *loss. */
int ln_net_gradients(ln_net *net, int loss_kind, ptrdiff_t n,
                     const void *X, const void *Y, double *loss);
/* The gradient buffer of layer i: which = 0 for dW, 1 for dB. */
const void *ln_net_grad(const ln_net *net, int layer, int which);

/* One step: forward, loss, backward, optimizer update (opt->step is advanced
 * by one). If the loss or any gradient is non-finite, returns LN_ERR_NONFINITE
 * and changes nothing: parameters, optimizer state and opt->step stay as they were. */
int ln_net_train_step(ln_net *net, int loss_kind, ln_optimizer *opt,
                      ptrdiff_t n, const void *X, const void *Y, double *loss);

/* Steps over batches first_batch .. first_batch + n_batches - 1 of an epoch.
 * Batch b takes rows perm[b*batch_size .. min((b+1)*batch_size, n_samples)) of
 * X and Y. opt->step is advanced once per step. Stops at the first
 * non-finite step (that step changes nothing). *loss_sum gets the sum of the
 * per-step losses, each weighted by its batch's row count; *hits the number
 * of rows whose largest output (before that step's update) is at the target
 * row's largest entry (the running accuracy of classification); *steps_done
 * the number of completed steps. */
int ln_net_fit_batches(ln_net *net, int loss_kind, ln_optimizer *opt,
                       ptrdiff_t n_samples, const void *X, const void *Y,
                       const long long *perm, ptrdiff_t batch_size,
                       ptrdiff_t first_batch, ptrdiff_t n_batches,
                       double *loss_sum, ptrdiff_t *hits, ptrdiff_t *steps_done);

#ifdef __cplusplus
}
#endif

#endif /* LAYERNET_H */
