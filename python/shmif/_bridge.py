"""Bridges between a bus and an endpoint, run by libshmif inside this
process (shmif_bridge_open and friends of rump.h)."""

from __future__ import annotations

import ctypes
import errno
import numbers
import operator
import os
import threading
import warnings
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from . import _lib
from ._core import PathLike, _encode_path, _error, _notify_attach

if TYPE_CHECKING:
    from ._core import Interface

# Opening calls run under this lock; so does close() while other threads
# are still inside calls on the bridge. libshmif may give a closed bridge's
# handle to a later bridge: a call still on its way into C must not reach
# that one (the same rule as for interface units, see Interface.destroy).
_handles_lock = threading.Lock()

# Direction words of the impairment commands.
_DIRECTIONS = {"lr": "LR", "rl": "RL", "both": "both"}

# The reply of a command that succeeded ends with this line.
_OK = "ok\n"

# A first reply buffer; a longer reply says how much room it needs.
_REPLY_SIZE = 4096
_REPLY_TRIES = 8


class BridgeCommandError(OSError):
    """A bridge command was refused: an OSError with errno EINVAL whose
    `reply` is the bridge's "error: ..." line (nothing was changed) and
    `command` the command line."""

    reply: str = ""
    command: str = ""


@dataclass(frozen=True)
class BridgeDirection:
    """What happened to the frames a bridge read on one side (struct
    shmif_bridge_dir)."""

    frames: int
    """Frames written to the other side."""
    bytes: int
    too_small: int
    """Dropped: under 14 bytes."""
    too_big: int
    """Dropped: over 1514 bytes (a bus carries no more)."""
    loop: int
    """Dropped: came back from the side they were sent to (see LOOPS in
    shmif_bridge(1))."""
    filtered: int
    """Not forwarded (learning): the destination is on their side."""
    errors: int
    """Lost to a write error of the other side."""

    def __sub__(self, other: "BridgeDirection") -> "BridgeDirection":
        if not isinstance(other, BridgeDirection):
            return NotImplemented
        return BridgeDirection(*(getattr(self, f.name) - getattr(other, f.name)
                                 for f in fields(self)))


@dataclass(frozen=True)
class BridgeStats:
    """A bridge's counters (struct shmif_bridge_stats). `after - before`
    subtracts the counters and keeps after's stopped and error."""

    to_endpoint: BridgeDirection
    """The frames read from the bus."""
    to_bus: BridgeDirection
    """The frames read from the endpoint."""
    bus_lost: int
    """Frames overwritten on the bus before the bridge read them."""
    stopped: bool
    """True once the bridge stopped by itself: its endpoint failed or its
    peer went away. It keeps its handle until close()."""
    error: int
    """Then why, as an errno value (ENOTCONN: the endpoint's peer went
    away); 0 while it runs."""

    def __sub__(self, other: "BridgeStats") -> "BridgeStats":
        if not isinstance(other, BridgeStats):
            return NotImplemented
        return BridgeStats(self.to_endpoint - other.to_endpoint, self.to_bus - other.to_bus,
                           self.bus_lost - other.bus_lost, self.stopped, self.error)


def _direction(d: Any) -> BridgeDirection:
    return BridgeDirection(*(getattr(d, name) for name, _ in _lib.ShmifBridgeDir._fields_))


# -- the options string -----------------------------------------------------


def _word(value: Union[str, bytes], what: str) -> bytes:
    """value as one word of the options string: not empty, no whitespace
    (it separates words) and no NUL (it ends the C string)."""
    raw = os.fsencode(value)
    text = os.fsdecode(raw)
    if not raw:
        raise ValueError(f"{what} is empty")
    if b"\0" in raw or any(c.isspace() for c in text):
        raise ValueError(f"{what} {text!r} has whitespace or a NUL: it would not be one word "
                         "of the options string")
    return raw


def _path_word(key: str, path: PathLike, what: str) -> bytes:
    # The library splits key=value at the first '=': a path may hold more.
    return key.encode() + b"=" + _word(os.fspath(path), what)


