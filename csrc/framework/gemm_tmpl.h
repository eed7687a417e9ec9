/* gemm_tmpl.h: the GEMM algorithm for one element type (instantiated by
 * gemm.c through framework/typed.h). Everything ISA-specific comes from the
 * active table: the tile (blk.mr, blk.nr), the blocks, the micro-kernel, the
 * row kernel and the packers. */

/* Points aux's epilogue operands at tile (i, j) of C: the bias at column j,
 * the kept Z and the derivative's tensor at element (i, j). */
static void FN(aux_at)(FN(ln_aux) *aux, const FN(ln_aux) *aux0, ptrdiff_t i, ptrdiff_t j)
{
    if (aux0->bias) aux->bias = aux0->bias + j;
    if (aux0->zout) aux->zout = aux0->zout + i * aux0->ldz + j;
    if (aux0->sv) aux->sv = aux0->sv + i * aux0->ldsv + j;
}

/* One thread's GEMM on an m x n x k sub-problem: the five loops around the
 * micro-kernel. op(A)(i,p) = A[i*rs_a + p*cs_a], op(B)(p,j) = B[p*rs_b + j*cs_b].
 * pack_a / pack_b choose between packed micro-panels and running the kernel
 * straight on the operands (unpacked B needs cs_b == 1). abuf and bbuf hold
 * at least min(MC, m) x min(KC, k) and min(KC, k) x min(NC, n), rounded up to
 * whole micro-panels. */
static void FN(gemm_serial)(const ln_isa *t, int pack_a, int pack_b,
                            ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            const T *A, ptrdiff_t rs_a, ptrdiff_t cs_a,
                            const T *B, ptrdiff_t rs_b, ptrdiff_t cs_b,
                            T *C, ptrdiff_t ldc, const FN(ln_aux) *aux0,
                            T *abuf, T *bbuf)
{
    const ln_gemm_blocks *bk = &t->TY.blk;
    const int MR = bk->mr, NR = bk->nr;
    const ptrdiff_t MC = bk->mc, NC = bk->nc;
    /* One row tile on unpacked B is a GEMV: each micro-panel reads one line
     * per B row and nothing reuses it, so walk k in short blocks that keep
     * the rows' next lines in L1 for the next micro-panel */
    const ptrdiff_t KC = !pack_b && m <= MR && bk->kc > bk->kc_row ? bk->kc_row : bk->kc;
    FN(ln_aux) aux = *aux0;
    ptrdiff_t jc, pc, ic, jr, ir;

    /* Loop over n, NC columns at a time (a B panel for L3) */
    for (jc = 0; jc < n; jc += NC) {
        const ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        pc = 0;
        /* Loop over k, KC at a time; runs once when k == 0 so beta and the epilogue still apply */
        do {
            const ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            /* beta applies on the first k block only; the epilogue on the last */
            aux.beta = pc == 0 ? aux0->beta : (T)1;
            aux.epi = pc + kc >= k ? aux0->epi : LN_EPI_NONE;
            if (pack_b) t->TY.pack_b(kc, nc, B + pc * rs_b + jc * cs_b, rs_b, cs_b, bbuf);
            /* Loop over m, MC rows at a time (an A block for L2) */
            for (ic = 0; ic < m; ic += MC) {
                const ptrdiff_t mc = m - ic < MC ? m - ic : MC;
                if (pack_a) t->TY.pack_a(mc, kc, A + ic * rs_a + pc * cs_a, rs_a, cs_a, abuf);
                /* Loop over the B panel, NR columns at a time (a micro-panel for L1) */
                for (jr = 0; jr < nc; jr += NR) {
                    const ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;
                    const T *b = pack_b ? bbuf + jr * kc : B + pc * rs_b + jc + jr;
                    ptrdiff_t rsb = pack_b ? NR : rs_b;
                    aux.b_padded = pack_b;
                    if (!pack_b && nr < NR) {
                        /* Unpacked edge panel: pad it so the kernel needs no masked loads */
                        t->TY.pack_b(kc, nr, b, rs_b, 1, bbuf);
                        b = bbuf;
                        rsb = NR;
                        aux.b_padded = 1;
                    }
                    /* Loop over the A block, MR rows at a time: one micro-kernel call per tile */
                    for (ir = 0; ir < mc; ir += MR) {
                        const ptrdiff_t mr = mc - ir < MR ? mc - ir : MR;
                        const T *a = pack_a ? abuf + ir * kc : A + (ic + ir) * rs_a + pc * cs_a;
                        FN(aux_at)(&aux, aux0, ic + ir, jc + jr);
                        t->TY.ukr(kc, mr, nr, a, pack_a ? 1 : rs_a, pack_a ? MR : cs_a,
                                  b, rsb, C + (ic + ir) * ldc + jc + jr, ldc, &aux);
                    }
                }
            }
            pc += kc;
        } while (pc < k);
    }
}

