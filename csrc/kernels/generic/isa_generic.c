/* isa_generic.c: the generic instruction set's table: 128-bit vector
 * extensions for any CPU a GCC-compatible compiler targets.
 *
 * Blocks for the cores this path serves (x86-64 before AVX2, POWER, s390x,
 * RISC-V, ...), most with a 32 KiB L1d and 256 KiB to 1 MiB of L2: kc = 256
 * keeps a B micro-panel (256 x 32 bytes = 8 KiB) and an A micro-panel
 * (6 KiB float, 12 KiB double) within half of a 32 KiB L1d; mc keeps the A
 * block (120 KiB) within a 256 KiB L2 beside the streamed B micro-panels;
 * nc is a multiple of both tiles' widths. On Zen (SSE2 code), mc from 60 to
 * 144 and kc from 128 to 512 were all within the run-to-run noise at
 * n = 1024. The packing, threading and row-kernel thresholds are the other
 * instruction sets', which depend more on the framework than on the core. */
#include "kernels/kernels.h"

#if LN_BUILD_GENERIC
#include "kernels/generic/tile_generic.h"

#define KFN(name) LN_TYPED_CAT(name##_generic, TY)
#define LN_TEMPLATE "kernels/decl_tmpl.h"
#include "framework/typed.h"
#undef KFN

/* Vector extensions compile to the target's baseline, which every CPU of
 * that target runs. */
static int ln_generic_supported(void) { return 1; }

const ln_isa ln_isa_generic = {
    .name = "generic",
    .supported = ln_generic_supported,
    .f32 = {
        .blk = { .mr = LN_GENERIC_MR, .nr = LN_GENERIC_NR_F32, .mc = 120, .kc = 256, .nc = 2040, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 1.5e6,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_generic_f32, .epi = ln_epi_generic_f32, .gemv = ln_gemv_generic_f32,
        .pack_a = ln_pack_a_generic_f32, .pack_b = ln_pack_b_generic_f32,
        .opt_update = ln_opt_update_generic_f32,
    },
    .f64 = {
        .blk = { .mr = LN_GENERIC_MR, .nr = LN_GENERIC_NR_F64, .mc = 60, .kc = 256, .nc = 2040, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 1e6,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_generic_f64, .epi = ln_epi_generic_f64, .gemv = ln_gemv_generic_f64,
        .pack_a = ln_pack_a_generic_f64, .pack_b = ln_pack_b_generic_f64,
        .opt_update = ln_opt_update_generic_f64,
    },
};
#endif