def _octal(value: Any, what: str) -> str:
    if isinstance(value, bool):
        raise TypeError(f"{what} is a number of permission bits, not bool")
    mode = operator.index(value)
    if not 0 < mode <= 0o777:
        raise ValueError(f"{what} {mode:#o} is not a set of permission bits (0o1 to 0o777)")
    return f"{mode:o}"


def _impair_words(impair: Union[str, Iterable[str]]) -> list[bytes]:
    if isinstance(impair, str):
        if "\0" in impair:
            raise ValueError("impair has a NUL")
        return [w.encode() for w in impair.split()]
    if isinstance(impair, bytes):
        raise TypeError("impair is a str of words or a list of words, not bytes")
    return [_word(w, "an impair word") for w in impair]


def _options(*, learning: bool = False, ageing: Optional[float] = None,
             no_repeat_guard: bool = False, mode: Optional[int] = None,
             seed: Optional[int] = None, control: Optional[PathLike] = None,
             control_mode: Optional[int] = None, impair_log: Optional[PathLike] = None,
             impair: Union[str, Iterable[str], None] = None) -> bytes:
    """The options string of shmif_bridge_open, checked so that every
    value stays the one word it must be."""
    words: list[bytes] = []
    if learning:
        words.append(b"learning")
    if ageing is not None:
        if isinstance(ageing, bool) or not isinstance(ageing, numbers.Real):
            raise TypeError(f"ageing is a number of seconds, not {type(ageing).__name__}")
        if not (ageing > 0 and ageing == int(ageing)):
            raise ValueError(f"ageing is a whole number of seconds > 0, not {ageing!r}")
        if ageing >= 1 << 31:
            raise OverflowError(f"ageing of {ageing} s is too long")
        words.append(b"ageing=%d" % int(ageing))
    if no_repeat_guard:
        words.append(b"no-repeat-guard")
    if mode is not None:
        words.append(b"mode=" + _octal(mode, "mode").encode())
    if seed is not None:
        if isinstance(seed, bool):
            raise TypeError("seed is an int, not bool")
        s = operator.index(seed)
        if not 0 <= s < 1 << 64:
            raise OverflowError(f"seed {s} does not fit a uint64_t")
        words.append(b"seed=%d" % s)
    if control is not None:
        words.append(_path_word("control", control, "control"))
    if control_mode is not None:
        if control is None:
            raise ValueError("control_mode is the mode of the control socket: give control too")
        words.append(b"control-mode=" + _octal(control_mode, "control_mode").encode())
    if impair_log is not None:
        words.append(_path_word("impair-log", impair_log, "impair_log"))
    if impair is not None:
        # Last: "impair" takes the rest of the string. rump.h says "impair"
        # alone makes a stage that passes everything, but the library
        # refuses it (EINVAL, "no settings"): "none" says the same.
        words.append(b"impair")
        words += _impair_words(impair) or [b"none"]
    return b" ".join(words)


def _endpoint(endpoint: Union[str, bytes]) -> bytes:
    if not isinstance(endpoint, (str, bytes)):
        raise TypeError(f"endpoint is a URL (str), not {type(endpoint).__name__}")
    raw = os.fsencode(endpoint)
    if b"\0" in raw:
        raise ValueError("embedded null byte in endpoint")
    return raw


def _direction_word(direction: Optional[str]) -> list[str]:
    if direction is None:
        return []
    try:
        return [_DIRECTIONS[direction.lower()]]
    except (KeyError, AttributeError):
        raise ValueError(f"direction is 'LR', 'RL' or 'both', not {direction!r}") from None


def _time_word(value: Union[str, float], what: str) -> str:
    """A time for the impairment words: a string as it is ("1s", "200ms"),
    a number of seconds in microseconds."""
    if isinstance(value, str):
        return _word(value, what).decode()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} is a time such as '1s' or a number of seconds, "
                        f"not {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{what} must be > 0 seconds, not {value!r}")
    return f"{max(1, round(value * 1e6))}us"


def _percent_word(value: Union[str, float], what: str) -> str:
    if isinstance(value, str):
        return _word(value, what).decode()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} is a percentage such as '80%' or 80, not {type(value).__name__}")
    return f"{value:g}%"


