/* test_gemm.c: standalone test and timing driver for the GEMM engine.
 *
 *   test_gemm            correctness: every ISA the CPU runs, float and double,
 *                        all transposes, alpha/beta, every epilogue and
 *                        activation, ragged sizes, both paths, 1 and 2 threads,
 *                        SIMD kernels against their reference twins, and
 *                        concurrent callers. Exit status 0 when all pass.
 *   test_gemm bench [s|d] [threads...]       GFLOP/s at n = 256..2048
 *   test_gemm small [s|d] [threads] [force]  ns per call of small shapes, per path
 *                                            (force: use every thread at any size)
 *   test_gemm tune s|d mc kc nc n threads    GFLOP/s at n with the given blocks
 * Compares against a naive triple loop in double (long double is not needed:
 * the tolerance scales with k and the magnitudes).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "framework/pool.h"
#include "tests/check.h"

static const char *epi_name[] = { "none", "bias_act", "dact" };

/* One GEMM case in double-precision storage; dt selects the type under test. */
typedef struct {
    int dt, ta, tb, epi, act, has_bias, keep_z;
    ptrdiff_t m, n, k, lda, ldb, ldc, ldh;
    double alpha, beta;
} gcase;

/* The light build (LN_TEST_LIGHT, under sanitizers) runs every 8th case of
 * a sweep, from an offset that each path and thread count sets (0..9), so
 * that on each ISA every case still runs in some configuration. */
static long sweep_count = 0;
static int sweep_offset = 0;
static int in_sweep(void) { return (sweep_count++ + sweep_offset) % REPS(1, 8) == 0; }

