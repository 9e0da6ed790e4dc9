"""Finding and loading libshmif.so, and the prototypes of its C API.

Nothing here calls into the library beyond loading it; _core.py owns the calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import Mapping, Optional

SONAME = "libshmif.so.0"

# SHMIF_LIB names the library file itself; SHMIF_BUILD a build directory
# holding it and the tools (the Makefile passes it to the Go tests already).
ENV_LIB = "SHMIF_LIB"
ENV_BUILD = "SHMIF_BUILD"


class LibraryNotFoundError(ImportError):
    """libshmif.so could not be found or loaded; the message says what was tried."""


class ShmifFrame(ctypes.Structure):
    """struct shmif_frame of rump.h: one frame for the batch calls and
    shmif_recv_frame."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("len", ctypes.c_size_t),
        ("cap", ctypes.c_size_t),
        ("csum", ctypes.c_uint32),
        ("sec", ctypes.c_uint32),
        ("usec", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("sender", ctypes.c_uint64),
    ]


class ShmifBridgeDir(ctypes.Structure):
    """struct shmif_bridge_dir of rump.h: what happened to the frames a
    bridge read on one side."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("frames", "bytes", "too_small", "too_big", "loop", "filtered", "errors")
    ]


class ShmifBridgeStats(ctypes.Structure):
    """struct shmif_bridge_stats of rump.h."""

    _fields_ = [
        ("to_endpoint", ShmifBridgeDir),
        ("to_bus", ShmifBridgeDir),
        ("bus_lost", ctypes.c_uint64),
        ("stopped", ctypes.c_int32),
        ("error", ctypes.c_int32),
    ]


# The structures as rump.h lays them out on the 64-bit hosts libshmif is
# built for: C name, (field, offset) and size. A mirror that differs would
# hand the library buffers it reads and writes past.
FRAME_LAYOUT = (
    ("data", 0), ("len", 8), ("cap", 16), ("csum", 24), ("sec", 28),
    ("usec", 32), ("pad", 36), ("sender", 40),
)
FRAME_SIZE = 48
BRIDGE_DIR_LAYOUT = (
    ("frames", 0), ("bytes", 8), ("too_small", 16), ("too_big", 24), ("loop", 32),
    ("filtered", 40), ("errors", 48),
)
BRIDGE_DIR_SIZE = 56
BRIDGE_STATS_LAYOUT = (
    ("to_endpoint", 0), ("to_bus", 56), ("bus_lost", 112), ("stopped", 120), ("error", 124),
)
BRIDGE_STATS_SIZE = 128

LAYOUTS = {
    "shmif_frame": (FRAME_LAYOUT, FRAME_SIZE),
    "shmif_bridge_dir": (BRIDGE_DIR_LAYOUT, BRIDGE_DIR_SIZE),
    "shmif_bridge_stats": (BRIDGE_STATS_LAYOUT, BRIDGE_STATS_SIZE),
}
MIRRORS = {"shmif_frame": ShmifFrame, "shmif_bridge_dir": ShmifBridgeDir,
           "shmif_bridge_stats": ShmifBridgeStats}


class LayoutError(ImportError):
    """The ctypes mirror of a C structure does not match rump.h."""


def check_layout(struct: Optional[type] = None, c_name: str = "shmif_frame") -> None:
    """Raise LayoutError unless struct has the fields, offsets and size of
    rump.h's struct c_name; without struct, check every mirror the package
    hands the library (struct shmif_frame, shmif_bridge_dir,
    shmif_bridge_stats)."""
    if struct is None:
        for name, mirror in MIRRORS.items():
            check_layout(mirror, name)
        return
    layout, want_size = LAYOUTS[c_name]
    got = tuple((name, getattr(struct, name).offset) for name, *_ in struct._fields_)
    size = ctypes.sizeof(struct)
    if got == layout and size == want_size:
        return
    want = ", ".join(f"{n}@{o}" for n, o in layout)
    have = ", ".join(f"{n}@{o}" for n, o in got)
    raise LayoutError(
        f"struct {c_name}: rump.h lays it out as {want} ({want_size} bytes), "
        f"the ctypes mirror as {have} ({size} bytes); "
        f"this Python ({8 * ctypes.sizeof(ctypes.c_void_p)}-bit) cannot use libshmif"
    )


class ShmifStats(ctypes.Structure):
    """struct shmif_stats of rump.h."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "ipackets", "ibytes", "imcasts", "opackets", "obytes",
            "omcasts", "oerrors", "lost", "corrupt",
        )
    ]


