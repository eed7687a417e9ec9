/* gemm_avx2.c: AVX2+FMA micro-kernels and epilogue tiles.
 *
 * ln_sgemm_avx2_6x16 and ln_dgemm_avx2_6x8 keep a 6 x 2-vector tile in 12 of
 * the 16 ymm registers (two for B, one for the A broadcast). Each is one
 * always-inline body specialised at compile time for the rows it holds (1..6),
 * the vectors per row (1 or 2) and a masked last vector, plus a packed full
 * tile with constant strides; edge tiles therefore do only the work they need
 * and never touch memory outside the tile. Bias, ReLU and ReLU' are applied
 * to the accumulators before the store; sigmoid and tanh run on the tile
 * right after it is stored, while it is in L1 (ln_sepi_avx2 / ln_depi_avx2),
 * with a vector exp accurate to float rounding in float32 and ~1e-15
 * relative in float64. ln_sgemv_avx2 / ln_dgemv_avx2 are the row kernels for
 * one-row products. Everything here carries target("avx2,fma"); the
 * helpers are static inline so no baseline caller links to them.
 */
#include "../kernels.h"

#if LN_BUILD_AVX2
#include <immintrin.h>

#define LN_AVX2 __attribute__((target("avx2,fma")))
/* Bytes of B above which the row kernel streams B row by row (see ln_sgemv_avx2) */
#define LN_GEMV_FOLD_BYTES (4.0 * 1024 * 1024)
/* Rows of B the row kernel prefetches ahead (measured: 4 to 8 best, ~8% over
 * none); prefetches past the end of B are harmless hints, they never fault */
#define LN_GEMV_PF 4
/* Prefetch distance into a packed A micro-panel, in elements (measured) */
#define LN_PF_A 96
/* The packed full-tile k loop is inline assembly on x86-64 with GCC/Clang */
#if defined(__x86_64__)
#define LN_KERNEL_ASM 1
#else
#define LN_KERNEL_ASM 0
#endif
#define LN_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* Lane masks: 8 - n ones-then-zeros window gives the first n lanes. */
static const int ln_mask32[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
static const long long ln_mask64[8] = { -1, -1, -1, -1, 0, 0, 0, 0 };

LN_AVX2_INLINE __m256i ln_smask(ptrdiff_t n)  /* first n of 8 float lanes, 0 <= n <= 8 */
{
    return _mm256_loadu_si256((const __m256i *)(ln_mask32 + 8 - n));
}

LN_AVX2_INLINE __m256i ln_dmask(ptrdiff_t n)  /* first n of 4 double lanes */
{
    return _mm256_loadu_si256((const __m256i *)(ln_mask64 + 4 - n));
}

/* The first n < 8 (or 4) elements of a row, and storing them back: edge
 * tiles go through a small buffer because masked stores are slow here. */
LN_AVX2_INLINE __m256 ln_s_load_part(const float *p, ptrdiff_t n)
{
    float t[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    ptrdiff_t j;
    for (j = 0; j < n; ++j) t[j] = p[j];
    return _mm256_loadu_ps(t);
}

LN_AVX2_INLINE void ln_s_store_part(float *p, __m256 x, ptrdiff_t n)
{
    float t[8];
    ptrdiff_t j;
    _mm256_storeu_ps(t, x);
    for (j = 0; j < n; ++j) p[j] = t[j];
}

LN_AVX2_INLINE __m256d ln_d_load_part(const double *p, ptrdiff_t n)
{
    double t[4] = { 0, 0, 0, 0 };
    ptrdiff_t j;
    for (j = 0; j < n; ++j) t[j] = p[j];
    return _mm256_loadu_pd(t);
}

LN_AVX2_INLINE void ln_d_store_part(double *p, __m256d x, ptrdiff_t n)
{
    double t[4];
    ptrdiff_t j;
    _mm256_storeu_pd(t, x);
    for (j = 0; j < n; ++j) p[j] = t[j];
}

/* ------------------------------------------------------------------ */
/* Vector exp and expm1 for arguments <= 0                             */
/* ------------------------------------------------------------------ */

/* x = n ln2 + r with |r| <= ln2/2; returns expm1(r) by Taylor/Horner and n.
 * The float series stops at r^7 (next term < 6e-9), the double one at r^13
 * (next term < 5e-18). ln2 is split in two so r keeps full precision. */
LN_AVX2_INLINE __m256 ln_s_reduce(__m256 x, __m256 *n)
{
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693147182464599609375f);
    const __m256 ln2_lo = _mm256_set1_ps(-1.904654299957768e-09f);
    __m256 r, q;
    *n = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_ps(*n, ln2_hi, x);
    r = _mm256_fnmadd_ps(*n, ln2_lo, r);
    q = _mm256_set1_ps(1.0f / 5040);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 720));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 120));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 24));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 6));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.5f));
    return _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r);
}

LN_AVX2_INLINE __m256d ln_d_reduce(__m256d x, __m256d *n)
{
    const __m256d log2e = _mm256_set1_pd(1.4426950408889634074);
    const __m256d ln2_hi = _mm256_set1_pd(0.69314718055994528622676398299518);
    const __m256d ln2_lo = _mm256_set1_pd(2.3190468138462996154e-17);
    __m256d r, q;
    *n = _mm256_round_pd(_mm256_mul_pd(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_pd(*n, ln2_hi, x);
    r = _mm256_fnmadd_pd(*n, ln2_lo, r);
    q = _mm256_set1_pd(1.0 / 6227020800.0);           /* 1/13! */
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 479001600.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 39916800.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 3628800.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 362880.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 40320.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 5040.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 720.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 120.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 24.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0 / 6.0));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0.5));
    return _mm256_fmadd_pd(_mm256_mul_pd(r, r), q, r);
}

/* 2^n for integral n in the normal range. */
LN_AVX2_INLINE __m256 ln_s_pow2(__m256i n)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

LN_AVX2_INLINE __m256d ln_d_pow2(__m128i n)
{
    __m256i e = _mm256_add_epi64(_mm256_cvtepi32_epi64(n), _mm256_set1_epi64x(1023));
    return _mm256_castsi256_pd(_mm256_slli_epi64(e, 52));
}

/* exp(x) for x <= 0 (NaN passes through). 2^n is applied in two halves so
 * results in the subnormal range underflow gradually instead of wrapping. */
LN_AVX2_INLINE __m256 ln_s_exp_neg(__m256 x)
{
    __m256 n, p;
    __m256i ni, n1;
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);   /* max(c, x) keeps NaN */
    p = ln_s_reduce(x, &n);
    ni = _mm256_cvtps_epi32(n);
    n1 = _mm256_srai_epi32(ni, 1);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    return _mm256_mul_ps(_mm256_mul_ps(p, ln_s_pow2(n1)), ln_s_pow2(_mm256_sub_epi32(ni, n1)));
}

LN_AVX2_INLINE __m256d ln_d_exp_neg(__m256d x)
{
    __m256d n, p;
    __m128i ni, n1;
    x = _mm256_max_pd(_mm256_set1_pd(-746.0), x);
    p = ln_d_reduce(x, &n);
    ni = _mm256_cvtpd_epi32(n);
    n1 = _mm_srai_epi32(ni, 1);
    p = _mm256_add_pd(p, _mm256_set1_pd(1.0));
    return _mm256_mul_pd(_mm256_mul_pd(p, ln_d_pow2(n1)), ln_d_pow2(_mm_sub_epi32(ni, n1)));
}

