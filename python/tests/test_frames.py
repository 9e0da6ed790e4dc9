"""Sending and receiving frames: single, batch, into buffers, iteration."""

from __future__ import annotations

import array
import pickle
import time

import pytest

import shmif
from util import frame

LONG = 5.0  # a wait for something that will come: only bounds a failure


def test_send_recv_between_two_interfaces(shmif_pair):
    a, b = shmif_pair
    f = frame(b"hello")
    a.send(f)
    got = b.recv(timeout=LONG)
    assert got == f
    assert isinstance(got, bytes) and isinstance(got, shmif.Frame)
    # The sender does not receive its own frame.
    with pytest.raises(BlockingIOError):
        a.recv(timeout=0)


def test_both_directions_and_sizes(shmif_pair):
    a, b = shmif_pair
    for size in (shmif.MINFRAME, 60, 1000, shmif.MAXFRAME):
        f = frame(bytes(range(256)) * 6, size=size)[:size]
        a.send(f)
        assert b.recv(timeout=LONG) == f
        b.send(f)
        assert a.recv(timeout=LONG) == f


def test_frame_carries_sender_timestamp(shmif_pair):
    a, b = shmif_pair
    before = time.time()
    a.send(frame())
    got = b.recv(timeout=LONG)
    after = time.time()
    # libshmif stamps wall-clock time in whole microseconds.
    assert before - 1e-6 <= got.time <= after + 1e-6
    assert 0 <= got.usec < 1_000_000
    assert got.csum == shmif.Csum(0)


def test_frame_is_bytes_and_pickles():
    f = shmif.Frame(b"abc", sec=5, usec=7, csum=shmif.Csum.IPv4, sender=2**64 - 1)
    assert f == b"abc" and f[1:] == b"bc" and hash(f) == hash(b"abc")
    g = pickle.loads(pickle.dumps(f))
    assert (g, g.sec, g.usec, g.csum, g.sender) == (b"abc", 5, 7, shmif.Csum.IPv4, 2**64 - 1)
    assert g.time == 5.000007
    assert shmif.Frame(b"x").sender == 0


@pytest.mark.parametrize("kind", ["bytearray", "memoryview", "array", "readonly view"])
def test_send_accepts_bytes_like(shmif_pair, kind):
    a, b = shmif_pair
    f = frame(b"bytes-like")
    obj = {
        "bytearray": lambda: bytearray(f),
        "memoryview": lambda: memoryview(bytearray(f)),
        "array": lambda: array.array("B", f),
        "readonly view": lambda: memoryview(f),
    }[kind]()
    a.send(obj)
    assert b.recv(timeout=LONG) == f


@pytest.mark.parametrize("bad", ["text", 42, None])
def test_send_refuses_other_types(shmif_interface, bad):
    with pytest.raises(TypeError, match="bytes-like"):
        shmif_interface.send(bad)


def test_recv_into(shmif_pair):
    a, b = shmif_pair
    f = frame(b"into", size=100)
    a.send(f)
    buf = bytearray(shmif.MAXFRAME)
    n = b.recv_into(buf, timeout=LONG)
    assert n == 100 and buf[:n] == f
    a.send(f)
    view = memoryview(bytearray(100))
    assert b.recv_into(view, timeout=LONG) == 100 and view.tobytes() == f


def test_recv_into_refuses_readonly(shmif_interface):
    with pytest.raises(TypeError, match="writable"):
        shmif_interface.recv_into(b"\0" * 1514, timeout=0)


def test_send_batch_recv_batch(shmif_pair):
    a, b = shmif_pair
    sent = [frame(bytes([i]) * i, size=60 + i) for i in range(10)]
    a.send_batch(sent)
    got = []
    while len(got) < len(sent):
        got += b.recv_batch(32, timeout=LONG)
    assert got == sent
    assert all(isinstance(f, shmif.Frame) and f.sec > 0 for f in got)
    st = a.stats()
    assert st.opackets == 10 and st.obytes == sum(map(len, sent))


def test_recv_batch_limits_and_large(shmif_pair):
    a, b = shmif_pair
    sent = [frame(i.to_bytes(2, "big")) for i in range(300)]
    a.send_batch(sent)
    first = b.recv_batch(3, timeout=LONG)
    assert 1 <= len(first) <= 3
    got = first
    while len(got) < len(sent):
        # Above the size whose buffers are kept per thread.
        got += b.recv_batch(1000, timeout=LONG)
    assert got == sent
    assert b.recv_batch(0, timeout=0) == []
    with pytest.raises(ValueError):
        b.recv_batch(-1)


def test_send_batch_of_generator_and_empty(shmif_pair):
    a, b = shmif_pair
    a.send_batch([])
    a.send_batch(frame(bytes([i])) for i in range(3))
    assert list(b.frames(timeout=0.05)) == [frame(bytes([i])) for i in range(3)]


