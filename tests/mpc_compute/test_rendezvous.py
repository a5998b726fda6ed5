"""The link rendezvous: three parties meet on their link ports, in any start order, and leave together
only once every rendezvous listener is closed; strangers and absent peers are handled."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from mpc_compute import rendezvous
from tests.fixtures.local_parties import free_ports


def meet_all(addresses: list[str], delays: list[float], link_ids: tuple[str, ...] = ("dx-job-7",) * 3,
             timeout: float = 20.0, ranks: list[int] | None = None):
    """Start party i (of `ranks`, default all) after delays[i] on link link_ids[i]; returns per rank
    (start, leave, error)."""
    results: dict[int, tuple[float, float, BaseException | None]] = {}

    def party(rank: int) -> None:
        time.sleep(delays[rank])
        start = time.monotonic()
        try:
            rendezvous.meet(rank, addresses, link_ids[rank], timeout)
            results[rank] = (start, time.monotonic(), None)
        except BaseException as exc:  # reported to the test below
            results[rank] = (start, time.monotonic(), exc)

    threads = [threading.Thread(target=party, args=(r,)) for r in (ranks or range(len(addresses)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    return results


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("delays", [[0.0, 0.0, 0.0], [0.0, 0.3, 0.6], [0.6, 0.0, 0.3]])
def test_parties_started_apart_leave_only_after_the_last_arrives_and_free_their_ports(delays):
    ports = free_ports(3)
    results = meet_all([f"127.0.0.1:{p}" for p in ports], delays)
    assert sorted(results) == [0, 1, 2] and all(err is None for _, _, err in results.values()), results
    last_start = max(start for start, _, _ in results.values())
    assert all(leave >= last_start for _, leave, _ in results.values())
    # every rendezvous listener is closed when anyone leaves: brpc can bind the ports at once
    assert not any(listening(p) for p in ports)
    for p in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("", p))


def test_a_stranger_and_another_links_hello_are_reset_and_the_meeting_still_happens():
    ports = free_ports(3)
    addresses = [f"127.0.0.1:{p}" for p in ports]
    answers = []

    def stranger() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", ports[1]), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.1\r\n\r\n")  # what a brpc or HTTP client would send
                    answers.append(s.recv(16))
                    return
            except OSError:
                time.sleep(0.02)

    t = threading.Thread(target=stranger)
    t.start()
    results = meet_all(addresses, [0.0, 0.2, 0.5])
    t.join()
    assert all(err is None for _, _, err in results.values()), results
    assert answers == [b""] or answers == []  # reset or closed: never a reply, never a hang
    # a party of another link (another job) does not count as a peer
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    results = meet_all(addresses, [0.0, 0.0, 0.0], ("dx-job-7", "dx-job-7", "dx-job-8"), timeout=1.5)
    assert all(isinstance(err, rendezvous.RendezvousTimeout) for _, _, err in results.values()), results
    assert results[0][2].missing == [2] and results[2][2].missing == [0, 1]


def test_an_absent_peer_times_out_naming_it():
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    results = meet_all(addresses, [0.0, 0.0, 0.0], timeout=1.0, ranks=[0, 1])
    for rank in (0, 1):
        err = results[rank][2]
        assert isinstance(err, rendezvous.RendezvousTimeout) and err.missing == [2], results
