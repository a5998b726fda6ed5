"""Link rendezvous: the three parties meet on their link ports before brpc starts, so it starts together.

Why: a brpc party that finds a peer's port closed retries it only after brpc's 3-second health check.
Parties that start their links within ~50 ms of each other link in about 0.4 s; 100 ms or more apart,
in 3-4 s, and a job's three workers start as far apart as their nodes saw the chain (measured: session
notes of issue 14). So each party first meets the others with plain sockets on its own link port:

1. listen on the port; connect to each peer's port (retrying every 20 ms) and send a hello that names
   the link (a digest of its id) and the sender's rank;
2. once it has sent its hellos and received one from each peer, close the listener, then send "closed"
   on each of its outgoing connections;
3. once every peer has said "closed", every rendezvous listener is gone: close the sockets and return.

Step 3 is what lets brpc start at once: a fast party's brpc never reaches a peer's rendezvous listener
(which would swallow its handshake), and every party leaves within a message's delay of the others.
A connection whose first bytes are not this link's hello is reset. The hellos carry nothing secret;
a forged one can only make a party start brpc early, which costs speed, never safety (brpc's own link,
TLS included, authenticates the parties).

`exchange` is the same meeting with a short payload in each hello, returned per peer: the node's job
lanes (node/lanes.py) use it to agree which job a lane runs next. `meet` is `exchange` with none.
"""

from __future__ import annotations

import hashlib
import logging
import selectors
import socket
import struct
import time

log = logging.getLogger(__name__)

MAGIC = b"dx-rdv2"
CLOSED = b"C"
PAYLOAD_BYTES = 16
_HELLO = struct.Struct(f"!7s16sB{PAYLOAD_BYTES}s")  # magic, scope digest, sender rank, payload
_RETRY_S = 0.02


class RendezvousTimeout(TimeoutError):
    """Not every peer met this party in time; `missing` names their ranks."""

    def __init__(self, missing: list[int], waited: float) -> None:
        super().__init__(f"peers {missing} did not meet on their link ports within {waited:.1f}s")
        self.missing = missing


