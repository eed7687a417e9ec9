/* kernels_ref.c: the portable kernels, float and double: vector math and
 * epilogues on the one-lane op layer (kernels/ref/vec_ref.h), the plain C
 * micro-kernel, row kernel and packing (kernels/ref/gemm_ref_tmpl.h), and
 * the optimizer updates (tables/optimizers_tmpl.h). */
#include "kernels/kernels.h"
#include "kernels/ref/tile_ref.h"

#define LN_ISA_OPS "kernels/ref/vec_ref.h"
#define LN_ISA_PART1 "kernels/vecmath_tmpl.h"
#define LN_ISA_PART2 "kernels/epilogue_tmpl.h"
#define LN_ISA_PART3 "kernels/ref/gemm_ref_tmpl.h"
#define LN_ISA_PART4 "tables/optimizers_tmpl.h"
#define LN_TEMPLATE "kernels/isa_tmpl.h"
#include "framework/typed.h"
