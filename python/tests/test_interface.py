"""Interfaces: life, bus attachment, settings, counters, event loops."""

from __future__ import annotations

import errno
import os
import selectors
import stat
import sys

import pytest

import shmif
from util import frame

LONG = 5.0


def test_open_is_up_on_its_bus(shmif_bus):
    with shmif.open(shmif_bus) as ifc:
        assert ifc.linkstr == str(shmif_bus)
        assert ifc.name == f"shmif{ifc.unit}"
        assert ifc.is_up
        assert ifc.flags == (shmif.Flag.UP | shmif.Flag.RUNNING | shmif.Flag.BROADCAST
                             | shmif.Flag.SIMPLEX | shmif.Flag.MULTICAST)
        assert ifc.link_state == shmif.LinkState.UP
        assert ifc.media == shmif.Media.AUTO
        assert ifc.mtu == shmif.MTU == 1500
        assert ifc.mac.startswith("b2:a0:") and len(ifc.mac_bytes) == 6
        assert "up" in repr(ifc)
    assert ifc.closed
    assert os.path.getsize(shmif_bus) == 1 << 20


def test_open_with_mode_and_unit(shmif_bus_factory):
    private, chosen = shmif_bus_factory(), shmif_bus_factory()
    umask = os.umask(0)
    os.umask(umask)
    with shmif.open(private, mode=0o600) as a:
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600 & ~umask
        assert a.is_up
    with shmif.open(chosen, unit=4321) as b, shmif.open(chosen, unit=4322, mode=0o640) as c:
        assert (b.unit, c.unit) == (4321, 4322)
        assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o644 & ~umask  # first open made it
        b.send(frame())
        assert c.recv(timeout=LONG) == frame()


def test_open_with_unit_taken_leaves_nothing(shmif_bus):
    with shmif.create(4400):
        with pytest.raises(FileExistsError):
            shmif.open(shmif_bus, unit=4400)


def test_open_with_unit_bad_path_frees_the_unit(tmp_path):
    with pytest.raises(FileNotFoundError):
        shmif.open(tmp_path / "missing" / "bus", unit=4401)
    # The unit create() made for it was destroyed again.
    shmif.create(4401).destroy()


def test_create_attach_up_down_detach(shmif_bus):
    with shmif.create() as ifc:
        assert not ifc.is_up
        assert ifc.linkstr is None
        assert ifc.link_state == shmif.LinkState.UNKNOWN
        ifc.attach(shmif_bus)
        assert ifc.linkstr == str(shmif_bus)
        assert ifc.link_state == shmif.LinkState.UP
        assert not ifc.is_up
        ifc.up()
        assert ifc.flags & shmif.Flag.RUNNING
        ifc.down()
        assert not ifc.is_up
        ifc.detach()
        assert ifc.linkstr is None
        ifc.attach(shmif_bus, mode=0o600)
        assert ifc.linkstr == str(shmif_bus)


def test_create_with_unit(shmif_bus):
    with shmif.create(1234) as ifc:
        assert ifc.unit == 1234 and ifc.name == "shmif1234"


def test_linkstr_as_given(tmp_path, monkeypatch):
    # A relative path is kept as given.
    d = tmp_path / ("d" * 200) / ("e" * 200)
    d.mkdir(parents=True)
    path = d / ("f" * 200)
    with shmif.open(path) as ifc:
        assert ifc.linkstr == str(path)
        # A first buffer too small: ENAMETOOLONG with the size needed, and
        # a second try with that size.
        monkeypatch.setattr(shmif._core, "MAXLINKSTR", 8)
        assert ifc.linkstr == str(path)
        monkeypatch.undo()
    rel = os.path.relpath(path)
    with shmif.open(rel) as ifc:
        assert ifc.linkstr == rel


def test_received_frames_can_be_sent_on(shmif_bus_factory):
    # A Frame (a bytes subclass) goes back out as it is: a bridge.
    bus1, bus2 = shmif_bus_factory(), shmif_bus_factory()
    with shmif.open(bus1) as a, shmif.open(bus1) as b, shmif.open(bus2) as c, \
            shmif.open(bus2) as d:
        a.send_batch([frame(b"1"), frame(b"2")])
        got = b.recv_batch(2, timeout=LONG)
        got += b.recv_batch(2, timeout=LONG) if len(got) < 2 else []
        c.send(got[0])
        c.send_batch(got[1:])
        assert list(d.frames(timeout=0.05)) == [frame(b"1"), frame(b"2")]


