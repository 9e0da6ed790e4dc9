"""Every errno the C API returns that Python can provoke, raised as OSError
with that errno (and Python's own subclass where there is one)."""

from __future__ import annotations

import errno
import os
import resource
import socket
import subprocess
import sys
import tempfile
import textwrap

import pytest

import shmif
from util import frame

PYTHONPATH = os.path.dirname(os.path.dirname(os.path.abspath(shmif.__file__)))


def raises_errno(code: int, call: str):
    """pytest.raises for an OSError with errno code whose message names call."""
    return pytest.raises(OSError, match=f"{call}.*{os.strerror(code)}")


# -- creating and opening ----------------------------------------------------


@pytest.mark.parametrize("unit", [-2, shmif.MAXUNITS, 40000])
def test_create_bad_unit(unit):
    with raises_errno(errno.EINVAL, "shmif_create") as e:
        shmif.create(unit)
    assert e.value.errno == errno.EINVAL and f"unit {unit}" in str(e.value)


def test_create_unit_exists():
    with shmif.create(777):
        with pytest.raises(FileExistsError, match="shmif_create"):
            shmif.create(777)


def test_open_empty_path():
    with raises_errno(errno.EINVAL, "rump_pub_shmif_create") as e:
        shmif.open("")
    assert e.value.errno == errno.EINVAL


def test_open_path_too_long(tmp_path):
    path = "/" + "x/" * 512  # 1025 bytes
    with raises_errno(errno.E2BIG, "rump_pub_shmif_create") as e:
        shmif.open(path)
    assert e.value.errno == errno.E2BIG and e.value.filename == path
    with pytest.raises(OSError) as e:
        shmif.open(tmp_path / ("n" * 300))
    assert e.value.errno == errno.ENAMETOOLONG


def test_open_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="rump_pub_shmif_create") as e:
        shmif.open(tmp_path / "no" / "bus")
    assert e.value.filename == str(tmp_path / "no" / "bus")
    with pytest.raises(FileNotFoundError, match="shmif_open"):
        shmif.open(tmp_path / "no" / "bus", mode=0o600)