def test_frames_iteration_ends_on_idle_timeout(shmif_pair):
    a, b = shmif_pair
    sent = [frame(bytes([i])) for i in range(5)]
    for f in sent:
        a.send(f)
    assert list(b.frames(timeout=0.05)) == sent
    # Nothing waiting: ends at once with timeout 0.
    assert list(b.frames(timeout=0)) == []


def test_frames_iteration_stops_early_without_loss(shmif_pair):
    a, b = shmif_pair
    sent = [frame(bytes([i])) for i in range(6)]
    a.send_batch(sent)
    it = b.frames(timeout=LONG)
    assert [next(it), next(it)] == sent[:2]
    it.close()
    assert list(b.frames(timeout=0.05)) == sent[2:]


def test_recv_timeout_zero_and_positive(shmif_interface):
    with pytest.raises(BlockingIOError) as e:
        shmif_interface.recv(timeout=0)
    assert "shmif_recv_frame on shmif" in str(e.value)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        shmif_interface.recv(timeout=0.03)
    assert time.monotonic() - t0 >= 0.03
    with pytest.raises(TimeoutError):
        shmif_interface.recv_batch(4, timeout=0.01)
    with pytest.raises(TimeoutError):
        shmif_interface.recv_into(bytearray(1514), timeout=0.01)
    with pytest.raises(BlockingIOError):
        shmif_interface.recv_into(bytearray(1514), timeout=0)


def test_wait_longer_than_one_slice(shmif_interface, monkeypatch):
    # A long wait is made of slices of at most _WAIT_SLICE_MS; the total
    # is still the timeout asked for.
    monkeypatch.setattr(shmif._core, "_WAIT_SLICE_MS", 5)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        shmif_interface.recv(timeout=0.05)
    assert time.monotonic() - t0 >= 0.05


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan")])
def test_negative_timeout_refused(shmif_interface, bad):
    with pytest.raises(ValueError, match="timeout"):
        shmif_interface.recv(timeout=bad)


def test_unicast_filter_and_promisc(shmif_pair):
    a, b = shmif_pair
    other = bytes.fromhex("020000000099")
    to_b = frame(b"to b", dst=b.mac_bytes)
    to_other = frame(b"to other", dst=other)
    a.send(to_other)
    a.send(to_b)
    assert list(b.frames(timeout=0.05)) == [to_b]
    b.promisc = True
    assert b.promisc and b.flags & shmif.Flag.PROMISC
    a.send(to_other)
    assert b.recv(timeout=LONG) == to_other
    b.promisc = False
    a.send(to_other)
    with pytest.raises(TimeoutError):
        b.recv(timeout=0.05)


def test_mac_change_filters_waiting_frames(shmif_pair):
    a, b = shmif_pair
    new = "02:12:34:56:78:9a"
    a.send(frame(dst=bytes.fromhex(new.replace(":", ""))))
    b.mac = new
    assert b.mac == new
    assert b.recv(timeout=LONG)[:6] == b.mac_bytes


def test_send_offload_fills_udp_checksum(shmif_pair):
    a, b = shmif_pair
    # IPv4/UDP with both checksums zero, left to the interface.
    ip = bytes.fromhex("4500001c0001000040110000" "0a000001" "0a000002")
    udp = bytes.fromhex("04d2162e00080000")
    f = b"\xff" * 6 + a.mac_bytes + b"\x08\x00" + ip + udp
    with pytest.raises(OSError) as e:
        a.send_offload(f, shmif.Csum.IPv4 | shmif.Csum.UDPv4)
    assert e.value.errno == 95  # EOPNOTSUPP: capabilities not enabled
    assert a.stats().oerrors == 1
    a.capenable = shmif.Cap.IPv4_Tx | shmif.Cap.UDPv4_Tx
    a.send_offload(f, shmif.Csum.IPv4 | shmif.Csum.UDPv4)
    got = b.recv(timeout=LONG)
    assert got[:24] == f[:24] and got[26:40] == f[26:40]
    assert got[24:26] != b"\0\0" and got[40:42] != b"\0\0"
    # The IPv4 header checksum verifies: the one's complement sum is 0xffff.
    s = sum(int.from_bytes(got[i:i + 2], "big") for i in range(14, 34, 2))
    assert (s & 0xFFFF) + (s >> 16) == 0xFFFF


def test_rx_capability_reports_checksum_status(shmif_pair):
    a, b = shmif_pair
    b.capenable = shmif.Cap.IPv4_Rx
    ip = bytes.fromhex("4500001c0001000040110000" "0a000001" "0a000002")  # checksum 0: wrong
    f = b"\xff" * 6 + a.mac_bytes + b"\x08\x00" + ip + bytes.fromhex("04d2162e00080000")
    a.send(f)
    got = b.recv(timeout=LONG)
    assert got.csum & shmif.Csum.IPv4_BAD
    a.send(f)
    (batch,) = b.recv_batch(4, timeout=LONG)
    assert batch.csum & shmif.Csum.IPv4_BAD
