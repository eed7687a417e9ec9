/* isa_avx2.c: the AVX2+FMA instruction set's table.
 *
 * Blocks measured on Zen 4 (32 KiB L1d, 1 MiB L2 per core, 32 MiB L3) at
 * n = 1024 and 2048: a long kc amortises the C tile's load and store, and
 * 512 (s) / 256 (d) are as fast as longer ones; mc barely matters between
 * 72 and 240; an nc of 2040 keeps each thread's B panel at 4 MiB of L3 at
 * no measured cost. The packing thresholds come from csrc/tests/test_gemm.c's
 * "small" mode; one row tile on unpacked B walks k in blocks of 16, which
 * keeps the next lines of B's rows in L1 for the next micro-panel (f64
 * 1x256x784 2.2x faster). Threads: a 64x64x128 float product (1 MFLOP)
 * takes about 12 us on one thread, and since threaded items are cut evenly
 * two threads repay it: with f32 products threaded from 0.8 MFLOP instead of
 * 1.5, the 64-128-64-1 step at batch 64 ran 4-6% faster. */
#include "kernels/kernels.h"

#if LN_BUILD_AVX2
#include "kernels/avx2/tile_avx2.h"

#define KFN(name) LN_TYPED_CAT(name##_avx2, TY)
#define LN_TEMPLATE "kernels/decl_tmpl.h"
#include "framework/typed.h"
#undef KFN

/* __builtin_cpu_supports also checks that the OS saves the ymm state. */
static int ln_avx2_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const ln_isa ln_isa_avx2 = {
    .name = "avx2",
    .supported = ln_avx2_supported,
    .f32 = {
        .blk = { .mr = LN_AVX2_MR, .nr = LN_AVX2_NR_F32, .mc = 96, .kc = 512, .nc = 2040, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 8e5,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_avx2_f32, .epi = ln_epi_avx2_f32, .gemv = ln_gemv_avx2_f32,
        .pack_a = ln_pack_a_avx2_f32, .pack_b = ln_pack_b_avx2_f32,
        .opt_update = ln_opt_update_avx2_f32,
    },
    .f64 = {
        .blk = { .mr = LN_AVX2_MR, .nr = LN_AVX2_NR_F64, .mc = 72, .kc = 256, .nc = 2040, .kc_row = 16,
                 .sup_work = 131072, .sup_mn = 64, .sup_pack_a_n = 256, .mt_flops = 1e6,
                 .gemv_mt_bytes = 256.0 * 1024 },
        .ukr = ln_ukr_avx2_f64, .epi = ln_epi_avx2_f64, .gemv = ln_gemv_avx2_f64,
        .pack_a = ln_pack_a_avx2_f64, .pack_b = ln_pack_b_avx2_f64,
        .opt_update = ln_opt_update_avx2_f64,
    },
};
#endif
