"""The pytest plugin, run on inner test files with pytester."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

import shmif
from shmif import pytest_plugin
from util import frame

PYTHONPATH = os.path.dirname(os.path.dirname(os.path.abspath(shmif.__file__)))

# Inner runs in this process go without pytest's faulthandler plugin: its
# faulthandler.disable() on the way out would put back the signal handlers
# of before libshmif was loaded, and the Go runtime's SIGBUS handler (which
# makes a truncated bus EIO) would be gone for the tests that follow.
INNER = ("-p", "shmif.pytest_plugin", "-p", "no:faulthandler")

# An inner test that sends an ARP request on its bus and then fails.
FAILING = textwrap.dedent("""
    ARP = bytes.fromhex(
        "ffffffffffff" "020000000001" "0806" "0001080006040001"
        "020000000001" "0a000001" "000000000000" "0a000002")

    def test_fails(shmif_pair):
        a, b = shmif_pair
        a.send(ARP)
        assert b.recv(timeout=5) == ARP
        assert False, "the inner test fails"
""")

TCPDUMP_LINE = ("*02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: "
                "Request who-has 10.0.0.2 tell 10.0.0.1, length 28*")


@pytest.fixture
def need_tcpdump():
    if pytest_plugin._find_tcpdump() is None:
        pytest.skip("tcpdump is not installed")


def test_failed_test_report_shows_bus_as_tcpdump(pytester, need_tcpdump):
    pytester.makepyfile(FAILING)
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(failed=1)
    assert result.stdout.str().count("shmif bus") == 1
    result.stdout.fnmatch_lines([
        "*AssertionError: the inner test fails*",
        "*- shmif bus */test_fails0/bus -*",
        "bus version 3, lock: 0, generation: 0, firstoff: 0x*, lastoff: 0x*",
        "1 frame (shmif.capture | tcpdump -n -e -r -)",
        TCPDUMP_LINE,
    ])


def test_failed_test_without_tcpdump_gets_plain_lines(pytester, monkeypatch):
    monkeypatch.setattr(pytest_plugin, "_find_tcpdump", lambda: None)
    pytester.makepyfile(FAILING)
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- shmif bus */bus -*",
        "1 frame (tcpdump not found: one plain line per frame)",
        "??:??:??.?????? 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype 0x0806, length 42",
    ])


def test_report_needs_no_tools(pytester, tmp_path, monkeypatch):
    # The bus is read by libshmif itself: with the library alone in its
    # directory and nothing on PATH (no shmif_dumpbus anywhere), the frames
    # are still shown.
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy(shmif.library_path(), libdir / "libshmif.so.0")
    for name in ("SHMIF_BUILD", "SHMIF_DUMPBUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHMIF_LIB", str(libdir / "libshmif.so.0"))
    monkeypatch.setenv("PYTHONPATH", PYTHONPATH)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    pytester.makepyfile(FAILING)
    result = pytester.runpytest_subprocess("-p", "shmif.pytest_plugin")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- shmif bus */bus -*", "bus version 3, *", "1 frame*",
                                 "*02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, *length 42*"])


def test_passing_test_prints_nothing_extra(pytester):
    pytester.makepyfile(FAILING.replace('assert False, "the inner test fails"', ""))
    result = pytester.runpytest(*INNER, "-rA")
    result.assert_outcomes(passed=1)
    assert "shmif bus" not in result.stdout.str()


def test_every_bus_the_test_used_is_shown(pytester, need_tcpdump):
    pytester.makepyfile(textwrap.dedent("""
        import io
        import shmif

        def test_fails(shmif_bus_factory, shmif_interface_factory, tmp_path):
            quiet = shmif_bus_factory("quiet")
            busy = shmif_bus_factory()
            a = shmif_interface_factory(busy)
            a.send(b"\\xff" * 6 + a.mac_bytes + b"\\x88\\xb5" + b"busy".ljust(46, b"\\0"))
            # A bus the test opened itself is shown too,
            with shmif.open(tmp_path / "own") as b:
                b.send(b"\\xff" * 6 + b.mac_bytes + b"\\x88\\xb6" + bytes(46))
            # and one it injected frames into.
            pcap = io.BytesIO()
            shmif.capture(tmp_path / "own", pcap)
            pcap.seek(0)
            shmif.inject(tmp_path / "copy", pcap)
            assert quiet.name == "quiet" and busy.name == "bus0"
            assert False
    """))
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- shmif bus */quiet -*",
        "no bus file: no interface attached to this bus",
        "*- shmif bus */bus0 -*",
        "*ethertype Unknown (0x88b5), length 60*",
        "*- shmif bus */own -*",
        "*ethertype Unknown (0x88b6), length 60*",
        "*- shmif bus */copy -*",
        "*ethertype Unknown (0x88b6), length 60*",
    ])


def test_bus_without_frames(pytester):
    pytester.makepyfile(textwrap.dedent("""
        def test_fails(shmif_interface):
            assert False
    """))
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(failed=1)
    # The header of a bus that never carried a frame (version 0 until the
    # first write, as in NetBSD), and no frame.
    result.stdout.fnmatch_lines(["*- shmif bus */bus -*", "bus version 0, *", "0 frames"])


def test_fixtures_destroy_interfaces(pytester):
    pytester.makepyfile(textwrap.dedent("""
        import shmif
        made = []

        def test_opens(shmif_pair, shmif_interface, shmif_interface_factory, shmif_bus):
            made.extend(shmif_pair)
            made.append(shmif_interface)
            made.append(shmif_interface_factory(mode=0o600, unit=3000))
            assert all(ifc.linkstr == str(shmif_bus) for ifc in made)
            made[0].destroy()  # destroying one itself is harmless

        def test_after():
            assert len(made) == 4 and all(ifc.closed for ifc in made)
            shmif.create(3000).destroy()  # the unit is free again
    """))
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=2)


def test_plugin_in_fresh_process(pytester, monkeypatch):
    # `-p shmif.pytest_plugin` in a new interpreter, the library found from
    # the clone (or SHMIF_LIB/SHMIF_BUILD as set for this run).
    monkeypatch.setenv("PYTHONPATH", PYTHONPATH)
    pytester.makepyfile(FAILING)
    result = pytester.runpytest_subprocess("-p", "shmif.pytest_plugin")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- shmif bus */bus -*", "1 frame *"])


def test_dump_bus_reports_capture_failure(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"not a bus" * 100)
    text = pytest_plugin.dump_bus(str(foreign))
    assert text.startswith("the bus cannot be read: [Errno 8] shmif_capture")
    assert str(foreign) in text


def test_fixtures_start_clean(shmif_interface_factory):
    # A bus that already carried frames (from an earlier interface, or an
    # earlier test on a shared bus): fixture interfaces receive only frames
    # sent after they came up, and keep that start at every up.
    first = shmif_interface_factory()
    first.send(frame(b"old 1"))
    first.send(frame(b"old 2"))
    clean = shmif_interface_factory()
    with pytest.raises(BlockingIOError):
        clean.recv(timeout=0)
    newest = shmif_interface_factory(start=shmif.START_NEWEST)
    assert newest.recv(timeout=5) == frame(b"old 2")
    clean.up()
    with pytest.raises(BlockingIOError):
        clean.recv(timeout=0)
    first.send(frame(b"new"))
    assert clean.recv(timeout=5) == frame(b"new")
    assert newest.recv(timeout=5) == frame(b"new")


def test_interface_factory_lossless(shmif_interface_factory):
    ifc = shmif_interface_factory(lossless=2.5)
    assert ifc.lossless == 2.5