/* expm1(x) for x <= 0, accurate relative to the result near 0: with
 * s = 2^n, expm1(x) = s*expm1(r) + (s - 1), and s = 1 for |x| < ln2/2. */
LN_AVX2_INLINE __m256 ln_s_expm1_neg(__m256 x, __m256 lo)
{
    __m256 n, p, s;
    x = _mm256_max_ps(lo, x);
    p = ln_s_reduce(x, &n);
    s = ln_s_pow2(_mm256_cvtps_epi32(n));
    return _mm256_fmadd_ps(s, p, _mm256_sub_ps(s, _mm256_set1_ps(1.0f)));
}

LN_AVX2_INLINE __m256d ln_d_expm1_neg(__m256d x, __m256d lo)
{
    __m256d n, p, s;
    x = _mm256_max_pd(lo, x);
    p = ln_d_reduce(x, &n);
    s = ln_d_pow2(_mm256_cvtpd_epi32(n));
    return _mm256_fmadd_pd(s, p, _mm256_sub_pd(s, _mm256_set1_pd(1.0)));
}

/* ------------------------------------------------------------------ */
/* Activations and derivatives on one vector                           */
/* ------------------------------------------------------------------ */

/* sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) below, e = exp(-|x|): never overflows. */
LN_AVX2_INLINE __m256 ln_s_act(int act, __m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 e, neg, t;
    switch (act) {
    case LN_ACT_SIGMOID:
        e = ln_s_exp_neg(_mm256_or_ps(x, sign));
        neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_div_ps(_mm256_blendv_ps(one, e, neg), _mm256_add_ps(one, e));
    case LN_ACT_RELU:
        return _mm256_max_ps(_mm256_setzero_ps(), x);   /* NaN passes, as in the reference */
    case LN_ACT_TANH:
        /* tanh|x| = -em / (2 + em), em = expm1(-2|x|); tanh(20) is 1 in float */
        e = ln_s_expm1_neg(_mm256_mul_ps(_mm256_set1_ps(-2.0f), _mm256_andnot_ps(sign, x)),
                           _mm256_set1_ps(-40.0f));
        t = _mm256_div_ps(e, _mm256_sub_ps(_mm256_set1_ps(-2.0f), e));
        return _mm256_or_ps(_mm256_andnot_ps(sign, t), _mm256_and_ps(sign, x));
    default:
        return x;
    }
}

LN_AVX2_INLINE __m256d ln_d_act(int act, __m256d x)
{
    const __m256d sign = _mm256_set1_pd(-0.0), one = _mm256_set1_pd(1.0);
    __m256d e, neg, t;
    switch (act) {
    case LN_ACT_SIGMOID:
        e = ln_d_exp_neg(_mm256_or_pd(x, sign));
        neg = _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_LT_OQ);
        return _mm256_div_pd(_mm256_blendv_pd(one, e, neg), _mm256_add_pd(one, e));
    case LN_ACT_RELU:
        return _mm256_max_pd(_mm256_setzero_pd(), x);
    case LN_ACT_TANH:
        /* tanh(40) is 1 in double */
        e = ln_d_expm1_neg(_mm256_mul_pd(_mm256_set1_pd(-2.0), _mm256_andnot_pd(sign, x)),
                           _mm256_set1_pd(-80.0));
        t = _mm256_div_pd(e, _mm256_sub_pd(_mm256_set1_pd(-2.0), e));
        return _mm256_or_pd(_mm256_andnot_pd(sign, t), _mm256_and_pd(sign, x));
    default:
        return x;
    }
}

/* act'(H) from the output: sigmoid H(1-H), relu [H > 0], tanh 1-H^2. */
LN_AVX2_INLINE __m256 ln_s_dact(int act, __m256 h)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    switch (act) {
    case LN_ACT_SIGMOID: return _mm256_mul_ps(h, _mm256_sub_ps(one, h));
    case LN_ACT_RELU: return _mm256_and_ps(_mm256_cmp_ps(h, _mm256_setzero_ps(), _CMP_GT_OQ), one);
    case LN_ACT_TANH: return _mm256_fnmadd_ps(h, h, one);
    default: return one;
    }
}

LN_AVX2_INLINE __m256d ln_d_dact(int act, __m256d h)
{
    const __m256d one = _mm256_set1_pd(1.0);
    switch (act) {
    case LN_ACT_SIGMOID: return _mm256_mul_pd(h, _mm256_sub_pd(one, h));
    case LN_ACT_RELU: return _mm256_and_pd(_mm256_cmp_pd(h, _mm256_setzero_pd(), _CMP_GT_OQ), one);
    case LN_ACT_TANH: return _mm256_fnmadd_pd(h, h, one);
    default: return one;
    }
}

/* ------------------------------------------------------------------ */
/* Epilogue tiles                                                      */
/* ------------------------------------------------------------------ */

/* One vector of the epilogue: bias and activation, or times act'(H). */
LN_AVX2_INLINE __m256 ln_s_epi_vec(int kind, int act, __m256 x, __m256 bias, __m256 h)
{
    if (kind == LN_EPI_BIAS_ACT) return ln_s_act(act, _mm256_add_ps(x, bias));
    return _mm256_mul_ps(x, ln_s_dact(act, h));
}

LN_AVX2_INLINE __m256d ln_d_epi_vec(int kind, int act, __m256d x, __m256d bias, __m256d h)
{
    if (kind == LN_EPI_BIAS_ACT) return ln_d_act(act, _mm256_add_pd(x, bias));
    return _mm256_mul_pd(x, ln_d_dact(act, h));
}

/* The epilogue on an m x n tile of C that was just stored (so it is in L1).
 * Whole vectors use plain loads and stores; a row's last partial vector goes
 * through a small buffer, because masked stores are slow on AMD cores. */
LN_AVX2 void ln_sepi_avx2(ptrdiff_t m, ptrdiff_t n, float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux)
{
    const int kind = aux->epi, act = aux->act;
    const __m256 zero = _mm256_setzero_ps();
    const ptrdiff_t nv = n & ~(ptrdiff_t)7, tail = n - nv;
    ptrdiff_t i, j;
    if (kind == LN_EPI_NONE || (kind == LN_EPI_DACT && act == LN_ACT_IDENTITY)) return;
    /* Loop over rows of the tile */
    for (i = 0; i < m; ++i) {
        float *cr = c + i * rs_c;
        const int dact = kind == LN_EPI_DACT, biased = !dact && aux->bias;
        const float *hr = dact ? aux->h + i * aux->ldh : 0;
        /* Loop over the row, 8 columns at a time */
        for (j = 0; j < nv; j += 8) {
            __m256 bias = biased ? _mm256_loadu_ps(aux->bias + j) : zero;
            __m256 h = dact ? _mm256_loadu_ps(hr + j) : zero;
            _mm256_storeu_ps(cr + j, ln_s_epi_vec(kind, act, _mm256_loadu_ps(cr + j), bias, h));
        }
        if (tail) {
            __m256 bias = biased ? ln_s_load_part(aux->bias + nv, tail) : zero;
            __m256 h = dact ? ln_s_load_part(hr + nv, tail) : zero;
            ln_s_store_part(cr + nv, ln_s_epi_vec(kind, act, ln_s_load_part(cr + nv, tail), bias, h),
                            tail);
        }
    }
}

