/* gemv_tmpl.h: the SIMD row kernel (GEMV) for products with one row of C,
 * such as batch-1 predict, written once against an op layer (requires the
 * op layer in this pass and the ISA's KFN(ln_epi)).
 *
 * A 6-row tile kernel running a single row leaves most of its FMA latency
 * exposed; here each block of NV vectors of c keeps U independent partial
 * sums per vector (NV * U <= 12 accumulators) so the FMA chains overlap.
 * B is read in place, one row per k step, prefetched LN_GEMV_PF rows ahead
 * (measured on Zen 4: 4 to 8 rows best, ~8% over none). A B beyond
 * LN_GEMV_FOLD_BYTES is instead walked in address order, four rows per pass
 * over c, which the hardware prefetchers follow from DRAM (measured 2.4x
 * faster on a 64 MiB B, and slower while B sits in L2). */

#define LN_GEMV_FOLD_BYTES (4.0 * 1024 * 1024)
#define LN_GEMV_PF 4

/* NV vectors of one row of C over k; unscaled sums go to out. */
LN_VINLINE void FN(gemv_cols)(const int NV, const int U, ptrdiff_t k, const T *a, ptrdiff_t cs_a,
                              const T *b, ptrdiff_t rs_b, V *out)
{
    V acc[12];
    ptrdiff_t p;
    int v, u;
    for (v = 0; v < NV * U; ++v) acc[v] = v_zero();
    /* Loop over k, U rows of B at a time */
    for (p = 0; p + U <= k; p += U)
        for (u = 0; u < U; ++u) {
            const V x = v_bcast(a + (p + u) * cs_a);
            const T *br = b + (p + u) * rs_b;
            for (v = 0; v < NV; v += 2) LN_PREFETCH(br + LN_GEMV_PF * rs_b + VN * v);
            for (v = 0; v < NV; ++v) acc[u * NV + v] = v_fma(x, v_loadu(br + VN * v), acc[u * NV + v]);
        }
    /* Loop over the k remainder */
    for (; p < k; ++p) {
        const V x = v_bcast(a + p * cs_a);
        for (v = 0; v < NV; ++v) acc[v] = v_fma(x, v_loadu(b + p * rs_b + VN * v), acc[v]);
    }
    for (v = 0; v < NV; ++v) {
        V sum = acc[v];
        for (u = 1; u < U; ++u) sum = v_add(sum, acc[u * NV + v]);
        out[v] = sum;
    }
}

/* Scale by alpha, merge beta*C, store NV vectors at c. */
LN_VINLINE void FN(gemv_store)(const int NV, const V *x, T *c, const FN(ln_aux) *aux)
{
    const V va = v_set1(aux->alpha), vb = v_set1(aux->beta);
    int v;
    for (v = 0; v < NV; ++v) {
        V y = v_mul(va, x[v]);
        if (aux->beta != 0) y = v_fma(vb, v_loadu(c + VN * v), y);
        v_storeu(c + VN * v, y);
    }
}

/* R rows of B (R <= 4) folded into the row c[0:n): c += sum_r a_r B_r, or
 * c = that sum when FIRST. R streams at once, in address order. */
LN_VINLINE void FN(gemv_fold)(const int R, const int FIRST, ptrdiff_t n, const T *a, ptrdiff_t cs_a,
                              const T *b, ptrdiff_t rs_b, T *c)
{
    const ptrdiff_t nv = n - n % VN;
    const T *b0 = b, *b1 = b + rs_b, *b2 = b + 2 * rs_b, *b3 = b + 3 * rs_b;
    const T s0 = a[0], s1 = R > 1 ? a[cs_a] : 0, s2 = R > 2 ? a[2 * cs_a] : 0, s3 = R > 3 ? a[3 * cs_a] : 0;
    const V x0 = v_set1(s0), x1 = v_set1(s1), x2 = v_set1(s2), x3 = v_set1(s3);
    ptrdiff_t j;
    /* Loop over the row, VN columns at a time, then the last few one by one */
    for (j = 0; j < nv; j += VN) {
        V y = FIRST ? v_zero() : v_loadu(c + j);
        y = v_fma(x0, v_loadu(b0 + j), y);
        if (R > 1) y = v_fma(x1, v_loadu(b1 + j), y);
        if (R > 2) y = v_fma(x2, v_loadu(b2 + j), y);
        if (R > 3) y = v_fma(x3, v_loadu(b3 + j), y);
        v_storeu(c + j, y);
    }
    for (; j < n; ++j) {
        T y = FIRST ? 0 : c[j];
        y += s0 * b0[j];
        if (R > 1) y += s1 * b1[j];
        if (R > 2) y += s2 * b2[j];
        if (R > 3) y += s3 * b3[j];
        c[j] = y;
    }
}

