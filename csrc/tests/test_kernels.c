/* test_kernels.c: the element-wise hooks against independent oracles.
 *
 *   activations  ln_activation_apply, forward and derivative (from the kept
 *                tensor: H, or Z for an activation that needs it), on every
 *                instruction set this CPU runs and both types, over wide
 *                ranges (tails, +-0, subnormals, huge values, +-inf, NaN)
 *                against the libm references; the worst relative error per
 *                activation and ISA is printed
 *   losses       ln_loss for every row of the loss table against naive
 *                double formulas (tests/check.h), with and without sample
 *                weights, and its gradient against central differences
 *   optimizers   ln_optimizer_update for every row of the optimizer table
 *                against double replays of torch.optim's formulas over 20
 *                steps, and the all-or-nothing contract (an update that
 *                would overflow changes nothing)
 *   finiteness   ln_first_nonfinite against a naive scan, on one thread and
 *                on several (a long input is split across them): the
 *                first inf or NaN, wherever the items' edges fall
 *   allocations  a second identical call allocates nothing
 * Exit status 0 when every check passes.
 */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/pool.h"
#include "tests/check.h"

/* ------------------------------------------------------------------ */
/* Activations                                                         */
/* ------------------------------------------------------------------ */

/* Relative tolerances (float ~1e-5, double ~1e-12), and the unit roundoff. */
static double act_tol(int dtype) { return dtype == LN_FLOAT32 ? 1e-5 : 1e-12; }
static double unit_roundoff(int dtype) { return dtype == LN_FLOAT32 ? 0x1p-24 : 0x1p-53; }
static double smallest_normal(int dtype) { return dtype == LN_FLOAT32 ? FLT_MIN : DBL_MIN; }

/* The tolerance at input x. gelu's lower tail is conditioned by erfc: the
 * vector form scales z by -1/sqrt 2 in the element type before erfc, and
 * erfc(u) moves by 2u^2 = z^2 times a relative change of u (likewise exp(-z^2/2)
 * in the derivative), so the type's rounding of that product alone costs about
 * z^2 units of roundoff. */
static double act_tol_at(int dtype, int act, double x)
{
    double tol = act_tol(dtype);
    if (act == LN_ACT_gelu && x < -1) tol += 2 * unit_roundoff(dtype) * x * x;
    return tol;
}

/* Inputs: signed zeros, +-inf, NaN, the type's extremes, every binade from
 * the smallest subnormal to the largest value, dense sweeps over the
 * ranges where the activations bend and saturate, and random values at
 * random scales. Values are rounded to the type. */
static double *act_grid(int dtype, ptrdiff_t *count)
{
    const int f32 = dtype == LN_FLOAT32;
    const int kmin = f32 ? -149 : -1074, kmax = f32 ? 127 : 1023;
    const double lo = f32 ? -110 : -760, hi = f32 ? 90 : 720, step = f32 ? 1.0 / 32 : 1.0 / 8;
    const double fine = f32 ? 1.0 / 256 : 1.0 / 512;
    const ptrdiff_t n_random = REPS(20000, 4000);
    static const double mant[] = { 1.0, 1.37, 1.999 };
    static const double special[] = { 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 0.34657359027997264,
                                      -0.34657359027997264, 20.0, -20.0, 40.0, -40.0 };
    ptrdiff_t cap = 64 + (kmax - kmin + 1) * 6 + (ptrdiff_t)((hi - lo) / step) + (ptrdiff_t)(80 / fine) +
                    n_random + 16, n = 0, i;
    double *g = malloc((size_t)cap * sizeof *g), x;
    int k;
    size_t s;
    for (s = 0; s < sizeof special / sizeof *special; ++s) g[n++] = special[s];
    g[n++] = NAN; g[n++] = -NAN; g[n++] = INFINITY; g[n++] = -INFINITY;
    g[n++] = f32 ? FLT_MAX : DBL_MAX; g[n++] = f32 ? -FLT_MAX : -DBL_MAX;
    g[n++] = f32 ? FLT_MIN : DBL_MIN; g[n++] = f32 ? -FLT_MIN : -DBL_MIN;
    g[n++] = f32 ? 0x1p-149 : 0x1p-1074;
    g[n++] = f32 ? -0x1p-149 : -0x1p-1074;
    for (k = kmin; k <= kmax; ++k)
        for (s = 0; s < sizeof mant / sizeof *mant; ++s) {
            x = ldexp(mant[s], k);
            g[n++] = x;
            g[n++] = -x;
        }
    for (x = lo; x <= hi; x += step) g[n++] = x;
    for (x = -40; x <= 40; x += fine) g[n++] = x;
    for (i = 0; i < n_random; ++i) g[n++] = urand() * pow(10.0, 3 * urand() * (f32 ? 1 : 2));
    for (i = 0; i < n; ++i) g[i] = f32 ? (double)(float)g[i] : g[i];
    *count = n;
    return g;
}

/* The size of the terms an activation's derivative adds up at the kept
 * tensor s (0 where it adds none). Near a zero of the derivative (silu' and
 * gelu' cross zero, tanh' = 1 - h^2 vanishes as |h| -> 1) the result is
 * smaller than its terms, and its error is relative to them. */
