/* isas.h: the instruction sets this build may use, best first. A new
 * instruction set is its own directory under kernels/ with a table file
 * (kernels/<isa>/isa_<isa>.c) and one line here; dispatch.c picks the first
 * whose supported() probe passes. "generic" (vector extensions) runs on every
 * CPU a GCC-compatible compiler targets; "reference" (plain C99) runs
 * everywhere, is the portable twin the tests compare against, and stays last. */
#ifndef LN_TABLES_ISAS_H
#define LN_TABLES_ISAS_H

#include "kernels/kernels.h"

extern const ln_isa ln_isa_reference;
#if LN_BUILD_GENERIC
extern const ln_isa ln_isa_generic;
#endif
#if LN_BUILD_AVX2
extern const ln_isa ln_isa_avx2;
#endif
#if LN_BUILD_NEON
extern const ln_isa ln_isa_neon;
#endif

/* The list, in order of preference: LN_ISA_IF(built, table) per line. */
#define LN_ISA_LIST                             \
    LN_ISA_IF(LN_BUILD_AVX2, ln_isa_avx2)       \
    LN_ISA_IF(LN_BUILD_NEON, ln_isa_neon)       \
    LN_ISA_IF(LN_BUILD_GENERIC, ln_isa_generic) \
    LN_ISA_IF(1, ln_isa_reference)

/* LN_ISA_IF(1, t) is &t, and LN_ISA_IF(0, t) nothing (the flag is expanded first). */
#define LN_ISA_IF(built, table) LN_ISA_IF_(built, table)
#define LN_ISA_IF_(built, table) LN_ISA_IF_##built(table)
#define LN_ISA_IF_1(table) &table,
#define LN_ISA_IF_0(table)

#endif /* LN_TABLES_ISAS_H */
