"""Bridges (shmif.bridge, Interface.bridge): frames across, the impairment
commands, stream endpoints, errors, threads and the pytest fixture."""

from __future__ import annotations

import errno
import os
import socket
import struct
import textwrap
import threading
import time

import pytest

import shmif
from util import frame

JOIN = 10.0  # bounds a wait for what the bridge's threads do promptly
CAUSES = {"in", "out", "queued", "lost", "duplicated", "corrupted", "reordered", "delayed",
          "limit", "mtu", "down", "closed"}


def until(condition, what: str):
    """Wait for condition() to hold (the bridge's threads get there
    promptly) and return its value."""
    deadline = time.monotonic() + JOIN
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.002)


def numbered(i: int, src: bytes = bytes.fromhex("020000000001")) -> bytes:
    """Frames that differ, so that the bridge's loop guard keeps them all."""
    return frame(b"frame %d" % i, src=src)


@pytest.fixture
def two_buses(shmif_bus_factory, shmif_interface_factory):
    """(a, b): an interface on bus0 and one on bus1, and the paths."""
    bus0, bus1 = shmif_bus_factory(), shmif_bus_factory()
    return shmif_interface_factory(bus0), shmif_interface_factory(bus1), bus0, bus1


def test_buses_bridged_both_ways(two_buses, shmif_bridge):
    a, b, bus0, bus1 = two_buses
    br = shmif_bridge(bus0, f"shmif://{bus1}")
    assert br.bus == str(bus0) and br.endpoint == f"shmif://{bus1}" and br.interface is None
    there, back = numbered(1, a.mac_bytes), numbered(2, b.mac_bytes)
    a.send(there)
    assert b.recv(timeout=JOIN) == there
    b.send(back)
    assert a.recv(timeout=JOIN) == back
    # Counted once written: a frame may be received a moment before.
    st = until(lambda: (s := br.stats()).to_bus.frames == s.to_endpoint.frames == 1 and s,
               "the stats count both")
    assert st.to_endpoint == shmif.BridgeDirection(1, 60, 0, 0, 0, 0, 0)
    assert st.to_bus == shmif.BridgeDirection(1, 60, 0, 0, 0, 0, 0)
    assert (st.bus_lost, st.stopped, st.error) == (0, False, 0)
    assert br.command("error") == ""  # it runs
    assert br.command("stats").startswith(f"bus->shmif://{bus1} frames=1 bytes=60 ")


def test_impairment_loss_then_set(two_buses, shmif_bridge):
    a, b, bus0, bus1 = two_buses
    br = shmif_bridge(bus0, f"shmif://{bus1}", seed=1, impair="LR loss 100%")
    assert br.show() == {"seed": 1, "LR": "loss 100%", "RL": "none"}
    for i in range(5):
        a.send(numbered(i))
    # Every frame is decided before the counters say so: then none came.
    until(lambda: br.counters("LR")["LR"]["lost"] == (5, 300), "5 frames lost")
    with pytest.raises(BlockingIOError):
        b.recv(timeout=0)

    assert br.command("set LR loss 0%") == ""
    assert br.show("LR") == {"seed": 1, "LR": "none"}
    sent = [numbered(i) for i in range(5, 8)]
    for f in sent:
        a.send(f)
    assert [b.recv(timeout=JOIN) for _ in sent] == sent
    b.send(numbered(9, b.mac_bytes))
    assert a.recv(timeout=JOIN) == numbered(9, b.mac_bytes)

    c = until(lambda: (c := br.counters())["RL"]["out"] == (1, 60) and c["LR"]["out"] == (3, 180)
              and c, "the frames counted")
    assert set(c) == {"LR", "RL"} and set(c["LR"]) == set(c["RL"]) == CAUSES
    assert (c["LR"]["in"], c["LR"]["lost"], c["LR"]["out"]) == ((8, 480), (5, 300), (3, 180))
    assert c["RL"]["in"] == (1, 60) and c["RL"]["lost"] == (0, 0)
    assert all(isinstance(n, int) for d in c.values() for pair in d.values() for n in pair)
    st = until(lambda: (s := br.stats()).to_endpoint.frames == 3 and s.to_bus.frames == 1 and s,
               "the frames counted")
    assert (st.to_endpoint.frames, st.to_endpoint.bytes) == (3, 180)  # those out of the stage
    assert (st.to_bus.frames, st.to_bus.bytes) == (1, 60)
    assert not st.stopped

    assert br.counters("LR", reset=True)["LR"]["lost"] == (5, 300)
    assert br.counters("LR")["LR"]["lost"] == (0, 0)


