"""Finding libshmif: SHMIF_LIB, SHMIF_BUILD, the clone, the dynamic linker.

Failures to load are checked in this process (nothing gets loaded); every
successful load of another copy needs a fresh interpreter, since one process
holds one Go runtime.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

import pytest

import shmif
from shmif import _lib

PACKAGE = os.path.dirname(os.path.abspath(shmif.__file__))

PROBE = """
import sys
import shmif, shmif._lib
{imports}
print("unloaded" if shmif._lib._lib is None else "loaded on import",
      "with scapy" if "scapy" in sys.modules else "without scapy")
try:
    print("loaded", shmif.library_path())
except shmif.LibraryNotFoundError as e:
    print("LibraryNotFoundError", e)
"""


def probe(pythonpath: str, imports: str = "", **env: str) -> str:
    """Run PROBE in a fresh interpreter with only these shmif variables set."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("SHMIF_LIB", "SHMIF_BUILD", "LD_LIBRARY_PATH")}
    # cwd "/": with -c the working directory comes first on sys.path.
    out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)],
                         capture_output=True, text=True, cwd="/",
                         env={**base, "PYTHONPATH": pythonpath, **env}, timeout=60)
    assert out.returncode == 0, out.stderr
    first, _, rest = out.stdout.partition("\n")
    assert first == "unloaded without scapy", "importing must not load libshmif or scapy"
    return rest


def test_candidates_order():
    assert _lib.candidates({"SHMIF_LIB": "/x/libshmif.so.0", "SHMIF_BUILD": "/b"}) == [
        ("SHMIF_LIB", "/x/libshmif.so.0")]
    assert _lib.candidates({"SHMIF_BUILD": "/b"}) == [("SHMIF_BUILD", "/b/libshmif.so.0")]
    found = _lib.candidates({})
    assert found[-1] == ("the dynamic linker", "libshmif.so.0")
    build = _lib.repo_build_dir()
    if build is not None:  # running from a clone
        assert found[0] == ("the clone's build directory", str(build / "libshmif.so.0"))


def test_shmif_lib_missing_is_a_clear_error(tmp_path):
    with pytest.raises(shmif.LibraryNotFoundError) as e:
        _lib._open({"SHMIF_LIB": str(tmp_path / "nothing.so")})
    msg = str(e.value)
    assert msg.startswith("libshmif not found or not loadable; tried:")
    assert f"{tmp_path / 'nothing.so'} (SHMIF_LIB): no such file" in msg
    assert "make lib" in msg and "SHMIF_LIB=/path/to/libshmif.so.0" in msg
    # An explicit choice is not replaced by another library.
    assert "dynamic linker" not in msg and "find_library" not in msg
    assert isinstance(e.value, ImportError)


def test_shmif_lib_not_a_library(tmp_path):
    bad = tmp_path / "libshmif.so.0"
    bad.write_bytes(b"not an ELF file" * 10)
    with pytest.raises(shmif.LibraryNotFoundError, match="invalid ELF header"):
        _lib._open({"SHMIF_LIB": str(bad)})


def test_shmif_build_without_library(tmp_path):
    with pytest.raises(shmif.LibraryNotFoundError,
                       match=r"(?s)libshmif.so.0 \(SHMIF_BUILD\): no such file.*make lib"):
        _lib._open({"SHMIF_BUILD": str(tmp_path)})


def test_shmif_lib_loads_that_file(tmp_path):
    # Also: importing the package and its plugin loads neither libshmif nor scapy.
    copy = tmp_path / "libshmif-copy.so"
    shutil.copy(shmif.library_path(), copy)
    out = probe(os.path.dirname(PACKAGE), "import shmif.pytest_plugin", SHMIF_LIB=str(copy))
    assert out == f"loaded {copy}\n"


def test_copied_package_uses_dynamic_linker(tmp_path):
    # Outside a clone (the package copied elsewhere): the soname through
    # LD_LIBRARY_PATH; with nothing there, the error lists every attempt.
    shutil.copytree(PACKAGE, tmp_path / "shmif", ignore=shutil.ignore_patterns("__pycache__"))
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy(shmif.library_path(), libdir / "libshmif.so.0")
    assert probe(str(tmp_path), LD_LIBRARY_PATH=str(libdir)) == \
        f"loaded {libdir / 'libshmif.so.0'}\n"
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if os.path.exists(ldconfig) and "libshmif.so" in subprocess.run(
            [ldconfig, "-p"], capture_output=True, text=True).stdout:
        pytest.skip("libshmif is installed system-wide: cannot show its absence")
    out = probe(str(tmp_path))
    assert out.startswith("LibraryNotFoundError")
    for attempt in ("SHMIF_LIB and SHMIF_BUILD: not set", "libshmif.so.0 (the dynamic linker)",
                    "ctypes.util.find_library('shmif'): nothing"):
        assert attempt in out


def test_frame_layout_is_checked():
    _lib.check_layout()  # the mirror in use matches rump.h

    class Old(ctypes.Structure):  # struct shmif_frame before sender ids
        _fields_ = [(n, t) for n, t in _lib.ShmifFrame._fields_ if n not in ("pad", "sender")]

    with pytest.raises(shmif.LayoutError) as e:
        _lib.check_layout(Old)
    msg = str(e.value)
    assert msg.startswith("struct shmif_frame: rump.h lays it out as data@0, len@8, cap@16, "
                          "csum@24, sec@28, usec@32, pad@36, sender@40 (48 bytes), "
                          "the ctypes mirror as data@0, len@8, cap@16, csum@24, sec@28, usec@32 (40 bytes)")
    assert isinstance(e.value, ImportError)

    class Packed(ctypes.Structure):  # the right fields at the wrong offsets
        _pack_ = 1
        _fields_ = [("data", ctypes.c_void_p), ("len", ctypes.c_size_t), ("cap", ctypes.c_size_t),
                    ("csum", ctypes.c_uint32), ("sec", ctypes.c_uint32), ("usec", ctypes.c_uint32),
                    ("sender", ctypes.c_uint64)]

    with pytest.raises(shmif.LayoutError, match="sender@36 \\(44 bytes\\)"):
        _lib.check_layout(Packed)


def test_older_library_is_refused(tmp_path):
    # A libshmif from before the calls the package binds: refused by name,
    # not found missing at the first call.
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a stand-in library")
    src = tmp_path / "old.c"
    src.write_text("int rump_init(void) { return 0; }\n"
                   "int shmif_send(int u, const void *f, unsigned long n) { return 0; }\n")
    old = tmp_path / "libshmif.so.0"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(old), str(src)], check=True)
    with pytest.raises(shmif.LibraryNotFoundError,
                       match=r"libshmif.so.0 \(SHMIF_LIB\): has no rump_pub_shmif_create, "
                             r"it is an older libshmif"):
        _lib._open({"SHMIF_LIB": str(old)})


def test_bridge_stats_layout_is_checked():
    class Narrow(ctypes.Structure):  # stopped and error as bytes
        _fields_ = [("to_endpoint", _lib.ShmifBridgeDir), ("to_bus", _lib.ShmifBridgeDir),
                    ("bus_lost", ctypes.c_uint64), ("stopped", ctypes.c_int8),
                    ("error", ctypes.c_int8)]

    with pytest.raises(shmif.LayoutError, match=r"^struct shmif_bridge_stats: rump.h lays it out "
                       r"as to_endpoint@0, to_bus@56, bus_lost@112, stopped@120, error@124 "
                       r"\(128 bytes\), the ctypes mirror as .*error@121 \(128 bytes\)"):
        _lib.check_layout(Narrow, "shmif_bridge_stats")
