"""The built driver image, executed: speakeasy maps `pushlock_filter.sys` and runs its code on
unicorn; this module supplies Filter Manager and the executive routines the image imports, as
API hooks that keep the books Driver Verifier and Filter Verifier keep, and lets a test call the
callbacks the driver registered exactly as Filter Manager would.

What the hooks check (each broken rule is a `Violation`, reported by `EmulatedKernel.violations`):

| routine | rule |
|---|---|
| `ExAllocatePool2` / `ExFreePoolWithTag` | non-zero tag; freed once, with the tag it was allocated with; nothing left at unload |
| `Ex*RundownProtection` | initialised before use; no release without an acquire; nothing held when the wait begins |
| `FltRegisterFilter` | registration version 0x0203, the size of the 0x0203 layout; once |
| `FltCreateCommunicationPort` | a registered filter; name, connect and disconnect callbacks present |
| `FltBuildDefaultSecurityDescriptor` / `FltFreeSecurityDescriptor` | every descriptor freed |
| `FltCloseClientPort` | the registered filter (never NULL), the address of a variable holding the connected client port; called, not tail-jumped to (Filter Verifier's false-report case) |
| `FltCloseCommunicationPort` | the open server port, once, before `FltUnregisterFilter` |
| `FltUnregisterFilter` | the registered filter, once; calls the disconnect callback of a connected client first, as Filter Manager does |
| `ProbeForRead` / `ProbeForWrite` | the range is user-mode memory |
| `KeBugCheckEx` | never: the run stops and the code and parameters are reported |

The IRQL is modelled too: unicorn keeps no CR8 (a write is dropped, a read gives 0), so every
`mov reg, cr8` in the image's code (how the verify build reads the IRQL: `KeGetCurrentIrql` is
inline, no export) is hooked and gives `EmulatedKernel.irql`, which a test sets as a caller
running at that IRQL would have it.

The callbacks are called through `call`, which lays the stack out as the x64 calling convention
requires (speakeasy's own `call` leaves no home space between the return address and a fifth
argument). Speakeasy runs one thread: routines that would block (a rundown wait with
references held, a thread start) are reported instead.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

import speakeasy

STATUS_SUCCESS = 0
STATUS_INSUFFICIENT_RESOURCES = 0xC000009A
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_FLT_DO_NOT_DETACH = 0xC01C0010

FLT_REGISTRATION_VERSION = 0x0203
FLT_REGISTRATION_SIZE = 112
IRP_MJ_CREATE = 0x00
IRP_MJ_OPERATION_END = 0x80
FLT_PREOP_SUCCESS_NO_CALLBACK = 1

# Where "user mode" buffers live: below MmUserProbeAddress, apart from everything speakeasy maps.
# The one thread speakeasy runs, as `KeGetCurrentThread` names it (the verify build keys its
# per-thread records by it).
CURRENT_THREAD = 0xFFFF_B000_0000_1000

USER_BASE = 0x0000_0000_6000_0000
USER_SIZE = 0x10_0000
MM_USER_PROBE_ADDRESS = 0x0000_7FFF_FFFF_0000

# `add rsp, 0x20; ret`: Filter Manager's side of a callback it makes from inside a routine.
_CALLBACK_RETURN_STUB = bytes([0x48, 0x83, 0xC4, 0x20, 0xC3])

PASSIVE_LEVEL = 0
APC_LEVEL = 1
DISPATCH_LEVEL = 2
# `mov r64, cr8`: REX with R set (CR8, not CR0) and maybe B (r8-r15), 0F 20, ModRM 11 000 rrr.
_MOV_FROM_CR8 = re.compile(rb"[\x44\x45]\x0f\x20[\xc0-\xc7]")
_REGISTERS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi") + tuple(
    f"r{n}" for n in range(8, 16)
)
_IMAGE_SCN_MEM_EXECUTE = 0x2000_0000


@dataclass
class Violation:
    """A rule of the table above, broken."""

    routine: str
    what: str

    def __str__(self) -> str:
        return f"{self.routine}: {self.what}"


class BugCheck(Exception):
    """The driver called `KeBugCheckEx`."""

    def __init__(self, code: int, parameters: list[int]):
        super().__init__(f"bug check {code:#x} ({', '.join(hex(p) for p in parameters)})")
        self.code = code
        self.parameters = parameters


@dataclass
class Filter:
    """What `FltRegisterFilter` was given."""

    handle: int
    unload: int
    query_teardown: int
    pre_create: int
    started: bool = False
    unregistered: bool = False


@dataclass
class ServerPort:
    """What `FltCreateCommunicationPort` was given."""

    handle: int
    name: str
    cookie: int
    connect: int
    disconnect: int
    message: int
    max_connections: int
    closed: bool = False


@dataclass
class Client:
    """A connected client: its port, and the cookie the driver gave back."""

    port: int
    cookie: int


@dataclass
class Rundown:
    """One `EX_RUNDOWN_REF`'s books."""

    references: int = 0
    run_down: bool = False


