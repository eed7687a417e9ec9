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
#include "layernet.h"
#include "kernels/kernels.h"

static unsigned long long rng_state = 88172645463325252ULL;
static double urand(void)  /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}
static int irand(int n) { return (int)((urand() + 1.0) * 0.5 * n) % n; }

static long n_checks = 0, n_fail = 0;

static double ref_act(int act, double x)
{
    switch (act) {
    case LN_ACT_SIGMOID: return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    case LN_ACT_RELU: return x < 0 ? 0.0 : x;
    case LN_ACT_TANH: return tanh(x);
    default: return x;
    }
}
static double ref_dact(int act, double h)
{
    switch (act) {
    case LN_ACT_SIGMOID: return h * (1.0 - h);
    case LN_ACT_RELU: return h > 0 ? 1.0 : 0.0;
    case LN_ACT_TANH: return 1.0 - h * h;
    default: return 1.0;
    }
}

static const char *act_name[] = { "id", "sig", "relu", "tanh" };
static const char *epi_name[] = { "none", "bias_act", "dact" };

/* One GEMM case in double-precision storage; dt selects the type under test. */
typedef struct {
    int dt, ta, tb, epi, act, has_bias;
    ptrdiff_t m, n, k, lda, ldb, ldc, ldh;
    double alpha, beta;
} gcase;

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
    double *H = malloc(hsz * 8), *bias = malloc((size_t)(n + 1) * 8), *R = malloc(csz * 8);
    void *Ax = malloc(asz * 8), *Bx = malloc(bsz * 8), *Cx = malloc(csz * 8);
    void *Hx = malloc(hsz * 8), *biasx = malloc((size_t)(n + 1) * 8);
    double eps = g->dt == LN_FLOAT32 ? 6e-8 : 1.2e-16;
    int ok = 1, rc;
    ln_epilogue e;
    double alpha_eff = g->alpha;

    for (i = 0; i < (ptrdiff_t)asz; ++i) A[i] = urand();
    for (i = 0; i < (ptrdiff_t)bsz; ++i) B[i] = urand();
    for (i = 0; i < (ptrdiff_t)csz; ++i) C0[i] = g->beta == 0 ? NAN : urand() * 2;
    for (i = 0; i < (ptrdiff_t)hsz; ++i) {
        double z = urand() * 3;
        H[i] = g->act == LN_ACT_RELU ? (irand(4) == 0 ? 0.0 : z) : ref_act(g->act, z);
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
    e.h = Hx; e.ldh = g->ldh;
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
                want = ref_act(g->act, x);
            } else if (g->epi == LN_EPI_DACT) {
                want = x * ref_dact(g->act, H[i * g->ldh + j]);
            } else want = x;
            tol = 4 * eps * (double)(k + 4) * (mag + 1) + (g->dt == LN_FLOAT32 ? 1e-6 : 1e-14);
            if (!(fabs(got - want) <= tol)) {
                ok = 0;
                fprintf(stderr, "FAIL %s %s m=%td n=%td k=%td ta=%d tb=%d alpha=%g beta=%g epi=%s act=%s bias=%d "
                        "lda=%td ldb=%td ldc=%td: C[%td,%td] = %.17g, want %.17g (tol %.3g)\n",
                        tag, g->dt == LN_FLOAT32 ? "f32" : "f64", m, n, k, g->ta, g->tb, g->alpha, g->beta,
                        epi_name[g->epi], act_name[g->act], g->has_bias, g->lda, g->ldb, g->ldc, i, j, got, want, tol);
            }
        }
    ++n_checks;
    if (!ok) ++n_fail;
    free(A); free(B); free(C0); free(H); free(bias); free(R);
    free(Ax); free(Bx); free(Cx); free(Hx); free(biasx);
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
    g->epi = irand(3); g->act = irand(4); g->has_bias = irand(3) != 0;
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
                    run_case(&g, tag);
                }
        if (big)
            for (a = 0; a < sizeof bigs / sizeof *bigs; ++a) {
                random_case(&g, dt, bigs[a][0], bigs[a][1], bigs[a][2]);
                run_case(&g, tag);
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
                    for (act = 0; act < 4; ++act)
                        for (hb = 0; hb < 2; ++hb)
                            for (ab = 0; ab < 4; ++ab) {
                                random_case(&g, dt, 37, 45, 29);
                                g.ta = ta; g.tb = tb; g.epi = epi; g.act = act; g.has_bias = hb;
                                g.alpha = al[ab & 1]; g.beta = be[ab >> 1];
                                g.lda = ta ? g.m : g.k; g.ldb = tb ? g.k : g.n; g.ldc = g.n; g.ldh = g.n;
                                run_case(&g, tag);
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

#if LN_BUILD_AVX2
/* SIMD micro-kernels and epilogue tiles against their reference twins. */
static void test_twins(void)
{
    float a[40 * 64], b[40 * 64 + 16], c1[6 * 40], c2[6 * 40], hs[6 * 40], bs[16];
    double ad[40 * 64], bd[40 * 64 + 8], d1[6 * 40], d2[6 * 40], hd[6 * 40], bsd[8];
    int it, i;
    if (!ln_isa_supported(LN_ISA_AVX2)) return;
    for (i = 0; i < 40 * 64; ++i) { a[i] = (float)urand(); ad[i] = urand(); }
    for (i = 0; i < 40 * 64 + 16; ++i) b[i] = (float)urand();
    for (i = 0; i < 40 * 64 + 8; ++i) bd[i] = urand();
    for (i = 0; i < 6 * 40; ++i) { hs[i] = (float)(0.5 + 0.5 * urand()); hd[i] = 0.5 + 0.5 * urand(); }
    for (i = 0; i < 16; ++i) bs[i] = (float)urand();
    for (i = 0; i < 8; ++i) bsd[i] = urand();
    for (it = 0; it < 4000; ++it) {
        ptrdiff_t k = irand(40), mr = 1 + irand(6), nrs = 1 + irand(16), nrd = 1 + irand(8), j;
        int packed = irand(2), trans = irand(2);
        ptrdiff_t rs_a = packed ? 1 : (trans ? 1 : 40), cs_a = packed ? 6 : (trans ? 7 : 1);
        ptrdiff_t rs_bs = packed ? 16 : 17 + irand(5), rs_bd = packed ? 8 : 9 + irand(5);
        ln_sgemm_aux sa;
        ln_dgemm_aux da;
        double tol;
        sa.alpha = irand(2) ? 1.0f : -0.5f; sa.beta = (float)irand(3) * 0.5f;
        sa.epi = irand(3); sa.act = irand(4); sa.bias = irand(2) ? bs : NULL; sa.h = hs; sa.ldh = 40;
        da.alpha = sa.alpha; da.beta = sa.beta; da.epi = sa.epi; da.act = sa.act;
        da.bias = sa.bias ? bsd : NULL; da.h = hd; da.ldh = 40;
        for (i = 0; i < 6 * 40; ++i) { c1[i] = c2[i] = (float)urand(); d1[i] = d2[i] = urand(); }
        ln_sgemm_ref_6x16(k, mr, nrs, a, rs_a, cs_a, b, rs_bs, c1, 40, &sa);
        ln_sgemm_avx2_6x16(k, mr, nrs, a, rs_a, cs_a, b, rs_bs, c2, 40, &sa);
        ln_dgemm_ref_6x8(k, mr, nrd, ad, rs_a, cs_a, bd, rs_bd, d1, 40, &da);
        ln_dgemm_avx2_6x8(k, mr, nrd, ad, rs_a, cs_a, bd, rs_bd, d2, 40, &da);
        for (i = 0; i < 6; ++i)
            for (j = 0; j < 40; ++j) {
                int inside_s = i < mr && j < nrs, inside_d = i < mr && j < nrd;
                tol = 1e-6 * (k + 4);
                ++n_checks;
                if (inside_s ? !(fabs(c1[i * 40 + j] - c2[i * 40 + j]) <= tol) : c1[i * 40 + j] != c2[i * 40 + j]) {
                    ++n_fail;
                    fprintf(stderr, "FAIL twin s k=%td mr=%td nr=%td packed=%d epi=%d act=%d at %d,%td: ref %.9g avx2 %.9g\n",
                            k, mr, nrs, packed, sa.epi, sa.act, i, j, c1[i * 40 + j], c2[i * 40 + j]);
                    return;
                }
                tol = 1e-14 * (k + 4);
                ++n_checks;
                if (inside_d ? !(fabs(d1[i * 40 + j] - d2[i * 40 + j]) <= tol) : d1[i * 40 + j] != d2[i * 40 + j]) {
                    ++n_fail;
                    fprintf(stderr, "FAIL twin d k=%td mr=%td nr=%td packed=%d epi=%d act=%d at %d,%td: ref %.17g avx2 %.17g\n",
                            k, mr, nrd, packed, da.epi, da.act, i, j, d1[i * 40 + j], d2[i * 40 + j]);
                    return;
                }
            }
    }
}

/* SIMD row kernels against their reference twins: ragged n (every column
 * block and tail), strided A, alpha/beta, every epilogue; and one B past
 * LN_GEMV_FOLD_BYTES for the streaming path. C past n must stay untouched. */
static void test_gemv_twins(void)
{
    enum { K = 300, N = 300, BIGK = 1100, BIGN = 1000 };
    static float a[3 * BIGK], b[BIGK * BIGN], c1[BIGN + 8], c2[BIGN + 8], hs[BIGN], bs[BIGN];
    static double ad[3 * K], bd[K * N], d1[N + 8], d2[N + 8], hd[N], bsd[N];
    int it, i;
    if (!ln_isa_supported(LN_ISA_AVX2)) return;
    for (i = 0; i < 3 * BIGK; ++i) a[i] = (float)urand();
    for (i = 0; i < BIGK * BIGN; ++i) b[i] = (float)urand();
    for (i = 0; i < 3 * K; ++i) ad[i] = urand();
    for (i = 0; i < K * N; ++i) bd[i] = urand();
    for (i = 0; i < BIGN; ++i) { hs[i] = (float)(0.5 + 0.5 * urand()); bs[i] = (float)urand(); }
    for (i = 0; i < N; ++i) { hd[i] = 0.5 + 0.5 * urand(); bsd[i] = urand(); }
    for (it = 0; it < 1500; ++it) {
        int big = it == 0;
        ptrdiff_t k = big ? BIGK : irand(K + 1), n = big ? BIGN : 1 + irand(N), j;
        ptrdiff_t cs_a = 1 + 2 * irand(2), rs_b = big ? BIGN : n + irand(3);
        ln_sgemm_aux sa;
        ln_dgemm_aux da;
        if (!big && k * rs_b > K * N) rs_b = n;
        sa.alpha = irand(2) ? 1.0f : -0.5f; sa.beta = big ? 0.0f : (float)irand(3) * 0.5f;
        sa.epi = irand(3); sa.act = irand(4); sa.bias = irand(2) ? bs : NULL; sa.h = hs; sa.ldh = 0;
        sa.b_padded = 0;
        da.alpha = sa.alpha; da.beta = sa.beta; da.epi = sa.epi; da.act = sa.act;
        da.bias = sa.bias ? bsd : NULL; da.h = hd; da.ldh = 0; da.b_padded = 0;
        if (big && sa.epi == LN_EPI_BIAS_ACT && !sa.bias) sa.bias = bs;
        for (i = 0; i < BIGN + 8; ++i) c1[i] = c2[i] = (float)urand();
        for (i = 0; i < N + 8; ++i) d1[i] = d2[i] = urand();
        ln_sgemv_ref(k, n, a, cs_a, b, rs_b, c1, &sa);
        ln_sgemv_avx2(k, n, a, cs_a, b, rs_b, c2, &sa);
        if (!big) {
            ln_dgemv_ref(k, n, ad, cs_a, bd, rs_b, d1, &da);
            ln_dgemv_avx2(k, n, ad, cs_a, bd, rs_b, d2, &da);
        }
        for (j = 0; j < (big ? BIGN : N) + 8; ++j) {
            int inside = j < n;
            double tol = 1e-6 * (k + 4);
            ++n_checks;
            if (inside ? !(fabs(c1[j] - c2[j]) <= tol) : c1[j] != c2[j]) {
                ++n_fail;
                fprintf(stderr, "FAIL gemv twin s k=%td n=%td cs_a=%td beta=%g epi=%d act=%d at %td: ref %.9g avx2 %.9g\n",
                        k, n, cs_a, sa.beta, sa.epi, sa.act, j, c1[j], c2[j]);
                return;
            }
            if (big) continue;
            tol = 1e-14 * (k + 4);
            ++n_checks;
            if (inside ? !(fabs(d1[j] - d2[j]) <= tol) : d1[j] != d2[j]) {
                ++n_fail;
                fprintf(stderr, "FAIL gemv twin d k=%td n=%td cs_a=%td beta=%g epi=%d act=%d at %td: ref %.17g avx2 %.17g\n",
                        k, n, cs_a, da.beta, da.epi, da.act, j, d1[j], d2[j]);
                return;
            }
        }
    }
}

/* Vector sigmoid/tanh/relu against libm over a wide range: relative error
 * within float tolerance in float32 and ~1e-13 in float64. */
static void test_activations(void)
{
    enum { N = 4000 };
    static float xs[N], ys[N];
    static double xd[N], yd[N];
    ln_sgemm_aux sa;
    ln_dgemm_aux da;
    int act, i;
    double worst_s[4] = { 0 }, worst_d[4] = { 0 };
    if (!ln_isa_supported(LN_ISA_AVX2)) return;
    for (act = 1; act < 4; ++act) {
        for (i = 0; i < N; ++i) {
            double x;
            if (i < 1000) x = (i - 500) * 0.3;                   /* -150 .. 150 */
            else if (i < 2000) x = (i - 1500) * 0.01;            /* -5 .. 5 */
            else if (i < 3000) x = (i & 1 ? -1 : 1) * pow(10.0, -12 + (i - 2000) * 0.012);
            else x = urand() * 800;
            if (i == 3990) x = 0.0;
            if (i == 3991) x = -0.0;
            if (i == 3992) x = 1e300;
            if (i == 3993) x = -1e300;
            xs[i] = (float)x; xd[i] = x;
        }
        memset(&sa, 0, sizeof sa); memset(&da, 0, sizeof da);
        sa.epi = da.epi = LN_EPI_BIAS_ACT; sa.act = da.act = act;
        memcpy(ys, xs, sizeof xs); memcpy(yd, xd, sizeof xd);
        ln_sepi_avx2(1, N, ys, N, &sa);
        ln_depi_avx2(1, N, yd, N, &da);
        for (i = 0; i < N; ++i) {
            double ws = ref_act(act, (double)xs[i]), wd = ref_act(act, xd[i]);
            double es = fabs(ys[i] - ws) / (fabs(ws) > 1e-30 ? fabs(ws) : 1e-30);
            double ed = fabs(yd[i] - wd) / (fabs(wd) > 1e-300 ? fabs(wd) : 1e-300);
            if (fabs(ws) < 1e-37) es = fabs(ys[i] - ws) * 1e30;   /* float denormals: absolute */
            if (fabs(wd) < 1e-307) ed = fabs(yd[i] - wd) * 1e300;
            if ((double)ys[i] == ws) es = 0;
            if (yd[i] == wd) ed = 0;
            if (es > worst_s[act]) worst_s[act] = es;
            if (ed > worst_d[act]) worst_d[act] = ed;
            if (!(es <= 1e-6) || !(ed <= 1e-13)) {
                ++n_fail;
                fprintf(stderr, "FAIL %s(%.17g): f32 %.9g want %.9g (rel %.3g); f64 %.17g want %.17g (rel %.3g)\n",
                        act_name[act], xd[i], ys[i], ws, es, yd[i], wd, ed);
                break;
            }
            ++n_checks;
        }
    }
    printf("  activation max rel err f32: sigmoid %.2g relu %.2g tanh %.2g; f64: sigmoid %.2g relu %.2g tanh %.2g\n",
           worst_s[1], worst_s[2], worst_s[3], worst_d[1], worst_d[2], worst_d[3]);
    /* NaN propagates through relu, as in the reference */
    xs[0] = NAN; sa.act = LN_ACT_RELU; ln_sepi_avx2(1, 1, xs, 1, &sa);
    ++n_checks;
    if (!isnan(xs[0])) { ++n_fail; fprintf(stderr, "FAIL relu(NaN) is not NaN\n"); }
}
#endif

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
    printf("isa %s\n", ln_isa_name(ln_get_isa()));
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
    printf("isa %s %s, %d thread(s): ns per call (GFLOP/s)\n", ln_isa_name(ln_get_isa()), dt ? "f64" : "f32",
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
    ln_isa_table *t = ln_gemm_table_of(ln_get_isa());
    ln_gemm_blocks *bk;
    int dt;
    ptrdiff_t n, m, k;
    double sec;
    if (argc < 8) { fprintf(stderr, "usage: tune s|d mc kc nc n threads [m k]\n"); exit(2); }
    dt = argv[2][0] == 'd';
    bk = dt ? &t->dblk : &t->sblk;
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
    static const int isas[] = { LN_ISA_GENERIC, LN_ISA_AVX2, LN_ISA_AVX512 };
    size_t i;
    int path, th;
    ln_init();
    if (argc > 1 && !strcmp(argv[1], "bench")) { bench(argc, argv); return 0; }
    if (argc > 1 && !strcmp(argv[1], "small")) { small(argc, argv); return 0; }
    if (argc > 1 && !strcmp(argv[1], "tune")) { tune(argc, argv); return 0; }

    printf("openmp %d, default threads %d, isa %s\n", ln_openmp_enabled(), ln_get_num_threads(),
           ln_isa_name(ln_get_isa()));
    ++n_checks;
    if (ln_isa_supported(LN_ISA_AVX512) || ln_set_isa(LN_ISA_AVX512) != LN_ERR_ISA ||
        strcmp(ln_isa_name(LN_ISA_AVX512), "avx512")) {
        ++n_fail; fprintf(stderr, "FAIL avx512 must be unsupported in this build\n");
    }
    test_empty();
#if LN_BUILD_AVX2
    test_twins();
    test_gemv_twins();
    test_activations();
#endif
    for (i = 0; i < sizeof isas / sizeof *isas; ++i) {
        char tag[64];
        if (!ln_isa_supported(isas[i])) continue;
        ln_set_isa(isas[i]);
        for (path = 0; path < 5; ++path)
            for (th = 1; th <= 2; ++th) {
                long before = n_fail;
                ln_set_num_threads(th);
                ln_gemm_force(path, th > 1);
                sprintf(tag, "%s path=%d threads=%d", ln_isa_name(isas[i]), path, th);
                test_api(tag, 1);
                test_all_combos(tag);
                printf("  %-32s %s\n", tag, n_fail == before ? "ok" : "FAILED");
                fflush(stdout);
            }
        ln_gemm_force(0, 0);
        ln_set_num_threads(2);
        test_concurrent();
    }
    ln_init();
    printf("%ld checks, %ld failed\n", n_checks, n_fail);
    return n_fail != 0;
}
