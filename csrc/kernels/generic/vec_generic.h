/* vec_generic.h: the generic op layer, one 128-bit GCC/Clang vector (4
 * floats or 2 doubles). See kernels/ref/vec_ref.h for what an op layer
 * defines.
 *
 * Written only with vector extensions (element-wise operators, comparisons
 * giving lane masks, casts between same-size vectors reinterpreting bits), so
 * any GCC-compatible compiler builds it for any target without flags: SSE2
 * on x86-64, Advanced SIMD on aarch64, VSX on POWER, and so on, or scalar
 * code where there is no vector unit. Semantics follow vec_ref.h exactly:
 * v_max / v_min are a compare and a select, so a NaN in either operand
 * yields b. v_fma is fused where the target has a fused multiply-add
 * (__FP_FAST_FMA), otherwise a multiply and an add (the vector math is
 * accurate either way). Partial vectors go through fixed-size copies and
 * never touch memory past the n lanes asked for. */
#include <stdint.h>
#include <string.h>

#ifndef LN_VEC_GENERIC_TYPES
#define LN_VEC_GENERIC_TYPES
typedef float ln_gv_f32 __attribute__((vector_size(16)));
typedef double ln_gv_f64 __attribute__((vector_size(16)));
/* Lane masks and bit patterns: integers of the lanes' width */
typedef int32_t ln_gm_f32 __attribute__((vector_size(16)));
typedef int64_t ln_gm_f64 __attribute__((vector_size(16)));
#endif

#define LN_VINLINE static inline __attribute__((always_inline))
#define LN_VFUNC
#define KFN(name) LN_TYPED_CAT(name##_generic, TY)

#define V FN(ln_gv)
#define VM FN(ln_gm)

/* Per type: the lanes, a lane's integer, its sign bit, 2^(mantissa bits)
 * and that number's bits, the exponent bias. Undefined first: the layer is
 * included once per type. */
#undef LN_GV_INT
#undef LN_GV_SIGN
#undef LN_GV_MAGIC
#undef LN_GV_MAGIC_BITS
#undef LN_GV_BIAS
#undef LN_GV_MANT
#if LN_IS_F32
#define VN 4
#define LN_GV_INT int32_t
#define LN_GV_SIGN ((int32_t)0x80000000u)
#define LN_GV_MAGIC 0x1p23f
#define LN_GV_MAGIC_BITS ((int32_t)0x4B000000)
#define LN_GV_BIAS 127
#define LN_GV_MANT 23
#else
#define VN 2
#define LN_GV_INT int64_t
#define LN_GV_SIGN ((int64_t)0x8000000000000000ull)
#define LN_GV_MAGIC 0x1p52
#define LN_GV_MAGIC_BITS ((int64_t)0x4330000000000000ull)
#define LN_GV_BIAS 1023
#define LN_GV_MANT 52
#endif

LN_VINLINE V FN(ln_gv_set1)(T x)
{
#if LN_IS_F32
    const V v = { x, x, x, x };
#else
    const V v = { x, x };
#endif
    return v;
}

LN_VINLINE VM FN(ln_gm_set1)(LN_GV_INT x)
{
#if LN_IS_F32
    const VM v = { x, x, x, x };
#else
    const VM v = { x, x };
#endif
    return v;
}

LN_VINLINE V FN(ln_gv_loadu)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

LN_VINLINE void FN(ln_gv_storeu)(T *p, V x) { memcpy(p, &x, sizeof x); }

/* The first n lanes from p (the rest zero), reading nothing past p[n-1];
 * n >= VN loads a whole vector, n <= 0 none. */
LN_VINLINE V FN(ln_gv_load_part)(const T *p, ptrdiff_t n)
{
    V v = FN(ln_gv_set1)(0);
#if LN_IS_F32
    switch (n) {
    case 1: memcpy(&v, p, sizeof(T)); break;
    case 2: memcpy(&v, p, 2 * sizeof(T)); break;
    case 3: memcpy(&v, p, 3 * sizeof(T)); break;
    default: if (n > 0) memcpy(&v, p, sizeof v); break;
    }
#else
    if (n == 1) memcpy(&v, p, sizeof(T));
    else if (n > 1) memcpy(&v, p, sizeof v);
#endif
    return v;
}

/* Stores the first n lanes of x at p, writing nothing past p[n-1]. */
LN_VINLINE void FN(ln_gv_store_part)(T *p, V x, ptrdiff_t n)
{
#if LN_IS_F32
    switch (n) {
    case 1: memcpy(p, &x, sizeof(T)); break;
    case 2: memcpy(p, &x, 2 * sizeof(T)); break;
    case 3: memcpy(p, &x, 3 * sizeof(T)); break;
    default: if (n > 0) memcpy(p, &x, sizeof x); break;
    }
#else
    if (n == 1) memcpy(p, &x, sizeof(T));
    else if (n > 1) memcpy(p, &x, sizeof x);
#endif
}

/* a > b and a < b per lane: all ones where true, zeros where not (NaN). */
#if defined(__clang__) && defined(__ALTIVEC__)
/* Clang with AltiVec is moving vector comparisons to a scalar result (its
 * "xl" compatibility); compared lane by lane, it still emits one vector compare. */
