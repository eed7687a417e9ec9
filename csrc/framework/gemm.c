/* gemm.c: ln_sgemm and ln_dgemm, the BLIS-style GEMM driver.
 *
 * The algorithm (five loops, packing, the unpacked small-problem path, the
 * plain loops for one-column and one-k-step products, the row kernel's path
 * and the threaded paths) is written once in gemm_tmpl.h and instantiated here
 * for float and double. This file owns what both share: the per-caller
 * packing workspace, the path and thread choice, and how work is cut into
 * items for the thread pool (framework/pool.h).
 */
#include <stdlib.h>
#include <stdint.h>
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#include "layernet.h"
#include "kernels/kernels.h"
#include "framework/alloc.h"
#include "framework/pool.h"

/* ------------------------------------------------------------------ */
/* Workspace: packing buffers owned by the calling OS thread           */
/* ------------------------------------------------------------------ */

/* One 64-byte aligned buffer that only grows. */
typedef struct {
    void *ptr;
    size_t bytes;
} ln_gemm_buf;

/* A caller's buffers: one A block and one B panel per participating
 * thread, and one B packed whole that they share. */
typedef struct {
    int nslots;
    ln_gemm_buf *abuf, *bbuf;
    void **aptr, **bptr;
    ln_gemm_buf shared;
} ln_gemm_ws;

/* What one call uses: slot pointers, the shared buffer, and whether to free
 * them after. */
typedef struct {
    void **a, **b;
    void *shared;
    ln_gemm_ws *ws;
    int temporary;
} ln_gemm_plan;

#ifdef LN_THREAD_LOCAL
/* Each caller thread keeps its workspace for its lifetime, so after the
 * first call of a given size nothing is allocated. */
static LN_THREAD_LOCAL ln_gemm_ws *ln_tls_ws;
#endif

static int ln_gemm_buf_reserve(ln_gemm_buf *b, size_t bytes)
{
    void *p;
    if (bytes <= b->bytes) return LN_OK;
    p = ln_aligned_alloc(bytes);
    if (!p) return LN_ERR_NOMEM;
    ln_aligned_free(b->ptr);
    b->ptr = p;
    b->bytes = bytes;
    return LN_OK;
}

static void ln_gemm_ws_free(ln_gemm_ws *ws)
{
    int i;
    for (i = 0; i < ws->nslots; ++i) { ln_aligned_free(ws->abuf[i].ptr); ln_aligned_free(ws->bbuf[i].ptr); }
    free(ws->abuf); free(ws->bbuf); free(ws->aptr); free(ws->bptr);
    ln_aligned_free(ws->shared.ptr);
    ws->shared.ptr = 0;
    ws->shared.bytes = 0;
    ws->abuf = ws->bbuf = 0;
    ws->aptr = ws->bptr = 0;
    ws->nslots = 0;
}

#if defined(LN_THREAD_LOCAL) && (defined(__unix__) || defined(__APPLE__))
/* With POSIX threads, a key destructor frees a thread's workspace when the
 * thread exits, so short-lived caller threads do not leak their buffers. */
#define LN_GEMM_TLS_CLEANUP 1
static pthread_key_t ln_gemm_key;
static pthread_once_t ln_gemm_key_once = PTHREAD_ONCE_INIT;
static int ln_gemm_key_ok = 0;

static void ln_gemm_ws_destroy(void *p)
{
    ln_gemm_ws_free((ln_gemm_ws *)p);
    free(p);
}

static void ln_gemm_key_make(void)
{
    ln_gemm_key_ok = pthread_key_create(&ln_gemm_key, ln_gemm_ws_destroy) == 0;
}
#endif

#ifdef LN_THREAD_LOCAL
/* This thread's workspace, created on its first call. */
static ln_gemm_ws *ln_gemm_tls(void)
{
    ln_gemm_ws *ws = ln_tls_ws;
    if (ws) return ws;
    ws = (ln_gemm_ws *)ln_calloc(1, sizeof *ws);
    if (!ws) return 0;
#ifdef LN_GEMM_TLS_CLEANUP
    pthread_once(&ln_gemm_key_once, ln_gemm_key_make);
    if (ln_gemm_key_ok) pthread_setspecific(ln_gemm_key, ws);
#endif
    ln_tls_ws = ws;
    return ws;
}
#endif

