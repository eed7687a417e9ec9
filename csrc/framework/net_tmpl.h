/* net_tmpl.h: the network drivers for one element type (included by net.c).
 *
 * Node i reads x_i (the previous node's output, or X) and writes its output
 * to the workspace's out[i] (or to the caller's buffer for the last node of
 * a predict). The backward walks the nodes last to first with dL/dZ in one
 * of two buffers used in turn: the loss writes dL/dH of the output, the last
 * node's own derivative turns it into dL/dZ, and each node's backward writes
 * dL/dx already multiplied by the derivative of the node before it. */

/* Forward through every node; *result gets the network's output. A node
 * that is the identity outside training is skipped when nothing will read
 * its output buffer (skip: a predict or a loss, not a backward). */
static int FN(net_forward)(ln_net *net, ln_ws *ws, ptrdiff_t n, const T *X, T *out,
                           int training, int skip, uint64_t seed, long long step, const T **result)
{
    const T *in = X;
    int i, status;
    for (i = 0; i < net->n_nodes; i++) {
        const ln_node *node = &net->nodes[i];
        const int last = i == net->n_nodes - 1;
        T *dst = last && out ? out : (T *)ws->out[i];
        ln_fwd a;
        if (skip && !training && node->kind->identity_in_inference) {
            /* Skipped outside training; the last node still fills the caller's buffer */
            if (last && out) memcpy(out, in, (size_t)(n * node->n_out) * sizeof(T));
            continue;
        }
        a.n = n;
        a.x = in;
        a.y = dst;
        a.z = ws->z && node->keeps_z ? ws->z[i] : NULL;
        a.training = training;
        a.seed = seed;
        a.step = step;
        status = ln_ops(net, node)->forward(node, &a);
        if (status != LN_OK) return status;
        in = dst;
    }
    *result = out ? out : in;
    return LN_OK;
}

static int FN(net_predict)(ln_net *net, ln_ws *ws, ptrdiff_t n, const void *X, void *out)
{
    const T *result;
    return FN(net_forward)(net, ws, n, (const T *)X, (T *)out, 0, 1, 0, 0, &result);
}

/* Sum of the batch's sample weights, or its row count. */
static double FN(batch_weight)(ptrdiff_t n, const T *w)
{
    double total = 0.0;
    ptrdiff_t i;
    if (w == NULL) return (double)n;
    for (i = 0; i < n; i++) total += (double)w[i];
    return total;
}

static FN(ln_loss_args) FN(loss_args)(const ln_net *net, const ln_batch_opts *o, ptrdiff_t n,
                                      const T *H, const T *Y, T *grad)
{
    FN(ln_loss_args) a;
    a.n = n;
    a.m = net->n_out;
    a.h = H;
    a.y = Y;
    a.w = (const T *)o->w;
    a.scale = ln_loss_scale(o, FN(batch_weight)(n, (const T *)o->w));
    a.param = o->param;
    a.grad = grad;
    return a;
}

static int FN(net_loss)(ln_net *net, ln_ws *ws, const ln_batch_opts *o, ptrdiff_t n,
                        const void *X, const void *Y, double *loss)
{
    const T *H;
    FN(ln_loss_args) a;
    int status = FN(net_forward)(net, ws, n, (const T *)X, NULL, 0, 1, 0, 0, &H);
    if (status != LN_OK) return status;
    a = FN(loss_args)(net, o, n, H, (const T *)Y, NULL);
    *loss = FN(ln_loss_eval)(o->kind, &a);
    return LN_OK;
}

/* Forward (in training mode when o->training), the loss, and every node's
 * backward; the flat gradient lands in ws->grad. */