static double act_terms(int act, int mode, double s)
{
    if (mode == 0 || isnan(s) || isinf(s)) return 0;
    switch (act) {
    case LN_ACT_tanh: return 1 + s * s;                         /* 1 - h^2 */
    case LN_ACT_sigmoid: return fabs(s) * (1 + fabs(s));         /* h (1 - h) */
    case LN_ACT_silu: {                                          /* sig (1 + z (1 - sig)) */
        const double sig = ln_act_ref(LN_ACT_sigmoid, s);
        return sig * (1 + fabs(s) * (1 - sig));
    }
    case LN_ACT_gelu:                                            /* Phi(z) + z phi(z) */
        return 0.5 * erfc(-s * 0.70710678118654752440) + fabs(s) * 0.39894228040143267794 * exp(-0.5 * s * s);
    default: return 0;
    }
}

/* The error of got against the reference want (relative to the larger of
 * |want| and the terms' size), 0 for matching specials, or -1 when it fails
 * outright (a NaN, an infinity or the sign of a zero that differs). */
static double act_error(int dtype, double want, double got, double terms)
{
    const double want_t = round_to(dtype, want);
    if (isnan(want)) return isnan(got) ? 0 : -1;
    if (isnan(got)) return -1;
    if (isinf(want_t) || isinf(got)) return got == want_t ? 0 : -1;
    if (want == 0 && got == 0) return signbit(want) == signbit(got) ? 0 : -1;
    return fabs(got - want) / fmax(fmax(fabs(want), terms), smallest_normal(dtype));
}

/* One activation in one mode on the active ISA: the whole grid in one call,
 * then every short length (exactly sized buffers, so a vector tail that
 * reads or writes past the end faults under ASan). Returns the worst error. */
static double check_activation(const char *isa, int dtype, int act, int mode, const double *grid, ptrdiff_t n_grid,
                               double *worst_at)
{
    const size_t es = el_size(dtype);
    const int from_h = mode == 1 && !ln_activation_needs_z(act);
    void *in = malloc((size_t)n_grid * es), *out = malloc((size_t)n_grid * es);
    double worst = 0;
    ptrdiff_t i, len;
    int reported = 0, rc;
    /* The derivative of an activation that keeps H sees H = act(z), rounded to the type */
    for (i = 0; i < n_grid; ++i) set_el(dtype, in, i, from_h ? ln_act_ref(act, grid[i]) : grid[i]);
    rc = ln_activation_apply(dtype, act, mode, n_grid, in, out);
    CHECK(rc == LN_OK, "%s activation %s mode %d returned %d", isa, ln_activation_name(act), mode, rc);
    for (len = 0; len <= 24; ++len) {
        /* len 0: the whole grid (checked below); then lengths 1..24 from random positions */
        void *tin = len ? malloc((size_t)len * es) : in, *tout = len ? malloc((size_t)len * es) : out;
        const ptrdiff_t count = len ? len : n_grid;
        if (len) {
            for (i = 0; i < len; ++i) set_el(dtype, tin, i, get_el(dtype, in, irand((int)n_grid)));
            rc = ln_activation_apply(dtype, act, mode, len, tin, tout);
            CHECK(rc == LN_OK, "%s activation %s mode %d length %td returned %d", isa, ln_activation_name(act),
                  mode, len, rc);
        }
        for (i = 0; i < count; ++i) {
            const double x = get_el(dtype, tin, i), got = get_el(dtype, tout, i);
            const double want = mode ? ln_dact_ref(act, x) : ln_act_ref(act, x);
            const double err = act_error(dtype, want, got, act_terms(act, mode, x));
            const int ok = err >= 0 && err <= act_tol_at(dtype, act, x);
            if (err > worst) { worst = err; *worst_at = x; }
            ++n_checks;
            if (!ok) {
                ++n_fail;
                if (reported++ < 5)
                    fprintf(stderr, "FAIL %s %s %s %s(%.17g) = %.17g, want %.17g (relative error %.3g, tol %.3g)\n",
                            isa, dtype_name(dtype), ln_activation_name(act), mode ? "derivative" : "forward",
                            x, got, want, err, act_tol_at(dtype, act, x));
            }
        }
        if (len) { free(tin); free(tout); }
    }
    free(in);
    free(out);
    return worst;
}

static void test_activations(void)
{
    const char *names[8];
    const int n_isas = supported_isas(names, 8);
    int i, dtype, mode, act;
    CHECK(ln_activation_count() == LN_ACT_COUNT, "ln_activation_count %d, table has %d", ln_activation_count(),
          LN_ACT_COUNT);
    CHECK(ln_activation_name(LN_ACT_COUNT) == NULL, "a name past the activation table");
    for (act = 0; act < LN_ACT_COUNT; ++act)
        CHECK(ln_activation_needs_z(act) == ln_act_needs_z(act), "needs_z of %s", ln_activation_name(act));
    printf("activations: worst relative error against the libm references (input of the worst;\n"
           "relative to the derivative's terms where they cancel)\n");
    for (i = 0; i < n_isas; ++i) {
        ln_set_isa(names[i]);
        for (dtype = 0; dtype < 2; ++dtype) {
            ptrdiff_t n_grid;
            double *grid = act_grid(dtype, &n_grid);
            for (mode = 0; mode < 2; ++mode) {
                printf("  %-8s %s %-10s", names[i], dtype_name(dtype), mode ? "derivative" : "forward");
                for (act = 0; act < LN_ACT_COUNT; ++act) {
                    double at = 0, worst = check_activation(names[i], dtype, act, mode, grid, n_grid, &at);
                    printf(" %s %.2g", ln_activation_name(act), worst);
                    if (worst > 0) printf(" (%.3g)", at);
                }
                printf("\n");
            }
            free(grid);
        }
        {
            float x = 1.0f, y;
            CHECK(ln_activation_apply(LN_FLOAT32, LN_ACT_COUNT, 0, 1, &x, &y) == LN_ERR_ARG,
                  "an activation index past the table must be refused");
            CHECK(ln_activation_apply(LN_FLOAT32, -1, 0, 1, &x, &y) == LN_ERR_ARG, "activation -1 must be refused");
            CHECK(ln_activation_apply(LN_FLOAT32, 0, 0, -1, &x, &y) == LN_ERR_ARG, "size -1 must be refused");
            y = 7.0f;
            CHECK(ln_activation_apply(LN_FLOAT32, 0, 0, 0, &x, &y) == LN_OK && y == 7.0f,
                  "size 0 must succeed and write nothing");
        }
    }
    ln_set_isa(names[0]);
}

