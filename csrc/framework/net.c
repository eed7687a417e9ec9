/* net.c: networks of layer nodes, their workspaces, and the drivers
 * (predict, loss, backward, update, train step, the epoch loop).
 *
 * A network is a list of nodes (layers/layer.h) plus the layout of its flat
 * parameter and constant vectors, which the caller owns and binds, and a
 * reader/writer lock: forward passes read the parameters under the shared
 * lock, updates write them under the exclusive one. Everything a call
 * writes lives in a workspace (ln_ws), one per concurrent call, so calls on
 * one network from many threads never share a buffer. Workspaces grow only
 * when a larger batch arrives: steady-state steps allocate nothing.
 *
 * The typed drivers are in net_tmpl.h; this file owns what both types share.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layernet.h"
#include "layers/layer.h"
#include "tables/activations.h"
#include "tables/losses.h"
#include "tables/optimizers.h"
#include "kernels/kernels.h"
#include "framework/alloc.h"
#include "framework/elementwise.h"
#include "framework/rwlock.h"
#include "framework/pool.h"

/* Parameters from which the update's element-wise passes are split across
 * threads: below it handing out items costs more than the memory-bound
 * pass they would share. */
#define LN_ELEMENTWISE_MT_PARAMS 65536
/* Elements per tensor alignment (64 bytes of float; 128 of double). */
#define LN_TENSOR_ALIGN 16

struct ln_net {
    int dtype;
    size_t elem;                 /* bytes per element */
    int n_nodes;
    ln_node *nodes;
    ptrdiff_t n_in, n_out, max_width;
    ptrdiff_t param_size, const_size;
    int n_tensors, n_consts;
    int *need_dx;                /* per node: some earlier node has parameters */
    ln_rwlock lock;
};

/* What a workspace holds. */
enum { LN_WS_FORWARD = 1, LN_WS_TRAIN = 2, LN_WS_BATCH = 4 };

struct ln_ws {
    const ln_net *net;           /* the network its layout is for */
    ptrdiff_t rows;              /* batch rows the buffers hold */
    int parts;                   /* LN_WS_* laid out */
    void *block;                 /* every buffer below lives in this one allocation */
    void **out;                  /* per node: rows x n_out, its output */
    void **z;                    /* per node: rows x n_out, its kept Z (keeps_z), else NULL */
    void *dz[2];                 /* rows x max_width each, used in turn by the backward */
    void *grad;                  /* param_size: the flat gradient */
    void *xb, *yb, *wb;          /* fit's gathered batch: X, Y, sample weights */
};

/* ------------------------------------------------------------------ */
/* Networks                                                            */
/* ------------------------------------------------------------------ */

static ptrdiff_t ln_round_up(ptrdiff_t n)
{
    return (n + LN_TENSOR_ALIGN - 1) / LN_TENSOR_ALIGN * LN_TENSOR_ALIGN;
}

void ln_net_free(ln_net *net)
{
    if (net == NULL) return;
    ln_rwlock_destroy(&net->lock);
    ln_free(net->nodes);
    ln_free(net->need_dx);
    ln_free(net);
}