@dataclass
class FaultPlan:
    """Routines told to fail: the allocation numbers (1-based) that return NULL, routines that
    return a status without doing anything, and rundown protection refused (unload begun)."""

    failing_allocations: set[int] = field(default_factory=set)
    failing_routines: dict[str, int] = field(default_factory=dict)
    refuse_rundown: bool = False


class EmulatedKernel:
    """One driver image under speakeasy, with the routines it imports supplied here."""

    def __init__(self, image_path: str, faults: FaultPlan | None = None):
        self.faults = faults or FaultPlan()
        self.violations: list[Violation] = []
        self.bug_checks: list[BugCheck] = []
        self.debug_log: list[str] = []
        self.pool: dict[int, tuple[int, int]] = {}
        self.allocations = 0
        self.freed: set[int] = set()
        self.rundowns: dict[int, Rundown] = {}
        self.critical_region = 0
        self.irql = PASSIVE_LEVEL
        self.irql_reads = 0
        self.events: dict[int, bool] = {}
        self.descriptors: set[int] = set()
        self.filter: Filter | None = None
        self.server: ServerPort | None = None
        self.client: Client | None = None
        self.entry_status: int | None = None
        self.last_return_address: int | None = None
        self._next_handle = 0xFFFF_A000_0000_1000
        self._se = speakeasy.Speakeasy()
        self._emu = None
        self._module = self._se.load_module(image_path)
        self._image = (self._module.get_base(), self._module.get_image_size())
        self._install_hooks()
        self._model_cr8()

    # -- running the driver -------------------------------------------------------------------

    def driver_entry(self) -> int:
        """Runs `DriverEntry`; returns its NTSTATUS."""
        self._se.run_module(self._module)
        self._emu = self._se.emu
        self._emu.set_func_args = self._set_func_args
        self._user = self._emu.mem_map(USER_SIZE, base=USER_BASE, tag="test.user_buffers")
        self._stub = self._se.mem_alloc(0x1000, tag="test.fltmgr_stub")
        self._se.mem_write(self._stub, _CALLBACK_RETURN_STUB)
        entry = self._emu.runs[0]
        self._check_run(entry)
        self.entry_status = entry.ret_val & 0xFFFF_FFFF
        return self.entry_status

    def exports(self) -> dict[str, int]:
        """The image's exports by name: their addresses, as a C driver importing them sees."""
        base = self._module.get_base()
        symbols = self._module.DIRECTORY_ENTRY_EXPORT.symbols
        return {symbol.name.decode(): base + symbol.address for symbol in symbols if symbol.name}

    def call(self, address: int, *args: int) -> int:
        """Calls a driver routine as Filter Manager would; returns RAX."""
        emu = self._emu
        emu.run_queue.clear()
        emu.emu_complete = False
        self._se.call(address, list(args))
        run = emu.runs[-1]
        self._check_run(run)
        if self.critical_region:
            self._violate(
                "callback return",
                f"{self.critical_region} critical regions still entered (APC_INDEX_MISMATCH)",
            )
            self.critical_region = 0
        return run.ret_val

    def _check_run(self, run) -> None:
        if self.bug_checks:
            raise self.bug_checks[-1]
        if run.error:
            raise RuntimeError(f"emulation stopped in {run.type}: {run.error}")

    def _set_func_args(self, stack_top: int, return_address: int, *args: int, home_space=True):
        """The x64 convention: four arguments in registers, the return address at RSP, 32 bytes
        of home space above it, then the fifth and later arguments."""
        emu = self._emu
        for register, value in zip(("rcx", "rdx", "r8", "r9"), args):
            emu.reg_write(register, value)
        rest = list(args[4:])
        rsp = (stack_top - 0x100 - 8 * len(rest)) & ~0xF
        rsp -= 8  # at entry, RSP + 8 is 16-aligned
        for index, value in enumerate(rest):
            emu.mem_write(rsp + 0x28 + 8 * index, value.to_bytes(8, "little"))
        emu.mem_write(rsp, return_address.to_bytes(8, "little"))
        emu.reg_write("rsp", rsp)
        self.last_return_address = return_address

    # -- memory helpers -----------------------------------------------------------------------

    def read(self, address: int, size: int) -> bytes:
        return bytes(self._se.mem_read(address, size))

    def write(self, address: int, data: bytes) -> None:
        self._se.mem_write(address, data)

    def u64(self, address: int) -> int:
        return struct.unpack("<Q", self.read(address, 8))[0]

    def put_u64(self, address: int, value: int) -> None:
        self.write(address, struct.pack("<Q", value))

    def user_buffer(self, offset: int, data: bytes = b"") -> int:
        """An address in the user-mode range, holding `data`."""
        address = USER_BASE + offset
        if data:
            self.write(address, data)
        return address

    def kernel_buffer(self, size: int) -> int:
        return self._se.mem_alloc(max(size, 16), tag="test.kernel_buffer")

    def in_image(self, address: int) -> bool:
        base, size = self._image
        return base <= address < base + size

    def _arguments(self, count: int) -> list[int]:
        """The first `count` arguments of the routine being entered (RSP at its return address)."""
        registers = [self._se.reg_read(r) for r in ("rcx", "rdx", "r8", "r9")]
        rsp = self._se.reg_read("rsp")
        stacked = [self.u64(rsp + 0x28 + 8 * i) for i in range(max(count - 4, 0))]
        return (registers + stacked)[:count]

    def _handle(self) -> int:
        self._next_handle += 0x100
        return self._next_handle

    def _violate(self, routine: str, what: str) -> None:
        self.violations.append(Violation(routine, what))

    # -- the routines -------------------------------------------------------------------------

    def _install_hooks(self) -> None:
        hooks = {
            # fltmgr.sys
            ("fltmgr", "FltRegisterFilter", 3): self._flt_register_filter,
            ("fltmgr", "FltStartFiltering", 1): self._flt_start_filtering,
            ("fltmgr", "FltUnregisterFilter", 1): self._flt_unregister_filter,
            ("fltmgr", "FltBuildDefaultSecurityDescriptor", 2): self._flt_build_descriptor,
            ("fltmgr", "FltFreeSecurityDescriptor", 1): self._flt_free_descriptor,
            ("fltmgr", "FltCreateCommunicationPort", 8): self._flt_create_port,
            ("fltmgr", "FltCloseCommunicationPort", 1): self._flt_close_port,
            ("fltmgr", "FltCloseClientPort", 2): self._flt_close_client_port,
            ("fltmgr", "FltGetRequestorProcessId", 1): self._flt_requestor_pid,
            # ntoskrnl.exe
            ("ntoskrnl", "ExAllocatePool2", 3): self._ex_allocate_pool2,
            ("ntoskrnl", "ExFreePoolWithTag", 2): self._ex_free_pool_with_tag,
            ("ntoskrnl", "ExInitializeRundownProtection", 1): self._rundown_init,
            ("ntoskrnl", "ExAcquireRundownProtection", 1): self._rundown_acquire,
            ("ntoskrnl", "ExReleaseRundownProtection", 1): self._rundown_release,
            ("ntoskrnl", "ExWaitForRundownProtectionRelease", 1): self._rundown_wait,
            ("ntoskrnl", "ProbeForRead", 3): self._probe,
            ("ntoskrnl", "ProbeForWrite", 3): self._probe,
            ("ntoskrnl", "memcpy", 3): self._memmove,
            ("ntoskrnl", "memmove", 3): self._memmove,
            ("ntoskrnl", "memset", 3): self._memset,
            ("ntoskrnl", "DbgPrintEx", 5): self._dbg_print_ex,
            ("ntoskrnl", "KeBugCheckEx", 5): self._ke_bug_check_ex,
            ("ntoskrnl", "KeGetCurrentThread", 0): lambda argv: CURRENT_THREAD,
            ("ntoskrnl", "KeQueryActiveProcessorCountEx", 1): lambda argv: 2,
            ("ntoskrnl", "KeGetCurrentProcessorNumberEx", 1): lambda argv: 0,
            ("ntoskrnl", "KeEnterCriticalRegion", 0): self._enter_critical_region,
            ("ntoskrnl", "KeLeaveCriticalRegion", 0): self._leave_critical_region,
            ("ntoskrnl", "KeAreApcsDisabled", 0): lambda argv: int(self.critical_region > 0),
            ("ntoskrnl", "KeInitializeEvent", 3): self._ke_initialize_event,
            ("ntoskrnl", "KeSetEvent", 3): self._ke_set_event,
            ("ntoskrnl", "KeWaitForSingleObject", 5): self._ke_wait,
            ("ntoskrnl", "PsCreateSystemThread", 7): self._no_threads,
            ("hal", "KeQueryPerformanceCounter", 1): self._ke_query_performance_counter,
        }
        for (module, name, argc), handler in hooks.items():
            self._se.add_api_hook(self._adapt(name, handler, argc), module, name, argc=argc)

    def _model_cr8(self) -> None:
        """Hooks each `mov reg, cr8` in the image's executable sections: the register gets
        `self.irql` and the instruction is skipped."""
        base = self._module.get_base()
        for section in self._module.sections:
            if not section.Characteristics & _IMAGE_SCN_MEM_EXECUTE:
                continue
            start = base + section.VirtualAddress
            for found in _MOV_FROM_CR8.finditer(section.get_data()):
                rex, *_, modrm = found.group()
                register = _REGISTERS[(modrm & 7) + (8 if rex & 1 else 0)]
                address = start + found.start()
                self._se.add_code_hook(self._read_cr8, address, address + 1, {"to": register})

    def _read_cr8(self, se, address, size, ctx) -> bool:
        self.irql_reads += 1
        se.reg_write(ctx["to"], self.irql)
        se.set_pc(address + 4)
        return True

    def _adapt(self, name, handler, argc):
        """A hook that reads its own `argc` arguments (speakeasy passes as many as its own
        model of the routine has, where it has one)."""

        def hook(emu, api_name, original, argv):
            if name in self.faults.failing_routines:
                return self.faults.failing_routines[name]
            return handler(self._arguments(argc))

        hook.__name__ = name
        return hook

    def _flt_register_filter(self, argv) -> int:
        _driver, registration, out = argv
        size, version = struct.unpack("<HH", self.read(registration, 4))
        if version != FLT_REGISTRATION_VERSION or size != FLT_REGISTRATION_SIZE:
            self._violate("FltRegisterFilter", f"size {size}, version {version:#x}")
            return STATUS_INVALID_PARAMETER
        if self.filter is not None:
            self._violate("FltRegisterFilter", "registered twice")
        fields = struct.unpack("<16Q", self.read(registration + 8, 104) + bytes(24))
        operations, unload, query_teardown = fields[1], fields[2], fields[4]
        pre_create = 0
        while True:
            major, _flags, pre, _post = struct.unpack("<B3xIQQ", self.read(operations, 24))
            if major == IRP_MJ_OPERATION_END:
                break
            if major == IRP_MJ_CREATE:
                pre_create = pre
            operations += 32
        self.filter = Filter(self._handle(), unload, query_teardown, pre_create)
        self.put_u64(out, self.filter.handle)
        return STATUS_SUCCESS

    def _registered(self, routine: str, handle: int) -> bool:
        if handle == 0:
            self._violate(routine, "the Filter parameter is NULL")
            return False
        if self.filter is None or handle != self.filter.handle:
            self._violate(routine, f"{handle:#x} is not the registered filter")
            return False
        return True

    def _flt_start_filtering(self, argv) -> int:
        if self._registered("FltStartFiltering", argv[0]):
            self.filter.started = True
        return STATUS_SUCCESS

    def _flt_unregister_filter(self, argv) -> None:
        if not self._registered("FltUnregisterFilter", argv[0]):
            return None
        if self.filter.unregistered:
            self._violate("FltUnregisterFilter", "unregistered twice")
        if self.server is not None and not self.server.closed:
            self._violate("FltUnregisterFilter", "the server port is still open")
        self.filter.unregistered = True
        if self.client is not None:
            self._callback_from_inside(self.server.disconnect, self.client.cookie)
        return None

    def _callback_from_inside(self, callback: int, argument: int) -> None:
        """Makes the routine being hooked call `callback(argument)` before it returns: the
        callback returns into a stub outside the image, which returns to the routine's caller.

        Only for fltmgr routines, which speakeasy does not model: after such a hook it returns
        by popping RSP, so the callback's address goes where the return address was expected,
        and the stub's address above it, as the callback's own return address."""
        emu = self._emu
        inner = emu.reg_read("rsp") - 0x30
        emu.mem_write(inner, callback.to_bytes(8, "little"))
        emu.mem_write(inner + 8, self._stub.to_bytes(8, "little"))
        emu.reg_write("rsp", inner)
        emu.reg_write("rcx", argument)

    def _flt_build_descriptor(self, argv) -> int:
        out, _access = argv
        descriptor = self._se.mem_alloc(64, tag="test.security_descriptor")
        self.descriptors.add(descriptor)
        self.put_u64(out, descriptor)
        return STATUS_SUCCESS

    def _flt_free_descriptor(self, argv) -> None:
        if argv[0] not in self.descriptors:
            self._violate("FltFreeSecurityDescriptor", f"{argv[0]:#x} was not built or is freed")
        self.descriptors.discard(argv[0])

    def _flt_create_port(self, argv) -> int:
        filter_handle, out, attributes, cookie, connect, disconnect, message, max_conn = argv
        if not self._registered("FltCreateCommunicationPort", filter_handle):
            return STATUS_INVALID_PARAMETER
        name_pointer = self.u64(attributes + 16)
        length, _maximum, _pad, buffer = struct.unpack("<HHIQ", self.read(name_pointer, 16))
        name = self.read(buffer, length).decode("utf-16-le")
        if not name.startswith("\\") or connect == 0 or disconnect == 0:
            self._violate("FltCreateCommunicationPort", f"name {name!r} or a callback missing")
            return STATUS_INVALID_PARAMETER
        self.server = ServerPort(
            self._handle(), name, cookie, connect, disconnect, message, max_conn & 0xFFFF_FFFF
        )
        self.put_u64(out, self.server.handle)
        return STATUS_SUCCESS

    def _flt_close_port(self, argv) -> None:
        if self.server is None or argv[0] != self.server.handle:
            self._violate("FltCloseCommunicationPort", f"{argv[0]:#x} is not the server port")
        elif self.server.closed:
            self._violate("FltCloseCommunicationPort", "closed twice")
        else:
            self.server.closed = True

    def _flt_close_client_port(self, argv) -> None:
        filter_handle, variable = argv
        if not self.in_image(self._se.get_ret_address()):
            self._violate("FltCloseClientPort", "reached by a tail call (no frame of the driver)")
        if not self._registered("FltCloseClientPort", filter_handle):
            return
        port = self.u64(variable) if variable else 0
        if self.client is None or port != self.client.port:
            self._violate("FltCloseClientPort", f"{port:#x} is not the connected client port")
            return
        self.put_u64(variable, 0)
        self.client = None

    def _flt_requestor_pid(self, argv) -> int:
        return self.u64(argv[0])

    def _ex_allocate_pool2(self, argv) -> int:
        _flags, size, tag = argv
        self.allocations += 1
        if tag & 0xFFFF_FFFF == 0:
            self._violate("ExAllocatePool2", "tag 0")
        if self.allocations in self.faults.failing_allocations:
            return 0
        block = self._se.mem_alloc(max(size, 16), tag="test.pool")
        self.write(block, bytes(size))
        self.pool[block] = (size, tag & 0xFFFF_FFFF)
        return block

    def _ex_free_pool_with_tag(self, argv) -> None:
        block, tag = argv
        if block not in self.pool:
            what = "freed twice" if block in self.freed else "not from the pool"
            self._violate("ExFreePoolWithTag", f"{block:#x} {what}")
            return
        _size, allocated_tag = self.pool.pop(block)
        self.freed.add(block)
        if tag & 0xFFFF_FFFF != allocated_tag:
            self._violate("ExFreePoolWithTag", f"tag {tag:#x}, allocated with {allocated_tag:#x}")

    def _rundown(self, routine: str, address: int) -> Rundown | None:
        rundown = self.rundowns.get(address)
        if rundown is None:
            self._violate(routine, f"{address:#x} was never initialised")
        return rundown

    def _rundown_init(self, argv) -> None:
        self.put_u64(argv[0], 0)
        self.rundowns[argv[0]] = Rundown()

    def _rundown_acquire(self, argv) -> int:
        rundown = self._rundown("ExAcquireRundownProtection", argv[0])
        if rundown is None or rundown.run_down or self.faults.refuse_rundown:
            return 0
        rundown.references += 1
        return 1

    def _rundown_release(self, argv) -> None:
        rundown = self._rundown("ExReleaseRundownProtection", argv[0])
        if rundown is None:
            return
        if rundown.references == 0:
            self._violate("ExReleaseRundownProtection", "released without an acquire")
            return
        rundown.references -= 1

    def _rundown_wait(self, argv) -> None:
        rundown = self._rundown("ExWaitForRundownProtectionRelease", argv[0])
        if rundown is None:
            return
        if rundown.references:
            self._violate(
                "ExWaitForRundownProtectionRelease",
                f"{rundown.references} references held: the wait never ends",
            )
        rundown.run_down = True

    def _enter_critical_region(self, argv) -> None:
        self.critical_region += 1

    def _leave_critical_region(self, argv) -> None:
        if self.critical_region == 0:
            self._violate("KeLeaveCriticalRegion", "no critical region to leave")
            return
        self.critical_region -= 1

    def _ke_initialize_event(self, argv) -> None:
        self.events[argv[0]] = bool(argv[2] & 0xFF)

    def _ke_set_event(self, argv) -> int:
        if argv[0] not in self.events:
            self._violate("KeSetEvent", f"event {argv[0]:#x} was never initialised")
            return 0
        previous, self.events[argv[0]] = self.events[argv[0]], True
        return int(previous)

    def _ke_wait(self, argv) -> int:
        if argv[0] in self.events and self.events[argv[0]]:
            return STATUS_SUCCESS
        what = "never initialised" if argv[0] not in self.events else "not signalled"
        self._violate("KeWaitForSingleObject", f"{argv[0]:#x} {what}: one thread waits forever")
        self._se.stop()
        return STATUS_SUCCESS

    def _probe(self, argv) -> None:
        address, length, _alignment = argv
        if length and not (address + length <= MM_USER_PROBE_ADDRESS and address + length >= address):
            self._violate("ProbeForRead/Write", f"{address:#x}+{length} is not user memory")

    def _memmove(self, argv) -> int:
        destination, source, count = argv
        if count:
            self.write(destination, self.read(source, count))
        return destination

    def _memset(self, argv) -> int:
        destination, value, count = argv
        if count:
            self.write(destination, bytes([value & 0xFF]) * count)
        return destination

    def _dbg_print_ex(self, argv) -> int:
        _component, _level, format_pointer, first, second = argv
        text = self._se.read_mem_string(format_pointer)
        values = iter((first, second))
        out, i = [], 0
        while i < len(text):
            if text[i] == "%" and i + 1 < len(text):
                j = i + 1
                while text[j] not in "sSdiuxXpc%":
                    j += 1
                spec = text[j]
                if spec == "%":
                    out.append("%")
                elif spec == "s":
                    out.append(self._se.read_mem_string(next(values)))
                else:
                    out.append(f"{next(values) & 0xFFFF_FFFF:08X}")
                i = j + 1
            else:
                out.append(text[i])
                i += 1
        self.debug_log.append("".join(out).rstrip("\n"))
        return 0

    def _ke_bug_check_ex(self, argv) -> None:
        self.bug_checks.append(BugCheck(argv[0] & 0xFFFF_FFFF, list(argv[1:])))
        self._se.stop()

    def _no_threads(self, argv) -> int:
        self._violate("PsCreateSystemThread", "no threads in the emulated lane")
        return STATUS_INSUFFICIENT_RESOURCES

    def _ke_query_performance_counter(self, argv) -> int:
        if argv[0]:
            self.put_u64(argv[0], 10_000_000)
        self._counter = getattr(self, "_counter", 0) + 1000
        return self._counter

    # -- what Filter Manager does ---------------------------------------------------------------

    def connect(self) -> int:
        """A client connects (`FilterConnectCommunicationPort`)."""
        port = self._handle()
        cookie = self.kernel_buffer(8)
        status = self.call(self.server.connect, port, self.server.cookie, 0, 0, cookie) & 0xFFFF_FFFF
        if status == STATUS_SUCCESS:
            self.client = Client(port, self.u64(cookie))
        return status

    def disconnect(self) -> None:
        """The client closes its handle: Filter Manager calls the disconnect callback."""
        self.call(self.server.disconnect, self.client.cookie)

    def send(self, request: bytes, reply_capacity: int = 4096) -> tuple[int, bytes, int]:
        """`FilterSendMessage`: (status, the reply bytes the driver said it wrote, that count).
        The output buffer is filled with 0xEE first, so bytes written beyond the count show."""
        request_address = self.user_buffer(0, request)
        reply_address = self.user_buffer(0x8000, b"\xee" * reply_capacity)
        returned = self.kernel_buffer(8)
        self.write(returned, b"\xcc" * 4)
        status = self.call(
            self.server.message,
            self.client.cookie,
            request_address if request else 0,
            len(request),
            reply_address if reply_capacity else 0,
            reply_capacity,
            returned,
        ) & 0xFFFF_FFFF
        written = struct.unpack("<I", self.read(returned, 4))[0]
        self.last_reply_buffer = self.read(reply_address, reply_capacity) if reply_capacity else b""
        return status, self.last_reply_buffer[: min(written, reply_capacity)], written

    def create(self, pid: int) -> int:
        """An `IRP_MJ_CREATE` by process `pid` reaches the pre-operation callback."""
        data = self.kernel_buffer(16)
        self.put_u64(data, pid)
        context = self.kernel_buffer(8)
        return self.call(self.filter.pre_create, data, 0, context) & 0xFFFF_FFFF

    def unload(self, flags: int = 0) -> int:
        """`fltmc unload`: Filter Manager calls `FilterUnloadCallback`."""
        return self.call(self.filter.unload, flags) & 0xFFFF_FFFF

    def leaks(self) -> list[str]:
        """What a Verifier would report at unload."""
        found = [f"pool block {b:#x} ({s} bytes, tag {t:#x})" for b, (s, t) in self.pool.items()]
        found += [f"security descriptor {d:#x}" for d in self.descriptors]
        if self.server is not None and not self.server.closed:
            found.append("the server port")
        if self.client is not None:
            found.append("the client port")
        return found
