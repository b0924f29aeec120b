/*
 * Another filter, written in C, that uses the push-lock API through include/pushlock_filter.h
 * and pushlock_filter.lib, as the README tells users to. It calls every function once, so the
 * image it links to imports all of them. Never run: tests/image/tests/c_client.rs reads the
 * import table the linker wrote.
 */
#include "pushlock_filter.h"

static PL_PUSH_LOCK lock;
static PL_COUNTED_PUSH_LOCK counted;

_Static_assert(sizeof(PL_COUNTED_PUSH_LOCK) == 128, "the Rust CountedPushLock's size");
_Static_assert(_Alignof(PL_COUNTED_PUSH_LOCK) == 64, "the Rust CountedPushLock's alignment");
_Static_assert(sizeof(PL_PUSH_LOCK_STATISTICS) == 56, "the Rust LockStatistics' size");

NTSTATUS NTAPI DriverEntry(void *driver, PUNICODE_STRING registry_path)
{
    (void)driver;
    (void)registry_path;
    PlFltInitializePushLock(&lock);
    PlFltAcquirePushLockExclusive(&lock);
    PlFltReleasePushLock(&lock);
    PlFltAcquirePushLockShared(&lock);
    PlFltReleasePushLock(&lock);
    PlFltAcquirePushLockExclusiveEx(&lock, 0);
    PlFltReleasePushLockEx(&lock, 0);
    PlFltAcquirePushLockSharedEx(&lock, 0);
    PlFltReleasePushLockEx(&lock, 0);
    PlFltDeletePushLock(&lock);
    PlExInitializePushLock(&lock);
    PlExAcquirePushLockExclusive(&lock);
    PlExReleasePushLockExclusive(&lock);
    PlExAcquirePushLockShared(&lock);
    PlExReleasePushLockShared(&lock);
    if (PlExTryAcquirePushLockExclusive(&lock)) {
        PlExReleasePushLock(&lock);
    }
    if (PlExTryAcquirePushLockShared(&lock)) {
        PlExReleasePushLock(&lock);
    }
    PL_PUSH_LOCK_STATISTICS statistics;
    PlInitializeCountedPushLock(&counted);
    PlAcquireCountedPushLockExclusive(&counted);
    PlReleaseCountedPushLockExclusive(&counted);
    PlAcquireCountedPushLockShared(&counted);
    PlReleaseCountedPushLockShared(&counted);
    if (PlTryAcquireCountedPushLockExclusive(&counted)) {
        PlReleaseCountedPushLockExclusive(&counted);
    }
    if (PlTryAcquireCountedPushLockShared(&counted)) {
        PlReleaseCountedPushLockShared(&counted);
    }
    PlQueryPushLockStatistics(&counted, &statistics);
    PPL_CACHE_AWARE_PUSH_LOCK cache_aware = PlExAllocateCacheAwarePushLock();
    if (cache_aware != NULL) {
        PPL_PUSH_LOCK slot = PlExAcquireCacheAwarePushLockSharedEx(cache_aware, 0);
        PlExReleaseCacheAwarePushLockSharedEx(slot, 0);
        PlExAcquireCacheAwarePushLockExclusive(cache_aware);
        PlExReleaseCacheAwarePushLockExclusive(cache_aware);
        slot = PlFltAcquireCacheAwarePushLockShared(cache_aware);
        PlFltReleaseCacheAwarePushLockShared(slot);
        PlFltAcquireCacheAwarePushLockExclusive(cache_aware);
        PlFltReleaseCacheAwarePushLockExclusive(cache_aware);
        PlExFreeCacheAwarePushLock(cache_aware);
    }
    return (NTSTATUS)statistics.ExclusiveAcquisitions;
}
