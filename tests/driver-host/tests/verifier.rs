//! The verifier's kernel platform, executed on the user-mode kernel (verify builds): the thread
//! is `KeGetCurrentThread`, the IRQL `KeGetCurrentIrql`, the tables pool tagged `PlkR`, and a
//! violation prints its report through `DbgPrintEx` and bug-checks with `PLCK`, its kind and
//! its parameters. A bug check ends the process, so that test runs itself as a child.
#![cfg(feature = "verify")]

use std::process::Command;

use pushlock::verify::{self, Violation};
use pushlock::{KernelPlatform, RawPushLock};
use pushlock_kernel::{Session, at_irql};

type Lock = RawPushLock<KernelPlatform>;

/// The child's cue: commit the violation instead of watching for it.
const CHILD: &str = "PUSHLOCK_VERIFIER_CHILD";

/// Runs `test` in a child process as the one that commits the violation; it must end in a bug
/// check. Returns its standard error (the debugger log and the bug check).
fn bug_check_of(test: &str) -> String {
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&child.stderr).into_owned();
    assert_eq!(child.status.code(), Some(134), "a bug check: {stderr}");
    stderr
}

#[test]
fn an_acquisition_above_apc_level_is_reported_and_not_made() {
    let _session = Session::new();
    verify::start::<KernelPlatform>().expect("pool for the tables");
    let lock = Lock::new();
    let address = lock.as_ex_push_lock().addr();
    assert!(verify::begin_report_only(address));
    let (before, ..) = verify::reported();
    let taken = at_irql(2, || lock.try_lock_exclusive());
    let (after, kind, on) = verify::reported();
    verify::end_report_only(address);
    assert!(!taken, "an acquisition at DISPATCH_LEVEL must not be made");
    assert_eq!(
        (after - before, kind, on),
        (1, Violation::AboveApcLevel(2).kind(), address)
    );
    assert!(
        at_irql(1, || lock.try_lock_exclusive()),
        "APC_LEVEL is allowed"
    );
    // SAFETY: taken just above.
    unsafe { lock.unlock_exclusive() };
    // SAFETY: this thread's lock operations are over, and it holds none.
    unsafe { verify::stop::<KernelPlatform>() };
}

#[test]
fn a_violation_prints_its_report_and_bug_checks_with_its_kind() {
    if std::env::var_os(CHILD).is_some() {
        let _session = Session::new();
        let lock = Lock::new();
        lock.lock_shared();
        lock.lock_exclusive();
        unreachable!("the recursion must stop the system");
    }
    let stderr = bug_check_of("a_violation_prints_its_report_and_bug_checks_with_its_kind");
    let report = "debugger: PUSH LOCK VERIFIER: recursive acquisition: exclusive by a thread that \
                  holds the lock";
    assert!(stderr.contains(report), "{stderr}");
    assert!(stderr.contains("this thread holds it: 0x"), "{stderr}");
    assert!(
        stderr.contains("shared, acquired at tests/driver-host/tests/verifier.rs:"),
        "{stderr}"
    );
    let bug_check = stderr
        .lines()
        .find(|line| line.contains("BUG CHECK"))
        .unwrap_or_else(|| panic!("no bug check: {stderr}"));
    assert!(
        bug_check.contains("BUG CHECK 0x504c434b (0x6, 0x"),
        "{bug_check}"
    );
    assert!(bug_check.contains(", 0x11, 0x"), "the word: {bug_check}");
}

/// A share taken through the C export, from a function of known address: the verifier must
/// record this function's code as the site, not the export's.
#[inline(never)]
fn take_share_from_c(lock: *mut pushlock::EX_PUSH_LOCK) {
    // SAFETY: a live, initialised lock of the caller's.
    unsafe { pushlock_filter::exports::PlExAcquirePushLockShared(lock) };
}

#[test]
fn a_c_caller_s_return_address_is_the_site_of_its_acquisition() {
    if std::env::var_os(CHILD).is_some() {
        let _session = Session::new();
        let mut lock = pushlock::EX_PUSH_LOCK::new();
        let caller: fn(*mut pushlock::EX_PUSH_LOCK) = take_share_from_c;
        eprintln!("caller at {:p}", caller as *const ());
        take_share_from_c(&raw mut lock);
        // SAFETY: as above; deliberately recursive.
        unsafe { pushlock_filter::exports::PlExAcquirePushLockExclusive(&raw mut lock) };
        unreachable!("the recursion must stop the system");
    }
    let stderr = bug_check_of("a_c_caller_s_return_address_is_the_site_of_its_acquisition");
    let hex_after = |marker: &str| {
        let start = stderr.find(marker).map(|i| i + marker.len());
        let digits = start.map(|i| &stderr[i..]).and_then(|rest| {
            let rest = rest.strip_prefix("0x")?;
            let end = rest
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(rest.len());
            usize::from_str_radix(&rest[..end], 16).ok()
        });
        digits.unwrap_or_else(|| panic!("no {marker:?} in: {stderr}"))
    };
    let caller = hex_after("caller at ");
    let site = hex_after("shared, acquired at code ");
    assert!(
        (caller..caller + 256).contains(&site),
        "the site {site:#x} is not a return address in the caller at {caller:#x}: {stderr}"
    );
}