/* Grow ws to nt slots of at least abytes / bbytes each, and a shared
 * buffer of at least shared bytes. */
static int ln_gemm_ws_grow(ln_gemm_ws *ws, int nt, size_t abytes, size_t bbytes, size_t shared)
{
    int i;
    if (nt > ws->nslots) {
        ln_gemm_buf *na = (ln_gemm_buf *)ln_calloc((size_t)nt, sizeof *na);
        ln_gemm_buf *nb = (ln_gemm_buf *)ln_calloc((size_t)nt, sizeof *nb);
        void **pa = (void **)ln_calloc((size_t)nt, sizeof *pa);
        void **pb = (void **)ln_calloc((size_t)nt, sizeof *pb);
        if (!na || !nb || !pa || !pb) {
            free(na); free(nb); free(pa); free(pb);
            return LN_ERR_NOMEM;
        }
        for (i = 0; i < ws->nslots; ++i) { na[i] = ws->abuf[i]; nb[i] = ws->bbuf[i]; }
        free(ws->abuf); free(ws->bbuf); free(ws->aptr); free(ws->bptr);
        ws->abuf = na; ws->bbuf = nb; ws->aptr = pa; ws->bptr = pb;
        ws->nslots = nt;
    }
    for (i = 0; i < nt; ++i) {
        if (ln_gemm_buf_reserve(&ws->abuf[i], abytes) != LN_OK) return LN_ERR_NOMEM;
        if (ln_gemm_buf_reserve(&ws->bbuf[i], bbytes) != LN_OK) return LN_ERR_NOMEM;
        ws->aptr[i] = ws->abuf[i].ptr;
        ws->bptr[i] = ws->bbuf[i].ptr;
    }
    if (shared && ln_gemm_buf_reserve(&ws->shared, shared) != LN_OK) return LN_ERR_NOMEM;
    return LN_OK;
}

static int ln_gemm_ws_reserve(ln_gemm_plan *plan, int nt, size_t abytes, size_t bbytes, size_t shared)
{
#ifdef LN_THREAD_LOCAL
    ln_gemm_ws *ws = ln_gemm_tls();
    if (!ws) return LN_ERR_NOMEM;
    plan->temporary = 0;
    plan->ws = ws;
    if (ln_gemm_ws_grow(ws, nt, abytes, bbytes, shared) != LN_OK) return LN_ERR_NOMEM;
#else
    /* No thread-local storage: a private workspace per call (correct, but allocates) */
    ln_gemm_ws *ws = (ln_gemm_ws *)ln_calloc(1, sizeof *ws);
    if (!ws) return LN_ERR_NOMEM;
    plan->temporary = 1;
    plan->ws = ws;
    if (ln_gemm_ws_grow(ws, nt, abytes, bbytes, shared) != LN_OK) {
        ln_gemm_ws_free(ws);
        free(ws);
        return LN_ERR_NOMEM;
    }
#endif
    plan->a = ws->aptr;
    plan->b = ws->bptr;
    plan->shared = ws->shared.ptr;
    return LN_OK;
}

static void ln_gemm_ws_release(ln_gemm_plan *plan)
{
#ifndef LN_THREAD_LOCAL
    ln_gemm_ws_free(plan->ws);
    free(plan->ws);
#else
    (void)plan;
#endif
}

/* ------------------------------------------------------------------ */
/* Path and thread choice                                              */
/* ------------------------------------------------------------------ */

static int ln_force_path = 0, ln_force_threads = 0;

void ln_gemm_force(int path, int threads)
{
    ln_force_path = path;
    ln_force_threads = threads;
}

static int ln_gemm_forced_path(void) { return ln_force_path; }

/* 1 if 16 rows at a stride of ld_bytes fall into 4 or fewer of the 64 sets
 * of a 32 KiB 8-way L1 (strides near a multiple of 1-4 KiB): unpacked
 * micro-panels at such a stride evict each other. */
