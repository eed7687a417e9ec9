/* gemv_avx2.c: AVX2+FMA row kernels for one-row products (batch-1 predict),
 * float and double (kernels/gemv_tmpl.h on the AVX2 op layer). */
#include "kernels/kernels.h"

#if LN_BUILD_AVX2
#define LN_ISA_OPS "kernels/avx2/vec_avx2.h"
#define LN_ISA_PART1 "kernels/gemv_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
#endif
