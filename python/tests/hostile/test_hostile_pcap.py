"""shmif.capture() and shmif.inject() on hostile files (python/README.md
"pcap files: capture and inject"; docs/protocol.md §1.2 for the layout)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import signal
import struct
import threading
import time

import pytest

import shmif

from .hutil import eth, run_py

HDR = struct.Struct("<IIQIIII")      # magic version gen first last lock spare


def _bus_with_frames(path, n=5):
    with shmif.open(path, start="next") as a:
        for k in range(n):
            a.send(eth(a.mac_bytes, bytes([k]) * 50, 64))
    return path.read_bytes()


def _with_hdr(data, **kw):
    names = "magic version gen first last lock spare".split()
    vals = dict(zip(names, HDR.unpack_from(data)))
    vals.update(kw)
    return HDR.pack(*[vals[n] for n in names]) + data[32:]


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size


def _variants(good):
    last = HDR.unpack_from(good)[4]
    lenff = bytearray(good)
    struct.pack_into("<I", lenff, 32 + last, 0xFFFFFFFF)
    return {
        "truncated100": (good[:100], errno.EIO),
        "truncated31": (good[:31], errno.EIO),
        "version4": (_with_hdr(good, version=4), errno.ENOEXEC),
        "badmagic": (_with_hdr(good, magic=0x6C6C6568), errno.ENOEXEC),
        "swapped": (struct.pack(">I", 0xCA11D054) + good[4:], errno.ENOEXEC),
        "last_huge": (_with_hdr(good, last=0xFFFFFFF0), errno.EIO),
        "first_huge": (_with_hdr(good, first=0xFFFFFFF0), errno.EIO),
        "newest_len_ffffffff": (bytes(lenff), errno.EIO),
        "random": (os.urandom(len(good)), errno.ENOEXEC),
        "zeros_other_size": (b"\0" * 4096, None),   # any error or none, but unchanged
    }


def test_capture_hostile_buses_errors_and_never_writes(tmp_path):
    good = _bus_with_frames(tmp_path / "good")
    for name, (data, err) in _variants(good).items():
        p = tmp_path / name
        p.write_bytes(data)
        before = _digest(p)
        out = io.BytesIO()
        try:
            shmif.capture(p, out)
        except OSError as e:
            assert err is None or e.errno == err, (name, e)
            if e.errno == errno.ENOEXEC:
                assert e.filename == str(p), (name, e.filename)
        else:
            assert err is None, f"{name}: no error"
        assert _digest(p) == before, f"{name}: capture changed the bus file"


def test_capture_special_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "empty").write_bytes(b"")
    for p in ("/dev/zero", "/dev/null", str(tmp_path), str(tmp_path / "fifo")):
        for follow in (None, 0.2):
            with pytest.raises(OSError):
                shmif.capture(p, io.BytesIO(), follow=follow)
    with pytest.raises(FileNotFoundError):
        shmif.capture(tmp_path / "nonexistent", io.BytesIO())
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("follow", [None, 0.1])
def test_capture_empty_file(tmp_path, follow):
    # capture() docstring: a snapshot of an empty file is a pcap file without
    # records; following needs a bus some interface has attached to: an
    # empty file is ENOEXEC (as shmif_capture in rump.h). The file stays
    # empty either way.
    (tmp_path / "empty").write_bytes(b"")
    out = io.BytesIO()
    if follow is None:
        assert shmif.capture(tmp_path / "empty", out, follow=follow) == (0, 0)
        assert len(out.getvalue()) == 24
    else:
        with pytest.raises(OSError) as e:
            shmif.capture(tmp_path / "empty", out, follow=follow)
        assert e.value.errno == errno.ENOEXEC
    assert (tmp_path / "empty").stat().st_size == 0


def test_capture_snapshot_readonly_as_other_user(tmp_path):
    # "A snapshot needs read permission, following needs write permission";
    # "The bus file is never created or changed".
    if os.geteuid() != 0:
        pytest.skip("needs root to run a child as nobody")
    import tempfile
    tmp_path = __import__("pathlib").Path(tempfile.mkdtemp(prefix="shmif-hostile-"))
    os.chmod(tmp_path, 0o755)
    _bus_with_frames(tmp_path / "bus")
    os.chmod(tmp_path / "bus", 0o444)
    before = _digest(tmp_path / "bus")
    st = os.stat(tmp_path / "bus")
    r = run_py(f"""
        import io, shmif
        out = io.BytesIO()
        print(tuple(shmif.capture({str(tmp_path / 'bus')!r}, out)), len(out.getvalue()))
        try:
            shmif.capture({str(tmp_path / 'bus')!r}, io.BytesIO(), follow=0.2)
            print("follow ok")
        except PermissionError:
            print("follow EACCES")
    """, user=65534, group=65534, cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == [f"(5, 0) {24 + 5 * (16 + 64)}", "follow EACCES"]
    assert _digest(tmp_path / "bus") == before
    assert os.stat(tmp_path / "bus").st_mtime_ns == st.st_mtime_ns
    __import__("shutil").rmtree(tmp_path)


def test_follow_survives_garbage_written_into_ring(tmp_path):
    # A following capture while a stranger scribbles over the ring and the
    # header words: it returns (frames, lost) or raises EIO; it does not
    # crash the process, hang, or write a broken pcap file.
    bus = tmp_path / "bus"
    _bus_with_frames(bus)
    out = tmp_path / "out.pcap"
    res = {}

    def cap():
        try:
            res["r"] = shmif.capture(bus, out, follow=1.5)
        except OSError as e:
            res["e"] = e

    t = threading.Thread(target=cap)
    t.start()
    time.sleep(0.2)
    with shmif.open(bus, start="next") as a:
        fd = os.open(bus, os.O_RDWR)
        try:
            for k in range(40):
                a.send(eth(a.mac_bytes, bytes([k]) * 8, 200))
                off = 32 + (k * 7919) % (shmif.RINGSIZE - 64)
                os.pwrite(fd, os.urandom(48), off)
                if k % 10 == 5:
                    os.pwrite(fd, struct.pack("<II", 0xFFFFFFF0, 0xFFFFFFF0), 16)
        finally:
            os.close(fd)
    t.join(20)
    assert not t.is_alive()
    if "e" in res:
        assert res["e"].errno == errno.EIO, res["e"]
    data = out.read_bytes()
    assert data[:4] == struct.pack("<I", 0xA1B2C3D4)
    off, n = 24, 0
    while off < len(data):
        incl, orig = struct.unpack_from("<II", data, off + 8)
        assert 14 <= incl <= 1518 and incl == orig, (n, incl)
        off += 16 + incl
        n += 1
    assert off == len(data)
    if "r" in res:
        assert res["r"].frames == n


def test_truncated_under_following_capture_is_eio(tmp_path):
    # README: "A bus file truncated under a live mapping makes calls fail
    # with EIO instead of killing the process with SIGBUS." In a child.
    bus = tmp_path / "bus"
    _bus_with_frames(bus)
    r = run_py(f"""
        import os, threading, time, shmif, io
        def cut():
            # Once the capture has the bus mapped (a late start would find
            # a file too short to be a bus: ENOEXEC, not this test).
            real = os.path.realpath({str(bus)!r})
            for _ in range(2000):
                with open("/proc/self/maps") as m:
                    if real in m.read():
                        break
                time.sleep(0.005)
            time.sleep(0.1)
            os.truncate({str(bus)!r}, 4096)
            with open({str(bus)!r}, "r+b") as f:
                # A newest record far past the cut (header word last, at
                # 20): the follower must read where nothing is mapped.
                f.seek(20); f.write((600000).to_bytes(4, "little"))
            # and the wake-up write, so that it looks now
            fd = os.open({str(bus)!r}, os.O_WRONLY)
            os.pwrite(fd, bytes([1, 0, 0, 0]), 4)
            os.close(fd)
        threading.Thread(target=cut).start()
        try:
            print(tuple(shmif.capture({str(bus)!r}, io.BytesIO(), follow=1.0)))
        except OSError as e:
            print("errno", e.errno)
    """)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.strip() == "errno 5", r.stdout


def _pcap(records, snaplen=65535, ts=(1, 0)):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)
    for rec in records:
        if isinstance(rec, tuple):
            data, orig = rec
        else:
            data, orig = rec, len(rec)
        out += struct.pack("<IIII", ts[0], ts[1], len(data), orig) + data
    return out


@pytest.mark.parametrize("name,data,err", [
    ("short13", _pcap([b"\xff" * 60, b"\xff" * 13]), errno.EMSGSIZE),
    ("zero", _pcap([b"\xff" * 60, b""]), errno.EMSGSIZE),
    ("long1515", _pcap([b"\xff" * 60, b"\xff" * 1515]), errno.EMSGSIZE),
    ("long65535", _pcap([b"\xff" * 65535]), errno.EMSGSIZE),
    ("partial", _pcap([b"\xff" * 60, (b"\xff" * 60, 100)]), errno.EMSGSIZE),
    ("truncated_record", _pcap([b"\xff" * 60, b"\xff" * 60])[:-10], errno.EINVAL),
    ("huge_caplen", _pcap([b"\xff" * 60])[:24] + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 0xFFFFFFF0), None),
    ("garbage", os.urandom(4096), errno.EINVAL),
    ("header_only_cut", _pcap([])[:20], errno.EINVAL),
    ("linktype_raw", _pcap([b"\xff" * 60])[:20] + struct.pack("<I", 101) + _pcap([b"\xff" * 60])[24:], errno.EINVAL),
])
def test_inject_refuses_and_writes_nothing(tmp_path, name, data, err):
    bus = tmp_path / "bus"
    _bus_with_frames(bus)
    before = _digest(bus)
    with pytest.raises(OSError) as ei:
        shmif.inject(bus, io.BytesIO(data))
    assert err is None or ei.value.errno == err, ei.value
    assert ei.value.errno in (errno.EINVAL, errno.EMSGSIZE)
    assert _digest(bus) == before


def test_inject_edges(tmp_path):
    bus = tmp_path / "bus"
    assert shmif.inject(bus, io.BytesIO(_pcap([]))) == 0
    frames = [b"\xff" * 14] + [b"\xff" * 1514] * 999      # more than a ring
    with shmif.open(bus, start="next"):
        assert shmif.inject(bus, io.BytesIO(_pcap(frames))) == 1000
        out = io.BytesIO()
        n, lost = shmif.capture(bus, out)
        assert 0 < n < 1000 and lost == 0
    with pytest.raises(OSError):
        shmif.inject(tmp_path / "nodir" / "bus", io.BytesIO(_pcap([b"\xff" * 60])))
    assert not (tmp_path / "nodir").exists()
    for p in ("/dev/zero", str(tmp_path)):
        with pytest.raises(OSError):
            shmif.inject(p, io.BytesIO(_pcap([b"\xff" * 60])))


def test_capture_to_bad_descriptors(tmp_path):
    bus = tmp_path / "bus"
    _bus_with_frames(bus)
    r, w = os.pipe()
    os.close(w)
    with pytest.raises(OSError) as ei:
        shmif.capture(bus, w)
    assert ei.value.errno == errno.EBADF
    os.close(r)
    r, w = os.pipe()
    os.close(r)
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    with pytest.raises(OSError) as ei:
        shmif.capture(bus, w)
    assert ei.value.errno == errno.EPIPE and "pcap file" in str(ei.value)
    os.close(w)
    ro = open(tmp_path / "ro", "wb+")
    rofd = os.open(tmp_path / "ro", os.O_RDONLY)
    with pytest.raises(OSError) as ei:
        shmif.capture(bus, rofd)
    assert ei.value.errno == errno.EBADF
    os.close(rofd)
    ro.close()
