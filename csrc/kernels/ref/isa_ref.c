/* isa_ref.c: the reference instruction set's table: portable C99 for any
 * CPU and any compiler, with blocks sized for a typical 32 KiB L1 and 1 MiB
 * L2. It is the fallback where no vectorised instruction set is built, and
 * the portable twin the tests compare every other instruction set with. */
#include "kernels/kernels.h"
#include "kernels/ref/tile_ref.h"

#define KFN(name) LN_TYPED_CAT(name##_ref, TY)
#define LN_TEMPLATE "kernels/decl_tmpl.h"
#include "framework/typed.h"
#undef KFN

static int ln_ref_supported(void) { return 1; }

const ln_isa ln_isa_reference = {
    .name = "reference",
    .supported = ln_ref_supported,
    .f32 = {
        .blk = { .mr = LN_REF_MR, .nr = LN_REF_NR_F32, .mc = 96, .kc = 256, .nc = 2040, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 1.5e6,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_ref_f32, .epi = ln_epi_ref_f32, .gemv = ln_gemv_ref_f32,
        .pack_a = ln_pack_a_ref_f32, .pack_b = ln_pack_b_ref_f32,
        .opt_update = ln_opt_update_ref_f32,
    },
    .f64 = {
        .blk = { .mr = LN_REF_MR, .nr = LN_REF_NR_F64, .mc = 96, .kc = 256, .nc = 2040, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 1e6,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_ref_f64, .epi = ln_epi_ref_f64, .gemv = ln_gemv_ref_f64,
        .pack_a = ln_pack_a_ref_f64, .pack_b = ln_pack_b_ref_f64,
        .opt_update = ln_opt_update_ref_f64,
    },
};