LN_AVX2 void ln_depi_avx2(ptrdiff_t m, ptrdiff_t n, double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux)
{
    const int kind = aux->epi, act = aux->act;
    const __m256d zero = _mm256_setzero_pd();
    const ptrdiff_t nv = n & ~(ptrdiff_t)3, tail = n - nv;
    ptrdiff_t i, j;
    if (kind == LN_EPI_NONE || (kind == LN_EPI_DACT && act == LN_ACT_IDENTITY)) return;
    /* Loop over rows of the tile */
    for (i = 0; i < m; ++i) {
        double *cr = c + i * rs_c;
        const int dact = kind == LN_EPI_DACT, biased = !dact && aux->bias;
        const double *hr = dact ? aux->h + i * aux->ldh : 0;
        /* Loop over the row, 4 columns at a time */
        for (j = 0; j < nv; j += 4) {
            __m256d bias = biased ? _mm256_loadu_pd(aux->bias + j) : zero;
            __m256d h = dact ? _mm256_loadu_pd(hr + j) : zero;
            _mm256_storeu_pd(cr + j, ln_d_epi_vec(kind, act, _mm256_loadu_pd(cr + j), bias, h));
        }
        if (tail) {
            __m256d bias = biased ? ln_d_load_part(aux->bias + nv, tail) : zero;
            __m256d h = dact ? ln_d_load_part(hr + nv, tail) : zero;
            ln_d_store_part(cr + nv, ln_d_epi_vec(kind, act, ln_d_load_part(cr + nv, tail), bias, h),
                            tail);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Micro-kernel bodies                                                 */
/* ------------------------------------------------------------------ */

/* Epilogues cheap enough to apply in registers before the tile is stored
 * (bias add, ReLU, ReLU's derivative); the others (sigmoid, tanh) run on
 * the stored tile in ln_sepi_avx2 / ln_depi_avx2. */
enum { LN_FAST_NONE = 0, LN_FAST_BIAS_ACT = 1, LN_FAST_DRELU = 2 };

static inline int ln_fast_epilogue(int epi, int act)
{
    if (epi == LN_EPI_BIAS_ACT && (act == LN_ACT_RELU || act == LN_ACT_IDENTITY)) return LN_FAST_BIAS_ACT;
    if (epi == LN_EPI_DACT && act == LN_ACT_RELU) return LN_FAST_DRELU;
    return LN_FAST_NONE;
}

/* One k step of the float tile: two B vectors, MRV broadcasts of A, up to
 * 12 FMAs. Rows past MRV and the second vector when NV == 1 compile away. */
#define LN_S_STEP(AP, A3, BP, ODD)                                                         \
    do {                                                                          \
        __m256 b0_, b1_ = _mm256_setzero_ps(), a_;                                \
        if (NV == 1) b0_ = MASKB == 2 ? _mm256_maskload_ps((BP), bm) : _mm256_loadu_ps(BP); \
        else {                                                                    \
            b0_ = _mm256_loadu_ps(BP);                                            \
            b1_ = MASKB == 2 ? _mm256_maskload_ps((BP) + 8, bm) : _mm256_loadu_ps((BP) + 8); \
        }                                                                         \
        a_ = _mm256_broadcast_ss((AP));                                           \
        if (NV == 1 && (ODD)) c1 = _mm256_fmadd_ps(a_, b0_, c1); else c0 = _mm256_fmadd_ps(a_, b0_, c0); if (NV > 1) c1 = _mm256_fmadd_ps(a_, b1_, c1); \
        if (MRV > 1) { a_ = _mm256_broadcast_ss((AP) + rs_a);                     \
            if (NV == 1 && (ODD)) c3 = _mm256_fmadd_ps(a_, b0_, c3); else c2 = _mm256_fmadd_ps(a_, b0_, c2); if (NV > 1) c3 = _mm256_fmadd_ps(a_, b1_, c3); } \
        if (MRV > 2) { a_ = _mm256_broadcast_ss((AP) + 2 * rs_a);                 \
            if (NV == 1 && (ODD)) c5 = _mm256_fmadd_ps(a_, b0_, c5); else c4 = _mm256_fmadd_ps(a_, b0_, c4); if (NV > 1) c5 = _mm256_fmadd_ps(a_, b1_, c5); } \
        if (MRV > 3) { a_ = _mm256_broadcast_ss((A3));                                \
            if (NV == 1 && (ODD)) c7 = _mm256_fmadd_ps(a_, b0_, c7); else c6 = _mm256_fmadd_ps(a_, b0_, c6); if (NV > 1) c7 = _mm256_fmadd_ps(a_, b1_, c7); } \
        if (MRV > 4) { a_ = _mm256_broadcast_ss((A3) + rs_a);                         \
            if (NV == 1 && (ODD)) c9 = _mm256_fmadd_ps(a_, b0_, c9); else c8 = _mm256_fmadd_ps(a_, b0_, c8); if (NV > 1) c9 = _mm256_fmadd_ps(a_, b1_, c9); } \
        if (MRV > 5) { a_ = _mm256_broadcast_ss((A3) + 2 * rs_a);                     \
            if (NV == 1 && (ODD)) c11 = _mm256_fmadd_ps(a_, b0_, c11); else c10 = _mm256_fmadd_ps(a_, b0_, c10); if (NV > 1) c11 = _mm256_fmadd_ps(a_, b1_, c11); } \
    } while (0)

/* Row I of the float tile: scale by alpha, merge beta*C (C unread when
 * beta == 0), apply a cheap epilogue in registers (see LN_FAST_*), store;
 * only nl columns of the last vector when MASKB. */
#define LN_S_STORE(I, X0, X1)                                                     \
    if (MRV > I) {                                                                \
        float *cr_ = c + I * rs_c;                                                \
        X0 = _mm256_mul_ps(va, X0);                                               \
        if (NV > 1) X1 = _mm256_mul_ps(va, X1);                                   \
        if (bnz) {                                                                \
            if (NV == 1) X0 = _mm256_fmadd_ps(vb, MASKB ? ln_s_load_part(cr_, nl) : _mm256_loadu_ps(cr_), X0); \
            else {                                                                \
                X0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr_), X0);               \
                X1 = _mm256_fmadd_ps(vb, MASKB ? ln_s_load_part(cr_ + 8, nl) : _mm256_loadu_ps(cr_ + 8), X1); \
            }                                                                     \
        }                                                                         \
        if (fast == LN_FAST_BIAS_ACT) {                                           \
            if (aux->bias) { X0 = _mm256_add_ps(X0, vbias0); if (NV > 1) X1 = _mm256_add_ps(X1, vbias1); } \
            if (fast_relu) { X0 = _mm256_max_ps(vzero, X0); if (NV > 1) X1 = _mm256_max_ps(vzero, X1); } \
        } else if (fast == LN_FAST_DRELU) {                                       \
            const float *hr_ = aux->h + I * aux->ldh;                             \
            X0 = _mm256_mul_ps(X0, ln_s_dact(LN_ACT_RELU, NV == 1 && MASKB ? ln_s_load_part(hr_, nl) : _mm256_loadu_ps(hr_))); \
            if (NV > 1) X1 = _mm256_mul_ps(X1, ln_s_dact(LN_ACT_RELU, MASKB ? ln_s_load_part(hr_ + 8, nl) : _mm256_loadu_ps(hr_ + 8))); \
        }                                                                         \
        if (NV == 1) {                                                            \
            if (MASKB) ln_s_store_part(cr_, X0, nl); else _mm256_storeu_ps(cr_, X0); \
        } else {                                                                  \
            _mm256_storeu_ps(cr_, X0);                                            \
            if (MASKB) ln_s_store_part(cr_ + 8, X1, nl); else _mm256_storeu_ps(cr_ + 8, X1); \
        }                                                                         \
    }

/* One k step of the packed full tile in assembly: A at OA, B at OB bytes. */
#define LN_ASM_S_STEP(OA, OB) \
    "vmovups " #OB "(%[b]), %%ymm12\n\t" \
    "vmovups " #OB "+32(%[b]), %%ymm13\n\t" \
    "vbroadcastss " #OA "+0(%[a]), %%ymm14\n\t" \
    "vfmadd231ps %%ymm12, %%ymm14, %[c0]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm14, %[c1]\n\t" \
    "vbroadcastss " #OA "+4(%[a]), %%ymm14\n\t" \
    "vfmadd231ps %%ymm12, %%ymm14, %[c2]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm14, %[c3]\n\t" \
    "vbroadcastss " #OA "+8(%[a]), %%ymm14\n\t" \
    "vfmadd231ps %%ymm12, %%ymm14, %[c4]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm14, %[c5]\n\t" \
    "vbroadcastss " #OA "+12(%[a]), %%ymm14\n\t" \
    "vfmadd231ps %%ymm12, %%ymm14, %[c6]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm14, %[c7]\n\t" \
    "vbroadcastss " #OA "+16(%[a]), %%ymm14\n\t" \
    "vfmadd231ps %%ymm12, %%ymm14, %[c8]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm14, %[c9]\n\t" \
    "vbroadcastss " #OA "+20(%[a]), %%ymm14\n\t" \
    "vfmadd231ps %%ymm12, %%ymm14, %[c10]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm14, %[c11]\n\t"

/* The float kernel for MRV rows and NV vectors per row. MASKB: 0 full
 * vectors; 1 the last vector holds nr columns of C but B is zero-padded;
 * 2 B must be read with masks too. PACKED fixes the packed strides (rs_a 1, cs_a 6,
 * rs_b 16) so every address is an immediate offset. */
LN_AVX2_INLINE void ln_sgemm_avx2_body(const int MRV, const int NV, const int MASKB, const int PACKED,
                                       ptrdiff_t k, ptrdiff_t nr,
                                       const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                       const float *b, ptrdiff_t rs_b,
                                       float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux)
{
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    __m256 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    const ptrdiff_t nl = nr - 8 * (NV - 1);   /* columns in the last vector */
    __m256i bm = MASKB == 2 ? ln_smask(nl) : _mm256_setzero_si256();
    __m256 va, vb, vzero = _mm256_setzero_ps(), vbias0 = vzero, vbias1 = vzero;
    const float *a3;
    int bnz, fast, fast_relu;
    ptrdiff_t p;
    if (PACKED) {
        rs_a = 1; cs_a = 6; rs_b = 16;
        /* Fetch the C tile while the k loop runs: it is needed right after */
        for (p = 0; p < 6; ++p) {
            _mm_prefetch((const char *)(c + p * rs_c), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + p * rs_c + 15), _MM_HINT_T0);
        }
    }
    /* Loop over k, four steps at a time: rank-1 updates of the register tile */
    p = 0;
#if LN_KERNEL_ASM
    /* Packed full tile: the k loop in assembly, four steps per iteration, so
     * the 12 accumulators, 2 B vectors and the broadcast stay in registers
     * (GCC spills here when it schedules across the unrolled steps). */
    if (PACKED && k >= 4) {
        ptrdiff_t n4 = k / 4;
        __asm__ volatile(
            "1:\n\t"
            "prefetcht0 384(%[a])\n\t"
            LN_ASM_S_STEP(0, 0)
            LN_ASM_S_STEP(24, 64)
            LN_ASM_S_STEP(48, 128)
            LN_ASM_S_STEP(72, 192)
            "addq $96, %[a]\n\t"
            "addq $256, %[b]\n\t"
            "decq %[n]\n\t"
            "jnz 1b\n\t"
            : [a] "+r"(a), [b] "+r"(b), [n] "+r"(n4),
              [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3),
              [c4] "+x"(c4), [c5] "+x"(c5), [c6] "+x"(c6), [c7] "+x"(c7),
              [c8] "+x"(c8), [c9] "+x"(c9), [c10] "+x"(c10), [c11] "+x"(c11)
            :
            : "xmm12", "xmm13", "xmm14", "memory", "cc");
        p = k & ~(ptrdiff_t)3;
    }
#endif
    /* Rows 3..5 hang off a second pointer so each broadcast is base + index */
    a3 = a + 3 * rs_a;
    for (; p + 4 <= k; p += 4) {
        if (PACKED && LN_PF_A) _mm_prefetch((const char *)(a + LN_PF_A), _MM_HINT_T0);
        LN_S_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
        LN_S_STEP(a, a3, b, 1); a += cs_a; a3 += cs_a; b += rs_b;
        LN_S_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
        LN_S_STEP(a, a3, b, 1); a += cs_a; a3 += cs_a; b += rs_b;
    }
    /* Loop over the k remainder */
    for (; p < k; ++p) {
        LN_S_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
    }
    /* One vector per row: odd k steps went to the spare registers, to
     * hide the FMA latency; fold them back */
    if (NV == 1) {
        c0 = _mm256_add_ps(c0, c1); c2 = _mm256_add_ps(c2, c3); c4 = _mm256_add_ps(c4, c5);
        c6 = _mm256_add_ps(c6, c7); c8 = _mm256_add_ps(c8, c9); c10 = _mm256_add_ps(c10, c11);
    }
    va = _mm256_set1_ps(aux->alpha);
    vb = _mm256_set1_ps(aux->beta);
    bnz = aux->beta != 0.0f;
    fast = ln_fast_epilogue(aux->epi, aux->act);
    fast_relu = aux->act == LN_ACT_RELU;
    if (fast == LN_FAST_BIAS_ACT && aux->bias) {
        vbias0 = NV == 1 && MASKB ? ln_s_load_part(aux->bias, nl) : _mm256_loadu_ps(aux->bias);
        if (NV > 1) vbias1 = MASKB ? ln_s_load_part(aux->bias + 8, nl) : _mm256_loadu_ps(aux->bias + 8);
    }
    LN_S_STORE(0, c0, c1)
    LN_S_STORE(1, c2, c3)
    LN_S_STORE(2, c4, c5)
    LN_S_STORE(3, c6, c7)
    LN_S_STORE(4, c8, c9)
    LN_S_STORE(5, c10, c11)
    if (aux->epi != LN_EPI_NONE && !fast) ln_sepi_avx2(MRV, nr, c, rs_c, aux);
}