/* ------------------------------------------------------------------ */
/* Losses                                                              */
/* ------------------------------------------------------------------ */

enum { TARGET_ANY, TARGET_SOFT, TARGET_ONEHOT, TARGET_UNNORMALISED };

/* Fills an n x m batch: outputs (every fourth row with large logits, to
 * need the log-sum-exp shift) and targets of the given style, rounded to
 * the type. */
static void loss_batch(int dtype, ptrdiff_t n, ptrdiff_t m, int style, double *H, double *Y)
{
    const double big = dtype == LN_FLOAT32 ? 60 : 500;
    ptrdiff_t i, j;
    for (i = 0; i < n; ++i) {
        double sum = 0;
        for (j = 0; j < m; ++j) {
            H[i * m + j] = (i % 4 == 3 ? big : 3) * urand();
            Y[i * m + j] = style == TARGET_ANY ? 2 * urand() : 0.05 + (urand() + 1) / 2;
            sum += Y[i * m + j];
        }
        if (style == TARGET_ONEHOT) {
            for (j = 0; j < m; ++j) Y[i * m + j] = 0;
            Y[i * m + irand((int)m)] = 1;
        } else if (style == TARGET_SOFT) {
            for (j = 0; j < m; ++j) Y[i * m + j] /= sum;
        }
        for (j = 0; j < m; ++j) {
            H[i * m + j] = round_to(dtype, H[i * m + j]);
            Y[i * m + j] = round_to(dtype, Y[i * m + j]);
        }
    }
}

/* The size of the terms a loss adds up (its tolerance is relative to it):
 * for cross-entropy the logits and log-sum-exp each target multiplies. */
static double loss_magnitude(ptrdiff_t n, ptrdiff_t m, const double *H, const double *Y, const double *w,
                             double scale)
{
    double total = 0;
    ptrdiff_t i, j;
    for (i = 0; i < n; ++i) {
        double hmax = H[i * m], row = 0;
        for (j = 1; j < m; ++j) if (H[i * m + j] > hmax) hmax = H[i * m + j];
        for (j = 0; j < m; ++j)
            row += (fabs(Y[i * m + j]) + 1) * (fabs(H[i * m + j] - hmax) + log((double)m) + 1 + fabs(Y[i * m + j]));
        total += (w ? w[i] : 1) * row;
    }
    return fabs(scale) * total;
}

static void check_loss_case(int dtype, int kind, ptrdiff_t n, ptrdiff_t m, int style, int weighted, int own_scale)
{
    const char *name = ln_loss_name(kind);
    const size_t es = el_size(dtype);
    double *H = malloc((size_t)(n * m) * 8), *Y = malloc((size_t)(n * m) * 8), *w = malloc((size_t)n * 8);
    double *row = malloc((size_t)m * 8);
    void *Hx = malloc((size_t)(n * m) * es), *Yx = malloc((size_t)(n * m) * es), *wx = malloc((size_t)n * es);
    void *gx = malloc((size_t)(n * m) * es);
    double scale, want, got = NAN, got2 = NAN, tol, mag;
    ptrdiff_t i, j;
    int rc, bad = 0;
    loss_batch(dtype, n, m, style, H, Y);
    for (i = 0; i < n; ++i) w[i] = round_to(dtype, i == 1 ? 0.0 : 1 + urand());   /* row 1 weighs nothing */
    for (i = 0; i < n * m; ++i) { set_el(dtype, Hx, i, H[i]); set_el(dtype, Yx, i, Y[i]); }
    for (i = 0; i < n; ++i) set_el(dtype, wx, i, w[i]);
    scale = own_scale ? 0.37 : oracle_scale(name, n, weighted ? w : NULL, 0);
    rc = ln_loss(dtype, kind, NULL, n, m, Hx, Yx, weighted ? wx : NULL, scale, gx, &got);
    want = oracle_loss(name, n, m, H, Y, weighted ? w : NULL, scale);
    mag = loss_magnitude(n, m, H, Y, weighted ? w : NULL, scale);
    tol = (dtype == LN_FLOAT32 ? 1e-6 : 1e-13) * (fabs(want) + mag);
    CHECK(rc == LN_OK && fabs(got - want) <= tol,
          "loss %s %s n=%td m=%td targets=%d weighted=%d scale=%g: %.17g, want %.17g (tol %.3g, status %d)", name,
          dtype_name(dtype), n, m, style, weighted, scale, got, want, tol, rc);
    /* Without a gradient buffer: the same value */
    rc = ln_loss(dtype, kind, NULL, n, m, Hx, Yx, weighted ? wx : NULL, scale, NULL, &got2);
    CHECK(rc == LN_OK && got2 == got, "loss %s %s without gradient: %.17g, with: %.17g", name, dtype_name(dtype), got2,
          got);
    /* Gradient: central differences of row i's term scale * w_i * l_i, in
     * double (the other rows' terms do not depend on row i's outputs) */
    for (i = 0; i < n && !bad; ++i) {
        const double wi = weighted ? w[i] : 1.0;
        const double li = oracle_row_loss(name, m, H + i * m, Y + i * m);
        double ysum = 0;
        for (j = 0; j < m; ++j) ysum += fabs(Y[i * m + j]);
        for (j = 0; j < m && !bad; ++j) {
            const double x = H[i * m + j], h = 1e-6 * fmax(1, fabs(x));
            const double gmag = fabs(scale * wi) * (1 + fabs(x) + fabs(Y[i * m + j]) + ysum);
            double xp = x + h, xm = x - h, fp, fm, fd, g;
            memcpy(row, H + i * m, (size_t)m * 8);
            row[j] = xp; fp = scale * wi * oracle_row_loss(name, m, row, Y + i * m);
            row[j] = xm; fm = scale * wi * oracle_row_loss(name, m, row, Y + i * m);
            fd = (fp - fm) / (xp - xm);
            g = get_el(dtype, gx, i * m + j);
            tol = (dtype == LN_FLOAT32 ? 2e-6 : 1e-8) * gmag + 1e-9 * fabs(scale * wi) * (1 + fabs(li));
            bad = !CHECK(fabs(g - fd) <= tol && (wi != 0 || g == 0),
                         "loss %s %s n=%td m=%td targets=%d weighted=%d: dL/dH[%td,%td] = %.17g, central "
                         "difference %.17g (tol %.3g)", name, dtype_name(dtype), n, m, style, weighted, i, j, g, fd,
                         tol);
        }
    }
    free(H); free(Y); free(w); free(row); free(Hx); free(Yx); free(wx); free(gx);
}

