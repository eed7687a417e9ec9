/* dense.c: the Dense layer kind, y = act(x W + B).
 *
 * Tensors: W (n_in x n_out) and B (n_out), in that order. The forward is one
 * GEMM with the bias and activation fused into its epilogue (and Z kept
 * there when the activation's derivative needs it). The backward is
 *   dW = x^T dZ,  dB = colsum(dZ),  dx = (dZ W^T) * producer'(saved)
 * with the producer's derivative fused into the dx GEMM's epilogue. */
#include <string.h>

#include "layers/layer.h"
#include "tables/activations.h"
#include "framework/elementwise.h"

static int ln_dense_setup(ln_node *node, const ln_node_spec *spec)
{
    if (spec->n_in < 1 || spec->n_out < 1 || spec->act < 0 || spec->act >= LN_ACT_COUNT)
        return LN_ERR_ARG;
    node->n_in = spec->n_in;
    node->n_out = spec->n_out;
    node->act = spec->act;
    node->keeps_z = ln_act_needs_z(spec->act);
    node->n_tensors = 2;
    if (spec->n_in > PTRDIFF_MAX / spec->n_out) return LN_ERR_NOMEM;
    node->tensor_size[0] = spec->n_in * spec->n_out;
    node->tensor_size[1] = spec->n_out;
    node->n_consts = 0;
    return LN_OK;
}

#define LN_TEMPLATE "layers/dense_tmpl.h"
#include "framework/typed.h"

const ln_layer_kind ln_layer_dense = {
    .name = "dense",
    .setup = ln_dense_setup,
    .identity_in_inference = 0,
    .f32 = { ln_dense_forward_f32, ln_dense_backward_f32 },
    .f64 = { ln_dense_forward_f64, ln_dense_backward_f64 },
};