/* C[ic0:ic1, jc0:jc1] on a B packed whole beforehand (bp: for each k block
 * at row pc, its micro-panels from pc * n_pad, panel column jr at
 * jr * kc), packing A per k block into abuf unless pack_a is 0. The
 * threaded path's unit of work: blocks of C are independent, so whichever
 * thread runs one needs nothing from the others. */
static void FN(gemm_on_packed_b)(const ln_isa *t, int pack_a, ptrdiff_t ic0, ptrdiff_t ic1,
                                 ptrdiff_t jc0, ptrdiff_t jc1, ptrdiff_t k,
                                 const T *A, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                 const T *bp, ptrdiff_t n_pad,
                                 T *C, ptrdiff_t ldc, const FN(ln_aux) *aux0, T *abuf)
{
    const ln_gemm_blocks *bk = &t->TY.blk;
    const int MR = bk->mr, NR = bk->nr;
    const ptrdiff_t MC = bk->mc, KC = bk->kc;
    FN(ln_aux) aux = *aux0;
    ptrdiff_t pc = 0, ic, jr, ir;

    aux.b_padded = 1;
    /* Loop over k, KC at a time; runs once when k == 0 */
    do {
        const ptrdiff_t kc = k - pc < KC ? k - pc : KC;
        aux.beta = pc == 0 ? aux0->beta : (T)1;
        aux.epi = pc + kc >= k ? aux0->epi : LN_EPI_NONE;
        /* Loop over the block's rows, MC at a time (an A block for L2) */
        for (ic = ic0; ic < ic1; ic += MC) {
            const ptrdiff_t mc = ic1 - ic < MC ? ic1 - ic : MC;
            if (pack_a) t->TY.pack_a(mc, kc, A + ic * rs_a + pc * cs_a, rs_a, cs_a, abuf);
            /* Loop over the block's columns, one micro-panel at a time */
            for (jr = jc0; jr < jc1; jr += NR) {
                const ptrdiff_t nr = jc1 - jr < NR ? jc1 - jr : NR;
                const T *b = bp + pc * n_pad + jr * kc;
                /* Loop over the A block, MR rows at a time: one micro-kernel call per tile */
                for (ir = 0; ir < mc; ir += MR) {
                    const ptrdiff_t mr = mc - ir < MR ? mc - ir : MR;
                    const T *a = pack_a ? abuf + ir * kc : A + (ic + ir) * rs_a + pc * cs_a;
                    FN(aux_at)(&aux, aux0, ic + ir, jr);
                    t->TY.ukr(kc, mr, nr, a, pack_a ? 1 : rs_a, pack_a ? MR : cs_a, b, NR,
                              C + (ic + ir) * ldc + jr, ldc, &aux);
                }
            }
        }
        pc += kc;
    } while (pc < k);
}

/* A threaded product: the operands, the path, and how the work is cut into
 * items (ln_pool_run hands each item to whichever thread claims it). */
typedef struct {
    const ln_isa *t;
    int pack_a, pack_b;
    ptrdiff_t m, n, k;
    const T *A;
    ptrdiff_t rs_a, cs_a;
    const T *B;
    ptrdiff_t rs_b, cs_b;
    T *C;
    ptrdiff_t ldc;
    const FN(ln_aux) *aux;
    ln_gemm_plan *plan;
    ln_cuts rows, cols;          /* how C's rows and columns are cut into items */
    int by_rows;                 /* slab items: row slabs, else column slabs */
    T *bp;                       /* B packed whole (shared-B path) */
    ptrdiff_t n_pad;             /* its row length: n rounded up to whole micro-panels */
    ln_cuts pack;                /* B's columns per packing item (shared-B path) */
    ptrdiff_t k_blocks;          /* B's k blocks (at least 1) */
} FN(gemm_job);