static int FN(net_backward)(ln_net *net, ln_ws *ws, const ln_batch_opts *o, ptrdiff_t n,
                            const void *Xv, const void *Y, double *loss)
{
    const int L = net->n_nodes;
    const T *X = (const T *)Xv, *H;
    T *cur = (T *)ws->dz[0], *other = (T *)ws->dz[1];
    const ln_node *last = &net->nodes[L - 1];
    FN(ln_loss_args) a;
    int i, status;

    status = FN(net_forward)(net, ws, n, X, NULL, o->training, 0, o->seed, o->step, &H);
    if (status != LN_OK) return status;

    /* Loss and dL/dH of the output in one pass, then the last node's own derivative */
    a = FN(loss_args)(net, o, n, H, (const T *)Y, cur);
    *loss = FN(ln_loss_eval)(o->kind, &a);
    if (!isfinite(*loss)) return LN_ERR_NONFINITE;
    FN(ln_times_dact)(n, last->n_out, cur, last->act, last->keeps_z ? (const T *)ws->z[L - 1] : H);

    /* Loop over nodes, last to first */
    for (i = L - 1; i >= 0; i--) {
        const ln_node *node = &net->nodes[i];
        const ln_node *prev = i > 0 ? &net->nodes[i - 1] : NULL;
        ln_bwd b;
        T *swap;
        b.n = n;
        b.x = prev ? ws->out[i - 1] : (const void *)X;
        b.y = ws->out[i];
        b.z = node->keeps_z ? ws->z[i] : NULL;
        b.dz = cur;
        b.grad = ws->grad;
        b.dx = net->need_dx[i] ? (void *)other : NULL;
        b.dx_act = prev ? prev->act : LN_ACT_identity;
        b.dx_saved = prev ? (prev->keeps_z ? ws->z[i - 1] : ws->out[i - 1]) : NULL;
        b.training = o->training;
        b.seed = o->seed;
        b.step = o->step;
        status = ln_ops(net, node)->backward(node, &b);
        if (status != LN_OK) return status;
        if (!net->need_dx[i]) break;   /* nothing before this node has parameters */
        swap = cur; cur = other; other = swap;
    }
    return LN_OK;
}

/* One pass of the optimizer's step, cut into items for the thread pool. */
typedef struct {
    ln_optim *opt;
    long long t;
    T gscale;
    ln_cuts cuts;                /* items of whole 64-element blocks */
    T *params;
    const T *grad;
    void *const *state;
    int commit;
    int bad[LN_POOL_MAX_THREADS];   /* per participant: a new value was not finite */
} FN(update_job);

static void FN(update_item)(void *ctx, ptrdiff_t i, int slot)
{
    FN(update_job) *g = (FN(update_job) *)ctx;
    const ptrdiff_t lo = ln_cut_at(&g->cuts, i), hi = ln_cut_at(&g->cuts, i + 1);
    T *st[LN_OPT_MAX_STATE];
    int k;
    for (k = 0; k < LN_OPT_MAX_STATE; k++) st[k] = g->state[k] ? (T *)g->state[k] + lo : NULL;
    if (!ln_isa_active()->TY.opt_update(g->opt, g->t, g->gscale, hi - lo, g->params + lo, g->grad + lo, st,
                                        g->commit))
        g->bad[slot] = 1;
}

/* The optimizer's step over the flat parameter vector: clip, then a
 * checking pass and, if every new value is finite, the committing pass
 * under the write lock. Both passes split the vector across threads. */