/* Run case g on the engine and compare with the naive loop. Returns 1 on pass. */
static int run_case(const gcase *g, const char *tag)
{
    ptrdiff_t m = g->m, n = g->n, k = g->k, i, j, p;
    ptrdiff_t ar = g->ta ? k : m, br = g->tb ? n : k;   /* stored rows */
    ptrdiff_t ac = g->ta ? m : k, bc = g->tb ? k : n;     /* stored columns */
    /* Exact sizes (no padding after the last row) so over-reads fault under ASan */
    size_t asz = ar ? (size_t)((ar - 1) * g->lda + ac) : 0, bsz = br ? (size_t)((br - 1) * g->ldb + bc) : 0;
    size_t csz = (size_t)((m - 1) * g->ldc + n), hsz = (size_t)((m - 1) * g->ldh + n);
    double *A = malloc(asz * 8), *B = malloc(bsz * 8), *C0 = malloc(csz * 8);
    double *H = malloc(hsz * 8), *bias = malloc((size_t)(n + 1) * 8);
    void *Ax = malloc(asz * 8), *Bx = malloc(bsz * 8), *Cx = malloc(csz * 8);
    void *Hx = malloc(hsz * 8), *biasx = malloc((size_t)(n + 1) * 8), *Zx = malloc(csz * 8);
    double eps = g->dt == LN_FLOAT32 ? 6e-8 : 1.2e-16;
    int ok = 1, rc;
    ln_epilogue e;
    double alpha_eff = g->alpha;

    for (i = 0; i < (ptrdiff_t)asz; ++i) A[i] = urand();
    for (i = 0; i < (ptrdiff_t)bsz; ++i) B[i] = urand();
    for (i = 0; i < (ptrdiff_t)csz; ++i) C0[i] = g->beta == 0 ? NAN : urand() * 2;
    /* The derivative's tensor: the output H, or Z for an activation that needs Z */
    for (i = 0; i < (ptrdiff_t)hsz; ++i) {
        double z = urand() * 3;
        if (ln_act_needs_z(g->act)) H[i] = z;
        else H[i] = g->act == LN_ACT_relu && irand(4) == 0 ? 0.0 : ln_act_ref(g->act, z);
    }
    for (i = 0; i < (ptrdiff_t)csz; ++i) {
        if (g->dt == LN_FLOAT32) ((float *)Zx)[i] = -7.0f; else ((double *)Zx)[i] = -7.0;
    }
    for (j = 0; j <= n; ++j) bias[j] = urand();
    if (g->alpha == 0) for (i = 0; i < (ptrdiff_t)asz; ++i) A[i] = NAN;  /* A must not be read */
    /* Round inputs to the tested type so the reference sees the same values */
    for (i = 0; i < (ptrdiff_t)asz; ++i) if (g->dt == LN_FLOAT32) { ((float *)Ax)[i] = (float)A[i]; A[i] = ((float *)Ax)[i]; } else ((double *)Ax)[i] = A[i];
    for (i = 0; i < (ptrdiff_t)bsz; ++i) if (g->dt == LN_FLOAT32) { ((float *)Bx)[i] = (float)B[i]; B[i] = ((float *)Bx)[i]; } else ((double *)Bx)[i] = B[i];
    for (i = 0; i < (ptrdiff_t)csz; ++i) if (g->dt == LN_FLOAT32) { ((float *)Cx)[i] = (float)C0[i]; C0[i] = ((float *)Cx)[i]; } else ((double *)Cx)[i] = C0[i];
    for (i = 0; i < (ptrdiff_t)hsz; ++i) if (g->dt == LN_FLOAT32) { ((float *)Hx)[i] = (float)H[i]; H[i] = ((float *)Hx)[i]; } else ((double *)Hx)[i] = H[i];
    for (i = 0; i <= n; ++i) if (g->dt == LN_FLOAT32) { ((float *)biasx)[i] = (float)bias[i]; bias[i] = ((float *)biasx)[i]; } else ((double *)biasx)[i] = bias[i];

    e.kind = g->epi; e.act = g->act;
    e.bias = g->has_bias ? biasx : NULL;
    e.zout = g->keep_z ? Zx : NULL; e.ldz = g->ldc;
    e.saved = Hx; e.ld_saved = g->ldh;
    if (g->dt == LN_FLOAT32)
        rc = ln_sgemm(g->ta, g->tb, m, n, k, (float)g->alpha, (float *)Ax, g->lda, (float *)Bx, g->ldb,
                      (float)g->beta, (float *)Cx, g->ldc, g->epi == LN_EPI_NONE && irand(2) ? NULL : &e);
    else
        rc = ln_dgemm(g->ta, g->tb, m, n, k, g->alpha, (double *)Ax, g->lda, (double *)Bx, g->ldb,
                      g->beta, (double *)Cx, g->ldc, g->epi == LN_EPI_NONE && irand(2) ? NULL : &e);
    if (rc != LN_OK) ok = 0;

    /* Naive triple loop in double, then the epilogue; padding must be untouched */
    for (i = 0; i < m && ok; ++i)
        for (j = 0; j < g->ldc && i * g->ldc + j < (ptrdiff_t)csz && ok; ++j) {
            double got = g->dt == LN_FLOAT32 ? ((float *)Cx)[i * g->ldc + j] : ((double *)Cx)[i * g->ldc + j];
            double want, mag = 0, x = 0, tol;
            if (j >= n) {
                ok = isnan(got) ? isnan(C0[i * g->ldc + j]) : got == C0[i * g->ldc + j];
                continue;
            }
            if (alpha_eff != 0)
                for (p = 0; p < k; ++p) {
                    double a = g->ta ? A[p * g->lda + i] : A[i * g->lda + p];
                    double b = g->tb ? B[j * g->ldb + p] : B[p * g->ldb + j];
                    x += a * b; mag += fabs(a * b);
                }
            x *= alpha_eff; mag *= fabs(alpha_eff);
            if (g->beta != 0) { x += g->beta * C0[i * g->ldc + j]; mag += fabs(g->beta * C0[i * g->ldc + j]); }
            if (g->epi == LN_EPI_BIAS_ACT) {
                if (g->has_bias) { x += bias[j]; mag += fabs(bias[j]); }
                want = ln_act_ref(g->act, x);
                if (g->keep_z) {
                    /* The kept Z is the pre-activation value */
                    double z = g->dt == LN_FLOAT32 ? ((float *)Zx)[i * g->ldc + j] : ((double *)Zx)[i * g->ldc + j];
                    double ztol = 4 * eps * (double)(k + 4) * (mag + 1) + (g->dt == LN_FLOAT32 ? 1e-6 : 1e-14);
                    if (!(fabs(z - x) <= ztol)) {
                        ok = 0;
                        fprintf(stderr, "FAIL %s kept Z[%td,%td] = %.17g, want %.17g\n", tag, i, j, z, x);
                    }
                }
            } else if (g->epi == LN_EPI_DACT) {
                want = x * ln_dact_ref(g->act, H[i * g->ldh + j]);
            } else want = x;
            /* Activations with a slope above 1 (gelu's derivative, softplus near 0) amplify */
            tol = 4 * eps * (double)(k + 4) * (mag + 1) * 2 + (g->dt == LN_FLOAT32 ? 2e-6 : 1e-14);
            if (!(fabs(got - want) <= tol)) {
                ok = 0;
                fprintf(stderr, "FAIL %s %s m=%td n=%td k=%td ta=%d tb=%d alpha=%g beta=%g epi=%s act=%s bias=%d "
                        "lda=%td ldb=%td ldc=%td: C[%td,%td] = %.17g, want %.17g (tol %.3g)\n",
                        tag, g->dt == LN_FLOAT32 ? "f32" : "f64", m, n, k, g->ta, g->tb, g->alpha, g->beta,
                        epi_name[g->epi], ln_activation_name(g->act), g->has_bias, g->lda, g->ldb, g->ldc, i, j, got, want, tol);
            }
        }
    ++n_checks;
    if (!ok) ++n_fail;
    free(A); free(B); free(C0); free(H); free(bias);
    free(Ax); free(Bx); free(Cx); free(Hx); free(biasx); free(Zx);
    return ok;
}

