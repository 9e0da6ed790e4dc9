"""Conversion between frames and scapy packets; scapy is imported only here,
and only when one of these is called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scapy.packet import Packet


def _ether() -> Any:
    try:
        from scapy.layers.l2 import Ether
    except ImportError as e:
        raise ImportError(
            "shmif's scapy conversions need scapy (Debian: apt-get install python3-scapy)"
        ) from e
    return Ether


def to_scapy(frame: Any) -> "Packet":
    """A frame (bytes, or a Frame with its sender's timestamp) as a scapy
    Ether packet; a Frame's timestamp becomes the packet's time."""
    pkt = _ether()(bytes(frame))
    t = getattr(frame, "time", None)
    if isinstance(t, float):
        pkt.time = t
    return pkt


def from_scapy(packet: "Packet") -> bytes:
    """The bytes of a scapy packet, as send() puts them on the bus."""
    return bytes(packet)
