"""Interfaces on shmif buses: the Python face of libshmif's C API (rump.h)."""

from __future__ import annotations

import ctypes
import enum
import errno
import math
import numbers
import operator
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple, Optional, Union

from . import _lib

if TYPE_CHECKING:
    from scapy.packet import Packet

    from ._bridge import Bridge

MINFRAME = 14
"""Shortest frame: an Ethernet header."""
MAXFRAME = 1514
"""Longest frame: Ethernet header and a 1500-byte payload (no FCS)."""
MTU = 1500
MAXUNITS = 32768
"""Units run from 0 to MAXUNITS - 1."""
MAXLINKSTR = 1024
"""Longest bus path in bytes, counting the C string's NUL."""

BUSSIZE = 1048576
"""Bytes in a bus file: a 32-byte header and the ring."""
RINGSIZE = 1048544
"""Bytes in the ring of records (a frame header and a frame each)."""
FRAMEHDR = 24
"""Bytes of a record's frame header (on the 64-bit hosts libshmif runs on)."""
RING_FRAMES_60 = 12482
"""Frames of 60 bytes the ring holds: a reader that falls this far behind
the writers loses frames (Stats.lost), unless it is lossless."""
RING_FRAMES_1514 = 681
"""Frames of 1514 bytes the ring holds."""


class Start(enum.IntEnum):
    """Where reception starts at each up (Interface.set_start, open(start=)).

    NEWEST: the newest frame already on the bus, received again (NetBSD's
    behaviour, the default); NEXT: the first frame written after the up, a
    clean start on a bus that carried frames before; OLDEST: the oldest
    frame still on the bus. The environment variable SHMIF_START ("newest",
    "next" or "oldest") sets the start of interfaces created after it is set.
    """

    NEWEST = 0
    NEXT = 1
    OLDEST = 2


START_NEWEST = Start.NEWEST
START_NEXT = Start.NEXT
START_OLDEST = Start.OLDEST


class Flag(enum.IntFlag):
    """Interface flags (NetBSD's IFF_* values), from Interface.flags."""

    UP = 0x0001
    BROADCAST = 0x0002
    RUNNING = 0x0040
    PROMISC = 0x0100
    SIMPLEX = 0x0800
    MULTICAST = 0x8000


class Media(enum.IntEnum):
    """Media words: AUTO (the default) or NONE (`ifconfig shmifN media none`)."""

    AUTO = 0
    NONE = 1


class LinkState(enum.IntEnum):
    """Link states (NetBSD's LINK_STATE_* values)."""

    UNKNOWN = 0
    DOWN = 1
    UP = 2


class Cap(enum.IntFlag):
    """Offload capability bits (NetBSD's IFCAP_* values)."""

    TSOv4 = 0x00080
    IPv4_Rx = 0x00100
    IPv4_Tx = 0x00200
    TCPv4_Rx = 0x00400
    TCPv4_Tx = 0x00800
    UDPv4_Rx = 0x01000
    UDPv4_Tx = 0x02000
    TCPv6_Rx = 0x04000
    TCPv6_Tx = 0x08000
    UDPv6_Rx = 0x10000
    UDPv6_Tx = 0x20000
    TSOv6 = 0x40000


CAPABILITIES = Cap(0x7FF80)
"""Every capability: what shmif offers."""


class Csum(enum.IntFlag):
    """Checksum flags (NetBSD's M_CSUM_* values): requests for
    Interface.send_offload, and the status in Frame.csum."""

    TCPv4 = 0x0001
    UDPv4 = 0x0002
    TCP_UDP_BAD = 0x0004
    TCPv6 = 0x0010
    UDPv6 = 0x0020
    IPv4 = 0x0040
    IPv4_BAD = 0x0080
    TSOv4 = 0x0100
    TSOv6 = 0x0200


class CanceledError(OSError):
    """A receive ended by Interface.cancel() (or shmif_cancel from C code):
    an OSError with errno ECANCELED (named after it; not asyncio's
    CancelledError)."""


_NO_CSUM = Csum(0)
_HEXBYTE = re.compile(r"[0-9a-fA-F]{1,2}")

# How long one C call may block in the main thread. Signal handlers (Ctrl-C,
# pytest-timeout's SIGALRM) run only there, and only between C calls: a long
# wait there is made of such slices; restarting a receive has no effect on
# what is received. Other threads block in one call, which cancel(),
# down() and destroy() end.
_WAIT_SLICE_MS = 100
_C_INT_MAX = (1 << 31) - 1

# Creating calls run under this lock; so does destroy() while other threads
# are still inside calls on the interface (see Interface.destroy).
_units_lock = threading.Lock()

# Called with the absolute path of every bus an interface attaches to; the
# pytest plugin records the buses a test used.
_attach_hooks: list[Callable[[str], None]] = []

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def _error(err: int, call: str, where: Optional[str] = None, filename: Any = None) -> OSError:
    """An OSError for errno err; OSError picks the subclass (TimeoutError, ...)."""
    msg = f"{call}{' on ' + where if where else ''}: {os.strerror(err)}"
    cls = CanceledError if err == errno.ECANCELED else OSError
    if filename is not None:
        return cls(err, msg, os.fsdecode(os.fspath(filename)))
    return cls(err, msg)