/* The same for double: 6 rows of two 4-wide vectors. */
#define LN_D_STEP(AP, A3, BP, ODD)                                                         \
    do {                                                                          \
        __m256d b0_, b1_ = _mm256_setzero_pd(), a_;                               \
        if (NV == 1) b0_ = MASKB == 2 ? _mm256_maskload_pd((BP), bm) : _mm256_loadu_pd(BP); \
        else {                                                                    \
            b0_ = _mm256_loadu_pd(BP);                                            \
            b1_ = MASKB == 2 ? _mm256_maskload_pd((BP) + 4, bm) : _mm256_loadu_pd((BP) + 4); \
        }                                                                         \
        a_ = _mm256_broadcast_sd((AP));                                           \
        if (NV == 1 && (ODD)) c1 = _mm256_fmadd_pd(a_, b0_, c1); else c0 = _mm256_fmadd_pd(a_, b0_, c0); if (NV > 1) c1 = _mm256_fmadd_pd(a_, b1_, c1); \
        if (MRV > 1) { a_ = _mm256_broadcast_sd((AP) + rs_a);                     \
            if (NV == 1 && (ODD)) c3 = _mm256_fmadd_pd(a_, b0_, c3); else c2 = _mm256_fmadd_pd(a_, b0_, c2); if (NV > 1) c3 = _mm256_fmadd_pd(a_, b1_, c3); } \
        if (MRV > 2) { a_ = _mm256_broadcast_sd((AP) + 2 * rs_a);                 \
            if (NV == 1 && (ODD)) c5 = _mm256_fmadd_pd(a_, b0_, c5); else c4 = _mm256_fmadd_pd(a_, b0_, c4); if (NV > 1) c5 = _mm256_fmadd_pd(a_, b1_, c5); } \
        if (MRV > 3) { a_ = _mm256_broadcast_sd((A3));                                \
            if (NV == 1 && (ODD)) c7 = _mm256_fmadd_pd(a_, b0_, c7); else c6 = _mm256_fmadd_pd(a_, b0_, c6); if (NV > 1) c7 = _mm256_fmadd_pd(a_, b1_, c7); } \
        if (MRV > 4) { a_ = _mm256_broadcast_sd((A3) + rs_a);                         \
            if (NV == 1 && (ODD)) c9 = _mm256_fmadd_pd(a_, b0_, c9); else c8 = _mm256_fmadd_pd(a_, b0_, c8); if (NV > 1) c9 = _mm256_fmadd_pd(a_, b1_, c9); } \
        if (MRV > 5) { a_ = _mm256_broadcast_sd((A3) + 2 * rs_a);                     \
            if (NV == 1 && (ODD)) c11 = _mm256_fmadd_pd(a_, b0_, c11); else c10 = _mm256_fmadd_pd(a_, b0_, c10); if (NV > 1) c11 = _mm256_fmadd_pd(a_, b1_, c11); } \
    } while (0)

