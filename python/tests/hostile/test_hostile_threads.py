"""Threads, limits and argument edges of shmif.Interface (python/README.md
"Threads", "Timeouts", the docstrings of create(), recv(), send())."""

from __future__ import annotations

import errno
import gc
import math
import threading
import time

import pytest

import shmif

from .hutil import eth


def _blocked_receivers(ifc, n, timeout=None):
    results = []
    lock = threading.Lock()

    def run():
        try:
            r = ifc.recv(timeout=timeout)
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            r = e
        with lock:
            results.append(r)

    ts = [threading.Thread(target=run, daemon=True) for _ in range(n)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    return ts, results


def _cancel_until_returned(ifc, ts):
    # cancel() releases the receives in progress only: on a loaded machine
    # a thread may begin its receive after the first cancel, so cancel
    # again every 100 ms (10 s at most) until every thread has returned.
    for _ in range(100):
        ifc.cancel()
        for t in ts:
            t.join(0.1 / len(ts))
        if not any(t.is_alive() for t in ts):
            return


@pytest.mark.parametrize("how,exc,err", [
    ("destroy", OSError, errno.ENXIO),
    ("down", OSError, errno.ENETDOWN),
    ("cancel", shmif.CanceledError, errno.ECANCELED),
])
def test_wake_many_blocked_receivers(tmp_path, how, exc, err):
    ifc = shmif.open(tmp_path / "bus", start="next")
    try:
        ts, results = _blocked_receivers(ifc, 8)
        if how == "cancel":
            _cancel_until_returned(ifc, ts)
        else:
            getattr(ifc, how)()
        for t in ts:
            t.join(10)
        assert not any(t.is_alive() for t in ts)
        assert len(results) == 8
        for r in results:
            assert isinstance(r, exc) and r.errno == err, r
        if how == "cancel":
            # "leaving the interface as it was"
            assert ifc.is_up
            with shmif.open(tmp_path / "bus", start="next") as a:
                f = eth(a.mac_bytes)
                a.send(f)
                assert ifc.recv(timeout=5) == f
    finally:
        ifc.destroy()


@pytest.mark.parametrize("timeout", [1e300, 2.0 ** 63, 10 ** 30, math.inf])
def test_huge_timeouts_wait(tmp_path, timeout):
    # README: "Timeouts are seconds: None waits without limit, 0 only
    # looks"; the checks say "timeout must be None or >= 0 seconds".
    # math.inf waits without limit, as None and 1e300 do (it raised
    # OverflowError("cannot convert float infinity to integer") once).
    with shmif.open(tmp_path / "bus", start="next") as ifc:
        ts, results = _blocked_receivers(ifc, 1, timeout=timeout)
        _cancel_until_returned(ifc, ts)
        ts[0].join(10)
        assert isinstance(results[0], shmif.CanceledError), results


@pytest.mark.parametrize("timeout", [-1, -1e-9, math.nan, -math.inf])
def test_bad_timeouts_are_value_errors(tmp_path, timeout):
    with shmif.open(tmp_path / "bus", start="next") as ifc:
        for f in (lambda: ifc.recv(timeout=timeout),
                  lambda: ifc.recv_batch(4, timeout=timeout),
                  lambda: list(ifc.frames(timeout))):
            with pytest.raises(ValueError):
                f()


def test_create_unit_outside_range_is_einval():
    # create() docstring: "EINVAL: unit outside 0..32767".
    # create(-1) is no exception (it once made an interface: the C call's
    # "-1 takes the lowest free unit" leaked through).
    with pytest.raises((OverflowError, ValueError, OSError)):
        shmif.create(1 << 31)                   # not even a C int
    for unit in (-2, 32768, -1):
        try:
            i = shmif.create(unit)
        except OSError as e:
            assert e.errno == errno.EINVAL, (unit, e)
        else:
            i.destroy()
            pytest.fail(f"create({unit}) made {i.name}")


@pytest.mark.parametrize("n,err", [(0, errno.EINVAL), (13, errno.EINVAL), (14, None),
                                   (1514, None), (1515, errno.EMSGSIZE), (1518, errno.EMSGSIZE),
                                   (65535, errno.EMSGSIZE), (65536, errno.EMSGSIZE),
                                   (1 << 20, errno.EMSGSIZE)])
def test_frame_sizes(shmif_pair, n, err):
    a, b = shmif_pair
    f = (b"\xff" * 6 + a.mac_bytes + b"\x88\xb5" + b"\x5a" * n)[:n]
    if err is None:
        a.send(f)
        got = b.recv(timeout=5)
        assert got == f and got.sender == a.sender
        a.send_batch([f, f])
        assert [b.recv(timeout=5), b.recv(timeout=5)] == [f, f]
    else:
        with pytest.raises(OSError) as ei:
            a.send(f)
        assert ei.value.errno == err
        good = eth(a.mac_bytes)
        with pytest.raises(OSError) as ei:
            a.send_batch([good, f, good])       # all or none
        assert ei.value.errno == err
        with pytest.raises(BlockingIOError):
            b.recv(timeout=0)
        assert b.stats().ipackets == 0


def test_recv_into_short_buffer_leaves_frame(shmif_pair):
    a, b = shmif_pair
    f = eth(a.mac_bytes, b"x", 1514)
    a.send(f)
    for size in (0, 13, 1513):
        with pytest.raises(OSError) as ei:
            b.recv_into(bytearray(size), timeout=5)
        assert ei.value.errno == errno.EMSGSIZE
    buf = bytearray(shmif.MAXFRAME)
    assert b.recv_into(buf, timeout=5) == 1514 and bytes(buf) == f


def test_many_threads_many_interfaces(tmp_path):
    # "every method may be called from any thread": 6 sender threads on one
    # interface, 3 lossless receivers each drained by 2 threads; every frame
    # reaches every receiver exactly once, in each sender's order.
    bus = tmp_path / "bus"
    nsend, per = 6, 250
    with shmif.open(bus, start="next") as a:
        rx = [shmif.open(bus, start="next", lossless=5.0) for _ in range(3)]
        try:
            got = [[] for _ in rx]
            errs = []

            def drain(k):
                try:
                    for f in rx[k].frames(2.0):
                        got[k].append(f)
                except BaseException as e:  # noqa: BLE001
                    errs.append(e)

            def send(s):
                for j in range(per):
                    a.send(eth(a.mac_bytes, bytes([s]) + j.to_bytes(2, "big")))

            rts = [threading.Thread(target=drain, args=(k,)) for k in range(3) for _ in range(2)]
            sts = [threading.Thread(target=send, args=(s,)) for s in range(nsend)]
            for t in rts + sts:
                t.start()
            for t in sts + rts:
                t.join(60)
            assert not errs
            for k, g in enumerate(got):
                assert len(g) == nsend * per, k
                assert len(set(g)) == nsend * per
                assert rx[k].stats().lost == 0
        finally:
            for r in rx:
                r.destroy()


def test_destroy_under_send_and_recv_storm(tmp_path):
    # Destroying an interface while other threads send and receive on it:
    # they get ENXIO (or ENETDOWN), nothing else, and the process lives.
    bus = tmp_path / "bus"
    for round_ in range(5):
        ifc = shmif.open(bus, start="next")
        peer = shmif.open(bus, start="next")
        stop = threading.Event()
        bad = []

        def sender():
            f = eth(ifc.mac_bytes, b"s")
            while not stop.is_set():
                try:
                    ifc.send(f)
                except OSError as e:
                    if e.errno not in (errno.ENXIO, errno.ENETDOWN):
                        bad.append(e)
                    return

        def receiver():
            while not stop.is_set():
                try:
                    ifc.recv(timeout=0.05)
                except TimeoutError:
                    pass
                except OSError as e:
                    if e.errno not in (errno.ENXIO, errno.ENETDOWN):
                        bad.append(e)
                    return

        def peer_sender():
            f = eth(peer.mac_bytes, b"p")
            while not stop.is_set():
                peer.send(f)

        ts = [threading.Thread(target=x) for x in (sender, sender, receiver, receiver, peer_sender)]
        for t in ts:
            t.start()
        time.sleep(0.05 + 0.02 * round_)
        ifc.destroy()
        time.sleep(0.05)
        stop.set()
        for t in ts:
            t.join(10)
        peer.destroy()
        assert not bad
        assert not any(t.is_alive() for t in ts)


def test_garbage_collected_interfaces_free_their_units(tmp_path):
    bus = tmp_path / "bus"
    units = set()
    for _ in range(20):
        i = shmif.open(bus, start="next")
        units.add(i.unit)
        del i
        gc.collect()
    # Dropped interfaces were destroyed: their units are free again.
    assert len(units) <= 2
    for u in units:
        shmif.create(u).destroy()
    assert bus.stat().st_size == shmif.BUSSIZE


def test_frame_outlives_interface(tmp_path):
    bus = tmp_path / "bus"
    with shmif.open(bus, start="next") as a, shmif.open(bus, start="next") as b:
        f = eth(a.mac_bytes, b"keep")
        a.send(f)
        got = b.recv(timeout=5)
    del a, b
    gc.collect()
    assert got == f and bytes(got[:6]) == b"\xff" * 6 and got.sender != 0


def test_many_interfaces(tmp_path):
    # A few hundred interfaces on a few buses in one process.
    ifcs = []
    try:
        for k in range(300):
            ifcs.append(shmif.open(tmp_path / f"bus{k % 4}", start="next"))
        assert len({i.unit for i in ifcs}) == 300
        f = eth(ifcs[0].mac_bytes)
        ifcs[0].send(f)
        assert ifcs[4].recv(timeout=5) == f
        with pytest.raises(BlockingIOError):
            ifcs[1].recv(timeout=0)
    finally:
        for i in ifcs:
            i.destroy()


def test_paths_long_and_odd(tmp_path):
    # rump.h: E2BIG for a path of 1024 bytes or longer; the Python layer:
    # a NUL is a ValueError; other bytes are a file name like any other.
    long = str(tmp_path) + "/" + "/".join(["d" * 200] * 6)
    with pytest.raises(OSError) as ei:
        shmif.open(long[:1100])
    assert ei.value.errno == errno.E2BIG
    with pytest.raises(ValueError):
        shmif.open(str(tmp_path / "a\0b"))
    for name in ("sp ace", "new\nline", "tab\t", "\u00e9t\u00e9", "-dash", "x" * 255):
        p = tmp_path / name
        with shmif.open(p, start="next") as i:
            assert i.linkstr == str(p)
        assert p.stat().st_size == shmif.BUSSIZE
    raw = bytes(tmp_path) + b"/\xff\xfebus"
    with shmif.open(raw, start="next") as i:
        i.send(eth(i.mac_bytes))
    import os
    assert os.stat(raw).st_size == shmif.BUSSIZE
