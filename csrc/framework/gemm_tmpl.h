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

#ifdef _OPENMP
/* The same loops for one thread of a team that splits C by rows: the team
 * packs each B panel together into one shared buffer (each thread a share of
 * its micro-panels), waits, then every thread runs its own rows [lo, hi)
 * against it with a private A block. Every thread meets every barrier,
 * including one with no rows. */
static void FN(gemm_team)(const ln_isa *t, int tid, int nth, ptrdiff_t lo, ptrdiff_t hi,
                          ptrdiff_t n, ptrdiff_t k,
                          const T *A, ptrdiff_t rs_a, ptrdiff_t cs_a,
                          const T *B, ptrdiff_t rs_b, ptrdiff_t cs_b,
                          T *C, ptrdiff_t ldc, const FN(ln_aux) *aux0,
                          T *abuf, T *bshared)
{
    const ln_gemm_blocks *bk = &t->TY.blk;
    const int MR = bk->mr, NR = bk->nr;
    const ptrdiff_t MC = bk->mc, KC = bk->kc, NC = bk->nc;
    FN(ln_aux) aux = *aux0;
    ptrdiff_t jc, pc, ic, jr, ir;

    aux.b_padded = 1;
    /* Loop over n, NC columns at a time (a B panel for L3) */
    for (jc = 0; jc < n; jc += NC) {
        const ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        const ptrdiff_t panels = (nc + NR - 1) / NR;
        const ptrdiff_t p0 = panels * tid / nth, p1 = panels * (tid + 1) / nth;
        pc = 0;
        /* Loop over k, KC at a time; runs once when k == 0 */
        do {
            const ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            aux.beta = pc == 0 ? aux0->beta : (T)1;
            aux.epi = pc + kc >= k ? aux0->epi : LN_EPI_NONE;
            /* This thread's share of the B panel's micro-panels */
            if (p1 > p0) {
                const ptrdiff_t c1 = p1 * NR < nc ? p1 * NR : nc;
                t->TY.pack_b(kc, c1 - p0 * NR, B + pc * rs_b + (jc + p0 * NR) * cs_b, rs_b, cs_b,
                             bshared + p0 * NR * kc);
            }
#pragma omp barrier
            /* Loop over this thread's rows, MC at a time (an A block for L2) */
            for (ic = lo; ic < hi; ic += MC) {
                const ptrdiff_t mc = hi - ic < MC ? hi - ic : MC;
                t->TY.pack_a(mc, kc, A + ic * rs_a + pc * cs_a, rs_a, cs_a, abuf);
                /* Loop over the B panel, NR columns at a time (a micro-panel for L1) */
                for (jr = 0; jr < nc; jr += NR) {
                    const ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;
                    const T *b = bshared + jr * kc;
                    /* Loop over the A block, MR rows at a time: one micro-kernel call per tile */
                    for (ir = 0; ir < mc; ir += MR) {
                        const ptrdiff_t mr = mc - ir < MR ? mc - ir : MR;
                        FN(aux_at)(&aux, aux0, ic + ir, jc + jr);
                        t->TY.ukr(kc, mr, nr, abuf + ir * kc, 1, MR, b, NR,
                                  C + (ic + ir) * ldc + jc + jr, ldc, &aux);
                    }
                }
            }
            /* The panel is repacked next: wait until everyone is done with it */
#pragma omp barrier
            pc += kc;
        } while (pc < k);
    }
}
#endif

/* One row of C (m == 1) on row-major B: the row kernel, with the columns
 * split across threads when B is big enough to repay the fork (each thread
 * then streams its own share of every B row, from its own core's cache on
 * repeated calls). */
