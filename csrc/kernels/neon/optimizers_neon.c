/* optimizers_neon.c: the optimizer updates (tables/optimizers_tmpl.h)
 * compiled for aarch64 Advanced SIMD, where the compiler vectorises them. */
#include "kernels/kernels.h"

#if LN_BUILD_NEON
#define LN_ISA_OPS "kernels/neon/vec_neon.h"
#define LN_ISA_PART1 "tables/optimizers_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
