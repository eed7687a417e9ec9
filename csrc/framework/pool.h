/* pool.h: the kernels' threads.
 *
 * Internal to csrc/. One process-wide pool of helper threads runs "jobs":
 * n items of one function, each run exactly once. The calling thread always
 * takes part, and it waits only for items that have started, never for a
 * helper that has not woken up yet: a helper that arrives late (its core is
 * busy with another program, or it was asleep) finds the items taken and
 * goes back to waiting. So a busy core slows a job down by its share of the
 * work at most, instead of stalling every barrier, which is what a team of
 * statically split threads does under contention.
 *
 * Items are dealt in shares, one per participant, in order: participant p
 * starts on share p, so repeated calls of the same shape keep the same items
 * on the same cores (and their data in those cores' caches). A participant
 * whose share runs out takes items from the others' shares.
 *
 * A job whose caller waited for a started item longer than it worked (a
 * helper lost its core to another program) makes the next jobs run on the
 * caller alone for a while, doubling while it keeps happening: on a busy
 * machine a short job then costs its one-thread time instead of a
 * scheduler time slice (pool.c says how long).
 *
 * One job runs at a time. A call made while another thread's job runs, or
 * from inside an item, runs all its items on the calling thread. Helpers
 * spin briefly between jobs (steps of a training loop follow each other
 * within microseconds), then sleep.
 *
 * Built with POSIX threads and GCC/Clang atomics; elsewhere (or with
 * LN_NO_THREADS defined) every job runs on the calling thread.
 */
#ifndef LN_POOL_H
#define LN_POOL_H

#include <stddef.h>

/* Runs item i of a job on participant `slot` (0 is the calling thread; the
 * others are 1 .. threads-1), so per-participant buffers can be indexed by it. */
typedef void (*ln_item_fn)(void *ctx, ptrdiff_t i, int slot);

/* Participants a job may have at most. */
#define LN_POOL_MAX_THREADS 64

/* Runs items 0 .. n_items-1 of fn with up to `threads` participants
 * (clamped to 1 .. LN_POOL_MAX_THREADS and to n_items; a job of more than
 * 65535 items runs on the caller alone); returns when every
 * item has run. Slots passed to fn are below the clamped thread count. */
void ln_pool_run(int threads, ptrdiff_t n_items, ln_item_fn fn, void *ctx);

/* 1 if this build has the pool (else every job runs on the caller). */
int ln_pool_enabled(void);

/* The processors this process may run on (at least 1). */
int ln_pool_processors(void);

/* 1 (the default): a stalled job sends the next ones to the caller alone for
 * a while; 0: every job gets its threads (tests of threaded code use this,
 * so a stall on a loaded machine cannot quietly make them serial). */
void ln_pool_set_backoff(int on);

/* Items per participant when a job is cut for the pool: enough that a
 * thread slowed down by another program hands the rest of its share to the
 * others, few enough that handing out items stays cheap. */
#define LN_POOL_ITEMS_PER_THREAD 4

/* A dimension of n elements cut into `count` items of whole tiles (the last
 * may end short at n) whose lengths differ by at most one tile. Cutting every
 * item but the last to the same length left a sliver at the end (22 row
 * tiles in 8 items: seven of 3 and one of 1, so one thread's share held 12
 * tiles and the other's 10); spread evenly, 8 items of 3 or 2 give each
 * share 11. Every job that splits a range for ln_pool_run cuts it here. */
typedef struct {
    ptrdiff_t n, tiles, count;
    int tile;
} ln_cuts;

/* At least `parts` items, rounded up to a multiple of `threads` so that
 * every thread's share of the pool holds as many, none longer than max_len
 * elements (0: no limit), and no more items than tiles (at least one). */
static inline ln_cuts ln_cuts_make(ptrdiff_t n, int tile, ptrdiff_t parts, int threads,
                                   ptrdiff_t max_len)
{
    ln_cuts c;
    c.n = n < 0 ? 0 : n;
    c.tile = tile < 1 ? 1 : tile;
    c.tiles = c.n / c.tile + (c.n % c.tile != 0);
    c.count = parts < 1 ? 1 : parts;
    if (max_len > 0) {
        const ptrdiff_t max_tiles = max_len / c.tile < 1 ? 1 : max_len / c.tile;
        if (c.count < (c.tiles + max_tiles - 1) / max_tiles) c.count = (c.tiles + max_tiles - 1) / max_tiles;
    }
    if (threads > 1) c.count = (c.count + threads - 1) / threads * threads;
    if (c.count > c.tiles) c.count = c.tiles;
    if (c.count < 1) c.count = 1;
    return c;
}

/* Where item i starts (i == count gives n): tiles * i / count tiles in,
 * computed without the product tiles * i, which overflows on long ranges. */
static inline ptrdiff_t ln_cut_at(const ln_cuts *c, ptrdiff_t i)
{
    const ptrdiff_t whole = c->tiles / c->count, spare = c->tiles % c->count;
    const ptrdiff_t at = (whole * i + spare * i / c->count) * c->tile;
    return at < c->n ? at : c->n;
}

/* A bound on every item's length, for sizing buffers: the longest item's
 * length, or less than a tile over it when that item is the short last one. */
static inline ptrdiff_t ln_cut_longest(const ln_cuts *c)
{
    const ptrdiff_t len = (c->tiles + c->count - 1) / c->count * c->tile;
    return len < c->n ? len : c->n;
}

#endif /* LN_POOL_H */
