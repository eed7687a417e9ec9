/* dispatch.c: choosing the instruction set, and the thread count.
 *
 * Walks the list in tables/isas.h once, at ln_init, and keeps the first
 * table whose supported() probe passes. Python asks for the names through
 * ln_isa_count / ln_isa_name_at. The thread count comes from
 * ln_set_num_threads (Python reads LAYERNET_NUM_THREADS, then
 * OMP_NUM_THREADS), else the processors this process may run on.
 */
#include <string.h>

#include "layernet.h"
#include "kernels/kernels.h"
#include "tables/isas.h"
#include "framework/pool.h"

static const ln_isa *const ln_isas[] = { LN_ISA_LIST };
#define LN_N_ISAS ((int)(sizeof ln_isas / sizeof ln_isas[0]))

static const ln_isa *ln_active = 0;
static int ln_nthreads = 0;     /* 0 until set: the processor count */

/* Writable copies, so tests and tuning can change blocks of one table. */
static ln_isa ln_isa_copies[sizeof ln_isas / sizeof ln_isas[0]];
static int ln_isa_copied = 0;
static int ln_isa_ok[sizeof ln_isas / sizeof ln_isas[0]];

static void ln_copy_tables(void)
{
    int i;
    if (ln_isa_copied) return;
    for (i = 0; i < LN_N_ISAS; ++i) {
        ln_isa_copies[i] = *ln_isas[i];
        ln_isa_ok[i] = ln_isas[i]->supported();
    }
    ln_isa_copied = 1;
}

void ln_init(void)
{
    int i;
    ln_copy_tables();
    if (ln_active) return;
    for (i = 0; i < LN_N_ISAS; ++i)
        if (ln_isa_ok[i]) { ln_active = &ln_isa_copies[i]; return; }
}

const ln_isa *ln_isa_active(void)
{
    if (!ln_active) ln_init();
    return ln_active;
}

ln_isa *ln_isa_lookup(const char *name)
{
    int i;
    ln_copy_tables();
    for (i = 0; i < LN_N_ISAS; ++i)
        if (strcmp(ln_isas[i]->name, name) == 0) return ln_isa_ok[i] ? &ln_isa_copies[i] : 0;
    return 0;
}

int ln_isa_count(void) { return LN_N_ISAS; }

const char *ln_isa_name_at(int i) { return i >= 0 && i < LN_N_ISAS ? ln_isas[i]->name : NULL; }

int ln_isa_supported(const char *name) { return ln_isa_lookup(name) != 0; }

int ln_set_isa(const char *name)
{
    const ln_isa *t = ln_isa_lookup(name);
    if (!t) return LN_ERR_ISA;
    ln_active = t;
    return LN_OK;
}

const char *ln_get_isa(void) { return ln_isa_active()->name; }

void ln_set_num_threads(int n)
{
    ln_nthreads = !ln_pool_enabled() || n < 1 ? 1 : n;
}

int ln_get_num_threads(void)
{
    if (ln_nthreads < 1) ln_nthreads = ln_pool_enabled() ? ln_pool_processors() : 1;
    return ln_nthreads;
}

int ln_threads_enabled(void) { return ln_pool_enabled(); }
