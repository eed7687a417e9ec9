/* test_pool.c: the thread pool (framework/pool.h).
 *
 * Oracle: counting. Every item of every job must run exactly once, on a
 * slot below the job's thread count, with no two running items sharing a
 * slot (per-slot buffers rely on it), and the call must return only after
 * the last item has finished. Checked for many (threads, items) shapes,
 * items of uneven length, thousands of back-to-back tiny jobs (the job
 * tags' protocol), jobs from several threads at once (one owns the pool,
 * the others run on their own thread), a job started from inside an item,
 * more threads than cores, a job in a child after fork, and the back-off
 * after a stalled job. The cuts that jobs split ranges with (ln_cuts) are
 * checked by their defining properties over every small shape: items tile
 * [0, n) in order, start on tile boundaries, differ by at most one tile, and
 * come in multiples of the thread count within the length limit.
 *
 * Items record what happened in atomics; CHECK (not thread-safe) runs on
 * the main thread afterwards.
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "framework/pool.h"

#define MAX_ITEMS 4096

typedef struct {
    int threads;                  /* the job's thread count */
    ptrdiff_t n_items;
    int runs[MAX_ITEMS];          /* times each item ran */
    int slot_busy[LN_POOL_MAX_THREADS];
    int slot_clash;               /* an item started on a slot another item was using */
    int slot_out_of_range;
    int finished;                 /* items finished */
    int spin;                     /* work per item, in loop iterations (item i: spin * (i % 7)) */
    int nested;                   /* each item runs a small job of its own */
    int nested_bad;
} job_log;

static void burn(int n)
{
    volatile double x = 1;
    int i;
    for (i = 0; i < n; ++i) x = x * 1.0000001 + 1e-9;
}

static void count_item(void *ctx, ptrdiff_t i, int slot)
{
    int *hits = (int *)ctx;
    (void)slot;
    __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
}

static void log_item(void *ctx, ptrdiff_t i, int slot)
{
    job_log *g = (job_log *)ctx;
    if (slot < 0 || slot >= g->threads || slot >= LN_POOL_MAX_THREADS) {
        __atomic_store_n(&g->slot_out_of_range, 1, __ATOMIC_RELAXED);
    } else if (__atomic_exchange_n(&g->slot_busy[slot], 1, __ATOMIC_ACQ_REL)) {
        __atomic_store_n(&g->slot_clash, 1, __ATOMIC_RELAXED);
    }
    if (i >= 0 && i < MAX_ITEMS) __atomic_add_fetch(&g->runs[i], 1, __ATOMIC_RELAXED);
    burn(g->spin * (int)(i % 7));
    if (g->nested) {
        int hits[5] = { 0 }, k;
        ln_pool_run(3, 5, count_item, hits);
        for (k = 0; k < 5; ++k)
            if (hits[k] != 1) __atomic_store_n(&g->nested_bad, 1, __ATOMIC_RELAXED);
    }
    if (slot >= 0 && slot < LN_POOL_MAX_THREADS) __atomic_store_n(&g->slot_busy[slot], 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&g->finished, 1, __ATOMIC_RELEASE);
}

/* Runs one logged job; returns 1 if every check passed. */
static int run_logged(job_log *g, int threads, ptrdiff_t n_items, int spin, int nested, const char *what)
{
    ptrdiff_t i;
    int clamped = threads < 1 ? 1 : threads > LN_POOL_MAX_THREADS ? LN_POOL_MAX_THREADS : threads;
    int once = 1;
    memset(g, 0, sizeof *g);
    g->threads = clamped;
    g->n_items = n_items;
    g->spin = spin;
    g->nested = nested;
    ln_pool_run(threads, n_items, log_item, g);
    /* Everything is finished when the call returns */
    if (!CHECK(__atomic_load_n(&g->finished, __ATOMIC_ACQUIRE) == n_items,
               "%s: threads %d, %td items: %d finished when the call returned", what, threads, n_items,
               g->finished))
        return 0;
    for (i = 0; i < n_items; ++i) once &= g->runs[i] == 1;
    return CHECK(once, "%s: threads %d, %td items: an item ran other than once", what, threads, n_items)
        && CHECK(!g->slot_out_of_range, "%s: threads %d: a slot outside 0..%d", what, threads, clamped - 1)
        && CHECK(!g->slot_clash, "%s: threads %d: two running items shared a slot", what, threads)
        && CHECK(!g->nested_bad, "%s: threads %d: a job started inside an item lost items", what, threads);
}

static job_log log_main;

