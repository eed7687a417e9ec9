/* gemm_tmpl.h: the GEMM algorithm for one element type.
 *
 * Included by gemm.c once per type with these macros defined:
 *   LN_T       element type          LN_AUX   micro-kernel aux struct
 *   LN_BLK     ln_isa_table field with the blocks (sblk / dblk)
 *   LN_UKR     ln_isa_table field with the micro-kernel (sgemm_ukr / dgemm_ukr)
 *   LN_GEMV    ln_isa_table field with the row kernel (sgemv / dgemv)
 *   LN_FN(x)   names a function of this type
 * No include guard: it is meant to be included more than once.
 */

/* Pack an mc x kc block of op(A) into MR-row micro-panels: panel r holds rows
 * r*MR.. as kc columns of MR contiguous elements, zero-padded past mc. */
static void LN_FN(pack_a)(ptrdiff_t mc, ptrdiff_t kc, const LN_T *LN_RESTRICT a,
                          ptrdiff_t rs_a, ptrdiff_t cs_a, int MR, LN_T *LN_RESTRICT ap)
{
    ptrdiff_t ir, i, p;
    /* Loop over the block, MR rows at a time */
    for (ir = 0; ir < mc; ir += MR) {
        ptrdiff_t mr = mc - ir < MR ? mc - ir : MR;
        const LN_T *ai = a + ir * rs_a;
        if (mr == 6 && MR == 6 && cs_a == 1) {
            /* Full panel, rows contiguous in k: six row streams, one column out per step */
            const LN_T *a0 = ai, *a1 = ai + rs_a, *a2 = ai + 2 * rs_a;
            const LN_T *a3 = ai + 3 * rs_a, *a4 = ai + 4 * rs_a, *a5 = ai + 5 * rs_a;
            for (p = 0; p < kc; ++p) {
                ap[p * 6 + 0] = a0[p]; ap[p * 6 + 1] = a1[p]; ap[p * 6 + 2] = a2[p];
                ap[p * 6 + 3] = a3[p]; ap[p * 6 + 4] = a4[p]; ap[p * 6 + 5] = a5[p];
            }
        } else if (rs_a == 1) {
            /* Transposed A: a panel column is mr contiguous elements */
            for (p = 0; p < kc; ++p) {
                for (i = 0; i < mr; ++i) ap[p * MR + i] = ai[i + p * cs_a];
                for (; i < MR; ++i) ap[p * MR + i] = 0;
            }
        } else {
            /* Loop over the panel's rows: read along k, write with stride MR */
            for (i = 0; i < mr; ++i)
                for (p = 0; p < kc; ++p) ap[p * MR + i] = ai[i * rs_a + p * cs_a];
            for (; i < MR; ++i)
                for (p = 0; p < kc; ++p) ap[p * MR + i] = 0;
        }
        ap += (ptrdiff_t)MR * kc;
    }
}

/* Pack a kc x nc panel of op(B) into NR-column micro-panels: panel r holds
 * columns r*NR.. as kc rows of NR contiguous elements, zero-padded past nc. */
static void LN_FN(pack_b)(ptrdiff_t kc, ptrdiff_t nc, const LN_T *LN_RESTRICT b,
                          ptrdiff_t rs_b, ptrdiff_t cs_b, int NR, LN_T *LN_RESTRICT bp)
{
    ptrdiff_t jr, j, p;
    /* Loop over the panel, NR columns at a time */
    for (jr = 0; jr < nc; jr += NR) {
        ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;
        const LN_T *bj = b + jr * cs_b;
        if (cs_b == 1 && nr == 16 && NR == 16) {
            /* Full panel, rows contiguous: a fixed-size copy compiles to vector moves */
            for (p = 0; p < kc; ++p)
                for (j = 0; j < 16; ++j) bp[p * 16 + j] = bj[p * rs_b + j];
        } else if (cs_b == 1 && nr == 8 && NR == 8) {
            for (p = 0; p < kc; ++p)
                for (j = 0; j < 8; ++j) bp[p * 8 + j] = bj[p * rs_b + j];
        } else if (cs_b == 1) {
            /* Edge panel, rows contiguous: copy nr elements per k step */
            for (p = 0; p < kc; ++p) {
                const LN_T *src = bj + p * rs_b;
                LN_T *dst = bp + p * NR;
                for (j = 0; j < nr; ++j) dst[j] = src[j];
                for (; j < NR; ++j) dst[j] = 0;
            }
        } else {
            /* Transposed B: gather one k step across the nr stored rows, so the
             * panel is written in order; each row's cache line serves the next
             * k steps. (Walking each stored row along k instead writes with
             * stride NR; those stores took most of the packing time.) */
            for (p = 0; p < kc; ++p) {
                const LN_T *src = bj + p * rs_b;
                LN_T *dst = bp + p * NR;
                for (j = 0; j < nr; ++j) dst[j] = src[j * cs_b];
                for (; j < NR; ++j) dst[j] = 0;
            }
        }
        bp += (ptrdiff_t)NR * kc;
    }
}

