/* dropout_tmpl.h: Dropout's forward and backward for one element type. */

/* out = in * mask / (1 - rate), row by row; the same mask in both passes. */
static void FN(ln_dropout_apply)(const ln_node *node, ptrdiff_t n, uint64_t seed, long long step,
                                 const T *in, T *out)
{
    const ptrdiff_t m = node->n_out;
    const uint32_t keep_below = ln_dropout_threshold(node->rate);
    const T scale = (T)(1.0 / (1.0 - node->rate));
    ptrdiff_t i, j;
    for (i = 0; i < n; i++) {
        const uint64_t key = ln_rng_row_key(seed, node->index, step, i);
        const T *ir = in + i * m;
        T *orow = out + i * m;
        for (j = 0; j < m; j++) orow[j] = ln_rng_bits24(key, j) < keep_below ? ir[j] * scale : (T)0;
    }
}

static int FN(ln_dropout_forward)(const ln_node *node, const ln_fwd *a)
{
    if (!a->training || node->rate == 0.0) {
        if (a->y != a->x) memcpy(a->y, a->x, (size_t)(a->n * node->n_out) * sizeof(T));
        return LN_OK;
    }
    FN(ln_dropout_apply)(node, a->n, a->seed, a->step, (const T *)a->x, (T *)a->y);
    return LN_OK;
}

/* dx = dz * mask / (1 - rate) * producer'(saved); outside training the mask is all ones */
static int FN(ln_dropout_backward)(const ln_node *node, const ln_bwd *a)
{
    if (a->dx == NULL) return LN_OK;
    if (!a->training || node->rate == 0.0) memcpy(a->dx, a->dz, (size_t)(a->n * node->n_out) * sizeof(T));
    else FN(ln_dropout_apply)(node, a->n, a->seed, a->step, (const T *)a->dz, (T *)a->dx);
    FN(ln_times_dact)(a->n, node->n_in, (T *)a->dx, a->dx_act, (const T *)a->dx_saved);
    return LN_OK;
}
