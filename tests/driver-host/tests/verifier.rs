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
    let test = "a_violation_prints_its_report_and_bug_checks_with_its_kind";
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert_eq!(child.status.code(), Some(134), "a bug check: {stderr}");
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