def test_up_redelivers_newest_frame(shmif_interface_factory):
    # NetBSD's rule, which libshmif keeps by default: every up starts at the
    # newest frame (the fixtures ask for a clean start instead).
    a = shmif_interface_factory()
    b = shmif_interface_factory(start=shmif.START_NEWEST)
    a.send(frame(b"1"))
    a.send(frame(b"2"))
    assert list(b.frames(timeout=0.05)) == [frame(b"1"), frame(b"2")]
    b.up()
    assert list(b.frames(timeout=0.05)) == [frame(b"2")]


def test_context_managers_and_double_destroy(shmif_bus):
    with shmif.open(shmif_bus) as a:
        a.destroy()
        a.destroy()
        a.close()
    assert a.closed and "destroyed" in repr(a)
    b = shmif.create()
    b.close()
    b.close()


def test_unclosed_interface_warns_and_is_destroyed(shmif_bus):
    ifc = shmif.open(shmif_bus)
    unit = ifc.unit
    with pytest.warns(ResourceWarning, match=f"shmif{unit}"):
        del ifc
    # The unit is free again.
    shmif.create(unit).destroy()


def test_mac_set_forms(shmif_interface):
    ifc = shmif_interface
    ifc.mac = "02-00-00-00-00-0a"
    assert ifc.mac == "02:00:00:00:00:0a"
    ifc.mac = bytes.fromhex("02000000000b")
    assert ifc.mac_bytes == bytes.fromhex("02000000000b")
    ifc.mac = "2:0:0:0:0:c"
    assert ifc.mac == "02:00:00:00:00:0c"
    for bad in ("02:00:00:00:00", "02:00:00:00:00:0g", "020:00:00:00:00:00", " 2:0:0:0:0:c"):
        with pytest.raises(ValueError):
            ifc.mac = bad
    with pytest.raises(ValueError):
        ifc.mac = b"\x02\x00"


def test_media_none_drops_frames(shmif_pair):
    a, b = shmif_pair
    b.media = shmif.Media.NONE
    assert b.media == shmif.Media.NONE and b.link_state == shmif.LinkState.DOWN
    a.send(frame(b"dropped"))
    with pytest.raises(TimeoutError):
        b.recv(timeout=0.05)
    b.media = shmif.Media.AUTO
    assert b.link_state == shmif.LinkState.UP
    a.send(frame(b"kept"))
    assert b.recv(timeout=LONG) == frame(b"kept")
    # Sending with media none succeeds and counts, but writes nothing.
    a.media = shmif.Media.NONE
    before = a.stats()
    a.send(frame(b"nowhere"))
    assert (a.stats() - before).opackets == 1
    with pytest.raises(TimeoutError):
        b.recv(timeout=0.05)


def test_capabilities_and_spin(shmif_interface):
    ifc = shmif_interface
    assert ifc.capabilities == shmif.CAPABILITIES == shmif.Cap(0x7FF80)
    assert ifc.capenable == shmif.Cap(0)
    ifc.capenable = shmif.Cap.TSOv4 | shmif.Cap.UDPv6_Rx
    assert ifc.capenable == shmif.Cap.TSOv4 | shmif.Cap.UDPv6_Rx
    ifc.set_spin(0)
    ifc.set_spin(1000)


def test_capenable_from_environment(monkeypatch):
    monkeypatch.setenv("RUMP_SHMIF_CAPENABLE", "0x300")
    with shmif.create() as ifc:
        assert ifc.capenable == shmif.Cap.IPv4_Rx | shmif.Cap.IPv4_Tx


def test_stats(shmif_pair):
    a, b = shmif_pair
    start_a, start_b = a.stats(), b.stats()
    assert start_a == shmif.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0)
    a.send(frame(size=60))                       # broadcast
    a.send(frame(size=100, dst=b.mac_bytes))     # unicast to b
    a.send(frame(size=80, dst=bytes.fromhex("020000000099")))  # unicast elsewhere
    assert len(list(b.frames(timeout=0.05))) == 2
    da, db = a.stats() - start_a, b.stats() - start_b
    assert (da.opackets, da.obytes, da.omcasts, da.oerrors) == (3, 240, 1, 0)
    assert (db.ipackets, db.ibytes, db.imcasts) == (2, 160, 1)
    assert (db.lost, db.corrupt) == (0, 0)