def _parse_counters(reply: str) -> dict[str, dict[str, tuple[int, int]]]:
    """Lines "LR in=3/180 out=3/180 lost=0/0 ..." as
    {'LR': {'in': (3, 180), ...}}."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for line in reply.splitlines():
        direction, *pairs = line.split()
        counts = {}
        for pair in pairs:
            name, _, value = pair.partition("=")
            frames, _, nbytes = value.partition("/")
            counts[name] = (int(frames), int(nbytes))
        out[direction] = counts
    return out


class Bridge:
    """A bridge between a bus and an endpoint (a TAP device, a socket, a VDE
    network, another bus, a VXLAN tunnel), copying frames both ways on
    libshmif's threads inside this process, optionally through an
    impairment stage.

    Made by shmif.bridge() (on an interface of its own) or
    Interface.bridge() (on that interface). close() (or leaving a with
    block) stops it; later calls raise OSError(ENXIO), closing again does
    nothing. Every method is safe from any thread; calls release the GIL.
    A bridge that stops by itself (its endpoint failed, its peer went away)
    says so in stats() and keeps its handle until close().
    """

    __slots__ = ("_handle", "_endpoint", "_bus", "_interface", "_lock", "_idle", "_inflight",
                 "_closed", "_gone", "__weakref__")

    def __init__(self, handle: int, endpoint: str, bus: Optional[str] = None,
                 interface: Optional["Interface"] = None) -> None:
        """Wrap a bridge libshmif already made; use shmif.bridge() or
        Interface.bridge() instead."""
        self._handle = handle
        self._endpoint = endpoint
        self._bus = bus
        self._interface = interface
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._closed = False  # no new call may start
        self._gone = False  # and the handle is released

    @property
    def handle(self) -> int:
        """libshmif's handle of the bridge (1, 2, ...: not a unit number)."""
        return self._handle

    @property
    def name(self) -> str:
        return f"bridge {self._handle}"

    @property
    def endpoint(self) -> str:
        """The endpoint URL as given."""
        return self._endpoint

    @property
    def bus(self) -> Optional[str]:
        """The bus path given to shmif.bridge(); None for Interface.bridge()."""
        return self._bus

    @property
    def interface(self) -> Optional["Interface"]:
        """The interface given to Interface.bridge(); None for shmif.bridge(),
        whose interface is the bridge's own."""
        return self._interface

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    # -- the gate every C call passes (see Interface._enter) ---------------

    def _call(self, call: str, *args: Any) -> int:
        with self._lock:
            if self._closed:
                raise OSError(errno.ENXIO, f"{call} on {self.name}: bridge was closed")
            self._inflight += 1
        try:
            return getattr(_lib.load(), call)(self._handle, *args)
        finally:
            with self._lock:
                self._inflight -= 1
                if self._closed and self._inflight == 0:
                    self._idle.notify_all()

    def close(self) -> None:
        """Stop the bridge, wait for its threads and close its endpoint and
        control socket; frames the impairment stage holds are dropped. The
        interface of shmif.bridge() is destroyed (the bus file stays); that
        of Interface.bridge() gets its promiscuous mode back. Closing again
        does nothing."""
        with self._lock:
            if self._closed:
                # Another thread is closing it: return when it is done.
                self._idle.wait_for(lambda: self._gone)
                return
            self._closed = True
            busy = self._inflight > 0
        lib = _lib.load()
        try:
            if not busy:
                err = lib.shmif_bridge_close(self._handle)
            else:
                # Calls already past the gate get ENXIO or finish on this
                # bridge; until they are out no bridge may get its handle.
                with _handles_lock:
                    err = lib.shmif_bridge_close(self._handle)
                    with self._lock:
                        self._idle.wait_for(lambda: self._inflight == 0)
        finally:
            with self._lock:
                self._gone = True
                self._idle.notify_all()
        # ENXIO: closed behind this object's back (by C code in the same
        # process); it is gone either way.
        if err and err != errno.ENXIO:
            raise _error(err, "shmif_bridge_close", self.name)

    def stats(self) -> BridgeStats:
        """The bridge's counters now, and whether it stopped by itself."""
        st = _lib.ShmifBridgeStats()
        err = self._call("shmif_bridge_get_stats", ctypes.byref(st))
        if err:
            raise _error(err, "shmif_bridge_get_stats", self.name)
        return BridgeStats(_direction(st.to_endpoint), _direction(st.to_bus), st.bus_lost,
                           bool(st.stopped), st.error)

    def command(self, line: str) -> str:
        """Run one command line (shmif_bridge_command: stats, error, show,
        set, flap, counters, help; see help) and return its reply's lines
        of data, without the closing "ok" line ("" when there are none).

        A refused command raises BridgeCommandError (errno EINVAL) carrying
        the "error: ..." reply; nothing was changed. Impairment commands
        need a bridge opened with an impairment stage (impair=, seed=,
        control= or impair_log=). A line with a newline or a NUL, or
        without a word, is a ValueError.
        """
        if not isinstance(line, str):
            raise TypeError(f"a command line is a str, not {type(line).__name__}")
        if any(c in line for c in "\0\n\r"):
            raise ValueError(f"a command is one line: {line!r}")
        if not line.split():
            raise ValueError("a command line needs a command (try 'help')")
        data = line.encode()
        size = _REPLY_SIZE
        for _ in range(_REPLY_TRIES):
            buf = ctypes.create_string_buffer(size)
            needed = ctypes.c_size_t()
            err = self._call("shmif_bridge_command", data, buf, size, ctypes.byref(needed))
            if err != errno.ERANGE or needed.value <= size:
                break
            # Counters may grow a digit before the next call: some room more.
            size = needed.value + 256
        reply = buf.value.decode(errors="replace")
        if err == errno.EINVAL and reply.startswith("error"):
            text = reply.rstrip("\n")
            e = BridgeCommandError(errno.EINVAL, f"shmif_bridge_command {line!r} on {self.name}: "
                                                 f"{text}")
            e.reply, e.command = text, line
            raise e
        if err:
            raise _error(err, "shmif_bridge_command", self.name)
        return reply[: -len(_OK)] if reply.endswith(_OK) else reply

    # -- impairment commands ------------------------------------------------

    def show(self, direction: Optional[str] = None) -> dict[str, Union[int, str]]:
        """The seed and the impairment settings per direction, as words for
        set(): {'seed': 7, 'LR': 'loss 5% delay 20ms', 'RL': 'none'}
        (direction 'LR' or 'RL': that one only)."""
        out: dict[str, Union[int, str]] = {}
        for line in self.command(" ".join(["show"] + _direction_word(direction))).splitlines():
            key, _, value = line.partition(" ")
            out[key] = int(value) if key == "seed" else value
        return out

    def set(self, words: Union[str, Iterable[str]], direction: Optional[str] = None) -> None:
        """Change impairment settings: words as for the impair option
        ("loss 5% delay 20ms", or a list of words), in direction 'LR' (bus
        to endpoint), 'RL' or 'both' (the default; the words LR, RL and
        both inside words switch too). Frames already scheduled keep their
        fate."""
        self.command(" ".join(["set"] + _direction_word(direction)
                              + [w.decode() for w in _impair_words(words)]))

    def flap(self, state: Union[str, float], duty: Union[str, float, None] = None,
             direction: Optional[str] = None) -> None:
        """Take the link down ("down") or up ("up") now, flap it on a
        schedule (state a period, "2s" or seconds, and duty the share of it
        the link is up, "80%" or a percentage such as 80), or stop the
        schedule with the link up ("off")."""
        if isinstance(state, str) and state.lower() in ("down", "up", "off"):
            if duty is not None:
                raise ValueError(f"flap {state!r} takes no duty cycle")
            words = [state.lower()]
        else:
            if duty is None:
                raise ValueError("flap PERIOD needs a duty cycle (the share of the period up)")
            words = [_time_word(state, "flap period"), _percent_word(duty, "flap duty cycle")]
        self.command(" ".join(["flap"] + _direction_word(direction) + words))

    def counters(self, direction: Optional[str] = None, reset: bool = False,
                 ) -> dict[str, dict[str, tuple[int, int]]]:
        """The impairment stage's counters as (frames, bytes) per cause, per
        direction: {'LR': {'in': (3, 180), 'out': (2, 120), 'lost': (1, 60),
        ...}, 'RL': {...}}. The causes are in, out, queued, lost,
        duplicated, corrupted, reordered, delayed, limit, mtu, down and
        closed (see shmif_bridge(1)). reset zeroes them after reading."""
        words = ["counters"] + _direction_word(direction) + (["reset"] if reset else [])
        return _parse_counters(self.command(" ".join(words)))

    # -- life ---------------------------------------------------------------

    def __enter__(self) -> "Bridge":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Only reached with no call in flight: a call holds a reference.
        try:
            if self._closed:
                return
            warnings.warn(f"unclosed shmif {self.name} to {self._endpoint}", ResourceWarning,
                          source=self)
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        side = self._bus if self._interface is None else self._interface.name
        state = " closed" if self._closed else ""
        return f"<shmif.Bridge {self._handle} {side} <-> {self._endpoint}{state}>"