ln_net *ln_net_create(int dtype, int n_nodes, const ln_node_spec *specs, int *status)
{
    ln_net *net;
    ptrdiff_t poff = 0, coff = 0;
    int i, k, has_params = 0;
    *status = LN_ERR_ARG;
    if (n_nodes < 1 || (dtype != LN_FLOAT32 && dtype != LN_FLOAT64)) return NULL;
    *status = LN_ERR_NOMEM;
    net = (ln_net *)ln_calloc(1, sizeof *net);
    if (net == NULL) return NULL;
    net->nodes = (ln_node *)ln_calloc((size_t)n_nodes, sizeof *net->nodes);
    net->need_dx = (int *)ln_calloc((size_t)n_nodes, sizeof *net->need_dx);
    if (!net->nodes || !net->need_dx || ln_rwlock_init(&net->lock) != 0) {
        ln_free(net->nodes);
        ln_free(net->need_dx);
        ln_free(net);
        return NULL;
    }
    net->dtype = dtype;
    net->elem = dtype == LN_FLOAT32 ? sizeof(float) : sizeof(double);
    net->n_nodes = n_nodes;
    for (i = 0; i < n_nodes; i++) {
        ln_node *node = &net->nodes[i];
        const ln_layer_kind *kind = ln_layer_kind_at(specs[i].kind);
        int s;
        if (kind == NULL || (i > 0 && specs[i].n_in != net->nodes[i - 1].n_out)) {
            *status = LN_ERR_ARG;
            ln_net_free(net);
            return NULL;
        }
        node->kind = kind;
        node->index = i;
        s = kind->setup(node, &specs[i]);
        if (s != LN_OK) {
            *status = s;
            ln_net_free(net);
            return NULL;
        }
        /* Lay the node's tensors out in the flat vectors, each on a boundary */
        for (k = 0; k < node->n_tensors; k++) {
            node->tensor_offset[k] = poff;
            if (node->tensor_size[k] > PTRDIFF_MAX - LN_TENSOR_ALIGN - poff) goto too_big;
            poff += ln_round_up(node->tensor_size[k]);
        }
        for (k = 0; k < node->n_consts; k++) {
            node->const_offset[k] = coff;
            if (node->const_size[k] > PTRDIFF_MAX - LN_TENSOR_ALIGN - coff) goto too_big;
            coff += ln_round_up(node->const_size[k]);
        }
        net->need_dx[i] = has_params;
        has_params |= node->n_tensors > 0;
        net->n_tensors += node->n_tensors;
        net->n_consts += node->n_consts;
        if (node->n_out > net->max_width) net->max_width = node->n_out;
        if (node->n_in > net->max_width) net->max_width = node->n_in;
    }
    net->n_in = net->nodes[0].n_in;
    net->n_out = net->nodes[n_nodes - 1].n_out;
    net->param_size = poff;
    net->const_size = coff;
    *status = LN_OK;
    return net;
too_big:
    *status = LN_ERR_NOMEM;
    ln_net_free(net);
    return NULL;
}

ptrdiff_t ln_net_param_size(const ln_net *net) { return net->param_size; }
ptrdiff_t ln_net_const_size(const ln_net *net) { return net->const_size; }
int ln_net_tensor_count(const ln_net *net) { return net->n_tensors; }
int ln_net_const_count(const ln_net *net) { return net->n_consts; }

/* The i-th tensor (constants when `consts`) in network order. */
static void ln_net_nth(const ln_net *net, int consts, int i, int *node, ptrdiff_t *offset,
                       ptrdiff_t *size)
{
    int j;
    for (j = 0; j < net->n_nodes; j++) {
        const ln_node *nd = &net->nodes[j];
        const int count = consts ? nd->n_consts : nd->n_tensors;
        if (i < count) {
            *node = j;
            *offset = consts ? nd->const_offset[i] : nd->tensor_offset[i];
            *size = consts ? nd->const_size[i] : nd->tensor_size[i];
            return;
        }
        i -= count;
    }
    *node = -1;
    *offset = *size = 0;
}

void ln_net_tensor(const ln_net *net, int i, int *node, ptrdiff_t *offset, ptrdiff_t *size)
{
    ln_net_nth(net, 0, i, node, offset, size);
}

void ln_net_const(const ln_net *net, int i, int *node, ptrdiff_t *offset, ptrdiff_t *size)
{
    ln_net_nth(net, 1, i, node, offset, size);
}

void ln_net_bind(ln_net *net, void *params, const void *consts)
{
    int i, k;
    for (i = 0; i < net->n_nodes; i++) {
        ln_node *node = &net->nodes[i];
        for (k = 0; k < node->n_tensors; k++)
            node->param[k] = (char *)params + (size_t)node->tensor_offset[k] * net->elem;
        for (k = 0; k < node->n_consts; k++)
            node->cnst[k] = (const char *)consts + (size_t)node->const_offset[k] * net->elem;
    }
}