LN_VINLINE VM FN(ln_gv_gt)(V a, V b)
{
    VM m;
    int i;
    for (i = 0; i < VN; ++i) m[i] = -(LN_GV_INT)(a[i] > b[i]);
    return m;
}
#else
LN_VINLINE VM FN(ln_gv_gt)(V a, V b) { return (VM)(a > b); }
#endif
LN_VINLINE VM FN(ln_gv_lt)(V a, V b) { return FN(ln_gv_gt)(b, a); }

/* m ? a : b per lane, m a comparison's all-ones / all-zeros lanes. */
LN_VINLINE V FN(ln_gv_select)(VM m, V a, V b) { return (V)((m & (VM)a) | (~m & (VM)b)); }

LN_VINLINE V FN(ln_gv_max)(V a, V b) { return FN(ln_gv_select)(FN(ln_gv_gt)(a, b), a, b); }
LN_VINLINE V FN(ln_gv_min)(V a, V b) { return FN(ln_gv_select)(FN(ln_gv_lt)(a, b), a, b); }

LN_VINLINE V FN(ln_gv_abs)(V x) { return (V)((VM)x & ~FN(ln_gm_set1)(LN_GV_SIGN)); }
LN_VINLINE V FN(ln_gv_negabs)(V x) { return (V)((VM)x | FN(ln_gm_set1)(LN_GV_SIGN)); }

LN_VINLINE V FN(ln_gv_copysign)(V m, V s)
{
    const VM sign = FN(ln_gm_set1)(LN_GV_SIGN);
    return (V)(((VM)m & ~sign) | ((VM)s & sign));
}

LN_VINLINE V FN(ln_gv_fma)(V a, V b, V c)
{
#if (LN_IS_F32 && defined(__FP_FAST_FMAF)) || (!LN_IS_F32 && defined(__FP_FAST_FMA))
    V r;
    int i;
    /* Lane by lane through the fused builtin, which the compiler turns into the vector instruction */
    for (i = 0; i < VN; ++i) r[i] = LN_IS_F32 ? __builtin_fmaf(a[i], b[i], c[i]) : __builtin_fma(a[i], b[i], c[i]);
    return r;
#else
    return a * b + c;
#endif
}

/* Nearest integer, ties to even: adding and subtracting 2^(mantissa bits)
 * rounds |x| below it in the current (nearest) mode; larger values and NaN
 * are integral or NaN already. Needs arithmetic in the type's own
 * precision; with excess precision (FLT_EVAL_METHOD != 0) it goes lane by
 * lane through rint. */
LN_VINLINE V FN(ln_gv_round)(V x)
{
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ == 0
    const V magic = FN(ln_gv_set1)(LN_GV_MAGIC), ax = FN(ln_gv_abs)(x);
    const V r = FN(ln_gv_copysign)((ax + magic) - magic, x);
    return FN(ln_gv_select)(FN(ln_gv_lt)(ax, magic), r, x);
#else
    V r;
    int i;
    for (i = 0; i < VN; ++i) r[i] = LN_IS_F32 ? rintf(x[i]) : rint(x[i]);
    return r;
#endif
}

/* 2^n for integral n in the normal range, by building the exponent field:
 * n + bias + 2^(mantissa bits) is exact and holds n + bias in its low bits. */
LN_VINLINE V FN(ln_gv_pow2i)(V n)
{
    const VM low = (VM)(n + FN(ln_gv_set1)((T)LN_GV_BIAS + LN_GV_MAGIC)) - FN(ln_gm_set1)(LN_GV_MAGIC_BITS);
    return (V)(low << LN_GV_MANT);
}

#define v_set1(x) FN(ln_gv_set1)((T)(x))
#define v_zero() FN(ln_gv_set1)((T)0)
#define v_loadu(p) FN(ln_gv_loadu)(p)
#define v_storeu(p, x) FN(ln_gv_storeu)(p, x)
#define v_bcast(p) FN(ln_gv_set1)(*(p))
#define v_load_part(p, n) FN(ln_gv_load_part)(p, n)
#define v_store_part(p, x, n) FN(ln_gv_store_part)(p, x, n)
#define v_add(a, b) ((a) + (b))
#define v_sub(a, b) ((a) - (b))
#define v_mul(a, b) ((a) * (b))
#define v_div(a, b) ((a) / (b))
#define v_fma(a, b, c) FN(ln_gv_fma)(a, b, c)
#define v_fnma(a, b, c) FN(ln_gv_fma)(-(a), b, c)
#define v_max(a, b) FN(ln_gv_max)(a, b)
#define v_min(a, b) FN(ln_gv_min)(a, b)
#define v_abs(x) FN(ln_gv_abs)(x)
#define v_negabs(x) FN(ln_gv_negabs)(x)
#define v_copysign(m, s) FN(ln_gv_copysign)(m, s)
#define v_gt(a, b) FN(ln_gv_gt)(a, b)
#define v_lt(a, b) FN(ln_gv_lt)(a, b)
#define v_select(m, a, b) FN(ln_gv_select)(m, a, b)
#define v_round(x) FN(ln_gv_round)(x)
#define v_pow2i(n) FN(ln_gv_pow2i)(n)
