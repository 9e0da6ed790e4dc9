"""Frames as scapy packets (skipped without scapy)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import shmif

LONG = 5.0


@pytest.fixture(scope="module")
def scapy():
    l2 = pytest.importorskip("scapy.layers.l2", reason="scapy is not installed")
    inet = pytest.importorskip("scapy.layers.inet")
    return l2, inet


def test_arp_round_trip(scapy, shmif_pair):
    l2, _ = scapy
    a, b = shmif_pair
    req = l2.Ether(dst="ff:ff:ff:ff:ff:ff", src=a.mac) / l2.ARP(
        op="who-has", hwsrc=a.mac, psrc="10.0.0.1", pdst="10.0.0.2")
    a.send(req)
    got = b.recv_packet(timeout=LONG)
    assert got.haslayer(l2.ARP)
    assert (got[l2.ARP].op, got[l2.ARP].psrc, got[l2.ARP].pdst) == (1, "10.0.0.1", "10.0.0.2")
    assert got.src == a.mac and got.dst == "ff:ff:ff:ff:ff:ff"
    assert bytes(got) == bytes(req)
    # The reply, unicast to a, parsed from a plain Frame.
    reply = l2.Ether(dst=a.mac, src=b.mac) / l2.ARP(
        op="is-at", hwsrc=b.mac, psrc="10.0.0.2", hwdst=a.mac, pdst="10.0.0.1")
    b.send(shmif.from_scapy(reply))
    frame = a.recv(timeout=LONG)
    pkt = shmif.to_scapy(frame)
    assert pkt[l2.ARP].hwsrc == b.mac and pkt[l2.ARP].op == 2
    assert pkt.time == frame.time


def test_udp_round_trip_with_checksums(scapy, shmif_pair):
    l2, inet = scapy
    a, b = shmif_pair
    pkt = (l2.Ether(dst=b.mac, src=a.mac) / inet.IP(src="10.0.0.1", dst="10.0.0.2")
           / inet.UDP(sport=1234, dport=5678) / b"payload")
    a.send(pkt)
    got = b.recv_packet(timeout=LONG)
    assert got[inet.UDP].dport == 5678 and bytes(got[inet.UDP].payload) == b"payload"
    # The checksums scapy computed arrive intact: recomputing gives the same.
    ip, udp = got[inet.IP], got[inet.UDP]
    sums = (ip.chksum, udp.chksum)
    del ip.chksum, udp.chksum
    again = l2.Ether(bytes(got))
    assert (again[inet.IP].chksum, again[inet.UDP].chksum) == sums


def test_offloaded_checksums_are_valid(scapy, shmif_pair):
    # Checksums left at 0 and filled by the interface verify in scapy.
    l2, inet = scapy
    a, b = shmif_pair
    a.capenable = shmif.Cap.IPv4_Tx | shmif.Cap.UDPv4_Tx
    pkt = (l2.Ether(dst=b.mac, src=a.mac) / inet.IP(src="10.0.0.1", dst="10.0.0.2", chksum=0)
           / inet.UDP(sport=1, dport=2, chksum=0) / (b"x" * 100))
    a.send_offload(pkt, shmif.Csum.IPv4 | shmif.Csum.UDPv4)
    got = b.recv_packet(timeout=LONG)
    filled = (got[inet.IP].chksum, got[inet.UDP].chksum)
    assert 0 not in filled
    fresh = l2.Ether(bytes(pkt))
    del fresh[inet.IP].chksum, fresh[inet.UDP].chksum
    fresh = l2.Ether(bytes(fresh))
    assert filled == (fresh[inet.IP].chksum, fresh[inet.UDP].chksum)


def test_package_works_without_scapy(tmp_path):
    # A child where importing scapy fails: the package, sending and receiving
    # work; the scapy calls say what is missing.
    code = f"""
import sys
class NoScapy:
    def find_spec(self, name, path=None, target=None):
        if name == "scapy" or name.startswith("scapy."):
            raise ImportError("scapy hidden for this test")
sys.meta_path.insert(0, NoScapy())
import shmif
with shmif.open({str(tmp_path / 'bus')!r}) as a, shmif.open({str(tmp_path / 'bus')!r}) as b:
    a.send(b"\\xff" * 14)
    assert b.recv(timeout=5) == b"\\xff" * 14
    try:
        shmif.to_scapy(b"\\xff" * 14)
    except ImportError as e:
        print("ImportError:", e)
assert "scapy" not in sys.modules
"""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(shmif.__file__))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ImportError: shmif's scapy conversions need scapy" in out.stdout
