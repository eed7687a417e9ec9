/* test_net.c: networks end to end against independent oracles.
 *
 *   forward      ln_net_predict and ln_net_loss against a naive double
 *                forward (every activation, several shapes, 1-row batches,
 *                widths that are not multiples of a tile)
 *   gradients    ln_net_backward's flat gradient against central differences
 *                of the naive forward (float64), for every loss, with and
 *                without sample weights; networks with Dropout against
 *                central differences of the training forward at a fixed
 *                (seed, step); float32 gradients against float64 ones
 *   dropout      the mask: reproducible for (seed, step), different for
 *                another step or seed, kept fraction near 1 - rate, scaled
 *                by 1 / (1 - rate); the identity in inference
 *   update       ln_net_update all or nothing; clip_norm as
 *                torch.nn.utils.clip_grad_norm_
 *   fit          ln_net_fit_batches equals the same steps one by one, and
 *                stops at a failing step having changed nothing
 *   threads      8 threads predicting on one network bit for bit; predictions
 *                during training each equal the prediction of some snapshot
 *                of the parameters between steps
 *   sizes        sizes that overflow return LN_ERR_NOMEM before touching any
 *                buffer; steady-state calls allocate nothing
 * Exit status 0 when every check passes.
 */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "framework/pool.h"
#include "tests/check.h"

/* ------------------------------------------------------------------ */
/* Tables by name                                                      */
/* ------------------------------------------------------------------ */

static int index_of(int count, const char *(*name_at)(int), const char *name)
{
    int i;
    for (i = 0; i < count; ++i)
        if (name_at(i) && !strcmp(name_at(i), name)) return i;
    fprintf(stderr, "FAIL no table row named %s\n", name);
    exit(1);
}

static int layer_kind(const char *name) { return index_of(ln_layer_kind_count(), ln_layer_kind_name, name); }
static int loss_kind(const char *name) { return index_of(ln_loss_count(), ln_loss_name, name); }
static int optimizer_kind(const char *name) { return index_of(ln_optimizer_count(), ln_optimizer_name, name); }

static ln_node_spec dense(ptrdiff_t n_in, ptrdiff_t n_out, int act)
{
    ln_node_spec s;
    memset(&s, 0, sizeof s);
    s.kind = layer_kind("dense");
    s.n_in = n_in;
    s.n_out = n_out;
    s.act = act;
    return s;
}

static ln_node_spec dropout(ptrdiff_t n, double rate)
{
    ln_node_spec s;
    memset(&s, 0, sizeof s);
    s.kind = layer_kind("dropout");
    s.n_in = s.n_out = n;
    s.act = LN_ACT_identity;
    s.rate = rate;
    return s;
}

/* ------------------------------------------------------------------ */
/* A network under test                                                */
/* ------------------------------------------------------------------ */

#define MAX_NODES 8

typedef struct {
    int dtype, n_nodes;
    ln_node_spec spec[MAX_NODES];
    ln_net *net;
    ptrdiff_t size;              /* flat parameter vector, elements */
    void *params, *consts;       /* bound to net */
    ptrdiff_t w_at[MAX_NODES], b_at[MAX_NODES];   /* Dense: where W and B start, else -1 */
    ptrdiff_t n_in, n_out, width;
} tnet;

/* Creates and binds a network with random parameters (W scaled by 1/sqrt(n_in)). */
static int tnet_init(tnet *t, int dtype, int n_nodes, const ln_node_spec *spec)
{
    int status = -1, i, count;
    ptrdiff_t j;
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->n_nodes = n_nodes;
    memcpy(t->spec, spec, (size_t)n_nodes * sizeof *spec);
    t->net = ln_net_create(dtype, n_nodes, spec, &status);
    if (!CHECK(t->net != NULL && status == LN_OK, "ln_net_create of a valid network: status %d", status)) return 0;
    t->size = ln_net_param_size(t->net);
    t->params = calloc((size_t)t->size + 1, el_size(dtype));
    t->consts = calloc((size_t)ln_net_const_size(t->net) + 1, el_size(dtype));
    count = ln_net_tensor_count(t->net);
    for (i = 0; i < n_nodes; ++i) t->w_at[i] = t->b_at[i] = -1;
    for (i = 0; i < count; ++i) {
        int node;
        ptrdiff_t off, sz;
        ln_net_tensor(t->net, i, &node, &off, &sz);
        if (t->w_at[node] < 0) {
            t->w_at[node] = off;
            CHECK(sz == spec[node].n_in * spec[node].n_out, "tensor %d: W of %td elements", i, sz);
        } else {
            t->b_at[node] = off;
            CHECK(sz == spec[node].n_out, "tensor %d: B of %td elements", i, sz);
        }
        CHECK(off % 16 == 0, "tensor %d starts at %td, not on a 64-byte boundary", i, off);
        for (j = 0; j < sz; ++j)
            set_el(dtype, t->params, off + j,
                   t->b_at[node] == off ? 0.5 * urand() : 1.5 * urand() / sqrt((double)spec[node].n_in));
    }
    ln_net_bind(t->net, t->params, t->consts);
    t->n_in = spec[0].n_in;
    t->n_out = spec[n_nodes - 1].n_out;
    for (i = 0; i < n_nodes; ++i) if (spec[i].n_out > t->width) t->width = spec[i].n_out;
    if (t->n_in > t->width) t->width = t->n_in;
    return 1;
}

static void tnet_free(tnet *t)
{
    ln_net_free(t->net);
    free(t->params);
    free(t->consts);
}

/* 1 if flat element i belongs to a tensor, 0 if it lies in a gap between them. */
static int in_tensor(const tnet *t, ptrdiff_t i)
{
    int l;
    for (l = 0; l < t->n_nodes; ++l) {
        if (t->w_at[l] < 0) continue;
        if (i >= t->w_at[l] && i < t->w_at[l] + t->spec[l].n_in * t->spec[l].n_out) return 1;
        if (i >= t->b_at[l] && i < t->b_at[l] + t->spec[l].n_out) return 1;
    }
    return 0;
}

static int tnet_has_dropout(const tnet *t)
{
    int i;
    for (i = 0; i < t->n_nodes; ++i) if (t->spec[i].kind == layer_kind("dropout")) return 1;
    return 0;
}

/* The parameters in double. */
static double *params_double(const tnet *t)
{
    double *p = malloc((size_t)t->size * sizeof *p + 8);
    ptrdiff_t i;
    for (i = 0; i < t->size; ++i) p[i] = get_el(t->dtype, t->params, i);
    return p;
}

/* Naive forward in inference mode, in double, with parameters p: Dense is
 * act(x W + B) by the scalar references, Dropout the identity. */
static void naive_forward(const tnet *t, const double *p, ptrdiff_t n, const double *X, double *out)
{
    double *a = malloc((size_t)(n * t->width) * 8 + 8), *b = malloc((size_t)(n * t->width) * 8 + 8);
    const double *in = X;
    ptrdiff_t i, j, k, width = t->n_in;
    int l;
    for (l = 0; l < t->n_nodes; ++l) {
        const ln_node_spec *s = &t->spec[l];
        double *dst = l == t->n_nodes - 1 ? out : (in == a ? b : a);
        for (i = 0; i < n; ++i)
            for (j = 0; j < s->n_out; ++j) {
                if (t->w_at[l] < 0) { dst[i * s->n_out + j] = in[i * width + j]; continue; }
                {
                    double z = p[t->b_at[l] + j];
                    for (k = 0; k < s->n_in; ++k) z += in[i * width + k] * p[t->w_at[l] + k * s->n_out + j];
                    dst[i * s->n_out + j] = ln_act_ref(s->act, z);
                }
            }
        in = dst;
        width = s->n_out;
    }
    free(a);
    free(b);
}

/* A batch: X, Y (targets fitting the loss: distributions for cross-entropy)
 * and sample weights, in double and in the network's type. */
typedef struct {
    ptrdiff_t n;
    double *X, *Y, *w;
    void *Xt, *Yt, *wt;
} batch;

static void batch_init(batch *b, const tnet *t, ptrdiff_t n, const char *loss)
{
    const int dist = !strcmp(loss, "cross_entropy");
    ptrdiff_t i, j, m = t->n_out;
    b->n = n;
    b->X = malloc((size_t)(n * t->n_in) * 8);
    b->Y = malloc((size_t)(n * m) * 8);
    b->w = malloc((size_t)n * 8);
    b->Xt = malloc((size_t)(n * t->n_in) * el_size(t->dtype));
    b->Yt = malloc((size_t)(n * m) * el_size(t->dtype));
    b->wt = malloc((size_t)n * el_size(t->dtype));
    for (i = 0; i < n * t->n_in; ++i) b->X[i] = round_to(t->dtype, 1.5 * urand());
    for (i = 0; i < n; ++i) {
        double sum = 0;
        for (j = 0; j < m; ++j) {
            b->Y[i * m + j] = dist ? (urand() + 1.05) : urand();
            sum += b->Y[i * m + j];
        }
        if (dist && i % 2) {                 /* odd rows one-hot, even rows soft */
            for (j = 0; j < m; ++j) b->Y[i * m + j] = 0;
            b->Y[i * m + irand((int)m)] = 1;
        } else if (dist) {
            for (j = 0; j < m; ++j) b->Y[i * m + j] /= sum;
        }
        for (j = 0; j < m; ++j) b->Y[i * m + j] = round_to(t->dtype, b->Y[i * m + j]);
        b->w[i] = round_to(t->dtype, i == 0 && n > 2 ? 0.0 : 0.25 + (urand() + 1));
    }
    for (i = 0; i < n * t->n_in; ++i) set_el(t->dtype, b->Xt, i, b->X[i]);
    for (i = 0; i < n * m; ++i) set_el(t->dtype, b->Yt, i, b->Y[i]);
    for (i = 0; i < n; ++i) set_el(t->dtype, b->wt, i, b->w[i]);
}

