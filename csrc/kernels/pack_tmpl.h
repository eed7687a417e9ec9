/* pack_tmpl.h: packing of A blocks and B panels for an instruction set
 * whose tile is LN_MR x LN_NR (compile-time constants the ISA defines before
 * this template, with its op layer's KFN and LN_VFUNC). Knowing the tile at
 * compile time turns the full-panel copies into fixed-size moves. */

/* An mc x kc block of op(A) into LN_MR-row micro-panels: panel r holds rows
 * r*LN_MR.. as kc columns of LN_MR contiguous elements, zero past mc. */
LN_VFUNC void KFN(ln_pack_a)(ptrdiff_t mc, ptrdiff_t kc, const T *LN_RESTRICT a,
                             ptrdiff_t rs_a, ptrdiff_t cs_a, T *LN_RESTRICT ap)
{
    ptrdiff_t ir, i, p;
    /* Loop over the block, LN_MR rows at a time */
    for (ir = 0; ir < mc; ir += LN_MR) {
        const ptrdiff_t mr = mc - ir < LN_MR ? mc - ir : LN_MR;
        const T *ai = a + ir * rs_a;
        if (mr == LN_MR && cs_a == 1) {
            /* Full panel, rows contiguous in k: LN_MR row streams, one column out per step */
            for (p = 0; p < kc; ++p)
                for (i = 0; i < LN_MR; ++i) ap[p * LN_MR + i] = ai[i * rs_a + p];
        } else if (rs_a == 1) {
            /* Transposed A: a panel column is mr contiguous elements */
            for (p = 0; p < kc; ++p) {
                for (i = 0; i < mr; ++i) ap[p * LN_MR + i] = ai[i + p * cs_a];
                for (; i < LN_MR; ++i) ap[p * LN_MR + i] = 0;
            }
        } else {
            /* Loop over the panel's rows: read along k, write with stride LN_MR */
            for (i = 0; i < mr; ++i)
                for (p = 0; p < kc; ++p) ap[p * LN_MR + i] = ai[i * rs_a + p * cs_a];
            for (; i < LN_MR; ++i)
                for (p = 0; p < kc; ++p) ap[p * LN_MR + i] = 0;
        }
        ap += (ptrdiff_t)LN_MR * kc;
    }
}

/* A kc x nc panel of op(B) into LN_NR-column micro-panels: panel r holds
 * columns r*LN_NR.. as kc rows of LN_NR contiguous elements, zero past nc. */
LN_VFUNC void KFN(ln_pack_b)(ptrdiff_t kc, ptrdiff_t nc, const T *LN_RESTRICT b,
                             ptrdiff_t rs_b, ptrdiff_t cs_b, T *LN_RESTRICT bp)
{
    ptrdiff_t jr, j, p;
    /* Loop over the panel, LN_NR columns at a time */
    for (jr = 0; jr < nc; jr += LN_NR) {
        const ptrdiff_t nr = nc - jr < LN_NR ? nc - jr : LN_NR;
        const T *bj = b + jr * cs_b;
        if (cs_b == 1 && nr == LN_NR) {
            /* Full panel, rows contiguous: a fixed-size copy compiles to vector moves */
            for (p = 0; p < kc; ++p)
                for (j = 0; j < LN_NR; ++j) bp[p * LN_NR + j] = bj[p * rs_b + j];
        } else {
            /* Edge panel, or transposed B: gather one k step across the nr stored
             * columns, so the panel is written in order; with transposed B each
             * stored row's cache line serves the next k steps (walking a stored
             * row along k instead writes with stride LN_NR, and those stores took
             * most of the packing time) */
            for (p = 0; p < kc; ++p) {
                const T *src = bj + p * rs_b;
                T *dst = bp + p * LN_NR;
                for (j = 0; j < nr; ++j) dst[j] = src[j * cs_b];
                for (; j < LN_NR; ++j) dst[j] = 0;
            }
        }
        bp += (ptrdiff_t)LN_NR * kc;
    }
}
