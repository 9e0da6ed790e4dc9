"""The package against rump.h: constants, structures and functions, so that
a change to the C API that the package does not follow fails here."""

from __future__ import annotations

import ctypes
import re

import pytest

import shmif
from shmif import _lib

build = _lib.repo_build_dir()
HEADER = None if build is None else build.parent / "include" / "rump" / "rump.h"
if HEADER is None or not HEADER.is_file():
    pytest.skip("rump.h is checked only in a clone of libshmif", allow_module_level=True)

TEXT = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
# The package runs on 64-bit hosts only (see shmif._lib.check_layout).
TEXT = re.sub(r"#if defined\(__i386__\).*?#else", "", TEXT, flags=re.S)
DEFINES = {m[1]: int(m[2], 0) for m in re.finditer(r"#define (SHMIF_\w+) (\w+)", TEXT)}


def struct_fields(name: str) -> list[tuple[str, str]]:
    body = re.search(r"struct %s \{(.*?)\};" % name, TEXT, re.S)[1]
    return [(m[2], m[1].replace(" *", "*").strip())
            for m in re.finditer(r"([\w ]+?\s*\*?)\s*(\w+);", body)]


def test_module_constants():
    for name in ("MINFRAME", "MAXFRAME", "MTU", "MAXUNITS", "MAXLINKSTR", "BUSSIZE", "RINGSIZE",
                 "FRAMEHDR", "RING_FRAMES_60", "RING_FRAMES_1514", "CAPABILITIES",
                 "START_NEWEST", "START_NEXT", "START_OLDEST"):
        assert getattr(shmif, name) == DEFINES["SHMIF_" + name], name


@pytest.mark.parametrize("prefix, enum", [
    ("SHMIF_IFF_", shmif.Flag), ("SHMIF_MEDIA_", shmif.Media), ("SHMIF_LINK_", shmif.LinkState),
    ("SHMIF_CAP_", shmif.Cap), ("SHMIF_CSUM_", shmif.Csum), ("SHMIF_START_", shmif.Start),
])
def test_enums(prefix, enum):
    from_header = {k[len(prefix):]: v for k, v in DEFINES.items()
                   if k.startswith(prefix) and k != "SHMIF_CAPABILITIES"}
    assert {m.name: m.value for m in enum} == from_header


def test_struct_shmif_frame():
    c_types = {"void*": ctypes.c_void_p, "size_t": ctypes.c_size_t,
               "uint32_t": ctypes.c_uint32, "uint64_t": ctypes.c_uint64}
    fields = struct_fields("shmif_frame")
    assert [(n, c_types[t]) for n, t in fields] == list(_lib.ShmifFrame._fields_)
    assert ctypes.sizeof(_lib.ShmifFrame) == _lib.FRAME_SIZE == 48


def test_struct_shmif_stats():
    fields = struct_fields("shmif_stats")
    assert [n for n, _ in _lib.ShmifStats._fields_] == [n for n, _ in fields]
    assert {t for _, t in fields} == {"uint64_t"}
    assert [f.name for f in shmif.Stats.__dataclass_fields__.values()] == [n for n, _ in fields]


def test_every_bound_function_is_declared():
    # The C API may have calls the package does not wrap; every call it
    # binds must be declared, with as many parameters.
    declared = set(re.findall(r"^int (\w+)\(", TEXT, re.M))
    assert set(_lib._PROTOTYPES) <= declared, set(_lib._PROTOTYPES) - declared
    for name, argtypes in _lib._PROTOTYPES.items():
        params = re.search(r"^int %s\((.*?)\);" % name, TEXT, re.M | re.S)[1]
        count = 0 if params.strip() == "void" else params.count(",") + 1
        assert len(argtypes) == count, name
