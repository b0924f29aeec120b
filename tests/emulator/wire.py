"""The few messages of `crates/protocol` the emulated lane sends, written out with `struct`.

The layouts are frozen per protocol version (crates/protocol/src/lib.rs and messages.rs); a
change there that is not made here fails these tests loudly, which is the point: the image is
driven by the bytes a harness would send, not by the Rust types.
"""

import struct

MAGIC = 0x4B434C50  # "PLCK", little-endian
VERSION = 2
REPLY = 0x8000
HEADER = struct.Struct("<IHHIIQ")  # magic, version, command, length, flags, request id

HELLO, LIST, RUN, STATS, SET_POLICY, LOCKS = 1, 2, 3, 4, 5, 6

INFO_LENGTH_MISMATCH = 0xC0000004
INVALID_PARAMETER = 0xC000000D
INVALID_DEVICE_REQUEST = 0xC0000010
BUFFER_TOO_SMALL = 0xC0000023
PORT_DISCONNECTED = 0xC0000037
REVISION_MISMATCH = 0xC0000059

PLATFORM_KERNEL = 2
CAP_FILTER = 0x1


def request(command: int, payload: bytes = b"", request_id: int = 7, version: int = VERSION,
            magic: int = MAGIC, flags: int = 0, length: int | None = None) -> bytes:
    size = HEADER.size + len(payload) if length is None else length
    return HEADER.pack(magic, version, command, size, flags, request_id) + payload


def policy(pids: list[int], count: int | None = None, reserved: int = 0) -> bytes:
    padded = list(pids) + [0] * (64 - len(pids))
    return struct.pack("<II64I", len(pids) if count is None else count, reserved, *padded)


def header(reply: bytes) -> dict:
    magic, version, command, length, flags, request_id = HEADER.unpack_from(reply)
    return dict(magic=magic, version=version, command=command, length=length, flags=flags,
                request_id=request_id)


def hello(reply: bytes) -> dict:
    (protocol, platform, _major, _minor, _patch, _reserved, processors, scenarios, lock_kinds,
     _reserved2, capabilities) = struct.unpack_from("<HHHHHHIIIIQ", reply, HEADER.size)
    return dict(protocol=protocol, platform=platform, processors=processors,
                scenarios=scenarios, lock_kinds=lock_kinds, capabilities=capabilities)


def stats(reply: bytes) -> dict:
    (messages, runs, passed, failed, timed_out, stuck, running, filter_present, creates_seen,
     creates_matched, policy_updates, policy_size, _reserved) = struct.unpack_from(
        "<6QII3QII", reply, HEADER.size)
    return dict(messages=messages, runs=runs, filter_present=filter_present,
                creates_seen=creates_seen, creates_matched=creates_matched,
                policy_updates=policy_updates, policy_size=policy_size)


LOCK_INFO = struct.Struct("<24s9Q")  # name, 7 counters, word, reserved


def locks(reply: bytes) -> list[dict]:
    count, reserved = struct.unpack_from("<II", reply, HEADER.size)
    assert reserved == 0
    entries = []
    for index in range(count):
        (name, shared, exclusive, contended, spun, sleeps, longest_wait, longest_hold, word,
         reserved) = LOCK_INFO.unpack_from(reply, HEADER.size + 8 + index * LOCK_INFO.size)
        entries.append(dict(name=name.rstrip(b"\0").decode(), shared=shared, exclusive=exclusive,
                            contended=contended, spun=spun, sleeps=sleeps,
                            longest_wait=longest_wait, longest_hold=longest_hold, word=word,
                            reserved=reserved))
    assert len(reply) == HEADER.size + 8 + count * LOCK_INFO.size
    return entries