def _encode_path(path: PathLike) -> bytes:
    p = os.fsencode(os.fspath(path))
    if b"\0" in p:
        raise ValueError("embedded null byte in bus path")
    return p


def _check_mode(mode: int) -> int:
    mode = operator.index(mode)
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"file mode {mode:#o} is not a set of permission bits")
    return mode


def _c_int(value: Any, what: str) -> int:
    """value as a C int; ctypes would silently wrap a larger one."""
    v = operator.index(value)
    if not -(1 << 31) <= v < (1 << 31):
        raise OverflowError(f"{what} {v} does not fit a C int")
    return v


def _c_uint32(value: Any, what: str) -> int:
    v = operator.index(value)
    if not 0 <= v < (1 << 32):
        raise OverflowError(f"{what} {v} does not fit a uint32_t")
    return v


def _notify_attach(path: bytes) -> None:
    if _attach_hooks:
        p = os.path.abspath(os.fsdecode(path))
        for hook in list(_attach_hooks):
            hook(p)


def _frame_bytes(frame: Any) -> bytes:
    """bytes of a frame given as a bytes-like object or a scapy packet."""
    if isinstance(frame, bytes):
        return frame
    scapy_packet = sys.modules.get("scapy.packet")
    if scapy_packet is not None and isinstance(frame, scapy_packet.Packet):
        return bytes(frame)
    try:
        view = memoryview(frame)
    except TypeError:
        raise TypeError(
            f"a frame is a bytes-like object or a scapy packet, not {type(frame).__name__}"
        ) from None
    return view.tobytes()


def _timeout_deadline(timeout: Optional[float]) -> Optional[float]:
    if timeout is None:
        return None
    if not timeout >= 0:  # also NaN
        raise ValueError(f"timeout must be None or >= 0 seconds, not {timeout!r}")
    if math.isinf(timeout):
        return None  # waits without limit, as None does
    return time.monotonic() + timeout


def _call_ms(deadline: Optional[float], most: int) -> int:
    """The timeout for the next C call: the time left, at most `most` ms
    (-1: without limit), at least 1 ms."""
    if deadline is None:
        return -1 if most == _C_INT_MAX else most
    left = math.ceil((deadline - time.monotonic()) * 1000)
    return max(1, min(most, left))


def _seconds_to_ms(value: Any, what: str) -> int:
    """A duration >= 0 in seconds as whole milliseconds for a C int, rounded
    up (so that any positive duration stays positive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} is a number of seconds, not {type(value).__name__}")
    if not value >= 0:  # also NaN
        raise ValueError(f"{what} must be >= 0 seconds, not {value!r}")
    if value * 1000 > _C_INT_MAX:
        raise OverflowError(f"{what} of {value} s does not fit a C int of milliseconds")
    return math.ceil(value * 1000)


_START_NAMES = {"newest": Start.NEWEST, "next": Start.NEXT, "oldest": Start.OLDEST}


def _start_value(start: Any) -> int:
    """A start given as Start, an int or its SHMIF_START name, as a C int."""
    if isinstance(start, str):
        try:
            return _START_NAMES[start]
        except KeyError:
            raise ValueError(f"start is one of {', '.join(_START_NAMES)}, not {start!r}") from None
    return _c_int(start, "start")


class Frame(bytes):
    """A received frame: the bytes of an Ethernet frame (compares, hashes and
    slices as bytes) with what the bus says about it.

    sec, usec: the sender's timestamp (libshmif stamps wall-clock time,
    NetBSD rump kernels their uptime). csum: the checksum status
    (Csum.TCP_UDP_BAD, Csum.IPv4_BAD, or the checks done) while an RX
    capability is enabled, else Csum(0). sender: the sending interface's
    64-bit id (Interface.sender; one random id per inject() call).
    """

    sec: int
    usec: int
    csum: Csum
    sender: int

    def __new__(cls, data: Any = b"", sec: int = 0, usec: int = 0, csum: int = 0,
                sender: int = 0) -> "Frame":
        self = super().__new__(cls, data)
        self.sec = sec
        self.usec = usec
        self.csum = Csum(csum) if csum else _NO_CSUM
        self.sender = sender
        return self

    @property
    def time(self) -> float:
        """The sender's timestamp in seconds, like scapy's Packet.time."""
        return self.sec + self.usec / 1e6

    def __reduce__(self) -> Any:
        return (Frame, (bytes(self), self.sec, self.usec, int(self.csum), self.sender))


@dataclass(frozen=True)
class Stats:
    """Interface counters (struct shmif_stats). `after - before` gives the
    counts of what happened in between."""

    ipackets: int
    """Frames received (accepted by the filter)."""
    ibytes: int
    imcasts: int
    """Of the frames received, those multicast or broadcast."""
    opackets: int
    """Frames sent."""
    obytes: int
    omcasts: int
    oerrors: int
    """Frames refused by send_offload, and frames lost to a bus error."""
    lost: int
    """Bus records overwritten before this interface's reader reached them."""
    corrupt: int
    """Bus records skipped because they were damaged."""

    def __sub__(self, other: "Stats") -> "Stats":
        if not isinstance(other, Stats):
            return NotImplemented
        return Stats(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))