static void batch_free(batch *b)
{
    free(b->X); free(b->Y); free(b->w); free(b->Xt); free(b->Yt); free(b->wt);
}

static ln_batch_opts opts_for(const char *loss, const batch *b, int weighted, double denom, int training,
                              uint64_t seed, long long step)
{
    ln_batch_opts o;
    memset(&o, 0, sizeof o);
    o.kind = loss_kind(loss);
    o.w = weighted ? b->wt : NULL;
    o.denom = denom;
    o.training = training;
    o.seed = seed;
    o.step = step;
    return o;
}

/* The naive loss of the network with parameters p (inference forward). */
static double naive_loss(const tnet *t, const double *p, const batch *b, const char *loss, int weighted, double denom)
{
    double *H = malloc((size_t)(b->n * t->n_out) * 8), L;
    const double *w = weighted ? b->w : NULL;
    naive_forward(t, p, b->n, b->X, H);
    L = oracle_loss(loss, b->n, t->n_out, H, b->Y, w, oracle_scale(loss, b->n, w, denom));
    free(H);
    return L;
}

/* ------------------------------------------------------------------ */
/* Forward and gradients                                               */
/* ------------------------------------------------------------------ */

static const char *net_desc(const tnet *t, char *buf, size_t cap)
{
    int i;
    size_t used = 0;
    used += (size_t)snprintf(buf + used, cap - used, "%s [", dtype_name(t->dtype));
    for (i = 0; i < t->n_nodes && used < cap; ++i) {
        const ln_node_spec *s = &t->spec[i];
        if (t->w_at[i] >= 0)
            used += (size_t)snprintf(buf + used, cap - used, "%sdense %td->%td %s", i ? ", " : "", s->n_in, s->n_out,
                                     ln_activation_name(s->act));
        else
            used += (size_t)snprintf(buf + used, cap - used, "%sdropout %g", i ? ", " : "", s->rate);
    }
    if (used < cap) snprintf(buf + used, cap - used, "]");
    return buf;
}

/* Predict and the inference loss against the naive forward. */
static void check_forward(tnet *t, const batch *b, const char *loss, int weighted, double denom)
{
    const ptrdiff_t size = b->n * t->n_out;
    double *want = malloc((size_t)size * 8), *pd = params_double(t), L = NAN, Lw;
    void *out = malloc((size_t)size * el_size(t->dtype));
    const double tol = t->dtype == LN_FLOAT32 ? 2e-5 : 1e-13;
    ln_ws *ws = ln_ws_create();
    ln_batch_opts o = opts_for(loss, b, weighted, denom, 0, 0, 0);
    ptrdiff_t i, bad = -1;
    char desc[256];
    int rc = ln_net_predict(t->net, ws, b->n, b->Xt, out, 1, &bad);
    naive_forward(t, pd, b->n, b->X, want);
    CHECK(rc == LN_OK, "predict %s n=%td: status %d", net_desc(t, desc, sizeof desc), b->n, rc);
    for (i = 0; i < size; ++i) {
        const double got = get_el(t->dtype, out, i);
        if (!CHECK(fabs(got - want[i]) <= tol * (1 + fabs(want[i])), "predict %s n=%td: out[%td] = %.17g, want %.17g",
                   net_desc(t, desc, sizeof desc), b->n, i, got, want[i]))
            break;
    }
    rc = ln_net_loss(t->net, ws, &o, b->n, b->Xt, b->Yt, &L);
    Lw = naive_loss(t, pd, b, loss, weighted, denom);
    CHECK(rc == LN_OK && fabs(L - Lw) <= tol * (1 + fabs(Lw)),
          "ln_net_loss %s %s n=%td weighted=%d denom=%g: %.17g, want %.17g (status %d)", net_desc(t, desc, sizeof desc),
          loss, b->n, weighted, denom, L, Lw, rc);
    ln_ws_free(ws);
    free(want); free(pd); free(out);
}

/* The flat gradient of a float64 network against central differences: of
 * the naive forward without Dropout, of the training forward at a fixed
 * (seed, step) with it. Also the reported loss against the naive one. */
static void check_gradient(tnet *t, const batch *b, const char *loss, int weighted, double denom)
{
    const int drop = tnet_has_dropout(t);
    const uint64_t seed = 1234567;
    const long long step = 3;
    ln_ws *ws = ln_ws_create();
    ln_batch_opts o = opts_for(loss, b, weighted, denom, 1, seed, step);
    double *pd = params_double(t), *grad = malloc((size_t)t->size * 8 + 8), L = NAN;
    int rc = ln_net_backward(t->net, ws, &o, b->n, b->Xt, b->Yt, &L), bad = 0;
    ptrdiff_t k;
    char desc[256];
    if (!CHECK(rc == LN_OK, "backward %s %s n=%td: status %d", net_desc(t, desc, sizeof desc), loss, b->n, rc)) goto done;
    memcpy(grad, ln_ws_grad(ws), (size_t)t->size * 8);
    if (!drop) {
        const double Lw = naive_loss(t, pd, b, loss, weighted, denom);
        CHECK(fabs(L - Lw) <= 1e-13 * (1 + fabs(Lw)), "backward %s %s n=%td: loss %.17g, want %.17g",
              net_desc(t, desc, sizeof desc), loss, b->n, L, Lw);
    }
    /* Every parameter; the gaps between tensors get no gradient */
    for (k = 0; k < t->size && !bad; ++k) {
        const double x = pd[k], h = 1e-6;
        double fp, fm, fd, tol;
        if (!in_tensor(t, k)) {
            bad = !CHECK(grad[k] == 0, "backward %s: gradient %.3g in the gap at %td", net_desc(t, desc, sizeof desc),
                         grad[k], k);
            continue;
        }
        if (drop) {
            /* The library's training loss at the same mask */
            ((double *)t->params)[k] = x + h;
            ln_net_backward(t->net, ws, &o, b->n, b->Xt, b->Yt, &fp);
            ((double *)t->params)[k] = x - h;
            ln_net_backward(t->net, ws, &o, b->n, b->Xt, b->Yt, &fm);
            ((double *)t->params)[k] = x;
        } else {
            pd[k] = x + h; fp = naive_loss(t, pd, b, loss, weighted, denom);
            pd[k] = x - h; fm = naive_loss(t, pd, b, loss, weighted, denom);
            pd[k] = x;
        }
        fd = (fp - fm) / (2 * h);
        /* Truncation ~h^2; rounding of the two losses ~1e-16 |L| / h, summed over the batch */
        tol = 1e-6 * fabs(grad[k]) + 1e-8 * (1 + fabs(L));
        bad = !CHECK(fabs(fd - grad[k]) <= tol, "backward %s %s n=%td weighted=%d denom=%g: dL/dp[%td] = %.17g, "
                     "central difference %.17g (tol %.3g)", net_desc(t, desc, sizeof desc), loss, b->n, weighted,
                     denom, k, grad[k], fd, tol);
    }
done:
    ln_ws_free(ws);
    free(pd); free(grad);
}

/* A float32 network's gradient against the float64 network's at the same
 * (float-rounded) parameters and batch. */
static void check_float_gradient(const ln_node_spec *spec, int n_nodes, ptrdiff_t n, const char *loss, int weighted)
{
    tnet t32, t64;
    batch b32, b64;
    ln_ws *ws32 = ln_ws_create(), *ws64 = ln_ws_create();
    ln_batch_opts o32, o64;
    double L32 = NAN, L64 = NAN, gmax = 0;
    ptrdiff_t k;
    int rc32, rc64;
    char desc[256];
    if (!tnet_init(&t32, LN_FLOAT32, n_nodes, spec) || !tnet_init(&t64, LN_FLOAT64, n_nodes, spec)) return;
    for (k = 0; k < t32.size; ++k) ((double *)t64.params)[k] = ((float *)t32.params)[k];
    batch_init(&b32, &t32, n, loss);
    batch_init(&b64, &t64, n, loss);
    for (k = 0; k < n * t32.n_in; ++k) ((double *)b64.Xt)[k] = ((float *)b32.Xt)[k];
    for (k = 0; k < n * t32.n_out; ++k) ((double *)b64.Yt)[k] = ((float *)b32.Yt)[k];
    for (k = 0; k < n; ++k) ((double *)b64.wt)[k] = ((float *)b32.wt)[k];
    o32 = opts_for(loss, &b32, weighted, 0, 1, 99, 5);
    o64 = opts_for(loss, &b64, weighted, 0, 1, 99, 5);
    rc32 = ln_net_backward(t32.net, ws32, &o32, n, b32.Xt, b32.Yt, &L32);
    rc64 = ln_net_backward(t64.net, ws64, &o64, n, b64.Xt, b64.Yt, &L64);
    if (CHECK(rc32 == LN_OK && rc64 == LN_OK, "float32 backward status %d, float64 %d", rc32, rc64)) {
        const float *g32 = ln_ws_grad(ws32);
        const double *g64 = ln_ws_grad(ws64);
        CHECK(fabs(L32 - L64) <= 1e-5 * (1 + fabs(L64)), "float32 loss %s %.9g, float64 %.17g",
              net_desc(&t32, desc, sizeof desc), L32, L64);
        for (k = 0; k < t32.size; ++k) gmax = fmax(gmax, fabs(g64[k]));
        for (k = 0; k < t32.size; ++k)
            if (!CHECK(fabs(g32[k] - g64[k]) <= 1e-4 * (fabs(g64[k]) + 1e-2 * gmax),
                       "float32 gradient %s %s n=%td: [%td] = %.9g, float64 %.17g", net_desc(&t32, desc, sizeof desc),
                       loss, n, k, g32[k], g64[k]))
                break;
    }
    ln_ws_free(ws32); ln_ws_free(ws64);
    batch_free(&b32); batch_free(&b64);
    tnet_free(&t32); tnet_free(&t64);
}

