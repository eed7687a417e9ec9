/* vec_ref.h: the portable op layer, one element per "vector".
 *
 * An op layer is what the shared kernel templates (the *_tmpl.h files under kernels/) are
 * written against. Each instruction set provides one, included once per
 * element type inside a typed pass (T, TY, FN from framework/typed.h), and
 * kernels/vec_undef.h ends it. It defines:
 *   V, VM, VN      vector type, comparison-mask type, lanes
 *   LN_VINLINE     qualifiers of helper functions (static inline, plus the
 *                  ISA's target attribute)
 *   LN_VFUNC       qualifiers of the kernels the ISA exports
 *   KFN(name)      an exported kernel's name: name_<isa>_<type>
 *   v_set1(x) v_zero() v_loadu(p) v_storeu(p, x) v_bcast(p)
 *   v_load_part(p, n) v_store_part(p, x, n)   the first n < VN lanes only
 *   v_add v_sub v_mul v_div
 *   v_fma(a, b, c) = a*b + c      v_fnma(a, b, c) = c - a*b
 *   v_max(a, b) v_min(a, b)       NaN in b passes through
 *   v_abs(x) v_negabs(x) = -|x|   v_copysign(mag, sgn)
 *   v_gt(a, b) v_lt(a, b) -> VM   v_select(m, a, b) = m ? a : b per lane
 *   v_round(x)                    nearest integer, as V
 *   v_pow2i(n)                    2^n for integral n in the normal range
 */
#include <string.h>
#include <stdint.h>

#define V T
#define VM int
#define VN 1
#define LN_VINLINE static inline
#define LN_VFUNC
#define KFN(name) LN_TYPED_CAT(name##_ref, TY)

#define v_set1(x) ((T)(x))
#define v_zero() ((T)0)
#define v_loadu(p) (*(p))
#define v_storeu(p, x) (*(p) = (x))
#define v_bcast(p) (*(p))
#define v_load_part(p, n) ((n) > 0 ? *(p) : (T)0)
#define v_store_part(p, x, n) do { if ((n) > 0) *(p) = (x); } while (0)
#define v_add(a, b) ((a) + (b))
#define v_sub(a, b) ((a) - (b))
#define v_mul(a, b) ((a) * (b))
#define v_div(a, b) ((a) / (b))
#define v_fma(a, b, c) ((a) * (b) + (c))
#define v_fnma(a, b, c) ((c) - (a) * (b))
#define v_max(a, b) ((a) > (b) ? (a) : (b))
#define v_min(a, b) ((a) < (b) ? (a) : (b))
#define v_abs(x) T_FABS(x)
#define v_negabs(x) (-T_FABS(x))
#define v_copysign(m, s) ((T)copysign((double)(m), (double)(s)))
#define v_gt(a, b) ((a) > (b))
#define v_lt(a, b) ((a) < (b))
#define v_select(m, a, b) ((m) ? (a) : (b))
#define v_round(x) (LN_IS_F32 ? (T)rintf((float)(x)) : (T)rint((double)(x)))
#define v_pow2i(n) FN(ln_ref_pow2i)(n)

#ifndef LN_REF_POW2I_DEFINED_F32
#define LN_REF_POW2I_DEFINED_F32
/* 2^n for integral n in the normal range, by building the exponent field. */
static inline float ln_ref_pow2i_f32(float n)
{
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}
static inline double ln_ref_pow2i_f64(double n)
{
    uint64_t bits = (uint64_t)((int64_t)n + 1023) << 52;
    double out;
    memcpy(&out, &bits, sizeof out);
    return out;
}
#endif
