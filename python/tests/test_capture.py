"""pcap files from and onto buses: capture() and inject()."""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import threading
import time

import pytest

import shmif
from util import frame

LONG = 5.0
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 1518, 1)


def records(pcap: bytes) -> list[tuple[int, int, bytes]]:
    """(sec, usec, frame) of the records of a little-endian microsecond
    pcap file with the header capture() writes."""
    assert pcap[:24] == PCAP_HEADER, pcap[:24].hex()
    out, off = [], 24
    while off < len(pcap):
        sec, usec, caplen, length = struct.unpack_from("<IIII", pcap, off)
        off += 16
        assert caplen == length and off + caplen <= len(pcap)
        out.append((sec, usec, pcap[off : off + caplen]))
        off += caplen
    return out


def pcap_of(*frames: bytes, caplen: int | None = None) -> bytes:
    """A pcap file of frames, stamped 1000.000001, 1000.000002, ..."""
    out = [PCAP_HEADER]
    for i, f in enumerate(frames, 1):
        kept = f if caplen is None else f[:caplen]
        out += [struct.pack("<IIII", 1000, i, len(kept), len(f)), kept]
    return b"".join(out)


@pytest.fixture
def sent(shmif_pair):
    """Three frames a sent on shmif_bus, as b received them (with their
    timestamps and sender)."""
    a, b = shmif_pair
    fs = [frame(b"one"), frame(b"two", size=300), frame(b"three", dst=bytes.fromhex("020000000099"))]
    a.send_batch(fs)
    b.promisc = True
    got = list(b.frames(timeout=0.05))
    assert got == fs
    return got


def test_capture_snapshot(shmif_bus, sent, tmp_path):
    out = tmp_path / "bus.pcap"
    assert shmif.capture(shmif_bus, out) == shmif.Capture(frames=3, lost=0)
    got = records(out.read_bytes())
    assert got == [(f.sec, f.usec, bytes(f)) for f in sent]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_capture_to_each_kind_of_file(shmif_bus, sent, tmp_path):
    expected = pcap_bytes(shmif_bus)
    # A descriptor: written at its offset and left open.
    with open(tmp_path / "fd", "wb") as f:
        f.write(b"before")
        f.flush()
        assert shmif.capture(shmif_bus, f.fileno()).frames == 3
        os.fstat(f.fileno())
    assert (tmp_path / "fd").read_bytes() == b"before" + expected
    # A buffered file object: what it buffered goes first, then the pcap,
    # then what is written after.
    with open(tmp_path / "obj", "wb") as f:
        f.write(b"buffered")
        shmif.capture(shmif_bus, f)
        f.write(b"after")
    assert (tmp_path / "obj").read_bytes() == b"buffered" + expected + b"after"
    # An object without a descriptor.
    buf = io.BytesIO()
    buf.write(b"x")
    assert shmif.capture(shmif_bus, buf) == (3, 0)
    assert buf.getvalue() == b"x" + expected
    # A path, as bytes and as str; an existing file is truncated.
    (tmp_path / "p").write_bytes(b"old contents" * 1000)
    shmif.capture(os.fsencode(shmif_bus), str(tmp_path / "p"))
    assert (tmp_path / "p").read_bytes() == expected


def pcap_bytes(bus) -> bytes:
    buf = io.BytesIO()
    shmif.capture(bus, buf)
    return buf.getvalue()


def test_capture_of_bus_without_frames(shmif_bus, shmif_interface, tmp_path):
    assert pcap_bytes(shmif_bus) == PCAP_HEADER
    (tmp_path / "empty").write_bytes(b"")
    assert pcap_bytes(tmp_path / "empty") == PCAP_HEADER
    assert os.path.getsize(tmp_path / "empty") == 0  # never created, resized or written


