"""Process state around the library: signals, limits, fork, SIGKILL of peers.

Promises: README "A Go library inside a C process" (limits left as the host
set them, host signal handlers keep working), python/README.md (fork without
exec, Ctrl-C in the main thread), protocol.md §9.1 (dead lock holders are
taken over), README "There is no reader state on the bus: a reader that dies
blocks nobody".
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import time

import pytest

import shmif

from .hutil import eth, popen_py, run_py


def test_load_keeps_rlimit_nofile(tmp_path):
    # README: "Go's runtime raises the soft RLIMIT_NOFILE for itself, and
    # libshmif sets it back."
    r = run_py(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        before = {{n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")}}
        import shmif
        shmif.library_path()
        with shmif.open({str(tmp_path / "bus")!r}) as i:
            i.send(b"\\xff" * 60)
        after = {{n: resource.getrlimit(getattr(resource, n)) for n in before}}
        print({{n: (before[n], after[n]) for n in before if before[n] != after[n]}})
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "{}"


def test_load_keeps_python_signal_handlers_and_mask():
    r = run_py("""
        import signal
        sigs = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM, signal.SIGCHLD, signal.SIGPIPE]
        before = [signal.getsignal(s) for s in sigs]
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        import shmif
        shmif.library_path()
        shmif.create().destroy()
        print([s.name for s, b in zip(sigs, before) if signal.getsignal(s) != b],
              mask == signal.pthread_sigmask(signal.SIG_BLOCK, []))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] True"


def test_load_keeps_sigpipe_ignored_for_exec_children():
    # Loading libshmif must leave the SIG_IGN disposition of SIGPIPE (which
    # Python sets) in place: the Go runtime installs a handler there, which
    # execve(2) would reset to SIG_DFL while SIG_IGN is inherited, so a child
    # started with os.posix_spawn/os.execv (no restore_signals) would die of
    # SIGPIPE where it did not before. libshmif puts SIG_IGN back.
    r = run_py("""
        import os
        def ignored():
            r, w = os.pipe()
            pid = os.posix_spawn("/bin/grep", ["grep", "SigIgn", "/proc/self/status"], os.environ,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
            os.close(w); out = os.read(r, 1000); os.waitpid(pid, 0); os.close(r)
            return bool(int(out.split()[1], 16) >> 12 & 1)   # bit of SIGPIPE (13)
        b = ignored()
        import shmif; shmif.library_path()
        print(b, ignored())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True True", "SIGPIPE ignored in an exec'd child (before, after loading)"


def test_library_prints_nothing(tmp_path):
    # Library code never prints: drive error paths in a child and look at
    # its file descriptors 1 and 2.
    (tmp_path / "foreign").write_bytes(os.urandom(4096))
    (tmp_path / "trunc").write_bytes(b"\x54\xd0\x11\xca" + b"\0" * 60)
    os.mkfifo(tmp_path / "fifo")
    r = run_py(f"""
        import io, os, shmif
        d = {str(tmp_path)!r}
        for p in ("foreign", "trunc", "fifo", ".", "nonexistent/x", "x" * 2000):
            for f in (lambda: shmif.open(os.path.join(d, p)),
                      lambda: shmif.capture(os.path.join(d, p), io.BytesIO()),
                      lambda: shmif.inject(os.path.join(d, p), io.BytesIO(b"garbage" * 10))):
                try: f()
                except (OSError, ValueError): pass
        i = shmif.open(os.path.join(d, "bus"), start="next")
        for n in (0, 13, 1515, 65535):
            try: i.send(b"\\xff" * n)
            except OSError: pass
        try: i.recv(timeout=0)
        except BlockingIOError: pass
        i.destroy(); i.destroy()
        try: i.send(b"\\xff" * 60)
        except OSError: pass
    """)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("", "")


def test_fork_child_exit_leaves_parent_working(tmp_path):
    # python/README.md: do not call libshmif in a fork child; a child that
    # calls nothing and exits must not disturb the parent's interfaces.
    bus = tmp_path / "bus"
    with shmif.open(bus, start="next") as a, shmif.open(bus, start="next") as b:
        for _ in range(5):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            assert os.waitpid(pid, 0)[1] == 0
            f = eth(a.mac_bytes, b"after fork")
            a.send(f)
            assert b.recv(timeout=5) == f
        pid = os.fork()
        if pid == 0:
            os.execv("/bin/true", ["true"])
        assert os.waitpid(pid, 0)[1] == 0
        a.send(eth(a.mac_bytes))
        assert len(b.recv(timeout=5)) == 60


SENDER = """
    import shmif, sys
    i = shmif.open(sys.argv[1] if len(sys.argv) > 1 else {bus!r}, start="next", lossless={lossless})
    f = b"\\xff" * 6 + i.mac_bytes + b"\\x88\\xb5" + b"\\x01" * 1500
    print("up", flush=True)
    while True:
        i.send_batch([f] * 8)
        try:
            while True: i.recv(timeout=0)
        except BlockingIOError:
            pass
"""


@pytest.mark.parametrize("lossless", [None, 2.0])
def test_sigkill_peer_at_random_moments(tmp_path, lossless):
    # protocol.md §9.1: a peer killed holding the lock is taken over; README:
    # a reader that dies blocks nobody (a lossless one: writers wait at most
    # its lossless time, python/README.md).
    bus = tmp_path / "bus"
    rnd = random.Random(1234)
    with shmif.open(bus, start="next") as a, shmif.open(bus, start="next") as b:
        for k in range(6):
            p = popen_py(SENDER.format(bus=str(bus), lossless=lossless),
                         stdout=subprocess.PIPE)
            # A child that hangs before it is up fails the test, not the run.
            ready, _, _ = select.select([p.stdout], [], [], 20)
            if not ready:
                p.kill()
                p.wait()
            assert ready and p.stdout.readline().strip() == b"up"
            time.sleep(rnd.uniform(0, 0.05))
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdout.close()
            t0 = time.monotonic()
            f = eth(a.mac_bytes, bytes([k]) * 8, 1514)
            # More than a ring of frames, so that a dead lossless reader
            # would hold every writer up.
            for _ in range(3):
                a.send_batch([f] * 300)
            a.send(f)
            got = None
            try:
                while True:
                    got = b.recv(timeout=0)
            except BlockingIOError:
                pass
            assert got == f
            # Not a performance bound: a wedged lock or a dead lossless
            # reader honoured for ever would hang far longer.
            assert time.monotonic() - t0 < 20


def test_main_thread_recv_interrupted_by_signal_handler(tmp_path):
    # python/README.md: in the main thread a long wait is made of calls of
    # at most 0.1 s, so Ctrl-C and pytest-timeout interrupt it.
    r = run_py(f"""
        import signal, shmif, time
        class Alarm(Exception): pass
        def h(*a): raise Alarm()
        signal.signal(signal.SIGALRM, h)
        i = shmif.open({str(tmp_path / 'bus')!r}, start="next")
        for timeout in (None, 3600.0, 1e300):
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            t0 = time.monotonic()
            try:
                i.recv(timeout=timeout)
                print("returned")
            except Alarm:
                # Interrupted, not waited out: 3600 s or for ever would
                # end in this run's 30 s timeout.
                print("alarm", time.monotonic() - t0 < 10)
        i.destroy()
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["alarm True"] * 3
