/* net_impl.h: typed bodies of the dense-layer and network drivers, included
 * once per type by net.c. Expects T, SFX and GEMM (ln_sgemm or ln_dgemm).
 *
 * Every matrix product goes through GEMM with a fused epilogue:
 *   forward   H_l     = act_l(H_{l-1} W_l + B_l)                 (BIAS_ACT)
 *   backward  A_{l-1} = (A_l W_l^T) * act'_{l-1}(H_{l-1})        (DACT)
 *             dW_l    = H_{l-1}^T A_l,  dB_l = colsum(A_l)
 * where A_l = dL/dZ_l and H_{-1} = X. */

#define NET_CAT2(a, b) a##_##b
#define NET_CAT(a, b) NET_CAT2(a, b)
#define NET_FN(name) NET_CAT(name, SFX)
#define OP(name) NET_CAT(name, SFX)

int NET_FN(dense_forward)(int act, ptrdiff_t n, ptrdiff_t n_in, ptrdiff_t n_out,
                          const T *X, const T *W, const T *B, T *H)
{
    ln_epilogue epi = {LN_EPI_BIAS_ACT, act, B, NULL, 0};
    return GEMM(0, 0, n, n_out, n_in, (T)1, X, n_in, W, n_out, (T)0, H, n_out, &epi);
}

int NET_FN(dense_backward)(int act, ptrdiff_t n, ptrdiff_t n_in, ptrdiff_t n_out,
                           const T *X, const T *W, const T *H, const T *dH,
                           T *A, T *dW, T *dB, T *dX)
{
    int status;
    OP(ln_mul_dact)(act, n * n_out, H, dH, A);
    /* dW = X^T A (n_in x n_out) */
    status = GEMM(1, 0, n_in, n_out, n, (T)1, X, n_in, A, n_out, (T)0, dW, n_out, NULL);
    if (status != LN_OK) return status;
    OP(ln_colsum)(n, n_out, A, dB);
    /* dX = A W^T (n x n_in) */
    if (dX != NULL)
        status = GEMM(0, 1, n, n_in, n_out, (T)1, A, n_out, W, n_out, (T)0, dX, n_in, NULL);
    return status;
}

/* Forward through every layer. The last layer writes to `out` when given,
 * else to its workspace buffer. */
static int NET_FN(net_forward)(ln_net *net, ptrdiff_t n, const T *X, T *out)
{
    int l, status;
    const T *in = X;
    for (l = 0; l < net->n_layers; l++) {
        T *dst = (l == net->n_layers - 1 && out != NULL) ? out : (T *)net->H[l];
        status = NET_FN(dense_forward)(net->acts[l], n, net->sizes[l], net->sizes[l + 1], in,
                                       (const T *)net->W[l], (const T *)net->B[l], dst);
        if (status != LN_OK) return status;
        in = dst;
    }
    return LN_OK;
}

static int NET_FN(net_predict)(ln_net *net, ptrdiff_t n, const T *X, T *out)
{
    return NET_FN(net_forward)(net, n, X, out);
}

/* 1 if every gradient element is finite. Each thread checks its share of
 * every layer's dW (one parallel region for the whole network). */
static int NET_FN(grads_finite)(ln_net *net)
{
    const ptrdiff_t *sz = net->sizes;
    int ok = 1, l;
    for (l = 0; l < net->n_layers; l++)
        ok &= OP(ln_all_finite)(sz[l + 1], (const T *)net->dB[l]);
#ifdef _OPENMP
#pragma omp parallel num_threads(ln_elementwise_threads(net)) reduction(&&:ok)
#endif
    {
        int tid = LN_THREAD_ID(), nth = LN_THREAD_COUNT();
        for (l = 0; l < net->n_layers; l++) {
            ptrdiff_t size = sz[l] * sz[l + 1], lo = size * tid / nth, hi = size * (tid + 1) / nth;
            ok = ok && OP(ln_all_finite)(hi - lo, (const T *)net->dW[l] + lo);
        }
    }
    return ok;
}

/* The optimizer update of every parameter, the weights split across
 * threads like grads_finite (the biases are small: the first thread). */
static void NET_FN(apply_update)(ln_net *net, ln_optimizer *opt, long long t)
{
    const ptrdiff_t *sz = net->sizes;
#ifdef _OPENMP
#pragma omp parallel num_threads(ln_elementwise_threads(net))
#endif
    {
        int tid = LN_THREAD_ID(), nth = LN_THREAD_COUNT(), l;
        for (l = 0; l < net->n_layers; l++) {
            ptrdiff_t size = sz[l] * sz[l + 1], lo = size * tid / nth, hi = size * (tid + 1) / nth;
            T *s1 = (T *)net->S1W[l], *s2 = (T *)net->S2W[l];
            OP(ln_opt_update)(opt, t, hi - lo, (T *)net->W[l] + lo, (const T *)net->dW[l] + lo,
                              s1 ? s1 + lo : NULL, s2 ? s2 + lo : NULL);
            if (tid == 0)
                OP(ln_opt_update)(opt, t, sz[l + 1], (T *)net->B[l], (const T *)net->dB[l],
                                  (T *)net->S1B[l], (T *)net->S2B[l]);
        }
    }
}

