/* dense_tmpl.h: the Dense layer's forward and backward for one element type. */

/* Which GEMM this element type calls. */
#if LN_IS_F32
#define LN_GEMM ln_sgemm
#else
#define LN_GEMM ln_dgemm
#endif

/* y (n x n_out) = act(x W + B), keeping Z when the activation needs it. */
static int FN(ln_dense_forward)(const ln_node *node, const ln_fwd *a)
{
    ln_epilogue epi;
    epi.kind = LN_EPI_BIAS_ACT;
    epi.act = node->act;
    epi.bias = node->param[1];
    epi.zout = node->keeps_z ? a->z : NULL;
    epi.ldz = node->n_out;
    epi.saved = NULL;
    epi.ld_saved = 0;
    return LN_GEMM(0, 0, a->n, node->n_out, node->n_in, (T)1, (const T *)a->x, node->n_in,
                   (const T *)node->param[0], node->n_out, (T)0, (T *)a->y, node->n_out, &epi);
}

static int FN(ln_dense_backward)(const ln_node *node, const ln_bwd *a)
{
    const ptrdiff_t n_in = node->n_in, n_out = node->n_out;
    T *grad = (T *)a->grad;
    int status;
    /* dW = x^T dZ (n_in x n_out) */
    status = LN_GEMM(1, 0, n_in, n_out, a->n, (T)1, (const T *)a->x, n_in, (const T *)a->dz, n_out,
                     (T)0, grad + node->tensor_offset[0], n_out, NULL);
    if (status != LN_OK) return status;
    /* dB = colsum(dZ) */
    FN(ln_colsum)(a->n, n_out, (const T *)a->dz, grad + node->tensor_offset[1]);
    /* dx = (dZ W^T) * producer'(saved) */
    if (a->dx != NULL) {
        ln_epilogue epi;
        epi.kind = LN_EPI_DACT;
        epi.act = a->dx_act;
        epi.bias = NULL;
        epi.zout = NULL;
        epi.ldz = 0;
        epi.saved = a->dx_saved;
        epi.ld_saved = n_in;
        status = LN_GEMM(0, 1, a->n, n_in, n_out, (T)1, (const T *)a->dz, n_out,
                         (const T *)node->param[0], n_out, (T)0, (T *)a->dx, n_in, &epi);
    }
    return status;
}

#undef LN_GEMM
