/* kernels.h: the GEMM engine's internal contract.
 *
 * Internal to csrc/. Declares the kernel signatures (per element type, in
 * kernels_tmpl.h), the cache blocks, and ln_isa: the table each instruction
 * set fills in its own directory under kernels/ (tile, blocks, kernel
 * pointers, a supported() probe). dispatch.c walks the list in
 * tables/isas.h; the framework reads tiles and blocks from the table and
 * never names a tile size itself.
 */
#ifndef LN_KERNELS_H
#define LN_KERNELS_H

#include <stddef.h>
#include "layernet.h"
#include "tables/activations.h"

/* x86 SIMD kernels are built for x86 with a GCC-compatible compiler, which
 * understands per-function target attributes and __builtin_cpu_supports. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define LN_BUILD_AVX2 1
#else
#define LN_BUILD_AVX2 0
#endif

/* NEON kernels are built for 64-bit ARM, where Advanced SIMD is architectural. */
#if defined(__aarch64__) && defined(__GNUC__)
#define LN_BUILD_NEON 1
#else
#define LN_BUILD_NEON 0
#endif

/* The generic vectorised kernels are written with GCC/Clang vector
 * extensions (128-bit vectors, no intrinsics and no target flags), which
 * every GCC-compatible compiler lowers to the target's SIMD unit (SSE2,
 * Advanced SIMD, VSX, z/Architecture vectors, ...) or to scalar code where
 * there is none. Other compilers build the reference kernels only. */
#if defined(__GNUC__) || defined(__clang__)
#define LN_BUILD_GENERIC 1
#else
#define LN_BUILD_GENERIC 0
#endif

/* A read prefetch hint into all cache levels; never faults, even past the end. */
#if defined(__GNUC__)
#define LN_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define LN_PREFETCH(p) ((void)0)
#endif

#if defined(__GNUC__)
#define LN_THREAD_LOCAL __thread
#define LN_RESTRICT __restrict__
#elif defined(_MSC_VER)
#define LN_THREAD_LOCAL __declspec(thread)
#define LN_RESTRICT __restrict
#else
#define LN_RESTRICT
#endif

/* Cache blocks and path thresholds of one element type on one ISA. */
typedef struct {
    int mr, nr;            /* register tile of the micro-kernel */
    int mc, kc, nc;        /* A block rows (L2), k block (L1 micro-panel), B panel columns (L3) */
    int kc_row;            /* k block of a one-row-tile product on unpacked B */
    double sup_work;       /* m*n*k below which nothing is packed */
    ptrdiff_t sup_mn;      /* pack B from this many rows of C (or when its rows alias in L1) */
    ptrdiff_t sup_pack_a_n;/* with B packed, pack A too from this many columns */
    double mt_flops;       /* 2mnk below which one thread runs */
    double gemv_mt_bytes;  /* bytes of B from which a one-row product is split across threads */
} ln_gemm_blocks;

#define LN_TEMPLATE "kernels/kernels_tmpl.h"
#include "framework/typed.h"

/* One instruction set: its name, whether this CPU runs it, its kernels. */
typedef struct {
    const char *name;
    int (*supported)(void);
    ln_isa_kernels_f32 f32;
    ln_isa_kernels_f64 f64;
} ln_isa;

/* dispatch.c: the active table (chosen on first use) and, for tests and
 * tuning, a writable copy of any table by name (NULL if not built or not
 * supported on this CPU). */
const ln_isa *ln_isa_active(void);
ln_isa *ln_isa_lookup(const char *name);

/* framework/gemm.c: path override for tests and tuning.
 * path: 0 = choose by size, 1 = never pack, 2 = always pack, 3 = pack B only,
 * 4 = pack A only. threads: 0 = choose by size, 1 = use every configured thread. */
void ln_gemm_force(int path, int threads);

#endif /* LN_KERNELS_H */
