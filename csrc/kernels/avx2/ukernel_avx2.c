/* ukernel_avx2.c: AVX2+FMA micro-kernels and packing, float and double
 * (kernels/avx2/ukernel_avx2_tmpl.h, kernels/pack_tmpl.h). */
#include "kernels/kernels.h"

#if LN_BUILD_AVX2
#include "kernels/avx2/tile_avx2.h"
#define LN_ISA_OPS "kernels/avx2/vec_avx2.h"
#define LN_ISA_PART1 "kernels/avx2/ukernel_avx2_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
