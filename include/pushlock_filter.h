/*
 * pushlock_filter.h - the push-lock API exported by pushlock_filter.sys, for C drivers.
 *
 * Link against pushlock_filter.dll.lib (rustc's name for the import library, produced next to the
 * .sys; it names pushlock_filter.sys as the module to import from). Every function is the Windows
 * one with a "Pl" prefix, so fltmgr.lib can be linked too. Semantics are the kernel's:
 *
 *   - PlFlt* acquire functions enter a critical region (normal kernel APCs disabled) and the
 *     matching PlFltReleasePushLock* leaves it; PlEx* expect the caller to have done so.
 *   - Release with the matching family; PlExReleasePushLock / PlFltReleasePushLock work out the
 *     mode themselves.
 *   - Not re-entrant: an owner that acquires again deadlocks (so does a reader that re-acquires
 *     while a writer waits).
 *   - Flags of the *Ex functions: 0, FLT_PUSH_LOCK_ENABLE_AUTO_BOOST (1, no effect),
 *     FLT_PUSH_LOCK_DISABLE_AUTO_BOOST (2), or both; anything else bug-checks with
 *     INVALID_PUSH_LOCK_FLAGS (0x152), as the kernel does.
 *   - IRQL <= APC_LEVEL. The lock may live in paged memory; waiters wait in kernel mode.
 *   - PlFltDeletePushLock on a lock that is held or waited on is a caller bug; checked builds of
 *     the driver bug-check with 0x504C434B ("PLCK", parameter 1 = 2).
 *
 * The counted push lock (PL_COUNTED_PUSH_LOCK), which Windows does not have, is the same lock
 * with contention statistics beside its word: 128 bytes, 64-aligned, one cache line for the
 * word and its counts. Its functions have the PlEx* contract (the caller disables normal kernel
 * APCs while it holds the lock); PlQueryPushLockStatistics reads the counters at any time (a
 * snapshot while the lock is in use). Counting costs about 1 ns per acquisition uncontended.
 *
 * The driver must be loaded (fltmc load pushlock_filter) before a driver that imports these.
 */
#pragma once

#include <ntddk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One pointer-sized word, zero when free: binary compatible with EX_PUSH_LOCK. */
typedef struct _PL_PUSH_LOCK {
    ULONG_PTR Value;
} PL_PUSH_LOCK, *PPL_PUSH_LOCK;

