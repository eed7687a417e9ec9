/* alloc.c: counted allocation, the aligned allocator and checked sizes (see alloc.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layernet.h"
#include "alloc.h"

#define LN_ALIGN 64

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
    return malloc(bytes ? bytes : 1);
}

void *ln_calloc(size_t count, size_t size)
{
    ln_count_allocation();
    return calloc(count ? count : 1, size ? size : 1);
}

void ln_free(void *p)
{
    free(p);
}

long long ln_alloc_count(void)
{
#if defined(__GNUC__)
    return __atomic_load_n(&ln_allocations, __ATOMIC_RELAXED);
#else
    return ln_allocations;
#endif
}

/* The original pointer is stored just before the aligned block. */
void *ln_aligned_alloc(size_t bytes)
{
    size_t total;
    unsigned char *raw;
    uintptr_t start;
    void **slot;
    if (ln_size_add(bytes, LN_ALIGN + sizeof(void *), &total) != 0) return NULL;
    raw = (unsigned char *)ln_malloc(total);
    if (raw == NULL) return NULL;
    start = ((uintptr_t)(raw + sizeof(void *)) + LN_ALIGN - 1) & ~(uintptr_t)(LN_ALIGN - 1);
    slot = (void **)start;
    slot[-1] = raw;
    memset(slot, 0, bytes);
    return slot;
}

void ln_aligned_free(void *p)
{
    if (p != NULL) free(((void **)p)[-1]);
}

int ln_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int ln_size_add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

int ln_size_bytes(ptrdiff_t a, ptrdiff_t b, size_t elem, size_t *out)
{
    size_t ab;
    /* The result must also fit in ptrdiff_t, so pointer differences stay defined. */
    if (a < 0 || b < 0) return -1;
    if (ln_size_mul((size_t)a, (size_t)b, &ab) != 0) return -1;
    if (ln_size_mul(ab, elem, out) != 0) return -1;
    return *out > (size_t)PTRDIFF_MAX ? -1 : 0;
}