def _make_buffers(n: int) -> tuple[int, Any, Any]:
    """(n, struct shmif_frame[n], data) with room for n frames of MAXFRAME."""
    data = ctypes.create_string_buffer(n * MAXFRAME)
    frames = (_lib.ShmifFrame * n)()
    base = ctypes.addressof(data)
    for i in range(n):
        frames[i].data = base + i * MAXFRAME
        frames[i].cap = MAXFRAME
    return n, frames, data


class _Kept(threading.local):
    buffers: Optional[tuple[int, Any, Any]] = None


# Receive buffers kept per thread between calls, up to this many frames. A
# call takes them and gives them back, so a signal handler that receives on
# the same thread in between gets buffers of its own.
_kept = _Kept()
_KEEP_FRAMES = 256


def _take_buffers(n: int) -> tuple[int, Any, Any]:
    kept = _kept.buffers
    if kept is not None and kept[0] >= n:
        _kept.buffers = None
        return kept
    return _make_buffers(n)


def _give_back(buffers: tuple[int, Any, Any]) -> None:
    kept = _kept.buffers
    if buffers[0] <= _KEEP_FRAMES and (kept is None or kept[0] < buffers[0]):
        _kept.buffers = buffers


class _Receive:
    """A receive waiting on an interface: its thread, and the count of
    cancel() calls when it began."""

    __slots__ = ("thread", "cancels")

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.cancels = 0


