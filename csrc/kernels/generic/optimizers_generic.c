/* optimizers_generic.c: the optimizer updates (tables/optimizers_tmpl.h) in
 * the generic kernels, where the compiler vectorises them for the target's
 * baseline vector unit. */
#include "kernels/kernels.h"

#if LN_BUILD_GENERIC
#define LN_ISA_OPS "kernels/generic/vec_generic.h"
#define LN_ISA_PART1 "tables/optimizers_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
