/* standardize.c: the Standardize layer kind, y = (x - mean) / std per column.
 *
 * Constants (not trained): mean and std, each n_in. It carries a model's
 * input preprocessing inside the model, so a saved network predicts from raw
 * rows. Its backward passes dx = dz / std (times the producer's derivative)
 * when a layer with parameters comes before it. */
#include "layers/layer.h"
#include "tables/activations.h"
#include "framework/elementwise.h"

static int ln_standardize_setup(ln_node *node, const ln_node_spec *spec)
{
    if (spec->n_in < 1 || spec->n_out != spec->n_in) return LN_ERR_ARG;
    node->n_in = node->n_out = spec->n_in;
    node->act = LN_ACT_identity;
    node->keeps_z = 0;
    node->n_tensors = 0;
    node->n_consts = 2;
    node->const_size[0] = node->const_size[1] = spec->n_in;
    return LN_OK;
}

#define LN_TEMPLATE "layers/standardize_tmpl.h"
#include "framework/typed.h"

const ln_layer_kind ln_layer_standardize = {
    .name = "standardize",
    .setup = ln_standardize_setup,
    .identity_in_inference = 0,
    .f32 = { ln_standardize_forward_f32, ln_standardize_backward_f32 },
    .f64 = { ln_standardize_forward_f64, ln_standardize_backward_f64 },
};
