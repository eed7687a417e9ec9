/* ukernel_generic.c: the generic micro-kernels and packing, float and double
 * (kernels/generic/ukernel_generic_tmpl.h, kernels/pack_tmpl.h). */
#include "kernels/kernels.h"

#if LN_BUILD_GENERIC
#include "kernels/generic/tile_generic.h"
#define LN_ISA_OPS "kernels/generic/vec_generic.h"
#define LN_ISA_PART1 "kernels/generic/ukernel_generic_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
