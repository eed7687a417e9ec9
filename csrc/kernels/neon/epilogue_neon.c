/* epilogue_neon.c: aarch64 Advanced SIMD vector math and epilogue tiles,
 * float and double (kernels/vecmath_tmpl.h, kernels/epilogue_tmpl.h on the
 * NEON op layer). */
#include "kernels/kernels.h"

#if LN_BUILD_NEON
#define LN_ISA_OPS "kernels/neon/vec_neon.h"
#define LN_ISA_PART1 "kernels/vecmath_tmpl.h"
#define LN_ISA_PART2 "kernels/epilogue_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
