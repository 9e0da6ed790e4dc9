"""pytest fixtures for tests on shmif buses.

Load it with `pytest -p shmif.pytest_plugin`, or in a conftest.py with
`pytest_plugins = ["shmif.pytest_plugin"]`. Fixtures:

    shmif_bus                 Path of a fresh bus file in the test's tmp_path
                              (created when the first interface attaches).
    shmif_bus_factory         make_bus(name=None) -> Path: more buses.
    shmif_interface_factory   open_interface(bus=None, *, mode=None, unit=None,
                              start=shmif.START_NEXT, lossless=None)
                              -> shmif.Interface, on shmif_bus by default.
    shmif_interface           one interface on shmif_bus.
    shmif_pair                two interfaces (a, b) on shmif_bus.
    shmif_bridge              open_bridge(bus, endpoint, **options)
                              -> shmif.Bridge: bus is a path (shmif.bridge)
                              or an interface (Interface.bridge).

Interfaces the fixtures open start clean (Start.NEXT, at every up): they
receive only frames sent after they came up, never one left on a bus by an
earlier interface or test. Pass start=shmif.START_NEWEST for NetBSD's
behaviour (the newest frame already on the bus is received again).
Interfaces the fixtures opened are destroyed after the test, bridges
closed (before the interfaces).

When a test fails, the report gets a section for every bus it used (fixture
buses, every bus an interface or a bridge attached to or inject() wrote to
during the test) with its header and its frames, read with shmif.capture()
and shown as `tcpdump -n -e -r -` prints them, or as a plain line per frame
when tcpdump is missing; and a section for every bridge the fixture opened
that is still open, with its counters.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import pytest

import shmif
from shmif import _core

_BUSES = pytest.StashKey[list]()
_DUMPED = pytest.StashKey[bool]()
_BRIDGES = pytest.StashKey[list]()


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
    bridges = [b for b in item.stash.get(_BRIDGES, []) if not b.closed]
    if buses or bridges:
        item.stash[_DUMPED] = True
    for path in buses:
        report.sections.append((f"shmif bus {path}", dump_bus(path)))
    for b in bridges:
        side = b.bus if b.interface is None else b.interface.name
        report.sections.append((f"shmif {b.name} {side} <-> {b.endpoint}", describe_bridge(b)))


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
    """open_interface(bus=None, *, mode=None, unit=None, start=START_NEXT,
    lossless=None) -> an interface opened (attached and up) on bus, by
    default shmif_bus, as shmif.open() does; destroyed after the test.
    It starts clean: frames already on the bus are not received."""
    opened: list[shmif.Interface] = []

    def open_interface(bus: "shmif._core.PathLike | None" = None, *, mode: Optional[int] = None,
                       unit: Optional[int] = None, start: Union[int, str] = shmif.START_NEXT,
                       lossless: Optional[float] = None) -> shmif.Interface:
        if bus is None:
            bus = request.getfixturevalue("shmif_bus")
        ifc = shmif.open(bus, mode=mode, unit=unit, start=start, lossless=lossless)
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
    """An interface on shmif_bus, started clean (Start.NEXT)."""
    return shmif_interface_factory()


@pytest.fixture
def shmif_pair(shmif_interface_factory: Callable[..., shmif.Interface]) -> tuple[shmif.Interface, shmif.Interface]:
    """Two interfaces (a, b) on shmif_bus, started clean (Start.NEXT)."""
    return shmif_interface_factory(), shmif_interface_factory()


@pytest.fixture
def shmif_bridge(request: pytest.FixtureRequest,
                 shmif_interface_factory: Callable[..., shmif.Interface],
                 ) -> Iterator[Callable[..., shmif.Bridge]]:
    """open_bridge(bus, endpoint, **options) -> a bridge between bus and
    endpoint, closed after the test (before the fixtures' interfaces are
    destroyed). bus is a bus path (shmif.bridge(): the bridge attaches an
    interface of its own) or an interface (Interface.bridge()); options
    are those of shmif.bridge()."""
    opened: list[shmif.Bridge] = []
    request.node.stash[_BRIDGES] = opened

    def open_bridge(bus: "shmif._core.PathLike | shmif.Interface", endpoint: str,
                    **options: object) -> shmif.Bridge:
        if isinstance(bus, shmif.Interface):
            b = bus.bridge(endpoint, **options)  # type: ignore[arg-type]
        else:
            b = shmif.bridge(bus, endpoint, **options)  # type: ignore[arg-type]
        opened.append(b)
        return b

    yield open_bridge
    errors = []
    for b in reversed(opened):
        try:
            b.close()
        except OSError as e:
            errors.append(e)
    if errors:
        raise errors[0]


# -- dumping a bus into a failure report ------------------------------------


def describe_bridge(b: shmif.Bridge) -> str:
    """A bridge's counters for a failure report: its stats command (the
    counters and those of its impairment stage), and why it stopped."""
    try:
        text = b.command("stats").rstrip("\n")
        st = b.stats()
    except OSError as e:
        return f"the bridge cannot be read: {e}"
    if st.stopped:
        why = os.strerror(st.error) if st.error else "no error"
        text += f"\nstopped by itself: {why}"
    return text


def _find_tcpdump() -> Optional[str]:
    path = os.environ.get("PATH", os.defpath) + os.pathsep + "/usr/sbin:/sbin"
    return shutil.which("tcpdump", path=path)


def _pcap_frames(pcap: bytes) -> list[tuple[int, int, bytes]]:
    """(sec, usec, frame) of each record of a little- or big-endian
    microsecond pcap file, as shmif.capture() writes."""
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


_BUS_MAGIC = 0xCA11D054


def _header_line(path: str) -> Optional[str]:
    """The bus header as shmif_dumpbus prints it, read without the lock (it
    only describes), or None when the file does not start with one."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return None
    if len(head) < 32:
        return None
    for order in "<>":
        magic, version, gen, first, last, lock = struct.unpack_from(order + "IiQIIi", head)
        if magic == _BUS_MAGIC:
            return (f"bus version {version}, lock: {lock}, generation: {gen}, "
                    f"firstoff: 0x{first:04x}, lastoff: 0x{last:04x}")
    return None