typedef struct {
    int n_nodes;
    ln_node_spec spec[MAX_NODES];
} netdef;

static void test_forward_and_gradients(void)
{
    static const ptrdiff_t rows[] = { 1, 7, 33 };
    const long fails_before = n_fail;
    netdef defs[48];
    int n_defs = 0, d, a, dtype, weighted, losses_run = 0;
    size_t r;
    /* Every activation inside and at the output */
    for (a = 0; a < LN_ACT_COUNT; ++a) {
        defs[n_defs].n_nodes = 2;
        defs[n_defs].spec[0] = dense(4, 6, a);
        defs[n_defs].spec[1] = dense(6, 3, LN_ACT_identity);
        ++n_defs;
        defs[n_defs].n_nodes = 2;
        defs[n_defs].spec[0] = dense(4, 6, LN_ACT_tanh);
        defs[n_defs].spec[1] = dense(6, 3, a);
        ++n_defs;
    }
    /* Deeper, wider, ragged; one node alone; Dropout first, between, last, twice */
    defs[n_defs].n_nodes = 3;
    defs[n_defs].spec[0] = dense(3, 17, LN_ACT_tanh);
    defs[n_defs].spec[1] = dense(17, 9, LN_ACT_gelu);
    defs[n_defs].spec[2] = dense(9, 4, LN_ACT_identity);
    ++n_defs;
    defs[n_defs].n_nodes = 3;
    defs[n_defs].spec[0] = dense(20, 33, LN_ACT_relu);
    defs[n_defs].spec[1] = dense(33, 17, LN_ACT_leaky_relu);
    defs[n_defs].spec[2] = dense(17, 5, LN_ACT_identity);
    ++n_defs;
    defs[n_defs].n_nodes = 1;
    defs[n_defs].spec[0] = dense(9, 2, LN_ACT_softplus);
    ++n_defs;
    defs[n_defs].n_nodes = 4;
    defs[n_defs].spec[0] = dense(3, 17, LN_ACT_tanh);
    defs[n_defs].spec[1] = dropout(17, 0.25);
    defs[n_defs].spec[2] = dense(17, 9, LN_ACT_gelu);
    defs[n_defs].spec[3] = dense(9, 4, LN_ACT_identity);
    ++n_defs;
    defs[n_defs].n_nodes = 3;
    defs[n_defs].spec[0] = dropout(5, 0.2);
    defs[n_defs].spec[1] = dense(5, 9, LN_ACT_silu);
    defs[n_defs].spec[2] = dense(9, 2, LN_ACT_identity);
    ++n_defs;
    defs[n_defs].n_nodes = 4;
    defs[n_defs].spec[0] = dense(6, 8, LN_ACT_sigmoid);
    defs[n_defs].spec[1] = dropout(8, 0.5);
    defs[n_defs].spec[2] = dropout(8, 0.3);
    defs[n_defs].spec[3] = dense(8, 3, LN_ACT_identity);
    ++n_defs;
    defs[n_defs].n_nodes = 3;
    defs[n_defs].spec[0] = dense(4, 6, LN_ACT_relu);
    defs[n_defs].spec[1] = dense(6, 5, LN_ACT_softplus);
    defs[n_defs].spec[2] = dropout(5, 0.4);
    ++n_defs;
    /* One-unit layers: a hidden one whose activation keeps Z, and outputs
     * (one-column products, epilogues and bias sums) */
    defs[n_defs].n_nodes = 3;
    defs[n_defs].spec[0] = dense(5, 1, LN_ACT_gelu);
    defs[n_defs].spec[1] = dense(1, 7, LN_ACT_relu);
    defs[n_defs].spec[2] = dense(7, 1, LN_ACT_sigmoid);
    ++n_defs;
    defs[n_defs].n_nodes = 2;
    defs[n_defs].spec[0] = dense(2, 16, LN_ACT_relu);
    defs[n_defs].spec[1] = dense(16, 1, LN_ACT_identity);
    ++n_defs;

    for (d = 0; d < n_defs; ++d)
        for (r = 0; r < sizeof rows / sizeof *rows; ++r) {
            const char *losses[3] = { "mse", "cross_entropy", "mse_sum" };
            int li;
            /* The small two-node networks run one batch size each */
            if (d < 2 * LN_ACT_COUNT && r != (size_t)(d % 3)) continue;
            for (li = 0; li < 3; ++li)
                for (weighted = 0; weighted < 2; ++weighted)
                    for (dtype = 0; dtype < 2; ++dtype) {
                        tnet t;
                        batch b;
                        const double denom = li == 0 && weighted && r == 1 ? 12.5 : 0;
                        if (!tnet_init(&t, dtype, defs[d].n_nodes, defs[d].spec)) continue;
                        batch_init(&b, &t, rows[r], losses[li]);
                        if (!tnet_has_dropout(&t)) check_forward(&t, &b, losses[li], weighted, denom);
                        if (dtype == LN_FLOAT64) check_gradient(&t, &b, losses[li], weighted, denom);
                        ++losses_run;
                        batch_free(&b);
                        tnet_free(&t);
                    }
            for (li = 0; li < 2; ++li) check_float_gradient(defs[d].spec, defs[d].n_nodes, rows[r], losses[li], li);
        }
    printf("forward and gradients: %d networks, %d (network, batch, loss, weights, type) cases: %s\n", n_defs, losses_run,
           n_fail == fails_before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Dropout                                                             */
/* ------------------------------------------------------------------ */

/* The training mask of [Dense R->C (identity), Dropout] at (seed, step) for
 * rows [0, n): with W = 1, B = 0 and X the first n rows of the R x R
 * identity, every row of the Dense output is all ones, so under mse_sum
 * against Y = 0 the gradient dW[i][j] = 2 mask[i][j] / (1 - rate)^2. The
 * mask comes back as 0/1 (-1 where dW is neither value). */
static double dropout_mask(tnet *t, double rate, ptrdiff_t n, uint64_t seed, long long step, signed char *mask)
{
    const ptrdiff_t R = t->n_in, C = t->n_out;
    double *X = calloc((size_t)(n * R), 8), *Y = calloc((size_t)(n * C), 8), loss = NAN;
    ln_ws *ws = ln_ws_create();
    ln_batch_opts o;
    ptrdiff_t i, j;
    const double *g;
    const double unit = 2 / ((1 - rate) * (1 - rate));
    int rc;
    memset(&o, 0, sizeof o);
    o.kind = loss_kind("mse_sum");
    o.training = 1;
    o.seed = seed;
    o.step = step;
    for (i = 0; i < n; ++i) X[i * R + i] = 1;
    rc = ln_net_backward(t->net, ws, &o, n, X, Y, &loss);
    CHECK(rc == LN_OK, "dropout mask backward: status %d", rc);
    g = ln_ws_grad(ws);
    for (i = 0; i < R; ++i)
        for (j = 0; j < C; ++j) {
            const double v = g[t->w_at[0] + i * C + j];
            mask[i * C + j] = i >= n ? (v == 0 ? 0 : -1) : fabs(v) < 1e-300 ? 0 : fabs(v - unit) <= 1e-12 * unit ? 1 : -1;
        }
    ln_ws_free(ws);
    free(X); free(Y);
    return loss;
}

static void test_dropout(void)
{
    enum { R = 48, C = 40 };
    static const double rates[] = { 0.0, 0.3, 0.5, 0.9 };
    static signed char m1[R * C], m2[R * C], m3[R * C], m4[R * C], m5[R * C];
    const long fails_before = n_fail;
    size_t r;
    int dtype;
    for (r = 0; r < sizeof rates / sizeof *rates; ++r) {
        const double rate = rates[r];
        ln_node_spec spec[2];
        tnet t;
        ptrdiff_t i, kept = 0, diff_step = 0, diff_seed = 0, valid = 1;
        double loss, expect, sd;
        spec[0] = dense(R, C, LN_ACT_identity);
        spec[1] = dropout(C, rate);
        if (!tnet_init(&t, LN_FLOAT64, 2, spec)) continue;
        for (i = 0; i < R * C; ++i) ((double *)t.params)[t.w_at[0] + i] = 1;
        for (i = 0; i < C; ++i) ((double *)t.params)[t.b_at[0] + i] = 0;
        loss = dropout_mask(&t, rate, R, 42, 7, m1);
        dropout_mask(&t, rate, R, 42, 7, m2);
        dropout_mask(&t, rate, R, 42, 8, m3);
        dropout_mask(&t, rate, R, 43, 7, m4);
        dropout_mask(&t, rate, R / 2, 42, 7, m5);
        for (i = 0; i < R * C; ++i) {
            valid &= m1[i] >= 0 && m3[i] >= 0 && m4[i] >= 0 && m5[i] >= 0;
            kept += m1[i] == 1;
            diff_step += m1[i] != m3[i];
            diff_seed += m1[i] != m4[i];
        }
        CHECK(valid, "dropout %g: the training output is not x * mask / (1 - rate) with a 0/1 mask", rate);
        CHECK(memcmp(m1, m2, sizeof m1) == 0, "dropout %g: the same (seed, step) gave another mask", rate);
        CHECK(memcmp(m1, m5, sizeof m1 / 2) == 0, "dropout %g: row i's mask depends on the batch size", rate);
        CHECK(fabs(loss - (double)kept / ((1 - rate) * (1 - rate))) <= 1e-12 * (1 + loss),
              "dropout %g: loss %.17g for %td kept", rate, loss, kept);
        expect = (1 - rate) * R * C;
        sd = sqrt(rate * (1 - rate) * R * C);
        if (rate == 0) {
            CHECK(kept == R * C && diff_step == 0 && diff_seed == 0, "dropout 0 dropped %td elements", R * C - kept);
        } else {
            /* Another step or seed: each element differs with probability 2 rate (1 - rate) */
            const double p_diff = 2 * rate * (1 - rate), sd_diff = sqrt(p_diff * (1 - p_diff) * R * C);
            CHECK(fabs((double)kept - expect) <= 5 * sd, "dropout %g kept %td of %d, expected %.0f +- %.0f", rate, kept,
                  R * C, expect, sd);
            CHECK(fabs((double)diff_step - p_diff * R * C) <= 5 * sd_diff,
                  "dropout %g: the mask at the next step differs in %td of %d elements (expected %.0f)", rate, diff_step,
                  R * C, p_diff * R * C);
            CHECK(fabs((double)diff_seed - p_diff * R * C) <= 5 * sd_diff,
                  "dropout %g: the mask with another seed differs in %td of %d elements (expected %.0f)", rate,
                  diff_seed, R * C, p_diff * R * C);
        }
        tnet_free(&t);
    }
    /* Inference: [Dense, Dropout, Dense] predicts exactly as [Dense, Dense] with the same parameters */
    for (dtype = 0; dtype < 2; ++dtype) {
        ln_node_spec with[4], without[3];
        tnet a;
        ln_net *b;
        batch bt;
        ln_ws *ws = ln_ws_create();
        void *o1, *o2;
        int status;
        double la = NAN, lb = NAN;
        ln_batch_opts o;
        with[0] = dense(5, 11, LN_ACT_tanh); with[1] = dropout(11, 0.5);
        with[2] = dense(11, 3, LN_ACT_identity); with[3] = dropout(3, 0.4);
        without[0] = with[0]; without[1] = with[2];
        if (!tnet_init(&a, dtype, 4, with)) continue;
        b = ln_net_create(dtype, 2, without, &status);
        CHECK(b != NULL && ln_net_param_size(b) == a.size, "the network without Dropout has another layout");
        ln_net_bind(b, a.params, a.consts);
        batch_init(&bt, &a, 9, "mse");
        o1 = malloc((size_t)(9 * 3) * el_size(dtype));
        o2 = malloc((size_t)(9 * 3) * el_size(dtype));
        ln_net_predict(a.net, ws, 9, bt.Xt, o1, 0, NULL);
        ln_net_predict(b, ws, 9, bt.Xt, o2, 0, NULL);
        CHECK(memcmp(o1, o2, (size_t)(9 * 3) * el_size(dtype)) == 0, "%s: Dropout is not the identity in inference",
              dtype_name(dtype));
        o = opts_for("mse", &bt, 1, 0, 0, 0, 0);
        ln_net_loss(a.net, ws, &o, 9, bt.Xt, bt.Yt, &la);
        ln_net_loss(b, ws, &o, 9, bt.Xt, bt.Yt, &lb);
        CHECK(la == lb, "%s: ln_net_loss with Dropout %.17g, without %.17g", dtype_name(dtype), la, lb);
        /* ln_net_backward with training = 0 is the inference forward's gradient:
         * the same loss and gradient as without the Dropout nodes */
        {
            double lt = NAN, lu = NAN;
            ptrdiff_t k, size = a.size;
            void *ga = malloc((size_t)size * el_size(dtype));
            const int ra = ln_net_backward(a.net, ws, &o, 9, bt.Xt, bt.Yt, &lt);
            int same = 1;
            memcpy(ga, ln_ws_grad(ws), (size_t)size * el_size(dtype));
            ln_net_backward(b, ws, &o, 9, bt.Xt, bt.Yt, &lu);
            for (k = 0; k < size; ++k) {
                const double x = get_el(dtype, ga, k), y = get_el(dtype, ln_ws_grad(ws), k);
                same &= fabs(x - y) <= (dtype ? 1e-14 : 1e-6) * (fabs(y) + 1e-3);
            }
            CHECK(ra == LN_OK && fabs(lt - lu) <= (dtype ? 1e-14 : 1e-6) * (1 + fabs(lu)) && same,
                  "%s: ln_net_backward with training = 0 applied Dropout: loss %.17g, inference loss %.17g, "
                  "gradient %s the inference gradient", dtype_name(dtype), lt, lu, same ? "equals" : "differs from");
            free(ga);
        }
        free(o1); free(o2);
        batch_free(&bt);
        ln_ws_free(ws);
        ln_net_free(b);
        tnet_free(&a);
    }
    printf("dropout: masks at 4 rates, reproducibility, inference identity: %s\n",
           n_fail == fails_before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Updates                                                             */
/* ------------------------------------------------------------------ */

static ln_optim adam(double lr)
{
    ln_optim o;
    memset(&o, 0, sizeof o);
    o.kind = optimizer_kind("adam");
    o.lr = lr;
    o.hp[0] = 0.9; o.hp[1] = 0.999; o.hp[2] = 1e-8;
    return o;
}

static ln_optim sgd(double lr, double momentum, int nesterov)
{
    ln_optim o;
    memset(&o, 0, sizeof o);
    o.kind = optimizer_kind("sgd");
    o.lr = lr;
    o.hp[0] = momentum;
    o.hp[1] = nesterov;
    return o;
}

/* A poisoned or overflowing update changes nothing; clipping follows
 * torch.nn.utils.clip_grad_norm_. */
static void test_update(void)
{
    const long fails_before = n_fail;
    int dtype, which;
    for (dtype = 0; dtype < 2; ++dtype)
        for (which = 0; which < 2; ++which) {
            ln_node_spec spec[3];
            tnet t;
            batch b;
            ln_ws *ws = ln_ws_create();
            const size_t es = el_size(dtype);
            ln_optim opt = which ? adam(0.01) : sgd(0.05, 0.9, 1), saved;
            void *state[LN_OPT_MAX_STATE] = { 0 }, *p0, *s0[2], *g;
            ln_batch_opts o;
            double loss;
            int k, step, rc, same;
            ptrdiff_t i;
            spec[0] = dense(7, 13, LN_ACT_tanh);
            spec[1] = dropout(13, 0.2);
            spec[2] = dense(13, 3, LN_ACT_identity);
            if (!tnet_init(&t, dtype, 3, spec)) continue;
            batch_init(&b, &t, 10, "mse");
            o = opts_for("mse", &b, 1, 0, 1, 5, 0);
            for (k = 0; k < 2; ++k) { state[k] = calloc((size_t)t.size, es); s0[k] = malloc((size_t)t.size * es); }
            for (step = 0; step < 3; ++step) {
                rc = ln_net_train_step(t.net, ws, &o, &opt, state, b.n, b.Xt, b.Yt, &loss);
                CHECK(rc == LN_OK, "train step %d: status %d", step, rc);
            }
            CHECK(opt.step == 3, "after 3 steps opt.step is %lld", opt.step);
            ln_net_backward(t.net, ws, &o, b.n, b.Xt, b.Yt, &loss);
            g = malloc((size_t)t.size * es);
            p0 = malloc((size_t)t.size * es);
            for (i = 0; i < 4; ++i) {
                static const char *what[] = { "a NaN gradient", "an infinite gradient", "a NaN in the last bias",
                                              "lr 1e38 (float) / 1e307 (double)" };
                memcpy(g, ln_ws_grad(ws), (size_t)t.size * es);
                memcpy(p0, t.params, (size_t)t.size * es);
                for (k = 0; k < 2; ++k) memcpy(s0[k], state[k], (size_t)t.size * es);
                saved = opt;
                if (i == 0) set_el(dtype, g, t.w_at[0] + 5, NAN);
                if (i == 1) set_el(dtype, g, t.w_at[2] + 1, -INFINITY);
                if (i == 2) set_el(dtype, g, t.b_at[2] + 2, NAN);
                if (i == 3) {
                    opt = sgd(dtype ? 1e307 : 1e38, 0, 0);
                    opt.step = saved.step;
                    set_el(dtype, g, t.w_at[0], 1e3);
                }
                rc = ln_net_update(t.net, &opt, state, g, NULL);
                same = memcmp(p0, t.params, (size_t)t.size * es) == 0 && opt.step == saved.step;
                for (k = 0; k < 2; ++k) same &= memcmp(s0[k], state[k], (size_t)t.size * es) == 0;
                CHECK(rc == LN_ERR_NONFINITE && same, "ln_net_update %s %s with %s: status %d (want %d), parameters, "
                      "state and step %s", dtype_name(dtype), which ? "adam" : "sgd", what[i], rc, LN_ERR_NONFINITE,
                      same ? "unchanged" : "CHANGED");
                opt = saved;
            }
            /* A step with a poisoned batch changes nothing either */
            {
                void *Xt = malloc((size_t)(b.n * t.n_in) * es);
                memcpy(Xt, b.Xt, (size_t)(b.n * t.n_in) * es);
                set_el(dtype, Xt, 3 * t.n_in + 2, NAN);
                memcpy(p0, t.params, (size_t)t.size * es);
                saved = opt;
                rc = ln_net_train_step(t.net, ws, &o, &opt, state, b.n, Xt, b.Yt, &loss);
                CHECK(rc == LN_ERR_NONFINITE && memcmp(p0, t.params, (size_t)t.size * es) == 0 && opt.step == saved.step,
                      "train step on a batch with NaN: status %d, parameters %s", rc,
                      memcmp(p0, t.params, (size_t)t.size * es) ? "CHANGED" : "unchanged");
                free(Xt);
            }
            free(g); free(p0);
            for (k = 0; k < 2; ++k) { free(state[k]); free(s0[k]); }
            batch_free(&b);
            ln_ws_free(ws);
            tnet_free(&t);
        }

    /* Clipping: p -= lr * g * min(1, c / (|g| + 1e-6)), |g| the global norm */
    for (dtype = 0; dtype < 2; ++dtype)
        for (which = 0; which < 4; ++which) {
            ln_node_spec spec[2];
            tnet t;
            const size_t es = el_size(dtype);
            ln_optim opt = sgd(0.1, 0, 0);
            void *state[LN_OPT_MAX_STATE] = { 0 }, *g;
            double *p0, norm = 0, got_norm = NAN, factor, gscale = which == 3 ? 1e-9 : 1;
            ptrdiff_t i;
            int rc, bad = 0;
            spec[0] = dense(6, 19, LN_ACT_relu);
            spec[1] = dense(19, 4, LN_ACT_identity);
            if (!tnet_init(&t, dtype, 2, spec)) continue;
            g = calloc((size_t)t.size, es);
            p0 = params_double(&t);
            for (i = 0; i < t.size; ++i) {
                if (in_tensor(&t, i)) set_el(dtype, g, i, gscale * urand());
                norm += get_el(dtype, g, i) * get_el(dtype, g, i);
            }
            norm = sqrt(norm);
            /* Scales down; does nothing above the norm; the 1e-6 counts for a tiny norm; no clipping */
            opt.clip_norm = which == 0 ? 0.5 * norm : which == 1 ? 2 * norm : which == 3 ? 1e-8 : 0;
            factor = opt.clip_norm > 0 ? fmin(1.0, opt.clip_norm / (norm + 1e-6)) : 1.0;
            rc = ln_net_update(t.net, &opt, state, g, &got_norm);
            CHECK(rc == LN_OK && fabs(got_norm - norm) <= 1e-13 * norm, "clip %s: status %d, norm %.17g, want %.17g",
                  dtype_name(dtype), rc, got_norm, norm);
            for (i = 0; i < t.size && !bad; ++i) {
                const double step = 0.1 * get_el(dtype, g, i) * factor, want = p0[i] - step;
                const double got = get_el(dtype, t.params, i);
                /* A few roundings of the type, relative to the terms */
                bad = !CHECK(fabs(got - want) <= 4 * (dtype ? 0x1p-53 : 0x1p-24) * (fabs(p0[i]) + fabs(step)),
                             "clip_norm %g (norm %g) %s: p[%td] = %.17g, want %.17g", opt.clip_norm, norm,
                             dtype_name(dtype), i, got, want);
            }
            free(g); free(p0);
            tnet_free(&t);
        }
    printf("update: all or nothing, clipping: %s\n", n_fail == fails_before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Epochs                                                              */
/* ------------------------------------------------------------------ */

/* Argmax rows of out matching those of Y. */
static ptrdiff_t argmax_hits(int dtype, ptrdiff_t n, ptrdiff_t m, const void *out, const double *Y)
{
    ptrdiff_t i, j, hits = 0;
    for (i = 0; i < n; ++i) {
        ptrdiff_t bo = 0, by = 0;
        for (j = 1; j < m; ++j) {
            if (get_el(dtype, out, i * m + j) > get_el(dtype, out, i * m + bo)) bo = j;
            if (Y[i * m + j] > Y[i * m + by]) by = j;
        }
        hits += bo == by;
    }
    return hits;
}

/* ln_net_fit_batches against the same steps one by one with
 * ln_net_train_step: bit-identical parameters, state and step, and the same
 * sums; in two calls (batches 0-1, then 2-4); then a run that meets a
 * poisoned batch stops there having changed nothing. */
static void check_fit(int dtype, int with_dropout, int weighted, int use_adam)
{
    enum { N = 23, BS = 5, NB = 5 };
    const size_t es = el_size(dtype);
    ln_node_spec spec[3];
    tnet a, b;
    batch data;
    ln_ws *wsa = ln_ws_create(), *wsb = ln_ws_create();
    ln_optim oa = use_adam ? adam(0.02) : sgd(0.1, 0.9, 0), ob = oa;
    void *sa[LN_OPT_MAX_STATE] = { 0 }, *sb[LN_OPT_MAX_STATE] = { 0 };
    int64_t perm[N];
    ln_fit_args fa;
    ln_batch_opts o;
    double loss_sum = 0, weight_sum = 0;
    ptrdiff_t hits = 0, i, k;
    void *xb = malloc((size_t)(BS * 6) * es), *yb = malloc((size_t)(BS * 4) * es), *wb = malloc(BS * es);
    void *out = malloc((size_t)(BS * 4) * es);
    double *yd = malloc((size_t)(BS * 4) * 8);
    int rc, batch_i, ok_params;
    spec[0] = dense(6, 10, LN_ACT_tanh);
    spec[1] = with_dropout ? dropout(10, 0.3) : dense(10, 10, LN_ACT_gelu);
    spec[2] = dense(10, 4, LN_ACT_identity);
    if (!tnet_init(&a, dtype, 3, spec) || !tnet_init(&b, dtype, 3, spec)) return;
    memcpy(b.params, a.params, (size_t)a.size * es);
    for (k = 0; k < 2; ++k) { sa[k] = calloc((size_t)a.size, es); sb[k] = calloc((size_t)a.size, es); }
    batch_init(&data, &a, N, "cross_entropy");
    for (i = 0; i < N; ++i) perm[i] = i;
    for (i = N - 1; i > 0; --i) { const ptrdiff_t j = irand((int)i + 1); int64_t s = perm[i]; perm[i] = perm[j]; perm[j] = s; }
    o = opts_for("cross_entropy", &data, 0, 0, 1, 777, 0);

    memset(&fa, 0, sizeof fa);
    fa.n_samples = N;
    fa.X = data.Xt; fa.Y = data.Yt; fa.w = weighted ? data.wt : NULL;
    fa.perm = perm;
    fa.batch_size = BS;
    fa.first_batch = 0;
    fa.n_batches = 2;
    rc = ln_net_fit_batches(a.net, wsa, &o, &oa, sa, &fa);
    CHECK(rc == LN_OK && fa.steps_done == 2, "fit_batches 0-1: status %d, %td steps", rc, fa.steps_done);
    {
        const double ls = fa.loss_sum, wsum = fa.weight_sum;
        const ptrdiff_t h = fa.hits, hu = fa.hit_units;
        fa.first_batch = 2;
        fa.n_batches = 10;   /* past the end: stops after the last batch */
        rc = ln_net_fit_batches(a.net, wsa, &o, &oa, sa, &fa);
        CHECK(rc == LN_OK && fa.steps_done == 3, "fit_batches 2-: status %d, %td steps", rc, fa.steps_done);
        fa.loss_sum += ls; fa.weight_sum += wsum; fa.hits += h; fa.hit_units += hu;
    }

    /* The same batches one by one */
    for (batch_i = 0; batch_i < NB; ++batch_i) {
        const ptrdiff_t start = batch_i * BS, rows = N - start < BS ? N - start : BS;
        double loss = NAN, weight = 0;
        ln_batch_opts ob_opts = o;
        for (i = 0; i < rows; ++i) {
            const ptrdiff_t src = (ptrdiff_t)perm[start + i];
            memcpy((char *)xb + (size_t)(i * 6) * es, (const char *)data.Xt + (size_t)(src * 6) * es, 6 * es);
            memcpy((char *)yb + (size_t)(i * 4) * es, (const char *)data.Yt + (size_t)(src * 4) * es, 4 * es);
            memcpy(yd + i * 4, data.Y + src * 4, 4 * 8);
            memcpy((char *)wb + (size_t)i * es, (const char *)data.wt + (size_t)src * es, es);
            weight += weighted ? data.w[src] : 1.0;
        }
        ob_opts.w = weighted ? wb : NULL;
        if (!with_dropout) {
            ln_net_predict(b.net, wsb, rows, xb, out, 0, NULL);
            hits += argmax_hits(dtype, rows, 4, out, yd);
        }
        rc = ln_net_train_step(b.net, wsb, &ob_opts, &ob, sb, rows, xb, yb, &loss);
        CHECK(rc == LN_OK, "train step %d: status %d", batch_i, rc);
        loss_sum += loss * weight;
        weight_sum += weight;
    }
    ok_params = memcmp(a.params, b.params, (size_t)a.size * es) == 0;
    for (k = 0; k < 2; ++k) ok_params &= memcmp(sa[k], sb[k], (size_t)a.size * es) == 0;
    CHECK(ok_params && oa.step == ob.step && oa.step == NB,
          "fit_batches %s dropout=%d weighted=%d %s: parameters and state %s the step-by-step ones, step %lld vs %lld",
          dtype_name(dtype), with_dropout, weighted, use_adam ? "adam" : "sgd", ok_params ? "equal" : "DIFFER from",
          oa.step, ob.step);
    CHECK(fabs(fa.loss_sum - loss_sum) <= 1e-14 * fabs(loss_sum) && fabs(fa.weight_sum - weight_sum) <= 1e-14 * weight_sum,
          "fit_batches sums: loss %.17g weight %.17g, step by step %.17g %.17g", fa.loss_sum, fa.weight_sum, loss_sum,
          weight_sum);
    if (!with_dropout)
        CHECK(fa.hits == hits && fa.hit_units == N, "fit_batches hits %td of %td, step by step %td of %d", fa.hits,
              fa.hit_units, hits, N);
    /* The gaps between tensors stay zero */
    {
        int gaps_zero = 1;
        for (i = 0; i < a.size; ++i) gaps_zero &= in_tensor(&a, i) || get_el(dtype, a.params, i) == 0;
        CHECK(gaps_zero, "the gaps between tensors changed after training");
    }

    /* Two fresh copies of one start: c meets a NaN in a row of batch 2 and
     * must stop there (LN_ERR_NONFINITE, two steps done) with what d has
     * after batches 0-1 */
    {
        tnet c, d;
        void *sc[LN_OPT_MAX_STATE] = { 0 }, *sd[LN_OPT_MAX_STATE] = { 0 };
        ln_optim oc = use_adam ? adam(0.02) : sgd(0.1, 0.9, 0), od = oc;
        ln_ws *wsc = ln_ws_create(), *wsd = ln_ws_create();
        void *Xbad = malloc((size_t)(N * 6) * es);
        ptrdiff_t steps = -1;
        memcpy(Xbad, data.Xt, (size_t)(N * 6) * es);
        set_el(dtype, Xbad, perm[2 * BS + 1] * 6 + 3, NAN);
        if (tnet_init(&c, dtype, 3, spec) && tnet_init(&d, dtype, 3, spec)) {
            memcpy(d.params, c.params, (size_t)c.size * es);
            for (k = 0; k < 2; ++k) { sc[k] = calloc((size_t)c.size, es); sd[k] = calloc((size_t)c.size, es); }
            fa.X = Xbad;
            fa.first_batch = 0;
            fa.n_batches = NB;
            rc = ln_net_fit_batches(c.net, wsc, &o, &oc, sc, &fa);
            steps = fa.steps_done;
            fa.X = data.Xt;
            fa.n_batches = 2;
            ln_net_fit_batches(d.net, wsd, &o, &od, sd, &fa);
            ok_params = memcmp(c.params, d.params, (size_t)c.size * es) == 0;
            for (k = 0; k < 2; ++k) ok_params &= memcmp(sc[k], sd[k], (size_t)c.size * es) == 0;
            CHECK(rc == LN_ERR_NONFINITE && steps == 2 && oc.step == 2 && ok_params,
                  "fit_batches meeting a NaN in batch 2: status %d, %td steps, step %lld, parameters %s", rc, steps,
                  oc.step, ok_params ? "as after 2 steps" : "CHANGED by the failed step");
            for (k = 0; k < 2; ++k) { free(sc[k]); free(sd[k]); }
            tnet_free(&c);
            tnet_free(&d);
        }
        ln_ws_free(wsc); ln_ws_free(wsd);
        free(Xbad);
    }
    tnet_free(&a);
    for (k = 0; k < 2; ++k) { free(sa[k]); free(sb[k]); }
    free(xb); free(yb); free(wb); free(out); free(yd);
    batch_free(&data);
    ln_ws_free(wsa); ln_ws_free(wsb);
    tnet_free(&b);
}

static void test_fit(void)
{
    const long fails_before = n_fail;
    int dtype, drop, weighted;
    for (dtype = 0; dtype < 2; ++dtype)
        for (drop = 0; drop < 2; ++drop)
            for (weighted = 0; weighted < 2; ++weighted) check_fit(dtype, drop, weighted, (drop + weighted) % 2);
    printf("fit_batches: equals step by step (2 types, with and without dropout and weights), stops at a bad batch: %s\n",
           n_fail == fails_before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    ln_net *net;
    int dtype;
    ptrdiff_t n, n_in, n_out;
    const void *X, *want;
    int reps;
    long mismatches;
} predictor;

static void *predict_worker(void *arg)
{
    predictor *p = (predictor *)arg;
    const size_t bytes = (size_t)(p->n * p->n_out) * el_size(p->dtype);
    void *out = malloc(bytes);
    ln_ws *ws = ln_ws_create();
    int r;
    for (r = 0; r < p->reps; ++r) {
        memset(out, 0xff, bytes);
        if (ln_net_predict(p->net, ws, p->n, p->X, out, r % 2, NULL) != LN_OK || memcmp(out, p->want, bytes) != 0)
            ++p->mismatches;
    }
    ln_ws_free(ws);
    free(out);
    return NULL;
}

/* 8 threads, one network, each its own batch size and workspace. */
static void test_concurrent_predict(void)
{
    enum { T = 8 };
    static const ptrdiff_t sizes[T] = { 1, 2, 3, 17, 64, 100, 257, 33 };
    const long fails_before = n_fail;
    int dtype, i;
    for (dtype = 0; dtype < 2; ++dtype) {
        ln_node_spec spec[4];
        tnet t;
        predictor pr[T];
        pthread_t th[T];
        void *X[T], *want[T];
        ln_ws *ws = ln_ws_create();
        spec[0] = dense(32, 64, LN_ACT_tanh);
        spec[1] = dropout(64, 0.1);
        spec[2] = dense(64, 48, LN_ACT_relu);
        spec[3] = dense(48, 10, LN_ACT_identity);
        if (!tnet_init(&t, dtype, 4, spec)) continue;
        for (i = 0; i < T; ++i) {
            ptrdiff_t k;
            X[i] = malloc((size_t)(sizes[i] * 32) * el_size(dtype));
            want[i] = malloc((size_t)(sizes[i] * 10) * el_size(dtype));
            for (k = 0; k < sizes[i] * 32; ++k) set_el(dtype, X[i], k, urand());
            ln_net_predict(t.net, ws, sizes[i], X[i], want[i], 0, NULL);
            pr[i].net = t.net; pr[i].dtype = dtype; pr[i].n = sizes[i]; pr[i].n_in = 32; pr[i].n_out = 10;
            pr[i].X = X[i]; pr[i].want = want[i]; pr[i].reps = REPS(40, 6); pr[i].mismatches = 0;
        }
        for (i = 0; i < T; ++i) pthread_create(&th[i], NULL, predict_worker, &pr[i]);
        for (i = 0; i < T; ++i) pthread_join(th[i], NULL);
        for (i = 0; i < T; ++i) {
            CHECK(pr[i].mismatches == 0, "%s thread %d (n=%td): %ld of %d predictions differ from the single-thread one",
                  dtype_name(dtype), i, sizes[i], pr[i].mismatches, pr[i].reps);
            free(X[i]); free(want[i]);
        }
        ln_ws_free(ws);
        tnet_free(&t);
    }
    printf("threads: 8 threads predicting on one network (batches 1 to 257), %d times each, bit for bit: %s\n",
           REPS(40, 6), n_fail == fails_before ? "ok" : "FAILED");
}

typedef struct {
    ln_net *net;
    int dtype;
    ptrdiff_t n, n_out;
    const void *X;
    pthread_mutex_t *lock;
    pthread_cond_t *progressed;
    long *progress;              /* predictions finished by all watchers */
    const int *done;
    void *results;               /* up to cap distinct predictions of n x n_out */
    int cap, count;
    long calls, failures, overflow;
} watcher;

static void *watch_worker(void *arg)
{
    watcher *w = (watcher *)arg;
    const size_t bytes = (size_t)(w->n * w->n_out) * el_size(w->dtype);
    ln_ws *ws = ln_ws_create();
    void *out = malloc(bytes);
    /* Until the trainer is done; a prediction is kept when it differs from
     * the last one kept, so a correct run keeps at most one per snapshot */
    for (;;) {
        int done;
        ++w->calls;
        if (ln_net_predict(w->net, ws, w->n, w->X, out, 0, NULL) != LN_OK) {
            ++w->failures;
        } else if (w->count == 0 || memcmp(out, (char *)w->results + (size_t)(w->count - 1) * bytes, bytes) != 0) {
            if (w->count == w->cap) ++w->overflow;
            else memcpy((char *)w->results + (size_t)w->count++ * bytes, out, bytes);
        }
        pthread_mutex_lock(w->lock);
        ++*w->progress;
        pthread_cond_broadcast(w->progressed);
        done = *w->done;
        pthread_mutex_unlock(w->lock);
        if (done) break;
    }
    free(out);
    ln_ws_free(ws);
    return NULL;
}

typedef struct {
    tnet *t;
    const batch *b;
    int steps;
    void *snapshots;             /* (steps + 1) parameter vectors; [0] is the start */
    pthread_mutex_t *lock;
    pthread_cond_t *progressed;
    long *progress;
    int watchers;
    int *done;
    int failures;
} trainer;

static void *train_worker(void *arg)
{
    trainer *tr = (trainer *)arg;
    const size_t bytes = (size_t)tr->t->size * el_size(tr->t->dtype);
    void *state[LN_OPT_MAX_STATE] = { 0 };
    ln_optim opt = sgd(0.05, 0.9, 0);
    ln_batch_opts o = opts_for("mse", tr->b, 0, 0, 1, 11, 0);
    ln_ws *ws = ln_ws_create();
    int s;
    double loss;
    state[0] = calloc((size_t)tr->t->size, el_size(tr->t->dtype));
    for (s = 1; s <= tr->steps; ++s) {
        if (ln_net_train_step(tr->t->net, ws, &o, &opt, state, tr->b->n, tr->b->Xt, tr->b->Yt, &loss) != LN_OK)
            ++tr->failures;
        /* Only this thread writes the parameters, so reading them here is safe */
        memcpy((char *)tr->snapshots + (size_t)s * bytes, tr->t->params, bytes);
        /* Let the watchers finish two predictions each before the next step, so
         * their predictions span every step (no timing is asserted) */
        pthread_mutex_lock(tr->lock);
        {
            const long target = *tr->progress + 2 * tr->watchers;
            while (*tr->progress < target) pthread_cond_wait(tr->progressed, tr->lock);
        }
        pthread_mutex_unlock(tr->lock);
    }
    pthread_mutex_lock(tr->lock);
    *tr->done = 1;
    pthread_mutex_unlock(tr->lock);
    free(state[0]);
    ln_ws_free(ws);
    return NULL;
}

/* One thread trains while three predict: each prediction equals the
 * prediction of some parameter snapshot taken between steps. */
static void test_train_while_predicting(void)
{
    enum { W = 3 };
    const int steps = REPS(200, 40), cap = 2 * steps + 2;
    int dtype, i;
    for (dtype = 0; dtype < 2; ++dtype) {
        ln_node_spec spec[3];
        tnet t;
        batch b;
        trainer tr;
        watcher wt[W];
        pthread_t th[W + 1];
        pthread_mutex_t lock;
        pthread_cond_t progressed;
        long progress = 0;
        int done = 0, unmatched = 0, total = 0, s, seen = 0;
        long calls = 0;
        const size_t pbytes_per = el_size(dtype);
        void *snap, *refs, *X;
        size_t pbytes, obytes;
        ln_ws *ws;
        char *hit;
        spec[0] = dense(12, 64, LN_ACT_silu);
        spec[1] = dropout(64, 0.2);
        spec[2] = dense(64, 5, LN_ACT_identity);
        if (!tnet_init(&t, dtype, 3, spec)) continue;
        batch_init(&b, &t, 64, "mse");
        pbytes = (size_t)t.size * pbytes_per;
        obytes = (size_t)(9 * 5) * pbytes_per;
        snap = malloc(pbytes * (size_t)(steps + 1));
        memcpy(snap, t.params, pbytes);
        X = malloc((size_t)(9 * 12) * pbytes_per);
        for (i = 0; i < 9 * 12; ++i) set_el(dtype, X, i, urand());
        pthread_mutex_init(&lock, NULL);
        pthread_cond_init(&progressed, NULL);
        tr.t = &t; tr.b = &b; tr.steps = steps; tr.snapshots = snap; tr.lock = &lock; tr.done = &done; tr.failures = 0;
        tr.progressed = &progressed; tr.progress = &progress; tr.watchers = W;
        for (i = 0; i < W; ++i) {
            wt[i].net = t.net; wt[i].dtype = dtype; wt[i].n = 9; wt[i].n_out = 5; wt[i].X = X;
            wt[i].lock = &lock; wt[i].done = &done; wt[i].cap = cap; wt[i].count = 0;
            wt[i].calls = wt[i].failures = wt[i].overflow = 0;
            wt[i].progressed = &progressed; wt[i].progress = &progress;
            wt[i].results = malloc(obytes * (size_t)cap);
        }
        pthread_create(&th[W], NULL, train_worker, &tr);
        for (i = 0; i < W; ++i) pthread_create(&th[i], NULL, watch_worker, &wt[i]);
        for (i = 0; i <= W; ++i) pthread_join(th[i], NULL);
        CHECK(tr.failures == 0, "%d train steps failed while others predicted", tr.failures);
        /* The prediction of every snapshot, alone */
        refs = malloc(obytes * (size_t)(steps + 1));
        hit = calloc((size_t)steps + 1, 1);
        ws = ln_ws_create();
        for (s = 0; s <= steps; ++s) {
            memcpy(t.params, (char *)snap + (size_t)s * pbytes, pbytes);
            ln_net_predict(t.net, ws, 9, X, (char *)refs + (size_t)s * obytes, 0, NULL);
        }
        for (i = 0; i < W; ++i) {
            int r;
            calls += wt[i].calls;
            CHECK(wt[i].failures == 0 && wt[i].overflow == 0, "%s predictor %d: %ld predictions failed, %ld more "
                  "distinct predictions than snapshots", dtype_name(dtype), i, wt[i].failures, wt[i].overflow);
            for (r = 0; r < wt[i].count; ++r) {
                const char *got = (const char *)wt[i].results + (size_t)r * obytes;
                int found = 0;
                for (s = 0; s <= steps && !found; ++s)
                    if (memcmp(got, (char *)refs + (size_t)s * obytes, obytes) == 0) { found = 1; hit[s] = 1; }
                unmatched += !found;
                ++total;
            }
            free(wt[i].results);
        }
        for (s = 0; s <= steps; ++s) seen += hit[s];
        CHECK(unmatched == 0, "%s: %d of %d predictions during training match no parameter snapshot",
              dtype_name(dtype), unmatched, total);
        printf("threads %s: %ld predictions during %d train steps, each a snapshot's (%d kept as they changed, "
               "%d of %d snapshots seen): %s\n", dtype_name(dtype), calls, steps, total, seen, steps + 1,
               unmatched == 0 ? "ok" : "FAILED");
        pthread_cond_destroy(&progressed);
        pthread_mutex_destroy(&lock);
        ln_ws_free(ws);
        free(refs); free(hit); free(snap); free(X);
        batch_free(&b);
        tnet_free(&t);
    }
}

/* ------------------------------------------------------------------ */
/* Sizes and allocations                                               */
/* ------------------------------------------------------------------ */

/* Runs fn in a child process, so that a crash or a sanitizer report is a
 * failure rather than the end of the tests. The child exits with 64 + fn's
 * status, apart from a sanitizer's own exit code. Returns fn's status, or
 * CHILD_DIED and a description in `how`. */
#define CHILD_DIED 1000
static int in_child(int (*fn)(const void *), const void *arg, char *how, size_t cap)
{
    pid_t pid;
    int status;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) _exit(64 + (fn(arg) & 0x3f));
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        snprintf(how, cap, "could not run a child process");
        return CHILD_DIED;
    }
    if (WIFSIGNALED(status)) {
        snprintf(how, cap, "crashed with signal %d", WTERMSIG(status));
        return CHILD_DIED;
    }
    if (WEXITSTATUS(status) < 64) {
        snprintf(how, cap, "exited with code %d (a sanitizer report above?)", WEXITSTATUS(status));
        return CHILD_DIED;
    }
    snprintf(how, cap, "status %d", WEXITSTATUS(status) - 64);
    return WEXITSTATUS(status) - 64;
}

typedef struct {
    int dtype, check_finite, call;
    ptrdiff_t n_in, n_out;
} huge_call;

/* A call with n = PTRDIFF_MAX / 8 rows on buffers of a few elements: it must
 * fail with LN_ERR_NOMEM before touching them. */
static int huge_rows(const void *arg)
{
    const huge_call *h = (const huge_call *)arg;
    const ptrdiff_t n = PTRDIFF_MAX / 8;
    ln_node_spec spec[1];
    ln_net *net;
    ln_ws *ws;
    double X[64], Y[64], out[64], loss, params[512];
    ptrdiff_t bad = -1;
    int status, i;
    void *state[LN_OPT_MAX_STATE] = { 0 };
    ln_optim opt = sgd(0.1, 0, 0);
    ln_batch_opts o;
    memset(&o, 0, sizeof o);
    o.kind = loss_kind("mse");
    for (i = 0; i < 64; ++i) X[i] = Y[i] = 1;
    memset(params, 0, sizeof params);
    spec[0] = dense(h->n_in, h->n_out, LN_ACT_tanh);
    net = ln_net_create(h->dtype, 1, spec, &status);
    if (net == NULL) return 100;
    ln_net_bind(net, params, params);
    ws = ln_ws_create();
    switch (h->call) {
    case 0: status = ln_net_predict(net, ws, n, X, out, h->check_finite, &bad); break;
    case 1: status = ln_net_loss(net, ws, &o, n, X, Y, &loss); break;
    case 2: status = ln_net_backward(net, ws, &o, n, X, Y, &loss); break;
    default: status = ln_net_train_step(net, ws, &o, &opt, state, n, X, Y, &loss); break;
    }
    ln_ws_free(ws);
    ln_net_free(net);
    return status;
}

static void test_sizes(void)
{
    const long fails_before = n_fail;
    const ptrdiff_t big = (ptrdiff_t)1 << 62;
    static const char *calls[] = { "ln_net_predict", "ln_net_loss", "ln_net_backward", "ln_net_train_step" };
    ln_node_spec spec[2];
    ln_net *net;
    int status, dtype, call, cf;
    size_t s;
    /* Layers whose sizes overflow */
    struct { ptrdiff_t a, b, c; const char *what; } shapes[] = {
        { big, big, 0, "2^62 x 2^62" },
        { (ptrdiff_t)1 << 33, (ptrdiff_t)1 << 31, 0, "2^33 x 2^31 (the product wraps to 0)" },
        { PTRDIFF_MAX / 2 + 1, 2, 0, "(PTRDIFF_MAX/2 + 1) x 2" },
        { 1, big, 1, "1 x 2^62 then 2^62 x 1 (the offsets overflow)" },
        { PTRDIFF_MAX, PTRDIFF_MAX, 0, "PTRDIFF_MAX x PTRDIFF_MAX" },
    };
    for (s = 0; s < sizeof shapes / sizeof *shapes; ++s)
        for (dtype = 0; dtype < 2; ++dtype) {
            int n_nodes = 1;
            spec[0] = dense(shapes[s].a, shapes[s].b, LN_ACT_relu);
            if (shapes[s].c) { spec[1] = dense(shapes[s].b, shapes[s].c, LN_ACT_identity); n_nodes = 2; }
            status = -1;
            net = ln_net_create(dtype, n_nodes, spec, &status);
            CHECK(net == NULL && status == LN_ERR_NOMEM, "ln_net_create %s with %s: %s, status %d (want %d)",
                  dtype_name(dtype), shapes[s].what, net ? "created" : "NULL", status, LN_ERR_NOMEM);
            ln_net_free(net);
        }
    /* Invalid specs */
    {
        ln_node_spec bad[2];
        const char *what[] = { "mismatched widths", "dropout n_out != n_in", "dropout rate 1", "unknown kind",
                               "activation past the table", "n_in 0", "0 nodes" };
        int i;
        for (i = 0; i < 7; ++i) {
            int n_nodes = 2;
            bad[0] = dense(3, 4, LN_ACT_relu);
            bad[1] = dense(4, 2, LN_ACT_identity);
            if (i == 0) bad[1].n_in = 5;
            if (i == 1) { bad[1] = dropout(4, 0.5); bad[1].n_out = 3; }
            if (i == 2) bad[1] = dropout(4, 1.0);
            if (i == 3) bad[1].kind = ln_layer_kind_count();
            if (i == 4) bad[0].act = LN_ACT_COUNT;
            if (i == 5) bad[0].n_in = 0;
            if (i == 6) n_nodes = 0;
            status = -1;
            net = ln_net_create(LN_FLOAT64, n_nodes, bad, &status);
            CHECK(net == NULL && status == LN_ERR_ARG, "ln_net_create with %s: %s, status %d (want %d)", what[i],
                  net ? "created" : "NULL", status, LN_ERR_ARG);
            ln_net_free(net);
        }
    }
    /* n = PTRDIFF_MAX / 8 rows: n_out 1 (the buffer's bytes fit, the allocation fails) and
     * n_out 3 (the bytes overflow); n_in 1 and 16 for the input scan. Under ASan
     * (allocator_may_return_null=1) each refused allocation prints a warning. */
    for (dtype = 0; dtype < 2; ++dtype)
        for (call = 0; call < 4; ++call)
            for (cf = 0; cf < (call == 0 ? 2 : 1); ++cf) {
                huge_call h[3];
                int j;
                h[0].n_in = 1; h[0].n_out = 1;
                h[1].n_in = 2; h[1].n_out = 3;
                h[2].n_in = 16; h[2].n_out = 1;
                for (j = 0; j < 3; ++j) {
                    char how[96];
                    int rc;
                    h[j].dtype = dtype; h[j].check_finite = cf; h[j].call = call;
                    rc = in_child(huge_rows, &h[j], how, sizeof how);
                    CHECK(rc == LN_ERR_NOMEM, "%s %s n=PTRDIFF_MAX/8 n_in=%td n_out=%td check_finite=%d: %s (want "
                          "status %d)", calls[call], dtype_name(dtype), h[j].n_in, h[j].n_out, cf, how, LN_ERR_NOMEM);
                }
            }
    /* An inf or nan in X is reported with its flat index */
    {
        ln_node_spec sp[1];
        tnet t;
        double X[12], out[8];
        ptrdiff_t bad = -1;
        ln_ws *ws = ln_ws_create();
        int i;
        sp[0] = dense(3, 2, LN_ACT_identity);
        if (tnet_init(&t, LN_FLOAT64, 1, sp)) {
            for (i = 0; i < 12; ++i) X[i] = urand();
            X[7] = -INFINITY;
            status = ln_net_predict(t.net, ws, 4, X, out, 1, &bad);
            CHECK(status == LN_ERR_INPUT && bad == 7, "predict with -inf at X[7]: status %d, index %td", status, bad);
            tnet_free(&t);
        }
        ln_ws_free(ws);
    }
    printf("sizes: overflowing layers and batches refused, invalid specs refused: %s\n",
           n_fail == fails_before ? "ok" : "FAILED");
}

/* The second call at a batch size allocates nothing. */
static void test_steady_state(void)
{
    const long fails_before = n_fail;
    int dtype;
    for (dtype = 0; dtype < 2; ++dtype) {
        ln_node_spec spec[3];
        tnet t;
        batch b;
        ln_ws *ws = ln_ws_create();
        void *state[LN_OPT_MAX_STATE] = { 0 }, *out;
        ln_optim opt = adam(0.01);
        ln_batch_opts o;
        ln_fit_args fa;
        int64_t perm[40];
        long long before;
        double loss;
        int i;
        spec[0] = dense(8, 30, LN_ACT_gelu);
        spec[1] = dropout(30, 0.3);
        spec[2] = dense(30, 3, LN_ACT_identity);
        if (!tnet_init(&t, dtype, 3, spec)) continue;
        batch_init(&b, &t, 40, "cross_entropy");
        out = malloc((size_t)(40 * 3) * el_size(dtype));
        for (i = 0; i < 2; ++i) state[i] = calloc((size_t)t.size, el_size(dtype));
        o = opts_for("cross_entropy", &b, 1, 0, 1, 3, 0);

        ln_net_predict(t.net, ws, 17, b.Xt, out, 1, NULL);
        before = ln_alloc_count();
        ln_net_predict(t.net, ws, 17, b.Xt, out, 1, NULL);
        ln_net_predict(t.net, ws, 5, b.Xt, out, 0, NULL);
        CHECK(ln_alloc_count() == before, "%s: a second predict at 17 rows (then 5) allocated %lld times",
              dtype_name(dtype), ln_alloc_count() - before);

        ln_net_train_step(t.net, ws, &o, &opt, state, 17, b.Xt, b.Yt, &loss);
        before = ln_alloc_count();
        ln_net_train_step(t.net, ws, &o, &opt, state, 17, b.Xt, b.Yt, &loss);
        ln_net_backward(t.net, ws, &o, 9, b.Xt, b.Yt, &loss);
        ln_net_loss(t.net, ws, &o, 17, b.Xt, b.Yt, &loss);
        ln_net_predict(t.net, ws, 17, b.Xt, out, 0, NULL);
        CHECK(ln_alloc_count() == before, "%s: a second train step at 17 rows (then backward, loss, predict) allocated "
              "%lld times", dtype_name(dtype), ln_alloc_count() - before);

        memset(&fa, 0, sizeof fa);
        for (i = 0; i < 40; ++i) perm[i] = 39 - i;
        fa.n_samples = 40; fa.X = b.Xt; fa.Y = b.Yt; fa.w = b.wt; fa.perm = perm;
        fa.batch_size = 16; fa.first_batch = 0; fa.n_batches = 3;
        ln_net_fit_batches(t.net, ws, &o, &opt, state, &fa);
        before = ln_alloc_count();
        ln_net_fit_batches(t.net, ws, &o, &opt, state, &fa);
        CHECK(ln_alloc_count() == before && fa.steps_done == 3, "%s: a second epoch of fit_batches allocated %lld times",
              dtype_name(dtype), ln_alloc_count() - before);
        for (i = 0; i < 2; ++i) free(state[i]);
        free(out);
        batch_free(&b);
        ln_ws_free(ws);
        tnet_free(&t);
    }
    printf("steady state: repeated predict, train step and epoch allocate nothing: %s\n",
           n_fail == fails_before ? "ok" : "FAILED");
}

int main(void)
{
    ln_init();
    ln_pool_set_backoff(0);   /* threaded cases stay threaded on a loaded machine */
    printf("threads enabled %d, threads %d, isa %s\n", ln_threads_enabled(), ln_get_num_threads(), ln_get_isa());
    test_sizes();
    test_forward_and_gradients();
    test_dropout();
    test_update();
    test_fit();
    test_steady_state();
    test_concurrent_predict();
    test_train_while_predicting();
    return report("test_net");
}