VOID NTAPI PlFltInitializePushLock(_Out_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlFltDeletePushLock(_In_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlFltAcquirePushLockExclusive(_Inout_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlFltAcquirePushLockShared(_Inout_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlFltReleasePushLock(_Inout_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlFltAcquirePushLockExclusiveEx(_Inout_ PPL_PUSH_LOCK PushLock, _In_ ULONG Flags);
VOID NTAPI PlFltAcquirePushLockSharedEx(_Inout_ PPL_PUSH_LOCK PushLock, _In_ ULONG Flags);
VOID NTAPI PlFltReleasePushLockEx(_Inout_ PPL_PUSH_LOCK PushLock, _In_ ULONG Flags);

VOID NTAPI PlExInitializePushLock(_Out_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlExAcquirePushLockExclusive(_Inout_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlExAcquirePushLockShared(_Inout_ PPL_PUSH_LOCK PushLock);
BOOLEAN NTAPI PlExTryAcquirePushLockExclusive(_Inout_ PPL_PUSH_LOCK PushLock);
BOOLEAN NTAPI PlExTryAcquirePushLockShared(_Inout_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlExReleasePushLockExclusive(_Inout_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlExReleasePushLockShared(_Inout_ PPL_PUSH_LOCK PushLock);
VOID NTAPI PlExReleasePushLock(_Inout_ PPL_PUSH_LOCK PushLock);

/* The push lock and its counters; opaque, initialise with PlInitializeCountedPushLock. */
typedef struct DECLSPEC_ALIGN(64) _PL_COUNTED_PUSH_LOCK {
    ULONG_PTR Opaque[16];
} PL_COUNTED_PUSH_LOCK, *PPL_COUNTED_PUSH_LOCK;

/* A reading of a counted lock's counters; times in nanoseconds. */
typedef struct _PL_PUSH_LOCK_STATISTICS {
    ULONG64 SharedAcquisitions;    /* successful tries included */
    ULONG64 ExclusiveAcquisitions; /* successful tries included */
    ULONG64 Contended;             /* acquisitions that found the lock taken */
    ULONG64 Spun;                  /* contended ones that got in without sleeping */
    ULONG64 Sleeps;                /* sleeps on a wait block (one acquisition may sleep twice) */
    ULONG64 LongestWaitNs;         /* the longest wait of a contended acquisition */
    ULONG64 LongestHoldNs;         /* the longest exclusive hold, of one hold in 64 timed */
} PL_PUSH_LOCK_STATISTICS, *PPL_PUSH_LOCK_STATISTICS;

VOID NTAPI PlInitializeCountedPushLock(_Out_ PPL_COUNTED_PUSH_LOCK PushLock);
VOID NTAPI PlAcquireCountedPushLockExclusive(_Inout_ PPL_COUNTED_PUSH_LOCK PushLock);
VOID NTAPI PlAcquireCountedPushLockShared(_Inout_ PPL_COUNTED_PUSH_LOCK PushLock);
BOOLEAN NTAPI PlTryAcquireCountedPushLockExclusive(_Inout_ PPL_COUNTED_PUSH_LOCK PushLock);
BOOLEAN NTAPI PlTryAcquireCountedPushLockShared(_Inout_ PPL_COUNTED_PUSH_LOCK PushLock);
VOID NTAPI PlReleaseCountedPushLockExclusive(_Inout_ PPL_COUNTED_PUSH_LOCK PushLock);
VOID NTAPI PlReleaseCountedPushLockShared(_Inout_ PPL_COUNTED_PUSH_LOCK PushLock);
VOID NTAPI PlQueryPushLockStatistics(_In_ PPL_COUNTED_PUSH_LOCK PushLock,
                                     _Out_ PPL_PUSH_LOCK_STATISTICS Statistics);

/*
 * The cache-aware push lock (the kernel's EX_PUSH_LOCK_CACHE_AWARE, which Windows keeps
 * internal): a push lock per processor, each on its own 128 bytes, for read-mostly data. A
 * shared acquisition takes the slot of the caller's processor and returns that slot's push
 * lock; release exactly that pointer (the thread may have moved since). An exclusive
 * acquisition takes every slot. PlEx* expect normal kernel APCs disabled; PlFlt* disable them.
 * Allocation can fail (NULL); IRQL <= APC_LEVEL throughout.
 */
typedef struct _PL_CACHE_AWARE_PUSH_LOCK *PPL_CACHE_AWARE_PUSH_LOCK;

PPL_CACHE_AWARE_PUSH_LOCK NTAPI PlExAllocateCacheAwarePushLock(VOID);
VOID NTAPI PlExFreeCacheAwarePushLock(_In_ PPL_CACHE_AWARE_PUSH_LOCK PushLock);
VOID NTAPI PlExAcquireCacheAwarePushLockExclusive(_Inout_ PPL_CACHE_AWARE_PUSH_LOCK PushLock);
VOID NTAPI PlExReleaseCacheAwarePushLockExclusive(_Inout_ PPL_CACHE_AWARE_PUSH_LOCK PushLock);
PPL_PUSH_LOCK NTAPI PlExAcquireCacheAwarePushLockSharedEx(_Inout_ PPL_CACHE_AWARE_PUSH_LOCK PushLock,
                                                          _In_ ULONG Flags);
VOID NTAPI PlExReleaseCacheAwarePushLockSharedEx(_Inout_ PPL_PUSH_LOCK PushLock, _In_ ULONG Flags);
VOID NTAPI PlFltAcquireCacheAwarePushLockExclusive(_Inout_ PPL_CACHE_AWARE_PUSH_LOCK PushLock);
VOID NTAPI PlFltReleaseCacheAwarePushLockExclusive(_Inout_ PPL_CACHE_AWARE_PUSH_LOCK PushLock);
PPL_PUSH_LOCK NTAPI PlFltAcquireCacheAwarePushLockShared(_Inout_ PPL_CACHE_AWARE_PUSH_LOCK PushLock);
VOID NTAPI PlFltReleaseCacheAwarePushLockShared(_Inout_ PPL_PUSH_LOCK PushLock);

#ifdef __cplusplus
}
#endif
