"""The built `.sys`, executed: DriverEntry, the port's callbacks, the pre-create callback and
unload, called as Filter Manager calls them, with the books of `emulated_kernel` checked after
every test (no rule broken, no bug check, nothing leaked once unloaded).

The image: `$PUSHLOCK_SYS`, or what `cargo sys` leaves in `target/`.
"""

import os
import pathlib

import pytest

import wire
from emulated_kernel import (
    FLT_PREOP_SUCCESS_NO_CALLBACK,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_SUCCESS,
    EmulatedKernel,
    FaultPlan,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = os.environ.get(
    "PUSHLOCK_SYS", str(ROOT / "target/x86_64-pc-windows-msvc/release/pushlock_filter.dll")
)


def clean(kernel: EmulatedKernel) -> None:
    assert not kernel.bug_checks, kernel.bug_checks
    assert not kernel.violations, [str(v) for v in kernel.violations]


@pytest.fixture
def loaded():
    """A driver that loaded; each test ends by unloading it, and nothing may be left."""
    kernel = EmulatedKernel(IMAGE)
    assert kernel.driver_entry() == STATUS_SUCCESS
    yield kernel
    if kernel.filter is not None and not kernel.filter.unregistered:
        assert kernel.unload() == STATUS_SUCCESS
    clean(kernel)
    assert kernel.leaks() == []


@pytest.fixture
def connected(loaded):
    assert loaded.connect() == STATUS_SUCCESS
    return loaded


def test_driver_entry_registers_a_started_filter_with_a_port(loaded):
    assert loaded.filter.started
    assert loaded.filter.unload and loaded.filter.pre_create and loaded.filter.query_teardown
    assert loaded.server.name == "\\PushLockPort"
    assert loaded.server.max_connections == 1
    assert loaded.descriptors == set(), "the security descriptor is freed after the port"
    assert loaded.debug_log == ["pushlock_filter: loaded"]


POLICY_LOCK_TAG = int.from_bytes(b"PlkC", "little")


def test_driver_entry_takes_the_policy_lock_s_slots_and_unload_frees_them(loaded):
    """One pool block: a slot per processor (2 here), 128 bytes each, plus the slack that
    aligns them to 128."""
    assert list(loaded.pool.values()) == [(2 * 128 + 112, POLICY_LOCK_TAG)]
    assert loaded.unload() == STATUS_SUCCESS
    assert loaded.pool == {}


def test_without_pool_for_the_policy_lock_the_load_fails_cleanly():
    kernel = EmulatedKernel(IMAGE, FaultPlan(failing_allocations={1}))
    assert kernel.driver_entry() == STATUS_INSUFFICIENT_RESOURCES
    clean(kernel)
    assert kernel.leaks() == [] and kernel.filter is None
    assert any("policy" in line for line in kernel.debug_log), kernel.debug_log


def test_unload_without_a_client_closes_everything(loaded):
    assert loaded.unload() == STATUS_SUCCESS
    assert loaded.server.closed and loaded.filter.unregistered
    assert loaded.debug_log[-1] == "pushlock_filter: unloaded"


def test_unload_with_a_client_connected_closes_its_port(connected):
    """Filter Manager calls the disconnect callback from inside FltUnregisterFilter, and
    FltCloseClientPort needs the filter then (it was NULL once)."""
    assert connected.unload() == STATUS_SUCCESS
    assert connected.client is None


def test_disconnect_closes_the_port_of_its_own_connection(connected):
    """The connection cookie is the client port; FltCloseClientPort is called from a frame
    of the driver, not jumped to."""
    connected.disconnect()
    assert connected.client is None
    clean(connected)


def test_hello_is_answered(connected):
    status, reply, written = connected.send(wire.request(wire.HELLO, request_id=0x1234))
    assert status == STATUS_SUCCESS
    assert written == len(reply) > wire.HEADER.size
    head = wire.header(reply)
    assert head["command"] == wire.HELLO | wire.REPLY and head["request_id"] == 0x1234
    assert head["length"] == written
    hello = wire.hello(reply)
    assert hello["protocol"] == wire.VERSION and hello["platform"] == wire.PLATFORM_KERNEL
    assert hello["capabilities"] & wire.CAP_FILTER
    assert hello["processors"] == 2 and hello["scenarios"] > 0


MALFORMED = [
    ("empty", b"", wire.INFO_LENGTH_MISMATCH),
    ("short header", wire.request(wire.HELLO)[:20], wire.INFO_LENGTH_MISMATCH),
    ("bad magic", wire.request(wire.HELLO, magic=0x12345678), wire.INVALID_PARAMETER),
    ("length too long", wire.request(wire.HELLO, length=25), wire.INFO_LENGTH_MISMATCH),
    ("flags set", wire.request(wire.HELLO, flags=1), wire.INVALID_PARAMETER),
    ("unknown command", wire.request(0x77), wire.INVALID_DEVICE_REQUEST),
    ("old version", wire.request(wire.STATS, version=1), wire.REVISION_MISMATCH),
    ("payload on Stats", wire.request(wire.STATS, b"\0" * 8), wire.INFO_LENGTH_MISMATCH),
    ("short policy", wire.request(wire.SET_POLICY, b"\0" * 8), wire.INFO_LENGTH_MISMATCH),
    ("policy reserved", wire.request(wire.SET_POLICY, wire.policy([1], reserved=1)),
     wire.INVALID_PARAMETER),
    ("policy count past 64", wire.request(wire.SET_POLICY, wire.policy([], count=65)),
     wire.INVALID_PARAMETER),
    ("policy junk past count", wire.request(wire.SET_POLICY, wire.policy([1, 2], count=1)),
     wire.INVALID_PARAMETER),
    ("over 4 KiB", wire.request(wire.HELLO, b"\0" * 4096), wire.INFO_LENGTH_MISMATCH),
]


@pytest.mark.parametrize("name,message,expected", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_messages_are_refused_with_nothing_written(connected, name, message, expected):
    before = stats(connected)
    status, _reply, written = connected.send(message)
    assert status == expected, f"{name}: {status:#x}"
    assert written == 0
    assert connected.last_reply_buffer == b"\xee" * len(connected.last_reply_buffer)
    assert stats(connected)["messages"] == before["messages"] + 1, "only the Stats counted"


def test_a_reply_that_does_not_fit_is_refused(connected):
    status, _reply, written = connected.send(wire.request(wire.HELLO), reply_capacity=16)
    assert (status, written) == (wire.BUFFER_TOO_SMALL, 0)
    assert connected.last_reply_buffer == b"\xee" * 16


def stats(kernel: EmulatedKernel) -> dict:
    status, reply, _written = kernel.send(wire.request(wire.STATS))
    assert status == STATUS_SUCCESS
    return wire.stats(reply)


def test_policy_and_pre_create_counting_show_in_stats(connected):
    assert stats(connected)["filter_present"] == 1
    status, reply, _ = connected.send(wire.request(wire.SET_POLICY, wire.policy([1234, 99])))
    assert status == STATUS_SUCCESS and len(reply) == wire.HEADER.size
    for pid in (1234, 5, 99, 1234):
        assert connected.create(pid) == FLT_PREOP_SUCCESS_NO_CALLBACK
    counters = stats(connected)
    assert counters["creates_seen"] == 4
    assert counters["creates_matched"] == 3
    assert (counters["policy_updates"], counters["policy_size"]) == (1, 2)


def test_locks_shows_the_policy_lock_counting_the_port_and_the_creates(connected):
    status, reply, _ = connected.send(wire.request(wire.LOCKS))
    assert status == STATUS_SUCCESS
    before, = wire.locks(reply)
    assert before["name"] == "filter policy"
    connected.send(wire.request(wire.SET_POLICY, wire.policy([7])))
    for pid in (7, 8):
        connected.create(pid)
    status, reply, _ = connected.send(wire.request(wire.LOCKS))
    after, = wire.locks(reply)
    assert after["exclusive"] - before["exclusive"] == 1
    assert after["shared"] - before["shared"] == 2
    assert (after["contended"], after["word"], after["reserved"]) == (0, 0, 0)


def test_a_message_after_unload_began_takes_no_reference():
    """Rundown refused: the message is turned away, and no release without an acquire."""
    kernel = EmulatedKernel(IMAGE, FaultPlan(refuse_rundown=True))
    assert kernel.driver_entry() == STATUS_SUCCESS
    assert kernel.connect() == STATUS_SUCCESS
    status, _reply, written = kernel.send(wire.request(wire.HELLO))
    assert (status, written) == (wire.PORT_DISCONNECTED, 0)
    clean(kernel)


@pytest.mark.parametrize(
    "routine",
    [
        "FltRegisterFilter",
        "FltBuildDefaultSecurityDescriptor",
        "FltCreateCommunicationPort",
        "FltStartFiltering",
    ],
)
def test_a_failing_driver_entry_step_returns_its_status_and_undoes_the_rest(routine):
    failure = 0xC0000001 + len(routine)
    kernel = EmulatedKernel(IMAGE, FaultPlan(failing_routines={routine: failure}))
    assert kernel.driver_entry() == failure
    clean(kernel)
    assert kernel.leaks() == []
    if kernel.filter is not None:
        assert kernel.filter.unregistered
    assert any(routine in line for line in kernel.debug_log)


def test_every_allocation_of_a_message_failing_in_turn_is_refused_cleanly():
    """Pool exhaustion answers STATUS_INSUFFICIENT_RESOURCES: no bug check, no leak."""
    probe = EmulatedKernel(IMAGE)
    probe.driver_entry()
    probe.connect()
    before = probe.allocations
    probe.send(wire.request(wire.HELLO))
    sites = probe.allocations - before
    assert sites >= 1
    for site in range(1, sites + 1):
        kernel = EmulatedKernel(IMAGE, FaultPlan(failing_allocations={before + site}))
        assert kernel.driver_entry() == STATUS_SUCCESS
        assert kernel.connect() == STATUS_SUCCESS
        status, _reply, written = kernel.send(wire.request(wire.HELLO))
        assert (status, written) == (STATUS_INSUFFICIENT_RESOURCES, 0), f"allocation {site}"
        assert kernel.unload() == STATUS_SUCCESS
        clean(kernel)
        assert kernel.leaks() == []