static int ln_gemm_ld_aliases(size_t ld_bytes)
{
    unsigned long long seen = 0;
    int p, sets = 0;
    for (p = 0; p < 16; ++p) {
        unsigned s = (unsigned)((p * ld_bytes / 64) % 64);
        if (!(seen >> s & 1)) { seen |= 1ULL << s; ++sets; }
    }
    return sets <= 4;
}

/* Which operands to pack, how many threads, and how to split C.
 * Packing B pays once its micro-panels are reused over enough row tiles
 * (m >= sup_mn), or sooner when its rows alias in L1; packing A pays when its
 * micro-panels are reused over many column tiles. Tiny problems never pack.
 * The thresholds are measured (csrc/tests/test_gemm.c, "small" mode). */
static void ln_gemm_choose(const ln_gemm_blocks *bk, int transa, ptrdiff_t m, ptrdiff_t n,
                           ptrdiff_t k, size_t lda_bytes, size_t ldb_bytes,
                           int *pack_a, int *pack_b, int *nt, int *split_rows)
{
    ptrdiff_t tiles_m = (m + bk->mr - 1) / bk->mr, tiles_n = (n + bk->nr - 1) / bk->nr;
    double work = (double)m * (double)n * (double)k;
    int nth = ln_get_num_threads();
    int big = work >= bk->sup_work;
    switch (ln_force_path) {
    case 1: *pack_a = 0; *pack_b = 0; break;
    case 2: *pack_a = 1; *pack_b = 1; break;
    case 3: *pack_a = 0; *pack_b = 1; break;
    case 4: *pack_a = 1; *pack_b = 0; break;
    default:
        *pack_b = big && tiles_m > 1 && (m >= bk->sup_mn || ln_gemm_ld_aliases(ldb_bytes));
        *pack_a = big && tiles_m > 1 && tiles_n > 2 &&
                  ((*pack_b && n >= bk->sup_pack_a_n) || (transa && ln_gemm_ld_aliases(lda_bytes)));
    }
    if (!ln_force_threads && 2.0 * work < bk->mt_flops) nth = 1;
    *split_rows = m >= n ? tiles_m >= nth || tiles_m >= tiles_n : tiles_n < nth && tiles_m > tiles_n;
    if (*split_rows) { if (tiles_m < nth) nth = (int)tiles_m; }
    else if (tiles_n < nth) nth = (int)tiles_n;
    *nt = nth < 1 ? 1 : nth;
}

/* Threads for a one-row product with a k x n B: more than one only when B
 * is big enough that each thread's share outweighs handing it out. */
static int ln_gemv_threads(const ln_gemm_blocks *bk, ptrdiff_t k, ptrdiff_t n, size_t elem)
{
    int nth = ln_get_num_threads();
    const ptrdiff_t panels = (n + bk->nr - 1) / bk->nr;
    if (!ln_force_threads && (double)k * (double)n * (double)elem < bk->gemv_mt_bytes) nth = 1;
    if (nth > panels) nth = (int)panels;
    return nth < 1 ? 1 : nth;
}

/* m n k up to which a product with one column of C or one k step runs as
 * plain loops (gemm_skinny) instead of on the tiles. */
#define LN_SKINNY_WORK 16384.0

/* ------------------------------------------------------------------ */
/* The two instantiations                                              */
/* ------------------------------------------------------------------ */

#define LN_TEMPLATE "framework/gemm_tmpl.h"
#include "framework/typed.h"

int ln_sgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
             float alpha, const float *A, ptrdiff_t lda,
             const float *B, ptrdiff_t ldb,
             float beta, float *C, ptrdiff_t ldc, const ln_epilogue *epi)
{
    return gemm_run_f32(transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, epi);
}

int ln_dgemm(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
             double alpha, const double *A, ptrdiff_t lda,
             const double *B, ptrdiff_t ldb,
             double beta, double *C, ptrdiff_t ldc, const ln_epilogue *epi)
{
    return gemm_run_f64(transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, epi);
}
