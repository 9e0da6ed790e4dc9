"""Finding libshmif: SHMIF_LIB, SHMIF_BUILD, the clone, the dynamic linker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import shmif
from shmif import _lib

PACKAGE = os.path.dirname(os.path.abspath(shmif.__file__))
LIBRARY = shmif.library_path()

PROBE = """
import shmif
try:
    print("loaded", shmif.library_path())
except shmif.LibraryNotFoundError as e:
    print("LibraryNotFoundError", e)
"""


def probe(pythonpath: str, **env: str) -> str:
    """Run PROBE in a fresh interpreter with only these shmif variables set."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("SHMIF_LIB", "SHMIF_BUILD", "LD_LIBRARY_PATH")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env={**base, "PYTHONPATH": pythonpath, **env}, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_candidates_order():
    assert _lib.candidates({"SHMIF_LIB": "/x/libshmif.so.0", "SHMIF_BUILD": "/b"}) == [
        ("SHMIF_LIB", "/x/libshmif.so.0")]
    assert _lib.candidates({"SHMIF_BUILD": "/b"}) == [("SHMIF_BUILD", "/b/libshmif.so.0")]
    found = _lib.candidates({})
    assert found[-1] == ("the dynamic linker", "libshmif.so.0")
    build = _lib.repo_build_dir()
    if build is not None:  # running from a clone
        assert found[0] == ("the clone's build directory", str(build / "libshmif.so.0"))


def test_shmif_lib_names_the_library(tmp_path):
    copy = tmp_path / "libshmif-copy.so"
    shutil.copy(LIBRARY, copy)
    assert probe(os.path.dirname(PACKAGE), SHMIF_LIB=str(copy)) == f"loaded {copy}\n"


def test_shmif_lib_missing_is_a_clear_error(tmp_path):
    out = probe(os.path.dirname(PACKAGE), SHMIF_LIB=str(tmp_path / "nothing.so"))
    assert out.startswith("LibraryNotFoundError libshmif not found or not loadable; tried:")
    assert f"{tmp_path / 'nothing.so'} (SHMIF_LIB): no such file" in out
    assert "make lib" in out and "SHMIF_LIB=/path/to/libshmif.so.0" in out
    # An explicit choice is not replaced by another library.
    assert "dynamic linker" not in out and "find_library" not in out


def test_shmif_lib_not_a_library(tmp_path):
    bad = tmp_path / "libshmif.so.0"
    bad.write_bytes(b"not an ELF file" * 10)
    out = probe(os.path.dirname(PACKAGE), SHMIF_LIB=str(bad))
    assert out.startswith("LibraryNotFoundError") and "invalid ELF header" in out


def test_shmif_build_directory(tmp_path):
    shutil.copy(LIBRARY, tmp_path / "libshmif.so.0")
    assert probe(os.path.dirname(PACKAGE), SHMIF_BUILD=str(tmp_path)) == \
        f"loaded {tmp_path / 'libshmif.so.0'}\n"
    out = probe(os.path.dirname(PACKAGE), SHMIF_BUILD=str(tmp_path / "empty"))
    assert "(SHMIF_BUILD): no such file" in out


def test_copied_package_uses_dynamic_linker(tmp_path):
    # Outside a clone (the package copied elsewhere): the soname through
    # LD_LIBRARY_PATH; with nothing there, the error lists every attempt.
    shutil.copytree(PACKAGE, tmp_path / "shmif", ignore=shutil.ignore_patterns("__pycache__"))
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy(LIBRARY, libdir / "libshmif.so.0")
    out = probe(str(tmp_path), LD_LIBRARY_PATH=str(libdir))
    assert out == f"loaded {libdir / 'libshmif.so.0'}\n"
    installed = shutil.which("ldconfig") and "libshmif" in subprocess.run(
        ["ldconfig", "-p"], capture_output=True, text=True).stdout
    if installed:
        pytest.skip("libshmif is installed system-wide: cannot show its absence")
    out = probe(str(tmp_path))
    assert out.startswith("LibraryNotFoundError")
    for attempt in ("SHMIF_LIB and SHMIF_BUILD: not set", "libshmif.so.0 (the dynamic linker)",
                    "ctypes.util.find_library('shmif'): nothing"):
        assert attempt in out


def test_import_does_not_load_the_library():
    out = subprocess.run(
        [sys.executable, "-c", "import shmif, shmif.pytest_plugin, shmif._lib as l, sys; "
         "print(l._lib is None, 'scapy' in sys.modules)"],
        env={**os.environ, "PYTHONPATH": os.path.dirname(PACKAGE)},
        capture_output=True, text=True, timeout=60)
    assert out.stdout == "True False\n", out.stderr