/* Packing item: k block i % k_blocks of column item i / k_blocks of B.
 * Each share of the pool then holds some columns of every k block, so a
 * short last k block (784 = 512 + 272) does not leave one share lighter. */
static void FN(pack_b_item)(void *ctx, ptrdiff_t i, int slot)
{
    const FN(gemm_job) *g = (const FN(gemm_job) *)ctx;
    const ptrdiff_t KC = g->t->TY.blk.kc;
    const ptrdiff_t pc = i % g->k_blocks * KC, c = i / g->k_blocks;
    const ptrdiff_t j0 = ln_cut_at(&g->pack, c), j1 = ln_cut_at(&g->pack, c + 1);
    const ptrdiff_t kc = g->k - pc < KC ? g->k - pc : KC;
    (void)slot;
    if (j1 > j0 && kc > 0)
        g->t->TY.pack_b(kc, j1 - j0, g->B + pc * g->rs_b + j0 * g->cs_b, g->rs_b, g->cs_b,
                        g->bp + pc * g->n_pad + j0 * kc);
}

/* Block item on the packed B: item i is row item i % rows.count of column item i / rows.count. */
static void FN(block_item)(void *ctx, ptrdiff_t i, int slot)
{
    const FN(gemm_job) *g = (const FN(gemm_job) *)ctx;
    const ptrdiff_t r = i % g->rows.count, c = i / g->rows.count;
    const ptrdiff_t ic0 = ln_cut_at(&g->rows, r), ic1 = ln_cut_at(&g->rows, r + 1);
    const ptrdiff_t jc0 = ln_cut_at(&g->cols, c), jc1 = ln_cut_at(&g->cols, c + 1);
    FN(gemm_on_packed_b)(g->t, g->pack_a, ic0, ic1, jc0, jc1, g->k, g->A, g->rs_a, g->cs_a,
                         g->bp, g->n_pad, g->C, g->ldc, g->aux, (T *)g->plan->a[slot]);
}

/* Slab item: row item i of C, or column item i unless by_rows, by the
 * serial algorithm with this thread's buffers. */
static void FN(slab_item)(void *ctx, ptrdiff_t i, int slot)
{
    const FN(gemm_job) *g = (const FN(gemm_job) *)ctx;
    FN(ln_aux) aux = *g->aux;
    if (g->by_rows) {
        const ptrdiff_t lo = ln_cut_at(&g->rows, i), hi = ln_cut_at(&g->rows, i + 1);
        FN(aux_at)(&aux, g->aux, lo, 0);
        FN(gemm_serial)(g->t, g->pack_a, g->pack_b, hi - lo, g->n, g->k, g->A + lo * g->rs_a, g->rs_a,
                        g->cs_a, g->B, g->rs_b, g->cs_b, g->C + lo * g->ldc, g->ldc, &aux,
                        (T *)g->plan->a[slot], (T *)g->plan->b[slot]);
    } else {
        const ptrdiff_t lo = ln_cut_at(&g->cols, i), hi = ln_cut_at(&g->cols, i + 1);
        FN(aux_at)(&aux, g->aux, 0, lo);
        FN(gemm_serial)(g->t, g->pack_a, g->pack_b, g->m, hi - lo, g->k, g->A, g->rs_a, g->cs_a,
                        g->B + lo * g->cs_b, g->rs_b, g->cs_b, g->C + lo, g->ldc, &aux,
                        (T *)g->plan->a[slot], (T *)g->plan->b[slot]);
    }
}

/* A one-row product's description for its column items. */
typedef struct {
    const ln_isa *t;
    ptrdiff_t k, n;
    ln_cuts cols;
    const T *A;
    ptrdiff_t cs_a;
    const T *B;
    ptrdiff_t rs_b;
    T *C;
    const FN(ln_aux) *aux;
} FN(gemv_job);

static void FN(gemv_item)(void *ctx, ptrdiff_t i, int slot)
{
    const FN(gemv_job) *g = (const FN(gemv_job) *)ctx;
    const ptrdiff_t lo = ln_cut_at(&g->cols, i), hi = ln_cut_at(&g->cols, i + 1);
    FN(ln_aux) aux = *g->aux;
    (void)slot;
    FN(aux_at)(&aux, g->aux, 0, lo);
    g->t->TY.gemv(g->k, hi - lo, g->A, g->cs_a, g->B + lo, g->rs_b, g->C + lo, &aux);
}

