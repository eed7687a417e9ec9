/* check.h: what the C tests share: a seeded generator, pass/fail counters,
 * the list of instruction sets this CPU runs, typed element access and the
 * loss oracle. */
#ifndef LN_TESTS_CHECK_H
#define LN_TESTS_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layernet.h"
#include "kernels/kernels.h"
#include "tables/activations.h"

static unsigned long long rng_state = 88172645463325252ULL;
static long n_checks = 0, n_fail = 0;

/* Uniform in [-1, 1) (xorshift64). */
static double urand(void)
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static int irand(int n) { return (int)((urand() + 1.0) * 0.5 * n) % n; }

/* Counts one check; prints the message (printf-style) when it fails.
 * Returns the condition. */
#define CHECK(cond, ...)                                         \
    (++n_checks, (cond) ? 1 : (++n_fail, fprintf(stderr, "FAIL "), \
                               fprintf(stderr, __VA_ARGS__), fprintf(stderr, "\n"), 0))

/* The instruction sets built in and supported here, by name. */
static int supported_isas(const char **names, int max)
{
    int i, n = 0;
    for (i = 0; i < ln_isa_count() && n < max; ++i)
        if (ln_isa_supported(ln_isa_name_at(i))) names[n++] = ln_isa_name_at(i);
    return n;
}

/* The sanitizer build defines LN_TEST_LIGHT: every kind of case still runs,
 * with fewer repetitions, so the slower instrumented binaries stay quick. */
#ifdef LN_TEST_LIGHT
#define REPS(full, light) (light)
#else
#define REPS(full, light) (full)
#endif

/* Element i of a float32 or float64 buffer, as double, and the converse
 * (rounding to the buffer's type). */
static double get_el(int dtype, const void *p, ptrdiff_t i)
{
    return dtype == LN_FLOAT32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static void set_el(int dtype, void *p, ptrdiff_t i, double v)
{
    if (dtype == LN_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* v rounded to the type. */
static double round_to(int dtype, double v) { return dtype == LN_FLOAT32 ? (double)(float)v : v; }

static size_t el_size(int dtype) { return dtype == LN_FLOAT32 ? sizeof(float) : sizeof(double); }

static const char *dtype_name(int dtype) { return dtype == LN_FLOAT32 ? "f32" : "f64"; }

/* Loss oracle: every loss layernet knows, by name, written from its math in
 * double. One row's loss l_i of outputs h against targets y (m of each):
 *   mse            mean_j (h_j - y_j)^2
 *   mse_sum        sum_j (h_j - y_j)^2
 *   cross_entropy  -sum_j y_j log softmax(h)_j, log-sum-exp shifted by max h
 *   binary_cross_entropy  mean_j -(y_j log s(h_j) + (1 - y_j) log(1 - s(h_j))),
 *                  s the logistic function, with log s(h) = -log(1 + e^-h)
 *   huber          mean_j of e^2/2 where |e| <= 1, else |e| - 1/2 (delta 1)
 *   mae            mean_j |h_j - y_j|
 * NaN for a name it does not know (so a new loss must get its oracle). */
static double oracle_row_loss(const char *name, ptrdiff_t m, const double *h, const double *y)
{
    ptrdiff_t j;
    double acc = 0.0;
    if (name == NULL) return NAN;
    if (!strcmp(name, "mse") || !strcmp(name, "mse_sum")) {
        for (j = 0; j < m; ++j) acc += (h[j] - y[j]) * (h[j] - y[j]);
        return !strcmp(name, "mse") ? acc / (double)m : acc;
    }
    if (!strcmp(name, "cross_entropy")) {
        double hmax = h[0], lse = 0.0;
        for (j = 1; j < m; ++j) if (h[j] > hmax) hmax = h[j];
        for (j = 0; j < m; ++j) lse += exp(h[j] - hmax);
        lse = hmax + log(lse);
        for (j = 0; j < m; ++j) acc -= y[j] * (h[j] - lse);
        return acc;
    }
    if (!strcmp(name, "binary_cross_entropy")) {
        /* log s(h) and log(1 - s(h)) = log s(-h), each as -log1p(e^-x) split by sign */
        for (j = 0; j < m; ++j) {
            const double log_s = h[j] >= 0 ? -log1p(exp(-h[j])) : h[j] - log1p(exp(h[j]));
            const double log_1ms = -h[j] >= 0 ? -log1p(exp(h[j])) : -h[j] - log1p(exp(-h[j]));
            acc -= y[j] * log_s + (1 - y[j]) * log_1ms;
        }
        return acc / (double)m;
    }
    if (!strcmp(name, "huber") || !strcmp(name, "mae")) {
        for (j = 0; j < m; ++j) {
            const double e = fabs(h[j] - y[j]);
            acc += !strcmp(name, "mae") ? e : e <= 1 ? 0.5 * e * e : e - 0.5;
        }
        return acc / (double)m;
    }
    return NAN;
}

/* 1 for a loss that sums over rows (no division by the batch's weight). */
static int oracle_sums_rows(const char *name) { return name != NULL && !strcmp(name, "mse_sum"); }

/* The divisor's reciprocal: 1 for a sum, else 1 / (denom if positive, else
 * the total sample weight, or the row count without weights). */
static double oracle_scale(const char *name, ptrdiff_t n, const double *w, double denom)
{
    double total = 0.0;
    ptrdiff_t i;
    if (oracle_sums_rows(name)) return 1.0;
    if (denom > 0) return 1.0 / denom;
    if (w == NULL) return 1.0 / (double)n;
    for (i = 0; i < n; ++i) total += w[i];
    return 1.0 / total;
}

/* scale * sum_i w_i l_i over an n x m batch (w NULL: all 1). */
static double oracle_loss(const char *name, ptrdiff_t n, ptrdiff_t m, const double *H, const double *Y,
                          const double *w, double scale)
{
    double total = 0.0;
    ptrdiff_t i;
    for (i = 0; i < n; ++i) total += (w ? w[i] : 1.0) * oracle_row_loss(name, m, H + i * m, Y + i * m);
    return scale * total;
}

static int report(const char *what)
{
    printf("%s: %ld checks, %ld failed\n", what, n_checks, n_fail);
    return n_fail != 0;
}

#endif /* LN_TESTS_CHECK_H */