def bridge(bus: PathLike, endpoint: str, *, learning: bool = False,
           ageing: Optional[float] = None, no_repeat_guard: bool = False,
           mode: Optional[int] = None, seed: Optional[int] = None,
           control: Optional[PathLike] = None, control_mode: Optional[int] = None,
           impair_log: Optional[PathLike] = None,
           impair: Union[str, Iterable[str], None] = None) -> Bridge:
    """Attach a new interface to the bus file at bus (made if needed, with
    mode, default 0644 under the umask) and bridge it to endpoint, a URL of
    shmif_bridge(1): "shmif:///tmp/bus2", "stream://unix:/path",
    "stream://listen:tcp:5555", "tap://tap0", "udp://5000->192.0.2.2:5000",
    "vde:///tmp/vde.ctl", "vxlan://192.0.2.2/vni=42", ...

    learning: forward unicast frames only toward their destination
    (ageing: seconds a learned address is kept, 300). no_repeat_guard:
    forward identical frames read within 20 ms from one side (only for
    networks without loops). impair: impairment words, netem's and
    wirefilter's, with LR (bus to endpoint), RL or both choosing the
    direction of the words after them: "loss 5% delay 20ms 5ms",
    "LR rate 10mbit RL loss 1%"; "" makes a stage that passes everything,
    to be changed with set(). seed: the seed of its random choices;
    control: a unix socket path serving the commands of command() (mode
    control_mode, 0o600); impair_log: a file of one line per frame saying
    what the stage did to it. Each of those four makes an impairment stage.

    Values that would not be one word of the options string (whitespace,
    NUL) are a ValueError before anything is made; the library answers
    unknown schemes, malformed URLs and bad impairment words with
    OSError(EINVAL), and the endpoint's own failures with their errno
    (ECONNREFUSED, EADDRINUSE, EPERM, ELIBACC for vde:// without
    libvdeplug, ...).
    """
    p = _encode_path(bus)
    ep = _endpoint(endpoint)
    opts = _options(learning=learning, ageing=ageing, no_repeat_guard=no_repeat_guard,
                    mode=mode, seed=seed, control=control, control_mode=control_mode,
                    impair_log=impair_log, impair=impair)
    handle = ctypes.c_int()
    lib = _lib.load()
    with _handles_lock:
        err = lib.shmif_bridge_open(p, ep, opts, ctypes.byref(handle))
        if err:
            raise _error(err, "shmif_bridge_open", f"{os.fsdecode(p)} to {os.fsdecode(ep)}")
        b = Bridge(handle.value, os.fsdecode(ep), os.fsdecode(p))
    _notify_attach(p)
    return b


def attach(ifc: "Interface", endpoint: str, **options: Any) -> Bridge:
    """Interface.bridge()."""
    ep = _endpoint(endpoint)
    opts = _options(**options)
    handle = ctypes.c_int()
    with _handles_lock:
        err = ifc._call("shmif_bridge_attach", ep, opts, ctypes.byref(handle))
        if err:
            raise _error(err, "shmif_bridge_attach", f"{ifc.name} to {os.fsdecode(ep)}")
        return Bridge(handle.value, os.fsdecode(ep), None, ifc)
