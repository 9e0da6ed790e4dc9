"""pytest fixtures for tests on shmif buses.

Load it with `pytest -p shmif.pytest_plugin`, or in a conftest.py with
`pytest_plugins = ["shmif.pytest_plugin"]`. Fixtures:

    shmif_bus                 Path of a fresh bus file in the test's tmp_path
                              (created when the first interface attaches).
    shmif_bus_factory         make_bus(name=None) -> Path: more buses.
    shmif_interface_factory   open_interface(bus=None, *, mode=None, unit=None)
                              -> shmif.Interface, on shmif_bus by default.
    shmif_interface           one interface on shmif_bus.
    shmif_pair                two interfaces (a, b) on shmif_bus.

Interfaces the fixtures opened are destroyed after the test. When a test
fails, the report gets a section for every bus it used (fixture buses, and
every bus an interface attached to during the test) with the frames on it as
`shmif_dumpbus -p - BUS | tcpdump -n -e -r -` prints them, or as a plain
line per frame when tcpdump is missing. shmif_dumpbus is taken from
SHMIF_DUMPBUS, SHMIF_BUILD, the directory of the loaded libshmif (or ../bin
from there), the clone's build directory, then PATH.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

import shmif
from shmif import _core, _lib

_BUSES = pytest.StashKey[list]()
_DUMPED = pytest.StashKey[bool]()


def _note_bus(item: pytest.Item, path: str) -> None:
    path = os.path.realpath(path)  # one bus, however it was named
    buses = item.stash.setdefault(_BUSES, [])
    if path not in buses:
        buses.append(path)


# The items running now, innermost last (pytester nests sessions): a bus
# attached to belongs to the innermost.
_running: list[pytest.Item] = []


def _attached(path: str) -> None:
    if _running:
        _note_bus(_running[-1], path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> Iterator[None]:
    if not _running:
        _core._attach_hooks.append(_attached)
    _running.append(item)
    try:
        yield
    finally:
        _running.pop()
        if not _running:
            _core._attach_hooks.remove(_attached)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or item.stash.get(_DUMPED, False):
        return
    buses = item.stash.get(_BUSES, [])
    if buses:
        item.stash[_DUMPED] = True
    for path in buses:
        report.sections.append((f"shmif bus {path}", dump_bus(path)))


# -- fixtures ---------------------------------------------------------------


@pytest.fixture
def shmif_bus_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Path]:
    """make_bus(name=None) -> Path of a new bus file in the test's tmp_path
    (bus0, bus1, ... unless named); the file is made by the first attach."""
    made: set[str] = set()

    def make_bus(name: Optional[str] = None) -> Path:
        if name is None:
            name = next(f"bus{i}" for i in range(len(made) + 1) if f"bus{i}" not in made)
        if name in made or os.sep in name:
            raise ValueError(f"bus name {name!r} is taken or not a plain file name")
        made.add(name)
        path = tmp_path / name
        _note_bus(request.node, str(path))
        return path

    return make_bus


@pytest.fixture
def shmif_bus(shmif_bus_factory: Callable[..., Path]) -> Path:
    """Path of a fresh bus file in the test's tmp_path."""
    return shmif_bus_factory("bus")


@pytest.fixture
def shmif_interface_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., shmif.Interface]]:
    """open_interface(bus=None, *, mode=None, unit=None) -> an interface
    opened (attached and up) on bus, by default shmif_bus; destroyed after
    the test."""
    opened: list[shmif.Interface] = []

    def open_interface(bus: "shmif._core.PathLike | None" = None, *, mode: Optional[int] = None,
                       unit: Optional[int] = None) -> shmif.Interface:
        if bus is None:
            bus = request.getfixturevalue("shmif_bus")
        ifc = shmif.open(bus, mode=mode, unit=unit)
        opened.append(ifc)
        return ifc

    yield open_interface
    errors = []
    for ifc in reversed(opened):
        try:
            ifc.destroy()
        except OSError as e:
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture
def shmif_interface(shmif_interface_factory: Callable[..., shmif.Interface]) -> shmif.Interface:
    """An interface on shmif_bus."""
    return shmif_interface_factory()


@pytest.fixture
def shmif_pair(shmif_interface_factory: Callable[..., shmif.Interface]) -> tuple[shmif.Interface, shmif.Interface]:
    """Two interfaces (a, b) on shmif_bus, opened before any frame is on it."""
    return shmif_interface_factory(), shmif_interface_factory()


# -- dumping a bus into a failure report ------------------------------------


