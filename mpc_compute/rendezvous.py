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
"""

from __future__ import annotations

import hashlib
import logging
import selectors
import socket
import struct
import time

log = logging.getLogger(__name__)

MAGIC = b"dx-rdv1"
CLOSED = b"C"
_HELLO = struct.Struct("!7s16sB")  # magic, link digest, sender rank
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


def meet(rank: int, addresses: list[str], link_id: str, timeout_s: float) -> float:
    """Meet every peer on the link ports; returns the seconds it took. Raises RendezvousTimeout."""
    digest = hashlib.sha256(link_id.encode()).digest()[:16]
    peers = [i for i in range(len(addresses)) if i != rank]
    started = time.monotonic()
    deadline = started + timeout_s
    sel = selectors.DefaultSelector()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("", _endpoint(addresses[rank])[1]))
    listener.listen(16)
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, "accept")
    outgoing: dict[int, socket.socket] = {}
    incoming: dict[int, socket.socket] = {}
    pending: dict[socket.socket, bytes] = {}  # accepted, hello not complete yet
    closed_by: set[int] = set()
    next_try = {p: started for p in peers}
    try:
        while True:
            now = time.monotonic()
            if now > deadline:
                # the peers never heard from; or, if all were, those still waiting for someone
                missing = [p for p in peers if p not in incoming] or [p for p in peers if p not in closed_by]
                raise RendezvousTimeout(missing, now - started)
            for p in peers:
                if p not in outgoing and now >= next_try[p]:
                    sock = _connect(addresses[p])
                    if sock is None:
                        next_try[p] = now + _RETRY_S
                    else:
                        sock.sendall(_HELLO.pack(MAGIC, digest, rank))
                        outgoing[p] = sock
            if listener is not None and len(outgoing) == len(peers) and len(incoming) == len(peers):
                sel.unregister(listener)
                listener.close()
                listener = None
                for sock in outgoing.values():
                    sock.sendall(CLOSED)
            if listener is None and closed_by == set(peers):
                return time.monotonic() - started
            for key, _ in sel.select(timeout=_RETRY_S):
                if key.data == "accept":
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, AttributeError):
                        continue
                    conn.setblocking(False)
                    pending[conn] = b""
                    sel.register(conn, selectors.EVENT_READ, "hello")
                    continue
                sock = key.fileobj
                try:
                    data = sock.recv(64)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if key.data == "hello":
                    _read_hello(sock, data, pending, incoming, closed_by, digest, peers, sel)
                elif data.startswith(CLOSED):
                    closed_by.add(key.data)
                    sel.unregister(sock)
                elif not data:  # a peer that hung up before saying "closed"
                    sel.unregister(sock)
    finally:
        for sock in [*outgoing.values(), *incoming.values(), *pending]:
            sock.close()
        if listener is not None:
            listener.close()
        sel.close()


def _connect(address: str) -> socket.socket | None:
    host, port = _endpoint(address)
    try:
        return socket.create_connection((host, port), timeout=1.0)
    except OSError:
        return None


def _read_hello(sock, data, pending, incoming, closed_by, digest, peers, sel) -> None:
    """Collect an accepted connection's hello; a wrong or unknown one is reset."""
    buf = pending.get(sock, b"") + data
    if not data or not MAGIC.startswith(buf[: len(MAGIC)]):
        sel.unregister(sock)
        pending.pop(sock, None)
        _reset(sock)
        return
    if len(buf) < _HELLO.size:
        pending[sock] = buf
        return
    magic, link, sender = _HELLO.unpack(buf[: _HELLO.size])
    pending.pop(sock, None)
    if magic != MAGIC or link != digest or sender not in peers or sender in incoming:
        sel.unregister(sock)
        _reset(sock)
        return
    incoming[sender] = sock
    # its "closed" may already be in this read
    sel.modify(sock, selectors.EVENT_READ, sender)
    if buf[_HELLO.size :].startswith(CLOSED):
        closed_by.add(sender)
        sel.unregister(sock)
