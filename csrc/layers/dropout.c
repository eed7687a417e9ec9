/* dropout.c: the Dropout layer kind (inverted dropout).
 *
 * In training, each element is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate), or zeroed; outside training the layer is the identity, and
 * the drivers skip it. The mask comes from the counter-based generator in
 * framework/rng.h, keyed by (seed, node, step, row, column): the backward
 * recomputes it rather than storing it. No parameters. */
#include <math.h>
#include <string.h>

#include "layers/layer.h"
#include "tables/activations.h"
#include "framework/elementwise.h"
#include "framework/rng.h"

static int ln_dropout_setup(ln_node *node, const ln_node_spec *spec)
{
    if (spec->n_in < 1 || spec->n_out != spec->n_in || !(spec->rate >= 0.0 && spec->rate < 1.0))
        return LN_ERR_ARG;
    node->n_in = node->n_out = spec->n_in;
    node->act = LN_ACT_identity;
    node->keeps_z = 0;
    node->rate = spec->rate;
    node->n_tensors = 0;
    node->n_consts = 0;
    return LN_OK;
}

/* An element is kept when its 24 random bits fall below this. */
static uint32_t ln_dropout_threshold(double rate)
{
    return (uint32_t)floor((1.0 - rate) * 16777216.0 + 0.5);
}

#define LN_TEMPLATE "layers/dropout_tmpl.h"
#include "framework/typed.h"

const ln_layer_kind ln_layer_dropout = {
    .name = "dropout",
    .setup = ln_dropout_setup,
    .identity_in_inference = 1,
    .f32 = { ln_dropout_forward_f32, ln_dropout_backward_f32 },
    .f64 = { ln_dropout_forward_f64, ln_dropout_backward_f64 },
};
