//! The verifier's scenarios (feature `verify`): each commits one lock bug on purpose, in a way
//! that cannot hang, with the verifier in report-only mode, and passes only if the verifier
//! reported exactly that violation, on that lock, once, and the lock is as it was before.
//!
//! Report-only mode is for one lock, the scenario's, and only around the one call that commits
//! the violation ([`report_only`]); violations on any other lock stop the system as ever. The
//! driver never turns it on otherwise.

use pushlock::verify::{self, HeldAt, Violation};
use pushlock::{Misuse, Platform, RawPushLock, nt};
use pushlock_protocol::{Phase, Role};

use crate::engine::{Ctx, Failure, Hold};
use crate::fallible::Shared;
use crate::host::Host;
use crate::text::text;

type Outcome = Result<(), Failure>;

/// Runs `commit` with `lock` in report-only mode (waiting for another scenario's section to
/// end), and returns the verifier's count of reports before and after.
fn report_only<H: Host, P: Platform>(
    ctx: &mut Ctx<H>,
    lock: &RawPushLock<P>,
    commit: impl FnOnce(&mut Ctx<H>) -> Outcome,
) -> Result<(usize, usize), Failure> {
    ctx.wait_for("another scenario's report-only section", || {
        verify::begin_report_only(address(lock))
    })?;
    let (before, ..) = verify::reported();
    let committed = commit(ctx);
    let (after, ..) = verify::reported();
    verify::end_report_only(address(lock));
    committed.map(|()| (before, after))
}

/// Runs `commit` in report-only mode and checks that the verifier reported `violation` on
/// `lock`, exactly once.
fn expect_report<H: Host, P: Platform>(
    ctx: &mut Ctx<H>,
    violation: Violation,
    lock: &RawPushLock<P>,
    commit: impl FnOnce(),
) -> Outcome {
    let (before, after) = report_only(ctx, lock, |_| {
        commit();
        Ok(())
    })?;
    let (_, kind, on) = verify::reported();
    let expected = (before.saturating_add(1), violation.kind(), address(lock));
    ctx.check((after, kind, on) == expected, || {
        text!(
            "expected one report of kind {} ({violation}) on {:#x}; got {} reports, the last \
             of kind {kind} on {on:#x} (is the verifier on?)",
            violation.kind(),
            address(lock),
            after.wrapping_sub(before),
        )
    })
}

fn address<P: Platform>(lock: &RawPushLock<P>) -> usize {
    lock.as_ex_push_lock().addr()
}

/// Kind 6: the exclusive owner acquires again; the verifier stops it before it waits.
pub fn recursive_exclusive<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    owner_acquires_again(
        ctx,
        Violation::RecursiveExclusive,
        RawPushLock::lock_exclusive,
    )
}

/// Kind 7: the exclusive owner asks for a share.
pub fn shared_after_exclusive<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    owner_acquires_again(
        ctx,
        Violation::SharedAfterExclusive,
        RawPushLock::lock_shared,
    )
}

/// The exclusive owner calls `acquire` on its own lock: reported as `violation`, and the word
/// stays that of one exclusive owner.
fn owner_acquires_again<H: Host>(
    ctx: &mut Ctx<H>,
    violation: Violation,
    acquire: fn(&RawPushLock<H::Platform>),
) -> Outcome {
    let main = ctx.actor("main", Role::Writer)?;
    let lock = ctx.lock.clone();
    let hold = Hold::exclusive(&main, &lock);
    expect_report(ctx, violation, &lock, || acquire(&lock))?;
    ctx.check(lock.word().0 == 0x1, || {
        text!("the recursion changed the word")
    })?;
    hold.release(false);
    Ok(())
}

/// Kind 8: a reader asks for a second share while a writer waits behind its first.
pub fn shared_while_writer_waits<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Reader)?;
    let lock = ctx.lock.clone();
    let hold = Hold::shared(&main, &lock);
    let writer = ctx.spawn("writer", Role::Writer, |_, lock, me| {
        me.lock_exclusive(lock);
        // SAFETY: held exclusively by this thread.
        unsafe { me.release_exclusive(lock, false) };
    })?;
    ctx.wait_queued(None)?;
    expect_report(ctx, Violation::SharedWhileWriterWaits, &lock, || {
        lock.lock_shared();
    })?;
    hold.release(false);
    ctx.wait_phase(&writer, Phase::Finished)
}