/* One row of C (m == 1) on row-major B: the row kernel, with the columns
 * cut into one item per thread when B is big enough to repay the threads.
 * Each thread then streams its own share of every B row, from its own
 * core's cache on repeated calls; narrower items run the row kernel on
 * short column blocks (batch-1 784-256-128-10 predict 1.5x slower with 4
 * items per thread). A late helper's item is still taken by the caller. */
static void FN(gemv_run)(const ln_isa *t, ptrdiff_t k, ptrdiff_t n,
                         const T *A, ptrdiff_t cs_a, const T *B, ptrdiff_t rs_b,
                         T *C, const FN(ln_aux) *aux)
{
    const ln_gemm_blocks *bk = &t->TY.blk;
    const int nt = ln_gemv_threads(bk, k, n, sizeof(T));
    FN(gemv_job) g;
    if (nt <= 1) {
        t->TY.gemv(k, n, A, cs_a, B, rs_b, C, aux);
        return;
    }
    g.t = t; g.k = k; g.n = n; g.A = A; g.cs_a = cs_a; g.B = B; g.rs_b = rs_b; g.C = C; g.aux = aux;
    g.cols = ln_cuts_make(n, bk->nr, nt, nt, 0);
    ln_pool_run(nt, g.cols.count, FN(gemv_item), &g);
}

/* A product with one column of C (n == 1) or at most one k step, small
 * enough (m n k <= LN_SKINNY_WORK) that the tiles' fixed costs dominate:
 * an edge micro-panel padded to NR columns and masked partial tiles took
 * 720 ns for a 32 x 1 x 16 product (a 1-unit output layer), against about
 * 100 ns for these loops. The epilogue then runs on the stored block. */
static void FN(gemm_skinny)(const ln_isa *t, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            const T *A, ptrdiff_t rs_a, ptrdiff_t cs_a,
                            const T *B, ptrdiff_t rs_b, ptrdiff_t cs_b,
                            T *C, ptrdiff_t ldc, const FN(ln_aux) *aux)
{
    const T alpha = aux->alpha, beta = aux->beta;
    ptrdiff_t i, j, p;
    if (k <= 1) {
        /* An outer product, or with k == 0 C = beta C (A and B unread);
         * unit strides spelled out so the column loop vectorizes */
        for (i = 0; i < m; ++i) {
            const T a = k ? alpha * A[i * rs_a] : 0;
            T *LN_RESTRICT c = C + i * ldc;
            if (k == 0) for (j = 0; j < n; ++j) c[j] = beta != 0 ? beta * c[j] : 0;
            else if (cs_b == 1 && beta == 0) for (j = 0; j < n; ++j) c[j] = a * B[j];
            else if (cs_b == 1) for (j = 0; j < n; ++j) c[j] = a * B[j] + beta * c[j];
            else for (j = 0; j < n; ++j) c[j] = a * B[j * cs_b] + (beta != 0 ? beta * c[j] : 0);
        }
    } else if (rs_a == 1 && ldc == 1) {
        /* One contiguous column, A stored transposed: add k scaled columns of A */
        T *LN_RESTRICT c = C;
        for (i = 0; i < m; ++i) c[i] = beta != 0 ? beta * c[i] : 0;
        for (p = 0; p < k; ++p) {
            const T s = alpha * B[p * rs_b];
            const T *LN_RESTRICT a = A + p * cs_a;
            for (i = 0; i < m; ++i) c[i] += s * a[i];
        }
    } else {
        /* One column: dot products, four rows at a time so four sums are in flight */
        for (i = 0; i < m; i += 4) {
            const ptrdiff_t rows = m - i < 4 ? m - i : 4;
            const T *a0 = A + i * rs_a;
            const T *a1 = rows > 1 ? a0 + rs_a : a0, *a2 = rows > 2 ? a0 + 2 * rs_a : a0;
            const T *a3 = rows > 3 ? a0 + 3 * rs_a : a0;
            T s0 = 0, s1 = 0, s2 = 0, s3 = 0, sum[4];
            int r;
            for (p = 0; p < k; ++p) {
                const T b = B[p * rs_b];
                s0 += a0[p * cs_a] * b;
                s1 += a1[p * cs_a] * b;
                s2 += a2[p * cs_a] * b;
                s3 += a3[p * cs_a] * b;
            }
            sum[0] = s0; sum[1] = s1; sum[2] = s2; sum[3] = s3;
            for (r = 0; r < rows; ++r) {
                T *c = C + (i + r) * ldc;
                *c = beta != 0 ? alpha * sum[r] + beta * *c : alpha * sum[r];
            }
        }
    }
    if (aux->epi != LN_EPI_NONE) t->TY.epi(m, n, C, ldc, aux);
}