def _find_dumpbus() -> Optional[str]:
    env = os.environ.get("SHMIF_DUMPBUS")
    if env:
        return env
    dirs = []
    if os.environ.get(_lib.ENV_BUILD):
        dirs.append(os.environ[_lib.ENV_BUILD])
    try:
        libdir = os.path.dirname(shmif.library_path())
        dirs += [libdir, os.path.join(libdir, os.pardir, "bin")]
    except shmif.LibraryNotFoundError:
        pass
    build = _lib.repo_build_dir()
    if build is not None:
        dirs.append(str(build))
    for d in dirs:
        exe = os.path.join(d, "shmif_dumpbus")
        if os.path.isfile(exe) and os.access(exe, os.X_OK):
            return os.path.normpath(exe)
    return shutil.which("shmif_dumpbus")


def _find_tcpdump() -> Optional[str]:
    path = os.environ.get("PATH", os.defpath) + os.pathsep + "/usr/sbin:/sbin"
    return shutil.which("tcpdump", path=path)


def _pcap_frames(pcap: bytes) -> list[tuple[int, int, bytes]]:
    """(sec, usec, frame) of each record of a little- or big-endian
    microsecond pcap file, as shmif_dumpbus writes."""
    if len(pcap) < 24:
        return []
    order = "<" if pcap[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    out, off = [], 24
    while off + 16 <= len(pcap):
        sec, usec, caplen, _ = struct.unpack_from(order + "IIII", pcap, off)
        off += 16
        out.append((sec, usec, pcap[off : off + caplen]))
        off += caplen
    return out


def _summary_line(sec: int, usec: int, frame: bytes) -> str:
    """One frame in the shape of a `tcpdump -n -e` line, without decoding."""
    stamp = time.strftime("%H:%M:%S", time.localtime(sec)) + f".{usec:06d}"
    if len(frame) < 14:
        return f"{stamp} short frame, length {len(frame)}"
    mac = lambda b: ":".join(f"{x:02x}" for x in b)  # noqa: E731
    return (f"{stamp} {mac(frame[6:12])} > {mac(frame[0:6])}, "
            f"ethertype 0x{frame[12]:02x}{frame[13]:02x}, length {len(frame)}")


class _NoCapture(Exception):
    """The bus could not be read; the message says why."""


def _capture(path: str) -> tuple[str, bytes]:
    """The bus header line and the frames on the bus as a pcap file.

    The one place that reads a bus: today shmif_dumpbus, a capture call of
    libshmif can take its place.
    """
    if not os.path.exists(path):
        raise _NoCapture("no bus file: no interface attached to this bus")
    dumpbus = _find_dumpbus()
    if dumpbus is None:
        raise _NoCapture("shmif_dumpbus not found (build it with `make tools`, put it on "
                         "PATH or set SHMIF_DUMPBUS): the frames cannot be shown")
    try:
        dump = subprocess.run([dumpbus, "-p", "-", path], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise _NoCapture(f"{dumpbus} failed: {e}") from None
    text = dump.stderr.decode(errors="replace").strip()
    if dump.returncode != 0:
        if "bus version 0" in text:
            raise _NoCapture("no frame was ever sent on this bus")
        raise _NoCapture(f"{dumpbus} failed: {text}")
    return (text.splitlines()[0] if text else ""), dump.stdout


def dump_bus(path: str) -> str:
    """The frames on the bus file at path, as text for a failure report:
    `shmif_dumpbus -p - BUS | tcpdump -n -e -r -`, or one plain line per
    frame when tcpdump is missing (and a line saying so)."""
    try:
        header, pcap = _capture(path)
    except _NoCapture as e:
        return str(e)
    frames = _pcap_frames(pcap)
    lines = [header, f"{len(frames)} frame{'' if len(frames) == 1 else 's'}"]
    if not frames:
        return "\n".join(lines)
    tcpdump = _find_tcpdump()
    if tcpdump is None:
        lines[1] += " (tcpdump not found: one plain line per frame)"
        lines += [_summary_line(*f) for f in frames]
        return "\n".join(lines)
    try:
        td = subprocess.run([tcpdump, "-n", "-e", "-r", "-"], input=pcap,
                            capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "\n".join(lines + [f"{tcpdump} failed: {e}"])
    lines[1] += " (shmif_dumpbus -p - | tcpdump -n -e -r -)"
    lines.append(td.stdout.decode(errors="replace").rstrip())
    if td.returncode != 0:
        lines.append(td.stderr.decode(errors="replace").rstrip())
    return "\n".join(lines)
