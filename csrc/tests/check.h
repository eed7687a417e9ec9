/* check.h: what the C tests share: a seeded generator, pass/fail counters
 * and the list of instruction sets this CPU runs. */
#ifndef LN_TESTS_CHECK_H
#define LN_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layernet.h"
#include "kernels/kernels.h"
#include "tables/activations.h"

static unsigned long long rng_state = 88172645463325252ULL;
static long n_checks = 0, n_fail = 0;

/* Uniform in [-1, 1) (xorshift64). */
static double urand(void)
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static int irand(int n) { return (int)((urand() + 1.0) * 0.5 * n) % n; }

/* Counts one check; prints the message (printf-style) when it fails.
 * Returns the condition. */
#define CHECK(cond, ...)                                         \
    (++n_checks, (cond) ? 1 : (++n_fail, fprintf(stderr, "FAIL "), \
                               fprintf(stderr, __VA_ARGS__), fprintf(stderr, "\n"), 0))

/* The instruction sets built in and supported here, by name. */
static int supported_isas(const char **names, int max)
{
    int i, n = 0;
    for (i = 0; i < ln_isa_count() && n < max; ++i)
        if (ln_isa_supported(ln_isa_name_at(i))) names[n++] = ln_isa_name_at(i);
    return n;
}

static int report(const char *what)
{
    printf("%s: %ld checks, %ld failed\n", what, n_checks, n_fail);
    return n_fail != 0;
}

#endif /* LN_TESTS_CHECK_H */