def test_capture_errors(tmp_path, shmif_bus, shmif_interface):
    with pytest.raises(FileNotFoundError, match="shmif_capture") as e:
        shmif.capture(tmp_path / "missing", io.BytesIO())
    assert e.value.filename == str(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
    (tmp_path / "foreign").write_bytes(b"not a bus" * 1000)
    with pytest.raises(OSError, match="shmif_capture") as e:
        shmif.capture(tmp_path / "foreign", io.BytesIO())
    assert e.value.errno == errno.ENOEXEC and e.value.filename == str(tmp_path / "foreign")
    r, w = os.pipe()
    os.close(w)
    with pytest.raises(OSError, match=r"shmif_capture \(the pcap file\)") as e:
        shmif.capture(shmif_bus, w)
    assert e.value.errno == errno.EBADF and e.value.filename is None
    os.close(r)
    # A reader that went away: EPIPE (Python ignores SIGPIPE).
    r, w = os.pipe()
    os.close(r)
    try:
        with pytest.raises(BrokenPipeError):
            shmif.capture(shmif_bus, w)
    finally:
        os.close(w)
    for follow, exc in ((0, ValueError), (-1, ValueError), ("1", TypeError)):
        with pytest.raises(exc, match="follow"):
            shmif.capture(shmif_bus, io.BytesIO(), follow=follow)
    with pytest.raises(TypeError, match="capture writes to"):
        shmif.capture(shmif_bus, object())


def test_inject_round_trip(shmif_bus, shmif_bus_factory, sent, shmif_interface_factory):
    # Frames captured on one bus and injected into another arrive there as
    # they were sent, time stamps included, from a sender id of the call.
    pcap = pcap_bytes(shmif_bus)
    other = shmif_bus_factory()
    rx = shmif_interface_factory(other)
    rx.promisc = True
    assert shmif.inject(other, io.BytesIO(pcap)) == 3
    got = list(rx.frames(timeout=0.05))
    assert got == sent
    assert [(f.sec, f.usec) for f in got] == [(f.sec, f.usec) for f in sent]
    first = {f.sender for f in got}
    assert len(first) == 1 and first != {sent[0].sender} and first != {rx.sender}
    # Each call draws its own sender id.
    shmif.inject(other, io.BytesIO(pcap))
    again = list(rx.frames(timeout=0.05))
    assert again == sent and {f.sender for f in again} != first
    # And the bus now holds both copies, as a capture shows.
    assert [r[2] for r in records(pcap_bytes(other))] == [bytes(f) for f in sent] * 2


def test_inject_creates_the_bus(tmp_path, shmif_bus_factory):
    bus = shmif_bus_factory()
    pcap = pcap_of(frame(b"a"), frame(b"b"))
    assert shmif.inject(bus, io.BytesIO(pcap)) == 2
    assert os.path.getsize(bus) == shmif.BUSSIZE
    assert stat.S_IMODE(os.stat(bus).st_mode) == 0o644 & ~_umask()
    with shmif.open(bus, start="oldest") as ifc:
        got = list(ifc.frames(timeout=0))
    assert got == [frame(b"a"), frame(b"b")]
    assert [(f.sec, f.usec) for f in got] == [(1000, 1), (1000, 2)]


def test_inject_from_each_kind_of_file(shmif_bus, shmif_interface_factory, tmp_path):
    rx = shmif_interface_factory()
    pcap = pcap_of(frame(b"from a file"))
    path = tmp_path / "in.pcap"
    path.write_bytes(b"junk" + pcap)
    # A descriptor: read from its offset.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 4, os.SEEK_SET)
        assert shmif.inject(shmif_bus, fd) == 1
        os.fstat(fd)  # left open
    finally:
        os.close(fd)
    # A buffered file object: from its position, whatever it read ahead.
    with open(path, "rb") as f:
        assert f.read(4) == b"junk"
        assert shmif.inject(shmif_bus, f) == 1
    path.write_bytes(pcap)
    assert shmif.inject(shmif_bus, path) == 1
    assert shmif.inject(shmif_bus, str(path)) == 1
    assert list(rx.frames(timeout=0.05)) == [frame(b"from a file")] * 4
    with pytest.raises(TypeError, match="binary file"):
        shmif.inject(shmif_bus, io.StringIO("text"))
    with pytest.raises(TypeError, match="inject reads from"):
        shmif.inject(shmif_bus, 1.5)


@pytest.mark.parametrize("pcap, code", [
    (b"not a pcap file at all", errno.EINVAL),
    (pcap_of(frame())[:-1], errno.EINVAL),                    # damaged: cut short
    (pcap_of(frame(), b"\xff" * 13), errno.EMSGSIZE),           # a frame too short
    (pcap_of(frame(), b"\xff" * 1515), errno.EMSGSIZE),         # a frame too long
    (pcap_of(frame(), frame(size=100), caplen=60), errno.EMSGSIZE),  # captured in part
], ids=["garbage", "damaged", "short", "long", "partial"])
def test_inject_refuses_and_writes_nothing(shmif_bus, shmif_interface_factory, pcap, code):
    rx = shmif_interface_factory()
    with pytest.raises(OSError, match=r"shmif_inject \(the pcap file\)") as e:
        shmif.inject(shmif_bus, io.BytesIO(pcap))
    assert e.value.errno == code
    with pytest.raises(BlockingIOError):
        rx.recv(timeout=0)
    assert records(pcap_bytes(shmif_bus)) == []


def test_inject_into_foreign_file(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"not a bus" * 10)
    with pytest.raises(OSError, match="shmif_inject") as e:
        shmif.inject(foreign, io.BytesIO(pcap_of(frame())))
    assert e.value.errno == errno.ENOEXEC and e.value.filename == str(foreign)
    assert foreign.read_bytes() == b"not a bus" * 10


def test_following_capture_takes_only_new_frames(shmif_bus, shmif_interface_factory):
    # Frames on the bus before the call are not taken; frames written while
    # it follows are, in order, none lost; it ends after `follow` seconds.
    a = shmif_interface_factory()
    a.send_batch([frame(b"old %d" % i) for i in range(5)])
    out = io.BytesIO()
    t, result = _start(lambda: shmif.capture(shmif_bus, out, follow=0.3))
    sent = []
    while t.is_alive():
        f = frame(b"new %d" % len(sent))
        a.send(f)
        sent.append(f)
        t.join(0.002)
    assert "error" not in result, result
    got = [r[2] for r in records(out.getvalue())]
    assert got, "no frame sent during the capture was taken"
    first = sent.index(got[0])
    assert got == sent[first : first + len(got)]
    assert result["value"] == shmif.Capture(frames=len(got), lost=0)


def test_following_capture_of_idle_bus(shmif_bus, shmif_interface_factory):
    a = shmif_interface_factory()
    a.send(frame(b"old"))
    t0 = time.monotonic()
    out = io.BytesIO()
    assert shmif.capture(shmif_bus, out, follow=0.05) == (0, 0)
    assert time.monotonic() - t0 >= 0.05
    assert out.getvalue() == PCAP_HEADER


def _start(call):
    result: dict = {}

    def run():
        try:
            result["value"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def test_inject_waits_for_lossless_receiver(shmif_interface_factory, shmif_bus):
    # Three rings' worth of frames injected reach a lossless receiver whole.
    n = 3 * shmif.RING_FRAMES_1514
    rx = shmif_interface_factory(lossless=60.0)
    if not rx.lossless_active:
        pytest.skip("no private bus state (/dev/shm): lossless delivery is unavailable")
    sent = [frame(i.to_bytes(4, "big"), size=shmif.MAXFRAME) for i in range(n)]
    t, result = _start(lambda: shmif.inject(shmif_bus, io.BytesIO(pcap_of(*sent))))
    got = []
    while len(got) < n:
        got += rx.recv_batch(64, timeout=LONG)
    t.join(LONG)
    assert result.get("value") == n, result
    assert got == sent and rx.stats().lost == 0
