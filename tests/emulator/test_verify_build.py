"""The verify build (`cargo sys --features verify`), executed: its `DriverEntry` allocates the
verifier's tables (pool tagged `PlkR`, before the policy lock's slots) and fails the load without them, unload frees them, the
filter runs verified, and a C driver's recursive acquisition through the exports is reported
with the caller's return address (the Windows-convention trampolines, run) and bug-checks with
`PLCK` and the kind, as Verifier sessions on a test VM would see it; so is an acquisition above
`APC_LEVEL`, read from CR8 as the image reads it (the emulated kernel models the register).

The image: `$PUSHLOCK_VERIFY_SYS`, or what `cargo sys --features verify --target-dir
target/verify` leaves in `target/verify/`.
"""

import os
import pathlib

import pytest

import wire
from emulated_kernel import (
    APC_LEVEL,
    CURRENT_THREAD,
    DISPATCH_LEVEL,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_SUCCESS,
    BugCheck,
    EmulatedKernel,
    FaultPlan,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = os.environ.get(
    "PUSHLOCK_VERIFY_SYS",
    str(ROOT / "target/verify/x86_64-pc-windows-msvc/release/pushlock_filter.dll"),
)
TABLES_TAG = int.from_bytes(b"PlkR", "little")
POLICY_LOCK_TAG = int.from_bytes(b"PlkC", "little")
PLCK = 0x504C434B


@pytest.fixture
def verified():
    kernel = EmulatedKernel(IMAGE)
    assert kernel.driver_entry() == STATUS_SUCCESS
    return kernel


def test_driver_entry_allocates_the_tables_and_unload_frees_them(verified):
    tags = [tag for _size, tag in verified.pool.values()]
    assert tags == [TABLES_TAG, POLICY_LOCK_TAG], "the tables, then the policy lock's slots"
    assert verified.connect() == STATUS_SUCCESS
    status, _reply, _ = verified.send(wire.request(wire.SET_POLICY, wire.policy([7])))
    assert status == STATUS_SUCCESS
    for pid in (7, 8):
        verified.create(pid)
    status, reply, _ = verified.send(wire.request(wire.LOCKS))
    assert status == STATUS_SUCCESS
    (policy,) = wire.locks(reply)
    assert (policy["name"], policy["exclusive"], policy["shared"]) == ("filter policy", 1, 2)
    assert verified.unload() == STATUS_SUCCESS
    assert not verified.bug_checks and not verified.violations
    assert verified.leaks() == []


def test_without_its_tables_the_verify_build_does_not_load():
    kernel = EmulatedKernel(IMAGE, FaultPlan(failing_allocations={1}))
    assert kernel.driver_entry() == STATUS_INSUFFICIENT_RESOURCES
    assert kernel.leaks() == [] and kernel.filter is None


def test_a_c_caller_s_recursion_bug_checks_with_its_report(verified):
    exports = verified.exports()
    lock = verified.kernel_buffer(8)
    verified.call(exports["PlExAcquirePushLockShared"], lock)
    caller = verified.last_return_address
    with pytest.raises(BugCheck) as stopped:
        verified.call(exports["PlExAcquirePushLockExclusive"], lock)
    check = stopped.value
    assert (check.code, check.parameters) == (PLCK, [6, lock, 0x11, CURRENT_THREAD])
    log = "\n".join(verified.debug_log)
    assert "PUSH LOCK VERIFIER: recursive acquisition: exclusive by a thread that holds" in log
    assert f"this thread holds it: {lock:#x} shared, acquired at code {caller:#x}" in log, log
    assert verified.u64(lock) == 0x11, "the share is still held; the exclusive was not taken"


@pytest.mark.parametrize("acquire", ["PlExAcquirePushLockShared", "PlExAcquirePushLockExclusive"])
def test_an_acquisition_above_apc_level_bug_checks_with_the_irql_and_takes_nothing(
    verified, acquire
):
    exports = verified.exports()
    lock = verified.kernel_buffer(8)
    verified.irql = APC_LEVEL
    verified.call(exports[acquire], lock)
    assert verified.u64(lock) != 0 and verified.irql_reads > 0, "taken at APC_LEVEL, IRQL read"
    verified.call(exports["PlExReleasePushLock"], lock)
    verified.irql = DISPATCH_LEVEL
    with pytest.raises(BugCheck) as stopped:
        verified.call(exports[acquire], lock)
    caller = verified.last_return_address
    check = stopped.value
    assert (check.code, check.parameters) == (PLCK, [13, lock, DISPATCH_LEVEL, CURRENT_THREAD])
    log = "\n".join(verified.debug_log)
    assert "PUSH LOCK VERIFIER: acquisition at IRQL 2 (push locks: APC_LEVEL or below)" in log
    assert f"at code {caller:#x}" in log, log
    assert verified.u64(lock) == 0, "reported before the word changed"
