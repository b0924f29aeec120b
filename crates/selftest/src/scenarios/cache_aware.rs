//! Conformance scenarios of the cache-aware push lock (`CacheAwarePushLock`), on any host: its
//! slots as a debugger reads them, a writer's sweep against a reader on one processor, and a
//! record under two writers and four readers.
//!
//! The lock is made per scenario (from the host's pool: no memory refuses the run). A reader
//! "on processor k" is played white-box by taking slot k's push lock shared, which is what a
//! reader running there takes.

use alloc::vec::Vec;

use pushlock::{CacheAwarePushLock, LockClass, Platform, RawPushLock};
use pushlock_protocol::{Phase, Role};

use super::conformance::{Record, SETTLE_NS};
use crate::engine::{Ctx, Failure, Gate};
use crate::fallible::{Shared, try_push};
use crate::host::Host;
use crate::text::text;

type Outcome = Result<(), Failure>;

/// The lock these scenarios test, as verifier reports name it.
static CACHE_AWARE_LOCK: LockClass = LockClass::new("scenario cache-aware lock");

/// A free cache-aware lock with a slot per processor.
fn cache_aware_lock<H: Host>() -> Result<Shared<CacheAwarePushLock<H::Platform>>, Failure> {
    let lock = CacheAwarePushLock::new().map_err(|_| Failure::OutOfMemory)?;
    lock.set_class(&CACHE_AWARE_LOCK);
    Ok(Shared::try_new(lock)?)
}

/// Slot `index`'s push lock.
fn slot<P: Platform>(lock: &CacheAwarePushLock<P>, index: u32) -> Result<&RawPushLock<P>, Failure> {
    lock.slot(index).ok_or(Failure::Check)
}

/// Whether every slot's word is `word`, `except` (if some) aside.
fn every_slot_is<P: Platform>(
    lock: &CacheAwarePushLock<P>,
    word: usize,
    except: Option<u32>,
) -> bool {
    (0..lock.slot_count())
        .filter(|&index| Some(index) != except)
        .all(|index| lock.slot(index).is_some_and(|slot| slot.word().0 == word))
}

/// The slots' words, for a failure's text (the dump shows the round's one-word lock).
struct Words<'a, P: Platform>(&'a CacheAwarePushLock<P>);

impl<P: Platform> core::fmt::Display for Words<'_, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("slots")?;
        for slot in (0..self.0.slot_count().min(16)).filter_map(|index| self.0.slot(index)) {
            write!(f, " {:#x}", slot.word().0)?;
        }
        Ok(())
    }
}

/// A share of one slot, as a reader on that slot's processor holds it; released on drop.
struct SlotShare<'a, P: Platform>(&'a RawPushLock<P>);

impl<'a, P: Platform> SlotShare<'a, P> {
    fn take(slot: &'a RawPushLock<P>) -> Self {
        slot.lock_shared();
        Self(slot)
    }
}

impl<P: Platform> Drop for SlotShare<'_, P> {
    fn drop(&mut self) {
        // SAFETY: taken by `take`, released once, here.
        unsafe { self.0.unlock_shared() };
    }
}

/// The slots a debugger reads: a writer holds every slot (`0x1` each), a reader one (`0x11` on
/// its token's slot, 0 elsewhere); a try for exclusive against a reader on the last processor
/// fails and gives back the slots it took; every word back to 0.
pub fn slots<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let lock = cache_aware_lock::<H>()?;
    let count = lock.slot_count();
    let processors = H::Platform::processor_count().clamp(1, pushlock::MAX_SLOTS);
    ctx.check(count == processors, || {
        text!("{count} slots for {processors} processors")
    })?;

    let main = ctx.actor("main", Role::Mixed)?;
    main.take(true, || lock.lock_exclusive());
    let every_slot_taken = every_slot_is(&lock, 0x1, None);
    let share = lock.try_lock_shared();
    // SAFETY: held exclusively just above.
    unsafe { lock.unlock_exclusive() };
    main.released();
    if let Some(token) = share {
        // SAFETY: the try that should have failed took this share.
        unsafe { lock.unlock_shared(token) };
    }
    ctx.check(every_slot_taken, || {
        text!("a writer does not hold every slot")
    })?;
    ctx.check(share.is_none(), || {
        text!("try-S succeeded against a writer")
    })?;
    ctx.check(every_slot_is(&lock, 0, None), || {
        text!("not free after the writer: {}", Words(&lock))
    })?;

    let token = main.take(false, || lock.lock_shared());
    let own = lock.slot(token.index()).map(|slot| slot.word().0);
    let others_free = every_slot_is(&lock, 0, Some(token.index()));
    // SAFETY: taken just above.
    unsafe { lock.unlock_shared(token) };
    main.released();
    ctx.check(own == Some(0x11), || {
        text!(
            "slot {} of {count} reads {own:?} under its reader",
            token.index()
        )
    })?;
    ctx.check(others_free, || text!("a reader touched another slot"))?;

    let last = count.saturating_sub(1);
    let reader = SlotShare::take(slot(&lock, last)?);
    let writer_got_in = lock.try_lock_exclusive();
    if writer_got_in {
        // SAFETY: the try that should have failed took the lock.
        unsafe { lock.unlock_exclusive() };
    }
    let given_back = every_slot_is(&lock, 0, Some(last)) && reader.0.word().0 == 0x11;
    drop(reader);
    ctx.check(!writer_got_in, || {
        text!("try-X succeeded against a reader on slot {last}")
    })?;
    ctx.check(given_back, || {
        text!("a failed try-X kept slots it took before slot {last}")
    })?;
    ctx.check(every_slot_is(&lock, 0, None), || {
        text!("not free at the end: {}", Words(&lock))
    })
}