/* One thread's GEMM on an m x n x k sub-problem: the five loops around the
 * micro-kernel. op(A)(i,p) = A[i*rs_a + p*cs_a], op(B)(p,j) = B[p*rs_b + j*cs_b].
 * pack_a / pack_b choose between packed micro-panels and running the kernel
 * straight on the operands (unpacked B needs cs_b == 1). abuf and bbuf hold
 * at least min(MC, m) x min(KC, k) and min(KC, k) x min(NC, n), rounded up to
 * whole micro-panels. */
static void LN_FN(gemm_serial)(const ln_isa_table *t, int pack_a, int pack_b,
                               ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                               const LN_T *A, ptrdiff_t rs_a, ptrdiff_t cs_a,
                               const LN_T *B, ptrdiff_t rs_b, ptrdiff_t cs_b,
                               LN_T *C, ptrdiff_t ldc, const LN_AUX *aux0,
                               LN_T *abuf, LN_T *bbuf)
{
    const ln_gemm_blocks *bk = &t->LN_BLK;
    const int MR = bk->mr, NR = bk->nr;
    const ptrdiff_t MC = bk->mc, NC = bk->nc;
    /* One row tile on unpacked B is a GEMV: each micro-panel reads one line
     * per B row and nothing reuses it, so walk k in short blocks that keep
     * the rows' next lines in L1 for the next micro-panel (measured: f64
     * 1x256x784 2.2x faster; longer blocks pay off once B is reused) */
    const ptrdiff_t KC = !pack_b && m <= MR && bk->kc > LN_GEMV_KC ? LN_GEMV_KC : bk->kc;
    const LN_T *bias0 = aux0->epi == LN_EPI_BIAS_ACT ? aux0->bias : 0;
    const LN_T *h0 = aux0->epi == LN_EPI_DACT ? aux0->h : 0;
    LN_AUX aux = *aux0;
    ptrdiff_t jc, pc, ic, jr, ir;

    /* Loop over n, NC columns at a time (a B panel for L3) */
    for (jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        pc = 0;
        /* Loop over k, KC at a time; runs once when k == 0 so beta and the epilogue still apply */
        do {
            ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            /* beta applies on the first k block only; the epilogue on the last */
            aux.beta = pc == 0 ? aux0->beta : (LN_T)1;
            aux.epi = pc + kc >= k ? aux0->epi : LN_EPI_NONE;
            if (pack_b) LN_FN(pack_b)(kc, nc, B + pc * rs_b + jc * cs_b, rs_b, cs_b, NR, bbuf);
            /* Loop over m, MC rows at a time (an A block for L2) */
            for (ic = 0; ic < m; ic += MC) {
                ptrdiff_t mc = m - ic < MC ? m - ic : MC;
                if (pack_a) LN_FN(pack_a)(mc, kc, A + ic * rs_a + pc * cs_a, rs_a, cs_a, MR, abuf);
                /* Loop over the B panel, NR columns at a time (a micro-panel for L1) */
                for (jr = 0; jr < nc; jr += NR) {
                    ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;
                    const LN_T *b = pack_b ? bbuf + jr * kc : B + pc * rs_b + jc + jr;
                    ptrdiff_t rsb = pack_b ? NR : rs_b;
                    aux.b_padded = pack_b;
                    if (!pack_b && nr < NR) {
                        /* Unpacked edge panel: pad it so the kernel needs no masked loads */
                        LN_FN(pack_b)(kc, nr, b, rs_b, 1, NR, bbuf);
                        b = bbuf;
                        rsb = NR;
                        aux.b_padded = 1;
                    }
                    LN_T *cj = C + jc + jr;
                    if (bias0) aux.bias = bias0 + jc + jr;
                    /* Loop over the A block, MR rows at a time: one micro-kernel call per tile */
                    for (ir = 0; ir < mc; ir += MR) {
                        ptrdiff_t mr = mc - ir < MR ? mc - ir : MR;
                        const LN_T *a = pack_a ? abuf + ir * kc : A + (ic + ir) * rs_a + pc * cs_a;
                        if (h0) aux.h = h0 + (ic + ir) * aux0->ldh + jc + jr;
                        t->LN_UKR(kc, mr, nr, a, pack_a ? 1 : rs_a, pack_a ? MR : cs_a,
                                  b, rsb, cj + (ic + ir) * ldc, ldc, &aux);
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
static void LN_FN(gemm_team)(const ln_isa_table *t, int tid, int nth, ptrdiff_t lo, ptrdiff_t hi,
                             ptrdiff_t n, ptrdiff_t k,
                             const LN_T *A, ptrdiff_t rs_a, ptrdiff_t cs_a,
                             const LN_T *B, ptrdiff_t rs_b, ptrdiff_t cs_b,
                             LN_T *C, ptrdiff_t ldc, const LN_AUX *aux0,
                             LN_T *abuf, LN_T *bshared)
{
    const ln_gemm_blocks *bk = &t->LN_BLK;
    const int MR = bk->mr, NR = bk->nr;
    const ptrdiff_t MC = bk->mc, KC = bk->kc, NC = bk->nc;
    const LN_T *bias0 = aux0->epi == LN_EPI_BIAS_ACT ? aux0->bias : 0;
    const LN_T *h0 = aux0->epi == LN_EPI_DACT ? aux0->h : 0;
    LN_AUX aux = *aux0;
    ptrdiff_t jc, pc, ic, jr, ir;

    aux.b_padded = 1;
    /* Loop over n, NC columns at a time (a B panel for L3) */
    for (jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        ptrdiff_t panels = (nc + NR - 1) / NR;
        ptrdiff_t p0 = panels * tid / nth, p1 = panels * (tid + 1) / nth;
        pc = 0;
        /* Loop over k, KC at a time; runs once when k == 0 */
        do {
            ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            aux.beta = pc == 0 ? aux0->beta : (LN_T)1;
            aux.epi = pc + kc >= k ? aux0->epi : LN_EPI_NONE;
            /* This thread's share of the B panel's micro-panels */
            if (p1 > p0) {
                ptrdiff_t c1 = p1 * NR < nc ? p1 * NR : nc;
                LN_FN(pack_b)(kc, c1 - p0 * NR, B + pc * rs_b + (jc + p0 * NR) * cs_b, rs_b, cs_b, NR,
                              bshared + p0 * NR * kc);
            }
#pragma omp barrier
            /* Loop over this thread's rows, MC at a time (an A block for L2) */
            for (ic = lo; ic < hi; ic += MC) {
                ptrdiff_t mc = hi - ic < MC ? hi - ic : MC;
                LN_FN(pack_a)(mc, kc, A + ic * rs_a + pc * cs_a, rs_a, cs_a, MR, abuf);
                /* Loop over the B panel, NR columns at a time (a micro-panel for L1) */
                for (jr = 0; jr < nc; jr += NR) {
                    ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;
                    const LN_T *b = bshared + jr * kc;
                    LN_T *cj = C + jc + jr;
                    if (bias0) aux.bias = bias0 + jc + jr;
                    /* Loop over the A block, MR rows at a time: one micro-kernel call per tile */
                    for (ir = 0; ir < mc; ir += MR) {
                        ptrdiff_t mr = mc - ir < MR ? mc - ir : MR;
                        if (h0) aux.h = h0 + (ic + ir) * aux0->ldh + jc + jr;
                        t->LN_UKR(kc, mr, nr, abuf + ir * kc, 1, MR, b, NR,
                                  cj + (ic + ir) * ldc, ldc, &aux);
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
static void LN_FN(gemv_run)(const ln_isa_table *t, ptrdiff_t k, ptrdiff_t n,
                            const LN_T *A, ptrdiff_t cs_a, const LN_T *B, ptrdiff_t rs_b,
                            LN_T *C, const LN_AUX *aux)
{
    int nt = ln_gemv_threads(k, n, sizeof(LN_T));
    if (nt <= 1) {
        t->LN_GEMV(k, n, A, cs_a, B, rs_b, C, aux);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        ptrdiff_t lo, hi;
        LN_AUX a2 = *aux;
        ln_gemm_range(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (a2.bias) a2.bias += lo;
        if (a2.h) a2.h += lo;
        if (hi > lo) t->LN_GEMV(k, hi - lo, A, cs_a, B + lo, rs_b, C + lo, &a2);
    }
#endif
}

/* The public entry: validate nothing (Python did), pick the path and the
 * thread split, make sure this caller's workspace is big enough, run. */
static int LN_FN(gemm_run)(int transa, int transb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       LN_T alpha, const LN_T *A, ptrdiff_t lda,
                       const LN_T *B, ptrdiff_t ldb,
                       LN_T beta, LN_T *C, ptrdiff_t ldc, const ln_epilogue *epi)
{
    const ln_isa_table *t;
    const ln_gemm_blocks *bk;
    LN_AUX aux;
    ptrdiff_t rs_a, cs_a, rs_b, cs_b, kb;
    int pack_a, pack_b, split_rows, nt;
    ln_gemm_plan plan;

    if (m <= 0 || n <= 0) return LN_OK;
    t = ln_gemm_table();
    bk = &t->LN_BLK;

    aux.alpha = alpha;
    aux.beta = beta;
    aux.b_padded = 0;
    aux.epi = epi ? epi->kind : LN_EPI_NONE;
    aux.act = epi ? epi->act : LN_ACT_IDENTITY;
    aux.bias = epi ? (const LN_T *)epi->bias : 0;
    aux.h = epi ? (const LN_T *)epi->h : 0;
    aux.ldh = epi ? epi->ldh : 0;
    /* DACT with identity and BIAS_ACT with neither bias nor activation change nothing */
    if (aux.epi == LN_EPI_DACT && aux.act == LN_ACT_IDENTITY) aux.epi = LN_EPI_NONE;
    if (aux.epi == LN_EPI_BIAS_ACT && !aux.bias && aux.act == LN_ACT_IDENTITY) aux.epi = LN_EPI_NONE;
    /* As in BLAS, alpha == 0 does not read A or B */
    if (alpha == 0 || k < 0) k = 0;

    /* Strides of op(A) (m x k) and op(B) (k x n) */
    rs_a = transa ? 1 : lda;  cs_a = transa ? lda : 1;
    rs_b = transb ? 1 : ldb;  cs_b = transb ? ldb : 1;

    if (m == 1 && cs_b == 1 && !ln_force_path) {
        LN_FN(gemv_run)(t, k, n, A, cs_a, B, rs_b, C, &aux);
        return LN_OK;
    }

    ln_gemm_choose(bk, transa, m, n, k, (size_t)lda * sizeof(LN_T), (size_t)ldb * sizeof(LN_T),
                   &pack_a, &pack_b, &nt, &split_rows);
    if (transb) pack_b = 1;   /* the kernel needs B rows contiguous */

    /* Workspace: sized for the whole problem, so any thread split fits */
    kb = k < bk->kc ? k : bk->kc;
    {
        ptrdiff_t ma = m < bk->mc ? m : bk->mc;
        ptrdiff_t nb = n < bk->nc ? n : bk->nc;
        size_t abytes = pack_a ? (size_t)(ma + bk->mr) * (size_t)kb * sizeof(LN_T) : 0;
        /* unpacked B still needs one micro-panel for its edge */
        size_t bbytes = (size_t)(pack_b ? nb + bk->nr : bk->nr) * (size_t)kb * sizeof(LN_T);
        if (ln_gemm_ws_reserve(&plan, nt, abytes, bbytes) != LN_OK) return LN_ERR_NOMEM;
    }

    if (nt == 1) {
        LN_FN(gemm_serial)(t, pack_a, pack_b, m, n, k, A, rs_a, cs_a, B, rs_b, cs_b,
                           C, ldc, &aux, (LN_T *)plan.a[0], (LN_T *)plan.b[0]);
    }
#ifdef _OPENMP
    else {
        /* Each thread takes a slab of C (rows, or columns when m is short).
         * Packed row slabs share the B panel; otherwise each thread runs the
         * serial algorithm on its slab with its own buffers. */
#pragma omp parallel num_threads(nt)
        {
            int tid = omp_get_thread_num(), nth = omp_get_num_threads();
            ptrdiff_t lo, hi;
            LN_AUX a2 = aux;
            if (split_rows && pack_a && pack_b) {
                /* Large problems: one shared B panel, rows split */
                ln_gemm_range(m, bk->mr, tid, nth, &lo, &hi);
                LN_FN(gemm_team)(t, tid, nth, lo, hi, n, k, A, rs_a, cs_a, B, rs_b, cs_b, C, ldc, &aux,
                                 (LN_T *)plan.a[tid], (LN_T *)plan.b[0]);
            } else if (split_rows) {
                ln_gemm_range(m, bk->mr, tid, nth, &lo, &hi);
                if (a2.epi == LN_EPI_DACT) a2.h = aux.h + lo * aux.ldh;
                if (hi > lo)
                    LN_FN(gemm_serial)(t, pack_a, pack_b, hi - lo, n, k, A + lo * rs_a, rs_a, cs_a,
                                       B, rs_b, cs_b, C + lo * ldc, ldc, &a2,
                                       (LN_T *)plan.a[tid], (LN_T *)plan.b[tid]);
            } else {
                ln_gemm_range(n, bk->nr, tid, nth, &lo, &hi);
                if (a2.epi == LN_EPI_DACT) a2.h = aux.h + lo;
                if (a2.epi == LN_EPI_BIAS_ACT && a2.bias) a2.bias = aux.bias + lo;
                if (hi > lo)
                    LN_FN(gemm_serial)(t, pack_a, pack_b, m, hi - lo, k, A, rs_a, cs_a,
                                       B + lo * cs_b, rs_b, cs_b, C + lo, ldc, &a2,
                                       (LN_T *)plan.a[tid], (LN_T *)plan.b[tid]);
            }
        }
    }
#endif
    ln_gemm_ws_release(&plan);
    return LN_OK;
}
