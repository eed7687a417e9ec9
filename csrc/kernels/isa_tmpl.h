/* isa_tmpl.h: one typed pass of an instruction set's kernel file.
 *
 * A kernel file sets LN_ISA_OPS (its op layer) and up to four parts
 * (LN_ISA_PART1..4: shared or ISA-specific kernel templates), then
 * instantiates this with LN_TEMPLATE "kernels/isa_tmpl.h" through
 * framework/typed.h. Each pass includes the op layer, the prototypes of
 * the ISA's kernels, the parts, and ends the op layer. */
#include LN_ISA_OPS
#include "kernels/decl_tmpl.h"
#ifdef LN_ISA_PART1
#include LN_ISA_PART1
#endif
#ifdef LN_ISA_PART2
#include LN_ISA_PART2
#endif
#ifdef LN_ISA_PART3
#include LN_ISA_PART3
#endif
#ifdef LN_ISA_PART4
#include LN_ISA_PART4
#endif
#include "kernels/vec_undef.h"
