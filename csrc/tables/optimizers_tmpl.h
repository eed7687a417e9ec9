#include "tables/optimizers.h"

/* optimizers_tmpl.h: one update per row of tables/optimizers.h, for one
 * element type, following torch.optim's definitions. Every instruction set
 * instantiates it as a part of its kernels (kernels/isa_tmpl.h), so the same
 * scalar code is compiled, and vectorised, for each ISA's target. Each loop computes the
 * new values, accumulates whether they are finite (x - x == 0 is false for
 * inf and NaN), and stores them only when commit is set: the driver runs a
 * checking pass first so a step that would leave anything non-finite
 * changes nothing. Each pass function is inlined with commit a constant,
 * so both passes compile to branch-free loops the compiler vectorises. */

#define LN_FINITE(x) ((x) - (x) == 0)

/* SGD, hp = [momentum, nesterov]. Weight decay is L2: g += wd p. With
 * momentum (dampening 0) the buffer starts as g on step 1:
 * v = mu v + g; p -= lr (nesterov ? g + mu v : v). s[0] is the buffer. */
LN_VINLINE int FN(ln_opt_sgd_pass)(const int commit, const ln_optim *o, long long t, T gscale,
                            ptrdiff_t n, T *p, const T *g, T *const *s)
{
    const T lr = (T)o->lr, wd = (T)o->weight_decay, mu = (T)o->hp[0];
    const int nesterov = o->hp[1] != 0, first = t <= 1;
    T *v = s[0];
    int ok = 1;
    ptrdiff_t i;
    if (mu != 0 && v != NULL) {
        for (i = 0; i < n; i++) {
            const T gi = g[i] * gscale + wd * p[i];
            const T vi = first ? gi : mu * v[i] + gi;
            const T pi = p[i] - lr * (nesterov ? gi + mu * vi : vi);
            ok &= LN_FINITE(pi) & LN_FINITE(vi);
            if (commit) { v[i] = vi; p[i] = pi; }
        }
    } else {
        for (i = 0; i < n; i++) {
            const T pi = p[i] - lr * (g[i] * gscale + wd * p[i]);
            ok &= LN_FINITE(pi);
            if (commit) p[i] = pi;
        }
    }
    return ok;
}

LN_VINLINE int FN(ln_opt_sgd)(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                          T *p, const T *g, T *const *s, int commit)
{
    return commit ? FN(ln_opt_sgd_pass)(1, o, t, gscale, n, p, g, s)
                  : FN(ln_opt_sgd_pass)(0, o, t, gscale, n, p, g, s);
}

/* Adam, hp = [beta1, beta2, eps], with L2 weight decay (g += wd p) and the
 * bias corrections folded into the step size and the denominator:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). s = [m, v]. */
LN_VINLINE int FN(ln_opt_adam_pass)(const int commit, const ln_optim *o, long long t, T gscale,
                             ptrdiff_t n, T *p, const T *g, T *const *s)
{
    const T wd = (T)o->weight_decay, b1 = (T)o->hp[0], b2 = (T)o->hp[1], eps = (T)o->hp[2];
    /* 1 - beta in double, then rounded, as torch computes it */
    const T c1 = (T)(1.0 - o->hp[0]), c2 = (T)(1.0 - o->hp[1]);
    const double bc1 = 1.0 - pow(o->hp[0], (double)t), bc2 = 1.0 - pow(o->hp[1], (double)t);
    const T step_size = (T)(o->lr / bc1), inv_sqrt_bc2 = (T)(1.0 / sqrt(bc2));
    T *m1 = s[0], *m2 = s[1];
    int ok = 1;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        const T gi = g[i] * gscale + wd * p[i];
        const T mi = b1 * m1[i] + c1 * gi;
        const T vi = b2 * m2[i] + c2 * gi * gi;
        const T pi = p[i] - step_size * mi / (T_SQRT(vi) * inv_sqrt_bc2 + eps);
        ok &= LN_FINITE(pi) & LN_FINITE(mi) & LN_FINITE(vi);
        if (commit) { m1[i] = mi; m2[i] = vi; p[i] = pi; }
    }
    return ok;
}

LN_VINLINE int FN(ln_opt_adam)(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                           T *p, const T *g, T *const *s, int commit)
{
    return commit ? FN(ln_opt_adam_pass)(1, o, t, gscale, n, p, g, s)
                  : FN(ln_opt_adam_pass)(0, o, t, gscale, n, p, g, s);
}

