/* gemm_ref_tmpl.h: the portable micro-kernel, row kernel and packing for one
 * element type, in plain C99 for any CPU. The reference instruction set
 * runs them; the SIMD kernels are tested against them and against a naive
 * product. The tile is LN_REF_MR x LN_REF_NR; a fixed-size accumulator
 * array lets the compiler vectorise the column loop. */
#define LN_MR LN_REF_MR
#define LN_NR (LN_IS_F32 ? LN_REF_NR_F32 : LN_REF_NR_F64)

LN_VFUNC void KFN(ln_ukr)(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr, const T *a, ptrdiff_t rs_a,
                          ptrdiff_t cs_a, const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c,
                          const FN(ln_aux) *aux)
{
    T acc[LN_MR][LN_NR];
    ptrdiff_t i, j, p;
    for (i = 0; i < LN_MR; ++i)
        for (j = 0; j < LN_NR; ++j) acc[i][j] = 0;
    /* Loop over k: one rank-1 update of the tile per step */
    for (p = 0; p < k; ++p)
        for (i = 0; i < mr; ++i) {
            const T ai = a[i * rs_a + p * cs_a];
            for (j = 0; j < nr; ++j) acc[i][j] += ai * b[p * rs_b + j];
        }
    /* Loop over the tile: scale, merge with C (never read when beta == 0) */
    for (i = 0; i < mr; ++i)
        for (j = 0; j < nr; ++j) {
            T x = aux->alpha * acc[i][j];
            if (aux->beta != 0) x += aux->beta * c[i * rs_c + j];
            c[i * rs_c + j] = x;
        }
    if (aux->epi != LN_EPI_NONE) KFN(ln_epi)(mr, nr, c, rs_c, aux);
}

LN_VFUNC void KFN(ln_gemv)(ptrdiff_t k, ptrdiff_t n, const T *a, ptrdiff_t cs_a,
                           const T *b, ptrdiff_t rs_b, T *c, const FN(ln_aux) *aux)
{
    T acc[LN_NR];
    ptrdiff_t j0, j, p;
    /* Loop over the row, LN_NR columns at a time */
    for (j0 = 0; j0 < n; j0 += LN_NR) {
        const ptrdiff_t nr = n - j0 < LN_NR ? n - j0 : LN_NR;
        for (j = 0; j < nr; ++j) acc[j] = 0;
        /* Loop over k: one row of B per step */
        for (p = 0; p < k; ++p)
            for (j = 0; j < nr; ++j) acc[j] += a[p * cs_a] * b[p * rs_b + j0 + j];
        for (j = 0; j < nr; ++j) {
            T x = aux->alpha * acc[j];
            if (aux->beta != 0) x += aux->beta * c[j0 + j];
            c[j0 + j] = x;
        }
    }
    if (aux->epi != LN_EPI_NONE) KFN(ln_epi)(1, n, c, 0, aux);
}

#include "kernels/pack_tmpl.h"

#undef LN_MR
#undef LN_NR
