/* pool.c: see pool.h.
 *
 * Lock-free in the hot path. The published job is one 64-bit word: a tag
 * (the job's number, 32 bits), how many helpers have joined and how many it
 * wants. Each share is a word of the same tag, its next item and its end,
 * claimed by compare-and-swap, so a helper that was preempted and resumes
 * after its job ended fails its claim on the newer tag and touches nothing.
 * The job's description (function, context, item count) is only rewritten
 * after every item of the previous job has finished, and a successful claim
 * proves its job was still unfinished, so whoever reads the description
 * after a claim reads that item's job's.
 *
 * Sleeping uses one mutex and two condition variables; the flags that say
 * someone sleeps are checked after the state they wait on is published
 * (sequentially consistent on both sides), so no wake-up is lost.
 */
#define _GNU_SOURCE 1   /* sched_getaffinity, CPU_COUNT, clock_gettime */
#include "framework/pool.h"

#include <stdint.h>

#if (defined(__unix__) || defined(__APPLE__)) && defined(__GNUC__) && !defined(LN_NO_THREADS)
#define LN_POOL 1
#else
#define LN_POOL 0
#endif

#if LN_POOL
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* How long an idle helper spins for the next job before it sleeps (steps
 * of a training loop come microseconds apart), and how long the caller
 * spins for the last items before it sleeps (which also frees its core for
 * a helper that the scheduler had to park). */
#define LN_POOL_IDLE_SPIN_NS 200000
#define LN_POOL_WAIT_SPIN_NS 50000

/* A stalled job: the caller waited for a started item more than
 * LN_POOL_STALL_NS and more than it worked, or more than LN_POOL_STALL_MIN_NS
 * and LN_POOL_STALL_RATIO times what it worked: a helper lost its core
 * mid-item. Beside one busy process that costs a scheduler time slice (4 ms
 * measured here), or about 0.1 ms on a 10 us job. A helper that was only
 * slowed (a cold cache, a short pause of the VM by its host) finishes up to
 * about twice the caller's work late; counting those too (the rule was
 * "over 0.1 ms and over the work") sent a 200 us product to one thread for
 * most of a run on an idle VM.
 * After a stall, jobs run on the caller alone for a back-off that doubles
 * with each stall (LN_POOL_BACKOFF_NS to LN_POOL_BACKOFF_MAX_NS) and is
 * forgotten once twice its length passes without a stall, so an idle VM's
 * occasional longer host pauses cost one short back-off each (a fixed 2 s
 * let pauses a second apart hold the longest). On a busy machine a short
 * job costs its one-thread time instead of a time slice, with one probe of
 * the threads per back-off, and the threads come back within a back-off
 * once the machine is quiet. Jobs long enough that a slice is a small part
 * of them keep their threads: they do not stall by this measure. */
#define LN_POOL_STALL_NS 1000000
#define LN_POOL_STALL_MIN_NS 100000
#define LN_POOL_STALL_RATIO 4
#define LN_POOL_BACKOFF_NS 20000000
#define LN_POOL_BACKOFF_MAX_NS 640000000

#if defined(__x86_64__) || defined(__i386__)
#define LN_CPU_RELAX() __asm__ __volatile__("pause" ::: "memory")
#elif defined(__aarch64__) || defined(__arm__)
#define LN_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define LN_CPU_RELAX() __asm__ __volatile__("" ::: "memory")
#endif

#define LN_LOAD(p, order) __atomic_load_n((p), __ATOMIC_##order)
#define LN_STORE(p, v, order) __atomic_store_n((p), (v), __ATOMIC_##order)
#define LN_CAS(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define LN_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

#define LN_CACHE_LINE 64

/* job word: tag << 32 | joined << 16 | wanted */
#define LN_JOB_TAG(w) ((uint32_t)((w) >> 32))
#define LN_JOB_JOINED(w) ((int)(((w) >> 16) & 0xffff))
#define LN_JOB_WANTED(w) ((int)((w) & 0xffff))
/* share word: tag << 32 | next item << 16 | end of the share */
#define LN_SHARE_NEXT(w) ((ptrdiff_t)(((w) >> 16) & 0xffff))
#define LN_SHARE_END(w) ((ptrdiff_t)((w) & 0xffff))
#define LN_SHARE_ONE ((uint64_t)1 << 16)
/* Items a threaded job may have (more run on the caller) */
#define LN_POOL_MAX_ITEMS 0xffff

