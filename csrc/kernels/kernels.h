/* kernels.h: the GEMM engine's internal contract.
 *
 * Internal to csrc/. Declares the micro-kernel and epilogue-tile signatures,
 * the per-ISA table (tile shape, cache blocks, thresholds, kernel pointers)
 * that dispatch.c fills and framework/gemm.c walks, and the kernels of each
 * ISA. Nothing here is ISA-specific code; the SIMD kernels live in
 * kernels/<isa>/ and carry their own target attributes.
 */
#ifndef LN_KERNELS_H
#define LN_KERNELS_H

#include <stddef.h>
#include "../layernet.h"

/* AVX2 kernels are built only for x86 with a GCC-compatible compiler, which
 * understands per-function target attributes and __builtin_cpu_supports. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define LN_BUILD_AVX2 1
#else
#define LN_BUILD_AVX2 0
#endif

/* Thread-local storage for the per-caller packing workspace. */
#if defined(__GNUC__)
#define LN_THREAD_LOCAL __thread
#elif defined(_MSC_VER)
#define LN_THREAD_LOCAL __declspec(thread)
#endif

#if defined(__GNUC__)
#define LN_RESTRICT __restrict__
#elif defined(_MSC_VER)
#define LN_RESTRICT __restrict
#else
#define LN_RESTRICT
#endif

/* What one micro-kernel call does besides the product. The framework fills
 * it per tile: beta is the caller's on the first k-block and 1 after it,
 * and the epilogue is LN_EPI_NONE except on the last k-block. bias and h
 * already point at the tile's first column / first element. */
typedef struct {
    float alpha, beta;
    int b_padded;          /* 1: B rows hold NR readable columns (zero past nr), as packed */
    int epi;               /* LN_EPI_* */
    int act;               /* LN_ACT_* */
    const float *bias;     /* BIAS_ACT: bias of the tile's first column, or NULL */
    const float *h;        /* DACT: H at the tile's first element */
    ptrdiff_t ldh;
} ln_sgemm_aux;

typedef struct {
    double alpha, beta;
    int b_padded;
    int epi;
    int act;
    const double *bias;
    const double *h;
    ptrdiff_t ldh;
} ln_dgemm_aux;

/* Micro-kernel: for one tile of mr <= MR rows and nr <= NR columns,
 *   C := epi(alpha * A B + beta * C)  (beta == 0: C is not read)
 * A is mr x k with element (i, p) at a[i*rs_a + p*cs_a] (a packed micro-panel
 * has rs_a = 1, cs_a = MR; unpacked A uses the caller's strides). B is k x nr
 * with element (p, j) at b[p*rs_b + j] (packed: rs_b = NR). The kernel never
 * reads A rows >= mr nor B columns >= nr (unless aux->b_padded says they are
 * readable zeros) and never writes outside the tile, so it runs straight on
 * the caller's matrices when they are not packed.
 * k may be 0. C has unit column stride. */
typedef void (*ln_sgemm_ukr_ft)(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                                const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                const float *b, ptrdiff_t rs_b,
                                float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux);
typedef void (*ln_dgemm_ukr_ft)(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                                const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                const double *b, ptrdiff_t rs_b,
                                double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux);

/* Epilogue tile: applies aux's epilogue (bias + activation, or the
 * activation derivative) in place to an m x n tile of C that was just
 * written and is still in L1. alpha and beta in aux are ignored. */
typedef void (*ln_sepi_ft)(ptrdiff_t m, ptrdiff_t n, float *c, ptrdiff_t rs_c,
                           const ln_sgemm_aux *aux);
typedef void (*ln_depi_ft)(ptrdiff_t m, ptrdiff_t n, double *c, ptrdiff_t rs_c,
                           const ln_dgemm_aux *aux);

/* Row kernel (GEMV) for products with one row of C, such as batch-1 predict:
 *   c[j] := epi(alpha * sum_p a[p*cs_a] * b[p*rs_b + j] + beta * c[j]),  0 <= j < n
 * any n >= 1 and k >= 0, beta == 0: c is not read. B has unit column stride
 * and is read in place, one row per k step; the kernel keeps enough
 * independent accumulators to hide the FMA latency, which a 6-row tile
 * kernel with a single row cannot. aux->bias and aux->h point at column 0. */
