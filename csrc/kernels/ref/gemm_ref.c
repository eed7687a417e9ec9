/* gemm_ref.c: portable C micro-kernels and epilogue tiles.
 *
 * The generic ISA runs these, and the tests use them as the oracle for the
 * SIMD kernels, so they share the SIMD tiles (s 6x16, d 6x8) and the
 * micro-kernel contract of kernels.h. Plain C99 for any CPU.
 */
#include <math.h>
#include "../kernels.h"

/* Activations and their derivatives from the output, in double for the
 * float path too so the oracle is as exact as libm. relu is written so that
 * NaN passes through and -0 stays -0, as the SIMD max(0, x) does. */
static double ln_ref_act(int act, double x)
{
    switch (act) {
    case LN_ACT_SIGMOID:
        if (x >= 0) return 1.0 / (1.0 + exp(-x));
        else { double e = exp(x); return e / (1.0 + e); }
    case LN_ACT_RELU: return x < 0 ? 0.0 : x;
    case LN_ACT_TANH: return tanh(x);
    default: return x;
    }
}

static double ln_ref_dact(int act, double h)
{
    switch (act) {
    case LN_ACT_SIGMOID: return h * (1.0 - h);
    case LN_ACT_RELU: return h > 0 ? 1.0 : 0.0;
    case LN_ACT_TANH: return 1.0 - h * h;
    default: return 1.0;
    }
}

/* The epilogue tile, the micro-kernel and the row kernel, written once for
 * both types. */
#define LN_REF_GEMM(T, AUX, EPI, UKR, GEMV, MR, NR)                                 \
void EPI(ptrdiff_t m, ptrdiff_t n, T *c, ptrdiff_t rs_c, const AUX *aux)            \
{                                                                                   \
    ptrdiff_t i, j;                                                                 \
    if (aux->epi == LN_EPI_BIAS_ACT) {                                              \
        /* Loop over rows, then columns: add the bias, apply the activation */      \
        for (i = 0; i < m; ++i)                                                     \
            for (j = 0; j < n; ++j) {                                               \
                T x = c[i * rs_c + j];                                              \
                if (aux->bias) x += aux->bias[j];                                   \
                c[i * rs_c + j] = (T)ln_ref_act(aux->act, (double)x);               \
            }                                                                       \
    } else if (aux->epi == LN_EPI_DACT && aux->act != LN_ACT_IDENTITY) {            \
        /* Loop over rows, then columns: scale by act'(H) */                        \
        for (i = 0; i < m; ++i)                                                     \
            for (j = 0; j < n; ++j) {                                               \
                T h = aux->h[i * aux->ldh + j];                                     \
                c[i * rs_c + j] *= (T)ln_ref_dact(aux->act, (double)h);             \
            }                                                                       \
    }                                                                               \
}                                                                                   \
                                                                                    \
void UKR(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,                                   \
         const T *a, ptrdiff_t rs_a, ptrdiff_t cs_a,                                \
         const T *b, ptrdiff_t rs_b,                                                \
         T *c, ptrdiff_t rs_c, const AUX *aux)                                      \
{                                                                                   \
    T acc[MR][NR];                                                                  \
    ptrdiff_t i, j, p;                                                              \
    for (i = 0; i < MR; ++i)                                                        \
        for (j = 0; j < NR; ++j) acc[i][j] = 0;                                     \
    /* Loop over k: one rank-1 update of the tile per step */                       \
    for (p = 0; p < k; ++p)                                                         \
        for (i = 0; i < mr; ++i) {                                                  \
            T ai = a[i * rs_a + p * cs_a];                                          \
            for (j = 0; j < nr; ++j) acc[i][j] += ai * b[p * rs_b + j];             \
        }                                                                           \
    /* Loop over the tile: scale, merge with C (never read when beta == 0) */       \
    for (i = 0; i < mr; ++i)                                                        \
        for (j = 0; j < nr; ++j) {                                                  \
            T x = aux->alpha * acc[i][j];                                           \
            if (aux->beta != 0) x += aux->beta * c[i * rs_c + j];                   \
            c[i * rs_c + j] = x;                                                    \
        }                                                                           \
    if (aux->epi != LN_EPI_NONE) EPI(mr, nr, c, rs_c, aux);                         \
}                                                                                   \
                                                                                    \
void GEMV(ptrdiff_t k, ptrdiff_t n, const T *a, ptrdiff_t cs_a,                     \
          const T *b, ptrdiff_t rs_b, T *c, const AUX *aux)                         \
{                                                                                   \
    T acc[NR];                                                                      \
    ptrdiff_t j0, j, p;                                                             \
    /* Loop over the row, NR columns at a time */                                   \
    for (j0 = 0; j0 < n; j0 += NR) {                                                \
        ptrdiff_t nr = n - j0 < NR ? n - j0 : NR;                                   \
        for (j = 0; j < nr; ++j) acc[j] = 0;                                        \
        /* Loop over k: one row of B per step */                                    \
        for (p = 0; p < k; ++p)                                                     \
            for (j = 0; j < nr; ++j) acc[j] += a[p * cs_a] * b[p * rs_b + j0 + j];  \
        for (j = 0; j < nr; ++j) {                                                  \
            T x = aux->alpha * acc[j];                                              \
            if (aux->beta != 0) x += aux->beta * c[j0 + j];                         \
            c[j0 + j] = x;                                                          \
        }                                                                           \
    }                                                                               \
    if (aux->epi != LN_EPI_NONE) EPI(1, n, c, 0, aux);                              \
}

LN_REF_GEMM(float, ln_sgemm_aux, ln_sepi_ref, ln_sgemm_ref_6x16, ln_sgemv_ref, 6, 16)
LN_REF_GEMM(double, ln_dgemm_aux, ln_depi_ref, ln_dgemm_ref_6x8, ln_dgemv_ref, 6, 8)