_int_p = ctypes.POINTER(ctypes.c_int)
_u32_p = ctypes.POINTER(ctypes.c_uint32)
_size_p = ctypes.POINTER(ctypes.c_size_t)
_u8_p = ctypes.POINTER(ctypes.c_uint8)
_u64_p = ctypes.POINTER(ctypes.c_uint64)
_c_int, _c_uint, _void_p = ctypes.c_int, ctypes.c_uint, ctypes.c_void_p
_char_p, _size_t, _u32 = ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32

# Every function returns int (0 or an errno value); these are the arguments.
_PROTOTYPES = {
    "rump_init": [],
    "rump_pub_shmif_create": [_char_p, _int_p],
    "shmif_open": [_char_p, _c_uint, _int_p],
    "shmif_create": [_c_int, _int_p],
    "shmif_destroy": [_c_int],
    "shmif_set_linkstr": [_c_int, _char_p],
    "shmif_set_linkstr_mode": [_c_int, _char_p, _c_uint],
    "shmif_unset_linkstr": [_c_int],
    "shmif_get_linkstr": [_c_int, _char_p, _size_t, _size_p],
    "shmif_up": [_c_int],
    "shmif_down": [_c_int],
    "shmif_get_flags": [_c_int, _int_p],
    "shmif_get_mtu": [_c_int, _int_p],
    "shmif_get_mac": [_c_int, _u8_p],
    "shmif_set_mac": [_c_int, _u8_p],
    "shmif_set_promisc": [_c_int, _c_int],
    "shmif_set_media": [_c_int, _c_int],
    "shmif_get_media": [_c_int, _int_p],
    "shmif_get_link_state": [_c_int, _int_p],
    "shmif_get_stats": [_c_int, ctypes.POINTER(ShmifStats)],
    "shmif_send": [_c_int, _void_p, _size_t],
    "shmif_recv": [_c_int, _void_p, _size_t, _size_p, _c_int],
    "shmif_send_batch": [_c_int, ctypes.POINTER(ShmifFrame), _size_t],
    "shmif_recv_batch": [_c_int, ctypes.POINTER(ShmifFrame), _size_t, _size_p, _c_int],
    "shmif_get_pollfd": [_c_int, _int_p],
    "shmif_set_spin": [_c_int, _c_int],
    "shmif_get_capabilities": [_c_int, _u32_p],
    "shmif_get_capenable": [_c_int, _u32_p],
    "shmif_set_capenable": [_c_int, _u32],
    "shmif_send_offload": [_c_int, _void_p, _size_t, _u32, _u32],
    "shmif_recv_frame": [_c_int, ctypes.POINTER(ShmifFrame), _c_int],
    "shmif_get_sender": [_c_int, _u64_p],
    "shmif_get_spin": [_c_int, _int_p],
    "shmif_cancel": [_c_int],
    "shmif_set_start": [_c_int, _c_int],
    "shmif_set_lossless": [_c_int, _c_int],
    "shmif_get_lossless": [_c_int, _int_p, _int_p],
    "shmif_capture": [_char_p, _c_int, _c_int, _u64_p, _u64_p],
    "shmif_inject": [_char_p, _c_int, _u64_p],
    "shmif_bridge_open": [_char_p, _char_p, _char_p, _int_p],
    "shmif_bridge_attach": [_c_int, _char_p, _char_p, _int_p],
    "shmif_bridge_close": [_c_int],
    "shmif_bridge_get_stats": [_c_int, ctypes.POINTER(ShmifBridgeStats)],
    "shmif_bridge_command": [_c_int, _char_p, _char_p, _size_t, _size_p],
}


def repo_build_dir() -> Optional[Path]:
    """The build directory of the clone this package sits in, or None.

    In a clone the package is python/shmif/ and the repository root holds
    include/rump/rump.h; the Makefile builds into build/ there.
    """
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "include" / "rump" / "rump.h").is_file():
        return root / "build"
    return None


