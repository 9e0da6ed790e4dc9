"""Interfaces used from several threads, as the C API allows."""

from __future__ import annotations

import errno
import os
import selectors
import signal
import threading
import time

import pytest

import shmif
from util import frame

JOIN = 10.0  # bounds a hang; a correct run takes milliseconds

RECEIVES = pytest.mark.parametrize("call", [
    lambda ifc: ifc.recv(timeout=None),
    lambda ifc: ifc.recv_batch(8, timeout=None),
    lambda ifc: ifc.recv_into(bytearray(1514), timeout=None),
    lambda ifc: list(ifc.frames(timeout=None)),
    lambda ifc: ifc.recv(timeout=3600),
], ids=["recv", "recv_batch", "recv_into", "frames", "recv_with_timeout"])


def _until(condition, what: str) -> None:
    """Wait for condition() (a state another thread reaches promptly)."""
    deadline = time.monotonic() + JOIN
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.001)


def _receiving(ifc: shmif.Interface, n: int = 1) -> None:
    """Wait until n receives are waiting on ifc (cancel() ends only those
    that began before it)."""
    _until(lambda: len(ifc._receives) >= n, f"{n} receives waiting on {ifc.name}")


def _blocked_receiver(ifc: shmif.Interface, call):
    """Start a thread blocked in call(ifc); return (thread, started, result)."""
    started = threading.Event()
    result: dict = {}

    def run():
        started.set()
        try:
            result["value"] = call(ifc)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(JOIN)
    return t, result


@RECEIVES
def test_destroy_wakes_blocked_receiver(shmif_bus, call):
    ifc = shmif.open(shmif_bus)
    t, result = _blocked_receiver(ifc, call)
    # Whether the thread is inside the C call yet or not, it must end with
    # ENXIO: woken by shmif_destroy, or stopped at the gate.
    threading.Event().wait(0.02)
    ifc.destroy()
    t.join(JOIN)
    assert not t.is_alive(), "the receiver hangs after destroy"
    err = result.get("error")
    assert isinstance(err, OSError) and err.errno == errno.ENXIO, result


def test_down_wakes_blocked_receiver(shmif_interface):
    t, result = _blocked_receiver(shmif_interface, lambda ifc: ifc.recv(timeout=None))
    threading.Event().wait(0.02)
    shmif_interface.down()
    t.join(JOIN)
    assert not t.is_alive()
    err = result.get("error")
    assert isinstance(err, OSError) and err.errno == errno.ENETDOWN, result


def test_blocked_receiver_gets_frame_from_other_thread(shmif_pair):
    a, b = shmif_pair
    t, result = _blocked_receiver(b, lambda ifc: ifc.recv(timeout=JOIN))
    a.send(frame(b"wake"))
    t.join(JOIN)
    assert result.get("value") == frame(b"wake"), result


