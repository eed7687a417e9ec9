/* optimizers_avx2.c: the optimizer updates (tables/optimizers_tmpl.h)
 * compiled for AVX2+FMA, where the compiler vectorises them 8 (4) wide. */
#include "kernels/kernels.h"

#if LN_BUILD_AVX2
#define LN_ISA_OPS "kernels/avx2/vec_avx2.h"
#define LN_ISA_PART1 "tables/optimizers_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