def candidates(environ: Mapping[str, str] = os.environ) -> list[tuple[str, str]]:
    """Where the library is looked for, in order, as (source, path or name).

    A library named by SHMIF_LIB or SHMIF_BUILD is the only candidate: a
    library someone asked for is never silently replaced by another one.
    Otherwise the clone's build directory comes first, then the soname
    through the dynamic linker (LD_LIBRARY_PATH, ld.so.cache); _open() then
    also tries ctypes.util.find_library.
    """
    if environ.get(ENV_LIB):
        return [(ENV_LIB, environ[ENV_LIB])]
    if environ.get(ENV_BUILD):
        return [(ENV_BUILD, os.path.join(environ[ENV_BUILD], SONAME))]
    found: list[tuple[str, str]] = []
    build = repo_build_dir()
    if build is not None:
        found.append(("the clone's build directory", str(build / SONAME)))
    found.append(("the dynamic linker", SONAME))
    return found


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_path: Optional[str] = None


def _bind(lib: ctypes.CDLL) -> Optional[str]:
    """Set the prototypes; return the name of a function lib lacks (an
    older libshmif), else None."""
    for name, argtypes in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            return name
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int
    return None


def _loaded_path(lib: ctypes.CDLL, fallback: str) -> str:
    """The file the dynamic linker actually mapped, found with dladdr(3)."""

    class DlInfo(ctypes.Structure):
        _fields_ = [
            ("dli_fname", ctypes.c_char_p),
            ("dli_fbase", ctypes.c_void_p),
            ("dli_sname", ctypes.c_char_p),
            ("dli_saddr", ctypes.c_void_p),
        ]

    try:
        dladdr = ctypes.CDLL(None).dladdr
    except AttributeError:
        return fallback
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
    dladdr.restype = ctypes.c_int
    info = DlInfo()
    addr = ctypes.cast(lib.shmif_send, ctypes.c_void_p)
    if dladdr(addr, ctypes.byref(info)) and info.dli_fname:
        return os.path.realpath(os.fsdecode(info.dli_fname))
    return fallback


def _open(environ: Mapping[str, str]) -> tuple[ctypes.CDLL, str]:
    """Load the first candidate that loads, as (library, path).

    Raises LibraryNotFoundError naming every place tried and what to do.
    """
    explicit = bool(environ.get(ENV_LIB) or environ.get(ENV_BUILD))
    tried = [] if explicit else [f"{ENV_LIB} and {ENV_BUILD}: not set"]
    places = candidates(environ)
    if not explicit:
        # After the dynamic linker: find_library also asks ldconfig, gcc
        # and ld, which may know a library outside its search path.
        places.append(("ctypes.util.find_library", ""))
    for source, where in places:
        if source == "ctypes.util.find_library":
            where = ctypes.util.find_library("shmif") or ""
            if not where:
                tried.append("ctypes.util.find_library('shmif'): nothing")
                continue
        if os.sep in where and not os.path.exists(where):
            tried.append(f"{where} ({source}): no such file")
            continue
        try:
            lib = ctypes.CDLL(where)
        except OSError as e:
            tried.append(f"{where} ({source}): {e}")
            continue
        missing = _bind(lib)
        if missing is not None:
            tried.append(f"{_loaded_path(lib, where)} ({source}): has no {missing}, "
                         "it is an older libshmif")
            continue
        return lib, _loaded_path(lib, where)
    raise LibraryNotFoundError(
        "libshmif not found or not loadable; tried:\n  "
        + "\n  ".join(tried)
        + f"\nBuild it with `make lib` in the libshmif repository (it makes build/{SONAME}),"
        f" install it with `make install`, or set {ENV_LIB}=/path/to/{SONAME}."
    )


def load() -> ctypes.CDLL:
    """The loaded library, loading it on first use (LibraryNotFoundError;
    LayoutError when a structure of rump.h cannot be mirrored here)."""
    global _lib, _path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            check_layout()
            lib, where = _open(os.environ)
            _lib, _path = lib, where
        return _lib


def path() -> str:
    """The path of the loaded library file (loading it if needed)."""
    load()
    assert _path is not None
    return _path