typedef void (*ln_sgemv_ft)(ptrdiff_t k, ptrdiff_t n, const float *a, ptrdiff_t cs_a,
                            const float *b, ptrdiff_t rs_b, float *c, const ln_sgemm_aux *aux);
typedef void (*ln_dgemv_ft)(ptrdiff_t k, ptrdiff_t n, const double *a, ptrdiff_t cs_a,
                            const double *b, ptrdiff_t rs_b, double *c, const ln_dgemm_aux *aux);

/* Cache blocks and path thresholds of one element type on one ISA. */
typedef struct {
    int mr, nr;            /* register tile of the micro-kernel */
    int mc, kc, nc;        /* A block rows (L2), k block (L1 micro-panel), B panel columns (L3) */
    double sup_work;           /* m*n*k below which nothing is packed */
    ptrdiff_t sup_mn;          /* pack B from this many rows of C (or when its rows alias in L1) */
    ptrdiff_t sup_pack_a_n;    /* with B packed, pack A too from this many columns */
    double mt_flops;       /* 2mnk below which one thread runs */
} ln_gemm_blocks;

/* One row of the dispatch table: everything an ISA brings. */
typedef struct {
    int isa;                   /* LN_ISA_* */
    const char *name;
    ln_gemm_blocks sblk, dblk;
    ln_sgemm_ukr_ft sgemm_ukr;
    ln_dgemm_ukr_ft dgemm_ukr;
    ln_sepi_ft sepi;
    ln_depi_ft depi;
    ln_sgemv_ft sgemv;
    ln_dgemv_ft dgemv;
} ln_isa_table;

/* dispatch.c: the active table (initialising on first use) and, for tests
 * and tuning, a writable table per ISA (NULL when not built). */
const ln_isa_table *ln_gemm_table(void);
ln_isa_table *ln_gemm_table_of(int isa);

/* framework/gemm.c: path override for tests and tuning.
 * path: 0 = choose by size, 1 = never pack, 2 = always pack, 3 = pack B only,
 * 4 = pack A only.
 * threads: 0 = choose by size, 1 = use every configured thread. */
void ln_gemm_force(int path, int threads);

/* Portable reference kernels (kernels/ref/gemm_ref.c): same tiles as AVX2,
 * the oracle the SIMD kernels are tested against. */
void ln_sgemm_ref_6x16(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                       const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                       const float *b, ptrdiff_t rs_b,
                       float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux);
void ln_dgemm_ref_6x8(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                      const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                      const double *b, ptrdiff_t rs_b,
                      double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux);
void ln_sepi_ref(ptrdiff_t m, ptrdiff_t n, float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux);
void ln_depi_ref(ptrdiff_t m, ptrdiff_t n, double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux);
void ln_sgemv_ref(ptrdiff_t k, ptrdiff_t n, const float *a, ptrdiff_t cs_a,
                  const float *b, ptrdiff_t rs_b, float *c, const ln_sgemm_aux *aux);
void ln_dgemv_ref(ptrdiff_t k, ptrdiff_t n, const double *a, ptrdiff_t cs_a,
                  const double *b, ptrdiff_t rs_b, double *c, const ln_dgemm_aux *aux);

#if LN_BUILD_AVX2
/* AVX2+FMA kernels (kernels/avx2/gemm_avx2.c). Call only when the CPU has
 * AVX2 and FMA. */
void ln_sgemm_avx2_6x16(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                        const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                        const float *b, ptrdiff_t rs_b,
                        float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux);
void ln_dgemm_avx2_6x8(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                       const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                       const double *b, ptrdiff_t rs_b,
                       double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux);
void ln_sepi_avx2(ptrdiff_t m, ptrdiff_t n, float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux);
void ln_depi_avx2(ptrdiff_t m, ptrdiff_t n, double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux);
void ln_sgemv_avx2(ptrdiff_t k, ptrdiff_t n, const float *a, ptrdiff_t cs_a,
                   const float *b, ptrdiff_t rs_b, float *c, const ln_sgemm_aux *aux);
void ln_dgemv_avx2(ptrdiff_t k, ptrdiff_t n, const double *a, ptrdiff_t cs_a,
                   const double *b, ptrdiff_t rs_b, double *c, const ln_dgemm_aux *aux);
#endif

#endif /* LN_KERNELS_H */
