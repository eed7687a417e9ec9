/* ops_impl.h: body of the element-wise kernels, included once per type by ops.c.
 * Expects T (element type), SFX (name suffix), EXP and LOG (math functions of T)
 * and FINITE_MASK / BITS_T (the exponent mask and the same-size unsigned integer). */

#define OPS_CAT2(a, b) a##_##b
#define OPS_CAT(a, b) OPS_CAT2(a, b)
#define OPS_FN(name) OPS_CAT(name, SFX)

/* act'(h) from the activation's output h. */
static inline T OPS_FN(dact)(int act, T h)
{
    switch (act) {
    case LN_ACT_SIGMOID: return h * ((T)1 - h);
    case LN_ACT_RELU: return h > (T)0 ? (T)1 : (T)0;
    case LN_ACT_TANH: return (T)1 - h * h;
    default: return (T)1;
    }
}

void OPS_FN(ln_mul_dact)(int act, ptrdiff_t size, const T *H, const T *dH, T *A)
{
    ptrdiff_t i;
    /* One loop per activation so each vectorises without a branch inside. */
    switch (act) {
    case LN_ACT_SIGMOID:
        for (i = 0; i < size; i++) A[i] = dH[i] * (H[i] * ((T)1 - H[i]));
        break;
    case LN_ACT_RELU:
        for (i = 0; i < size; i++) A[i] = H[i] > (T)0 ? dH[i] : (T)0;
        break;
    case LN_ACT_TANH:
        for (i = 0; i < size; i++) A[i] = dH[i] * ((T)1 - H[i] * H[i]);
        break;
    default:
        if (A != dH)
            for (i = 0; i < size; i++) A[i] = dH[i];
        break;
    }
}

/* Softmax cross-entropy of one row of logits z against targets t.
 * Returns the row's loss and, if g != NULL, writes scale * (softmax(z) * sum(t) - t). */
static double OPS_FN(xent_row)(ptrdiff_t m, const T *z, const T *t, T *g, T scale)
{
    ptrdiff_t j;
    T zmax = z[0];
    double sum_exp = 0.0, t_sum = 0.0, t_dot_z = 0.0, lse;
    for (j = 1; j < m; j++)
        if (z[j] > zmax) zmax = z[j];
    for (j = 0; j < m; j++) {
        sum_exp += (double)EXP(z[j] - zmax);
        t_sum += (double)t[j];
        t_dot_z += (double)t[j] * (double)(z[j] - zmax);
    }
    lse = log(sum_exp);   /* log-sum-exp of z - zmax */
    if (g != NULL) {
        T inv = (T)(1.0 / sum_exp), ts = (T)t_sum;
        for (j = 0; j < m; j++)
            g[j] = scale * (EXP(z[j] - zmax) * inv * ts - t[j]);
    }
    return t_sum * lse - t_dot_z;
}

double OPS_FN(ln_loss_grad)(int kind, int act, ptrdiff_t n, ptrdiff_t m,
                            const T *H, const T *Y, T *G)
{
    ptrdiff_t i, size = n * m;
    double loss = 0.0;
    if (kind == LN_LOSS_CROSS_ENTROPY) {
        T scale = (T)(1.0 / (double)n);
        for (i = 0; i < n; i++)
            loss += OPS_FN(xent_row)(m, H + i * m, Y + i * m, G ? G + i * m : NULL, scale);
        loss /= (double)n;
    } else {
        /* MSE: sum of squares in double, so float32 losses of big batches stay exact enough. */
        double scale = kind == LN_LOSS_MSE_SUM ? 1.0 : 1.0 / (double)size;
        T gscale = (T)(2.0 * scale);
        for (i = 0; i < size; i++) {
            double e = (double)H[i] - (double)Y[i];
            loss += e * e;
        }
        loss *= scale;
        if (G != NULL)
            for (i = 0; i < size; i++) G[i] = gscale * (H[i] - Y[i]);
    }
    if (G != NULL && act != LN_ACT_IDENTITY)
        OPS_FN(ln_mul_dact)(act, size, H, G, G);
    return loss;
}

void OPS_FN(ln_colsum)(ptrdiff_t n, ptrdiff_t m, const T *A, T *out)
{
    ptrdiff_t i, j;
    for (j = 0; j < m; j++) out[j] = (T)0;
    /* Row by row, so the inner loop is contiguous and vectorises. */
    for (i = 0; i < n; i++) {
        const T *row = A + i * m;
        for (j = 0; j < m; j++) out[j] += row[j];
    }
}

int OPS_FN(ln_all_finite)(ptrdiff_t size, const T *x)
{
    /* An integer test on the exponent bits: exact, and it vectorises
     * without -ffast-math (a float reduction would not). */
    ptrdiff_t i;
    BITS_T bad = 0;
    for (i = 0; i < size; i++) {
        BITS_T u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (BITS_T)((u & FINITE_MASK) == FINITE_MASK);
    }
    return bad == 0;
}

void OPS_FN(ln_opt_update)(const ln_optimizer *opt, long long t, ptrdiff_t size,
                           T *p, const T *g, T *s1, T *s2)
{
    ptrdiff_t i;
    const T lr = (T)opt->lr, wd = (T)opt->weight_decay;
    if (opt->kind == LN_OPT_ADAM) {
        /* PyTorch's Adam: bias corrections folded into the step size and the denominator. */
        const T b1 = (T)opt->beta1, b2 = (T)opt->beta2, eps = (T)opt->eps;
        const double bc1 = 1.0 - pow(opt->beta1, (double)t);
        const double bc2 = 1.0 - pow(opt->beta2, (double)t);
        const T step_size = (T)(opt->lr / bc1), inv_sqrt_bc2 = (T)(1.0 / sqrt(bc2));
        (void)lr;
        for (i = 0; i < size; i++) {
            T gi = g[i] + wd * p[i];
            s1[i] = b1 * s1[i] + ((T)1 - b1) * gi;
            s2[i] = b2 * s2[i] + ((T)1 - b2) * gi * gi;
            p[i] -= step_size * s1[i] / (SQRT(s2[i]) * inv_sqrt_bc2 + eps);
        }
    } else if (opt->momentum != 0.0 && s1 != NULL) {
        /* PyTorch's SGD with momentum (dampening 0): the buffer starts as g on step 1. */
        const T mu = (T)opt->momentum;
        const int first = t <= 1;
        for (i = 0; i < size; i++) {
            T gi = g[i] + wd * p[i];
            T v = first ? gi : mu * s1[i] + gi;
            s1[i] = v;
            p[i] -= lr * (opt->nesterov ? gi + mu * v : v);
        }
    } else if (wd != (T)0) {
        for (i = 0; i < size; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else {
        for (i = 0; i < size; i++) p[i] -= lr * g[i];
    }
}

#undef OPS_FN
#undef OPS_CAT
#undef OPS_CAT2
