//! The Windows-shaped API on `StdPlatform`: encodings through `Ex*`/`Flt*`, critical-region
//! balance (contract 8), `*Ex` flag validation (contract 9), and caller bugs reported loudly
//! instead of corrupting the lock (contract 10).
#![cfg(not(loom))]

use std::panic::{AssertUnwindSafe, catch_unwind};

use pushlock::nt::{self, EX_PUSH_LOCK};
use pushlock::{LockWord, StdPlatform};

type P = StdPlatform;

/// A push lock driven through the `nt` functions by one test thread. Each method is one call;
/// the tests only release what they acquired, except where a test breaks a contract on purpose
/// to check that the break is reported.
#[derive(Default)]
struct Nt(EX_PUSH_LOCK);

macro_rules! nt_calls {
    ($($method:ident => $function:ident($($flags:ident)?) $(-> $ret:ty)?;)*) => {
        impl Nt {
            $(
                fn $method(&self $(, $flags: u32)?) $(-> $ret)? {
                    let lock = std::ptr::from_ref(&self.0).cast_mut();
                    // SAFETY: a live, initialised lock; acquisitions and releases are paired
                    // by the tests (see the type's docs).
                    unsafe { nt::$function::<P>(lock $(, $flags)?) }
                }
            )*
        }
    };
}

nt_calls! {
    ex_init => ExInitializePushLock();
    ex_exclusive => ExAcquirePushLockExclusive();
    ex_shared => ExAcquirePushLockShared();
    ex_try_exclusive => ExTryAcquirePushLockExclusive() -> bool;
    ex_try_shared => ExTryAcquirePushLockShared() -> bool;
    ex_release_exclusive => ExReleasePushLockExclusive();
    ex_release_shared => ExReleasePushLockShared();
    ex_release => ExReleasePushLock();
    flt_init => FltInitializePushLock();
    flt_delete => FltDeletePushLock();
    flt_exclusive => FltAcquirePushLockExclusive();
    flt_shared => FltAcquirePushLockShared();
    flt_release => FltReleasePushLock();
    flt_exclusive_ex => FltAcquirePushLockExclusiveEx(flags);
    flt_shared_ex => FltAcquirePushLockSharedEx(flags);
    flt_release_ex => FltReleasePushLockEx(flags);
}

impl Nt {
    /// The lock word and the calling thread's critical-region depth.
    fn state(&self) -> (usize, u32) {
        let raw = std::ptr::from_ref(&self.0);
        // SAFETY: a live, initialised lock.
        let word = unsafe { pushlock::RawPushLock::<P>::from_ptr(raw) }
            .word()
            .0;
        (word, StdPlatform::critical_region_depth())
    }
}