static void random_case(gcase *g, int dt, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k)
{
    static const double alphas[] = { 1.0, -0.5, 2.0, 0.0 };
    static const double betas[] = { 0.0, 1.0, -1.5, 0.0 };
    g->dt = dt; g->m = m; g->n = n; g->k = k;
    g->ta = irand(2); g->tb = irand(2);
    g->alpha = irand(8) ? alphas[irand(3)] : alphas[3];
    g->beta = betas[irand(4)];
    g->epi = irand(3); g->act = irand(LN_ACT_COUNT); g->has_bias = irand(3) != 0;
    g->keep_z = g->epi == LN_EPI_BIAS_ACT && irand(2);
    g->lda = (g->ta ? m : k) + (irand(3) ? 0 : 1 + irand(3));
    g->ldb = (g->tb ? k : n) + (irand(3) ? 0 : 1 + irand(3));
    g->ldc = n + (irand(3) ? 0 : 1 + irand(3));
    g->ldh = n + (irand(2) ? 0 : 2);
    if (g->lda < 1) g->lda = 1;
    if (g->ldb < 1) g->ldb = 1;
}

/* Ragged GEMMs through the public API on the active ISA. */
static void test_api(const char *tag, int big)
{
    static const ptrdiff_t small[] = { 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33 };
    static const ptrdiff_t ks[] = { 0, 1, 2, 3, 7, 16, 17, 33, 64 };
    static const ptrdiff_t bigs[][3] = {
        { 1000, 17, 255 }, { 17, 1000, 257 }, { 257, 255, 1023 }, { 100, 1023, 64 },
        { 1023, 33, 100 }, { 64, 64, 1000 }, { 255, 257, 257 }, { 1, 1023, 1000 },
        { 1000, 1, 1023 }, { 33, 1000, 5 }, { 100, 100, 100 }, { 257, 1000, 15 },
        { 31, 255, 1023 }, { 1023, 257, 2 }, { 64, 100, 255 }, { 8, 16, 1000 },
        { 1, 1100, 1000 }   /* a float B over 4 MiB: the row kernel's streaming path */
    };
    int dt;
    size_t a, b, c;
    gcase g;
    for (dt = 0; dt < 2; ++dt) {
        for (a = 0; a < sizeof small / sizeof *small; ++a)
            for (b = 0; b < sizeof small / sizeof *small; ++b)
                for (c = 0; c < sizeof ks / sizeof *ks; ++c) {
                    random_case(&g, dt, small[a], small[b], ks[c]);
                    if (in_sweep()) run_case(&g, tag);
                }
        if (big)
            for (a = 0; a < sizeof bigs / sizeof *bigs; ++a) {
                random_case(&g, dt, bigs[a][0], bigs[a][1], bigs[a][2]);
                if (in_sweep()) run_case(&g, tag);
            }
    }
}

/* Every trans/epilogue/activation combination once at a ragged size. */
static void test_all_combos(const char *tag)
{
    int dt, ta, tb, epi, act, hb, ab;
    static const double al[] = { 1.0, 0.75 }, be[] = { 0.0, 0.5 };
    gcase g;
    for (dt = 0; dt < 2; ++dt)
        for (ta = 0; ta < 2; ++ta)
            for (tb = 0; tb < 2; ++tb)
                for (epi = 0; epi < 3; ++epi)
                    for (act = 0; act < LN_ACT_COUNT; ++act)
                        for (hb = 0; hb < 2; ++hb)
                            for (ab = 0; ab < 4; ++ab) {
                                random_case(&g, dt, 37, 45, 29);
                                g.ta = ta; g.tb = tb; g.epi = epi; g.act = act; g.has_bias = hb;
                                g.keep_z = epi == LN_EPI_BIAS_ACT && (ab & 1);
                                g.alpha = al[ab & 1]; g.beta = be[ab >> 1];
                                g.lda = ta ? g.m : g.k; g.ldb = tb ? g.k : g.n; g.ldc = g.n; g.ldh = g.n;
                                if (in_sweep()) run_case(&g, tag);
                            }
}

/* m or n == 0 leaves C alone and returns LN_OK. */
static void test_empty(void)
{
    float c = 3.0f, a = 1.0f;
    double cd = 3.0, ad = 1.0;
    int ok = ln_sgemm(0, 0, 0, 1, 1, 1.0f, &a, 1, &a, 1, 0.0f, &c, 1, NULL) == LN_OK && c == 3.0f &&
             ln_sgemm(0, 0, 1, 0, 1, 1.0f, &a, 1, &a, 1, 0.0f, &c, 1, NULL) == LN_OK && c == 3.0f &&
             ln_dgemm(1, 1, 0, 0, 5, 1.0, &ad, 1, &ad, 1, 0.0, &cd, 1, NULL) == LN_OK && cd == 3.0;
    ++n_checks;
    if (!ok) { ++n_fail; fprintf(stderr, "FAIL empty GEMM touched C or failed\n"); }
}

/* Micro-kernel cases: the epilogue classes a kernel may treat differently
 * (the cheap ones in registers, the rest on the stored tile). */