@pytest.mark.parametrize("fill", [b"\0", b"\xff"], ids=["zeros", "ones"])
def test_lost_counts_lapped_reader(shmif_pair, fill):
    # 1 MiB of ring: 2000 frames of 1514 bytes lap a reader that reads none.
    # Between libshmif writers the count is exact: every frame is either
    # received or counted lost, whatever the frames hold.
    a, b = shmif_pair
    big = frame(fill * 1500, size=shmif.MAXFRAME)
    for _ in range(20):
        a.send_batch([big] * 100)
    received = len(list(b.frames(timeout=0.05)))
    st = b.stats()
    assert received > 0 and st.lost > 0
    assert received + st.lost == 2000, st


def test_selectors_with_fileno(shmif_pair):
    a, b = shmif_pair
    with selectors.DefaultSelector() as sel:
        sel.register(b, selectors.EVENT_READ)
        sent = [frame(bytes([i])) for i in range(3)]
        a.send_batch(sent)
        got = []
        while len(got) < len(sent):
            # Readable while a frame may be waiting: receive until EAGAIN.
            assert sel.select(timeout=LONG), "the descriptor never became readable"
            while True:
                try:
                    got.append(b.recv(timeout=0))
                except BlockingIOError:
                    break
        assert got == sent
        sel.unregister(b)
    assert b.fileno() == b.fileno()


def test_fileno_survives_down_up(shmif_pair):
    a, b = shmif_pair
    fd = b.fileno()
    b.down()
    b.up()
    assert b.fileno() == fd
    with selectors.DefaultSelector() as sel:
        sel.register(b, selectors.EVENT_READ)
        while True:  # up re-delivers the newest frame: none here; drain anyway
            try:
                b.recv(timeout=0)
            except BlockingIOError:
                break
        a.send(frame())
        assert sel.select(timeout=LONG)
        assert b.recv(timeout=0) == frame()


def test_adopt_unit_made_elsewhere(shmif_bus):
    # An Interface can wrap a unit made through the C API directly.
    with shmif.create() as made:
        unit = made.unit
        ifc = shmif.Interface(unit)
        assert ifc.name == made.name
        ifc.attach(shmif_bus)
        assert made.linkstr == str(shmif_bus)
        ifc.destroy()
        # Destroyed through the other object: ENXIO, and destroy is harmless.
        with pytest.raises(OSError) as e:
            made.up()
        assert e.value.errno == errno.ENXIO


def test_constants_match_the_ring():
    assert shmif.RINGSIZE == shmif.BUSSIZE - 32
    assert shmif.RING_FRAMES_60 == shmif.RINGSIZE // (shmif.FRAMEHDR + 60)
    assert shmif.RING_FRAMES_1514 == shmif.RINGSIZE // (shmif.FRAMEHDR + shmif.MAXFRAME)
    assert (shmif.START_NEWEST, shmif.START_NEXT, shmif.START_OLDEST) == (0, 1, 2)
    assert shmif.START_NEXT is shmif.Start.NEXT


def test_start_positions(shmif_bus, shmif_interface_factory):
    a = shmif_interface_factory()
    old = [frame(b"old %d" % i) for i in range(3)]
    a.send_batch(old)
    with shmif.open(shmif_bus) as default, \
            shmif.open(shmif_bus, start=shmif.START_NEWEST) as newest, \
            shmif.open(shmif_bus, start="next") as nxt, \
            shmif.open(shmif_bus, start=shmif.Start.OLDEST) as oldest:
        assert list(default.frames(timeout=0)) == old[-1:]
        assert list(newest.frames(timeout=0)) == old[-1:]
        assert list(nxt.frames(timeout=0)) == []
        assert list(oldest.frames(timeout=0)) == old
        # The start holds for every later up, until set again.
        oldest.up()
        assert list(oldest.frames(timeout=0)) == old
        nxt.set_start(shmif.START_OLDEST)
        nxt.up()
        assert list(nxt.frames(timeout=0)) == old
        nxt.set_start("newest")
        nxt.up()
        assert list(nxt.frames(timeout=0)) == old[-1:]
        # What is sent after the up reaches every one of them.
        a.send(frame(b"new"))
        for ifc in (default, newest, nxt, oldest):
            assert ifc.recv(timeout=LONG) == frame(b"new")


def test_start_before_attach(shmif_bus, shmif_interface_factory):
    a = shmif_interface_factory()
    a.send(frame(b"stale"))
    with shmif.create() as ifc:
        ifc.set_start(shmif.START_NEXT)
        ifc.attach(shmif_bus)
        ifc.up()
        with pytest.raises(BlockingIOError):
            ifc.recv(timeout=0)


