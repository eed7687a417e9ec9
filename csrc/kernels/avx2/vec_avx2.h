/* vec_avx2.h: the AVX2+FMA op layer (one 256-bit register: 8 floats or 4
 * doubles). See kernels/ref/vec_ref.h for what an op layer defines. Every
 * function here carries target("avx2,fma"); helpers are static inline so no
 * baseline caller links to an AVX2 copy. */
#include <immintrin.h>
#include <stdint.h>

#define LN_AVX2_TARGET __attribute__((target("avx2,fma")))
#define LN_VINLINE static inline __attribute__((always_inline, target("avx2,fma")))
#define LN_VFUNC LN_AVX2_TARGET
#define KFN(name) LN_TYPED_CAT(name##_avx2, TY)

#if LN_IS_F32
#define V __m256
#define VM __m256
#define VN 8
#define v_set1(x) _mm256_set1_ps(x)
#define v_zero() _mm256_setzero_ps()
#define v_loadu(p) _mm256_loadu_ps(p)
#define v_storeu(p, x) _mm256_storeu_ps(p, x)
#define v_bcast(p) _mm256_broadcast_ss(p)
#define v_add(a, b) _mm256_add_ps(a, b)
#define v_sub(a, b) _mm256_sub_ps(a, b)
#define v_mul(a, b) _mm256_mul_ps(a, b)
#define v_div(a, b) _mm256_div_ps(a, b)
#define v_fma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define v_fnma(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define v_max(a, b) _mm256_max_ps(a, b)
#define v_min(a, b) _mm256_min_ps(a, b)
#define v_abs(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)
#define v_negabs(x) _mm256_or_ps(_mm256_set1_ps(-0.0f), x)
#define v_copysign(m, s) _mm256_or_ps(v_abs(m), _mm256_and_ps(_mm256_set1_ps(-0.0f), s))
#define v_gt(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define v_lt(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define v_select(m, a, b) _mm256_blendv_ps(b, a, m)
#define v_round(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define v_pow2i(n) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
#else
#define V __m256d
#define VM __m256d
#define VN 4
#define v_set1(x) _mm256_set1_pd(x)
#define v_zero() _mm256_setzero_pd()
#define v_loadu(p) _mm256_loadu_pd(p)
#define v_storeu(p, x) _mm256_storeu_pd(p, x)
#define v_bcast(p) _mm256_broadcast_sd(p)
#define v_add(a, b) _mm256_add_pd(a, b)
#define v_sub(a, b) _mm256_sub_pd(a, b)
#define v_mul(a, b) _mm256_mul_pd(a, b)
#define v_div(a, b) _mm256_div_pd(a, b)
#define v_fma(a, b, c) _mm256_fmadd_pd(a, b, c)
#define v_fnma(a, b, c) _mm256_fnmadd_pd(a, b, c)
#define v_max(a, b) _mm256_max_pd(a, b)
#define v_min(a, b) _mm256_min_pd(a, b)
#define v_abs(x) _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)
#define v_negabs(x) _mm256_or_pd(_mm256_set1_pd(-0.0), x)
#define v_copysign(m, s) _mm256_or_pd(v_abs(m), _mm256_and_pd(_mm256_set1_pd(-0.0), s))
#define v_gt(a, b) _mm256_cmp_pd(a, b, _CMP_GT_OQ)
#define v_lt(a, b) _mm256_cmp_pd(a, b, _CMP_LT_OQ)
#define v_select(m, a, b) _mm256_blendv_pd(b, a, m)
#define v_round(x) _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define v_pow2i(n) _mm256_castsi256_pd(_mm256_slli_epi64( \
    _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)), _mm256_set1_epi64x(1023)), 52))
#endif

/* The first n lanes from p (the rest zero), reading nothing past p[n-1]:
 * a masked load, whose masked-off lanes never fault. */
LN_VINLINE V FN(ln_avx2_load_part)(const T *p, ptrdiff_t n)
{
#if LN_IS_F32
    static const int32_t lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
    if (n >= VN) return v_loadu(p);
    if (n <= 0) return v_zero();
    return _mm256_maskload_ps(p, _mm256_loadu_si256((const __m256i *)(lanes + VN - n)));
#else
    static const int64_t lanes[8] = { -1, -1, -1, -1, 0, 0, 0, 0 };
    if (n >= VN) return v_loadu(p);
    if (n <= 0) return v_zero();
    return _mm256_maskload_pd(p, _mm256_loadu_si256((const __m256i *)(lanes + VN - n)));
#endif
}

/* Stores the first n lanes of x at p, writing nothing past p[n-1]: in
 * pieces of 4, 2 and 1 floats (2 and 1 doubles), not a masked store, which
 * is slow on AMD cores. */
LN_VINLINE void FN(ln_avx2_store_part)(T *p, V x, ptrdiff_t n)
{
    if (n >= VN) {
        v_storeu(p, x);
        return;
    }
    if (n <= 0) return;
#if LN_IS_F32
    {
        __m128 h = _mm256_castps256_ps128(x);
        if (n & 4) {
            _mm_storeu_ps(p, h);
            h = _mm256_extractf128_ps(x, 1);
            p += 4;
        }
        if (n & 2) {
            _mm_storel_epi64((__m128i *)p, _mm_castps_si128(h));
            h = _mm_movehl_ps(h, h);
            p += 2;
        }
        if (n & 1) _mm_store_ss(p, h);
    }
#else
    {
        __m128d h = _mm256_castpd256_pd128(x);
        if (n & 2) {
            _mm_storeu_pd(p, h);
            h = _mm256_extractf128_pd(x, 1);
            p += 2;
        }
        if (n & 1) _mm_store_sd(p, h);
    }
#endif
}

#define v_load_part(p, n) FN(ln_avx2_load_part)(p, n)
#define v_store_part(p, x, n) FN(ln_avx2_store_part)(p, x, n)