/* AdamW, hp = [beta1, beta2, eps] (torch.optim.AdamW): the weight decay is
 * decoupled, p *= 1 - lr wd first, and the moments see the raw gradient:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). s = [m, v]. */
LN_VINLINE int FN(ln_opt_adamw_pass)(const int commit, const ln_optim *o, long long t, T gscale,
                              ptrdiff_t n, T *p, const T *g, T *const *s)
{
    const T decay = (T)(1.0 - o->lr * o->weight_decay);
    const T b1 = (T)o->hp[0], b2 = (T)o->hp[1], eps = (T)o->hp[2];
    const T c1 = (T)(1.0 - o->hp[0]), c2 = (T)(1.0 - o->hp[1]);
    const double bc1 = 1.0 - pow(o->hp[0], (double)t), bc2 = 1.0 - pow(o->hp[1], (double)t);
    const T step_size = (T)(o->lr / bc1), sqrt_bc2 = (T)sqrt(bc2);
    T *m1 = s[0], *m2 = s[1];
    int ok = 1;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        const T gi = g[i] * gscale;
        const T mi = b1 * m1[i] + c1 * gi;
        const T vi = b2 * m2[i] + c2 * gi * gi;
        const T pi = p[i] * decay - step_size * mi / (T_SQRT(vi) / sqrt_bc2 + eps);
        ok &= LN_FINITE(pi) & LN_FINITE(mi) & LN_FINITE(vi);
        if (commit) { m1[i] = mi; m2[i] = vi; p[i] = pi; }
    }
    return ok;
}

LN_VINLINE int FN(ln_opt_adamw)(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                            T *p, const T *g, T *const *s, int commit)
{
    return commit ? FN(ln_opt_adamw_pass)(1, o, t, gscale, n, p, g, s)
                  : FN(ln_opt_adamw_pass)(0, o, t, gscale, n, p, g, s);
}

/* RMSprop, hp = [alpha, eps, momentum] (torch.optim.RMSprop, not centred),
 * with L2 weight decay (g += wd p): v = alpha v + (1-alpha) g^2;
 * without momentum p -= lr g / (sqrt(v) + eps); with it
 * b = momentum b + g / (sqrt(v) + eps), p -= lr b. s = [v, b]. */
LN_VINLINE int FN(ln_opt_rmsprop_pass)(const int commit, const ln_optim *o, long long t, T gscale,
                                ptrdiff_t n, T *p, const T *g, T *const *s)
{
    const T lr = (T)o->lr, wd = (T)o->weight_decay, alpha = (T)o->hp[0], eps = (T)o->hp[1];
    const T mu = (T)o->hp[2], c = (T)(1.0 - o->hp[0]);
    T *sq = s[0], *buf = s[1];
    int ok = 1;
    ptrdiff_t i;
    (void)t;
    if (mu != 0 && buf != NULL) {
        for (i = 0; i < n; i++) {
            const T gi = g[i] * gscale + wd * p[i];
            const T vi = alpha * sq[i] + c * gi * gi;
            const T bi = mu * buf[i] + gi / (T_SQRT(vi) + eps);
            const T pi = p[i] - lr * bi;
            ok &= LN_FINITE(pi) & LN_FINITE(vi) & LN_FINITE(bi);
            if (commit) { sq[i] = vi; buf[i] = bi; p[i] = pi; }
        }
    } else {
        for (i = 0; i < n; i++) {
            const T gi = g[i] * gscale + wd * p[i];
            const T vi = alpha * sq[i] + c * gi * gi;
            const T pi = p[i] - lr * (gi / (T_SQRT(vi) + eps));
            ok &= LN_FINITE(pi) & LN_FINITE(vi);
            if (commit) { sq[i] = vi; p[i] = pi; }
        }
    }
    return ok;
}

LN_VINLINE int FN(ln_opt_rmsprop)(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                              T *p, const T *g, T *const *s, int commit)
{
    return commit ? FN(ln_opt_rmsprop_pass)(1, o, t, gscale, n, p, g, s)
                  : FN(ln_opt_rmsprop_pass)(0, o, t, gscale, n, p, g, s);
}

#undef LN_FINITE

LN_VFUNC int KFN(ln_opt_update)(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                                T *p, const T *g, T *const *s, int commit)
{
#define LN_CASE_(id, name, n_state, optional_hp) case LN_OPT_##id: return FN(ln_opt_##id)(o, t, gscale, n, p, g, s, commit);
    switch (o->kind) { LN_OPTIMIZER_TABLE(LN_CASE_) default: return 0; }
#undef LN_CASE_
}