LN_VFUNC void KFN(ln_gemv)(ptrdiff_t k, ptrdiff_t n, const T *a, ptrdiff_t cs_a,
                           const T *b, ptrdiff_t rs_b, T *c, const FN(ln_aux) *aux)
{
    V x[12];
    ptrdiff_t j = 0;
    if (aux->beta == 0 && k >= 4 && (double)k * (double)n * sizeof(T) > LN_GEMV_FOLD_BYTES) {
        /* B beyond the caches: walk it in address order, four rows per pass over c */
        ptrdiff_t p;
        FN(gemv_fold)(4, 1, n, a, cs_a, b, rs_b, c);
        for (p = 4; p + 4 <= k; p += 4) FN(gemv_fold)(4, 0, n, a + p * cs_a, cs_a, b + p * rs_b, rs_b, c);
        for (; p < k; ++p) FN(gemv_fold)(1, 0, n, a + p * cs_a, cs_a, b + p * rs_b, rs_b, c);
        if (aux->alpha != 1)
            for (j = 0; j < n; ++j) c[j] *= aux->alpha;
    } else {
        /* Loop over the row: 12 vectors at a time, then narrower blocks */
        for (; j + 12 * VN <= n; j += 12 * VN) {
            FN(gemv_cols)(12, 1, k, a, cs_a, b + j, rs_b, x);
            FN(gemv_store)(12, x, c + j, aux);
        }
        if (j + 8 * VN <= n) {
            FN(gemv_cols)(8, 1, k, a, cs_a, b + j, rs_b, x);
            FN(gemv_store)(8, x, c + j, aux);
            j += 8 * VN;
        }
        if (j + 4 * VN <= n) {
            FN(gemv_cols)(4, 2, k, a, cs_a, b + j, rs_b, x);
            FN(gemv_store)(4, x, c + j, aux);
            j += 4 * VN;
        }
        if (j + 2 * VN <= n) {
            FN(gemv_cols)(2, 4, k, a, cs_a, b + j, rs_b, x);
            FN(gemv_store)(2, x, c + j, aux);
            j += 2 * VN;
        }
        if (j + VN <= n) {
            FN(gemv_cols)(1, 8, k, a, cs_a, b + j, rs_b, x);
            FN(gemv_store)(1, x, c + j, aux);
            j += VN;
        }
        if (j < n) {
            /* Last n - j < VN columns: B rows read through a buffer, never past the row */
            const ptrdiff_t nl = n - j;
            V acc[4], y;
            ptrdiff_t p;
            acc[0] = acc[1] = acc[2] = acc[3] = v_zero();
            for (p = 0; p < k; ++p)
                acc[p & 3] = v_fma(v_bcast(a + p * cs_a), v_load_part(b + p * rs_b + j, nl), acc[p & 3]);
            y = v_mul(v_set1(aux->alpha), v_add(v_add(acc[0], acc[1]), v_add(acc[2], acc[3])));
            if (aux->beta != 0) y = v_fma(v_set1(aux->beta), v_load_part(c + j, nl), y);
            v_store_part(c + j, y, nl);
        }
    }
    if (aux->epi != LN_EPI_NONE) KFN(ln_epi)(1, n, c, 0, aux);
}