def test_open_through_a_file(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        shmif.open(tmp_path / "f" / "bus")


def test_open_directory(tmp_path):
    with pytest.raises(IsADirectoryError):
        shmif.open(tmp_path)


def test_open_fifo_and_socket(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with raises_errno(errno.EINVAL, "rump_pub_shmif_create"):
        shmif.open(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "sock"))
        with raises_errno(errno.EINVAL, "rump_pub_shmif_create"):
            shmif.open(tmp_path / "sock")


def test_open_symlink_loop(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(OSError) as e:
        shmif.open(tmp_path / "a")
    assert e.value.errno == errno.ELOOP


def test_open_foreign_file_is_enoexec_and_unchanged(tmp_path):
    foreign = tmp_path / "notes.txt"
    foreign.write_bytes(b"hello, not a bus\n" * 10)
    for attempt in (lambda: shmif.open(foreign), lambda: shmif.open(foreign, mode=0o600),
                    lambda: shmif.create().attach(foreign)):
        with raises_errno(errno.ENOEXEC, "shmif") as e:
            attempt()
        assert e.value.errno == errno.ENOEXEC
    assert foreign.read_bytes() == b"hello, not a bus\n" * 10


def test_bad_python_arguments(tmp_path):
    with pytest.raises(ValueError, match="null byte"):
        shmif.open(str(tmp_path / "bus\0x"))
    with pytest.raises(ValueError, match="permission bits"):
        shmif.open(tmp_path / "bus", mode=-1)
    with pytest.raises(ValueError, match="permission bits"):
        shmif.open(tmp_path / "bus", mode=0o10000)
    with pytest.raises(TypeError):
        shmif.create("3")
    # ctypes would wrap these silently (2**40 to unit 0).
    with pytest.raises(OverflowError):
        shmif.create(2**40)
    with shmif.create() as ifc:
        with pytest.raises(OverflowError):
            ifc.set_spin(2**31)
        with pytest.raises(OverflowError):
            ifc.capenable = -1
        with pytest.raises(OverflowError):
            ifc.media = 2**32


def test_open_without_permission(tmp_path):
    # Root passes every permission check: try as nobody in a child process.
    if os.geteuid() != 0:
        bus = tmp_path / "bus"
        bus.write_bytes(b"")
        bus.chmod(0)
        with pytest.raises(PermissionError):
            shmif.open(bus)
        return
    d = tempfile.mkdtemp()
    try:
        os.chmod(d, 0o755)
        bus = os.path.join(d, "bus")
        shmif.open(bus, mode=0o600).destroy()
        code = textwrap.dedent(f"""
            import shmif
            try:
                shmif.open({bus!r})
            except PermissionError as e:
                print("PermissionError", e.errno)
        """)
        out = subprocess.run([sys.executable, "-c", code], user=65534, group=65534,
                             env={**os.environ, "PYTHONPATH": PYTHONPATH},
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == f"PermissionError {errno.EACCES}", out.stderr
    finally:
        os.unlink(os.path.join(d, "bus"))
        os.rmdir(d)


def test_all_units_in_use():
    # Every interface holds a descriptor: raise the limit above 32768 in a
    # child process (root may), then make every unit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = shmif.MAXUNITS + 200
    if hard < need and os.geteuid() != 0:
        pytest.skip(f"needs RLIMIT_NOFILE >= {need} (hard limit {hard}) or root")
    code = textwrap.dedent(f"""
        import resource, shmif
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, ({need}, {need}))
        except (OSError, ValueError) as e:
            raise SystemExit("SKIP " + str(e))
        lib = shmif._lib.load()
        for unit in range({shmif.MAXUNITS}):
            assert lib.shmif_create(-1, None) == 0
        try:
            shmif.create()
        except OSError as e:
            print(e.errno, e)
        lib.shmif_destroy(1234)
        assert shmif.create().unit == 1234
    """)
    out = subprocess.run([sys.executable, "-c", code],
                         env={**os.environ, "PYTHONPATH": PYTHONPATH},
                         capture_output=True, text=True, timeout=120)
    if out.stderr.startswith("SKIP "):
        pytest.skip(f"cannot raise RLIMIT_NOFILE to {need}: {out.stderr[5:].strip()}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{errno.ENOSPC} "), out.stdout
    assert "shmif_create" in out.stdout


# -- attaching -----------------------------------------------------------------


def test_attach_busy(shmif_bus_factory):
    bus1, bus2 = shmif_bus_factory(), shmif_bus_factory()
    with shmif.open(bus1) as ifc:
        with pytest.raises(OSError, match="shmif_set_linkstr on shmif") as e:
            ifc.attach(bus2)  # up
        assert e.value.errno == errno.EBUSY
        ifc.down()
        with raises_errno(errno.EBUSY, "shmif_set_linkstr_mode"):
            ifc.attach(bus2, mode=0o600)  # already has a bus
        ifc.up()
        with raises_errno(errno.EBUSY, "shmif_unset_linkstr"):
            ifc.detach()


def test_attach_bad_paths():
    with shmif.create() as ifc:
        with raises_errno(errno.EINVAL, "shmif_set_linkstr"):
            ifc.attach("")
        with raises_errno(errno.E2BIG, "shmif_set_linkstr"):
            ifc.attach("/" + "x/" * 512)
        with pytest.raises(FileNotFoundError):
            ifc.attach("/nonexistent-dir/bus")


def test_up_without_bus():
    with shmif.create() as ifc:
        with raises_errno(errno.ENXIO, "shmif_up"):
            ifc.up()
        with raises_errno(errno.ENETDOWN, "shmif_get_pollfd"):
            ifc.fileno()


# -- settings --------------------------------------------------------------------


@pytest.mark.parametrize("mac", ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"])
def test_set_mac_group_address(shmif_interface, mac):
    with raises_errno(errno.EINVAL, "shmif_set_mac"):
        shmif_interface.mac = mac


def test_bad_settings(shmif_interface):
    with raises_errno(errno.EINVAL, "shmif_set_media"):
        shmif_interface.media = 5
    with raises_errno(errno.EINVAL, "shmif_set_spin"):
        shmif_interface.set_spin(-1)
    with raises_errno(errno.EINVAL, "shmif_set_capenable"):
        shmif_interface.capenable = 0x1


# -- sending and receiving ----------------------------------------------------------


def test_frame_sizes(shmif_pair):
    a, b = shmif_pair
    with raises_errno(errno.EINVAL, "shmif_send"):
        a.send(b"\xff" * 13)
    with raises_errno(errno.EINVAL, "shmif_send"):
        a.send(b"")
    with raises_errno(errno.EMSGSIZE, "shmif_send"):
        a.send(b"\xff" * 1515)
    with raises_errno(errno.EMSGSIZE, "shmif_send_batch"):
        a.send_batch([frame(), b"\xff" * 1515])
    with raises_errno(errno.EINVAL, "shmif_send_batch"):
        a.send_batch([frame(), frame(), b"\xff" * 13])
    # Refused batches send nothing; refused sizes are not counted.
    with pytest.raises(TimeoutError):
        b.recv(timeout=0.05)
    assert a.stats().opackets == 0 and a.stats().oerrors == 0


def test_recv_into_too_small_leaves_frame(shmif_pair):
    a, b = shmif_pair
    a.send(frame(size=100))
    with pytest.raises(OSError, match="shmif_recv on shmif.*100 bytes, the buffer 99") as e:
        b.recv_into(bytearray(99), timeout=5)
    assert e.value.errno == errno.EMSGSIZE
    buf = bytearray(100)
    assert b.recv_into(buf, timeout=0) == 100 and buf == frame(size=100)


def test_down_interface(shmif_pair):
    a, b = shmif_pair
    a.down()
    with raises_errno(errno.ENETDOWN, "shmif_send"):
        a.send(frame())
    with raises_errno(errno.ENETDOWN, "shmif_send_batch"):
        a.send_batch([frame()])
    with raises_errno(errno.ENETDOWN, "shmif_recv_frame"):
        a.recv(timeout=1)
    with raises_errno(errno.ENETDOWN, "shmif_recv"):
        a.recv_into(bytearray(1514), timeout=None)
    with raises_errno(errno.ENETDOWN, "shmif_recv_frame"):
        list(a.frames(timeout=1))
    with raises_errno(errno.ENETDOWN, "shmif_recv_batch"):
        a.recv_batch(4, timeout=1)


def test_send_offload_refusals(shmif_pair):
    a, _ = shmif_pair
    arp = frame(ethertype=b"\x08\x06")
    with pytest.raises(OSError) as e:
        a.send_offload(arp, shmif.Csum.UDPv4)
    assert e.value.errno == errno.EOPNOTSUPP and "shmif_send_offload" in str(e.value)
    a.capenable = shmif.CAPABILITIES
    with raises_errno(errno.EINVAL, "shmif_send_offload"):
        a.send_offload(arp, shmif.Csum.UDPv4)  # not IPv4
    with raises_errno(errno.EINVAL, "shmif_send_offload"):
        a.send_offload(arp, shmif.Csum.IPv4_BAD)  # a status flag
    # IPv4/TCP with 2000 bytes of payload: TSO with segments too long.
    ip = bytes.fromhex("450007f800010000400600000a0000010a000002")
    tcp = bytes.fromhex("04d2005000000001000000005010ffff00000000")
    tso = b"\xff" * 6 + a.mac_bytes + b"\x08\x00" + ip + tcp + b"x" * 2000
    with raises_errno(errno.EMSGSIZE, "shmif_send_offload"):
        a.send_offload(tso, shmif.Csum.TSOv4, mss=1490)
    with raises_errno(errno.EINVAL, "shmif_send_offload"):
        a.send_offload(tso, shmif.Csum.TSOv4, mss=0)
    assert a.stats().oerrors == 5
    a.down()
    with raises_errno(errno.ENETDOWN, "shmif_send_offload"):
        a.send_offload(tso, shmif.Csum.TSOv4, mss=1000)


def test_destroyed_interface(shmif_bus):
    ifc = shmif.open(shmif_bus)
    name = ifc.name
    ifc.destroy()
    calls = [
        lambda: ifc.send(frame()), lambda: ifc.send_batch([frame()]),
        lambda: ifc.recv(timeout=0), lambda: ifc.recv_batch(), lambda: list(ifc.frames(0)),
        lambda: ifc.recv_into(bytearray(1514)), lambda: ifc.stats(), lambda: ifc.fileno(),
        lambda: ifc.up(), lambda: ifc.down(), lambda: ifc.mac, lambda: ifc.flags,
        lambda: ifc.linkstr, lambda: ifc.attach(shmif_bus), lambda: ifc.detach(),
        lambda: ifc.set_spin(0), lambda: ifc.capenable, lambda: ifc.media,
    ]
    for call in calls:
        with pytest.raises(OSError, match=f"on {name}: interface was destroyed") as e:
            call()
        assert e.value.errno == errno.ENXIO


def test_unknown_unit_from_c():
    # A unit nobody made: ENXIO from the C library itself.
    ghost = shmif.Interface(32000)
    with raises_errno(errno.ENXIO, "shmif_get_flags"):
        ghost.flags
    ghost.destroy()  # ENXIO from shmif_destroy: the unit is gone either way


# -- damaged buses --------------------------------------------------------------------


def test_truncated_bus_is_eio(shmif_pair, shmif_bus):
    a, b = shmif_pair
    a.send(frame())
    os.truncate(shmif_bus, 0)
    with raises_errno(errno.EIO, "shmif_send"):
        a.send(frame())
    with raises_errno(errno.EIO, "shmif_recv_frame"):
        b.recv(timeout=0)
    # Detaching and attaching again repairs it.
    a.down()
    a.detach()
    a.attach(shmif_bus)
    a.up()
    a.send(frame())


def test_overwritten_magic_is_enoexec(shmif_pair, shmif_bus):
    a, _ = shmif_pair
    with open(shmif_bus, "r+b") as f:
        f.write(b"junk")
    with raises_errno(errno.ENOEXEC, "shmif_send"):
        a.send(frame())