static void FN(gemv_run)(const ln_isa *t, ptrdiff_t k, ptrdiff_t n,
                         const T *A, ptrdiff_t cs_a, const T *B, ptrdiff_t rs_b,
                         T *C, const FN(ln_aux) *aux)
{
    const ln_gemm_blocks *bk = &t->TY.blk;
    const int nt = ln_gemv_threads(bk, k, n, sizeof(T));
    if (nt <= 1) {
        t->TY.gemv(k, n, A, cs_a, B, rs_b, C, aux);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        ptrdiff_t lo, hi;
        FN(ln_aux) a2 = *aux;
        ln_gemm_range(n, bk->nr, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        FN(aux_at)(&a2, aux, 0, lo);
        if (hi > lo) t->TY.gemv(k, hi - lo, A, cs_a, B + lo, rs_b, C + lo, &a2);
    }
#endif
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

    if (m == 1 && cs_b == 1 && !ln_gemm_forced_path()) {
        FN(gemv_run)(t, k, n, A, cs_a, B, rs_b, C, &aux);
        return LN_OK;
    }

    ln_gemm_choose(bk, transa, m, n, k, (size_t)lda * sizeof(T), (size_t)ldb * sizeof(T),
                   &pack_a, &pack_b, &nt, &split_rows);
    if (transb) pack_b = 1;   /* the kernel needs B rows contiguous */

    /* Workspace: sized for the whole problem, so any thread split fits */
    {
        const ptrdiff_t kb = k < bk->kc ? k : bk->kc;
        const ptrdiff_t ma = m < bk->mc ? m : bk->mc;
        const ptrdiff_t nb = n < bk->nc ? n : bk->nc;
        const size_t abytes = pack_a ? (size_t)(ma + bk->mr) * (size_t)kb * sizeof(T) : 0;
        /* unpacked B still needs one micro-panel for its edge */
        const size_t bbytes = (size_t)(pack_b ? nb + bk->nr : bk->nr) * (size_t)kb * sizeof(T);
        if (ln_gemm_ws_reserve(&plan, nt, abytes, bbytes) != LN_OK) return LN_ERR_NOMEM;
    }

    if (nt == 1) {
        FN(gemm_serial)(t, pack_a, pack_b, m, n, k, A, rs_a, cs_a, B, rs_b, cs_b,
                        C, ldc, &aux, (T *)plan.a[0], (T *)plan.b[0]);
    }
#ifdef _OPENMP
    else {
        /* Each thread takes a slab of C (rows, or columns when m is short).
         * Packed row slabs share the B panel; otherwise each thread runs the
         * serial algorithm on its slab with its own buffers. */
#pragma omp parallel num_threads(nt)
        {
            const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
            ptrdiff_t lo, hi;
            FN(ln_aux) a2 = aux;
            if (split_rows && pack_a && pack_b) {
                /* Large problems: one shared B panel, rows split */
                ln_gemm_range(m, bk->mr, tid, nth, &lo, &hi);
                FN(gemm_team)(t, tid, nth, lo, hi, n, k, A, rs_a, cs_a, B, rs_b, cs_b, C, ldc, &aux,
                              (T *)plan.a[tid], (T *)plan.b[0]);
            } else if (split_rows) {
                ln_gemm_range(m, bk->mr, tid, nth, &lo, &hi);
                FN(aux_at)(&a2, &aux, lo, 0);
                if (hi > lo)
                    FN(gemm_serial)(t, pack_a, pack_b, hi - lo, n, k, A + lo * rs_a, rs_a, cs_a,
                                    B, rs_b, cs_b, C + lo * ldc, ldc, &a2,
                                    (T *)plan.a[tid], (T *)plan.b[tid]);
            } else {
                ln_gemm_range(n, bk->nr, tid, nth, &lo, &hi);
                FN(aux_at)(&a2, &aux, 0, lo);
                if (hi > lo)
                    FN(gemm_serial)(t, pack_a, pack_b, m, hi - lo, k, A, rs_a, cs_a,
                                    B + lo * cs_b, rs_b, cs_b, C + lo, ldc, &a2,
                                    (T *)plan.a[tid], (T *)plan.b[tid]);
            }
        }
    }
#endif
    ln_gemm_ws_release(&plan);
    return LN_OK;
}