enum { UK_EPI_NONE, UK_BIAS_CHEAP, UK_BIAS_OTHER, UK_DACT_CHEAP, UK_DACT_OTHER, UK_EPI_CLASSES };

/* An activation for an epilogue class: identity / ReLU / leaky ReLU are the
 * cheap ones, any other (or any at all with a kept Z) is not. */
static void ukr_epilogue(int cls, int *epi, int *act, int *keep_z)
{
    static const int cheap_bias[] = { LN_ACT_identity, LN_ACT_relu, LN_ACT_leaky_relu };
    static const int cheap_dact[] = { LN_ACT_relu, LN_ACT_leaky_relu };
    int a;
    *keep_z = 0;
    switch (cls) {
    case UK_BIAS_CHEAP: *epi = LN_EPI_BIAS_ACT; *act = cheap_bias[irand(3)]; break;
    case UK_BIAS_OTHER:
        *epi = LN_EPI_BIAS_ACT; *act = irand(LN_ACT_COUNT);
        /* a cheap activation takes the slow path when Z is kept */
        *keep_z = *act == LN_ACT_identity || *act == LN_ACT_relu || *act == LN_ACT_leaky_relu || irand(2);
        break;
    case UK_DACT_CHEAP: *epi = LN_EPI_DACT; *act = cheap_dact[irand(2)]; break;
    case UK_DACT_OTHER:
        *epi = LN_EPI_DACT;
        do a = irand(LN_ACT_COUNT); while (a == LN_ACT_relu || a == LN_ACT_leaky_relu);
        *act = a;
        break;
    default: *epi = LN_EPI_NONE; *act = irand(LN_ACT_COUNT); break;
    }
}

/* One micro-kernel call of isa on an mr x nr tile (A packed or strided,
 * B padded or not), against a naive product in double and, where the tiles
 * agree, the portable twin. With beta == 0 the tile starts as NaN, which
 * must not be read; cells outside the tile must stay untouched. Returns 1
 * on pass. */
#define TW_LD 40
static double uk_a[40 * 64], uk_b[40 * 64 + 32], uk_bias[32];
static float uk_af[40 * 64], uk_bf[40 * 64 + 32], uk_biasf[32];

/* Random A, B and bias for the micro-kernel cases, rounded to the tested type. */
static void ukr_operands(int dt)
{
    int i;
    for (i = 0; i < 40 * 64; ++i) { uk_a[i] = urand(); uk_af[i] = (float)uk_a[i]; if (!dt) uk_a[i] = uk_af[i]; }
    for (i = 0; i < 40 * 64 + 32; ++i) { uk_b[i] = urand(); uk_bf[i] = (float)uk_b[i]; if (!dt) uk_b[i] = uk_bf[i]; }
    for (i = 0; i < 32; ++i) { uk_bias[i] = urand(); uk_biasf[i] = (float)uk_bias[i]; if (!dt) uk_bias[i] = uk_biasf[i]; }
}