static void test_shapes(void)
{
    static const int threads[] = { 0, 1, 2, 3, 4, 8, 64, 100 };
    static const ptrdiff_t items[] = { 0, 1, 2, 3, 5, 8, 17, 64, 1000, MAX_ITEMS };
    size_t a, b;
    int ok = 1;
    for (a = 0; a < sizeof threads / sizeof *threads; ++a)
        for (b = 0; b < sizeof items / sizeof *items; ++b) {
            ok &= run_logged(&log_main, threads[a], items[b], 0, 0, "shapes");
            ok &= run_logged(&log_main, threads[a], items[b], 2000, 0, "uneven items");
        }
    printf("shapes: %d thread counts x %d item counts, even and uneven items: %s\n",
           (int)(sizeof threads / sizeof *threads), (int)(sizeof items / sizeof *items), ok ? "ok" : "FAILED");
}

static void test_back_to_back(void)
{
    const int jobs = REPS(20000, 2000);
    int j, ok = 1;
    for (j = 0; j < jobs && ok; ++j)
        ok &= run_logged(&log_main, 2 + j % 3, 1 + j % 5, j % 11 == 0 ? 500 : 0, 0, "back to back");
    printf("back to back: %d tiny jobs: %s\n", jobs, ok ? "ok" : "FAILED");
}

static void test_nested(void)
{
    int ok = run_logged(&log_main, 2, 16, 100, 1, "nested");
    printf("nested: a job started inside each item runs all its items: %s\n", ok ? "ok" : "FAILED");
}

/* Several threads each run jobs: one owns the pool at a time; the others run
 * theirs alone. All must complete exactly. */
#define N_OWNERS 4
typedef struct {
    job_log log;
    int jobs, failures;
} owner_arg;

static void *owner_main(void *p)
{
    owner_arg *o = (owner_arg *)p;
    int j;
    for (j = 0; j < o->jobs; ++j) {
        ptrdiff_t i, n = 1 + (j * 7 + 3) % 40;
        int bad = 0;
        memset(&o->log, 0, sizeof o->log);
        o->log.threads = 3;
        o->log.n_items = n;
        o->log.spin = j % 3 ? 0 : 300;
        ln_pool_run(3, n, log_item, &o->log);
        if (__atomic_load_n(&o->log.finished, __ATOMIC_ACQUIRE) != n) bad = 1;
        for (i = 0; i < n; ++i) bad |= o->log.runs[i] != 1;
        bad |= o->log.slot_clash | o->log.slot_out_of_range;
        o->failures += bad;
    }
    return NULL;
}

static void test_concurrent_owners(void)
{
    pthread_t th[N_OWNERS];
    static owner_arg args[N_OWNERS];
    int t, started = 0, failures = 0;
    for (t = 0; t < N_OWNERS; ++t) {
        args[t].jobs = REPS(3000, 300);
        args[t].failures = 0;
        if (pthread_create(&th[t], NULL, owner_main, &args[t]) == 0) started++;
        else break;
    }
    for (t = 0; t < started; ++t) {
        pthread_join(th[t], NULL);
        failures += args[t].failures;
    }
    CHECK(started == N_OWNERS, "started %d of %d owner threads", started, N_OWNERS);
    CHECK(failures == 0, "concurrent owners: %d jobs went wrong", failures);
    printf("concurrent owners: %d threads x %d jobs: %s\n", started, args[0].jobs,
           started == N_OWNERS && failures == 0 ? "ok" : "FAILED");
}

/* After fork, the child has no helpers; its jobs must still run, threaded.
 * LN_TEST_NO_FORK: qemu-user cannot run a multithreaded program's child
 * after fork (it aborts with "cpu == current_cpu"), so the emulated build
 * leaves this to the native runs. */
static void test_fork(void)
{
    pid_t pid;
    int status = 0, ok;
#ifdef LN_TEST_NO_FORK
    printf("fork: not run in this build (LN_TEST_NO_FORK: the emulator cannot fork threads)\n");
    return;
#endif
    ok = run_logged(&log_main, 2, 64, 100, 0, "before fork");
    pid = fork();
    if (pid == 0) {
        job_log g;
        int child_ok = run_logged(&g, 2, 64, 100, 0, "child after fork")
            && run_logged(&g, 3, 1000, 0, 0, "child after fork");
        _exit(child_ok && n_fail == 0 ? 0 : 1);
    }
    if (!CHECK(pid > 0, "fork failed")) return;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's jobs after fork went wrong (status %d)",
          status);
    ok &= run_logged(&log_main, 2, 64, 100, 0, "parent after fork");
    printf("fork: jobs before, in the child, and after: %s\n",
           ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "FAILED");
}

