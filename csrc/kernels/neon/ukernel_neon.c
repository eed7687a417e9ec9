/* ukernel_neon.c: aarch64 Advanced SIMD micro-kernels and packing, float and
 * double (kernels/neon/ukernel_neon_tmpl.h, kernels/pack_tmpl.h). */
#include "kernels/kernels.h"

#if LN_BUILD_NEON
#include "kernels/neon/tile_neon.h"
#define LN_ISA_OPS "kernels/neon/vec_neon.h"
#define LN_ISA_PART1 "kernels/neon/ukernel_neon_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
