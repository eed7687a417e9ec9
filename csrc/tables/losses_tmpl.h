/* losses_tmpl.h: one function per row of tables/losses.h, for one element
 * type. Sums run in double so float32 losses of big batches stay exact
 * enough. Each returns scale * sum_i w_i l_i and writes
 * grad = scale * w_i * dl_i/dH when asked. */

#define LN_W(i) (a->w ? (double)a->w[i] : 1.0)

/* l_i = mean_j (h - y)^2,  dl_i/dh = 2 (h - y) / m */
static double FN(ln_loss_mse)(const FN(ln_loss_args) *a)
{
    const ptrdiff_t n = a->n, m = a->m;
    const double gscale = 2.0 * a->scale / (double)m;   /* no division per row */
    double total = 0.0;
    ptrdiff_t i, j;
    for (i = 0; i < n; i++) {
        const T *h = a->h + i * m, *y = a->y + i * m;
        const double wi = LN_W(i);
        double row = 0.0;
        for (j = 0; j < m; j++) {
            const double e = (double)h[j] - (double)y[j];
            row += e * e;
        }
        total += wi * row;
        if (a->grad) {
            const T g = (T)(gscale * wi);
            T *gr = a->grad + i * m;
            for (j = 0; j < m; j++) gr[j] = g * (h[j] - y[j]);
        }
    }
    return total * a->scale / (double)m;
}

/* l_i = sum_j (h - y)^2 (the sum reduction: scale is 1) */
static double FN(ln_loss_mse_sum)(const FN(ln_loss_args) *a)
{
    const ptrdiff_t n = a->n, m = a->m;
    double total = 0.0;
    ptrdiff_t i, j;
    for (i = 0; i < n; i++) {
        const T *h = a->h + i * m, *y = a->y + i * m;
        const double wi = LN_W(i);
        double row = 0.0;
        for (j = 0; j < m; j++) {
            const double e = (double)h[j] - (double)y[j];
            row += e * e;
        }
        total += wi * row;
        if (a->grad) {
            const T g = (T)(2.0 * a->scale * wi);
            T *gr = a->grad + i * m;
            for (j = 0; j < m; j++) gr[j] = g * (h[j] - y[j]);
        }
    }
    return total * a->scale;
}

/* Softmax cross-entropy of logits z against target distributions t:
 * l_i = -sum_j t_j log softmax(z)_j = (sum_j t_j) lse(z) - sum_j t_j z_j,
 * dl_i/dz = softmax(z) sum_j t_j - t, with log-sum-exp shifted by max z. */
static double FN(ln_loss_cross_entropy)(const FN(ln_loss_args) *a)
{
    const ptrdiff_t n = a->n, m = a->m;
    double total = 0.0;
    ptrdiff_t i, j;
    for (i = 0; i < n; i++) {
        const T *z = a->h + i * m, *t = a->y + i * m;
        const double wi = LN_W(i);
        T zmax = z[0];
        double sum_exp = 0.0, t_sum = 0.0, t_dot_z = 0.0;
        for (j = 1; j < m; j++)
            if (z[j] > zmax) zmax = z[j];
        for (j = 0; j < m; j++) {
            sum_exp += (double)T_EXP(z[j] - zmax);
            t_sum += (double)t[j];
            t_dot_z += (double)t[j] * (double)(z[j] - zmax);
        }
        total += wi * (t_sum * log(sum_exp) - t_dot_z);
        if (a->grad) {
            const T inv = (T)(1.0 / sum_exp), ts = (T)t_sum, g = (T)(a->scale * wi);
            T *gr = a->grad + i * m;
            for (j = 0; j < m; j++) gr[j] = g * (T_EXP(z[j] - zmax) * inv * ts - t[j]);
        }
    }
    return total * a->scale;
}

/* Binary cross-entropy on logits z against targets y in [0, 1] (torch's
 * BCEWithLogitsLoss), per output, in the stable form
 * l = max(z, 0) - z y + log(1 + e^-|z|),  dl/dz = sigmoid(z) - y;
 * l_i is the mean over the row's outputs. */