static int ukr_case(const ln_isa *isa, const ln_isa *ref, int dt, ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                    int packed, double beta, int epi_class)
{
    static double h[6 * TW_LD * 2], c0[16 * TW_LD], c1[16 * TW_LD], c2[16 * TW_LD];
    static float hf[6 * TW_LD * 2], cf1[16 * TW_LD], cf2[16 * TW_LD];
    const double *a = uk_a, *b = uk_b, *bias = uk_bias;
    const float *af = uk_af, *bf = uk_bf, *biasf = uk_biasf;
    const ln_gemm_blocks *bk = dt ? &isa->f64.blk : &isa->f32.blk;
    const ln_gemm_blocks *rb = dt ? &ref->f64.blk : &ref->f32.blk;
    const int same_tile = bk->mr <= rb->mr && bk->nr <= rb->nr;
    const int trans = irand(2);
    const ptrdiff_t rs_a = packed ? 1 : (trans ? 1 : 40), cs_a = packed ? bk->mr : (trans ? 7 : 1);
    const ptrdiff_t rs_b = packed ? bk->nr : bk->nr + 1 + irand(5);
    const double alpha = irand(2) ? 1.0 : -0.5;
    const int with_bias = irand(2);
    int epi, act, keep_z, i, bad = 0;
    ptrdiff_t j, p;
    ukr_epilogue(epi_class, &epi, &act, &keep_z);
    for (i = 0; i < 6 * TW_LD * 2; ++i) {
        double z = 2 * urand();
        h[i] = ln_act_needs_z(act) ? z : ln_act_ref(act, z);
        hf[i] = (float)h[i];
        if (!dt) h[i] = hf[i];
    }
    for (i = 0; i < 16 * TW_LD; ++i) {
        const int inside = i / TW_LD < mr && i % TW_LD < nr;
        c0[i] = beta == 0 && inside ? NAN : urand();
        cf1[i] = cf2[i] = (float)c0[i];
        if (!dt) c0[i] = cf1[i];
        c1[i] = c2[i] = c0[i];
    }
    if (dt) {
        ln_aux_f64 x;
        memset(&x, 0, sizeof x);
        x.alpha = alpha; x.beta = beta; x.b_padded = packed; x.epi = epi; x.act = act;
        x.bias = with_bias ? bias : NULL; x.sv = h; x.ldsv = TW_LD;
        x.zout = keep_z ? c2 + 8 * TW_LD : NULL; x.ldz = TW_LD;
        isa->f64.ukr(k, mr, nr, a, rs_a, cs_a, b, rs_b, c1, TW_LD, &x);
        if (same_tile) {
            x.zout = NULL;
            ref->f64.ukr(k, mr, nr, a, rs_a, cs_a, b, rs_b, c2, TW_LD, &x);
        }
    } else {
        ln_aux_f32 x;
        memset(&x, 0, sizeof x);
        x.alpha = (float)alpha; x.beta = (float)beta; x.b_padded = packed; x.epi = epi; x.act = act;
        x.bias = with_bias ? biasf : NULL; x.sv = hf; x.ldsv = TW_LD;
        x.zout = keep_z ? cf2 + 8 * TW_LD : NULL; x.ldz = TW_LD;
        isa->f32.ukr(k, mr, nr, af, rs_a, cs_a, bf, rs_b, cf1, TW_LD, &x);
        for (i = 0; i < 8 * TW_LD; ++i) c1[i] = cf1[i];
        if (same_tile) {
            x.zout = NULL;
            ref->f32.ukr(k, mr, nr, af, rs_a, cs_a, bf, rs_b, cf2, TW_LD, &x);
        }
        for (i = 0; i < 16 * TW_LD; ++i) c2[i] = cf2[i];
    }
    for (i = 0; i < 8 && !bad; ++i)
        for (j = 0; j < TW_LD && !bad; ++j) {
            double x = 0, mag = 0, want, got = c1[i * TW_LD + j], tol;
            if (i >= mr || j >= nr) {
                bad = !CHECK(got == c0[i * TW_LD + j], "%s ukr %s wrote outside its %tdx%td tile at %d,%td",
                             isa->name, dt ? "f64" : "f32", mr, nr, i, j);
                continue;
            }
            for (p = 0; p < k; ++p) {
                const double av = a[i * rs_a + p * cs_a], bv = b[p * rs_b + j];
                x += av * bv; mag += fabs(av * bv);
            }
            x = alpha * x + (beta != 0 ? beta * c0[i * TW_LD + j] : 0);
            mag = fabs(alpha) * mag + (beta != 0 ? fabs(beta * c0[i * TW_LD + j]) : 0);
            if (epi == LN_EPI_BIAS_ACT) {
                if (with_bias) { x += bias[j]; mag += fabs(bias[j]); }
                if (keep_z)
                    bad |= !CHECK(fabs(c2[(8 + i) * TW_LD + j] - x) <= (dt ? 1e-14 : 3e-6) * (mag + 1),
                                  "%s ukr kept Z at %d,%td: %.17g want %.17g", isa->name, i, j,
                                  c2[(8 + i) * TW_LD + j], x);
                want = ln_act_ref(act, x);
            } else if (epi == LN_EPI_DACT) {
                want = x * ln_dact_ref(act, h[i * TW_LD + j]);
            } else want = x;
            tol = (dt ? 2e-14 : 6e-6) * (k + 4) * (mag + 1);
            bad |= !CHECK(fabs(got - want) <= tol, "%s ukr %s k=%td tile %tdx%td packed=%d beta=%g epi=%d act=%s "
                          "at %d,%td: %.17g want %.17g", isa->name, dt ? "f64" : "f32", k, mr, nr, packed, beta,
                          epi, ln_activation_name(act), i, j, got, want);
            if (same_tile && !bad)
                bad |= !CHECK(fabs(got - c2[i * TW_LD + j]) <= tol, "%s ukr differs from its portable twin at %d,%td",
                              isa->name, i, j);
        }
    return !bad;
}

/* Every ISA's micro-kernel over every tile shape it can be handed (each mr
 * and nr up to its tile, A packed or strided and B padded or not), each k
 * class (0, odd, even; up to 39), beta 0, 1 and another, and each epilogue
 * class; activations, alpha, strides and bias vary at random. */
static void test_ukr_isa(const ln_isa *isa, const ln_isa *ref, int dt)
{
    const ln_gemm_blocks *bk = dt ? &isa->f64.blk : &isa->f32.blk;
    static const double betas[] = { 0.0, 1.0, 0.5 };
    ptrdiff_t mr, nr;
    int packed, kc, bi, ec;
    ukr_operands(dt);
    for (mr = 1; mr <= bk->mr; ++mr)
        for (nr = 1; nr <= bk->nr; ++nr)
            for (packed = 0; packed < 2; ++packed)
                for (kc = 0; kc < 3; ++kc)
                    for (bi = 0; bi < 3; ++bi)
                        for (ec = 0; ec < UK_EPI_CLASSES; ++ec) {
                            const ptrdiff_t k = kc == 0 ? 0 : kc == 1 ? 1 + 2 * irand(20) : 2 + 2 * irand(19);
                            if (!ukr_case(isa, ref, dt, k, mr, nr, packed, betas[bi], ec)) return;
                        }
}

