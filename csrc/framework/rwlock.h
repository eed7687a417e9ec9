/* rwlock.h: a writer-preferring reader/writer lock.
 *
 * Forward passes (predict, loss, gradients) take it shared; a parameter
 * update takes it exclusive, so a concurrent predict sees the parameters of
 * before or after a step, never a mixture. A waiting writer blocks new
 * readers, so a stream of predictions cannot starve training. Built on a
 * mutex and two condition variables (POSIX), or an SRW lock (Windows). */
#ifndef LN_RWLOCK_H
#define LN_RWLOCK_H

#if defined(_WIN32)
#include <windows.h>
typedef struct { SRWLOCK lock; } ln_rwlock;
#else
#include <pthread.h>
typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t readers_ok, writer_ok;
    int readers;           /* holding it shared */
    int writer;            /* 1 while a writer holds it */
    int writers_waiting;
} ln_rwlock;
#endif

int ln_rwlock_init(ln_rwlock *l);     /* 0 on success */
void ln_rwlock_destroy(ln_rwlock *l);
void ln_rwlock_read(ln_rwlock *l);
void ln_rwlock_read_done(ln_rwlock *l);
void ln_rwlock_write(ln_rwlock *l);
void ln_rwlock_write_done(ln_rwlock *l);

#endif /* LN_RWLOCK_H */
