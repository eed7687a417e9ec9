/* optimizers.h: every optimizer layernet knows, one row each.
 *
 * A row is X(id, name, n_state, optional_hp):
 *   id           the stem of its enum value (LN_OPT_<id>) and its update function
 *   name         the name Python and model files use
 *   n_state      how many state tensors, each the size of the parameters, it keeps
 *   optional_hp  -1, or the index of the hyper-parameter (a momentum) that,
 *                when 0, makes the last state tensor unneeded: it may then be
 *                NULL, and the update checks (SGD's velocity, RMSprop's buffer)
 *
 * Adding an optimizer is this row plus its typed update in
 * tables/optimizers_tmpl.h (which each instruction set compiles for itself),
 *   int ln_opt_<id>_<type>(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
 *                          T *p, const T *g, T *const *s, int commit)
 * which computes step t (1-based) of n elements with gradient g * gscale:
 * when commit is 0 it only checks, and when 1 it writes p and the state;
 * either way it returns 1 if every new value is finite. Its hyper-parameters
 * come as data in o->hp, in the order its comment gives, and the Python
 * class passes them in that order.
 */
#ifndef LN_TABLES_OPTIMIZERS_H
#define LN_TABLES_OPTIMIZERS_H

#include <stddef.h>
#include "layernet.h"

#define LN_OPTIMIZER_TABLE(X)           \
    X(sgd,     "sgd",     1,  0)        \
    X(adam,    "adam",    2, -1)        \
    X(adamw,   "adamw",   2, -1)        \
    X(rmsprop, "rmsprop", 2,  2)

#define LN_OPT_ENUM_(id, name, n_state, optional_hp) LN_OPT_##id,
enum { LN_OPTIMIZER_TABLE(LN_OPT_ENUM_) LN_OPT_COUNT };
#undef LN_OPT_ENUM_

/* How many state tensors an update with these hyper-parameters needs (the
 * rest may be NULL); -1 for an unknown kind. */
int ln_optimizer_states_needed(const ln_optim *o);

#endif /* LN_TABLES_OPTIMIZERS_H */
