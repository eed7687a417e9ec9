/* layernet.h: the C API of layernet's kernels.
 *
 * Plain C99, no Python headers. This is the only header the Cython layer
 * includes. Matrices are row-major with a leading dimension (row stride in
 * elements). Functions trust their arguments (Python validates them once)
 * and report failure through status codes; they never abort.
 *
 * Concepts are tables, each with its own header under tables/: activations,
 * losses, optimizers, instruction sets, and layer kinds (layers/layer.h).
 * Python reads their names through the *_count / *_name functions below,
 * and identifies a row by its index.
 */
#ifndef LAYERNET_H
#define LAYERNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum {
    LN_OK = 0,
    LN_ERR_NOMEM = 1,        /* an allocation failed or a size would overflow (set-up time only) */
    LN_ERR_NONFINITE = 2,    /* the loss, a gradient or an updated value came out inf/nan; nothing changed */
    LN_ERR_ARG = 3,          /* an argument the Python layer should have caught */
    LN_ERR_ISA = 4,          /* the requested instruction set is not available */
    LN_ERR_INPUT = 5         /* an input holds inf or nan (its flat index is reported) */
};

/* Element types. */
enum { LN_FLOAT32 = 0, LN_FLOAT64 = 1 };

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

int ln_activation_count(void);
const char *ln_activation_name(int act);     /* NULL past the end */
int ln_activation_needs_z(int act);          /* 1: its derivative needs Z, not just H */
int ln_loss_count(void);
const char *ln_loss_name(int kind);
int ln_loss_reduces_by_sum(int kind);        /* 1: not divided by the batch's weight */
int ln_optimizer_count(void);
const char *ln_optimizer_name(int kind);
int ln_optimizer_n_state(int kind);          /* state tensors it may keep */
int ln_layer_kind_count(void);
const char *ln_layer_kind_name(int kind);

/* ------------------------------------------------------------------ */
/* Instruction sets and threads                                        */
/* ------------------------------------------------------------------ */

/* Detects the CPU and picks the best instruction set. Idempotent; called at import. */
void ln_init(void);
int ln_isa_count(void);                      /* the sets this build has, best first */
const char *ln_isa_name_at(int i);
int ln_isa_supported(const char *name);      /* built, and this CPU runs it */
int ln_set_isa(const char *name);            /* LN_ERR_ISA if not supported */
const char *ln_get_isa(void);

/* Threads used by the kernels (>= 1; a product uses at most 64). Builds
 * without the thread pool (no POSIX threads, or a compiler without GCC
 * atomics) always use 1, and ln_threads_enabled says which build this is.
 * ln_set_isa and ln_set_num_threads are process-wide: do not change them
 * while another thread is inside a call. */
void ln_set_num_threads(int n);
int ln_get_num_threads(void);
int ln_threads_enabled(void);

/* Heap allocations the library has made since the process started. Steps and
 * predictions after the first at a given batch size leave it unchanged. */
long long ln_alloc_count(void);

/* ------------------------------------------------------------------ */
/* GEMM                                                                */
/* ------------------------------------------------------------------ */

/* What happens to each output element after the product, while the tile
 * is still in registers or L1 (never a separate pass over C).
 *   LN_EPI_NONE:     C = alpha*op(A)op(B) + beta*C
 *   LN_EPI_BIAS_ACT: Z = alpha*op(A)op(B) + beta*C + bias[j] (bias may be NULL);
 *                    zout = Z when zout is not NULL; C = act(Z)
 *   LN_EPI_DACT:     C = (alpha*op(A)op(B) + beta*C) * act'(saved[i,j]), where
 *                    saved is the activation's output H, or its input Z for an
 *                    activation whose derivative needs Z (ln_activation_needs_z) */
enum { LN_EPI_NONE = 0, LN_EPI_BIAS_ACT = 1, LN_EPI_DACT = 2 };

typedef struct {
    int kind;            /* LN_EPI_* */
    int act;             /* activation index */
    const void *bias;    /* BIAS_ACT: n elements of the GEMM's type, or NULL */
    void *zout;          /* BIAS_ACT: m x n, row stride ldz, or NULL */
    ptrdiff_t ldz;
    const void *saved;   /* DACT: m x n, row stride ld_saved */
    ptrdiff_t ld_saved;
} ln_epilogue;