#define LN_D_STORE(I, X0, X1)                                                     \
    if (MRV > I) {                                                                \
        double *cr_ = c + I * rs_c;                                                \
        X0 = _mm256_mul_pd(va, X0);                                               \
        if (NV > 1) X1 = _mm256_mul_pd(va, X1);                                   \
        if (bnz) {                                                                \
            if (NV == 1) X0 = _mm256_fmadd_pd(vb, MASKB ? ln_d_load_part(cr_, nl) : _mm256_loadu_pd(cr_), X0); \
            else {                                                                \
                X0 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(cr_), X0);               \
                X1 = _mm256_fmadd_pd(vb, MASKB ? ln_d_load_part(cr_ + 4, nl) : _mm256_loadu_pd(cr_ + 4), X1); \
            }                                                                     \
        }                                                                         \
        if (fast == LN_FAST_BIAS_ACT) {                                           \
            if (aux->bias) { X0 = _mm256_add_pd(X0, vbias0); if (NV > 1) X1 = _mm256_add_pd(X1, vbias1); } \
            if (fast_relu) { X0 = _mm256_max_pd(vzero, X0); if (NV > 1) X1 = _mm256_max_pd(vzero, X1); } \
        } else if (fast == LN_FAST_DRELU) {                                       \
            const double *hr_ = aux->h + I * aux->ldh;                             \
            X0 = _mm256_mul_pd(X0, ln_d_dact(LN_ACT_RELU, NV == 1 && MASKB ? ln_d_load_part(hr_, nl) : _mm256_loadu_pd(hr_))); \
            if (NV > 1) X1 = _mm256_mul_pd(X1, ln_d_dact(LN_ACT_RELU, MASKB ? ln_d_load_part(hr_ + 4, nl) : _mm256_loadu_pd(hr_ + 4))); \
        }                                                                         \
        if (NV == 1) {                                                            \
            if (MASKB) ln_d_store_part(cr_, X0, nl); else _mm256_storeu_pd(cr_, X0); \
        } else {                                                                  \
            _mm256_storeu_pd(cr_, X0);                                            \
            if (MASKB) ln_d_store_part(cr_ + 4, X1, nl); else _mm256_storeu_pd(cr_ + 4, X1); \
        }                                                                         \
    }

/* One k step of the packed full tile in assembly: A at OA, B at OB bytes. */
#define LN_ASM_D_STEP(OA, OB) \
    "vmovups " #OB "(%[b]), %%ymm12\n\t" \
    "vmovups " #OB "+32(%[b]), %%ymm13\n\t" \
    "vbroadcastsd " #OA "+0(%[a]), %%ymm14\n\t" \
    "vfmadd231pd %%ymm12, %%ymm14, %[c0]\n\t" \
    "vfmadd231pd %%ymm13, %%ymm14, %[c1]\n\t" \
    "vbroadcastsd " #OA "+8(%[a]), %%ymm14\n\t" \
    "vfmadd231pd %%ymm12, %%ymm14, %[c2]\n\t" \
    "vfmadd231pd %%ymm13, %%ymm14, %[c3]\n\t" \
    "vbroadcastsd " #OA "+16(%[a]), %%ymm14\n\t" \
    "vfmadd231pd %%ymm12, %%ymm14, %[c4]\n\t" \
    "vfmadd231pd %%ymm13, %%ymm14, %[c5]\n\t" \
    "vbroadcastsd " #OA "+24(%[a]), %%ymm14\n\t" \
    "vfmadd231pd %%ymm12, %%ymm14, %[c6]\n\t" \
    "vfmadd231pd %%ymm13, %%ymm14, %[c7]\n\t" \
    "vbroadcastsd " #OA "+32(%[a]), %%ymm14\n\t" \
    "vfmadd231pd %%ymm12, %%ymm14, %[c8]\n\t" \
    "vfmadd231pd %%ymm13, %%ymm14, %[c9]\n\t" \
    "vbroadcastsd " #OA "+40(%[a]), %%ymm14\n\t" \
    "vfmadd231pd %%ymm12, %%ymm14, %[c10]\n\t" \
    "vfmadd231pd %%ymm13, %%ymm14, %[c11]\n\t"

