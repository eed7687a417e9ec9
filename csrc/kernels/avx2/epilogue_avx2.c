/* epilogue_avx2.c: AVX2+FMA vector math and epilogue tiles, float and double
 * (kernels/vecmath_tmpl.h, kernels/epilogue_tmpl.h on the AVX2 op layer).
 * exp is accurate to float rounding in float32 and ~1e-15 relative in
 * float64. */
#include "kernels/kernels.h"

#if LN_BUILD_AVX2
#define LN_ISA_OPS "kernels/avx2/vec_avx2.h"
#define LN_ISA_PART1 "kernels/vecmath_tmpl.h"
#define LN_ISA_PART2 "kernels/epilogue_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