/// Runs `f`, expecting the platform's misuse panic; returns its message.
fn misuse_message(f: impl FnOnce()) -> String {
    let panic = catch_unwind(AssertUnwindSafe(f)).expect_err("the call must be rejected");
    panic.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn ex_family_encodings_and_no_critical_region() {
    let lock = Nt::default();
    lock.ex_init();
    assert_eq!(lock.state(), (0, 0));
    lock.ex_exclusive();
    assert_eq!(
        lock.state(),
        (0x1, 0),
        "Ex functions leave APCs to the caller"
    );
    assert!(!lock.ex_try_shared());
    assert!(!lock.ex_try_exclusive());
    lock.ex_release_exclusive();
    assert_eq!(lock.state(), (0, 0));

    lock.ex_shared();
    assert!(lock.ex_try_shared());
    assert_eq!(lock.state(), (0x21, 0));
    assert!(!lock.ex_try_exclusive());
    lock.ex_release_shared();
    lock.ex_release();
    assert_eq!(lock.state(), (0, 0));

    assert!(lock.ex_try_exclusive());
    lock.ex_release();
    assert_eq!(lock.state(), (0, 0));
}

#[test]
fn flt_family_holds_a_critical_region_while_held() {
    let lock = Nt::default();
    lock.flt_init();
    lock.flt_exclusive();
    assert_eq!(lock.state(), (0x1, 1));
    lock.flt_release();
    assert_eq!(lock.state(), (0, 0));

    lock.flt_shared();
    lock.flt_shared();
    assert_eq!(
        lock.state(),
        (0x21, 2),
        "one critical region per acquisition"
    );
    lock.flt_release();
    assert_eq!(lock.state(), (0x11, 1));
    lock.flt_release();
    assert_eq!(lock.state(), (0, 0));
    lock.flt_delete();
}

#[test]
fn ex_flags_zero_to_three_are_accepted() {
    let lock = Nt::default();
    for flags in 0..=nt::FLT_PUSH_LOCK_VALID_FLAGS {
        lock.flt_exclusive_ex(flags);
        assert_eq!(lock.state(), (0x1, 1), "flags {flags:#x}");
        lock.flt_release_ex(flags);
        lock.flt_shared_ex(flags);
        assert_eq!(lock.state(), (0x11, 1), "flags {flags:#x}");
        lock.flt_release_ex(flags);
        assert_eq!(lock.state(), (0, 0));
    }
}

#[test]
fn ex_flags_outside_the_valid_set_are_rejected_and_change_nothing() {
    for flags in [0x4, 0x8, 0x10, 0x8000_0000, u32::MAX] {
        let lock = Nt::default();
        let message = misuse_message(|| lock.flt_exclusive_ex(flags));
        assert!(message.contains("invalid push-lock flags"), "{message}");
        misuse_message(|| lock.flt_shared_ex(flags));
        assert_eq!(lock.state(), (0, 0), "a rejected acquire changed state");

        lock.flt_shared();
        misuse_message(|| lock.flt_release_ex(flags));
        assert_eq!(lock.state(), (0x11, 1), "a rejected release changed state");
        lock.flt_release();
    }
}

/// A mismatched exclusive release is reported before the word changes, in every build.
#[test]
fn an_exclusive_release_that_does_not_match_is_reported_and_changes_nothing() {
    let lock = Nt::default();
    let message = misuse_message(|| lock.ex_release_exclusive());
    assert!(message.contains("not held"), "{message}");
    assert_eq!(lock.state(), (0, 0), "a free lock stays free");
    lock.ex_shared();
    let message = misuse_message(|| lock.ex_release_exclusive());
    // The verifier knows the mode this thread holds it in, and says so.
    let verified = cfg!(feature = "verify") && message.contains("release in the wrong mode");
    assert!(message.contains("not held") || verified, "{message}");
    assert_eq!(lock.state(), (0x11, 0), "the share stays counted");
    lock.ex_release_shared();
    assert_eq!(lock.state(), (0, 0));
}

#[test]
fn release_of_a_free_lock_is_reported() {
    let lock = Nt::default();
    let message = misuse_message(|| lock.ex_release_shared());
    assert!(message.contains("not held"), "{message}");
    misuse_message(|| lock.ex_release());
    assert_eq!(lock.state(), (0, 0));
}

#[cfg(debug_assertions)]
#[test]
fn delete_of_a_held_lock_is_reported_in_debug_builds() {
    let lock = Nt::default();
    lock.ex_shared();
    let message = misuse_message(|| lock.flt_delete());
    assert!(
        message.contains("FltDeletePushLock on a lock in use"),
        "{message}"
    );
    assert!(message.contains(&LockWord(0x11).to_string()), "{message}");
    lock.ex_release_shared();
}

#[test]
fn lock_word_decodes_like_a_debugger() {
    assert_eq!(format!("{}", LockWord(0)), "0x0 (free)");
    assert_eq!(format!("{}", LockWord(0x1)), "0x1 (exclusive)");
    assert_eq!(format!("{}", LockWord(0x31)), "0x31 (shared x3)");
    assert_eq!(
        format!("{}", LockWord(0x7f00_1230 | 0xF)),
        "0x7f00123f (locked, waiters from 0x7f001230, multiple shared, waking)"
    );
    assert!(LockWord(0x7f00_1230 | 0xB).is_plausible());
    assert!(!LockWord(0x4).is_plausible(), "Waking without Waiting");
    assert!(
        !LockWord(0x8 | 0x2 | 0x10).is_plausible(),
        "MultipleShared without Locked"
    );
    assert!(!LockWord(0x20).is_plausible(), "a count without Locked");
    assert!(!LockWord(0x3).is_plausible(), "Waiting without a pointer");
}