/* Every ISA's row kernel against a naive product: ragged n (every column
 * block and tail), strided A, alpha/beta, every epilogue, and one B past the
 * streaming threshold. c past n must stay untouched. */
static void test_gemv_isa(const ln_isa *isa, int dt)
{
    enum { K = 300, N = 300, BIGK = 1100, BIGN = 1000 };
    static double a[3 * BIGK], b[BIGK * BIGN], c0[BIGN + 8], c1[BIGN + 8], h[BIGN], bias[BIGN];
    static float af[3 * BIGK], bf[BIGK * BIGN], cf[BIGN + 8], hf[BIGN], biasf[BIGN];
    int it, i;
    for (i = 0; i < 3 * BIGK; ++i) { af[i] = (float)urand(); a[i] = dt ? urand() : af[i]; }
    for (i = 0; i < BIGK * BIGN; ++i) { bf[i] = (float)urand(); b[i] = dt ? urand() : bf[i]; }
    for (it = 0; it < REPS(600, 150); ++it) {
        const int big = it == 0 && !dt, act = irand(LN_ACT_COUNT), epi = irand(3);
        const ptrdiff_t k = big ? BIGK : irand(K + 1), n = big ? BIGN : 1 + irand(N);
        const ptrdiff_t cs_a = 1 + 2 * irand(2), rs_b = big ? BIGN : n + irand(3);
        const double alpha = irand(2) ? 1.0 : -0.5, beta = big ? 0.0 : irand(3) * 0.5;
        const int with_bias = irand(2);
        ptrdiff_t j, p;
        for (i = 0; i < BIGN; ++i) {
            double z = 2 * urand();
            h[i] = ln_act_needs_z(act) ? z : ln_act_ref(act, z);
            hf[i] = (float)h[i];
            bias[i] = urand(); biasf[i] = (float)bias[i];
            if (!dt) { h[i] = hf[i]; bias[i] = biasf[i]; }
        }
        for (i = 0; i < BIGN + 8; ++i) { c0[i] = urand(); cf[i] = (float)c0[i]; if (!dt) c0[i] = cf[i]; c1[i] = c0[i]; }
        if (dt) {
            ln_aux_f64 x;
            memset(&x, 0, sizeof x);
            x.alpha = alpha; x.beta = beta; x.epi = epi; x.act = act;
            x.bias = with_bias ? bias : NULL; x.sv = h;
            isa->f64.gemv(k, n, a, cs_a, b, rs_b, c1, &x);
        } else {
            ln_aux_f32 x;
            memset(&x, 0, sizeof x);
            x.alpha = (float)alpha; x.beta = (float)beta; x.epi = epi; x.act = act;
            x.bias = with_bias ? biasf : NULL; x.sv = hf;
            isa->f32.gemv(k, n, af, cs_a, bf, rs_b, cf, &x);
            for (i = 0; i < BIGN + 8; ++i) c1[i] = cf[i];
        }
        for (j = 0; j < (big ? BIGN : N) + 8; ++j) {
            double x = 0, mag = 0, want, tol;
            if (j >= n) {
                if (!CHECK(c1[j] == c0[j], "%s gemv wrote past n=%td at %td", isa->name, n, j)) return;
                continue;
            }
            for (p = 0; p < k; ++p) { x += a[p * cs_a] * b[p * rs_b + j]; mag += fabs(a[p * cs_a] * b[p * rs_b + j]); }
            x = alpha * x + (beta != 0 ? beta * c0[j] : 0);
            mag = fabs(alpha) * mag + fabs(beta * c0[j]);
            if (epi == LN_EPI_BIAS_ACT) {
                if (with_bias) { x += bias[j]; mag += fabs(bias[j]); }
                want = ln_act_ref(act, x);
            } else if (epi == LN_EPI_DACT) want = x * ln_dact_ref(act, h[j]);
            else want = x;
            tol = (dt ? 2e-14 : 6e-6) * (k + 4) * (mag + 1);
            if (!CHECK(fabs(c1[j] - want) <= tol, "%s gemv %s k=%td n=%td cs_a=%td beta=%g epi=%d act=%s at %td: "
                       "%.17g want %.17g", isa->name, dt ? "f64" : "f32", k, n, cs_a, beta, epi,
                       ln_activation_name(act), j, c1[j], want))
                return;
        }
    }
}

static void test_kernels_every_isa(void)
{
    const char *names[8];
    const int n = supported_isas(names, 8);
    const ln_isa *ref = ln_isa_lookup("reference");
    int i, dt;
    for (i = 0; i < n; ++i) {
        const ln_isa *isa = ln_isa_lookup(names[i]);
        const long before = n_fail;
        for (dt = 0; dt < 2; ++dt) {
            test_ukr_isa(isa, ref, dt);
            test_gemv_isa(isa, dt);
        }
        printf("  %-8s micro-kernel and row kernel vs naive product%s: %s\n", names[i],
               isa != ref ? " and portable twin" : "", n_fail == before ? "ok" : "FAILED");
    }
}