/* The public entry: validate nothing (Python did), pick the path and the
 * thread split, make sure this caller's workspace is big enough, run. */
static int FN(gemm_run)(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                        T alpha, const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb,
                        T beta, T *C, ptrdiff_t ldc, const ln_epilogue *epi)
{
    const ln_isa *t;
    const ln_gemm_blocks *bk;
    FN(ln_aux) aux;
    ptrdiff_t rs_a, cs_a, rs_b, cs_b;
    int pack_a, pack_b, split_rows, nt;
    ln_gemm_plan plan;

    if (m <= 0 || n <= 0) return LN_OK;
    t = ln_isa_active();
    bk = &t->TY.blk;

    aux.alpha = alpha;
    aux.beta = beta;
    aux.b_padded = 0;
    aux.epi = epi ? epi->kind : LN_EPI_NONE;
    aux.act = epi ? epi->act : LN_ACT_identity;
    aux.bias = epi && aux.epi == LN_EPI_BIAS_ACT ? (const T *)epi->bias : 0;
    aux.zout = epi && aux.epi == LN_EPI_BIAS_ACT ? (T *)epi->zout : 0;
    aux.ldz = epi ? epi->ldz : 0;
    aux.sv = epi && aux.epi == LN_EPI_DACT ? (const T *)epi->saved : 0;
    aux.ldsv = epi ? epi->ld_saved : 0;
    /* DACT with identity, and BIAS_ACT with no bias, no kept Z and identity, change nothing */
    if (aux.epi == LN_EPI_DACT && aux.act == LN_ACT_identity) aux.epi = LN_EPI_NONE;
    if (aux.epi == LN_EPI_BIAS_ACT && !aux.bias && !aux.zout && aux.act == LN_ACT_identity)
        aux.epi = LN_EPI_NONE;
    if (aux.epi == LN_EPI_NONE) aux.bias = aux.zout = 0, aux.sv = 0;
    /* As in BLAS, alpha == 0 does not read A or B */
    if (alpha == 0 || k < 0) k = 0;

    /* Strides of op(A) (m x k) and op(B) (k x n) */
    rs_a = transa ? 1 : lda;  cs_a = transa ? lda : 1;
    rs_b = transb ? 1 : ldb;  cs_b = transb ? ldb : 1;

    if ((n == 1 || k <= 1) && (double)m * (double)n * (double)k <= LN_SKINNY_WORK
        && !ln_gemm_forced_path()) {
        FN(gemm_skinny)(t, m, n, k, A, rs_a, cs_a, B, rs_b, cs_b, C, ldc, &aux);
        return LN_OK;
    }
    if (m == 1 && cs_b == 1 && !ln_gemm_forced_path()) {
        FN(gemv_run)(t, k, n, A, cs_a, B, rs_b, C, &aux);
        return LN_OK;
    }

    ln_gemm_choose(bk, transa, m, n, k, (size_t)lda * sizeof(T), (size_t)ldb * sizeof(T),
                   &pack_a, &pack_b, &nt, &split_rows);
    if (transb) pack_b = 1;   /* the kernel needs B rows contiguous */

    if (nt > 1) {
        FN(gemm_job) g;
        size_t abytes, bbytes = 0, shared = 0;
        const ptrdiff_t kb = k < bk->kc ? k : bk->kc;
        g.t = t; g.pack_a = pack_a; g.pack_b = pack_b; g.m = m; g.n = n; g.k = k;
        g.A = A; g.rs_a = rs_a; g.cs_a = cs_a; g.B = B; g.rs_b = rs_b; g.cs_b = cs_b;
        g.C = C; g.ldc = ldc; g.aux = &aux; g.plan = &plan;
        g.bp = 0;
        g.n_pad = (n + bk->nr - 1) / bk->nr * bk->nr;
        g.by_rows = 1;
        g.cols = ln_cuts_make(n, bk->nr, 1, 1, 0);
        if (pack_b) {
            /* Packed B is shared: pack it whole (one job), then blocks of C (another) */
            const ptrdiff_t tiles_m = (m + bk->mr - 1) / bk->mr, tiles_n = (n + bk->nr - 1) / bk->nr;
            if (tiles_m % nt && tiles_m < 8 * nt && tiles_n % nt == 0) {
                /* Few row tiles that do not divide among the threads, where the
                 * odd one costs a share more than 1/8 (64 rows are 11 tiles:
                 * shares of 5 and 6), while the column panels divide: each
                 * thread takes its own columns of every row */
                g.rows = ln_cuts_make(m, bk->mr, LN_POOL_ITEMS_PER_THREAD, 1, bk->mc);
                g.cols = ln_cuts_make(n, bk->nr, nt, nt, bk->nc);
            } else {
                g.rows = ln_cuts_make(m, bk->mr, LN_POOL_ITEMS_PER_THREAD * nt, nt, bk->mc);
                g.cols = ln_cuts_make(n, bk->nr, 1, 1, bk->nc);
            }
            g.pack = ln_cuts_make(n, bk->nr, LN_POOL_ITEMS_PER_THREAD * nt, nt, 0);
            if (ln_size_bytes(k < 1 ? 1 : k, g.n_pad, sizeof(T), &shared) != 0) return LN_ERR_NOMEM;
        } else if (split_rows) {
            g.rows = ln_cuts_make(m, bk->mr, LN_POOL_ITEMS_PER_THREAD * nt, nt, 0);
        } else {
            /* Column slabs of unpacked B: one per thread, as in gemv_run */
            g.by_rows = 0;
            g.rows = ln_cuts_make(m, bk->mr, 1, 1, 0);
            g.cols = ln_cuts_make(n, bk->nr, nt, nt, 0);
        }
        /* Per-thread buffers: an A block, and on unpacked B one micro-panel for its edge */
        {
            const ptrdiff_t longest = ln_cut_longest(&g.rows);
            const ptrdiff_t ma = longest < bk->mc ? longest : bk->mc;
            abytes = pack_a ? (size_t)(ma + bk->mr) * (size_t)kb * sizeof(T) : 0;
            bbytes = pack_b ? 0 : (size_t)bk->nr * (size_t)kb * sizeof(T);
        }
        if (ln_gemm_ws_reserve(&plan, nt, abytes, bbytes, shared) != LN_OK) return LN_ERR_NOMEM;
        if (pack_b) {
            g.bp = (T *)plan.shared;
            g.k_blocks = k > 0 ? (k + bk->kc - 1) / bk->kc : 1;
            ln_pool_run(nt, g.k_blocks * g.pack.count, FN(pack_b_item), &g);
            ln_pool_run(nt, g.rows.count * g.cols.count, FN(block_item), &g);
        } else {
            ln_pool_run(nt, g.by_rows ? g.rows.count : g.cols.count, FN(slab_item), &g);
        }
        ln_gemm_ws_release(&plan);
        return LN_OK;
    }

    /* One thread. Workspace: sized for the whole problem */
    {
        const ptrdiff_t kb = k < bk->kc ? k : bk->kc;
        const ptrdiff_t ma = m < bk->mc ? m : bk->mc;
        const ptrdiff_t nb = n < bk->nc ? n : bk->nc;
        const size_t abytes = pack_a ? (size_t)(ma + bk->mr) * (size_t)kb * sizeof(T) : 0;
        /* unpacked B still needs one micro-panel for its edge */
        const size_t bbytes = (size_t)(pack_b ? nb + bk->nr : bk->nr) * (size_t)kb * sizeof(T);
        if (ln_gemm_ws_reserve(&plan, 1, abytes, bbytes, 0) != LN_OK) return LN_ERR_NOMEM;
    }
    FN(gemm_serial)(t, pack_a, pack_b, m, n, k, A, rs_a, cs_a, B, rs_b, cs_b,
                    C, ldc, &aux, (T *)plan.a[0], (T *)plan.b[0]);
    ln_gemm_ws_release(&plan);
    return LN_OK;
}