static void test_losses(void)
{
    static const ptrdiff_t shapes[][2] = { { 1, 1 }, { 1, 5 }, { 2, 2 }, { 7, 3 }, { 33, 10 }, { 200, 1 }, { 64, 17 } };
    const double probe_h[2] = { 0.5, -1.0 }, probe_y[2] = { 1.0, 0.0 };
    int kind, dtype, weighted, style;
    size_t s;
    const long fails_before = n_fail;
    CHECK(ln_loss_name(ln_loss_count()) == NULL, "a name past the loss table");
    for (kind = 0; kind < ln_loss_count(); ++kind) {
        const char *name = ln_loss_name(kind);
        const int ce = name && !strcmp(name, "cross_entropy");
        if (!CHECK(name && !isnan(oracle_row_loss(name, 2, probe_h, probe_y)),
                   "loss %d (%s) has no oracle in tests/check.h", kind, name ? name : "NULL"))
            continue;
        CHECK(ln_loss_reduces_by_sum(kind) == oracle_sums_rows(name), "loss %s: reduction by sum is %d", name,
              ln_loss_reduces_by_sum(kind));
        for (dtype = 0; dtype < 2; ++dtype)
            for (s = 0; s < sizeof shapes / sizeof *shapes; ++s)
                for (weighted = 0; weighted < 2; ++weighted)
                    for (style = ce ? TARGET_SOFT : TARGET_ANY; style <= (ce ? TARGET_UNNORMALISED : TARGET_ANY);
                         ++style) {
                        check_loss_case(dtype, kind, shapes[s][0], shapes[s][1], style, weighted, 0);
                        if (s == 3) check_loss_case(dtype, kind, shapes[s][0], shapes[s][1], style, weighted, 1);
                    }
    }
    {
        double H = 1, loss;
        CHECK(ln_loss(LN_FLOAT64, ln_loss_count(), NULL, 1, 1, &H, &H, NULL, 1, NULL, &loss) == LN_ERR_ARG,
              "a loss index past the table must be refused");
        CHECK(ln_loss(LN_FLOAT64, 0, NULL, 0, 1, &H, &H, NULL, 1, NULL, &loss) == LN_ERR_ARG,
              "a loss of 0 rows must be refused");
    }
    printf("losses: %d kinds x 2 types x %d shapes, weighted and not: %s\n", ln_loss_count(),
           (int)(sizeof shapes / sizeof *shapes), n_fail == fails_before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Optimizers                                                          */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    double lr, weight_decay, hp[3];
} opt_case;

/* hp in each row's order: sgd [momentum, nesterov], adam and adamw [beta1,
 * beta2, eps], rmsprop [alpha, eps, momentum] */
static const opt_case opt_cases[] = {
    { "sgd", 0.1, 0.0, { 0, 0, 0 } },
    { "sgd", 0.05, 0.01, { 0, 0, 0 } },
    { "sgd", 0.1, 0.0, { 0.9, 0, 0 } },
    { "sgd", 0.02, 1e-3, { 0.9, 1, 0 } },
    { "sgd", 0.3, 0.1, { 0.5, 1, 0 } },
    { "adam", 1e-3, 0.0, { 0.9, 0.999, 1e-8 } },
    { "adam", 0.1, 0.01, { 0.5, 0.9, 1e-6 } },
    { "adam", 0.05, 0.0, { 0.8, 0.99, 1e-3 } },
    { "adamw", 1e-2, 1e-2, { 0.9, 0.999, 1e-8 } },
    { "adamw", 0.05, 0.1, { 0.5, 0.9, 1e-6 } },
    { "rmsprop", 1e-2, 0.0, { 0.99, 1e-8, 0 } },
    { "rmsprop", 0.02, 0.01, { 0.9, 1e-6, 0.8 } },
};

/* One step of torch.optim's update in double: p and s[] updated in place.
 * Alongside, mp and ms[] track the size of the terms each value sums (the
 * rounding of a float step is relative to them, not to a value that
 * cancelled). */
static void replay_step(const opt_case *c, long long t, ptrdiff_t n, double *p, const double *g, double **s,
                        double *mp, double **ms)
{
    ptrdiff_t i;
    if (!strcmp(c->name, "sgd")) {
        /* torch.optim.SGD, dampening 0: d = g + wd p; buf = d on the first
         * step, else mu buf + d; d = nesterov ? d + mu buf : buf; p -= lr d */
        const double mu = c->hp[0];
        for (i = 0; i < n; ++i) {
            double d = g[i] + c->weight_decay * p[i], md = fabs(g[i]) + fabs(c->weight_decay * p[i]);
            if (mu != 0) {
                s[0][i] = t == 1 ? d : mu * s[0][i] + d;
                ms[0][i] = t == 1 ? md : mu * ms[0][i] + md;
                md = c->hp[1] != 0 ? md + mu * ms[0][i] : ms[0][i];
                d = c->hp[1] != 0 ? d + mu * s[0][i] : s[0][i];
            }
            p[i] -= c->lr * d;
            mp[i] += c->lr * md;
        }
    } else if (!strcmp(c->name, "adam")) {
        /* torch.optim.Adam (L2 weight decay, no amsgrad): d = g + wd p;
         * m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2;
         * p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps) */
        const double b1 = c->hp[0], b2 = c->hp[1], eps = c->hp[2];
        const double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
        for (i = 0; i < n; ++i) {
            const double d = g[i] + c->weight_decay * p[i], md = fabs(g[i]) + fabs(c->weight_decay * p[i]);
            double denom;
            s[0][i] = b1 * s[0][i] + (1 - b1) * d;
            s[1][i] = b2 * s[1][i] + (1 - b2) * d * d;
            ms[0][i] = b1 * ms[0][i] + (1 - b1) * md;
            ms[1][i] = b2 * ms[1][i] + (1 - b2) * md * md;
            denom = sqrt(s[1][i]) / sqrt(bc2) + eps;
            p[i] -= c->lr / bc1 * s[0][i] / denom;
            mp[i] += c->lr / bc1 * ms[0][i] / denom;
        }
    } else if (!strcmp(c->name, "adamw")) {
        /* torch.optim.AdamW: p *= 1 - lr wd first; then Adam's step on the raw g */
        const double b1 = c->hp[0], b2 = c->hp[1], eps = c->hp[2];
        const double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
        for (i = 0; i < n; ++i) {
            double denom;
            p[i] *= 1 - c->lr * c->weight_decay;
            mp[i] *= 1 - c->lr * c->weight_decay;
            s[0][i] = b1 * s[0][i] + (1 - b1) * g[i];
            s[1][i] = b2 * s[1][i] + (1 - b2) * g[i] * g[i];
            ms[0][i] = b1 * ms[0][i] + (1 - b1) * fabs(g[i]);
            ms[1][i] = b2 * ms[1][i] + (1 - b2) * g[i] * g[i];
            denom = sqrt(s[1][i]) / sqrt(bc2) + eps;
            p[i] -= c->lr / bc1 * s[0][i] / denom;
            mp[i] += c->lr / bc1 * ms[0][i] / denom;
        }
    } else if (!strcmp(c->name, "rmsprop")) {
        /* torch.optim.RMSprop (not centred): d = g + wd p; v = a v + (1-a) d^2;
         * b = mu b + d / (sqrt(v) + eps) with momentum, else that step itself; p -= lr b */
        const double alpha = c->hp[0], eps = c->hp[1], mu = c->hp[2];
        for (i = 0; i < n; ++i) {
            const double d = g[i] + c->weight_decay * p[i], md = fabs(g[i]) + fabs(c->weight_decay * p[i]);
            double step, mstep;
            s[0][i] = alpha * s[0][i] + (1 - alpha) * d * d;
            ms[0][i] = alpha * ms[0][i] + (1 - alpha) * md * md;
            step = d / (sqrt(s[0][i]) + eps);
            mstep = md / (sqrt(s[0][i]) + eps);
            if (mu != 0) {
                s[1][i] = mu * s[1][i] + step;
                ms[1][i] = mu * ms[1][i] + mstep;
                step = s[1][i];
                mstep = ms[1][i];
            }
            p[i] -= c->lr * step;
            mp[i] += c->lr * mstep;
        }
    }
}

static int has_replay(const char *name)
{
    size_t c;
    for (c = 0; c < sizeof opt_cases / sizeof *opt_cases; ++c)
        if (name && !strcmp(opt_cases[c].name, name)) return 1;
    return 0;
}

static int find_optimizer(const char *name)
{
    int k;
    for (k = 0; k < ln_optimizer_count(); ++k)
        if (!strcmp(ln_optimizer_name(k), name)) return k;
    return -1;
}

static ln_optim make_optim(const opt_case *c, int kind)
{
    ln_optim o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.lr = c->lr;
    o.weight_decay = c->weight_decay;
    memcpy(o.hp, c->hp, sizeof c->hp);
    return o;
}

/* 20 steps of one case against the replay; p and every state compared after each. */
static void check_optimizer_case(const opt_case *c, int dtype)
{
    enum { N = 37, STEPS = 20 };
    const int kind = find_optimizer(c->name), n_state = ln_optimizer_n_state(kind);
    const size_t es = el_size(dtype);
    double p[N], g[N], st[LN_OPT_MAX_STATE][N], *sd[LN_OPT_MAX_STATE];
    double mp[N], mst[LN_OPT_MAX_STATE][N], *msd[LN_OPT_MAX_STATE];
    void *px = malloc(N * es), *gx = malloc(N * es), *sx[LN_OPT_MAX_STATE] = { 0 };
    /* Relative to the size of the terms each value sums; float rounds at each step */
    const double rtol = dtype == LN_FLOAT32 ? 1e-5 : 1e-12;
    ln_optim o = make_optim(c, kind);
    long long t;
    int k, bad = 0;
    ptrdiff_t i;
    for (k = 0; k < LN_OPT_MAX_STATE; ++k) { sd[k] = st[k]; msd[k] = mst[k]; }
    for (i = 0; i < N; ++i) {
        p[i] = round_to(dtype, 2 * urand());
        mp[i] = fabs(p[i]);
        set_el(dtype, px, i, p[i]);
    }
    for (k = 0; k < n_state; ++k) {
        sx[k] = malloc(N * es);
        for (i = 0; i < N; ++i) {
            /* SGD's momentum buffer is not read on the first step: NaN proves it */
            const double init = strcmp(c->name, "sgd") ? 0.0 : NAN;
            st[k][i] = mst[k][i] = 0;
            set_el(dtype, sx[k], i, init);
        }
    }
    o.clip_norm = 0.5;   /* ignored here: clipping belongs to ln_net_update */
    for (t = 1; t <= STEPS && !bad; ++t) {
        int rc;
        for (i = 0; i < N; ++i) {
            g[i] = round_to(dtype, urand() * (t % 3 == 0 ? 10 : 1));
            set_el(dtype, gx, i, g[i]);
        }
        rc = ln_optimizer_update(dtype, &o, t, N, px, gx, sx);
        replay_step(c, t, N, p, g, sd, mp, msd);
        bad = !CHECK(rc == LN_OK, "optimizer %s %s step %lld returned %d", c->name, dtype_name(dtype), t, rc);
        for (i = 0; i < N && !bad; ++i) {
            const double got = get_el(dtype, px, i);
            const double tol = rtol * mp[i];
            bad = !CHECK(fabs(got - p[i]) <= tol, "optimizer %s lr=%g wd=%g hp=[%g %g %g] %s step %lld: p[%td] = %.17g, "
                         "want %.17g (tol %.3g)", c->name, c->lr, c->weight_decay, c->hp[0], c->hp[1], c->hp[2],
                         dtype_name(dtype), t, i, got, p[i], tol);
            for (k = 0; k < n_state && !bad; ++k) {
                const double sgot = get_el(dtype, sx[k], i);
                if (!strcmp(c->name, "sgd") && c->hp[0] == 0) continue;   /* no buffer without momentum */
                bad = !CHECK(fabs(sgot - st[k][i]) <= rtol * mst[k][i],
                             "optimizer %s lr=%g hp=[%g %g %g] %s step %lld: state %d[%td] = %.17g, want %.17g",
                             c->name, c->lr, c->hp[0], c->hp[1], c->hp[2], dtype_name(dtype), t, k, i, sgot,
                             st[k][i]);
            }
        }
    }
    free(px); free(gx);
    for (k = 0; k < n_state; ++k) free(sx[k]);
}

/* What a refused update meets at one element: the gradient there, and
 * optionally the parameter and the first state there (NaN: left alone). */
typedef struct {
    const char *what;
    double lr;           /* 0: the case's own */
    ptrdiff_t index;
    double g, p, s;
} poison;

/* An update whose result is not finite returns LN_ERR_NONFINITE and leaves
 * p and every state bit-identical; the same step with a good gradient then
 * goes through, as if the refused one never happened. */
static void check_all_or_nothing(const opt_case *c, int dtype, const poison *z)
{
    enum { N = 19 };
    const int kind = find_optimizer(c->name), n_state = ln_optimizer_n_state(kind);
    const size_t es = el_size(dtype);
    void *px = malloc(N * es), *gx = malloc(N * es), *p0 = malloc(N * es);
    void *sx[LN_OPT_MAX_STATE] = { 0 }, *s0[LN_OPT_MAX_STATE] = { 0 };
    ln_optim o = make_optim(c, kind);
    ptrdiff_t i;
    int k, rc, same;
    /* Three good steps first, so every state holds something */
    for (k = 0; k < n_state; ++k) {
        sx[k] = calloc(N, es);
        s0[k] = malloc(N * es);
    }
    for (i = 0; i < N; ++i) set_el(dtype, px, i, urand());
    for (o.step = 1; o.step <= 3; ++o.step) {
        for (i = 0; i < N; ++i) set_el(dtype, gx, i, urand());
        rc = ln_optimizer_update(dtype, &o, o.step, N, px, gx, sx);
        CHECK(rc == LN_OK, "optimizer %s %s: good step %lld returned %d", c->name, dtype_name(dtype), o.step, rc);
    }
    if (!isnan(z->p)) set_el(dtype, px, z->index, z->p);
    if (!isnan(z->s) && n_state > 0) set_el(dtype, sx[0], z->index, z->s);
    memcpy(p0, px, N * es);
    for (k = 0; k < n_state; ++k) memcpy(s0[k], sx[k], N * es);
    for (i = 0; i < N; ++i) set_el(dtype, gx, i, 1e-3 * urand());
    set_el(dtype, gx, z->index, z->g);
    if (z->lr > 0) o.lr = z->lr;
    rc = ln_optimizer_update(dtype, &o, 4, N, px, gx, sx);
    same = memcmp(p0, px, N * es) == 0;
    for (k = 0; k < n_state; ++k) same &= memcmp(s0[k], sx[k], N * es) == 0;
    CHECK(rc == LN_ERR_NONFINITE && same, "optimizer %s hp=[%g %g %g] %s, %s at element %td: status %d (want %d), "
          "p and state %s", c->name, c->hp[0], c->hp[1], c->hp[2], dtype_name(dtype), z->what, z->index, rc,
          LN_ERR_NONFINITE, same ? "unchanged" : "CHANGED");
    /* The refused step changed nothing, so a good step 4 still goes through */
    o.lr = c->lr;
    set_el(dtype, gx, z->index, 0.5);
    rc = ln_optimizer_update(dtype, &o, 4, N, px, gx, sx);
    CHECK(rc == LN_OK && memcmp(p0, px, N * es) != 0, "optimizer %s %s: a good step after a refused one: status %d",
          c->name, dtype_name(dtype), rc);
    free(px); free(gx); free(p0);
    for (k = 0; k < n_state; ++k) { free(sx[k]); free(s0[k]); }
}

/* The ways an update of this case can come out non-finite. */
static void check_refusals(const opt_case *c, int dtype)
{
    const double M = dtype == LN_FLOAT32 ? FLT_MAX : DBL_MAX, f32 = dtype == LN_FLOAT32;
    const int sgd = !strcmp(c->name, "sgd"), adam = !strcmp(c->name, "adam");
    poison z[8];
    int n = 0, i;
    z[n].what = "a NaN gradient"; z[n].lr = 0; z[n].index = 9; z[n].g = NAN; z[n].p = z[n].s = NAN; ++n;
    z[n].what = "an infinite gradient"; z[n].lr = 0; z[n].index = 18; z[n].g = -INFINITY; z[n].p = z[n].s = NAN; ++n;
    if (sgd) {
        /* lr 1e38 in float (1e307 in double) times a gradient of 1e3 */
        z[n].what = "lr 1e38 / 1e307"; z[n].lr = f32 ? 1e38 : 1e307; z[n].index = 0; z[n].g = 1e3;
        z[n].p = z[n].s = NAN; ++n;
        z[n] = z[n - 1]; z[n].index = 18; ++n;
        /* A parameter near the largest value, pushed over it */
        z[n].what = "a parameter pushed past the largest value"; z[n].lr = 0; z[n].index = 18;
        z[n].g = fmin(0.9 * M, 0.05 * M / c->lr); z[n].p = -0.99 * M; z[n].s = NAN; ++n;
        if (c->hp[0] != 0) {
            z[n].what = "a momentum buffer overflowing"; z[n].lr = 0; z[n].index = 0;
            z[n].g = 0.6 * M; z[n].p = NAN; z[n].s = 0.9 * M; ++n;
        }
    }
    if (adam) {
        /* g ~ 1e21 in float (1e160 in double): its square overflows */
        z[n].what = "g 1e21 / 1e160"; z[n].lr = 0; z[n].index = 18; z[n].g = f32 ? 1e21 : 1e160;
        z[n].p = z[n].s = NAN; ++n;
        z[n] = z[n - 1]; z[n].index = 0; z[n].g = -z[n].g; ++n;
    }
    for (i = 0; i < n; ++i) check_all_or_nothing(c, dtype, &z[i]);
}

static void test_optimizers(void)
{
    const long fails_before = n_fail;
    const char *names[8];
    const int n_isas = supported_isas(names, 8);
    int i, k, dtype;
    size_t c;
    CHECK(ln_optimizer_name(ln_optimizer_count()) == NULL, "a name past the optimizer table");
    for (k = 0; k < ln_optimizer_count(); ++k)
        CHECK(has_replay(ln_optimizer_name(k)), "optimizer %d (%s) has no replay in test_kernels.c", k,
              ln_optimizer_name(k) ? ln_optimizer_name(k) : "NULL");
    /* every ISA's compiled update, the portable twin included */
    for (i = 0; i < n_isas; ++i) {
        ln_set_isa(names[i]);
        for (c = 0; c < sizeof opt_cases / sizeof *opt_cases; ++c) {
            const opt_case *oc = &opt_cases[c];
            if (!CHECK(find_optimizer(oc->name) >= 0, "optimizer %s is not in the table", oc->name)) continue;
            for (dtype = 0; dtype < 2; ++dtype) {
                check_optimizer_case(oc, dtype);
                check_refusals(oc, dtype);
            }
        }
    }
    ln_set_isa(names[0]);
    {
        /* SGD with momentum needs its buffer */
        const int sgd = find_optimizer("sgd");
        double p = 1, g = 1;
        void *none[LN_OPT_MAX_STATE] = { 0 };
        ln_optim o = make_optim(&opt_cases[2], sgd);
        CHECK(ln_optimizer_update(LN_FLOAT64, &o, 1, 1, &p, &g, none) == LN_ERR_ARG && p == 1,
              "SGD with momentum and no buffer must be refused");
        CHECK(ln_optimizer_update(LN_FLOAT64, &o, 0, 1, &p, &g, none) == LN_ERR_ARG, "step 0 must be refused");
    }
    printf("optimizers: %d kinds, %d cases x 2 types x 20 steps x %d ISAs, all-or-nothing: %s\n",
           ln_optimizer_count(), (int)(sizeof opt_cases / sizeof *opt_cases), n_isas,
           n_fail == fails_before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Finiteness scan                                                     */
/* ------------------------------------------------------------------ */

static void test_first_nonfinite(void)
{
    /* Long enough to be split across threads, with a ragged tail */
    const ptrdiff_t n = 3 * 262144 + 17;
    const double bad_values[3] = { NAN, INFINITY, -INFINITY };
    const int saved_threads = ln_get_num_threads();
    int dtype, threads, trial;
    long checks = 0;
    for (dtype = 0; dtype < 2; ++dtype) {
        void *x = calloc((size_t)n, el_size(dtype));
        for (threads = 1; threads <= 2; ++threads) {
            ln_set_num_threads(threads);
            CHECK(ln_first_nonfinite(dtype, n, x) == -1, "%s, %d threads: all finite reported a hit",
                  dtype ? "double" : "float", threads);
            for (trial = 0; trial < 40; ++trial) {
                /* One to three bad cells: at the ends, on 256-block edges, anywhere */
                ptrdiff_t at[3], want = n, got, i;
                const int count = 1 + irand(3);
                int k;
                for (k = 0; k < count; ++k) {
                    switch (irand(4)) {
                    case 0: at[k] = irand(2) ? 0 : n - 1; break;
                    case 1: at[k] = (ptrdiff_t)irand((int)(n / 256)) * 256 - irand(2); break;
                    default: at[k] = (ptrdiff_t)irand((int)n); break;
                    }
                    if (at[k] < 0) at[k] = 0;
                    set_el(dtype, x, at[k], bad_values[irand(3)]);
                }
                for (i = 0; i < n && want == n; ++i)
                    if (!isfinite(get_el(dtype, x, i))) want = i;
                got = ln_first_nonfinite(dtype, n, x);
                CHECK(got == want, "%s, %d threads: first non-finite at %td, reported %td",
                      dtype ? "double" : "float", threads, want, got);
                for (k = 0; k < count; ++k) set_el(dtype, x, at[k], 0.0);
                ++checks;
            }
        }
        free(x);
    }
    ln_set_num_threads(saved_threads);
    printf("finiteness: %ld scans against a naive one\n", checks);
}

/* ------------------------------------------------------------------ */
/* Allocations                                                         */
/* ------------------------------------------------------------------ */

static void test_no_allocation(void)
{
    enum { N = 100 };
    const char *names[8];
    const int n_isas = supported_isas(names, 8);
    double in[N], out[N], Y[N], g[N], s0[N], s1[N], loss;
    void *s[LN_OPT_MAX_STATE] = { s0, s1, NULL, NULL };
    long long before;
    int i, act, kind;
    size_t c;
    for (i = 0; i < N; ++i) { in[i] = urand(); Y[i] = urand(); g[i] = urand(); s0[i] = s1[i] = 0; }
    for (i = 0; i < n_isas; ++i) {
        ln_set_isa(names[i]);
        for (act = 0; act < LN_ACT_COUNT; ++act) {
            ln_activation_apply(LN_FLOAT64, act, 0, N, in, out);
            before = ln_alloc_count();
            ln_activation_apply(LN_FLOAT64, act, 0, N, in, out);
            ln_activation_apply(LN_FLOAT64, act, 1, N, in, out);
            CHECK(ln_alloc_count() == before, "%s activation %s allocated %lld times on a repeated call", names[i],
                  ln_activation_name(act), ln_alloc_count() - before);
        }
    }
    ln_set_isa(names[0]);
    for (kind = 0; kind < ln_loss_count(); ++kind) {
        ln_loss(LN_FLOAT64, kind, NULL, 10, 10, in, Y, NULL, 0.1, out, &loss);
        before = ln_alloc_count();
        ln_loss(LN_FLOAT64, kind, NULL, 10, 10, in, Y, NULL, 0.1, out, &loss);
        CHECK(ln_alloc_count() == before, "loss %s allocated on a repeated call", ln_loss_name(kind));
    }
    for (c = 0; c < sizeof opt_cases / sizeof *opt_cases; ++c) {
        ln_optim o = make_optim(&opt_cases[c], find_optimizer(opt_cases[c].name));
        ln_optimizer_update(LN_FLOAT64, &o, 1, N, out, g, s);
        before = ln_alloc_count();
        ln_optimizer_update(LN_FLOAT64, &o, 2, N, out, g, s);
        CHECK(ln_alloc_count() == before, "optimizer %s allocated on a repeated call", opt_cases[c].name);
    }
    printf("allocations: repeated activation, loss and optimizer calls allocate nothing\n");
}

int main(void)
{
    ln_init();
    ln_pool_set_backoff(0);   /* threaded cases stay threaded on a loaded machine */
    printf("threads enabled %d, isa %s\n", ln_threads_enabled(), ln_get_isa());
    test_activations();
    test_losses();
    test_optimizers();
    test_first_nonfinite();
    test_no_allocation();
    return report("test_kernels");
}