/* Concurrent callers on different OS threads, each checking its results. */
static void *concurrent_worker(void *arg)
{
    long id = (long)arg, it;
    long *fails = malloc(sizeof *fails);
    *fails = 0;
    for (it = 0; it < 20; ++it) {
        ptrdiff_t m = 50 + 37 * id + it, n = 130 + 11 * it, k = 140 + id, i, j, p;
        float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n), *C = malloc(sizeof(float) * m * n);
        for (i = 0; i < m * k; ++i) A[i] = (float)((i * 7 + id) % 13) - 6;
        for (i = 0; i < k * n; ++i) B[i] = (float)((i * 5 + it) % 11) - 5;
        if (ln_sgemm(0, 0, m, n, k, 1.0f, A, k, B, n, 0.0f, C, n, NULL) != LN_OK) ++*fails;
        for (i = 0; i < m; i += 7)
            for (j = 0; j < n; j += 5) {
                double x = 0;
                for (p = 0; p < k; ++p) x += (double)A[i * k + p] * B[p * n + j];
                if (x != C[i * n + j]) ++*fails;   /* small integers: exact */
            }
        free(A); free(B); free(C);
    }
    return fails;
}

static void test_concurrent(void)
{
    pthread_t th[4];
    long i;
    for (i = 0; i < 4; ++i) pthread_create(&th[i], NULL, concurrent_worker, (void *)i);
    for (i = 0; i < 4; ++i) {
        void *r;
        pthread_join(th[i], &r);
        ++n_checks;
        if (*(long *)r) { ++n_fail; fprintf(stderr, "FAIL concurrent caller %ld: %ld wrong\n", i, *(long *)r); }
        free(r);
    }
}

/* ------------------------------------------------------------------ */
/* Timing                                                              */
/* ------------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds per call of C = A B (m x k times k x n), repeated. */
static double time_gemm(int dt, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int ta, int tb,
                        const ln_epilogue *epi, int samples)
{
    void *A = malloc(8 * (size_t)(m * k)), *B = malloc(8 * (size_t)(k * n)), *C = malloc(8 * (size_t)(m * n));
    double t[64], flops = 2.0 * m * n * k, med;
    ptrdiff_t i;
    int s, r, reps;
    for (i = 0; i < m * k; ++i) { if (dt) ((double *)A)[i] = urand(); else ((float *)A)[i] = (float)urand(); }
    for (i = 0; i < k * n; ++i) { if (dt) ((double *)B)[i] = urand(); else ((float *)B)[i] = (float)urand(); }
    for (i = 0; i < m * n; ++i) { if (dt) ((double *)C)[i] = 0; else ((float *)C)[i] = 0; }
#define CALL() (dt ? ln_dgemm(ta, tb, m, n, k, 1.0, A, ta ? m : k, B, tb ? k : n, 0.0, C, n, epi) \
                   : ln_sgemm(ta, tb, m, n, k, 1.0f, A, ta ? m : k, B, tb ? k : n, 0.0f, C, n, epi))
    CALL();
    reps = (int)(0.05 / (flops / 20e9 + 2e-7)) + 1;   /* about 50 ms per sample */
    for (s = 0; s < samples; ++s) {
        double t0 = now();
        for (r = 0; r < reps; ++r) CALL();
        t[s] = (now() - t0) / reps;
    }
#undef CALL
    qsort(t, (size_t)samples, sizeof *t, cmp_double);
    med = t[samples / 2];
    free(A); free(B); free(C);
    return med;
}

static void bench(int argc, char **argv)
{
    static const ptrdiff_t ns[] = { 256, 512, 1024, 2048 };
    int dts[2] = { 0, 1 }, ndt = 2, threads[4] = { 1, 2 }, nth = 2, d, ti, i;
    if (argc > 2) { dts[0] = argv[2][0] == 'd'; ndt = 1; }
    if (argc > 3) { nth = 0; for (i = 3; i < argc && nth < 4; ++i) threads[nth++] = atoi(argv[i]); }
    printf("isa %s\n", ln_get_isa());
    for (d = 0; d < ndt; ++d)
        for (ti = 0; ti < nth; ++ti) {
            ln_set_num_threads(threads[ti]);
            printf("%s %d thread%s:", dts[d] ? "f64" : "f32", threads[ti], threads[ti] > 1 ? "s" : "");
            for (i = 0; i < 4; ++i) {
                double t = time_gemm(dts[d], ns[i], ns[i], ns[i], 0, 0, NULL, 9);
                printf("  n=%td %.1f", ns[i], 2.0 * ns[i] * ns[i] * ns[i] / t * 1e-9);
                fflush(stdout);
            }
            printf(" GFLOP/s\n");
        }
}

