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


def test_struct_layouts_as_the_compiler_lays_them_out(tmp_path):
    # The ctypes mirrors the package hands the library, against a C program
    # built with rump.h: every field's offset and each structure's size.
    import shutil
    import subprocess

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <rump/rump.h>",
             "int main(void) {"]
    for c_name, mirror in _lib.MIRRORS.items():
        lines.append(f'printf("{c_name} size %zu\\n", sizeof(struct {c_name}));')
        for field, *_ in mirror._fields_:
            lines.append(f'printf("{c_name} {field} %zu\\n", offsetof(struct {c_name}, {field}));')
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-Wall", "-Werror", "-I", str(HEADER.parent.parent), "-o",
                    str(tmp_path / "layout"), str(src)], check=True)
    out = subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True,
                         check=True).stdout
    compiled = {tuple(line.split()[:2]): int(line.split()[2]) for line in out.splitlines()}
    for c_name, mirror in _lib.MIRRORS.items():
        layout, size = _lib.LAYOUTS[c_name]
        assert compiled[(c_name, "size")] == size == ctypes.sizeof(mirror), c_name
        assert [(f, compiled[(c_name, f)]) for f, *_ in mirror._fields_] == list(layout), c_name
    # The header's fields are the mirror's, none more: the sizes say so.
    _lib.check_layout()


def test_struct_shmif_bridge_stats():
    d_fields = [n for n, _ in _lib.ShmifBridgeDir._fields_]
    assert d_fields == [f.name for f in shmif.BridgeDirection.__dataclass_fields__.values()]
    assert [n for n, _ in _lib.ShmifBridgeStats._fields_] == \
        [f.name for f in shmif.BridgeStats.__dataclass_fields__.values()]
    body = re.search(r"struct shmif_bridge_dir \{(.*?)\};", TEXT, re.S)[1]
    declared = [w for decl in body.split(";") for w in re.findall(r"\w+", decl)[1:]]
    assert declared == d_fields
    assert struct_fields("shmif_bridge_stats") == [
        ("to_endpoint", "struct shmif_bridge_dir"), ("to_bus", "struct shmif_bridge_dir"),
        ("bus_lost", "uint64_t"), ("stopped", "int32_t"), ("error", "int32_t")]
