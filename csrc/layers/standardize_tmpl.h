/* standardize_tmpl.h: Standardize's forward and backward for one element type. */

static int FN(ln_standardize_forward)(const ln_node *node, const ln_fwd *a)
{
    const ptrdiff_t m = node->n_in;
    const T *mean = (const T *)node->cnst[0], *std = (const T *)node->cnst[1];
    const T *x = (const T *)a->x;
    T *y = (T *)a->y;
    ptrdiff_t i, j;
    for (i = 0; i < a->n; i++)
        for (j = 0; j < m; j++) y[i * m + j] = (x[i * m + j] - mean[j]) / std[j];
    return LN_OK;
}

/* dx = dz / std * producer'(saved) */
static int FN(ln_standardize_backward)(const ln_node *node, const ln_bwd *a)
{
    const ptrdiff_t m = node->n_in;
    const T *std = (const T *)node->cnst[1], *dz = (const T *)a->dz;
    T *dx = (T *)a->dx;
    ptrdiff_t i, j;
    if (dx == NULL) return LN_OK;
    for (i = 0; i < a->n; i++)
        for (j = 0; j < m; j++) dx[i * m + j] = dz[i * m + j] / std[j];
    FN(ln_times_dact)(a->n, m, dx, a->dx_act, (const T *)a->dx_saved);
    return LN_OK;
}