def test_start_from_environment(shmif_bus, shmif_interface_factory, monkeypatch):
    a = shmif_interface_factory()
    a.send(frame(b"stale"))
    monkeypatch.setenv("SHMIF_START", "next")
    with shmif.open(shmif_bus) as ifc:
        with pytest.raises(BlockingIOError):
            ifc.recv(timeout=0)
    monkeypatch.setenv("SHMIF_START", "oldest")
    with shmif.open(shmif_bus) as ifc:
        assert ifc.recv(timeout=0) == frame(b"stale")


def test_bad_start(shmif_bus):
    with shmif.create() as ifc:
        with pytest.raises(OSError, match="shmif_set_start on shmif") as e:
            ifc.set_start(3)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(ValueError, match="newest, next, oldest"):
            ifc.set_start("latest")
        with pytest.raises(TypeError):
            ifc.set_start(1.0)
    # Refused before anything is made: no interface, no bus file.
    with pytest.raises(ValueError):
        shmif.open(shmif_bus, start="latest")
    with pytest.raises(OSError) as e:
        shmif.open(shmif_bus, start=-1)
    assert e.value.errno == errno.EINVAL
    assert not os.path.exists(shmif_bus)


def test_sender_ids(shmif_pair):
    a, b = shmif_pair
    assert a.sender != b.sender
    # As in NetBSD: its first four bytes in memory are the last four of the
    # initial MAC; it stays when the MAC changes.
    for ifc in (a, b):
        assert ifc.sender.to_bytes(8, sys.byteorder)[:4] == ifc.mac_bytes[2:]
    sender = a.sender
    a.mac = "02:00:00:00:00:42"
    assert a.sender == sender
    a.send(frame(b"one"))
    a.send_batch([frame(b"two"), frame(b"three")])
    got = [b.recv(timeout=LONG)]
    while len(got) < 3:
        got += b.recv_batch(4, timeout=LONG)
    assert [f.sender for f in got] == [sender] * 3
    b.send(frame(b"back"))
    assert a.recv(timeout=LONG).sender == b.sender


def test_spin(shmif_interface, monkeypatch):
    ifc = shmif_interface
    assert ifc.spin == int(os.environ.get("SHMIF_SPIN_US", "50"))
    ifc.spin = 0
    assert ifc.spin == 0
    ifc.set_spin(1000)
    assert ifc.spin == 1000
    monkeypatch.setenv("SHMIF_SPIN_US", "7")
    with shmif.create() as other:
        assert other.spin == 7


def test_lossless_setting(shmif_bus):
    with shmif.create() as ifc:
        assert ifc.lossless == 0.0 and not ifc.lossless_active
        ifc.lossless = 1.5
        assert ifc.lossless == 1.5
        assert not ifc.lossless_active  # no bus, not up
        ifc.attach(shmif_bus)
        ifc.up()
        if not ifc.lossless_active:
            pytest.skip("no private bus state (/dev/shm): lossless delivery is unavailable")
        ifc.down()
        assert not ifc.lossless_active
        ifc.up()
        assert ifc.lossless_active
        ifc.lossless = 0.0001  # milliseconds count, rounded up
        assert ifc.lossless == 0.001
        ifc.lossless = None
        assert ifc.lossless == 0.0 and not ifc.lossless_active
        ifc.lossless = 0
        assert ifc.lossless == 0.0
    with shmif.open(shmif_bus, lossless=0.25) as ifc:
        assert ifc.lossless == 0.25 and ifc.lossless_active


def test_bad_lossless(shmif_bus):
    with shmif.create() as ifc:
        for bad, exc in ((-1, ValueError), (float("nan"), ValueError), (True, TypeError),
                         ("1", TypeError), (3e6, OverflowError)):
            with pytest.raises(exc, match="lossless"):
                ifc.lossless = bad
        assert ifc.lossless == 0.0
    with pytest.raises(ValueError):
        shmif.open(shmif_bus, lossless=-1)
    assert not os.path.exists(shmif_bus)


def test_package_docstring_example(tmp_path, capsys):
    # The example at the top of the package runs as shown, also a second
    # time on a bus that carried frames before (start="next").
    doc = shmif.__doc__
    lines = doc[doc.index("    import shmif\n"):].split("\n\n", 2)
    code = "\n\n".join(lines[:2])
    code = "\n".join(line[4:] for line in code.splitlines())
    code = code.replace("/tmp/bus", str(tmp_path / "bus"))
    for _ in range(2):
        exec(compile(code, "shmif.__doc__", "exec"), {})
        assert capsys.readouterr().out == "[24, 24, 24]\n4\n"
    assert (tmp_path / "bus.pcap").stat().st_size > 24