static const ln_layer_ops *ln_ops(const ln_net *net, const ln_node *node)
{
    return net->dtype == LN_FLOAT32 ? &node->kind->f32 : &node->kind->f64;
}

/* ------------------------------------------------------------------ */
/* Workspaces                                                          */
/* ------------------------------------------------------------------ */

ln_ws *ln_ws_create(void)
{
    return (ln_ws *)ln_calloc(1, sizeof(ln_ws));
}

void ln_ws_free(ln_ws *ws)
{
    if (ws == NULL) return;
    ln_aligned_free(ws->block);
    ln_free(ws->out);
    ln_free(ws->z);
    ln_free(ws);
}

void *ln_ws_grad(ln_ws *ws) { return ws->grad; }

/* Adds a buffer of `count` elements to a layout at *offset (64-byte
 * aligned); -1 on overflow. */
static int ln_layout(size_t *offset, ptrdiff_t rows, ptrdiff_t cols, size_t elem, size_t *at)
{
    size_t bytes, end;
    if (ln_size_bytes(rows, cols, elem, &bytes) != 0) return -1;
    *at = *offset;
    if (ln_size_add(*offset, bytes, &end) != 0 || ln_size_add(end, 63, &end) != 0) return -1;
    *offset = end & ~(size_t)63;
    return 0;
}

/* Makes ws hold `parts` for batches of `rows` rows of net. Allocates only
 * when it holds less (growing the rows geometrically). */
static int ln_ws_reserve(ln_ws *ws, const ln_net *net, ptrdiff_t rows, int parts)
{
    const int L = net->n_nodes;
    size_t offset = 0;
    size_t *at_nodes;
    ptrdiff_t want;
    int i, all;
    char *block;
    if (ws->net == net && rows <= ws->rows && (parts & ~ws->parts) == 0) return LN_OK;
    if (ws->net != net) {
        ln_aligned_free(ws->block);
        ln_free(ws->out);
        ln_free(ws->z);
        memset(ws, 0, sizeof *ws);
        ws->out = (void **)ln_calloc((size_t)L, sizeof(void *));
        ws->z = (void **)ln_calloc((size_t)L, sizeof(void *));
        if (!ws->out || !ws->z) {
            ln_free(ws->out);
            ln_free(ws->z);
            ws->out = ws->z = NULL;
            return LN_ERR_NOMEM;
        }
        ws->net = net;
    }
    all = ws->parts | parts | LN_WS_FORWARD;
    want = rows;
    if (rows > ws->rows && ws->rows > 0 && rows < 2 * ws->rows && ws->rows <= PTRDIFF_MAX / 2)
        want = 2 * ws->rows;   /* a slowly rising batch size does not reallocate each call */
    if (want < ws->rows) want = ws->rows;

    /* Two passes over the same layout: measure, then point into the block */
    at_nodes = (size_t *)ln_calloc((size_t)(2 * L + 6), sizeof(size_t));
    if (!at_nodes) return LN_ERR_NOMEM;
    for (i = 0; i < L; i++)
        if (ln_layout(&offset, want, net->nodes[i].n_out, net->elem, &at_nodes[i]) != 0) goto too_big;
    if (all & LN_WS_TRAIN) {
        for (i = 0; i < L; i++)
            if (ln_layout(&offset, net->nodes[i].keeps_z ? want : 0, net->nodes[i].n_out, net->elem,
                          &at_nodes[L + i]) != 0) goto too_big;
        if (ln_layout(&offset, want, net->max_width, net->elem, &at_nodes[2 * L]) != 0) goto too_big;
        if (ln_layout(&offset, want, net->max_width, net->elem, &at_nodes[2 * L + 1]) != 0) goto too_big;
        if (ln_layout(&offset, 1, net->param_size, net->elem, &at_nodes[2 * L + 2]) != 0) goto too_big;
    }
    if (all & LN_WS_BATCH) {
        if (ln_layout(&offset, want, net->n_in, net->elem, &at_nodes[2 * L + 3]) != 0) goto too_big;
        if (ln_layout(&offset, want, net->n_out, net->elem, &at_nodes[2 * L + 4]) != 0) goto too_big;
        if (ln_layout(&offset, want, 1, net->elem, &at_nodes[2 * L + 5]) != 0) goto too_big;
    }
    block = (char *)ln_aligned_alloc(offset);
    if (!block) {
        ln_free(at_nodes);
        return LN_ERR_NOMEM;
    }
    ln_aligned_free(ws->block);
    ws->block = block;
    ws->rows = want;
    ws->parts = all;
    for (i = 0; i < L; i++) {
        ws->out[i] = block + at_nodes[i];
        ws->z[i] = (all & LN_WS_TRAIN) && net->nodes[i].keeps_z ? block + at_nodes[L + i] : NULL;
    }
    ws->dz[0] = all & LN_WS_TRAIN ? block + at_nodes[2 * L] : NULL;
    ws->dz[1] = all & LN_WS_TRAIN ? block + at_nodes[2 * L + 1] : NULL;
    ws->grad = all & LN_WS_TRAIN ? block + at_nodes[2 * L + 2] : NULL;
    ws->xb = all & LN_WS_BATCH ? block + at_nodes[2 * L + 3] : NULL;
    ws->yb = all & LN_WS_BATCH ? block + at_nodes[2 * L + 4] : NULL;
    ws->wb = all & LN_WS_BATCH ? block + at_nodes[2 * L + 5] : NULL;
    ln_free(at_nodes);
    return LN_OK;
too_big:
    ln_free(at_nodes);
    return LN_ERR_NOMEM;
}