/* More items than a share word holds: the job runs, on the caller alone. */
static void test_many_items(void)
{
    static int hits[70000];
    const ptrdiff_t n = 70000;
    ptrdiff_t i;
    int once = 1;
    ln_pool_run(2, n, count_item, hits);
    for (i = 0; i < n; ++i) once &= hits[i] == 1;
    CHECK(once, "a job of %td items: an item ran other than once", n);
    printf("many items: %td items each ran once: %s\n", n, once ? "ok" : "FAILED");
}

/* Back-off: items that record their slot and burn some work; with
 * `stall`, a helper's item sleeps 20 ms (as if its core had been taken
 * away) and the caller's waits until a helper has started, so the caller
 * works for less time than it then waits. */
typedef struct {
    int stall;
    int burn;
    int helper_started;
    int slots_used;               /* bit s: an item ran on slot s */
} slot_log;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void slot_item(void *ctx, ptrdiff_t i, int slot)
{
    slot_log *g = (slot_log *)ctx;
    (void)i;
    __atomic_or_fetch(&g->slots_used, 1 << (slot & 31), __ATOMIC_RELAXED);
    if (g->stall && slot != 0) {
        __atomic_store_n(&g->helper_started, 1, __ATOMIC_RELEASE);
        usleep(20000);
    } else if (g->stall) {
        const int64_t t0 = now_ns();
        while (!__atomic_load_n(&g->helper_started, __ATOMIC_ACQUIRE) && now_ns() - t0 < 50000000) burn(100);
    } else {
        burn(g->burn);
    }
}

static int run_slots(int threads, ptrdiff_t n_items, int stall, int burn_per_item)
{
    slot_log g = { stall, burn_per_item, 0, 0 };
    ln_pool_run(threads, n_items, slot_item, &g);
    return g.slots_used;
}

/* A stall (the caller waiting for a helper's item much longer than it
 * worked) sends the next job to the caller alone; after the back-off,
 * helpers take part again. A try is inconclusive, and repeated, when the
 * helper never joined or the machine kept this thread away for most of the
 * 20 ms back-off between the two jobs. */
static void test_backoff(void)
{
    int tries, conclusive = 0, solo = 0, back = 0;
    if (!ln_pool_enabled()) {
        printf("back-off: no pool in this build\n");
        return;
    }
    ln_pool_set_backoff(1);
    for (tries = 0; tries < 50 && !conclusive; ++tries) {
        int64_t t_end;
        usleep(tries ? 700000 : 0);   /* past any back-off a previous try started (at most 640 ms) */
        if (run_slots(2, 2, 1, 0) != 3) continue;
        t_end = now_ns();
        solo = run_slots(2, 64, 0, 0);
        conclusive = now_ns() - t_end < 10000000;
    }
    CHECK(conclusive, "no conclusive try in 50: a helper never took the slow item in time");
    CHECK(solo == 1, "the job after a stall ran on slots %#x, expected the caller's alone (0x1)", solo);
    /* The back-off is 20 ms (up to 640 ms after inconclusive tries); jobs of
     * 16 items of some work, 30 ms apart, let a helper join once it is over */
    for (tries = 0; tries < 100 && !back; ++tries) {
        usleep(30000);
        back = (run_slots(2, 16, 0, 20000) & 2) != 0;
    }
    CHECK(back, "helpers never took part again after the back-off (100 jobs, 30 ms apart)");
    printf("back-off: a stall, then the next job on the caller alone, then helpers again: %s\n",
           conclusive && solo == 1 && back ? "ok" : "FAILED");
    ln_pool_set_backoff(0);
}

