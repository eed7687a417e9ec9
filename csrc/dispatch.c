/* dispatch.c: CPU detection, the per-ISA tables and the thread count.
 *
 * One table per ISA holds the register tile, the cache blocks, the path
 * thresholds and the kernel pointers; ln_init picks the best table the CPU
 * runs, once. A new ISA adds kernels under kernels/ and a row here.
 */
#include "layernet.h"
#include "kernels/kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Block sizes and thresholds per element type:
 *   mr nr      register tile of the micro-kernel
 *   mc kc nc   A block rows (L2), k block, B panel columns (L3)
 *   sup_work   m*n*k below which nothing is packed
 *   sup_mn     rows of C from which B is packed
 *   sup_pack_a_n  columns of C from which A is packed too
 *   mt_flops   2mnk below which one thread runs (an OpenMP fork/join costs
 *              about 2 us here, a 64x64x128 product about 12 us)
 */

/* Portable C: same tiles as AVX2; blocks sized for a typical L1/L2. */
static ln_isa_table ln_table_generic = {
    LN_ISA_GENERIC, "generic",
    { 6, 16, 96, 256, 2040, 131072, 64, 256, 1.5e6 },
    { 6, 8, 96, 256, 2040, 131072, 64, 256, 1e6 },
    ln_sgemm_ref_6x16, ln_dgemm_ref_6x8, ln_sepi_ref, ln_depi_ref, ln_sgemv_ref, ln_dgemv_ref
};

#if LN_BUILD_AVX2
/* AVX2+FMA, 16 ymm registers: s 6x16 and d 6x8 use 12 accumulators.
 * Measured on Zen 4 (32 KiB L1d, 1 MiB L2 per core, 32 MiB L3) at n = 1024
 * and 2048: a long kc amortises the C tile's load and store and 512 (s) /
 * 256 (d) are as fast as longer ones; mc barely matters between 72 and 240;
 * an nc of 2040 keeps each thread's B panel at 4 MiB of L3 at no measured
 * cost. The packing thresholds come from test_gemm's "small" mode. */
static ln_isa_table ln_table_avx2 = {
    LN_ISA_AVX2, "avx2",
    { 6, 16, 96, 512, 2040, 131072, 64, 256, 1.5e6 },
    { 6, 8, 72, 256, 2040, 131072, 64, 256, 1e6 },
    ln_sgemm_avx2_6x16, ln_dgemm_avx2_6x8, ln_sepi_avx2, ln_depi_avx2, ln_sgemv_avx2, ln_dgemv_avx2
};
#endif

static const ln_isa_table *ln_active = 0;
static int ln_cpu_avx2 = -1;    /* -1 until detected */
static int ln_nthreads = 0;     /* 0 until set: the processor count */

/* Detect once; __builtin_cpu_supports also checks that the OS saves ymm state. */
static void ln_detect(void)
{
    if (ln_cpu_avx2 >= 0) return;
#if LN_BUILD_AVX2
    __builtin_cpu_init();
    ln_cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    ln_cpu_avx2 = 0;
#endif
}

void ln_init(void)
{
    ln_detect();
    if (ln_active) return;
#if LN_BUILD_AVX2
    if (ln_cpu_avx2) { ln_active = &ln_table_avx2; return; }
#endif
    ln_active = &ln_table_generic;
}

int ln_isa_supported(int isa)
{
    ln_detect();
    switch (isa) {
    case LN_ISA_GENERIC: return 1;
    case LN_ISA_AVX2: return LN_BUILD_AVX2 && ln_cpu_avx2;
    default: return 0;      /* no AVX-512 kernels in this build */
    }
}

ln_isa_table *ln_gemm_table_of(int isa)
{
    if (!ln_isa_supported(isa)) return 0;
#if LN_BUILD_AVX2
    if (isa == LN_ISA_AVX2) return &ln_table_avx2;
#endif
    return &ln_table_generic;
}

int ln_set_isa(int isa)
{
    ln_isa_table *t = ln_gemm_table_of(isa);
    if (!t) return LN_ERR_ISA;
    ln_active = t;
    return LN_OK;
}

const ln_isa_table *ln_gemm_table(void)
{
    if (!ln_active) ln_init();
    return ln_active;
}

int ln_get_isa(void) { return ln_gemm_table()->isa; }

const char *ln_isa_name(int isa)
{
    switch (isa) {
    case LN_ISA_GENERIC: return "generic";
    case LN_ISA_AVX2: return "avx2";
    case LN_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}

void ln_set_num_threads(int n)
{
#ifdef _OPENMP
    ln_nthreads = n < 1 ? 1 : n;
#else
    (void)n;
    ln_nthreads = 1;
#endif
}

int ln_get_num_threads(void)
{
#ifdef _OPENMP
    if (ln_nthreads < 1) {
        int p = omp_get_num_procs();
        ln_nthreads = p < 1 ? 1 : p;
    }
    return ln_nthreads;
#else
    return 1;
#endif
}

int ln_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