/* Threads for the update's element-wise passes over the parameters. */
static int ln_elementwise_threads(const ln_net *net)
{
    return net->param_size >= LN_ELEMENTWISE_MT_PARAMS ? ln_get_num_threads() : 1;
}

/* The loss's divisor for a batch: its total weight, or its row count, or 1
 * for a sum; data-parallel callers pass their global one. */
static double ln_loss_scale(const ln_batch_opts *o, double batch_weight)
{
    if (ln_loss_reduction(o->kind) == LN_REDUCE_SUM) return 1.0;
    return 1.0 / (o->denom > 0 ? o->denom : batch_weight);
}

#define LN_TEMPLATE "framework/net_tmpl.h"
#include "framework/typed.h"

/* ------------------------------------------------------------------ */
/* Public entry points: dispatch on the network's type                 */
/* ------------------------------------------------------------------ */

#define LN_NET_DISPATCH(net, call_f32, call_f64) \
    ((net)->dtype == LN_FLOAT32 ? (call_f32) : (call_f64))

int ln_net_predict(ln_net *net, ln_ws *ws, ptrdiff_t n, const void *X, void *out,
                   int check_finite, ptrdiff_t *bad)
{
    /* The workspace first: it checks that n rows fit, before X is read */
    int status = ln_ws_reserve(ws, net, n, LN_WS_FORWARD);
    if (status != LN_OK) return status;
    if (check_finite) {
        const ptrdiff_t i = LN_NET_DISPATCH(net, ln_first_nonfinite_f32(n * net->n_in, (const float *)X),
                                            ln_first_nonfinite_f64(n * net->n_in, (const double *)X));
        if (i >= 0) {
            *bad = i;
            return LN_ERR_INPUT;
        }
    }
    ln_rwlock_read(&net->lock);
    status = LN_NET_DISPATCH(net, net_predict_f32(net, ws, n, X, out), net_predict_f64(net, ws, n, X, out));
    ln_rwlock_read_done(&net->lock);
    return status;
}

