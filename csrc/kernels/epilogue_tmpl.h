/* epilogue_tmpl.h: the epilogue tile of an instruction set, written once
 * against its op layer (requires the op layer and vecmath_tmpl.h in this
 * pass). Runs on a tile of C that was just stored, while it is in L1:
 *   BIAS_ACT  z = c + bias[j]; zout[i, j] = z when kept; c = act(z)
 *   DACT      c = c * act'(sv[i, j])
 * The loops are specialised per activation (act is a constant after
 * inlining), so no switch runs per vector. A contiguous column (n == 1)
 * runs as one row, a vector of rows at a time. */

/* one_bias: every column takes bias[0] (a column run as one row). */
LN_VINLINE void FN(epi_bias_act_rows)(const int act, ptrdiff_t m, ptrdiff_t n, T *c, ptrdiff_t rs_c,
                                      const FN(ln_aux) *aux, int one_bias)
{
    const ptrdiff_t nv = n - n % VN, tail = n - nv;
    const T *bias = aux->bias;
    const V b0 = bias && one_bias ? v_set1(bias[0]) : v_zero();
    ptrdiff_t i, j;
    /* Loop over the tile's rows, then VN columns at a time */
    for (i = 0; i < m; ++i) {
        T *cr = c + i * rs_c;
        T *zr = aux->zout ? aux->zout + i * aux->ldz : NULL;
        for (j = 0; j < nv; j += VN) {
            V z = v_loadu(cr + j);
            if (bias) z = v_add(z, one_bias ? b0 : v_loadu(bias + j));
            if (zr) v_storeu(zr + j, z);
            v_storeu(cr + j, FN(vact)(act, z));
        }
        if (tail) {
            V z = v_load_part(cr + nv, tail);
            if (bias) z = v_add(z, one_bias ? b0 : v_load_part(bias + nv, tail));
            if (zr) v_store_part(zr + nv, z, tail);
            v_store_part(cr + nv, FN(vact)(act, z), tail);
        }
    }
}

LN_VINLINE void FN(epi_dact_rows)(const int act, ptrdiff_t m, ptrdiff_t n, T *c, ptrdiff_t rs_c,
                                  const FN(ln_aux) *aux)
{
    const ptrdiff_t nv = n - n % VN, tail = n - nv;
    ptrdiff_t i, j;
    /* Loop over the tile's rows, then VN columns at a time */
    for (i = 0; i < m; ++i) {
        T *cr = c + i * rs_c;
        const T *sr = aux->sv + i * aux->ldsv;
        for (j = 0; j < nv; j += VN)
            v_storeu(cr + j, v_mul(v_loadu(cr + j), FN(vdact)(act, v_loadu(sr + j))));
        if (tail)
            v_store_part(cr + nv, v_mul(v_load_part(cr + nv, tail),
                                        FN(vdact)(act, v_load_part(sr + nv, tail))), tail);
    }
}

LN_VFUNC void KFN(ln_epi)(ptrdiff_t m, ptrdiff_t n, T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux)
{
    /* A contiguous column (a 1-unit layer) whose kept Z or saved tensor is
     * contiguous too runs as the 1 x m row c[0..m) */
    const int column = n == 1 && m > 1 && rs_c == 1 &&
                       (aux->epi == LN_EPI_BIAS_ACT ? aux->zout == NULL || aux->ldz == 1 : aux->ldsv == 1);
    if (column) {
        n = rs_c = m;
        m = 1;
    }
    if (aux->epi == LN_EPI_BIAS_ACT) {
#define LN_CASE_(id, name, needs_z) \
        case LN_ACT_##id: FN(epi_bias_act_rows)(LN_ACT_##id, m, n, c, rs_c, aux, column); break;
        switch (aux->act) { LN_ACTIVATION_TABLE(LN_CASE_) default: break; }
#undef LN_CASE_
    } else if (aux->epi == LN_EPI_DACT && aux->act != LN_ACT_identity) {
#define LN_CASE_(id, name, needs_z) \
        case LN_ACT_##id: FN(epi_dact_rows)(LN_ACT_##id, m, n, c, rs_c, aux); break;
        switch (aux->act) { LN_ACTIVATION_TABLE(LN_CASE_) default: break; }
#undef LN_CASE_
    }
}