class Interface:
    """An interface shmif<unit>: a handle on one unit of libshmif.

    Made by open() (attached to a bus and up) or create() (no bus, down).
    Every method is safe to call from any thread at any time, as the C calls
    are; blocking calls release the GIL. Errors are OSError with the errno
    the C call returned (so TimeoutError, BlockingIOError, FileNotFoundError,
    ... apply), its message naming the call and the interface.

    destroy() (or close(), or leaving a with block) frees the unit; later
    calls raise OSError(ENXIO), and destroying again does nothing. Threads
    blocked in a receive get OSError(ENXIO); cancel() ends their receives
    with CanceledError and leaves the interface as it is.
    """

    __slots__ = ("_unit", "_lock", "_idle", "_inflight", "_closed", "_gone",
                 "_cancels", "_receives", "_received", "__weakref__")

    def __init__(self, unit: int) -> None:
        """Wrap a unit libshmif already made; use open() or create() instead."""
        self._unit = _c_int(unit, "unit")
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._closed = False  # no new call may start
        self._gone = False  # and the unit is destroyed
        # cancel() counts itself in _cancels; every waiting receive is in
        # _receives with the count it began with, and leaves through
        # _received (see cancel).
        self._cancels = 0
        self._receives: set[_Receive] = set()
        self._received = threading.Condition(self._lock)

    # -- the gate every C call passes -------------------------------------
    #
    # Units are small integers that libshmif reuses: a call still on its way
    # into C while another thread destroys the interface must not reach a
    # new interface that got the same unit. Calls count themselves in and
    # out; destroy() keeps new units from being made until they are out.

    def _enter(self, call: str) -> int:
        with self._lock:
            if self._closed:
                raise OSError(errno.ENXIO, f"{call} on {self.name}: interface was destroyed")
            self._inflight += 1
        return self._unit

    def _leave(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._closed and self._inflight == 0:
                self._idle.notify_all()

    def _call(self, call: str, *args: Any) -> int:
        """Call the C function `call` on this unit; return its errno value."""
        unit = self._enter(call)
        try:
            return getattr(_lib.load(), call)(unit, *args)
        finally:
            self._leave()

    def _do(self, call: str, *args: Any) -> None:
        err = self._call(call, *args)
        if err:
            raise _error(err, call, self.name)

    def _get_int(self, call: str, ctype: Any = ctypes.c_int) -> int:
        v = ctype()
        self._do(call, ctypes.byref(v))
        return v.value

    def _wait(self, call: str, attempt: Callable[[int], int], timeout: Optional[float]) -> None:
        """Run attempt(timeout_ms) until it succeeds, fails otherwise than
        with ETIMEDOUT, or timeout seconds (None: no limit) have passed.

        In the main thread the wait is made of calls of at most
        _WAIT_SLICE_MS, so that signal handlers run; elsewhere it is one
        call (more only past the 24 days a C int of milliseconds holds).
        A cancel() while it waits ends it with ECANCELED: the C call wakes
        with it, or the next one is not made.
        """
        if timeout == 0:
            err = attempt(0)
        else:
            deadline = _timeout_deadline(timeout)
            most = _WAIT_SLICE_MS if threading.current_thread() is threading.main_thread() \
                else _C_INT_MAX
            rx = _Receive()
            with self._lock:
                rx.cancels = self._cancels
                self._receives.add(rx)
            try:
                while True:
                    err = attempt(_call_ms(deadline, most))
                    if err != errno.ETIMEDOUT:
                        break
                    if self._cancels != rx.cancels:
                        err = errno.ECANCELED
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        break
            finally:
                with self._lock:
                    self._receives.discard(rx)
                    self._received.notify_all()
        if err:
            raise _error(err, call, self.name)

    # -- identity and life ------------------------------------------------

    @property
    def unit(self) -> int:
        """The unit number (the ifnum of the C API)."""
        return self._unit

    @property
    def name(self) -> str:
        """The interface name, shmif<unit>."""
        return f"shmif{self._unit}"

    @property
    def closed(self) -> bool:
        """True once destroy() was called."""
        return self._closed

    def destroy(self) -> None:
        """Destroy the interface (`ifconfig shmifN destroy`): take it down,
        detach the bus and free the unit. The bus file stays. Threads blocked
        in a receive on it get OSError(ENXIO). Destroying again does nothing."""
        with self._lock:
            if self._closed:
                # Another thread is destroying it: return when it is done.
                self._idle.wait_for(lambda: self._gone)
                return
            self._closed = True
            busy = self._inflight > 0
        try:
            err = self._destroy(busy)
        finally:
            with self._lock:
                self._gone = True
                self._idle.notify_all()
        # ENXIO: the unit was destroyed behind this object's back (by C code
        # in the same process); it is gone either way.
        if err and err != errno.ENXIO:
            raise _error(err, "shmif_destroy", self.name)

    def _destroy(self, busy: bool) -> int:
        lib = _lib.load()
        if not busy:
            # No call can reach the unit through this object any more.
            err = lib.shmif_destroy(self._unit)
        else:
            # Calls already past the gate return at once (the unit is gone,
            # ENXIO) or are woken by the destroy; until they are out, no
            # interface may be made that could get this unit again.
            with _units_lock:
                err = lib.shmif_destroy(self._unit)
                with self._lock:
                    self._idle.wait_for(lambda: self._inflight == 0)
        return err

    close = destroy

    def cancel(self) -> None:
        """End every receive waiting on the interface, in any thread, with
        CanceledError (an OSError with errno ECANCELED), and make fileno()
        readable, without changing the interface.

        It returns once the receives of other threads that were waiting when
        it was called have returned (a receive that got its frame first
        returns it); a receive of the calling thread (cancel() called from a
        signal handler) ends when the handler returns. Receives that begin
        after cancel() returns are not affected; ones that begin while it
        runs may end with CanceledError too. Safe from any thread and from
        signal handlers. OSError(ENXIO) once destroyed.
        """
        me = threading.get_ident()
        with self._lock:
            if self._closed:
                raise OSError(errno.ENXIO, f"shmif_cancel on {self.name}: interface was destroyed")
            self._cancels += 1
            cancels = self._cancels

        def waiting() -> bool:
            return any(rx.cancels < cancels and rx.thread != me for rx in self._receives)

        # shmif_cancel wakes the receives inside the C call now; one still on
        # its way into it would wait on. So repeat it until every receive
        # that began before is out: such a receive is in C within
        # microseconds, and the next shmif_cancel wakes it.
        pause = 0.001
        first = True
        while True:
            try:
                self._do("shmif_cancel")
            except OSError as e:
                # Destroyed meanwhile: destroy() woke them (ENXIO).
                if first or e.errno != errno.ENXIO:
                    raise
                return
            first = False
            with self._lock:
                if self._received.wait_for(lambda: not waiting(), pause):
                    return
            pause = min(2 * pause, 0.05)

    def __enter__(self) -> "Interface":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.destroy()

    def __del__(self) -> None:
        # Only reached with no call in flight: a call holds a reference.
        try:
            if self._closed:
                return
            warnings.warn(f"unclosed shmif interface {self.name}", ResourceWarning, source=self)
            self.destroy()
        except Exception:
            pass

    def __repr__(self) -> str:
        if self._closed:
            return f"<shmif.Interface {self.name} destroyed>"
        try:
            state = "up" if self.flags & Flag.UP else "down"
            return f"<shmif.Interface {self.name} {state} bus={self.linkstr!r}>"
        except OSError as e:
            return f"<shmif.Interface {self.name} ({e.strerror})>"

    # -- bus --------------------------------------------------------------

    @property
    def linkstr(self) -> Optional[str]:
        """The bus path as it was given, or None without a bus."""
        size = MAXLINKSTR
        while True:
            buf = ctypes.create_string_buffer(size)
            needed = ctypes.c_size_t()
            err = self._call("shmif_get_linkstr", buf, size, ctypes.byref(needed))
            if err == errno.ENAMETOOLONG and needed.value > size:
                size = needed.value
                continue
            if err == errno.ENOENT:
                return None
            if err:
                raise _error(err, "shmif_get_linkstr", self.name)
            return os.fsdecode(buf.value)

    def attach(self, path: PathLike, mode: Optional[int] = None) -> None:
        """Attach the bus file at path (`ifconfig shmifN linkstr PATH`),
        creating it with mode (default 0644, under the umask) if it does not
        exist. The interface must be down and without a bus (EBUSY); bring
        it up with up()."""
        p = _encode_path(path)
        if mode is None:
            err = self._call("shmif_set_linkstr", p)
            call = "shmif_set_linkstr"
        else:
            err = self._call("shmif_set_linkstr_mode", p, _check_mode(mode))
            call = "shmif_set_linkstr_mode"
        if err:
            raise _error(err, call, self.name, path)
        _notify_attach(p)

    def detach(self) -> None:
        """Detach the bus (`ifconfig shmifN -linkstr`); the interface must be
        down (EBUSY). This closes the descriptor fileno() returned."""
        self._do("shmif_unset_linkstr")

    def up(self) -> None:
        """Bring the interface up. Every up restarts reception at the newest
        frame already on the bus, which is received again (as in NetBSD)."""
        self._do("shmif_up")

    def down(self) -> None:
        """Bring the interface down; blocked receivers get OSError(ENETDOWN)."""
        self._do("shmif_down")

    @property
    def is_up(self) -> bool:
        return bool(self.flags & Flag.UP)

    @property
    def flags(self) -> Flag:
        """The IFF_* flags: BROADCAST, SIMPLEX, MULTICAST always; UP and
        RUNNING while up; PROMISC when promiscuous."""
        return Flag(self._get_int("shmif_get_flags"))

    @property
    def mtu(self) -> int:
        return self._get_int("shmif_get_mtu")

    @property
    def mac(self) -> str:
        """The link address as "b2:a0:12:34:56:78". Set it from such a
        string (':' or '-' separated) or from 6 bytes; multicast and
        broadcast addresses are refused (EINVAL)."""
        return ":".join(f"{b:02x}" for b in self.mac_bytes)

    @mac.setter
    def mac(self, value: Union[str, bytes, bytearray]) -> None:
        if isinstance(value, str):
            parts = value.replace("-", ":").split(":")
            if len(parts) != 6 or not all(_HEXBYTE.fullmatch(p) for p in parts):
                raise ValueError(f"not a MAC address: {value!r}")
            raw = bytes(int(p, 16) for p in parts)
        else:
            raw = bytes(value)
            if len(raw) != 6:
                raise ValueError(f"a MAC address has 6 bytes, not {len(raw)}")
        self._do("shmif_set_mac", (ctypes.c_uint8 * 6).from_buffer_copy(raw))

    @property
    def mac_bytes(self) -> bytes:
        """The link address as 6 bytes (for building frames)."""
        mac = (ctypes.c_uint8 * 6)()
        self._do("shmif_get_mac", mac)
        return bytes(mac)

    @property
    def promisc(self) -> bool:
        """Promiscuous mode: receive unicast frames for any address too."""
        return bool(self.flags & Flag.PROMISC)

    @promisc.setter
    def promisc(self, on: bool) -> None:
        self._do("shmif_set_promisc", 1 if on else 0)

    @property
    def media(self) -> Media:
        """Media.AUTO, or Media.NONE: the link goes down and frames are
        neither written nor received (sends still succeed and count)."""
        return Media(self._get_int("shmif_get_media"))

    @media.setter
    def media(self, media: int) -> None:
        self._do("shmif_set_media", _c_int(media, "media"))

    @property
    def link_state(self) -> LinkState:
        """DOWN with media none; else UP with a bus, UNKNOWN without."""
        return LinkState(self._get_int("shmif_get_link_state"))

    def stats(self) -> Stats:
        """The interface counters now."""
        st = _lib.ShmifStats()
        self._do("shmif_get_stats", ctypes.byref(st))
        return Stats(*(getattr(st, name) for name, _ in _lib.ShmifStats._fields_))

    @property
    def spin(self) -> int:
        """How long a receiver that finds nothing watches the bus before it
        blocks, in microseconds (default 50 or SHMIF_SPIN_US; 0: never).
        Spinning trades CPU time for latency."""
        return self._get_int("shmif_get_spin")

    @spin.setter
    def spin(self, usec: int) -> None:
        self._do("shmif_set_spin", _c_int(usec, "spin time"))

    def set_spin(self, usec: int) -> None:
        """Set spin (microseconds; EINVAL if negative)."""
        self._do("shmif_set_spin", _c_int(usec, "spin time"))

    @property
    def sender(self) -> int:
        """The interface's sender id: a random 64-bit number chosen at
        creation that every frame it sends carries (Frame.sender); its first
        four bytes in memory are the last four of the initial MAC."""
        return self._get_int("shmif_get_sender", ctypes.c_uint64)

    def set_start(self, start: Union[int, str]) -> None:
        """Where reception starts at the next up() and every later one:
        Start.NEWEST, NEXT or OLDEST, or their names "newest", "next",
        "oldest" (ValueError for another name, EINVAL for another number).
        Interfaces start as SHMIF_START says, NEWEST without it."""
        self._do("shmif_set_start", _start_value(start))

    @property
    def lossless(self) -> float:
        """The longest a writer waits for this receiver, in seconds: 0.0 for
        an ordinary receiver. Set it > 0 to make the interface a lossless
        receiver: libshmif writers on its bus (in any process) do not
        overwrite frames it has not read; a writer that would waits up to
        this long (from the start of its send), then writes anyway, and the
        frames missed are counted in Stats.lost. Senders slow down to their
        slowest lossless receiver; NetBSD writers know nothing of it. Set
        0 or None to turn it off. Milliseconds are what counts (rounded up).
        """
        ms = ctypes.c_int()
        self._do("shmif_get_lossless", ctypes.byref(ms), None)
        return ms.value / 1000

    @lossless.setter
    def lossless(self, max_wait: Optional[float]) -> None:
        ms = 0 if max_wait is None else _seconds_to_ms(max_wait, "lossless")
        self._do("shmif_set_lossless", ms)

    @property
    def lossless_active(self) -> bool:
        """True while writers heed lossless: it is set, and the interface is
        up on a bus with libshmif's private state beside it (in /dev/shm)."""
        active = ctypes.c_int()
        self._do("shmif_get_lossless", None, ctypes.byref(active))
        return bool(active.value)

    @property
    def capabilities(self) -> Cap:
        """The offload capabilities shmif offers (CAPABILITIES)."""
        return Cap(self._get_int("shmif_get_capabilities", ctypes.c_uint32))

    @property
    def capenable(self) -> Cap:
        """The enabled offload capabilities (initially RUMP_SHMIF_CAPENABLE)."""
        return Cap(self._get_int("shmif_get_capenable", ctypes.c_uint32))

    @capenable.setter
    def capenable(self, caps: int) -> None:
        self._do("shmif_set_capenable", _c_uint32(caps, "capabilities"))

    # -- frames -----------------------------------------------------------

    def send(self, frame: Any) -> None:
        """Put one frame (14 to 1514 bytes, no FCS) on the bus. frame is a
        bytes-like object or a scapy packet. EINVAL: too short; EMSGSIZE: too
        long; ENETDOWN: the interface is down."""
        data = _frame_bytes(frame)
        self._do("shmif_send", data, len(data))

    def send_batch(self, frames: Iterable[Any]) -> None:
        """Put several frames on the bus with one lock hold and one wake-up.
        All are checked first: if one is refused, none is sent."""
        datas = [_frame_bytes(f) for f in frames]
        arr = (_lib.ShmifFrame * len(datas))()
        for slot, data in zip(arr, datas):
            slot.data = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
            slot.len = len(data)
        self._do("shmif_send_batch", arr, len(datas))

    def send_offload(self, frame: Any, csum_flags: int, mss: int = 0) -> None:
        """Send a frame whose checksums (Csum.IPv4, Csum.UDPv4, ...) or TCP
        segmentation (Csum.TSOv4/TSOv6 with mss) are left to the interface;
        each request needs its capability in capenable (else EOPNOTSUPP)."""
        data = _frame_bytes(frame)
        self._do("shmif_send_offload", data, len(data), _c_uint32(csum_flags, "csum_flags"),
                 _c_uint32(mss, "mss"))

    def recv(self, timeout: Optional[float] = None) -> Frame:
        """Receive one frame, waiting up to timeout seconds (None: no limit;
        0: only look). Frames this interface sent, and unicast frames for
        other addresses unless promiscuous, are not received.

        Raises BlockingIOError (EAGAIN) when timeout is 0 and no frame is
        there, TimeoutError (ETIMEDOUT) when none came in time, OSError
        ENETDOWN or ENXIO when the interface is or was taken down or
        destroyed, CanceledError when cancel() ended the wait.
        """
        buffers = _take_buffers(1)
        _, frames, data = buffers
        try:
            self._wait(
                "shmif_recv_frame",
                lambda ms: self._call("shmif_recv_frame", frames, ms),
                timeout,
            )
            f = frames[0]
            return Frame(memoryview(data)[: f.len], f.sec, f.usec, f.csum, f.sender)
        finally:
            _give_back(buffers)

    def recv_into(self, buffer: Any, timeout: Optional[float] = None) -> int:
        """Receive one frame into a writable bytes-like buffer and return its
        length (socket.recv_into style). A frame longer than the buffer
        stays on the bus and raises OSError(EMSGSIZE); MAXFRAME bytes always
        suffice. Timeouts and errors as recv()."""
        view = memoryview(buffer).cast("B")
        if view.readonly:
            raise TypeError("recv_into needs a writable buffer")
        cbuf = (ctypes.c_char * view.nbytes).from_buffer(view)
        got = ctypes.c_size_t()
        try:
            self._wait(
                "shmif_recv",
                lambda ms: self._call("shmif_recv", cbuf, view.nbytes, ctypes.byref(got), ms),
                timeout,
            )
        except OSError as e:
            if e.errno == errno.EMSGSIZE:
                raise OSError(
                    errno.EMSGSIZE,
                    f"{e.strerror}: the next frame has {got.value} bytes, the buffer {view.nbytes}",
                ) from None
            raise
        return got.value

    def recv_batch(self, max_frames: int = 32, timeout: Optional[float] = None) -> list[Frame]:
        """Receive up to max_frames frames that are waiting, under at most one
        lock hold, waiting up to timeout seconds for the first. Returns at
        least one frame; timeouts and errors as recv()."""
        max_frames = operator.index(max_frames)
        if max_frames < 0:
            raise ValueError("max_frames must be >= 0")
        if max_frames == 0:
            return []
        buffers = _take_buffers(max_frames)
        _, frames, data = buffers
        got = ctypes.c_size_t()
        try:
            self._wait(
                "shmif_recv_batch",
                lambda ms: self._call("shmif_recv_batch", frames, max_frames, ctypes.byref(got), ms),
                timeout,
            )
            view = memoryview(data)
            out = []
            for i in range(got.value):
                f = frames[i]
                start = i * MAXFRAME
                out.append(Frame(view[start : start + f.len], f.sec, f.usec, f.csum, f.sender))
            return out
        finally:
            _give_back(buffers)

    def frames(self, timeout: Optional[float]) -> Iterator[Frame]:
        """Iterate over received frames until none arrives for timeout
        seconds (0: until none is waiting; None: for ever). Errors other
        than the timeout (ENETDOWN, ENXIO, CanceledError, ...) are raised.

        Frames are received one at a time, so leaving the loop early loses
        none."""
        while True:
            try:
                frame = self.recv(timeout)
            except (TimeoutError, BlockingIOError):
                return
            yield frame

    def recv_packet(self, timeout: Optional[float] = None) -> "Packet":
        """recv() as a scapy Ether packet (its time the sender's timestamp).
        Needs scapy."""
        from ._scapy import to_scapy

        return to_scapy(self.recv(timeout))

    # -- bridges ----------------------------------------------------------

    def bridge(self, endpoint: str, *, learning: bool = False, ageing: Optional[float] = None,
               no_repeat_guard: bool = False, seed: Optional[int] = None,
               control: Optional[PathLike] = None, control_mode: Optional[int] = None,
               impair_log: Optional[PathLike] = None,
               impair: Union[str, Iterable[str], None] = None) -> "Bridge":
        """Bridge this interface to endpoint (shmif_bridge_attach), with the
        options of shmif.bridge() but mode. The interface stays the
        caller's: the bridge turns its promiscuous mode on and
        Bridge.close() restores it. Frames it receives are not bridged
        (each frame goes to one receiver): do not receive on it while it is
        bridged. Frames it sends stay on its bus. Destroying it stops the
        bridge (Bridge.stats().stopped)."""
        from ._bridge import attach

        return attach(self, endpoint, learning=learning, ageing=ageing,
                      no_repeat_guard=no_repeat_guard, seed=seed, control=control,
                      control_mode=control_mode, impair_log=impair_log, impair=impair)

    # -- event loops ------------------------------------------------------

    def fileno(self) -> int:
        """A descriptor for selectors, select, poll and event loops.

        It polls readable while a frame *may* be waiting: also when the only
        waiting frames are ones this interface will not receive, and the
        readiness shows a moment after the sender's call returned. So when
        it is readable, receive with timeout 0 until BlockingIOError, then
        wait again. It stays libshmif's: never read or close it. It survives
        down() and up(); destroy() and detach() close it (unregister it from
        a selector first). OSError(ENETDOWN) without a bus.
        """
        return self._get_int("shmif_get_pollfd")


def open(path: PathLike, mode: Optional[int] = None, unit: Optional[int] = None, *,
         start: Union[int, str, None] = None, lossless: Optional[float] = None) -> Interface:
    """Open an interface on the bus file at path: attached, up and receiving.

    The file is created if needed, with the permission bits mode (default
    0644, under the umask; 0o600 makes a private bus); an existing file
    keeps its mode. unit picks the unit number (default: the lowest free).
    start says where reception starts (see Start): by default, as after
    every up, the newest frame already on the bus is received again;
    start=Start.NEXT (or "next") receives only frames sent from now on.
    lossless makes it a lossless receiver that writers wait for up to that
    many seconds (see Interface.lossless). Both are set before the
    interface comes up.
    """
    p = _encode_path(path)
    if unit is not None or start is not None or lossless is not None:
        # Checked before anything is made: create, configure, attach, up.
        start_value = None if start is None else _start_value(start)
        lossless_ms = None if lossless is None else _seconds_to_ms(lossless, "lossless")
        mode = None if mode is None else _check_mode(mode)
        ifc = create(unit)
        try:
            if start_value is not None:
                ifc._do("shmif_set_start", start_value)
            if lossless_ms is not None:
                ifc._do("shmif_set_lossless", lossless_ms)
            ifc.attach(path, mode)
            ifc.up()
        except BaseException:
            ifc.destroy()
            raise
        return ifc
    n = ctypes.c_int()
    lib = _lib.load()
    with _units_lock:
        if mode is None:
            call, err = "rump_pub_shmif_create", lib.rump_pub_shmif_create(p, ctypes.byref(n))
        else:
            call, err = "shmif_open", lib.shmif_open(p, _check_mode(mode), ctypes.byref(n))
        if err:
            raise _error(err, call, None, path)
        ifc = Interface(n.value)
    _notify_attach(p)
    return ifc


def create(unit: Optional[int] = None) -> Interface:
    """Create an interface without a bus, down (`ifconfig shmifN create`);
    unit None takes the lowest free unit. Attach a bus with attach(), then
    up(). EEXIST: the unit exists; EINVAL: unit outside 0..32767."""
    if unit is None:
        unit = -1
    else:
        unit = _c_int(unit, "unit")
        if unit == -1:  # what the C call takes for "the lowest free unit"
            raise _error(errno.EINVAL, "shmif_create", "unit -1")
    n = ctypes.c_int()
    lib = _lib.load()
    with _units_lock:
        err = lib.shmif_create(unit, ctypes.byref(n))
        if err:
            raise _error(err, "shmif_create", f"unit {unit}" if unit != -1 else None)
        return Interface(n.value)


# -- pcap files from and onto buses ------------------------------------------


class Capture(NamedTuple):
    """What capture() wrote: frames, and lost: the frames a following
    capture missed because writers lapped it (0 for a snapshot)."""

    frames: int
    lost: int


def _is_path(obj: Any) -> bool:
    return isinstance(obj, (str, bytes, os.PathLike))


def _fd_of(obj: Any) -> Optional[int]:
    """The descriptor of a file object, or None if it has none."""
    fileno = getattr(obj, "fileno", None)
    if fileno is None:
        return None
    try:
        return operator.index(fileno())
    except (OSError, ValueError, TypeError, AttributeError):  # io.UnsupportedOperation too
        return None


@contextmanager
def _writable_fd(file: Any) -> Iterator[int]:
    """A descriptor the library may write file's contents to."""
    if isinstance(file, int) and not isinstance(file, bool):
        yield file
        return
    if _is_path(file):
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            yield fd
        finally:
            os.close(fd)
        return
    if not callable(getattr(file, "write", None)):
        raise TypeError(f"capture writes to a descriptor, a path or a binary file object, "
                        f"not {type(file).__name__}")
    fd = _fd_of(file)
    if fd is not None:
        # What the object buffered goes first; the library writes after it.
        flush = getattr(file, "flush", None)
        if flush is not None:
            flush()
        yield fd
        return
    # No descriptor (io.BytesIO, ...): through a temporary file.
    with tempfile.TemporaryFile() as tmp:
        try:
            yield tmp.fileno()
        finally:
            os.lseek(tmp.fileno(), 0, os.SEEK_SET)
            file.write(tmp.read())


@contextmanager
def _readable_fd(file: Any) -> Iterator[int]:
    """A descriptor the library may read file's contents from, to its end."""
    if isinstance(file, int) and not isinstance(file, bool):
        yield file
        return
    if _is_path(file):
        fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)
        return
    if not callable(getattr(file, "read", None)):
        raise TypeError(f"inject reads from a descriptor, a path or a binary file object, "
                        f"not {type(file).__name__}")
    # Read through the object, which knows what it buffered, and hand the
    # library a temporary file of the rest.
    data = file.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"inject needs a binary file object: read() gave {type(data).__name__}")
    with tempfile.TemporaryFile() as tmp:
        tmp.write(data)
        tmp.flush()
        os.lseek(tmp.fileno(), 0, os.SEEK_SET)
        yield tmp.fileno()