LN_AVX2_INLINE void ln_dgemm_avx2_body(const int MRV, const int NV, const int MASKB, const int PACKED,
                                       ptrdiff_t k, ptrdiff_t nr,
                                       const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                       const double *b, ptrdiff_t rs_b,
                                       double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux)
{
    __m256d c0 = _mm256_setzero_pd(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    __m256d c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    const ptrdiff_t nl = nr - 4 * (NV - 1);   /* columns in the last vector */
    __m256i bm = MASKB == 2 ? ln_dmask(nl) : _mm256_setzero_si256();
    __m256d va, vb, vzero = _mm256_setzero_pd(), vbias0 = vzero, vbias1 = vzero;
    const double *a3;
    int bnz, fast, fast_relu;
    ptrdiff_t p;
    if (PACKED) {
        rs_a = 1; cs_a = 6; rs_b = 8;
        /* Fetch the C tile while the k loop runs: it is needed right after */
        for (p = 0; p < 6; ++p) {
            _mm_prefetch((const char *)(c + p * rs_c), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + p * rs_c + 7), _MM_HINT_T0);
        }
    }
    /* Loop over k, four steps at a time: rank-1 updates of the register tile */
    p = 0;
#if LN_KERNEL_ASM
    /* Packed full tile: the k loop in assembly, four steps per iteration, so
     * the 12 accumulators, 2 B vectors and the broadcast stay in registers
     * (GCC spills here when it schedules across the unrolled steps). */
    if (PACKED && k >= 4) {
        ptrdiff_t n4 = k / 4;
        __asm__ volatile(
            "1:\n\t"
            "prefetcht0 768(%[a])\n\t"
            LN_ASM_D_STEP(0, 0)
            LN_ASM_D_STEP(48, 64)
            LN_ASM_D_STEP(96, 128)
            LN_ASM_D_STEP(144, 192)
            "addq $192, %[a]\n\t"
            "addq $256, %[b]\n\t"
            "decq %[n]\n\t"
            "jnz 1b\n\t"
            : [a] "+r"(a), [b] "+r"(b), [n] "+r"(n4),
              [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3),
              [c4] "+x"(c4), [c5] "+x"(c5), [c6] "+x"(c6), [c7] "+x"(c7),
              [c8] "+x"(c8), [c9] "+x"(c9), [c10] "+x"(c10), [c11] "+x"(c11)
            :
            : "xmm12", "xmm13", "xmm14", "memory", "cc");
        p = k & ~(ptrdiff_t)3;
    }
#endif
    /* Rows 3..5 hang off a second pointer so each broadcast is base + index */
    a3 = a + 3 * rs_a;
    for (; p + 4 <= k; p += 4) {
        if (PACKED && LN_PF_A) _mm_prefetch((const char *)(a + LN_PF_A), _MM_HINT_T0);
        LN_D_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
        LN_D_STEP(a, a3, b, 1); a += cs_a; a3 += cs_a; b += rs_b;
        LN_D_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
        LN_D_STEP(a, a3, b, 1); a += cs_a; a3 += cs_a; b += rs_b;
    }
    /* Loop over the k remainder */
    for (; p < k; ++p) {
        LN_D_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
    }
    /* One vector per row: odd k steps went to the spare registers, to
     * hide the FMA latency; fold them back */
    if (NV == 1) {
        c0 = _mm256_add_pd(c0, c1); c2 = _mm256_add_pd(c2, c3); c4 = _mm256_add_pd(c4, c5);
        c6 = _mm256_add_pd(c6, c7); c8 = _mm256_add_pd(c8, c9); c10 = _mm256_add_pd(c10, c11);
    }
    va = _mm256_set1_pd(aux->alpha);
    vb = _mm256_set1_pd(aux->beta);
    bnz = aux->beta != 0.0;
    fast = ln_fast_epilogue(aux->epi, aux->act);
    fast_relu = aux->act == LN_ACT_RELU;
    if (fast == LN_FAST_BIAS_ACT && aux->bias) {
        vbias0 = NV == 1 && MASKB ? ln_d_load_part(aux->bias, nl) : _mm256_loadu_pd(aux->bias);
        if (NV > 1) vbias1 = MASKB ? ln_d_load_part(aux->bias + 4, nl) : _mm256_loadu_pd(aux->bias + 4);
    }
    LN_D_STORE(0, c0, c1)
    LN_D_STORE(1, c2, c3)
    LN_D_STORE(2, c4, c5)
    LN_D_STORE(3, c6, c7)
    LN_D_STORE(4, c8, c9)
    LN_D_STORE(5, c10, c11)
    if (aux->epi != LN_EPI_NONE && !fast) ln_depi_avx2(MRV, nr, c, rs_c, aux);
}

/* ------------------------------------------------------------------ */
/* Row kernels (GEMV)                                                  */
/* ------------------------------------------------------------------ */

/* NV vectors of one row of C over k: U independent partial sums per vector
 * (NV * U <= 12 accumulators) so the FMA chains overlap; the partial sums
 * are added at the end. Results (alpha and beta not applied) go to out. */
LN_AVX2_INLINE void ln_sgemv_avx2_cols(const int NV, const int U, ptrdiff_t k,
                                       const float *a, ptrdiff_t cs_a,
                                       const float *b, ptrdiff_t rs_b, __m256 *out)
{
    __m256 acc[12];
    ptrdiff_t p;
    int v, u;
    for (v = 0; v < NV * U; ++v) acc[v] = _mm256_setzero_ps();
    /* Loop over k, U rows of B at a time */
    for (p = 0; p + U <= k; p += U)
        for (u = 0; u < U; ++u) {
            const __m256 x = _mm256_broadcast_ss(a + (p + u) * cs_a);
            const float *br = b + (p + u) * rs_b;
            for (v = 0; v < NV; v += 2)
                _mm_prefetch((const char *)(br + LN_GEMV_PF * rs_b + 8 * v), _MM_HINT_T0);
            for (v = 0; v < NV; ++v)
                acc[u * NV + v] = _mm256_fmadd_ps(x, _mm256_loadu_ps(br + 8 * v), acc[u * NV + v]);
        }
    /* Loop over the k remainder */
    for (; p < k; ++p) {
        const __m256 x = _mm256_broadcast_ss(a + p * cs_a);
        for (v = 0; v < NV; ++v)
            acc[v] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + p * rs_b + 8 * v), acc[v]);
    }
    for (v = 0; v < NV; ++v) {
        __m256 sum = acc[v];
        for (u = 1; u < U; ++u) sum = _mm256_add_ps(sum, acc[u * NV + v]);
        out[v] = sum;
    }
}

/* Scale, merge beta*C and store NV vectors at c. */
LN_AVX2_INLINE void ln_sgemv_avx2_store(const int NV, const __m256 *x, float *c, const ln_sgemm_aux *aux)
{
    const __m256 va = _mm256_set1_ps(aux->alpha), vb = _mm256_set1_ps(aux->beta);
    int v;
    for (v = 0; v < NV; ++v) {
        __m256 y = _mm256_mul_ps(va, x[v]);
        if (aux->beta != 0.0f) y = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8 * v), y);
        _mm256_storeu_ps(c + 8 * v, y);
    }
}

/* R rows of B (R <= 4) folded into the row c[0:n): c += sum_r a_r B_r, or
 * c = that sum when FIRST. B is walked in address order, R streams at once,
 * which the hardware prefetchers follow even when B comes from DRAM. */