typedef struct {
    uint64_t word;
    char pad[LN_CACHE_LINE - sizeof(uint64_t)];
} ln_share;

static struct {
    uint64_t job;                                 /* the published job word */
    char pad0[LN_CACHE_LINE - sizeof(uint64_t)];
    ln_item_fn fn;                                /* the job's description */
    void *ctx;
    ptrdiff_t n_items;
    int n_shares;
    char pad1[LN_CACHE_LINE];
    ptrdiff_t done;                               /* items finished */
    char pad2[LN_CACHE_LINE - sizeof(ptrdiff_t)];
    ln_share share[LN_POOL_MAX_THREADS];
    int busy;                                     /* a caller owns the pool */
    int sleepers;                                 /* helpers asleep, or about to be */
    int owner_asleep;                             /* the caller sleeps until done == n_items */
    int n_helpers;                                /* helper threads started */
    uint32_t tag;                                 /* the last job's tag (owner only) */
    int64_t solo_until;                           /* run on the caller alone until then (owner only) */
    int64_t backoff_ns;                           /* the last back-off, 0 once forgotten (owner only) */
    int64_t last_stall;                           /* when the last stalled job ended (owner only) */
} ln_pool_state;

static pthread_mutex_t ln_pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ln_pool_wake = PTHREAD_COND_INITIALIZER;      /* helpers: a new job */
static pthread_cond_t ln_pool_finished = PTHREAD_COND_INITIALIZER;  /* the caller: last item done */
static pthread_once_t ln_pool_once = PTHREAD_ONCE_INIT;

static int64_t ln_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Item bounds of share p: [n p / shares, n (p+1) / shares). */
static ptrdiff_t ln_share_start(ptrdiff_t n, int p, int shares)
{
    return (ptrdiff_t)((int64_t)n * p / shares);
}

/* Claim and run items of job `tag` as participant `slot`: its own share
 * first, then the others'. Returns when no item of the job is left to claim.
 * A claim needs nothing but its share word (tag, next, end), and the job's
 * function, context and item count are read only after a claim succeeds:
 * the job then still has an unfinished item, so its description has not
 * been replaced. (Read before the claim, a helper arriving as its job ends
 * could pair the newer job's description with the older job's claim.) */
static void ln_run_items(uint32_t tag, int slot)
{
    const int shares = LN_LOAD(&ln_pool_state.n_shares, RELAXED);
    int s;
    /* A count read while a newer job was being written only sends this
     * participant to share words of another tag, which end its part. */
    if (shares < 1 || shares > LN_POOL_MAX_THREADS) return;
    for (s = 0; s < shares; ++s) {
        const int p = (slot + s) % shares;
        uint64_t w = LN_LOAD(&ln_pool_state.share[p].word, ACQUIRE);
        for (;;) {
            ln_item_fn fn;
            if (LN_JOB_TAG(w) != tag) return;                  /* the job is over */
            if (LN_SHARE_NEXT(w) >= LN_SHARE_END(w)) break;    /* this share is empty */
            if (!LN_CAS(&ln_pool_state.share[p].word, &w, w + LN_SHARE_ONE)) continue;
            fn = LN_LOAD(&ln_pool_state.fn, RELAXED);
            fn(LN_LOAD(&ln_pool_state.ctx, RELAXED), LN_SHARE_NEXT(w), slot);
            if (LN_ADD(&ln_pool_state.done, 1) == LN_LOAD(&ln_pool_state.n_items, RELAXED)
                && LN_LOAD(&ln_pool_state.owner_asleep, SEQ_CST)) {
                pthread_mutex_lock(&ln_pool_mutex);
                pthread_cond_signal(&ln_pool_finished);
                pthread_mutex_unlock(&ln_pool_mutex);
            }
            w = LN_LOAD(&ln_pool_state.share[p].word, ACQUIRE);
        }
    }
}

/* A helper: wait for a job with a new tag, join it if it wants more
 * helpers, run items, repeat. */