static int FN(net_update)(ln_net *net, ln_optim *opt, void *const *state, const void *gradv,
                          double *grad_norm)
{
    const ptrdiff_t size = net->param_size;
    const int nt = ln_elementwise_threads(net);
    FN(update_job) g;
    int commit;
    g.opt = opt;
    g.t = opt->step + 1;
    g.gscale = 1;
    g.grad = (const T *)gradv;
    g.state = state;
    /* One item per call on one thread; 64 elements are whole cache lines of either type */
    g.cuts = ln_cuts_make(size, 64, nt > 1 ? LN_POOL_ITEMS_PER_THREAD * nt : 1, nt, 0);
    /* The first node with parameters holds the vector's start */
    {
        int i;
        for (i = 0; i < net->n_nodes && net->nodes[i].n_tensors == 0; i++) {}
        if (i == net->n_nodes) {
            opt->step = g.t;
            return LN_OK;
        }
        g.params = (T *)net->nodes[i].param[0] - net->nodes[i].tensor_offset[0];
    }
    if (opt->clip_norm > 0 || grad_norm) {
        const double norm = FN(ln_norm2)(size, g.grad);
        if (grad_norm) *grad_norm = norm;
        if (!isfinite(norm)) return LN_ERR_NONFINITE;
        /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6), at most 1 */
        if (opt->clip_norm > 0 && opt->clip_norm / (norm + 1e-6) < 1.0)
            g.gscale = (T)(opt->clip_norm / (norm + 1e-6));
    }
    for (commit = 0; commit <= 1; commit++) {
        int s;
        memset(g.bad, 0, sizeof g.bad);
        g.commit = commit;
        if (commit) ln_rwlock_write(&net->lock);
        ln_pool_run(nt, g.cuts.count, FN(update_item), &g);
        if (commit) ln_rwlock_write_done(&net->lock);
        for (s = 0; s < LN_POOL_MAX_THREADS; s++)
            if (g.bad[s]) return LN_ERR_NONFINITE;
    }
    opt->step = g.t;
    return LN_OK;
}

static int FN(net_fit_batches)(ln_net *net, ln_ws *ws, const ln_batch_opts *opts, ln_optim *opt,
                               void *const *state, ln_fit_args *args)
{
    const ptrdiff_t n_in = net->n_in, n_out = net->n_out;
    const int hits_kind = ln_loss_hits_kind(opts->kind);
    const T *X = (const T *)args->X, *Y = (const T *)args->Y, *W = (const T *)args->w;
    T *xb = (T *)ws->xb, *yb = (T *)ws->yb, *wb = (T *)ws->wb;
    ln_batch_opts o = *opts;
    ptrdiff_t b;
    args->loss_sum = args->weight_sum = 0.0;
    args->hits = args->hit_units = args->steps_done = 0;
    o.training = 1;
    o.w = W ? wb : NULL;
    /* Loop over batches: gather the batch's rows, then one step */
    for (b = args->first_batch; b < args->first_batch + args->n_batches; b++) {
        const ptrdiff_t start = b * args->batch_size;
        ptrdiff_t i, rows;
        double loss, weight;
        int status;
        if (start >= args->n_samples || start < 0) break;
        rows = args->n_samples - start < args->batch_size ? args->n_samples - start : args->batch_size;
        for (i = 0; i < rows; i++) {
            const ptrdiff_t src = (ptrdiff_t)args->perm[start + i];
            memcpy(xb + i * n_in, X + src * n_in, (size_t)n_in * sizeof(T));
            memcpy(yb + i * n_out, Y + src * n_out, (size_t)n_out * sizeof(T));
            if (W) wb[i] = W[src];
        }
        o.step = opt->step + 1;
        ln_rwlock_read(&net->lock);
        status = FN(net_backward)(net, ws, &o, rows, xb, yb, &loss);
        ln_rwlock_read_done(&net->lock);
        if (status != LN_OK) return status;
        /* Right answers of the outputs before this step's update */
        if (hits_kind != LN_HITS_NONE) {
            args->hits += FN(ln_loss_hits)(opts->kind, rows, n_out, (const T *)ws->out[net->n_nodes - 1], yb);
            args->hit_units += hits_kind == LN_HITS_ARGMAX ? rows : rows * n_out;
        }
        status = FN(net_update)(net, opt, state, ws->grad, NULL);
        if (status != LN_OK) return status;
        weight = FN(batch_weight)(rows, o.w ? wb : NULL);
        args->loss_sum += loss * weight;
        args->weight_sum += weight;
        args->steps_done += 1;
    }
    return LN_OK;
}
