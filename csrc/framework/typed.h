/* typed.h: layernet's one typed-template convention.
 *
 * Code that is the same for float and double is written once in a
 * *_tmpl.h file and instantiated by
 *
 *     #define LN_TEMPLATE "name_tmpl.h"
 *     #include "framework/typed.h"
 *
 * which includes the template twice. In each pass:
 *   T          the element type: float, then double
 *   TY         its tag, f32 or f64 (for per-type table fields: isa->TY.ukr)
 *   FN(name)   name_f32 / name_f64
 *   LN_DTYPE   LN_FLOAT32 / LN_FLOAT64
 *   LN_IS_F32  1 in the float pass, 0 in the double pass
 *   T_EXP, T_LOG, T_LOG1P, T_EXPM1, T_SQRT, T_FABS, T_TANH, T_ERF, T_ERFC, T_POW, T_MAX
 *              libm functions and the largest finite value of T
 * No include guard: it is meant to be included once per template.
 */
#include <float.h>
#include <math.h>

#ifndef LN_TEMPLATE
#error "define LN_TEMPLATE before including framework/typed.h"
#endif

#define LN_TYPED_CAT_(a, b) a##_##b
#define LN_TYPED_CAT(a, b) LN_TYPED_CAT_(a, b)

/* Pass 1: float */
#define T float
#define TY f32
#define FN(name) LN_TYPED_CAT(name, f32)
#define LN_DTYPE LN_FLOAT32
#define LN_IS_F32 1
#define T_EXP expf
#define T_LOG logf
#define T_LOG1P log1pf
#define T_EXPM1 expm1f
#define T_SQRT sqrtf
#define T_FABS fabsf
#define T_TANH tanhf
#define T_ERF erff
#define T_ERFC erfcf
#define T_POW powf
#define T_MAX FLT_MAX
#include LN_TEMPLATE
#undef T
#undef TY
#undef FN
#undef LN_DTYPE
#undef LN_IS_F32
#undef T_EXP
#undef T_LOG
#undef T_LOG1P
#undef T_EXPM1
#undef T_SQRT
#undef T_FABS
#undef T_TANH
#undef T_ERF
#undef T_ERFC
#undef T_POW
#undef T_MAX

/* Pass 2: double */
#define T double
#define TY f64
#define FN(name) LN_TYPED_CAT(name, f64)
#define LN_DTYPE LN_FLOAT64
#define LN_IS_F32 0
#define T_EXP exp
#define T_LOG log
#define T_LOG1P log1p
#define T_EXPM1 expm1
#define T_SQRT sqrt
#define T_FABS fabs
#define T_TANH tanh
#define T_ERF erf
#define T_ERFC erfc
#define T_POW pow
#define T_MAX DBL_MAX
#include LN_TEMPLATE
#undef T
#undef TY
#undef FN
#undef LN_DTYPE
#undef LN_IS_F32
#undef T_EXP
#undef T_LOG
#undef T_LOG1P
#undef T_EXPM1
#undef T_SQRT
#undef T_FABS
#undef T_TANH
#undef T_ERF
#undef T_ERFC
#undef T_POW
#undef T_MAX

#undef LN_TEMPLATE