int ln_net_loss(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ptrdiff_t n,
                const void *X, const void *Y, double *loss)
{
    int status = ln_ws_reserve(ws, net, n, LN_WS_FORWARD);
    if (status != LN_OK) return status;
    ln_rwlock_read(&net->lock);
    status = LN_NET_DISPATCH(net, net_loss_f32(net, ws, opts, n, X, Y, loss),
                             net_loss_f64(net, ws, opts, n, X, Y, loss));
    ln_rwlock_read_done(&net->lock);
    return status;
}

/* Forward and backward under the read lock; check_grad: also refuse a
 * non-finite gradient (a step's update checks its results instead). */
static int ln_net_backward_checked(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ptrdiff_t n,
                                   const void *X, const void *Y, double *loss, int check_grad)
{
    int status = ln_ws_reserve(ws, net, n, LN_WS_FORWARD | LN_WS_TRAIN);
    if (status != LN_OK) return status;
    ln_rwlock_read(&net->lock);
    status = LN_NET_DISPATCH(net, net_backward_f32(net, ws, opts, n, X, Y, loss),
                             net_backward_f64(net, ws, opts, n, X, Y, loss));
    ln_rwlock_read_done(&net->lock);
    if (status == LN_OK && check_grad) {
        const ptrdiff_t bad = LN_NET_DISPATCH(net, ln_first_nonfinite_f32(net->param_size, (const float *)ws->grad),
                                              ln_first_nonfinite_f64(net->param_size, (const double *)ws->grad));
        if (bad >= 0) status = LN_ERR_NONFINITE;
    }
    return status;
}

int ln_net_backward(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ptrdiff_t n,
                    const void *X, const void *Y, double *loss)
{
    return ln_net_backward_checked(net, ws, opts, n, X, Y, loss, 1);
}

/* The state tensors the optimizer needs with its hyper-parameters must be bound. */
static int ln_state_ready(const ln_optim *opt, void *const *state)
{
    int k, n = ln_optimizer_states_needed(opt);
    if (n < 0) return 0;
    for (k = 0; k < n; k++)
        if (state[k] == NULL) return 0;
    return 1;
}

int ln_net_update(ln_net *net, ln_optim *opt, void *const *state, const void *grad, double *grad_norm)
{
    if (!ln_state_ready(opt, state)) return LN_ERR_ARG;
    return LN_NET_DISPATCH(net, net_update_f32(net, opt, state, grad, grad_norm),
                           net_update_f64(net, opt, state, grad, grad_norm));
}

int ln_net_train_step(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ln_optim *opt,
                      void *const *state, ptrdiff_t n, const void *X, const void *Y, double *loss)
{
    ln_batch_opts o = *opts;
    int status;
    if (!ln_state_ready(opt, state)) return LN_ERR_ARG;
    o.training = 1;
    o.step = opt->step + 1;
    status = ln_net_backward_checked(net, ws, &o, n, X, Y, loss, 0);
    if (status != LN_OK) return status;
    return ln_net_update(net, opt, state, ws->grad, NULL);
}

int ln_net_fit_batches(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ln_optim *opt,
                       void *const *state, ln_fit_args *args)
{
    ptrdiff_t rows;
    int status;
    if (!ln_state_ready(opt, state) || args->batch_size < 1 || args->n_samples < 1) return LN_ERR_ARG;
    /* The batch never holds more rows than the data has */
    rows = args->batch_size < args->n_samples ? args->batch_size : args->n_samples;
    status = ln_ws_reserve(ws, net, rows, LN_WS_FORWARD | LN_WS_TRAIN | LN_WS_BATCH);
    if (status != LN_OK) return status;
    return LN_NET_DISPATCH(net, net_fit_batches_f32(net, ws, opts, opt, state, args),
                           net_fit_batches_f64(net, ws, opts, opt, state, args));
}