/* C := epilogue(alpha * op(A) * op(B) + beta * C), row-major.
 * op(A) is m x k: A itself (m x k, row stride lda) if transa == 0,
 * else the transpose of A stored as k x m (row stride lda). Same for B (k x n).
 * beta == 0 means C is not read (it may hold garbage or NaN); alpha == 0
 * means A and B are not read (as in BLAS).
 * epi may be NULL (same as LN_EPI_NONE). k == 0 is allowed (C = beta*C, then epilogue).
 * saved and zout must not overlap C. relu passes NaN through (max(0, NaN) = NaN).
 * Returns LN_OK, or LN_ERR_NOMEM when the packing workspace must grow (the
 * first call on a thread, or a larger problem than before) and cannot.
 * Thread-safe: concurrent calls from different OS threads are allowed.
 * After the first call of a given size on a thread no memory is allocated. */
int ln_sgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
             float alpha, const float *A, ptrdiff_t lda,
             const float *B, ptrdiff_t ldb,
             float beta, float *C, ptrdiff_t ldc, const ln_epilogue *epi);
int ln_dgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
             double alpha, const double *A, ptrdiff_t lda,
             const double *B, ptrdiff_t ldb,
             double beta, double *C, ptrdiff_t ldc, const ln_epilogue *epi);

/* ------------------------------------------------------------------ */
/* Element-wise hooks (the tests reach each table row through these)   */
/* ------------------------------------------------------------------ */

/* out[i] = act(z[i]) (mode 0) or act'(s[i]) (mode 1), for size elements,
 * through the active instruction set's vector forms. */
int ln_activation_apply(int dtype, int act, int mode, ptrdiff_t size, const void *in, void *out);

/* The flat index of the first inf or nan among size elements, or -1. */
ptrdiff_t ln_first_nonfinite(int dtype, ptrdiff_t size, const void *x);

/* The loss of an n x m output H against targets Y, with optional per-row
 * weights w (NULL: all 1), scaled by `scale`; param holds the loss's
 * parameters (may be NULL). Writes dL/dH to grad unless it is NULL. */
int ln_loss(int dtype, int kind, const double *param, ptrdiff_t n, ptrdiff_t m,
            const void *H, const void *Y, const void *w, double scale,
            void *grad, double *loss);

/* ------------------------------------------------------------------ */
/* Optimizers                                                          */
/* ------------------------------------------------------------------ */

#define LN_OPT_MAX_HP 6
#define LN_OPT_MAX_STATE 4

typedef struct {
    int kind;                    /* optimizer index (tables/optimizers.h) */
    double lr;
    double weight_decay;
    double hp[LN_OPT_MAX_HP];    /* the kind's hyper-parameters, in its row's order */
    double clip_norm;            /* > 0: scale the gradient to this global norm first */
    long long step;              /* steps taken; a step uses step + 1 and advances it */
} ln_optim;

/* One update of `size` parameters p with gradient g and the kind's state
 * tensors s[0..n_state) (same size; unused ones may be NULL), at step t
 * (1-based). All or nothing: LN_ERR_NONFINITE, and nothing written, if any
 * new value would be inf or nan. Clipping is not applied here. */
int ln_optimizer_update(int dtype, const ln_optim *opt, long long t, ptrdiff_t size,
                        void *p, const void *g, void *const *s);

/* ------------------------------------------------------------------ */
/* Networks                                                            */
/* ------------------------------------------------------------------ */

/* One node of a network: a layer kind and its shape and settings. */
typedef struct {
    int kind;            /* layer kind index (ln_layer_kind_name) */
    ptrdiff_t n_in, n_out;
    int act;             /* output activation index (identity for kinds without one) */
    double rate;         /* Dropout: probability of zeroing an element */
} ln_node_spec;

/* A network: its nodes, the layout of its flat parameter vector and a lock
 * that orders parameter updates against forward passes. The parameters and
 * constants live in flat vectors that the caller owns and binds. */
typedef struct ln_net ln_net;

/* A workspace: the buffers of one call. One call at a time per workspace;
 * calls on one network from several threads each use their own. */
typedef struct ln_ws ln_ws;

