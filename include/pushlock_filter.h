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

#ifdef __cplusplus
}
#endif
