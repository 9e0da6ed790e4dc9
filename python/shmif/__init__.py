"""shmif: frames on and off shmif buses from Python, over libshmif.so.

A shmif bus is a 1 MiB file that every attached interface reads and writes;
frames are Ethernet frames of 14 to 1514 bytes. This package wraps the C API
of libshmif (rump/rump.h) with ctypes and nothing else:

    import shmif

    with shmif.open("/tmp/bus", start="next") as a, shmif.open("/tmp/bus", start="next") as b:
        frame = b"\\xff" * 6 + a.mac_bytes + b"\\x88\\xb5" + b"hello, bus"
        a.send(frame)                    # any bytes-like object, or a scapy packet
        got = b.recv(timeout=1.0)        # a Frame: bytes, with .time, .csum, .sender
        assert got == frame and got.sender == a.sender
        a.send_batch([frame] * 3)
        print([len(f) for f in b.frames(timeout=0.1)])  # until 0.1 s without a frame
        print(b.stats().ipackets)        # 4, also when /tmp/bus carried frames before
    shmif.capture("/tmp/bus", "/tmp/bus.pcap")         # for tcpdump -r, or shmif.inject()

start="next" receives only frames sent after the interface came up (by
default, as in NetBSD, the newest frame already on the bus comes again);
lossless=seconds makes writers wait for the interface instead of
overwriting what it has not read. Interface.cancel() ends the receives
waiting in other threads with CanceledError. capture() and inject() move
pcap files off and onto buses. bridge() (and Interface.bridge()) joins a bus
to another bus, a socket, a TAP device, a VDE network or a VXLAN tunnel,
optionally through an impairment stage (loss, delay, rate, flaps) that
Bridge.command() changes while frames flow.

Errors are OSError with the C call's errno (TimeoutError, BlockingIOError,
FileNotFoundError, ... where Python has a subclass) and a message naming the
call. Timeouts are in seconds: None waits without limit, 0 only looks.

The library is found through SHMIF_LIB (its path), SHMIF_BUILD (a build
directory), the build directory of the clone this package sits in, then the
dynamic linker (libshmif.so.0) and ctypes.util.find_library; it is loaded on
first use, and LibraryNotFoundError says what was tried.

scapy is optional: to_scapy(), from_scapy() and Interface.recv_packet()
import it when called, and send() takes scapy packets once scapy is loaded.
The pytest plugin is shmif.pytest_plugin (`pytest -p shmif.pytest_plugin`).

libshmif carries the Go runtime: do not use it in the child of a fork
without exec (multiprocessing's "fork" start method); "spawn" is fine.
"""

from ._core import (
    BUSSIZE,
    CAPABILITIES,
    FRAMEHDR,
    MAXFRAME,
    MAXLINKSTR,
    MAXUNITS,
    MINFRAME,
    MTU,
    RING_FRAMES_60,
    RING_FRAMES_1514,
    RINGSIZE,
    START_NEWEST,
    START_NEXT,
    START_OLDEST,
    CanceledError,
    Cap,
    Capture,
    Csum,
    Flag,
    Frame,
    Interface,
    LinkState,
    Media,
    Start,
    Stats,
    capture,
    create,
    inject,
    open,
)
from ._bridge import Bridge, BridgeCommandError, BridgeDirection, BridgeStats, bridge
from ._lib import LayoutError, LibraryNotFoundError
from ._scapy import from_scapy, to_scapy


def library_path() -> str:
    """The path of the libshmif file in use, loading it if needed
    (LibraryNotFoundError if there is none)."""
    from ._lib import path

    return path()


__all__ = [
    "BUSSIZE",
    "CAPABILITIES",
    "FRAMEHDR",
    "MAXFRAME",
    "MAXLINKSTR",
    "MAXUNITS",
    "MINFRAME",
    "MTU",
    "RING_FRAMES_60",
    "RING_FRAMES_1514",
    "RINGSIZE",
    "START_NEWEST",
    "START_NEXT",
    "START_OLDEST",
    "Bridge",
    "BridgeCommandError",
    "BridgeDirection",
    "BridgeStats",
    "CanceledError",
    "Cap",
    "Capture",
    "Csum",
    "Flag",
    "Frame",
    "Interface",
    "LayoutError",
    "LibraryNotFoundError",
    "LinkState",
    "Media",
    "Start",
    "Stats",
    "bridge",
    "capture",
    "create",
    "from_scapy",
    "inject",
    "library_path",
    "open",
    "to_scapy",
]