/* Forward, loss and backward into net->dW / net->dB. LN_ERR_NONFINITE if the
 * loss or a gradient is not finite. */
static int NET_FN(net_gradients)(ln_net *net, int loss_kind, ptrdiff_t n, const T *X,
                                 const T *Y, double *loss)
{
    const int L = net->n_layers;
    const ptrdiff_t *sz = net->sizes;
    int l, status;
    T *a_cur = (T *)net->A[0], *a_next = (T *)net->A[1];

    status = NET_FN(net_forward)(net, n, X, NULL);
    if (status != LN_OK) return status;

    /* Loss and dL/dZ of the last layer in one pass. */
    *loss = OP(ln_loss_grad)(loss_kind, net->acts[L - 1], n, sz[L], (const T *)net->H[L - 1],
                             Y, a_cur);
    if (!isfinite(*loss)) return LN_ERR_NONFINITE;

    /* Loop over layers, last to first. */
    for (l = L - 1; l >= 0; l--) {
        const T *in = l == 0 ? X : (const T *)net->H[l - 1];
        T *swap;
        status = GEMM(1, 0, sz[l], sz[l + 1], n, (T)1, in, sz[l], a_cur, sz[l + 1], (T)0,
                      (T *)net->dW[l], sz[l + 1], NULL);
        if (status != LN_OK) return status;
        OP(ln_colsum)(n, sz[l + 1], a_cur, (T *)net->dB[l]);
        if (l == 0) break;   /* the first layer needs no dX */
        {
            ln_epilogue epi = {LN_EPI_DACT, net->acts[l - 1], NULL, net->H[l - 1], sz[l]};
            status = GEMM(0, 1, n, sz[l], sz[l + 1], (T)1, a_cur, sz[l + 1],
                          (const T *)net->W[l], sz[l + 1], (T)0, a_next, sz[l], &epi);
            if (status != LN_OK) return status;
        }
        swap = a_cur; a_cur = a_next; a_next = swap;
    }

    /* All-or-nothing: a step must not apply a gradient with an inf or nan in it. */
    return NET_FN(grads_finite)(net) ? LN_OK : LN_ERR_NONFINITE;
}

static int NET_FN(net_train_step)(ln_net *net, int loss_kind, ln_optimizer *opt, ptrdiff_t n,
                                  const T *X, const T *Y, double *loss)
{
    const long long t = opt->step + 1;
    int status = NET_FN(net_gradients)(net, loss_kind, n, X, Y, loss);
    if (status != LN_OK) return status;
    NET_FN(apply_update)(net, opt, t);
    opt->step = t;
    return LN_OK;
}

/* Rows whose largest output sits where the target row is largest. */
static ptrdiff_t NET_FN(argmax_hits)(ptrdiff_t n, ptrdiff_t m, const T *H, const T *Y)
{
    ptrdiff_t i, j, hits = 0;
    for (i = 0; i < n; i++) {
        const T *h = H + i * m, *y = Y + i * m;
        ptrdiff_t bh = 0, by = 0;
        for (j = 1; j < m; j++) {
            if (h[j] > h[bh]) bh = j;
            if (y[j] > y[by]) by = j;
        }
        hits += bh == by;
    }
    return hits;
}

static int NET_FN(net_fit_batches)(ln_net *net, int loss_kind, ln_optimizer *opt,
                                   ptrdiff_t n_samples, const T *X, const T *Y,
                                   const long long *perm, ptrdiff_t batch_size,
                                   ptrdiff_t first_batch, ptrdiff_t n_batches,
                                   double *loss_sum, ptrdiff_t *hits, ptrdiff_t *steps_done)
{
    const ptrdiff_t n_in = net->sizes[0], n_out = net->sizes[net->n_layers];
    T *xb = (T *)net->Xb, *yb = (T *)net->Yb;
    ptrdiff_t b;
    *loss_sum = 0.0;
    *hits = 0;
    *steps_done = 0;
    /* Loop over batches: gather the batch's rows, then one step. */
    for (b = first_batch; b < first_batch + n_batches; b++) {
        ptrdiff_t start = b * batch_size, i, rows;
        double loss;
        int status;
        if (start >= n_samples) break;
        rows = n_samples - start < batch_size ? n_samples - start : batch_size;
        for (i = 0; i < rows; i++) {
            ptrdiff_t src = (ptrdiff_t)perm[start + i];
            memcpy(xb + i * n_in, X + src * n_in, (size_t)n_in * sizeof(T));
            memcpy(yb + i * n_out, Y + src * n_out, (size_t)n_out * sizeof(T));
        }
        status = NET_FN(net_train_step)(net, loss_kind, opt, rows, xb, yb, &loss);
        if (status != LN_OK) return status;
        *loss_sum += loss * (double)rows;
        *hits += NET_FN(argmax_hits)(rows, n_out, (const T *)net->H[net->n_layers - 1], yb);
        *steps_done += 1;
    }
    return LN_OK;
}

#undef NET_FN
#undef OP
#undef NET_CAT
#undef NET_CAT2