LN_AVX2_INLINE void ln_sgemv_avx2_fold(const int R, const int FIRST, ptrdiff_t n,
                                       const float *a, ptrdiff_t cs_a,
                                       const float *b, ptrdiff_t rs_b, float *c)
{
    const ptrdiff_t nv = n & ~(ptrdiff_t)7;
    const float *b0 = b, *b1 = b + rs_b, *b2 = b + 2 * rs_b, *b3 = b + 3 * rs_b;
    const float s0 = a[0], s1 = R > 1 ? a[cs_a] : 0, s2 = R > 2 ? a[2 * cs_a] : 0, s3 = R > 3 ? a[3 * cs_a] : 0;
    const __m256 x0 = _mm256_set1_ps(s0), x1 = _mm256_set1_ps(s1);
    const __m256 x2 = _mm256_set1_ps(s2), x3 = _mm256_set1_ps(s3);
    ptrdiff_t j;
    /* Loop over the row, 8 columns at a time, then the last few one by one */
    for (j = 0; j < nv; j += 8) {
        __m256 y = FIRST ? _mm256_setzero_ps() : _mm256_loadu_ps(c + j);
        y = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b0 + j), y);
        if (R > 1) y = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b1 + j), y);
        if (R > 2) y = _mm256_fmadd_ps(x2, _mm256_loadu_ps(b2 + j), y);
        if (R > 3) y = _mm256_fmadd_ps(x3, _mm256_loadu_ps(b3 + j), y);
        _mm256_storeu_ps(c + j, y);
    }
    for (; j < n; ++j) {
        float y = FIRST ? 0.0f : c[j];
        y += s0 * b0[j];
        if (R > 1) y += s1 * b1[j];
        if (R > 2) y += s2 * b2[j];
        if (R > 3) y += s3 * b3[j];
        c[j] = y;
    }
}

LN_AVX2 void ln_sgemv_avx2(ptrdiff_t k, ptrdiff_t n, const float *a, ptrdiff_t cs_a,
                           const float *b, ptrdiff_t rs_b, float *c, const ln_sgemm_aux *aux)
{
    __m256 x[12];
    ptrdiff_t j = 0;
    if (aux->beta == 0.0f && k >= 4 && (double)k * (double)n * sizeof(float) > LN_GEMV_FOLD_BYTES) {
        /* B beyond the caches: walk it in address order, four rows per pass
         * over c (which stays in L1); measured 2.4x faster than the column
         * blocks below on a 64 MiB B, and slower while B sits in L2 */
        ptrdiff_t p;
        ln_sgemv_avx2_fold(4, 1, n, a, cs_a, b, rs_b, c);
        for (p = 4; p + 4 <= k; p += 4)
            ln_sgemv_avx2_fold(4, 0, n, a + p * cs_a, cs_a, b + p * rs_b, rs_b, c);
        for (; p < k; ++p)
            ln_sgemv_avx2_fold(1, 0, n, a + p * cs_a, cs_a, b + p * rs_b, rs_b, c);
        if (aux->alpha != 1.0f)
            for (j = 0; j < n; ++j) c[j] *= aux->alpha;
        if (aux->epi != LN_EPI_NONE) ln_sepi_avx2(1, n, c, 0, aux);
        return;
    }
    /* Loop over the row: 96 columns at a time, then narrower blocks */
    for (; j + 96 <= n; j += 96) {
        ln_sgemv_avx2_cols(12, 1, k, a, cs_a, b + j, rs_b, x);
        ln_sgemv_avx2_store(12, x, c + j, aux);
    }
    if (j + 64 <= n) {
        ln_sgemv_avx2_cols(8, 1, k, a, cs_a, b + j, rs_b, x);
        ln_sgemv_avx2_store(8, x, c + j, aux);
        j += 64;
    }
    if (j + 32 <= n) {
        ln_sgemv_avx2_cols(4, 2, k, a, cs_a, b + j, rs_b, x);
        ln_sgemv_avx2_store(4, x, c + j, aux);
        j += 32;
    }
    if (j + 16 <= n) {
        ln_sgemv_avx2_cols(2, 4, k, a, cs_a, b + j, rs_b, x);
        ln_sgemv_avx2_store(2, x, c + j, aux);
        j += 16;
    }
    if (j + 8 <= n) {
        ln_sgemv_avx2_cols(1, 8, k, a, cs_a, b + j, rs_b, x);
        ln_sgemv_avx2_store(1, x, c + j, aux);
        j += 8;
    }
    if (j < n) {
        /* Last n - j < 8 columns: B rows read through a buffer, never past the row */
        const ptrdiff_t nl = n - j;
        __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
        __m256 y;
        ptrdiff_t p;
        for (p = 0; p < k; ++p)
            acc[p & 3] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + p * cs_a),
                                         ln_s_load_part(b + p * rs_b + j, nl), acc[p & 3]);
        y = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        y = _mm256_mul_ps(_mm256_set1_ps(aux->alpha), y);
        if (aux->beta != 0.0f) y = _mm256_fmadd_ps(_mm256_set1_ps(aux->beta), ln_s_load_part(c + j, nl), y);
        ln_s_store_part(c + j, y, nl);
    }
    if (aux->epi != LN_EPI_NONE) ln_sepi_avx2(1, n, c, 0, aux);
}

/* The same for double. */
LN_AVX2_INLINE void ln_dgemv_avx2_cols(const int NV, const int U, ptrdiff_t k,
                                       const double *a, ptrdiff_t cs_a,
                                       const double *b, ptrdiff_t rs_b, __m256d *out)
{
    __m256d acc[12];
    ptrdiff_t p;
    int v, u;
    for (v = 0; v < NV * U; ++v) acc[v] = _mm256_setzero_pd();
    /* Loop over k, U rows of B at a time */
    for (p = 0; p + U <= k; p += U)
        for (u = 0; u < U; ++u) {
            const __m256d x = _mm256_broadcast_sd(a + (p + u) * cs_a);
            const double *br = b + (p + u) * rs_b;
            for (v = 0; v < NV; v += 2)
                _mm_prefetch((const char *)(br + LN_GEMV_PF * rs_b + 4 * v), _MM_HINT_T0);
            for (v = 0; v < NV; ++v)
                acc[u * NV + v] = _mm256_fmadd_pd(x, _mm256_loadu_pd(br + 4 * v), acc[u * NV + v]);
        }
    /* Loop over the k remainder */
    for (; p < k; ++p) {
        const __m256d x = _mm256_broadcast_sd(a + p * cs_a);
        for (v = 0; v < NV; ++v)
            acc[v] = _mm256_fmadd_pd(x, _mm256_loadu_pd(b + p * rs_b + 4 * v), acc[v]);
    }
    for (v = 0; v < NV; ++v) {
        __m256d sum = acc[v];
        for (u = 1; u < U; ++u) sum = _mm256_add_pd(sum, acc[u * NV + v]);
        out[v] = sum;
    }
}

LN_AVX2_INLINE void ln_dgemv_avx2_store(const int NV, const __m256d *x, double *c, const ln_dgemm_aux *aux)
{
    const __m256d va = _mm256_set1_pd(aux->alpha), vb = _mm256_set1_pd(aux->beta);
    int v;
    for (v = 0; v < NV; ++v) {
        __m256d y = _mm256_mul_pd(va, x[v]);
        if (aux->beta != 0.0) y = _mm256_fmadd_pd(vb, _mm256_loadu_pd(c + 4 * v), y);
        _mm256_storeu_pd(c + 4 * v, y);
    }
}

