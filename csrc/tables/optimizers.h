/* optimizers.h: every optimizer layernet knows, one row each.
 *
 * A row is X(id, name, n_state, n_required):
 *   id          the stem of its enum value (LN_OPT_<id>) and its update function
 *   name        the name Python and model files use
 *   n_state     how many state tensors, each the size of the parameters, it may keep
 *   n_required  how many of them must always be there; the others may be NULL
 *               when the hyper-parameters make them unneeded (SGD's velocity
 *               without momentum), and the update must check
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

#define LN_OPTIMIZER_TABLE(X)          \
    X(sgd,     "sgd",     1, 0)        \
    X(adam,    "adam",    2, 2)        \
    X(adamw,   "adamw",   2, 2)        \
    X(rmsprop, "rmsprop", 2, 1)

#define LN_OPT_ENUM_(id, name, n_state, n_required) LN_OPT_##id,
enum { LN_OPTIMIZER_TABLE(LN_OPT_ENUM_) LN_OPT_COUNT };
#undef LN_OPT_ENUM_

/* How many state tensors kind must always be given (the rest may be NULL). */
int ln_optimizer_n_required(int kind);

#endif /* LN_TABLES_OPTIMIZERS_H */
