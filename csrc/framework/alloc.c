/* alloc.c: counted malloc/calloc (see alloc.h). */
#include <stdlib.h>

#include "layernet.h"
#include "alloc.h"

static long long ln_allocations = 0;

/* Relaxed atomics where GCC-compatible compilers provide them: the count is
 * a diagnostic, but concurrent callers must not lose increments. */
static void ln_count_allocation(void)
{
#if defined(__GNUC__)
    __atomic_fetch_add(&ln_allocations, 1, __ATOMIC_RELAXED);
#else
    ++ln_allocations;
#endif
}

void *ln_malloc(size_t bytes)
{
    ln_count_allocation();
    return malloc(bytes);
}

void *ln_calloc(size_t count, size_t size)
{
    ln_count_allocation();
    return calloc(count, size);
}

long long ln_alloc_count(void)
{
#if defined(__GNUC__)
    return __atomic_load_n(&ln_allocations, __ATOMIC_RELAXED);
#else
    return ln_allocations;
#endif
}
