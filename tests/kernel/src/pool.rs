//! `ExAllocatePool2` and `ExFreePoolWithTag`, with Driver Verifier's pool tracking.
//!
//! The driver's global allocator calls these for every Rust allocation, and in the host lane
//! that allocator serves the whole test process. A block is the driver's when it is allocated
//! while the thread runs driver code; only those are tracked (by tag, for the leak report at
//! unload and double-free detection) and only those can be made to fail. Everything else —
//! the test harness, the kernel's own bookkeeping — passes straight through.
//!
//! Every block has a 16-byte header (size, tag) in front, so that untracked blocks can be freed
//! without a table. The table of tracked blocks is itself allocated, so bookkeeping runs with
//! a per-thread flag set that makes nested allocations untracked (no re-entry into the lock).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::books::violation;
use crate::context::in_driver_code;

/// In front of every block.
const HEADER: usize = 16;

/// A tracked block: bytes and tag.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub bytes: usize,
    pub tag: u32,
}

#[derive(Default)]
struct Tracking {
    live: BTreeMap<usize, Block>,
    freed: BTreeSet<usize>,
}

static TRACKING: Mutex<Tracking> = Mutex::new(Tracking {
    live: BTreeMap::new(),
    freed: BTreeSet::new(),
});
/// Tracked allocations since the last reset (the fault plan counts these).
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// The tracked allocation (1-based) that fails, 0 for none.
static FAIL_AT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static BOOKKEEPING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the tracking table locked; nested allocations are untracked.
fn with_tracking<R>(f: impl FnOnce(&mut Tracking) -> R) -> R {
    BOOKKEEPING.with(|flag| flag.set(true));
    let result = {
        let mut tracking = TRACKING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut tracking)
    };
    BOOKKEEPING.with(|flag| flag.set(false));
    result
}

fn tracked_now() -> bool {
    in_driver_code() && !BOOKKEEPING.with(Cell::get)
}

fn layout(bytes: usize) -> Option<Layout> {
    Layout::from_size_align(bytes.checked_add(HEADER)?, HEADER).ok()
}

/// `ExAllocatePool2`: zeroed, 16-aligned; NULL on failure (or when told to fail).
#[unsafe(no_mangle)]
pub extern "system" fn ExAllocatePool2(_flags: u64, bytes: usize, tag: u32) -> *mut c_void {
    let tracked = tracked_now();
    if tracked {
        let number = ALLOCATIONS.fetch_add(1, SeqCst) + 1;
        if FAIL_AT.load(SeqCst) == number {
            return std::ptr::null_mut();
        }
        if tag == 0 {
            violation("ExAllocatePool2", "tag 0");
        }
    }
    let Some(layout) = layout(bytes) else {
        return std::ptr::null_mut();
    };
    // SAFETY: a non-zero size (the header).
    let base = unsafe { System.alloc_zeroed(layout) };
    if base.is_null() {
        return base.cast();
    }
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "System gives HEADER (16) alignment"
    )]
    let header = base.cast::<[usize; 2]>();
    // SAFETY: the header lies in the block just allocated, 16-aligned.
    unsafe { header.write([bytes, tag as usize]) };
    // SAFETY: HEADER bytes into a block of HEADER + bytes.
    let block = unsafe { base.add(HEADER) };
    let address = block.addr();
    if tracked {
        with_tracking(|t| {
            t.freed.remove(&address);
            t.live.insert(address, Block { bytes, tag });
        });
    } else if !BOOKKEEPING.with(Cell::get) {
        with_tracking(|t| t.freed.remove(&address));
    }
    block.cast()
}

/// `ExFreePoolWithTag`: the tag must be the one the block was allocated with.
///
/// # Safety
/// `block` came from [`ExAllocatePool2`] (the checks report the cases where it did not, as far as
/// the table can tell).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExFreePoolWithTag(block: *mut c_void, tag: u32) {
    let address = block.addr();
    if !BOOKKEEPING.with(Cell::get) {
        let (tracked, double_free) = with_tracking(|t| match t.live.remove(&address) {
            Some(found) => {
                t.freed.insert(address);
                (Some(found), false)
            }
            None => (None, t.freed.contains(&address)),
        });
        if double_free {
            violation(
                "ExFreePoolWithTag",
                format_args!("{address:#x} freed twice"),
            );
            return;
        }
        if let Some(found) = tracked
            && found.tag != tag
        {
            violation(
                "ExFreePoolWithTag",
                format_args!(
                    "{address:#x}: tag {tag:#x}, allocated with {:#x}",
                    found.tag
                ),
            );
        }
    }
    // SAFETY: the block was allocated with a header in front of it (caller).
    let base = unsafe { block.cast::<u8>().sub(HEADER) };
    #[allow(clippy::cast_ptr_alignment, reason = "blocks are 16-aligned")]
    let header = base.cast::<[usize; 2]>();
    // SAFETY: as above; the header holds the size.
    let [bytes, _tag] = unsafe { header.read() };
    if let Some(layout) = layout(bytes) {
        // SAFETY: allocated by `System` with this layout.
        unsafe { System.dealloc(base, layout) };
    }
}

/// Tracked blocks not freed yet, by address.
pub fn outstanding() -> Vec<(usize, Block)> {
    with_tracking(|t| t.live.iter().map(|(&a, &b)| (a, b)).collect())
}

/// Tracked allocations so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(SeqCst)
}

/// Makes tracked allocation number `number` (counted by [`allocations`]) fail; 0 for none.
pub fn fail_allocation(number: u64) {
    FAIL_AT.store(number, SeqCst);
}

/// Forgets the freed-block history (a new session).
pub fn reset() {
    with_tracking(|t| t.freed.clear());
    FAIL_AT.store(0, SeqCst);
}
