/* optimizers.c: the optimizer table's columns by index. The updates
 * (tables/optimizers_tmpl.h) are compiled by each instruction set with its
 * kernels. */
#include <math.h>

#include "layernet.h"
#include "tables/optimizers.h"


int ln_optimizer_count(void) { return LN_OPT_COUNT; }

const char *ln_optimizer_name(int kind)
{
#define LN_CASE_(id, name, n_state, optional_hp) case LN_OPT_##id: return name;
    switch (kind) { LN_OPTIMIZER_TABLE(LN_CASE_) default: return NULL; }
#undef LN_CASE_
}

int ln_optimizer_n_state(int kind)
{
#define LN_CASE_(id, name, n_state, optional_hp) case LN_OPT_##id: return n_state;
    switch (kind) { LN_OPTIMIZER_TABLE(LN_CASE_) default: return -1; }
#undef LN_CASE_
}

int ln_optimizer_states_needed(const ln_optim *o)
{
#define LN_CASE_(id, name, n_state, optional_hp) \
    case LN_OPT_##id: return n_state - (optional_hp >= 0 && o->hp[optional_hp] == 0);
    switch (o->kind) { LN_OPTIMIZER_TABLE(LN_CASE_) default: return -1; }
#undef LN_CASE_
}
