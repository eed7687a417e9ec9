/* losses.h: every loss layernet knows, one row each.
 *
 * A row is X(id, name, reduction, hits):
 *   id         the stem of its enum value (LN_LOSS_<id>) and its function
 *   name       the name Python and model files use
 *   reduction  LN_REDUCE_MEAN: divided by the batch's total sample weight
 *              (its row count when unweighted); LN_REDUCE_SUM: not divided
 *   hits       how fit counts right answers for its running accuracy:
 *              LN_HITS_NONE, LN_HITS_ARGMAX (rows), LN_HITS_SIGN (outputs)
 *
 * Adding a loss is this row plus its typed function in tables/losses_tmpl.h,
 *   double ln_loss_<id>_<type>(const ln_loss_args_<type> *a)
 * which returns scale * sum_i w_i l_i, where l_i is row i's loss (averaged
 * over its outputs unless the loss is a distribution over them, like
 * cross-entropy), and, when a->grad is not NULL, writes
 * grad = scale * w_i * dl_i / dH. The loss sees the network's raw output H
 * (logits for the losses whose output transform is fused: softmax for
 * cross_entropy, sigmoid for binary_cross_entropy), and the Python Loss
 * class owns target preparation, the output transform and the metrics.
 */
#ifndef LN_TABLES_LOSSES_H
#define LN_TABLES_LOSSES_H

#include <stddef.h>

enum { LN_REDUCE_MEAN = 0, LN_REDUCE_SUM = 1 };
enum { LN_HITS_NONE = 0, LN_HITS_ARGMAX = 1, LN_HITS_SIGN = 2 };

#define LN_LOSS_TABLE(X)                                                                \
    X(mse,                  "mse",                  LN_REDUCE_MEAN, LN_HITS_NONE)       \
    X(mse_sum,              "mse_sum",              LN_REDUCE_SUM,  LN_HITS_NONE)       \
    X(cross_entropy,        "cross_entropy",        LN_REDUCE_MEAN, LN_HITS_ARGMAX)     \
    X(binary_cross_entropy, "binary_cross_entropy", LN_REDUCE_MEAN, LN_HITS_SIGN)       \
    X(huber,                "huber",                LN_REDUCE_MEAN, LN_HITS_NONE)       \
    X(mae,                  "mae",                  LN_REDUCE_MEAN, LN_HITS_NONE)

#define LN_LOSS_ENUM_(id, name, reduction, hits) LN_LOSS_##id,
enum { LN_LOSS_TABLE(LN_LOSS_ENUM_) LN_LOSS_COUNT };
#undef LN_LOSS_ENUM_

#define LN_TEMPLATE "tables/losses_decl_tmpl.h"
#include "framework/typed.h"

int ln_loss_reduction(int kind);
int ln_loss_hits_kind(int kind);

#endif /* LN_TABLES_LOSSES_H */