def _endpoint(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _reset(sock: socket.socket) -> None:
    """Close with RST: the other side learns at once that this is not the listener it wanted."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def link_window_s(connect_retry_times: int, connect_retry_interval_ms: int) -> float:
    """How long a party waits for its peers to show up: the bound of brpc's own connect retries (each
    retry waits its interval plus about 1.2 s of brpc's backoff)."""
    return connect_retry_times * (connect_retry_interval_ms / 1000 + 1.2)


def meet(rank: int, addresses: list[str], link_id: str, timeout_s: float) -> float:
    """Meet every peer on the link ports; returns the seconds it took. Raises RendezvousTimeout."""
    started = time.monotonic()
    exchange(rank, addresses, link_id, timeout_s)
    return time.monotonic() - started


def exchange(
    rank: int, addresses: list[str], scope: str, timeout_s: float, payload: bytes = b""
) -> dict[int, bytes]:
    """Meet every peer on the ports of `addresses` under `scope`; each peer's payload by rank.

    Only hellos of the same scope count: another scope's (another job's link, another lane) are reset.
    Raises RendezvousTimeout, or OSError when the port cannot be listened on.
    """
    if len(payload) > PAYLOAD_BYTES:
        raise ValueError(f"a rendezvous payload is at most {PAYLOAD_BYTES} bytes, got {len(payload)}")
    meeting = _Meeting(rank, addresses, hashlib.sha256(scope.encode()).digest()[:16])
    try:
        return meeting.run(payload.ljust(PAYLOAD_BYTES, b"\0"), timeout_s)
    finally:
        meeting.close()


class _Meeting:
    """The sockets and progress of one party's meeting."""

    def __init__(self, rank: int, addresses: list[str], digest: bytes) -> None:
        self.rank, self.addresses, self.digest = rank, addresses, digest
        self.peers = [i for i in range(len(addresses)) if i != rank]
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind(("", _endpoint(addresses[rank])[1]))
            self.listener.listen(16)
        except OSError:
            self.listener.close()
            self.sel.close()
            raise
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.outgoing: dict[int, socket.socket] = {}
        self.incoming: dict[int, socket.socket] = {}
        self.payloads: dict[int, bytes] = {}
        self.pending: dict[socket.socket, bytes] = {}  # accepted, hello not complete yet
        self.closed_by: set[int] = set()

    def run(self, payload: bytes, timeout_s: float) -> dict[int, bytes]:
        started = time.monotonic()
        deadline = started + timeout_s
        self.next_try = {p: started for p in self.peers}
        hello = _HELLO.pack(MAGIC, self.digest, self.rank, payload)
        while True:
            now = time.monotonic()
            if now > deadline:
                # the peers never heard from; or, if all were, those still waiting for someone
                missing = [p for p in self.peers if p not in self.incoming] or [
                    p for p in self.peers if p not in self.closed_by
                ]
                raise RendezvousTimeout(missing, now - started)
            for p in self.peers:
                if p not in self.outgoing and now >= self.next_try[p]:
                    sock = _connect(self.addresses[p])
                    if sock is not None and not _send(sock, hello):
                        sock.close()
                        sock = None
                    if sock is None:
                        self.next_try[p] = now + _RETRY_S
                    else:
                        self.outgoing[p] = sock
                        # the peer never writes on it: readable means it was reset or closed
                        self.sel.register(sock, selectors.EVENT_READ, ("out", p))
            everyone = len(self.peers)
            if self.listener is not None and len(self.outgoing) == everyone == len(self.incoming):
                self.sel.unregister(self.listener)
                self.listener.close()
                self.listener = None
                for p, sock in list(self.outgoing.items()):
                    if not _send(sock, CLOSED):
                        self._lost(p)
            if self.listener is None and self.closed_by == set(self.peers):
                return dict(self.payloads)
            for key, _ in self.sel.select(timeout=_RETRY_S):
                self._on_readable(key)

    def _on_readable(self, key: selectors.SelectorKey) -> None:
        if key.data == "accept":
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, AttributeError):
                return
            conn.setblocking(False)
            self.pending[conn] = b""
            self.sel.register(conn, selectors.EVENT_READ, "hello")
            return
        sock = key.fileobj
        try:
            data = sock.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if isinstance(key.data, tuple):  # our connection to a peer ended
            self._lost(key.data[1])
        elif key.data == "hello":
            self._read_hello(sock, data)
        elif data.startswith(CLOSED):
            self.closed_by.add(key.data)
            self.sel.unregister(sock)
        elif not data:  # a peer that hung up before saying "closed"
            self.sel.unregister(sock)

    def _read_hello(self, sock: socket.socket, data: bytes) -> None:
        """Collect an accepted connection's hello; a wrong or unknown one is reset."""
        buf = self.pending.get(sock, b"") + data
        if not data or not MAGIC.startswith(buf[: len(MAGIC)]):
            self._drop(sock)
            return
        if len(buf) < _HELLO.size:
            self.pending[sock] = buf
            return
        magic, digest, sender, payload = _HELLO.unpack(buf[: _HELLO.size])
        if magic != MAGIC or digest != self.digest or sender not in self.peers or sender in self.incoming:
            self._drop(sock)
            return
        self.pending.pop(sock, None)
        self.incoming[sender] = sock
        self.payloads[sender] = payload
        # its "closed" may already be in this read
        self.sel.modify(sock, selectors.EVENT_READ, sender)
        if buf[_HELLO.size :].startswith(CLOSED):
            self.closed_by.add(sender)
            self.sel.unregister(sock)

    def _lost(self, peer: int) -> None:
        """Our connection to `peer` was reset or closed. Before our "closed" went out, the hello reached
        someone else on its port (a job's link, a listener that was closing): connect again. After it,
        the peer has heard us and left; its own "closed" is on its way."""
        sock = self.outgoing.get(peer)
        if sock is None or sock.fileno() < 0:
            return
        self.sel.unregister(sock)
        sock.close()
        if self.listener is not None:
            del self.outgoing[peer]
            self.next_try[peer] = time.monotonic() + _RETRY_S

    def _drop(self, sock: socket.socket) -> None:
        self.sel.unregister(sock)
        self.pending.pop(sock, None)
        _reset(sock)

    def close(self) -> None:
        for sock in [*self.outgoing.values(), *self.incoming.values(), *self.pending]:
            sock.close()
        if self.listener is not None:
            self.listener.close()
        self.sel.close()


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def _connect(address: str) -> socket.socket | None:
    host, port = _endpoint(address)
    try:
        return socket.create_connection((host, port), timeout=1.0)
    except OSError:
        return None
