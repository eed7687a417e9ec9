/* rwlock.c: see rwlock.h. */
#include "framework/rwlock.h"

#if defined(_WIN32)

int ln_rwlock_init(ln_rwlock *l) { InitializeSRWLock(&l->lock); return 0; }
void ln_rwlock_destroy(ln_rwlock *l) { (void)l; }
void ln_rwlock_read(ln_rwlock *l) { AcquireSRWLockShared(&l->lock); }
void ln_rwlock_read_done(ln_rwlock *l) { ReleaseSRWLockShared(&l->lock); }
void ln_rwlock_write(ln_rwlock *l) { AcquireSRWLockExclusive(&l->lock); }
void ln_rwlock_write_done(ln_rwlock *l) { ReleaseSRWLockExclusive(&l->lock); }

#else

int ln_rwlock_init(ln_rwlock *l)
{
    l->readers = l->writer = l->writers_waiting = 0;
    if (pthread_mutex_init(&l->mutex, NULL) != 0) return -1;
    if (pthread_cond_init(&l->readers_ok, NULL) != 0) {
        pthread_mutex_destroy(&l->mutex);
        return -1;
    }
    if (pthread_cond_init(&l->writer_ok, NULL) != 0) {
        pthread_cond_destroy(&l->readers_ok);
        pthread_mutex_destroy(&l->mutex);
        return -1;
    }
    return 0;
}

void ln_rwlock_destroy(ln_rwlock *l)
{
    pthread_cond_destroy(&l->writer_ok);
    pthread_cond_destroy(&l->readers_ok);
    pthread_mutex_destroy(&l->mutex);
}

void ln_rwlock_read(ln_rwlock *l)
{
    pthread_mutex_lock(&l->mutex);
    while (l->writer || l->writers_waiting) pthread_cond_wait(&l->readers_ok, &l->mutex);
    l->readers++;
    pthread_mutex_unlock(&l->mutex);
}

void ln_rwlock_read_done(ln_rwlock *l)
{
    pthread_mutex_lock(&l->mutex);
    if (--l->readers == 0 && l->writers_waiting) pthread_cond_signal(&l->writer_ok);
    pthread_mutex_unlock(&l->mutex);
}

void ln_rwlock_write(ln_rwlock *l)
{
    pthread_mutex_lock(&l->mutex);
    l->writers_waiting++;
    while (l->writer || l->readers) pthread_cond_wait(&l->writer_ok, &l->mutex);
    l->writers_waiting--;
    l->writer = 1;
    pthread_mutex_unlock(&l->mutex);
}

void ln_rwlock_write_done(ln_rwlock *l)
{
    pthread_mutex_lock(&l->mutex);
    l->writer = 0;
    if (l->writers_waiting) pthread_cond_signal(&l->writer_ok);
    else pthread_cond_broadcast(&l->readers_ok);
    pthread_mutex_unlock(&l->mutex);
}

#endif
