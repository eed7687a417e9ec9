/* isa_neon.c: the aarch64 Advanced SIMD instruction set's table.
 *
 * The blocks are starting values for a typical Neoverse or Apple core (64 to
 * 128 KiB L1d, 1 MiB or more of L2 per core), not measured on hardware: kc
 * keeps one B micro-panel (16 KiB: 256 x 16 floats or 256 x 8 doubles) plus
 * the A micro-panel within half of a 64 KiB L1d; mc keeps the A block
 * (192 KiB) within a 1 MiB L2 next to the B panel's stream; nc is a multiple
 * of both tiles' widths. The packing, threading and row-kernel thresholds are
 * the x86 ones, which depend more on the framework than on the core. */
#include "kernels/kernels.h"

#if LN_BUILD_NEON
#include "kernels/neon/tile_neon.h"

#define KFN(name) LN_TYPED_CAT(name##_neon, TY)
#define LN_TEMPLATE "kernels/decl_tmpl.h"
#include "framework/typed.h"
#undef KFN

/* Advanced SIMD (with double precision and FMA) is part of every aarch64 core. */
static int ln_neon_supported(void) { return 1; }

const ln_isa ln_isa_neon = {
    .name = "neon",
    .supported = ln_neon_supported,
    .f32 = {
        .blk = { .mr = LN_NEON_MR, .nr = LN_NEON_NR_F32, .mc = 192, .kc = 256, .nc = 2048, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 1.5e6,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_neon_f32, .epi = ln_epi_neon_f32, .gemv = ln_gemv_neon_f32,
        .pack_a = ln_pack_a_neon_f32, .pack_b = ln_pack_b_neon_f32,
        .opt_update = ln_opt_update_neon_f32,
    },
    .f64 = {
        .blk = { .mr = LN_NEON_MR, .nr = LN_NEON_NR_F64, .mc = 96, .kc = 256, .nc = 2048, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 1e6,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_neon_f64, .epi = ln_epi_neon_f64, .gemv = ln_gemv_neon_f64,
        .pack_a = ln_pack_a_neon_f64, .pack_b = ln_pack_b_neon_f64,
        .opt_update = ln_opt_update_neon_f64,
    },
};
#endif