/* The same for double. */
LN_AVX2_INLINE void ln_dgemv_avx2_fold(const int R, const int FIRST, ptrdiff_t n,
                                       const double *a, ptrdiff_t cs_a,
                                       const double *b, ptrdiff_t rs_b, double *c)
{
    const ptrdiff_t nv = n & ~(ptrdiff_t)3;
    const double *b0 = b, *b1 = b + rs_b, *b2 = b + 2 * rs_b, *b3 = b + 3 * rs_b;
    const double s0 = a[0], s1 = R > 1 ? a[cs_a] : 0, s2 = R > 2 ? a[2 * cs_a] : 0, s3 = R > 3 ? a[3 * cs_a] : 0;
    const __m256d x0 = _mm256_set1_pd(s0), x1 = _mm256_set1_pd(s1);
    const __m256d x2 = _mm256_set1_pd(s2), x3 = _mm256_set1_pd(s3);
    ptrdiff_t j;
    /* Loop over the row, 4 columns at a time, then the last few one by one */
    for (j = 0; j < nv; j += 4) {
        __m256d y = FIRST ? _mm256_setzero_pd() : _mm256_loadu_pd(c + j);
        y = _mm256_fmadd_pd(x0, _mm256_loadu_pd(b0 + j), y);
        if (R > 1) y = _mm256_fmadd_pd(x1, _mm256_loadu_pd(b1 + j), y);
        if (R > 2) y = _mm256_fmadd_pd(x2, _mm256_loadu_pd(b2 + j), y);
        if (R > 3) y = _mm256_fmadd_pd(x3, _mm256_loadu_pd(b3 + j), y);
        _mm256_storeu_pd(c + j, y);
    }
    for (; j < n; ++j) {
        double y = FIRST ? 0.0 : c[j];
        y += s0 * b0[j];
        if (R > 1) y += s1 * b1[j];
        if (R > 2) y += s2 * b2[j];
        if (R > 3) y += s3 * b3[j];
        c[j] = y;
    }
}

LN_AVX2 void ln_dgemv_avx2(ptrdiff_t k, ptrdiff_t n, const double *a, ptrdiff_t cs_a,
                           const double *b, ptrdiff_t rs_b, double *c, const ln_dgemm_aux *aux)
{
    __m256d x[12];
    ptrdiff_t j = 0;
    if (aux->beta == 0.0 && k >= 4 && (double)k * (double)n * sizeof(double) > LN_GEMV_FOLD_BYTES) {
        /* B beyond the caches: walk it in address order (see ln_sgemv_avx2) */
        ptrdiff_t p;
        ln_dgemv_avx2_fold(4, 1, n, a, cs_a, b, rs_b, c);
        for (p = 4; p + 4 <= k; p += 4)
            ln_dgemv_avx2_fold(4, 0, n, a + p * cs_a, cs_a, b + p * rs_b, rs_b, c);
        for (; p < k; ++p)
            ln_dgemv_avx2_fold(1, 0, n, a + p * cs_a, cs_a, b + p * rs_b, rs_b, c);
        if (aux->alpha != 1.0)
            for (j = 0; j < n; ++j) c[j] *= aux->alpha;
        if (aux->epi != LN_EPI_NONE) ln_depi_avx2(1, n, c, 0, aux);
        return;
    }
    /* Loop over the row: 48 columns at a time, then narrower blocks */
    for (; j + 48 <= n; j += 48) {
        ln_dgemv_avx2_cols(12, 1, k, a, cs_a, b + j, rs_b, x);
        ln_dgemv_avx2_store(12, x, c + j, aux);
    }
    if (j + 32 <= n) {
        ln_dgemv_avx2_cols(8, 1, k, a, cs_a, b + j, rs_b, x);
        ln_dgemv_avx2_store(8, x, c + j, aux);
        j += 32;
    }
    if (j + 16 <= n) {
        ln_dgemv_avx2_cols(4, 2, k, a, cs_a, b + j, rs_b, x);
        ln_dgemv_avx2_store(4, x, c + j, aux);
        j += 16;
    }
    if (j + 8 <= n) {
        ln_dgemv_avx2_cols(2, 4, k, a, cs_a, b + j, rs_b, x);
        ln_dgemv_avx2_store(2, x, c + j, aux);
        j += 8;
    }
    if (j + 4 <= n) {
        ln_dgemv_avx2_cols(1, 8, k, a, cs_a, b + j, rs_b, x);
        ln_dgemv_avx2_store(1, x, c + j, aux);
        j += 4;
    }
    if (j < n) {
        /* Last n - j < 4 columns: B rows read through a buffer, never past the row */
        const ptrdiff_t nl = n - j;
        __m256d acc[4] = { _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd() };
        __m256d y;
        ptrdiff_t p;
        for (p = 0; p < k; ++p)
            acc[p & 3] = _mm256_fmadd_pd(_mm256_broadcast_sd(a + p * cs_a),
                                         ln_d_load_part(b + p * rs_b + j, nl), acc[p & 3]);
        y = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
        y = _mm256_mul_pd(_mm256_set1_pd(aux->alpha), y);
        if (aux->beta != 0.0) y = _mm256_fmadd_pd(_mm256_set1_pd(aux->beta), ln_d_load_part(c + j, nl), y);
        ln_d_store_part(c + j, y, nl);
    }
    if (aux->epi != LN_EPI_NONE) ln_depi_avx2(1, n, c, 0, aux);
}


/* ------------------------------------------------------------------ */
/* Micro-kernels: pick the specialisation for this tile                */
/* ------------------------------------------------------------------ */

/* Case label for (rows, vectors, edge kind) -> one specialised body. */
#define LN_CASES(BODY)                                                            \
    LN_CASE(BODY, 1) LN_CASE(BODY, 2) LN_CASE(BODY, 3)                            \
    LN_CASE(BODY, 4) LN_CASE(BODY, 5) LN_CASE(BODY, 6)
#define LN_CASE(BODY, R)                                                          \
    case R * 8 + 0: BODY(R, 1, 0, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 1: BODY(R, 1, 1, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 2: BODY(R, 1, 2, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 4: BODY(R, 2, 0, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 5: BODY(R, 2, 1, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 6: BODY(R, 2, 2, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break;

LN_AVX2 void ln_sgemm_avx2_6x16(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                                const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                const float *b, ptrdiff_t rs_b,
                                float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux)
{
    int nv, edge;
    /* Full tile from packed panels: the hot path of large problems */
    if (mr == 6 && nr == 16 && rs_a == 1 && cs_a == 6 && rs_b == 16) {
        ln_sgemm_avx2_body(6, 2, 0, 1, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux);
        return;
    }
    nv = nr > 8 ? 2 : 1;
    edge = nr == 8 * nv ? 0 : aux->b_padded ? 1 : 2;
    switch (mr * 8 + (nv - 1) * 4 + edge) {
        LN_CASES(ln_sgemm_avx2_body)
    default: break;
    }
}

LN_AVX2 void ln_dgemm_avx2_6x8(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                               const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                               const double *b, ptrdiff_t rs_b,
                               double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux)
{
    int nv, edge;
    /* Full tile from packed panels: the hot path of large problems */
    if (mr == 6 && nr == 8 && rs_a == 1 && cs_a == 6 && rs_b == 8) {
        ln_dgemm_avx2_body(6, 2, 0, 1, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux);
        return;
    }
    nv = nr > 4 ? 2 : 1;
    edge = nr == 4 * nv ? 0 : aux->b_padded ? 1 : 2;
    switch (mr * 8 + (nv - 1) * 4 + edge) {
        LN_CASES(ln_dgemm_avx2_body)
    default: break;
    }
}

#endif /* LN_BUILD_AVX2 */
