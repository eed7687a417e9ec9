/* gemv_generic.c: row kernels for one-row products (batch-1 predict) on the
 * generic op layer, float and double (kernels/gemv_tmpl.h). */
#include "kernels/kernels.h"

#if LN_BUILD_GENERIC
#define LN_ISA_OPS "kernels/generic/vec_generic.h"
#define LN_ISA_PART1 "kernels/gemv_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
