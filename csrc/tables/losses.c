/* losses.c: the loss table's functions (tables/losses_tmpl.h) for float and
 * double, and its columns by index. */
#include <math.h>

#include "layernet.h"
#include "tables/losses.h"

#define LN_TEMPLATE "tables/losses_tmpl.h"
#include "framework/typed.h"

int ln_loss_reduction(int kind)
{
#define LN_CASE_(id, name, reduction, hits) case LN_LOSS_##id: return reduction;
    switch (kind) { LN_LOSS_TABLE(LN_CASE_) default: return LN_REDUCE_MEAN; }
#undef LN_CASE_
}

int ln_loss_hits_kind(int kind)
{
#define LN_CASE_(id, name, reduction, hits) case LN_LOSS_##id: return hits;
    switch (kind) { LN_LOSS_TABLE(LN_CASE_) default: return LN_HITS_NONE; }
#undef LN_CASE_
}

int ln_loss_count(void) { return LN_LOSS_COUNT; }

const char *ln_loss_name(int kind)
{
#define LN_CASE_(id, name, reduction, hits) case LN_LOSS_##id: return name;
    switch (kind) { LN_LOSS_TABLE(LN_CASE_) default: return NULL; }
#undef LN_CASE_
}

int ln_loss_reduces_by_sum(int kind) { return ln_loss_reduction(kind) == LN_REDUCE_SUM; }