def test_receivers_share_frames(shmif_pair):
    # Several threads receiving on one interface: each frame goes to one.
    a, b = shmif_pair
    n, got, lock, done = 2000, [], threading.Lock(), threading.Event()

    def receive():
        while not done.is_set():
            try:
                fs = b.recv_batch(16, timeout=0.05)
            except TimeoutError:
                continue
            with lock:
                got.extend(fs)
                if len(got) >= n:
                    done.set()

    threads = [threading.Thread(target=receive, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    sent = [frame(i.to_bytes(4, "big")) for i in range(n)]
    for i in range(0, n, 50):
        a.send_batch(sent[i:i + 50])
    assert done.wait(JOIN), f"received {len(got)} of {n}"
    for t in threads:
        t.join(JOIN)
    assert sorted(got) == sorted(sent)
    assert b.stats().lost == 0


def test_senders_in_threads(shmif_pair):
    a, b = shmif_pair
    per, nthreads = 300, 4

    def send(k):
        for i in range(per):
            a.send(frame(bytes([k]) + i.to_bytes(2, "big")))

    threads = [threading.Thread(target=send, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    got = []
    while len(got) < per * nthreads:
        got += b.recv_batch(64, timeout=JOIN)
    for t in threads:
        t.join(JOIN)
    # Each sender's frames arrive in its order.
    for k in range(nthreads):
        mine = [f[14:17] for f in got if f[14] == k]
        assert mine == [bytes([k]) + i.to_bytes(2, "big") for i in range(per)]


def test_destroyed_unit_is_never_reached_through_old_object(shmif_bus_factory):
    # Units are reused: a thread still sending through a destroyed object
    # must not send through the new interface that got the same unit.
    old_bus, new_bus = shmif_bus_factory(), shmif_bus_factory()
    for _ in range(10):
        with shmif.open(new_bus) as watcher:
            old = shmif.open(old_bus)
            marker = frame(b"from the old object")
            stop: dict = {}

            def hammer():
                try:
                    while True:
                        old.send(marker)
                except OSError as e:
                    stop["errno"] = e.errno

            t = threading.Thread(target=hammer, daemon=True)
            t.start()
            old.destroy()
            new = shmif.open(new_bus)  # most likely old's unit again
            t.join(JOIN)
            assert not t.is_alive() and stop["errno"] == errno.ENXIO
            assert marker not in list(watcher.frames(timeout=0)), "sent through a reused unit"
            new.destroy()


class _HeldSend:
    """The library, with shmif_send held at its entry until released."""

    def __init__(self, lib):
        self._lib = lib
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def shmif_send(self, *args):
        self.entered.set()
        assert self.release.wait(JOIN)
        return self._lib.shmif_send(*args)


def test_destroy_waits_for_calls_in_flight(shmif_bus_factory, monkeypatch):
    # The same rule, made deterministic: a send is past the gate but not yet
    # in C when another thread destroys the interface and a third makes a
    # new one. The new one must not get the unit before the send is out.
    old_bus, new_bus = shmif_bus_factory(), shmif_bus_factory()
    watcher = shmif.open(new_bus)
    old = shmif.open(old_bus)
    held = _HeldSend(shmif._lib.load())
    monkeypatch.setattr(shmif._lib, "_lib", held)
    marker = frame(b"from the old object")
    sender, sent = _blocked_receiver(old, lambda ifc: ifc.send(marker))
    assert held.entered.wait(JOIN)
    destroyer = threading.Thread(target=old.destroy)
    destroyer.start()
    made: dict = {}
    opener = threading.Thread(target=lambda: made.setdefault("new", shmif.open(new_bus)))
    opener.start()
    opener.join(0.2)  # with the rule broken, the new interface is made now
    held.release.set()
    for t in (sender, destroyer, opener):
        t.join(JOIN)
        assert not t.is_alive()
    monkeypatch.undo()
    err = sent.get("error")
    assert isinstance(err, OSError) and err.errno == errno.ENXIO, sent
    assert made["new"].unit == old.unit  # the unit was reused, after the send
    assert marker not in list(watcher.frames(timeout=0))
    made["new"].destroy()
    watcher.destroy()


def test_concurrent_destroy_is_harmless(shmif_bus):
    ifc = shmif.open(shmif_bus)
    barrier = threading.Barrier(4)
    errors = []

    def destroy():
        barrier.wait()
        try:
            ifc.destroy()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=destroy) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN)
    assert errors == [] and ifc.closed


class _Alarm(Exception):
    pass


def test_signal_interrupts_wait_without_limit(shmif_pair):
    # A handler raising in the main thread (Ctrl-C, pytest-timeout's
    # SIGALRM) must not wait for a frame that never comes: waits are made of
    # short C calls. If it did wait, a frame sent after JOIN ends the wait.
    import signal

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    a, b = shmif_pair
    fallback = threading.Event()

    def handler(signum, frame_):
        raise _Alarm()

    def kill_then_fallback():
        threading.Event().wait(0.05)
        os.kill(os.getpid(), signal.SIGUSR1)
        if not done.wait(JOIN):
            fallback.set()
            a.send(frame(b"fallback"))

    done = threading.Event()
    old = signal.signal(signal.SIGUSR1, handler)
    t = threading.Thread(target=kill_then_fallback, daemon=True)
    try:
        t.start()
        with pytest.raises(_Alarm):
            b.recv(timeout=None)
    finally:
        done.set()
        t.join(JOIN)
        signal.signal(signal.SIGUSR1, old)
    assert not fallback.is_set(), "the signal was handled only after a frame arrived"
    # The receive left nothing behind: the interface works on.
    a.send(frame(b"after"))
    assert b.recv(timeout=JOIN) == frame(b"after")


# -- cancel --------------------------------------------------------------------


@RECEIVES
def test_cancel_ends_blocked_receive(shmif_pair, call):
    a, b = shmif_pair
    t, result = _blocked_receiver(b, call)
    _receiving(b)
    b.cancel()
    # cancel() returns once the receive has ended.
    assert not b._receives
    t.join(JOIN)
    assert not t.is_alive()
    err = result.get("error")
    assert isinstance(err, shmif.CanceledError) and err.errno == errno.ECANCELED, result
    assert isinstance(err, OSError) and f"on {b.name}: {os.strerror(errno.ECANCELED)}" in str(err)
    # The interface is as it was.
    assert b.is_up
    a.send(frame(b"after"))
    assert b.recv(timeout=JOIN) == frame(b"after")


def test_cancel_ends_every_receive_and_no_later_one(shmif_pair):
    a, b = shmif_pair
    receivers = [_blocked_receiver(b, lambda ifc: ifc.recv(timeout=None)) for _ in range(3)]
    _receiving(b, 3)
    b.cancel()
    for t, result in receivers:
        t.join(JOIN)
        assert not t.is_alive() and isinstance(result.get("error"), shmif.CanceledError)
    # A receive that begins after cancel() returned is not affected, in the
    # main thread or another one.
    with pytest.raises(TimeoutError):
        b.recv(timeout=0.02)
    t, result = _blocked_receiver(b, lambda ifc: ifc.recv(timeout=JOIN))
    a.send(frame(b"later"))
    t.join(JOIN)
    assert result.get("value") == frame(b"later"), result


def test_cancel_without_receive_and_after_destroy(shmif_bus):
    ifc = shmif.open(shmif_bus)
    ifc.cancel()
    ifc.cancel()
    ifc.destroy()
    with pytest.raises(OSError, match="shmif_cancel on shmif.*destroyed") as e:
        ifc.cancel()
    assert e.value.errno == errno.ENXIO


class _HeldRecv:
    """The library, with shmif_recv_frame held at its entry until released:
    a receive that has begun but is not yet in the C call."""

    def __init__(self, lib):
        self._lib = lib
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def shmif_recv_frame(self, *args):
        self.entered.set()
        assert self.release.wait(JOIN)
        return self._lib.shmif_recv_frame(*args)


def test_cancel_reaches_receive_on_its_way_into_c(shmif_pair, monkeypatch):
    # shmif_cancel wakes only receives already inside the C call: one that
    # enters it just after must still end, and cancel() must not return
    # before it has.
    a, b = shmif_pair
    held = _HeldRecv(shmif._lib.load())
    monkeypatch.setattr(shmif._lib, "_lib", held)
    t, result = _blocked_receiver(b, lambda ifc: ifc.recv(timeout=None))
    assert held.entered.wait(JOIN)
    canceller = threading.Thread(target=b.cancel)
    canceller.start()
    canceller.join(0.05)
    assert canceller.is_alive(), "cancel() returned while the receive it cancels waits on"
    held.release.set()  # now it enters C, after shmif_cancel was called
    for thread in (canceller, t):
        thread.join(JOIN)
        assert not thread.is_alive()
    assert isinstance(result.get("error"), shmif.CanceledError), result


def test_cancel_from_signal_handler_in_main_thread(shmif_pair):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    a, b = shmif_pair
    done, fallback = threading.Event(), threading.Event()

    def kill_then_fallback():
        _receiving(b)
        os.kill(os.getpid(), signal.SIGUSR1)
        if not done.wait(JOIN):
            fallback.set()
            a.send(frame(b"fallback"))

    old = signal.signal(signal.SIGUSR1, lambda *_: b.cancel())
    t = threading.Thread(target=kill_then_fallback, daemon=True)
    try:
        t.start()
        with pytest.raises(shmif.CanceledError):
            b.recv(timeout=None)
    finally:
        done.set()
        t.join(JOIN)
        signal.signal(signal.SIGUSR1, old)
    assert not fallback.is_set()


def test_cancel_from_another_thread_ends_main_thread_receive(shmif_pair):
    # The main thread waits in slices; cancel() wakes the slice in C (or,
    # had it come between two, keeps the next from being made).
    a, b = shmif_pair
    canceller = threading.Thread(target=lambda: (_receiving(b), b.cancel()), daemon=True)
    canceller.start()
    with pytest.raises(shmif.CanceledError):
        b.recv(timeout=None)
    canceller.join(JOIN)
    assert not canceller.is_alive()


def test_cancel_makes_fileno_readable(shmif_pair):
    _, b = shmif_pair
    with selectors.DefaultSelector() as sel:
        sel.register(b, selectors.EVENT_READ)
        with pytest.raises(BlockingIOError):
            b.recv(timeout=0)  # found nothing: the descriptor is cleared
        assert sel.select(timeout=0) == []
        b.cancel()
        assert sel.select(timeout=JOIN), "cancel() did not make the descriptor readable"
        sel.unregister(b)


class _CountedRecv:
    """The library, counting calls of shmif_recv_frame and their timeouts."""

    def __init__(self, lib):
        self._lib = lib
        self.timeouts = []

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def shmif_recv_frame(self, unit, frame_, timeout_ms):
        self.timeouts.append(timeout_ms)
        return self._lib.shmif_recv_frame(unit, frame_, timeout_ms)


def test_waits_are_one_call_outside_the_main_thread(shmif_interface, monkeypatch):
    # Only the main thread runs signal handlers, so only there is a wait cut
    # into slices; elsewhere it is one C call, which cancel() can end.
    counted = _CountedRecv(shmif._lib.load())
    monkeypatch.setattr(shmif._lib, "_lib", counted)
    t, result = _blocked_receiver(shmif_interface, lambda ifc: ifc.recv(timeout=0.05))
    t.join(JOIN)
    assert isinstance(result.get("error"), TimeoutError), result
    assert counted.timeouts == [50]
    t, result = _blocked_receiver(shmif_interface, lambda ifc: ifc.recv(timeout=None))
    _receiving(shmif_interface)
    shmif_interface.cancel()
    t.join(JOIN)
    assert isinstance(result.get("error"), shmif.CanceledError), result
    assert counted.timeouts[1:] == [-1]
    if threading.current_thread() is threading.main_thread():
        monkeypatch.setattr(shmif._core, "_WAIT_SLICE_MS", 5)
        del counted.timeouts[:]
        with pytest.raises(TimeoutError):
            shmif_interface.recv(timeout=0.05)
        assert len(counted.timeouts) > 1 and max(counted.timeouts) <= 5


# -- lossless receivers --------------------------------------------------------


def _lossless_or_skip(ifc: shmif.Interface) -> None:
    if not ifc.lossless_active:
        pytest.skip("no private bus state (/dev/shm): lossless delivery is unavailable")


def _numbered(i: int) -> bytes:
    return frame(i.to_bytes(4, "big"), size=shmif.MAXFRAME)


def _sender(a: shmif.Interface, n: int):
    """Start a thread sending n numbered frames of 1514 bytes one by one."""
    return _blocked_receiver(a, lambda ifc: [ifc.send(_numbered(i)) for i in range(n)])


def test_lossless_receiver_loses_nothing(shmif_interface_factory):
    # A sender thread sends three rings' worth of frames while the lossless
    # receiver reads nothing yet: it is held at a full ring, then follows
    # the receiver. An ordinary receiver reading after it has lost frames.
    n = 3 * shmif.RING_FRAMES_1514
    a = shmif_interface_factory()
    b = shmif_interface_factory(lossless=60.0)
    ordinary = shmif_interface_factory()
    _lossless_or_skip(b)
    t, result = _sender(a, n)
    _until(lambda: a.stats().opackets >= shmif.RING_FRAMES_1514 - 8, "the sender fills the ring")
    assert t.is_alive()
    # Held: however long the receiver waits, no frame it has not read is
    # overwritten.
    assert a.stats().opackets <= shmif.RING_FRAMES_1514
    got = []
    while len(got) < n:
        got += b.recv_batch(64, timeout=JOIN)
    t.join(JOIN)
    assert not t.is_alive() and "error" not in result, result
    assert [int.from_bytes(f[14:18], "big") for f in got] == list(range(n))
    assert b.stats().lost == 0
    seen = len(list(ordinary.frames(timeout=0)))
    assert ordinary.stats().lost > 0 and seen + ordinary.stats().lost == n


def test_lossless_receiver_going_down_releases_senders(shmif_interface_factory):
    # Writers wait for a lossless receiver only while it is up: taken down,
    # it no longer holds them back (within its 60 s wait, past JOIN).
    n = 2 * shmif.RING_FRAMES_1514
    a = shmif_interface_factory()
    b = shmif_interface_factory(lossless=60.0)
    _lossless_or_skip(b)
    t, result = _sender(a, n)
    _until(lambda: a.stats().opackets >= shmif.RING_FRAMES_1514 - 8, "the sender fills the ring")
    b.down()
    t.join(JOIN)
    assert not t.is_alive() and "error" not in result, result
    assert a.stats().opackets == n


def test_lossless_wait_is_bounded(shmif_interface_factory):
    # A lossless receiver that does not read holds a writer for at most its
    # wait, then the writer overwrites and does not wait for it again until
    # it receives again: the frames it missed are counted as lost.
    n = 2 * shmif.RING_FRAMES_1514
    a = shmif_interface_factory()
    b = shmif_interface_factory(lossless=0.02)
    _lossless_or_skip(b)
    t, result = _sender(a, n)
    t.join(JOIN)
    assert not t.is_alive() and "error" not in result, result
    got = list(b.frames(timeout=0))
    assert b.stats().lost > 0 and len(got) + b.stats().lost == n