/* Small shapes: ns per call on each path, single thread, to place the crossover. */
static void small(int argc, char **argv)
{
    static const ptrdiff_t shapes[][3] = {
        { 32, 16, 2 }, { 32, 2, 16 }, { 64, 64, 128 }, { 1, 256, 784 }, { 32, 256, 784 },
        { 64, 128, 64 }, { 128, 128, 128 }, { 200, 200, 200 }, { 256, 256, 256 }, { 32, 784, 256 },
        { 784, 256, 32 }, { 96, 96, 96 }, { 150, 150, 150 }, { 64, 512, 512 }, { 512, 64, 512 },
        { 512, 512, 64 }, { 512, 512, 32 }, { 48, 1024, 1024 }, { 1024, 1024, 16 }
    };
    int dt = argc > 2 && argv[2][0] == 'd', p;
    size_t s;
    ln_set_num_threads(argc > 3 ? atoi(argv[3]) : 1);
    printf("isa %s %s, %d thread(s): ns per call (GFLOP/s)\n", ln_get_isa(), dt ? "f64" : "f32",
           ln_get_num_threads());
    printf("%18s %22s %22s %22s %22s %22s\n", "m x n x k", "auto", "unpacked", "packed", "B only", "A only");
    for (s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
        double f = 2.0 * shapes[s][0] * shapes[s][1] * shapes[s][2];
        printf("%6td x%5td x%5td", shapes[s][0], shapes[s][1], shapes[s][2]);
        for (p = 0; p < 5; ++p) {
            double t;
            ln_gemm_force(p, argc > 4);
            t = time_gemm(dt, shapes[s][0], shapes[s][1], shapes[s][2], 0, 0, NULL, 7);
            printf(" %12.0f (%6.1f)", t * 1e9, f / t * 1e-9);
        }
        printf("\n");
        fflush(stdout);
    }
    ln_gemm_force(0, 0);
}

/* Block sizes from the command line: tune s|d mc kc nc n threads [m k]. */
static void tune(int argc, char **argv)
{
    ln_isa *t = ln_isa_lookup(ln_get_isa());
    ln_gemm_blocks *bk;
    int dt;
    ptrdiff_t n, m, k;
    double sec;
    if (argc < 8) { fprintf(stderr, "usage: tune s|d mc kc nc n threads [m k]\n"); exit(2); }
    dt = argv[2][0] == 'd';
    bk = dt ? &t->f64.blk : &t->f32.blk;
    bk->mc = atoi(argv[3]); bk->kc = atoi(argv[4]); bk->nc = atoi(argv[5]);
    n = atoi(argv[6]);
    m = argc > 8 ? atoi(argv[8]) : n;
    k = argc > 9 ? atoi(argv[9]) : n;
    ln_set_num_threads(atoi(argv[7]));
    sec = time_gemm(dt, m, n, k, 0, 0, NULL, 9);
    printf("%s mc=%d kc=%d nc=%d %tdx%tdx%td t=%d: %.1f GFLOP/s\n", dt ? "f64" : "f32", bk->mc, bk->kc, bk->nc,
           m, n, k, ln_get_num_threads(), 2.0 * m * n * k / sec * 1e-9);
}

int main(int argc, char **argv)
{
    const char *names[8];
    int n_isas, i, path, th;
    ln_init();
    if (argc > 1 && !strcmp(argv[1], "bench")) { bench(argc, argv); return 0; }
    if (argc > 1 && !strcmp(argv[1], "small")) { small(argc, argv); return 0; }
    ln_pool_set_backoff(0);   /* threaded cases stay threaded on a loaded machine */
    if (argc > 1 && !strcmp(argv[1], "tune")) { tune(argc, argv); return 0; }

    printf("threads enabled %d, default threads %d, isa %s\n", ln_threads_enabled(), ln_get_num_threads(), ln_get_isa());
    CHECK(ln_set_isa("avx512") == LN_ERR_ISA && !ln_isa_supported("avx512"),
          "avx512 has no kernels in this build, so it must be refused");
    CHECK(ln_set_isa("no such isa") == LN_ERR_ISA, "an unknown ISA name must be refused");
    test_empty();
    test_kernels_every_isa();
    n_isas = supported_isas(names, 8);
    for (i = 0; i < n_isas; ++i) {
        char tag[64];
        ln_set_isa(names[i]);
        for (path = 0; path < 5; ++path)
            for (th = 1; th <= 2; ++th) {
                long before = n_fail;
                ln_set_num_threads(th);
                ln_gemm_force(path, th > 1);
                sweep_count = 0;
                sweep_offset = 2 * path + th - 1;
                sprintf(tag, "%s path=%d threads=%d", names[i], path, th);
                test_api(tag, 1);
                test_all_combos(tag);
                printf("  %-32s %s\n", tag, n_fail == before ? "ok" : "FAILED");
                fflush(stdout);
            }
        ln_gemm_force(0, 0);
        ln_set_num_threads(2);
        test_concurrent();
    }
    ln_set_isa(names[0]);
    return report("test_gemm");
}
