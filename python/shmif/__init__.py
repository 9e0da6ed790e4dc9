"""shmif: frames on and off shmif buses from Python, over libshmif.so.

A shmif bus is a 1 MiB file that every attached interface reads and writes;
frames are Ethernet frames of 14 to 1514 bytes. This package wraps the C API
of libshmif (rump/rump.h) with ctypes and nothing else:

    import shmif

    with shmif.open("/tmp/bus") as a, shmif.open("/tmp/bus") as b:
        frame = b"\\xff" * 6 + a.mac_bytes + b"\\x88\\xb5" + b"hello, bus"
        a.send(frame)                    # any bytes-like object, or a scapy packet
        got = b.recv(timeout=1.0)        # a Frame: bytes, with .time and .csum
        assert got == frame
        a.send_batch([frame] * 3)
        print([len(f) for f in b.frames(timeout=0.1)])  # until 0.1 s without a frame
        print(b.stats().ipackets)        # 4

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
    CAPABILITIES,
    MAXFRAME,
    MAXLINKSTR,
    MAXUNITS,
    MINFRAME,
    MTU,
    Cap,
    Csum,
    Flag,
    Frame,
    Interface,
    LinkState,
    Media,
    Stats,
    create,
    open,
)
from ._lib import LibraryNotFoundError
from ._scapy import from_scapy, to_scapy


def library_path() -> str:
    """The path of the libshmif file in use, loading it if needed
    (LibraryNotFoundError if there is none)."""
    from ._lib import path

    return path()


__all__ = [
    "CAPABILITIES",
    "MAXFRAME",
    "MAXLINKSTR",
    "MAXUNITS",
    "MINFRAME",
    "MTU",
    "Cap",
    "Csum",
    "Flag",
    "Frame",
    "Interface",
    "LibraryNotFoundError",
    "LinkState",
    "Media",
    "Stats",
    "create",
    "from_scapy",
    "library_path",
    "open",
    "to_scapy",
]