static void *ln_helper_main(void *arg)
{
    uint32_t seen = 0;
    (void)arg;
    for (;;) {
        uint64_t w = LN_LOAD(&ln_pool_state.job, ACQUIRE);
        if (LN_JOB_TAG(w) == seen) {
            /* Spin for a while, then sleep until a job is published */
            const int64_t t0 = ln_now_ns();
            unsigned i;
            for (i = 1; LN_JOB_TAG(w = LN_LOAD(&ln_pool_state.job, ACQUIRE)) == seen; ++i) {
                LN_CPU_RELAX();
                if ((i & 255) == 0 && ln_now_ns() - t0 > LN_POOL_IDLE_SPIN_NS) break;
            }
            if (LN_JOB_TAG(w) == seen) {
                pthread_mutex_lock(&ln_pool_mutex);
                LN_ADD(&ln_pool_state.sleepers, 1);
                while (LN_JOB_TAG(w = LN_LOAD(&ln_pool_state.job, SEQ_CST)) == seen)
                    pthread_cond_wait(&ln_pool_wake, &ln_pool_mutex);
                LN_ADD(&ln_pool_state.sleepers, -1);
                pthread_mutex_unlock(&ln_pool_mutex);
            }
        }
        seen = LN_JOB_TAG(w);
        /* Join: take the next helper slot, unless the job has all it wants
         * or a newer job replaced it (then the loop sees the newer tag) */
        while (LN_JOB_TAG(w) == seen && LN_JOB_JOINED(w) < LN_JOB_WANTED(w)) {
            if (LN_CAS(&ln_pool_state.job, &w, w + (1u << 16))) {
                ln_run_items(seen, LN_JOB_JOINED(w) + 1);
                break;
            }
        }
    }
    return NULL;
}

/* After fork the child has no helpers: start over. */
static void ln_pool_after_fork_child(void)
{
    pthread_mutex_init(&ln_pool_mutex, NULL);
    pthread_cond_init(&ln_pool_wake, NULL);
    pthread_cond_init(&ln_pool_finished, NULL);
    ln_pool_state.n_helpers = 0;
    ln_pool_state.busy = 0;
    ln_pool_state.sleepers = 0;
    ln_pool_state.owner_asleep = 0;
    ln_pool_state.solo_until = 0;
    ln_pool_state.backoff_ns = 0;
    ln_pool_state.last_stall = 0;
}

static void ln_pool_setup(void)
{
    pthread_atfork(NULL, NULL, ln_pool_after_fork_child);
}

/* Start helpers until there are `want` (or thread creation fails). Helpers
 * block every signal, so signals keep going to the threads that expect them. */
static int ln_pool_grow(int want)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (ln_pool_state.n_helpers < want) {
        pthread_t th;
        pthread_attr_t attr;
        int ok;
        if (pthread_attr_init(&attr) != 0) break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&th, &attr, ln_helper_main, NULL) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) break;
        ln_pool_state.n_helpers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ln_pool_state.n_helpers;
}

/* The caller's wait for the last items: spin, then sleep. */
static void ln_pool_wait(ptrdiff_t n)
{
    const int64_t t0 = ln_now_ns();
    unsigned i;
    for (i = 1; LN_LOAD(&ln_pool_state.done, ACQUIRE) != n; ++i) {
        LN_CPU_RELAX();
        if ((i & 255) == 0 && ln_now_ns() - t0 > LN_POOL_WAIT_SPIN_NS) break;
    }
    if (LN_LOAD(&ln_pool_state.done, ACQUIRE) == n) return;
    pthread_mutex_lock(&ln_pool_mutex);
    LN_STORE(&ln_pool_state.owner_asleep, 1, SEQ_CST);
    while (LN_LOAD(&ln_pool_state.done, SEQ_CST) != n) pthread_cond_wait(&ln_pool_finished, &ln_pool_mutex);
    LN_STORE(&ln_pool_state.owner_asleep, 0, RELAXED);
    pthread_mutex_unlock(&ln_pool_mutex);
}

/* After a threaded job: a stall starts (or doubles) the back-off, which is
 * forgotten once twice its length passes without a stall. Times are the job's
 * start, the end of the caller's last item, and the job's end. */
static int ln_pool_backoff_on = 1;

void ln_pool_set_backoff(int on) { LN_STORE(&ln_pool_backoff_on, on != 0, RELAXED); }

