/* gemv_neon.c: aarch64 Advanced SIMD row kernels for one-row products
 * (batch-1 predict), float and double (kernels/gemv_tmpl.h on the NEON op
 * layer). */
#include "kernels/kernels.h"

#if LN_BUILD_NEON
#define LN_ISA_OPS "kernels/neon/vec_neon.h"
#define LN_ISA_PART1 "kernels/gemv_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