/* ------------------------------------------------------------------ */
/* Element-wise hooks                                                  */
/* ------------------------------------------------------------------ */

int ln_activation_apply(int dtype, int act, int mode, ptrdiff_t size, const void *in, void *out)
{
    const ln_isa *t = ln_isa_active();
    if (act < 0 || act >= LN_ACT_COUNT || size < 0) return LN_ERR_ARG;
    if (size == 0) return LN_OK;
    if (dtype == LN_FLOAT32) {
        ln_aux_f32 aux;
        memset(&aux, 0, sizeof aux);
        aux.act = act;
        memcpy(out, in, (size_t)size * sizeof(float));
        aux.epi = mode ? LN_EPI_DACT : LN_EPI_BIAS_ACT;
        if (mode) {
            /* out = 1 * act'(in): start from ones */
            ptrdiff_t i;
            for (i = 0; i < size; i++) ((float *)out)[i] = 1.0f;
            aux.sv = (const float *)in;
            aux.ldsv = size;
        }
        t->f32.epi(1, size, (float *)out, size, &aux);
    } else {
        ln_aux_f64 aux;
        memset(&aux, 0, sizeof aux);
        aux.act = act;
        memcpy(out, in, (size_t)size * sizeof(double));
        aux.epi = mode ? LN_EPI_DACT : LN_EPI_BIAS_ACT;
        if (mode) {
            ptrdiff_t i;
            for (i = 0; i < size; i++) ((double *)out)[i] = 1.0;
            aux.sv = (const double *)in;
            aux.ldsv = size;
        }
        t->f64.epi(1, size, (double *)out, size, &aux);
    }
    return LN_OK;
}

int ln_loss(int dtype, int kind, const double *param, ptrdiff_t n, ptrdiff_t m,
            const void *H, const void *Y, const void *w, double scale, void *grad, double *loss)
{
    if (n <= 0 || m <= 0 || kind < 0 || kind >= LN_LOSS_COUNT) return LN_ERR_ARG;
    if (dtype == LN_FLOAT32) {
        ln_loss_args_f32 a = { n, m, (const float *)H, (const float *)Y, (const float *)w, scale,
                               param, (float *)grad };
        *loss = ln_loss_eval_f32(kind, &a);
    } else {
        ln_loss_args_f64 a = { n, m, (const double *)H, (const double *)Y, (const double *)w, scale,
                               param, (double *)grad };
        *loss = ln_loss_eval_f64(kind, &a);
    }
    return LN_OK;
}

int ln_optimizer_update(int dtype, const ln_optim *opt, long long t, ptrdiff_t size,
                        void *p, const void *g, void *const *s)
{
    if (t < 1 || size < 0 || opt->kind < 0 || opt->kind >= LN_OPT_COUNT || !ln_state_ready(opt, s))
        return LN_ERR_ARG;
    if (dtype == LN_FLOAT32) {
        float *st[LN_OPT_MAX_STATE] = { 0 };
        int k;
        for (k = 0; k < LN_OPT_MAX_STATE; k++) st[k] = (float *)s[k];
        if (!ln_isa_active()->f32.opt_update(opt, t, 1.0f, size, (float *)p, (const float *)g, st, 0))
            return LN_ERR_NONFINITE;
        ln_isa_active()->f32.opt_update(opt, t, 1.0f, size, (float *)p, (const float *)g, st, 1);
    } else {
        double *st[LN_OPT_MAX_STATE] = { 0 };
        int k;
        for (k = 0; k < LN_OPT_MAX_STATE; k++) st[k] = (double *)s[k];
        if (!ln_isa_active()->f64.opt_update(opt, t, 1.0, size, (double *)p, (const double *)g, st, 0))
            return LN_ERR_NONFINITE;
        ln_isa_active()->f64.opt_update(opt, t, 1.0, size, (double *)p, (const double *)g, st, 1);
    }
    return LN_OK;
}