def test_convenience_commands(shmif_bus_factory, shmif_bridge):
    bus0, bus1 = shmif_bus_factory(), shmif_bus_factory()
    br = shmif_bridge(bus0, f"shmif://{bus1}", impair="")  # a stage that passes everything
    assert br.show()["LR"] == br.show()["RL"] == "none"
    br.set(["delay", "20ms"], direction="RL")
    br.set("loss 5%", direction="LR")
    assert br.show() == {"seed": br.show()["seed"], "LR": "loss 5%", "RL": "delay 20ms"}
    br.set("LR none RL none")  # direction words inside the words
    br.flap(1.5, 80, direction="LR")
    br.flap("2s", "50%", direction="RL")
    assert (br.show()["LR"], br.show()["RL"]) == ("flap 1.5s 80%", "flap 2s 50%")
    br.flap("off")
    assert br.show()["LR"] == "none"
    br.flap("down", direction="RL")
    assert br.show("RL")["RL"] == "down"
    with pytest.raises(ValueError, match="duty"):
        br.flap(1.0)
    with pytest.raises(ValueError, match="direction"):
        br.set("loss 1%", direction="up")
    assert "counters [DIR] [reset]" in br.command("help")


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_stream_endpoint(transport, tmp_path, shmif_interface, shmif_bus, shmif_bridge):
    a = shmif_interface
    if transport == "unix":
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(tmp_path / "peer.sock"))
        url = f"stream://unix:{tmp_path / 'peer.sock'}"
    else:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", 0))
        url = f"stream://tcp:127.0.0.1:{srv.getsockname()[1]}"
    with srv:
        srv.listen(1)
        srv.settimeout(JOIN)
        br = shmif_bridge(shmif_bus, url)
        conn, _ = srv.accept()
    with conn:
        conn.settimeout(JOIN)
        out = numbered(1, a.mac_bytes)
        a.send(out)
        assert recv_exactly(conn, 4 + len(out)) == struct.pack(">I", len(out)) + out
        back = numbered(2, bytes.fromhex("02000000fe01")) + b"tail"  # 64 bytes
        conn.sendall(struct.pack(">I", len(back)) + back)
        assert a.recv(timeout=JOIN) == back
        # Both counted (a frame is counted once written, which may be a
        # moment after the peer read it) before the peer closes.
        until(lambda: (s := br.stats()).to_endpoint.frames == s.to_bus.frames == 1,
              "the stats count both")
    # The peer closed: the bridge stops by itself and keeps its handle.
    st = until(lambda: (s := br.stats()).stopped and s, "the bridge stops")
    assert st.error == errno.ENOTCONN
    assert st.to_endpoint == shmif.BridgeDirection(1, 60, 0, 0, 0, 0, 0)
    assert st.to_bus == shmif.BridgeDirection(1, 64, 0, 0, 0, 0, 0)
    assert br.command("error") != ""
    br.close()
    with pytest.raises(OSError) as e:
        br.stats()
    assert e.value.errno == errno.ENXIO


def recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, f"the bridge closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def test_interface_bridge(shmif_bus_factory, shmif_interface_factory, shmif_bridge):
    bus0, bus1 = shmif_bus_factory(), shmif_bus_factory()
    ifc, c = shmif_interface_factory(bus0), shmif_interface_factory(bus0)
    b = shmif_interface_factory(bus1)
    assert not ifc.promisc
    br = shmif_bridge(ifc, f"shmif://{bus1}")
    assert br.interface is ifc and br.bus is None and ifc.promisc
    # The interface's own frames stay on its bus: b gets c's frame first.
    mine, theirs = numbered(1, ifc.mac_bytes), numbered(2, c.mac_bytes)
    ifc.send(mine)
    c.send(theirs)
    assert b.recv(timeout=JOIN) == theirs
    br.close()
    assert not ifc.promisc  # given back
    br.close()  # again: nothing


