"""Frames for the tests."""

from __future__ import annotations

BROADCAST = b"\xff" * 6
SRC = bytes.fromhex("020000000001")


def frame(payload: bytes = b"", src: bytes = SRC, dst: bytes = BROADCAST,
          ethertype: bytes = b"\x88\xb5", size: int = 60) -> bytes:
    """A broadcast frame (experimental EtherType) padded to size bytes."""
    return (dst + src + ethertype + payload).ljust(size, b"\0")


def arp_request(src: bytes, sender_ip: str, target_ip: str) -> bytes:
    """An ARP request "who-has target_ip tell sender_ip" from MAC src."""
    ip = lambda s: bytes(int(x) for x in s.split("."))  # noqa: E731
    return (BROADCAST + src + b"\x08\x06"
            + bytes.fromhex("0001080006040001") + src + ip(sender_ip)
            + b"\0" * 6 + ip(target_ip))