# The errno values of capture() and inject() that concern the pcap side
# (descriptor, data) rather than the bus file.
_PCAP_ERRNOS = {
    "shmif_capture": {errno.EBADF, errno.EPIPE, errno.ENOSPC, errno.EFBIG, errno.EDQUOT},
    "shmif_inject": {errno.EBADF, errno.EINVAL, errno.EMSGSIZE},
}


def _pcap_error(err: int, call: str, bus: PathLike) -> OSError:
    if err in _PCAP_ERRNOS[call] and os.fsencode(os.fspath(bus)):
        return _error(err, f"{call} (the pcap file)")
    return _error(err, call, None, bus)


def capture(bus: PathLike, file: Any, follow: Optional[float] = None) -> Capture:
    """Write the frames of the bus file at bus to file as a pcap file
    (microsecond time stamps, link type Ethernet, snap length 1518: what
    `shmif_dumpbus -p` writes), for tcpdump, tshark or inject().

    file is a descriptor (written to and left open), a path (created or
    truncated, 0644 under the umask), or a binary file object (flushed,
    then written through its descriptor; one without a descriptor, such as
    io.BytesIO, gets the data written to it at the end).

    With follow None it writes the frames on the bus now, oldest first,
    from a copy taken under the bus lock; with follow > 0 the frames written
    from the call on, as they come, for follow seconds (the call blocks that
    long: in the main thread, signal handlers run after it returns). The bus
    file is never created or changed (the lock word excepted). A snapshot of
    an empty file or of a bus that never carried a frame is a pcap file
    without records; following needs a bus some interface has attached to:
    an empty file is ENOEXEC (as shmif_capture in rump.h).
    Returns Capture(frames, lost). Errors are OSError: FileNotFoundError,
    PermissionError (a snapshot needs read, following needs write
    permission), ENOEXEC (not a bus; following: not yet one), EIO
    (damaged), EBADF, EPIPE, ...
    """
    p = _encode_path(bus)
    if follow is None:
        follow_ms = 0
    else:
        follow_ms = _seconds_to_ms(follow, "follow")
        if follow_ms == 0:
            raise ValueError("follow must be > 0 seconds (None: the frames on the bus now)")
    frames, lost = ctypes.c_uint64(), ctypes.c_uint64()
    lib = _lib.load()
    with _writable_fd(file) as fd:
        err = lib.shmif_capture(p, fd, follow_ms, ctypes.byref(frames), ctypes.byref(lost))
    if err:
        raise _pcap_error(err, "shmif_capture", bus)
    return Capture(frames.value, lost.value)


def inject(bus: PathLike, file: Any) -> int:
    """Put the frames of a pcap (microsecond or nanosecond) or pcapng file
    on the bus file at bus, creating it if needed (0644 under the umask), as
    shmif_pcapin does: in order, each with its capture time stamp and a
    sender id drawn at random for the call, with one wake-up at the end.
    Every frame is checked first: EMSGSIZE (a frame under 14 or over 1514
    bytes, or captured in part) and EINVAL (not a pcap or pcapng file of
    Ethernet frames, or damaged) put nothing on the bus.

    file is a descriptor (read from its offset to its end), a path, or a
    binary file object (read from its position to its end). Returns the
    number of frames put on the bus.
    """
    p = _encode_path(bus)
    frames = ctypes.c_uint64()
    lib = _lib.load()
    with _readable_fd(file) as fd:
        err = lib.shmif_inject(p, fd, ctypes.byref(frames))
    if err:
        raise _pcap_error(err, "shmif_inject", bus)
    _notify_attach(p)
    return frames.value
