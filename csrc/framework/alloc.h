/* alloc.h: the library's only way to get heap memory.
 *
 * Internal to csrc/. Every allocation goes through these wrappers so that
 * ln_alloc_count (layernet.h) can show that steady-state steps and
 * predictions allocate nothing; tracemalloc cannot see C allocations.
 */
#ifndef LN_ALLOC_H
#define LN_ALLOC_H

#include <stddef.h>

void *ln_malloc(size_t bytes);
void *ln_calloc(size_t count, size_t size);

#endif /* LN_ALLOC_H */
