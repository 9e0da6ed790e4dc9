"""The pytest plugin under hostile inner tests (python/README.md "The pytest
plugin"): fixtures cleaned up after failures, reports of damaged buses,
sessions in parallel."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

import shmif

from .hutil import PY, child_env

INNER = ("-p", "shmif.pytest_plugin", "-p", "no:faulthandler", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def _child_env(monkeypatch):
    for k, v in child_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SHMIF_BUILD", raising=False)


def _run(pytester, src, *args):
    pytester.makepyfile(test_inner=textwrap.dedent(src))
    return pytester.runpytest_subprocess(*INNER, *args)


def test_fixtures_destroyed_after_failing_test(pytester):
    # "Interfaces the fixtures opened are destroyed after the test" - also
    # when it fails, in setup of the next one, also with a receiver blocked
    # in another thread of the failing test.
    r = _run(pytester, """
        import threading, shmif, pytest
        units = []
        def test_a_fails(shmif_pair, shmif_interface_factory, shmif_bus_factory):
            a, b = shmif_pair
            c = shmif_interface_factory(shmif_bus_factory())
            units.extend([a.unit, b.unit, c.unit])
            t = threading.Thread(target=lambda: pytest.raises(OSError, b.recv), daemon=True)
            t.start()
            a.send(b"\\xff" * 6 + a.mac_bytes + b"\\x88\\xb5" + b"x" * 46)
            raise RuntimeError("inner failure")
        def test_b_units_free():
            assert len(units) == 3
            for u in units:
                shmif.create(u).destroy()
    """)
    r.assert_outcomes(passed=1, failed=1)
    assert "shmif bus" in r.stdout.str()


def test_report_of_damaged_and_removed_buses(pytester):
    # The report section is made from a bus the test damaged, truncated,
    # filled with garbage or removed: the report must still be the test's
    # own failure, not an internal error of the plugin.
    r = _run(pytester, """
        import os, shmif, pytest
        @pytest.mark.parametrize("how", ["remove", "truncate", "garbage", "foreign", "empty", "fifo"])
        def test_damages_then_fails(shmif_interface, shmif_bus, how):
            shmif_interface.send(b"\\xff" * 6 + shmif_interface.mac_bytes + b"\\x88\\xb5" + b"x" * 46)
            if how == "remove":
                os.unlink(shmif_bus)
            elif how == "truncate":
                os.truncate(shmif_bus, 100)
            elif how == "garbage":
                with open(shmif_bus, "r+b") as f:
                    f.seek(16); f.write(b"\\xf0\\xff\\xff\\xff" * 2); f.seek(100); f.write(os.urandom(5000))
            elif how == "foreign":
                with open(shmif_bus, "r+b") as f:
                    f.write(b"hello")
            elif how == "empty":
                os.truncate(shmif_bus, 0)
            elif how == "fifo":
                os.unlink(shmif_bus); os.mkfifo(shmif_bus)
            assert False, "inner failure " + how
    """)
    out = r.stdout.str()
    r.assert_outcomes(failed=6)
    assert "INTERNALERROR" not in out
    assert out.count("inner failure") >= 6


def test_passing_tests_print_nothing_extra(pytester):
    r = _run(pytester, """
        def test_ok(shmif_pair):
            a, b = shmif_pair
            f = b"\\xff" * 6 + a.mac_bytes + b"\\x88\\xb5" + b"x" * 46
            a.send(f)
            assert b.recv(timeout=5) == f
    """, "-rA")
    r.assert_outcomes(passed=1)
    assert "shmif bus" not in r.stdout.str()


def test_parallel_sessions(pytester, tmp_path):
    # Two sessions at once (as with pytest-xdist or two CI jobs): their
    # fixture buses are their own, no frame crosses.
    pytester.makepyfile(test_inner=textwrap.dedent("""
        import time
        def test_pair(shmif_pair):
            a, b = shmif_pair
            for k in range(200):
                f = b"\\xff" * 6 + a.mac_bytes + b"\\x88\\xb5" + bytes([k % 256]) * 46
                a.send(f)
                assert b.recv(timeout=5) == f
            time.sleep(0.2)
            assert b.stats().ipackets == 200
    """))
    procs = [subprocess.Popen([PY, "-m", "pytest", "-q", *INNER, "-p", "no:randomly",
                               f"--basetemp={tmp_path}/s{k}", "test_inner.py"],
                              cwd=pytester.path, env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(3)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    for p, o in zip(procs, outs):
        assert p.returncode == 0, o
