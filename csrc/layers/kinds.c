/* kinds.c: the list of layer kinds (LN_LAYER_KINDS in layers/layer.h), by index. */
#include "layers/layer.h"

static const ln_layer_kind *const ln_layer_kinds[] = { LN_LAYER_KINDS };
#define LN_N_KINDS ((int)(sizeof ln_layer_kinds / sizeof ln_layer_kinds[0]))

const ln_layer_kind *ln_layer_kind_at(int kind)
{
    return kind >= 0 && kind < LN_N_KINDS ? ln_layer_kinds[kind] : NULL;
}

int ln_layer_kind_count(void) { return LN_N_KINDS; }

const char *ln_layer_kind_name(int kind)
{
    const ln_layer_kind *k = ln_layer_kind_at(kind);
    return k ? k->name : NULL;
}
