"""What the bus lets subscribers hold: the bounds behind issue 18's subscription flood.

One local client sending 150,000 distinct subscriptions a second grew a plain PUB socket to
1.36 GB and stalled delivery: libzmq keeps every subscription of every connection in a trie (about
1 KB each for random topics), in XPUB manual mode too, until that connection goes away. No socket
option bounds it, so the bus bounds it itself, per connection, from what it reads:

- `SubscriptionGate`: which subscriptions are applied to the publishing trie. Only a prefix of a
  topic the daemon may publish ("<kind>.<camera>" for the configured cameras and every event kind)
  can ever match; those always apply, and at most FOREIGN_SUBSCRIPTIONS others (a camera not
  configured yet, say). The rest match nothing, as they would have anyway, and are counted. A
  reload's new camera list applies at once (BusSink.set_cameras).
- `ConnectionLedger`: live subscriptions per connection (libzmq tells which file descriptor a
  message came from: ZMQ_SRCFD). A connection holding more than PER_CONNECTION, or the biggest one
  while all together hold more than TOTAL, is cut (`cut_connection`): libzmq then frees its
  subscriptions. Real subscribers, holding a few each, are never cut and keep receiving.
- `unread_bytes`: what a connection has waiting in the kernel. A subscriber sends a few bytes a
  minute; one with more than UNREAD_LIMIT waiting sends faster than the bus reads, a flood, and is
  cut before libzmq takes it in (a closed flooding connection's leftovers too).

These classes are pure (no sockets); the bus sink's socket thread feeds them.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import struct
import termios
from typing import Iterable

from alprd.derived_events import ALL_KINDS

log = logging.getLogger(__name__)

MAX_SUBSCRIPTION_BYTES = 256   # a topic is "<kind>.<camera id of <= 64 chars>": far below
MAX_MESSAGE_BYTES = 65536      # any message a subscriber sends (subscriptions, CurveZMQ handshake)
FOREIGN_SUBSCRIPTIONS = 256    # distinct applied subscriptions that match no configured camera
PER_CONNECTION = 1024          # live subscriptions one connection may hold (~1 MB in libzmq)
TOTAL = 16384                  # ... all connections together (~17 MB)
UNREAD_LIMIT = 65536           # bytes one connection may have waiting in the kernel


class SubscriptionGate:
    """Which subscriptions the XPUB socket applies (see the module doc)."""

    def __init__(self, cameras: Iterable[str] = (), kinds: Iterable[str] = ALL_KINDS,
                 foreign: int = FOREIGN_SUBSCRIPTIONS) -> None:
        self.kinds = tuple(kinds)
        self.foreign_limit = foreign
        self.refused = 0
        self._foreign: set[bytes] = set()
        self._known: set[bytes] = set()
        self.set_cameras(cameras)

    def set_cameras(self, cameras: Iterable[str]) -> None:
        """The configured cameras (at the start, and after each reload): their topics' prefixes
        always apply; those that took a foreign slot before give it back."""
        topics = [f"{k}.{c}".encode("utf-8") for k in self.kinds for c in cameras]
        topics += [f"{k}.".encode("utf-8") for k in self.kinds]
        self._known = {t[:i] for t in topics for i in range(len(t) + 1)}
        self._foreign -= self._known

    def allow(self, topic: bytes) -> bool:
        if topic in self._known or topic in self._foreign:
            return True
        if len(self._foreign) < self.foreign_limit and len(topic) <= MAX_SUBSCRIPTION_BYTES:
            self._foreign.add(topic)
            return True
        self.refused += 1
        return False

    def applied(self, topic: bytes) -> bool:
        """Whether `topic` may be in the trie (allowed now or before): only those need removing."""
        return topic in self._known or topic in self._foreign

    @property
    def foreign(self) -> int:
        return len(self._foreign)


class ConnectionLedger:
    """Live subscriptions per connection (file descriptor), and which connection to cut."""

    def __init__(self, per_connection: int = PER_CONNECTION, total: int = TOTAL) -> None:
        self.per_connection = per_connection
        self.total_limit = total
        self.held: dict[int, int] = {}
        self.total = 0
        self.cut = 0  # connections cut so far

    def opened(self, fd: int) -> None:
        self.closed(fd)
        self.held[fd] = 0

    def closed(self, fd: int) -> None:
        self.total -= self.held.pop(fd, 0)

    def subscribed(self, fd: int) -> int | None:
        """Count one subscription of `fd`; returns the connection to cut, if one must go."""
        n = self.held.get(fd, 0) + 1
        self.held[fd] = n
        self.total += 1
        if n > self.per_connection:
            return fd
        if self.total > self.total_limit:
            return max(self.held, key=self.held.__getitem__)
        return None

    def unsubscribed(self, fd: int) -> None:
        if self.held.get(fd, 0) > 0:
            self.held[fd] -= 1
            self.total -= 1


def local_address(endpoint: str):
    """What getsockname() of a connection accepted on this bound endpoint returns, as far as it
    can be known: the port for tcp://, the path for ipc://, else None."""
    scheme, _, rest = endpoint.partition("://")
    if scheme == "tcp":
        port = rest.rsplit(":", 1)[-1]
        return int(port) if port.isdigit() else None
    if scheme == "ipc":
        return rest
    return None


def unread_bytes(fd: int) -> int:
    """Bytes waiting in the kernel on a connection's descriptor (FIONREAD); 0 if it cannot say."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


@contextlib.contextmanager
def _connection(fd: int, local=None):
    """A duplicate of `fd` as a socket while it is still a connected stream socket on our own
    address (`local_address`), else None: a descriptor libzmq closed meanwhile and the process
    reused is left alone."""
    try:
        dup_fd = os.dup(fd)
    except OSError:
        yield None
        return
    try:
        dup = socket.socket(fileno=dup_fd)
    except OSError:
        os.close(dup_fd)
        yield None
        return
    try:
        ours = dup.type == socket.SOCK_STREAM
        if ours:
            dup.getpeername()
            name = dup.getsockname()
            ours = local is None or (name[1] if isinstance(name, tuple) else name) == local
    except OSError:
        ours = False
    try:
        yield dup if ours else None
    finally:
        dup.close()


def cut_connection(fd: int, local=None) -> bool:
    """Shut a subscriber's TCP/IPC connection down under libzmq's feet (it has no call to drop one
    peer of a bound socket): libzmq sees the end of the stream, ends that connection and frees its
    subscriptions. Only our own connections are touched (`_connection`)."""
    with _connection(fd, local) as conn:
        if conn is None:
            return False
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True


def connection_ended(fd: int, local=None) -> bool:
    """Whether a subscriber's connection has ended (its peer closed or reset it) or is no longer
    ours (libzmq closed the descriptor): either way libzmq is about to clean it up."""
    with _connection(fd, local) as conn:
        if conn is None:
            return True
        try:
            return not conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