/// Kind 9: a thread releases a lock another thread holds.
pub fn release_not_owner<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Writer)?;
    let lock = ctx.lock.clone();
    let hold = Hold::exclusive(&main, &lock);
    let (before, after) = report_only(ctx, &lock, |ctx| {
        let intruder = ctx.spawn("intruder", Role::Writer, |_, lock, me| {
            // SAFETY: deliberately wrong, in report-only mode: the verifier stops the release.
            unsafe { me.release_exclusive(lock, false) };
        })?;
        ctx.wait_phase(&intruder, Phase::Finished)
    })?;
    let (_, kind, on) = verify::reported();
    let expected = (
        before.saturating_add(1),
        Violation::ReleaseNotOwner.kind(),
        address(&lock),
    );
    ctx.check((after, kind, on) == expected, || {
        text!(
            "expected one report of kind 9; got {} (last {kind} on {on:#x})",
            after.wrapping_sub(before)
        )
    })?;
    ctx.check(lock.word().0 == 0x1, || {
        text!("the intruder's release changed the word")
    })?;
    hold.release(false);
    Ok(())
}

/// Kind 10: a share released as if exclusive.
pub fn release_wrong_mode<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Reader)?;
    let lock = ctx.lock.clone();
    let hold = Hold::shared(&main, &lock);
    expect_report(ctx, Violation::ReleaseWrongMode, &lock, || {
        // SAFETY: deliberately wrong, in report-only mode: the verifier stops the release.
        unsafe { lock.unlock_exclusive() };
    })?;
    ctx.check(lock.word().0 == 0x11, || {
        text!("the release changed the word")
    })?;
    hold.release(false);
    Ok(())
}

/// Kind 11: one thread takes A then B, later B then A. No deadlock can happen (one thread), but
/// two threads doing the same could: the verifier reports the second order the first time.
pub fn lock_order_inversion<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Writer)?;
    let first = ctx.lock.clone();
    let second = Shared::try_new(RawPushLock::<H::Platform>::new())?;
    {
        let outer = Hold::exclusive(&main, &first);
        let inner = Hold::shared(&main, &second);
        inner.release(false);
        outer.release(false);
    }
    let outer = Hold::exclusive(&main, &second);
    let mut taken = false;
    expect_report(ctx, Violation::OrderInversion, &first, || {
        first.lock_shared();
        taken = true;
    })?;
    if taken {
        // SAFETY: the share just taken (report-only mode lets an inversion go on).
        unsafe { first.unlock_shared() };
    }
    outer.release(false);
    Ok(())
}

/// Kind 12: a lock still held where none may be (the driver checks at every message
/// callback's return, pre-operation return, system-thread exit and unload).
pub fn held_at_return<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Reader)?;
    let lock = ctx.lock.clone();
    let hold = Hold::shared(&main, &lock);
    expect_report(
        ctx,
        Violation::HeldAt(HeldAt::MessageCallbackReturn),
        &lock,
        || {
            verify::check_none_held::<H::Platform>(HeldAt::MessageCallbackReturn);
        },
    )?;
    hold.release(false);
    Ok(())
}

/// Kind 14: the critical region a `Flt*` acquisition entered is left while the lock is held.
pub fn critical_region_left<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Writer)?;
    let lock = ctx.lock.clone();
    let ex = lock.as_ex_push_lock();
    // SAFETY: the round's lock, alive for the round.
    unsafe { nt::FltAcquirePushLockExclusive::<H::Platform>(ex) };
    main.took(Phase::HoldsExclusive);
    // Left and entered again inside the report-only section: any other lock operation of this
    // thread meanwhile (the engine's own) would be reported too.
    let reported = expect_report(ctx, Violation::CriticalRegionLeft, &lock, || {
        H::Platform::leave_critical_region();
        // SAFETY: held through FltAcquirePushLockExclusive; report-only stops the release.
        unsafe { nt::FltReleasePushLock::<H::Platform>(ex) };
        H::Platform::enter_critical_region();
    });
    // SAFETY: still held: the reported release did nothing.
    unsafe { nt::FltReleasePushLock::<H::Platform>(ex) };
    main.released();
    reported
}

/// Kinds 1 and 2, the lock's own checks, reported by the verifier: bad `*Ex` flags, and
/// `FltDeletePushLock` of a lock in use.
pub fn own_checks<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Reader)?;
    let lock = ctx.lock.clone();
    let ex = lock.as_ex_push_lock();
    expect_report(
        ctx,
        Violation::Misuse(Misuse::InvalidFlags(0x8)),
        &lock,
        || {
            // SAFETY: the round's lock; report-only stops the call.
            unsafe { nt::FltAcquirePushLockSharedEx::<H::Platform>(ex, 0x8) };
        },
    )?;
    ctx.check(lock.word().0 == 0, || text!("rejected flags took the lock"))?;
    let hold = Hold::shared(&main, &lock);
    let in_use = Misuse::DeleteInUse(lock.word());
    expect_report(ctx, Violation::Misuse(in_use), &lock, || {
        // SAFETY: deliberately wrong, in report-only mode: the verifier stops the delete.
        unsafe { nt::FltDeletePushLock::<H::Platform>(ex) };
    })?;
    hold.release(false);
    Ok(())
}
