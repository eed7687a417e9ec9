/* alloc.h: the library's only way to get heap memory, and checked sizes.
 *
 * Internal to csrc/. Every allocation goes through these wrappers so that
 * ln_alloc_count (layernet.h) can show that steady-state steps and
 * predictions allocate nothing; tracemalloc cannot see C allocations.
 * Every size computed from user-controlled numbers goes through
 * ln_size_mul / ln_size_add, which refuse to wrap around.
 */
#ifndef LN_ALLOC_H
#define LN_ALLOC_H

#include <stddef.h>

void *ln_malloc(size_t bytes);
void *ln_calloc(size_t count, size_t size);
void ln_free(void *p);

/* 64-byte aligned, zero-filled block (set-up time only); free with ln_aligned_free. */
void *ln_aligned_alloc(size_t bytes);
void ln_aligned_free(void *p);

/* *out = a * b or a + b; 0 on success, -1 if the result does not fit in
 * size_t (or an operand is negative). */
int ln_size_mul(size_t a, size_t b, size_t *out);
int ln_size_add(size_t a, size_t b, size_t *out);
/* The same for element counts: a * b * c elements of `elem` bytes each. */
int ln_size_bytes(ptrdiff_t a, ptrdiff_t b, size_t elem, size_t *out);

#endif /* LN_ALLOC_H */