def test_destroying_the_interface_stops_its_bridge(shmif_bus_factory, shmif_interface_factory,
                                                   shmif_bridge):
    bus0, bus1 = shmif_bus_factory(), shmif_bus_factory()
    ifc = shmif_interface_factory(bus0)
    br = shmif_bridge(ifc, f"shmif://{bus1}")
    ifc.destroy()
    st = until(lambda: (s := br.stats()).stopped and s, "the bridge stops")
    assert st.error == errno.ENXIO
    br.close()


def test_errors(shmif_bus, tmp_path, shmif_interface):
    def einval(**kw):
        with pytest.raises(OSError) as e:
            shmif.bridge(shmif_bus, kw.pop("endpoint", f"shmif://{tmp_path}/other"), **kw)
        assert e.value.errno == errno.EINVAL and "shmif_bridge_open" in str(e.value)

    einval(endpoint="nosuch://x")
    einval(endpoint="shmif://")
    einval(impair="frob 5%")
    einval(impair="loss 200%")
    with pytest.raises(OSError) as e:
        shmif.bridge(shmif_bus, f"stream://unix:{tmp_path}/nobody.sock")
    assert e.value.errno in (errno.ENOENT, errno.ECONNREFUSED)
    with pytest.raises(OSError) as e:
        shmif_interface.bridge("nosuch://x")
    assert e.value.errno == errno.EINVAL and "shmif_bridge_attach on shmif" in str(e.value)

    # Checked before the C call: values that would not stay one word.
    for kw in ({"control": f"{tmp_path}/a b"}, {"impair_log": "x\ty"}, {"control": ""},
               {"impair": "loss\0 5%"}, {"impair": ["loss", "5 %"]}, {"ageing": 0},
               {"ageing": 1.5}, {"mode": 0o1000}, {"mode": 0}, {"control_mode": 0o600}):
        with pytest.raises(ValueError):
            shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other", **kw)
    with pytest.raises(ValueError):
        shmif.bridge(shmif_bus, "shmif:///tmp/x\0y")
    with pytest.raises(TypeError):
        shmif.bridge(shmif_bus, 42)
    with pytest.raises(OverflowError):
        shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other", seed=1 << 64)
    with pytest.raises(TypeError):
        shmif_interface.bridge(f"shmif://{tmp_path}/other", mode=0o644)
    assert not os.path.exists(tmp_path / "other")  # nothing was made

    with shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other") as br:
        # No impairment stage: impairment commands are refused, stats work.
        with pytest.raises(shmif.BridgeCommandError) as e:
            br.command("show")
        assert e.value.errno == errno.EINVAL and isinstance(e.value, OSError)
        assert e.value.reply.startswith("error: the bridge has no impairment stage")
        assert e.value.command == "show"
        assert br.command("stats").startswith("bus->")
        for line in ("", "  ", "stats\nshow", "stats\0"):
            with pytest.raises(ValueError):
                br.command(line)
    for call in (br.stats, lambda: br.command("stats"), br.show):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.ENXIO and "bridge was closed" in str(e.value)
    br.close()


def test_refused_commands_change_nothing(shmif_bus, tmp_path):
    with shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other", seed=3, impair="loss 1%") as br:
        before = br.show()
        for line in ("set loss 1% frob", "frob", "flap sideways", "counters LR sideways"):
            with pytest.raises(shmif.BridgeCommandError, match="error: ") as e:
                br.command(line)
            assert e.value.reply.startswith("error: ") and "\n" not in e.value.reply
        assert br.show() == before