/// A reader holds the last slot; a writer takes every slot before it and queues there; a
/// reader arriving meanwhile waits (behind the writer, on whichever slot is its own) and try-S
/// fails; when the first reader leaves, the writer gets in first, then the reader.
pub fn writer_sweep<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let lock = cache_aware_lock::<H>()?;
    let last = lock.slot_count().saturating_sub(1);
    let main = ctx.actor("main", Role::Reader)?;
    let reader_share = SlotShare::take(slot(&lock, last)?);
    main.took(Phase::HoldsShared);
    let on_the_writer = lock.clone();
    let writer = ctx.spawn("writer", Role::Writer, move |_, _, me| {
        me.take(true, || on_the_writer.lock_exclusive());
        // SAFETY: held exclusively by this thread.
        unsafe { on_the_writer.unlock_exclusive() };
        me.released();
    })?;
    let last_slot = reader_share.0;
    // Both, eventually: the words are read `Relaxed`, so seeing the writer queued on the last
    // slot does not make its earlier acquisitions visible at once (Miri shows such reads).
    ctx.wait_for(
        "the writer to hold the slots before the last and queue on it",
        || last_slot.word().is_queued_and_settled() && every_slot_is(&lock, 0x1, Some(last)),
    )?;
    ctx.check(writer.phase() == Phase::WantsExclusive, || {
        text!("the writer got in past a reader")
    })?;
    let share = lock.try_lock_shared();
    if let Some(token) = share {
        // SAFETY: the try that should have failed took this share.
        unsafe { lock.unlock_shared(token) };
    }
    ctx.check(share.is_none(), || {
        text!("try-S succeeded against a sweeping writer")
    })?;
    let on_the_reader = lock.clone();
    let reader = ctx.spawn("reader", Role::Reader, move |_, _, me| {
        let token = me.take(false, || on_the_reader.lock_shared());
        // SAFETY: the share just taken.
        unsafe { on_the_reader.unlock_shared(token) };
        me.released();
    })?;
    ctx.wait_phase(&reader, Phase::WantsShared)?;
    ctx.pause(SETTLE_NS);
    ctx.check(reader.phase() == Phase::WantsShared, || {
        text!("a reader got in while a writer waited")
    })?;
    drop(reader_share);
    main.released();
    ctx.wait_phase(&writer, Phase::Finished)?;
    ctx.wait_phase(&reader, Phase::Finished)?;
    ctx.check(writer.last_grant() < reader.last_grant(), || {
        text!("the reader got in before the waiting writer")
    })?;
    ctx.check(every_slot_is(&lock, 0, None), || {
        text!("not free at the end: {}", Words(&lock))
    })
}

/// Two writers (one in two acquisitions a try, falling back to waiting) and four readers, each
/// 2048 times over a three-field record: never torn, exact counts, every slot free after.
/// Readers release by their token, wherever they run by then.
pub fn mixed_record<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let lock = cache_aware_lock::<H>()?;
    let record = Record::new()?;
    let start = Gate::new()?;
    let mut actors = Vec::new();
    for (index, name) in Record::ACTORS.into_iter().enumerate() {
        let (lock, record, start) = (lock.clone(), record.clone(), start.clone());
        let writer = index < 2;
        let role = if writer { Role::Writer } else { Role::Reader };
        let actor = ctx.spawn(name, role, move |env, _, me| {
            if !env.wait_until(|| start.is_open()) {
                return;
            }
            for i in 0..Record::ITERATIONS {
                if env.stopped() {
                    return;
                }
                let token = if writer {
                    me.take(true, || {
                        if i % 2 == 0 || !lock.try_lock_exclusive() {
                            lock.lock_exclusive();
                        }
                    });
                    None
                } else {
                    Some(me.take(false, || lock.lock_shared()))
                };
                let seen = record.read(env, me);
                if let Some(token) = token {
                    // SAFETY: the share this thread took above.
                    unsafe { lock.unlock_shared(token) };
                } else {
                    record.write_next(env, seen);
                    // SAFETY: held exclusively by this thread.
                    unsafe { lock.unlock_exclusive() };
                }
                me.released();
            }
        })?;
        try_push(&mut actors, actor)?;
    }
    start.open();
    record.check_counts(ctx, &actors)?;
    ctx.check(every_slot_is(&lock, 0, None), || {
        text!("not free at the end: {}", Words(&lock))
    })
}
