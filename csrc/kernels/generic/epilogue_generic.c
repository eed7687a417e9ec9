/* epilogue_generic.c: vector math and epilogue tiles on the generic op
 * layer, float and double (kernels/vecmath_tmpl.h, kernels/epilogue_tmpl.h). */
#include "kernels/kernels.h"

#if LN_BUILD_GENERIC
#define LN_ISA_OPS "kernels/generic/vec_generic.h"
#define LN_ISA_PART1 "kernels/vecmath_tmpl.h"
#define LN_ISA_PART2 "kernels/epilogue_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