def test_options_reach_the_bridge(shmif_bus, tmp_path):
    # A control path with '=' in it is one word: the library cuts key=value
    # at the first '='.
    control = tmp_path / "ctl=1.sock"
    log = tmp_path / "decisions.log"
    with shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other", learning=True, ageing=30,
                      no_repeat_guard=True, mode=0o600, seed=2**64 - 1, control=control,
                      control_mode=0o640, impair_log=log, impair=["RL", "delay", "1ms"]) as br:
        assert br.show() == {"seed": 2**64 - 1, "LR": "none", "RL": "delay 1ms"}
        assert os.stat(shmif_bus).st_mode & 0o777 == 0o600 & ~current_umask()
        assert os.stat(control).st_mode & 0o777 == 0o640
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(control))
            s.sendall(b"show LR\n")
            assert recv_exactly(s, len(b"seed 18446744073709551615\nLR none\nok\n")) == \
                b"seed 18446744073709551615\nLR none\nok\n"
        assert log.exists()
    assert not control.exists()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_long_reply_grows_the_buffer(shmif_bus, tmp_path, monkeypatch):
    from shmif import _bridge

    monkeypatch.setattr(_bridge, "_REPLY_SIZE", 16)
    with shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other", impair="") as br:
        text = br.command("help")
        # The stage's commands and words, then the bridge's own commands.
        assert text.startswith("commands") and "flap PERIOD DUTY | flap off | none\n" in text
        assert text.endswith("why the bridge stopped (nothing while it runs)\n")
        assert len(text) > 16


@pytest.mark.parametrize("rounds", range(3))
def test_threads_use_a_bridge_while_another_closes_it(rounds, shmif_bus, tmp_path):
    br = shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other", impair="")
    calls = [br.stats, lambda: br.command("counters"), br.show, br.stats]
    started = [threading.Event() for _ in calls]
    results: list = [None] * len(calls)

    def run(i):
        try:
            while True:
                calls[i]()
                started[i].set()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for ev in started:
        assert ev.wait(JOIN)
    br.close()
    for t in threads:
        t.join(JOIN)
        assert not t.is_alive()
    for e in results:
        assert isinstance(e, OSError) and e.errno == errno.ENXIO, repr(e)
    assert br.closed
    # The handle is free again, and a new bridge works.
    with shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other") as again:
        assert again.stats().stopped is False


def test_concurrent_close_returns_when_closed(shmif_bus, tmp_path):
    br = shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other")
    threads = [threading.Thread(target=br.close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN)
    assert br.closed and "closed" in repr(br)


def test_stats_subtract():
    d = shmif.BridgeDirection(5, 300, 1, 0, 2, 0, 0)
    before = shmif.BridgeStats(d, d, 1, False, 0)
    after = shmif.BridgeStats(shmif.BridgeDirection(7, 420, 1, 0, 2, 0, 1), d, 3, True,
                              errno.ENOTCONN)
    assert after - before == shmif.BridgeStats(shmif.BridgeDirection(2, 120, 0, 0, 0, 0, 1),
                                               shmif.BridgeDirection(0, 0, 0, 0, 0, 0, 0), 2,
                                               True, errno.ENOTCONN)


def test_unclosed_bridge_warns_and_closes(shmif_bus, tmp_path):
    br = shmif.bridge(shmif_bus, f"shmif://{tmp_path}/other")
    handle = br.handle
    with pytest.warns(ResourceWarning, match=f"unclosed shmif bridge {handle}"):
        del br
        import gc
        gc.collect()


FAILING = textwrap.dedent("""
    import shmif

    def test_fails(shmif_bus_factory, shmif_bridge, shmif_interface_factory):
        bus0, bus1 = shmif_bus_factory(), shmif_bus_factory()
        a = shmif_interface_factory(bus0)
        br = shmif_bridge(bus0, f"shmif://{bus1}", seed=5, impair="RL loss 1%")
        a.send(bytes.fromhex("ffffffffffff020000000001" "88b5") + bytes(46))
        br.command("stats")
        assert False, "the inner test fails"
""")


def test_plugin_reports_bridges_and_closes_them(pytester):
    pytester.makepyfile(FAILING)
    # Without the faulthandler plugin: see test_plugin.INNER.
    result = pytester.runpytest("-p", "shmif.pytest_plugin", "-p", "no:faulthandler")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- shmif bridge * */bus0 <-> shmif://*/bus1 -*",
        "bus->shmif://*/bus1 frames=* bytes=* small=0 big=0 loop=0 filtered=0 errors=0; *",
        "LR in=*",
        "RL in=0/0 *",
    ])
    assert result.stdout.str().count("- shmif bus ") == 2