static void ln_pool_note_wait(int64_t start, int64_t worked, int64_t end)
{
    const int64_t work = worked - start, wait = end - worked;
    const int stalled = (wait > LN_POOL_STALL_NS && wait > work)
                        || (wait > LN_POOL_STALL_MIN_NS && wait > LN_POOL_STALL_RATIO * work);
    if (stalled && LN_LOAD(&ln_pool_backoff_on, RELAXED)) {
        int64_t b = ln_pool_state.backoff_ns ? 2 * ln_pool_state.backoff_ns : LN_POOL_BACKOFF_NS;
        ln_pool_state.backoff_ns = b < LN_POOL_BACKOFF_MAX_NS ? b : LN_POOL_BACKOFF_MAX_NS;
        ln_pool_state.solo_until = end + ln_pool_state.backoff_ns;
        ln_pool_state.last_stall = end;
    } else if (ln_pool_state.backoff_ns && end - ln_pool_state.last_stall > 2 * ln_pool_state.backoff_ns) {
        ln_pool_state.backoff_ns = 0;
    }
}

void ln_pool_run(int threads, ptrdiff_t n_items, ln_item_fn fn, void *ctx)
{
    ptrdiff_t i;
    uint32_t tag;
    int p;
    int64_t start, worked;
    if (n_items <= 0) return;
    if (threads > LN_POOL_MAX_THREADS) threads = LN_POOL_MAX_THREADS;
    if (threads > n_items) threads = (int)n_items;
    /* One participant, more items than a share word holds, or the pool in
     * use (another thread's job, or a call from inside an item): run here */
    if (threads <= 1 || n_items > LN_POOL_MAX_ITEMS || __atomic_exchange_n(&ln_pool_state.busy, 1, __ATOMIC_ACQUIRE)) {
        for (i = 0; i < n_items; ++i) fn(ctx, i, 0);
        return;
    }
    pthread_once(&ln_pool_once, ln_pool_setup);
    if (ln_pool_state.n_helpers < threads - 1) {
        pthread_mutex_lock(&ln_pool_mutex);
        threads = 1 + ln_pool_grow(threads - 1) < threads ? 1 + ln_pool_state.n_helpers : threads;
        pthread_mutex_unlock(&ln_pool_mutex);
    }
    start = ln_now_ns();
    if (threads <= 1 || (start < ln_pool_state.solo_until && LN_LOAD(&ln_pool_backoff_on, RELAXED))) {
        for (i = 0; i < n_items; ++i) fn(ctx, i, 0);
        LN_STORE(&ln_pool_state.busy, 0, RELEASE);
        return;
    }

    /* Describe the job, deal the shares, then publish it */
    tag = ++ln_pool_state.tag;
    if (tag == 0) tag = ln_pool_state.tag = 1;   /* 0 is what a new helper has seen */
    LN_STORE(&ln_pool_state.fn, fn, RELAXED);
    LN_STORE(&ln_pool_state.ctx, ctx, RELAXED);
    LN_STORE(&ln_pool_state.n_items, n_items, RELAXED);
    LN_STORE(&ln_pool_state.n_shares, threads, RELAXED);
    LN_STORE(&ln_pool_state.done, 0, RELAXED);
    for (p = 0; p < threads; ++p)
        LN_STORE(&ln_pool_state.share[p].word,
                 (uint64_t)tag << 32 | (uint64_t)ln_share_start(n_items, p, threads) << 16
                     | (uint64_t)ln_share_start(n_items, p + 1, threads), RELAXED);
    LN_STORE(&ln_pool_state.job, (uint64_t)tag << 32 | (uint64_t)(threads - 1), SEQ_CST);
    if (LN_LOAD(&ln_pool_state.sleepers, SEQ_CST) > 0) {
        pthread_mutex_lock(&ln_pool_mutex);
        pthread_cond_broadcast(&ln_pool_wake);
        pthread_mutex_unlock(&ln_pool_mutex);
    }

    ln_run_items(tag, 0);
    worked = ln_now_ns();
    ln_pool_wait(n_items);
    ln_pool_note_wait(start, worked, ln_now_ns());
    LN_STORE(&ln_pool_state.busy, 0, RELEASE);
}

int ln_pool_enabled(void) { return 1; }

int ln_pool_processors(void)
{
    long n;
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1 << 16 ? 1 << 16 : (int)n;
}

#else /* no pool: every job runs on the caller */

void ln_pool_run(int threads, ptrdiff_t n_items, ln_item_fn fn, void *ctx)
{
    ptrdiff_t i;
    (void)threads;
    for (i = 0; i < n_items; ++i) fn(ctx, i, 0);
}

int ln_pool_enabled(void) { return 0; }

int ln_pool_processors(void) { return 1; }

void ln_pool_set_backoff(int on) { (void)on; }

#endif