/* ln_cuts over every small shape, against its properties. */
static void test_cuts(void)
{
    static const int tiles_of[] = { 1, 6, 16, 64, 256 };
    static const ptrdiff_t sizes[] = { 1000003, 1 << 20 };
    ptrdiff_t n;
    int ti, parts, threads, li, si;
    for (ti = 0; ti < 5; ti++) {
        const int tile = tiles_of[ti];
        for (n = 0; n <= 700; n++)
            for (parts = 1; parts <= 17; parts += 2)
                for (threads = 1; threads <= 4; threads++)
                    for (li = 0; li < 4; li++) {
                        const ptrdiff_t max_len = li == 0 ? 0 : li == 1 ? tile : li == 2 ? 3 * tile + 1 : 100;
                        const ln_cuts c = ln_cuts_make(n, tile, parts, threads, max_len);
                        const ptrdiff_t tiles = (n + tile - 1) / tile;
                        const ptrdiff_t max_tiles = max_len / tile < 1 ? 1 : max_len / tile;
                        ptrdiff_t i, shortest = n + 1, longest = 0, want = parts;
                        int ok = c.count >= 1 && c.count <= (tiles > 1 ? tiles : 1)
                                 && ln_cut_at(&c, 0) == 0 && ln_cut_at(&c, c.count) == n;
                        for (i = 0; ok && i < c.count; i++) {
                            const ptrdiff_t lo = ln_cut_at(&c, i), hi = ln_cut_at(&c, i + 1);
                            ok = lo <= hi && (lo == n || lo % tile == 0)
                                 && (hi == n || hi - lo <= max_tiles * tile || max_len == 0);
                            if (i + 1 < c.count || hi - lo == (hi - lo + tile - 1) / tile * tile) {
                                /* whole-tile items: the last one may end short at n */
                                if (hi - lo < shortest) shortest = hi - lo;
                            }
                            if (hi - lo > longest) longest = hi - lo;
                        }
                        /* the count asked for: parts, raised to keep items within max_len, to a
                         * multiple of threads, and at most one per tile */
                        if (max_len > 0 && want < (tiles + max_tiles - 1) / max_tiles)
                            want = (tiles + max_tiles - 1) / max_tiles;
                        if (threads > 1) want = (want + threads - 1) / threads * threads;
                        if (want > tiles) want = tiles;
                        if (want < 1) want = 1;
                        CHECK(ok && c.count == want && longest <= ln_cut_longest(&c) && ln_cut_longest(&c) - longest < tile
                                  && (tiles < c.count || longest - shortest <= tile || shortest > n),
                              "ln_cuts(n %td, tile %d, parts %d, threads %d, max_len %td): count %td "
                              "(want %td), longest %td (reported %td), shortest whole %td",
                              n, tile, parts, threads, max_len, c.count, want, longest,
                              ln_cut_longest(&c), shortest);
                    }
    }
    /* Long ranges: the item positions stay exact */
    for (si = 0; si < 2; si++)
        for (threads = 1; threads <= 64; threads *= 4) {
            const ln_cuts c = ln_cuts_make(sizes[si], 64, LN_POOL_ITEMS_PER_THREAD * threads, threads, 0);
            ptrdiff_t i, covered = 0;
            for (i = 0; i < c.count; i++) covered += ln_cut_at(&c, i + 1) - ln_cut_at(&c, i);
            CHECK(covered == sizes[si] && c.count == LN_POOL_ITEMS_PER_THREAD * threads,
                  "ln_cuts(%td, 64, %d threads): %td items cover %td", sizes[si], threads, c.count, covered);
        }
    /* Ranges where tiles * count overflows: sampled items still hold whole
     * or whole + 1 tiles, and the ends are exact */
    for (si = 0; si < 3; si++) {
        const ptrdiff_t big = PTRDIFF_MAX / 4 - si * 1000003;
        const ln_cuts c = ln_cuts_make(big, 1 + si, (ptrdiff_t)1 << 24, 1, 0);
        const ptrdiff_t whole = c.tiles / c.count * c.tile;
        static const double where[] = { 0.0, 0.3, 0.5, 0.999 };
        int w;
        CHECK(ln_cut_at(&c, 0) == 0 && ln_cut_at(&c, c.count) == big,
              "ln_cuts(%td, tile %d): ends %td and %td", big, 1 + si, ln_cut_at(&c, 0),
              ln_cut_at(&c, c.count));
        for (w = 0; w < 4; w++) {
            const ptrdiff_t i = (ptrdiff_t)(where[w] * (double)(c.count - 1));
            const ptrdiff_t len = ln_cut_at(&c, i + 1) - ln_cut_at(&c, i);
            CHECK(len == whole || len == whole + c.tile,
                  "ln_cuts(%td, tile %d): item %td of %td holds %td (whole %td)", big, 1 + si, i,
                  c.count, len, whole);
        }
    }
}

/* A lost item or a lost wake-up shows as a job that never returns. */
static void timed_out(int sig)
{
    static const char msg[] = "FAIL test_pool: a job did not return within 300 s\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

int main(void)
{
    signal(SIGALRM, timed_out);
    alarm(300);
    printf("threads enabled %d, processors %d\n", ln_pool_enabled(), ln_pool_processors());
    CHECK(ln_pool_processors() >= 1, "ln_pool_processors() = %d", ln_pool_processors());
    ln_pool_set_backoff(0);   /* the protocol tests keep their threads whatever the load */
    test_shapes();
    test_back_to_back();
    test_nested();
    test_concurrent_owners();
    test_fork();
    test_many_items();
    test_backoff();
    test_cuts();
    printf("test_pool: %ld checks, %ld failed\n", n_checks, n_fail);
    return n_fail ? 1 : 0;
}