/* NULL and *status set (LN_ERR_ARG for an invalid spec, LN_ERR_NOMEM) on failure. */
ln_net *ln_net_create(int dtype, int n_nodes, const ln_node_spec *nodes, int *status);
void ln_net_free(ln_net *net);

/* The flat parameter vector: its length in elements (each tensor starts on
 * a 64-byte boundary; the gaps stay zero), and where tensor i starts and
 * how long it is. Tensors come node by node in their layer kind's order
 * (Dense: W then B). Constants (non-trained tensors) have their own vector. */
ptrdiff_t ln_net_param_size(const ln_net *net);
int ln_net_tensor_count(const ln_net *net);
void ln_net_tensor(const ln_net *net, int i, int *node, ptrdiff_t *offset, ptrdiff_t *size);
ptrdiff_t ln_net_const_size(const ln_net *net);
int ln_net_const_count(const ln_net *net);
void ln_net_const(const ln_net *net, int i, int *node, ptrdiff_t *offset, ptrdiff_t *size);
void ln_net_bind(ln_net *net, void *params, const void *consts);

ln_ws *ln_ws_create(void);
void ln_ws_free(ln_ws *ws);
/* The flat gradient of the last ln_net_backward on this workspace. */
void *ln_ws_grad(ln_ws *ws);

/* out (n x n_out) = the network's output for X (n x n_in), in inference mode.
 * With check_finite, an inf or nan in X returns LN_ERR_INPUT and its flat
 * index in *bad. Holds the network's read lock. */
int ln_net_predict(ln_net *net, ln_ws *ws, ptrdiff_t n, const void *X, void *out,
                   int check_finite, ptrdiff_t *bad);

/* The loss of a batch, and what a step needs to update.
 *   kind, param     the loss (tables/losses.h)
 *   w               per-row sample weights, or NULL
 *   denom           the loss's divisor; 0: the batch's own (total weight, or
 *                   rows); data-parallel training passes the global one
 *   training        1: train-time behaviour (dropout) with seed and step
 */
typedef struct {
    int kind;
    double param[2];
    const void *w;
    double denom;
    int training;
    uint64_t seed;
    long long step;
} ln_batch_opts;

/* Forward, loss and backward: the loss in *loss, the flat gradient in the
 * workspace (ln_ws_grad). LN_ERR_NONFINITE if the loss or a gradient is not
 * finite. Holds the network's read lock. */
int ln_net_backward(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ptrdiff_t n,
                    const void *X, const void *Y, double *loss);

/* The loss alone (inference mode), without a backward pass. */
int ln_net_loss(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ptrdiff_t n,
                const void *X, const void *Y, double *loss);

/* The optimizer's update of the bound parameters with the flat gradient
 * `grad` (clipped first when opt->clip_norm > 0) and the flat state
 * vectors; advances opt->step. All or nothing: LN_ERR_NONFINITE, and
 * nothing changed, if the gradient or any new value is not finite. Holds
 * the network's write lock, so a concurrent predict sees the parameters of
 * before or after the step, never a mixture. *grad_norm gets the gradient's
 * global norm (before clipping) when not NULL. */
int ln_net_update(ln_net *net, ln_optim *opt, void *const *state, const void *grad,
                  double *grad_norm);

/* ln_net_backward then ln_net_update (with opts->step = opt->step + 1). */
int ln_net_train_step(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ln_optim *opt,
                      void *const *state, ptrdiff_t n, const void *X, const void *Y,
                      double *loss);

/* An epoch's batches in one call: batch b takes rows
 * perm[b*batch_size .. min((b+1)*batch_size, n_samples)) of X, Y and w.
 * Stops at the first step that fails (that step changes nothing). */
typedef struct {
    ptrdiff_t n_samples;
    const void *X, *Y, *w;       /* w: per-row sample weights, or NULL */
    const int64_t *perm;
    ptrdiff_t batch_size, first_batch, n_batches;
    /* out */
    double loss_sum;             /* sum over steps of loss * the batch's total weight */
    double weight_sum;           /* sum of the batches' total weights */
    ptrdiff_t hits, hit_units;   /* right answers before each step, out of hit_units */
    ptrdiff_t steps_done;
} ln_fit_args;

int ln_net_fit_batches(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ln_optim *opt,
                       void *const *state, ln_fit_args *args);

#ifdef __cplusplus
}
#endif

#endif /* LAYERNET_H */