class _NoCapture(Exception):
    """The bus could not be read; the message says why."""


def _capture(path: str) -> tuple[Optional[str], bytes]:
    """The bus header line (None without one) and the frames on the bus as
    a pcap file: the one place that reads a bus."""
    if not os.path.exists(path):
        raise _NoCapture("no bus file: no interface attached to this bus")
    out = io.BytesIO()
    try:
        shmif.capture(path, out)
    except OSError as e:
        raise _NoCapture(f"the bus cannot be read: {e}") from None
    return _header_line(path), out.getvalue()


def dump_bus(path: str) -> str:
    """The frames on the bus file at path, as text for a failure report:
    its header line, then its frames as `tcpdump -n -e -r -` shows the
    pcap file shmif.capture() writes, or one plain line per frame when
    tcpdump is missing (and a line saying so)."""
    try:
        header, pcap = _capture(path)
    except _NoCapture as e:
        return str(e)
    frames = _pcap_frames(pcap)
    lines = [] if header is None else [header]
    lines.append(f"{len(frames)} frame{'' if len(frames) == 1 else 's'}")
    if not frames:
        return "\n".join(lines)
    tcpdump = _find_tcpdump()
    if tcpdump is None:
        lines[-1] += " (tcpdump not found: one plain line per frame)"
        lines += [_summary_line(*f) for f in frames]
        return "\n".join(lines)
    try:
        td = subprocess.run([tcpdump, "-n", "-e", "-r", "-"], input=pcap,
                            capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "\n".join(lines + [f"{tcpdump} failed: {e}"])
    lines[-1] += " (shmif.capture | tcpdump -n -e -r -)"
    lines.append(td.stdout.decode(errors="replace").rstrip())
    if td.returncode != 0:
        lines.append(td.stderr.decode(errors="replace").rstrip())
    return "\n".join(lines)
