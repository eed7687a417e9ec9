/* vec_neon.h: the aarch64 Advanced SIMD op layer (one 128-bit register: 4
 * floats or 2 doubles). See kernels/ref/vec_ref.h for what an op layer
 * defines. Advanced SIMD is architectural on aarch64, so nothing here needs a
 * target attribute or a run-time check.
 *
 * Semantics follow vec_ref.h exactly: v_max / v_min are a compare and a
 * select (a > b ? a : b), not vmaxq / vminq, which return NaN when either
 * input is NaN and order -0 below +0. Partial vectors are loaded and stored
 * lane by lane, never touching memory past the n lanes asked for. */
#include <arm_neon.h>

#define LN_VINLINE static inline __attribute__((always_inline))
#define LN_VFUNC
#define KFN(name) LN_TYPED_CAT(name##_neon, TY)

#if LN_IS_F32
#define V float32x4_t
#define VM uint32x4_t
#define VN 4
#define v_set1(x) vdupq_n_f32(x)
#define v_zero() vdupq_n_f32(0.0f)
#define v_loadu(p) vld1q_f32(p)
#define v_storeu(p, x) vst1q_f32(p, x)
#define v_bcast(p) vld1q_dup_f32(p)
#define v_add(a, b) vaddq_f32(a, b)
#define v_sub(a, b) vsubq_f32(a, b)
#define v_mul(a, b) vmulq_f32(a, b)
#define v_div(a, b) vdivq_f32(a, b)
#define v_fma(a, b, c) vfmaq_f32(c, a, b)
#define v_fnma(a, b, c) vfmsq_f32(c, a, b)
#define v_gt(a, b) vcgtq_f32(a, b)
#define v_lt(a, b) vcltq_f32(a, b)
#define v_select(m, a, b) vbslq_f32(m, a, b)
#define v_abs(x) vabsq_f32(x)
#define v_negabs(x) vnegq_f32(vabsq_f32(x))
#define v_copysign(m, s) vbslq_f32(vdupq_n_u32(0x80000000u), s, m)
#define v_round(x) vrndnq_f32(x)
#define v_pow2i(n) \
    vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))
#else
#define V float64x2_t
#define VM uint64x2_t
#define VN 2
#define v_set1(x) vdupq_n_f64(x)
#define v_zero() vdupq_n_f64(0.0)
#define v_loadu(p) vld1q_f64(p)
#define v_storeu(p, x) vst1q_f64(p, x)
#define v_bcast(p) vld1q_dup_f64(p)
#define v_add(a, b) vaddq_f64(a, b)
#define v_sub(a, b) vsubq_f64(a, b)
#define v_mul(a, b) vmulq_f64(a, b)
#define v_div(a, b) vdivq_f64(a, b)
#define v_fma(a, b, c) vfmaq_f64(c, a, b)
#define v_fnma(a, b, c) vfmsq_f64(c, a, b)
#define v_gt(a, b) vcgtq_f64(a, b)
#define v_lt(a, b) vcltq_f64(a, b)
#define v_select(m, a, b) vbslq_f64(m, a, b)
#define v_abs(x) vabsq_f64(x)
#define v_negabs(x) vnegq_f64(vabsq_f64(x))
#define v_copysign(m, s) vbslq_f64(vdupq_n_u64(0x8000000000000000ull), s, m)
#define v_round(x) vrndnq_f64(x)
#define v_pow2i(n) \
    vreinterpretq_f64_s64(vshlq_n_s64(vaddq_s64(vcvtq_s64_f64(n), vdupq_n_s64(1023)), 52))
#endif

#define v_max(a, b) FN(ln_neon_max)(a, b)
#define v_min(a, b) FN(ln_neon_min)(a, b)

/* a > b ? a : b per lane, so a NaN in either operand yields b. */
LN_VINLINE V FN(ln_neon_max)(V a, V b) { return v_select(v_gt(a, b), a, b); }
/* a < b ? a : b per lane. */
LN_VINLINE V FN(ln_neon_min)(V a, V b) { return v_select(v_lt(a, b), a, b); }

/* The first n lanes from p (the rest zero), reading nothing past p[n-1]. */
LN_VINLINE V FN(ln_neon_load_part)(const T *p, ptrdiff_t n)
{
#if LN_IS_F32
    switch (n) {
    case 1: return vld1q_lane_f32(p, vdupq_n_f32(0.0f), 0);
    case 2: return vcombine_f32(vld1_f32(p), vdup_n_f32(0.0f));
    case 3: return vld1q_lane_f32(p + 2, vcombine_f32(vld1_f32(p), vdup_n_f32(0.0f)), 2);
    default: return n <= 0 ? vdupq_n_f32(0.0f) : vld1q_f32(p);
    }
#else
    return n == 1 ? vld1q_lane_f64(p, vdupq_n_f64(0.0), 0) : n <= 0 ? vdupq_n_f64(0.0) : vld1q_f64(p);
#endif
}

/* Stores the first n lanes of x at p, writing nothing past p[n-1]. */
LN_VINLINE void FN(ln_neon_store_part)(T *p, V x, ptrdiff_t n)
{
#if LN_IS_F32
    switch (n) {
    case 1: vst1q_lane_f32(p, x, 0); break;
    case 2: vst1_f32(p, vget_low_f32(x)); break;
    case 3: vst1_f32(p, vget_low_f32(x)); vst1q_lane_f32(p + 2, x, 2); break;
    default: if (n > 0) vst1q_f32(p, x); break;
    }
#else
    if (n == 1) vst1q_lane_f64(p, x, 0);
    else if (n > 1) vst1q_f64(p, x);
#endif
}

#define v_load_part(p, n) FN(ln_neon_load_part)(p, n)
#define v_store_part(p, x, n) FN(ln_neon_store_part)(p, x, n)
