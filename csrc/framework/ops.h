/* ops.h: typed element-wise kernels shared by the layer and network drivers.
 *
 * Internal to csrc/. Each kernel exists as _f32 and _f64, generated from
 * ops_impl.h. They are memory-bound passes over small buffers (an output
 * layer, a bias, a parameter tensor), so plain C99 that the compiler
 * vectorises is enough; the heavy work is in the GEMM.
 */
#ifndef LN_OPS_H
#define LN_OPS_H

#include "../layernet.h"

#define LN_DECLARE_OPS(T, SFX)                                                        \
    /* loss over H (n x m) against Y; writes dL/dH * act'(H) to G when G != NULL */  \
    double ln_loss_grad_##SFX(int kind, int act, ptrdiff_t n, ptrdiff_t m,            \
                              const T *H, const T *Y, T *G);                           \
    /* A = dH * act'(H), size elements */                                              \
    void ln_mul_dact_##SFX(int act, ptrdiff_t size, const T *H, const T *dH, T *A);    \
    /* out[j] = sum_i A[i, j] for an n x m matrix */                                    \
    void ln_colsum_##SFX(ptrdiff_t n, ptrdiff_t m, const T *A, T *out);                \
    /* 1 if no element is inf or nan */                                                \
    int ln_all_finite_##SFX(ptrdiff_t size, const T *x);                               \
    /* one optimizer update of a tensor; t is the 1-based step */                      \
    void ln_opt_update_##SFX(const ln_optimizer *opt, long long t, ptrdiff_t size,     \
                             T *p, const T *g, T *s1, T *s2);

LN_DECLARE_OPS(float, f32)
LN_DECLARE_OPS(double, f64)

/* 64-byte aligned allocation for workspaces (set-up time only). */
void *ln_aligned_alloc(size_t bytes);
void ln_aligned_free(void *p);

#endif /* LN_OPS_H */