static double FN(ln_loss_binary_cross_entropy)(const FN(ln_loss_args) *a)
{
    const ptrdiff_t n = a->n, m = a->m;
    double total = 0.0;
    ptrdiff_t i, j;
    for (i = 0; i < n; i++) {
        const T *z = a->h + i * m, *y = a->y + i * m;
        const double wi = LN_W(i);
        const T g = (T)(a->scale * wi / (double)m);
        double row = 0.0;
        for (j = 0; j < m; j++) {
            const double zj = (double)z[j], e = exp(-fabs(zj));
            row += (zj > 0 ? zj : 0.0) - zj * (double)y[j] + log1p(e);
            if (a->grad) {
                const double s = zj >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
                a->grad[i * m + j] = g * (T)(s - (double)y[j]);
            }
        }
        total += wi * row;
    }
    return total * a->scale / (double)m;
}

/* Huber with threshold delta = param[0] (torch's HuberLoss):
 * l = e^2 / 2 where |e| <= delta, else delta (|e| - delta / 2);
 * dl/dh = e, or delta sign(e); l_i is the mean over the row's outputs. */
static double FN(ln_loss_huber)(const FN(ln_loss_args) *a)
{
    const ptrdiff_t n = a->n, m = a->m;
    const double delta = a->param ? a->param[0] : 1.0;
    double total = 0.0;
    ptrdiff_t i, j;
    for (i = 0; i < n; i++) {
        const T *h = a->h + i * m, *y = a->y + i * m;
        const double wi = LN_W(i);
        const T g = (T)(a->scale * wi / (double)m), d = (T)delta;
        double row = 0.0;
        for (j = 0; j < m; j++) {
            const double e = (double)h[j] - (double)y[j], ae = fabs(e);
            row += ae <= delta ? 0.5 * e * e : delta * (ae - 0.5 * delta);
            if (a->grad) {
                const T et = h[j] - y[j];
                a->grad[i * m + j] = g * (ae <= delta ? et : (et > 0 ? d : -d));
            }
        }
        total += wi * row;
    }
    return total * a->scale / (double)m;
}

/* Mean absolute error (torch's L1Loss): l = |e|, dl/dh = sign(e) (0 at 0);
 * l_i is the mean over the row's outputs. */
static double FN(ln_loss_mae)(const FN(ln_loss_args) *a)
{
    const ptrdiff_t n = a->n, m = a->m;
    double total = 0.0;
    ptrdiff_t i, j;
    for (i = 0; i < n; i++) {
        const T *h = a->h + i * m, *y = a->y + i * m;
        const double wi = LN_W(i);
        const T g = (T)(a->scale * wi / (double)m);
        double row = 0.0;
        for (j = 0; j < m; j++) {
            const T e = h[j] - y[j];
            row += fabs((double)h[j] - (double)y[j]);
            if (a->grad) a->grad[i * m + j] = e > 0 ? g : e < 0 ? -g : (T)0;
        }
        total += wi * row;
    }
    return total * a->scale / (double)m;
}

#undef LN_W

double FN(ln_loss_eval)(int kind, const FN(ln_loss_args) *a)
{
#define LN_CASE_(id, name, reduction, hits) case LN_LOSS_##id: return FN(ln_loss_##id)(a);
    switch (kind) { LN_LOSS_TABLE(LN_CASE_) default: return NAN; }
#undef LN_CASE_
}

ptrdiff_t FN(ln_loss_hits)(int kind, ptrdiff_t n, ptrdiff_t m, const T *h, const T *y)
{
    ptrdiff_t i, j, hits = 0;
    switch (ln_loss_hits_kind(kind)) {
    case LN_HITS_ARGMAX:
        /* Rows whose largest output sits where the target row is largest */
        for (i = 0; i < n; i++) {
            const T *hr = h + i * m, *yr = y + i * m;
            ptrdiff_t bh = 0, by = 0;
            for (j = 1; j < m; j++) {
                if (hr[j] > hr[bh]) bh = j;
                if (yr[j] > yr[by]) by = j;
            }
            hits += bh == by;
        }
        return hits;
    case LN_HITS_SIGN:
        /* Outputs on the target's side: logit > 0 where the target is above 1/2 */
        for (i = 0; i < n * m; i++) hits += (h[i] > 0) == (y[i] > (T)0.5);
        return hits;
    default:
        return 0;
    }
}
