"""Job lanes: how many jobs a node runs at once, which one runs next, and the three nodes' agreement on it.

A node runs up to N jobs at once, one per lane, each lane on SPU link ports of its own. Every node
places a job in the same lane without talking: a job that reads a dataset under a differencing guard
goes to that dataset's lane (its manifest hash mod N; the lowest, for several), any other job j to
lane j mod N. Within a lane, jobs take turns in a fair order: the buyer this lane served least recently
goes first (a buyer it never served, first of all), then the lower job id. A buyer's burst of twenty
jobs holds another buyer's job back by one turn, where first come, first served would hold it back by
the whole burst.

The nodes agree on every turn. When a lane is free, each node proposes its next job in an `exchange`
(mpc_compute/rendezvous.py) on the lane's meeting ports: the job id and its fair-order key. Meetings
have ports of their own, apart from the lane's link ports: a meeting's hello could otherwise land on
a peer's SPU link still closing the lane's last job. When all three
propose the same job, it runs. When they differ (one node's chain watch has not seen a job yet, or a
node restarted and lost its lane's history), all three see the same proposals, and each proposes the
lowest (key, job id) among them next, as soon as it holds that job. Bounds, so nothing waits forever:
- a job the other nodes keep passing over for `patience_s` (they do not hold it, or cannot run it) is
  refused by this node's lane, with the ranks and what they proposed instead;
- a job a peer keeps asking for that this node never comes to hold is forgotten after as long;
- a lane meeting a peer does not come to within `meeting_timeout_s` refuses the job it was for.
A forged proposal costs time, never order or safety: a node runs only jobs it holds and has checked,
and computes their keys itself.

Jobs that read the same dataset under a differencing guard never run at once on one node: each one's
guard must see the cohorts the others kept (node/guard_store.py). Sharing the dataset's lane, they
run one after the other in the agreed order. A job over several guarded datasets can sit in another
lane than some of them: against jobs of other lanes, jobs over a shared guarded dataset go in job-id
order (the chain's), so no two lanes wait on each other. A turn the nodes agreed on while an earlier
job over the same dataset is still finishing here waits for it to end before it starts.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from mpc_compute import rendezvous

log = logging.getLogger("dx.node.lanes")

# lane L of a node links on its lane-0 port + L * LANE_PORT_STEP (three nodes on one host stay apart);
# the lanes' meetings follow the lanes' links: lane L meets on its link port + N * LANE_PORT_STEP
LANE_PORT_STEP = 3
_PROPOSAL = struct.Struct("!qq")  # job id, fair-order key
_ROUND_PAUSE_S = 0.05


class LaneRefused(Exception):
    """The job lost its turn for good: the peers never met on its lane, or kept passing it over."""


def _shifted(row: list[str], by: int) -> list[str]:
    out = []
    for address in row:
        host, _, port = address.rpartition(":")
        out.append(f"{host}:{int(port) + by}")
    return out


def lane_addresses(first: list[str], lanes: int, step: int = LANE_PORT_STEP) -> list[list[str]]:
    """Each lane's three link addresses, derived from lane 0's: port + lane * step."""
    return [_shifted(first, lane * step) for lane in range(lanes)]


def meeting_addresses(links: list[list[str]], step: int = LANE_PORT_STEP) -> list[list[str]]:
    """Each lane's three meeting addresses, derived from its links: port + lanes * step."""
    return [_shifted(row, len(links) * step) for row in links]


@dataclass(eq=False)
class Ticket:
    """One job's place in its lane."""

    job_id: int
    buyer: str
    datasets: frozenset[str]
    lane: int
    decided: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    granted: bool = False
    refusal: str | None = None
    passed_over_since: float | None = None


@dataclass
class _LaneState:
    served: dict[str, int] = field(default_factory=dict)  # buyer -> turn number it was last served at
    turns: int = 0
    wanted: int | None = None  # the job the last meeting chose that this node does not run yet
    wanted_since: float = 0.0
    forgotten: set[int] = field(default_factory=set)


Exchange = Callable[..., dict[int, bytes]]


class Lanes:
    """The node's lanes: `turn(...)` blocks until the job's lane runs it, by the three nodes' agreement.
    `addresses`: each lane's three meeting addresses."""

    def __init__(
        self,
        rank: int,
        addresses: list[list[str]],
        *,
        meeting_timeout_s: float = 30.0,
        patience_s: float = 20.0,
        exchange: Exchange = rendezvous.exchange,
    ) -> None:
        if not addresses:
            raise ValueError("a node needs at least one lane")
        self.rank, self.addresses = rank, addresses
        self.meeting_timeout_s, self.patience_s = meeting_timeout_s, patience_s
        self._exchange = exchange
        self._cond = threading.Condition()
        self._tickets: list[Ticket] = []
        self._lanes = [_LaneState() for _ in addresses]
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._serve, args=(lane,), name=f"lane-{lane}", daemon=True)
            for lane in range(len(addresses))
        ]
        for thread in self._threads:
            thread.start()

    @property
    def count(self) -> int:
        return len(self.addresses)

    def lane_of(self, job_id: int, datasets: frozenset[str] = frozenset()) -> int:
        """The guarded dataset's lane (the lowest manifest hash's), else job_id mod N: alike on every node."""
        if datasets:
            return int(min(datasets), 16) % self.count
        return job_id % self.count

    @contextmanager
    def turn(self, job_id: int, buyer: str | None, datasets: frozenset[str] = frozenset()) -> Iterator[int]:
        """Wait for the job's turn; yields its lane (its link addresses: `addresses[lane]`). The next job
        of the lane waits until the block exits. Raises LaneRefused when the job loses its turn."""
        datasets = frozenset(datasets)
        ticket = Ticket(job_id, (buyer or "").lower(), datasets, self.lane_of(job_id, datasets))
        with self._cond:
            self._tickets.append(ticket)
            self._cond.notify_all()
        try:
            ticket.decided.wait()
            if ticket.refusal is not None:
                raise LaneRefused(ticket.refusal)
            yield ticket.lane
        finally:
            with self._cond:
                self._tickets.remove(ticket)
                ticket.released.set()
                self._cond.notify_all()

    def queued(self) -> dict[int, list[int]]:
        """Each lane's jobs, running first: what the node's status shows."""
        with self._cond:
            return {
                lane: [t.job_id for t in sorted(self._tickets, key=lambda t: not t.granted) if t.lane == lane]
                for lane in range(self.count)
            }

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # ------------------------------------------------------------------ one lane's loop

    def _key(self, ticket: Ticket) -> int:
        return self._lanes[ticket.lane].served.get(ticket.buyer, -1) + 1

    def _conflicts(self, ticket: Ticket) -> list[Ticket]:
        """The live jobs over a guarded dataset `ticket` reads too."""
        return [
            other
            for other in self._tickets
            if other is not ticket and other.datasets & ticket.datasets and not other.released.is_set()
        ]

    def _runnable(self, ticket: Ticket) -> bool:
        """Not yet decided; no job over a shared guarded dataset runs here, and none of another lane with
        a lower id waits for its turn (within a lane, the lane's own order decides)."""
        if ticket.decided.is_set():
            return False
        return not any(
            other.granted or (other.lane != ticket.lane and other.job_id < ticket.job_id)
            for other in self._conflicts(ticket)
        )

    def _next(self, lane: int) -> Ticket | None:
        """The job this node proposes next on `lane`: the one the last meeting chose, if it runs here now,
        else the first in fair order. Waits for one; None once stopped."""
        state = self._lanes[lane]
        with self._cond:
            while not self._stopped:
                ready = [t for t in self._tickets if t.lane == lane and self._runnable(t)]
                held = {t.job_id for t in self._tickets if t.lane == lane}
                if state.wanted is not None and state.wanted not in held:
                    if time.monotonic() - state.wanted_since > self.patience_s:
                        log.warning(
                            "lane %d: the peers asked for job %d for %.0fs; this node does not hold it",
                            lane,
                            state.wanted,
                            self.patience_s,
                        )
                        state.forgotten.add(state.wanted)
                        state.wanted = None
                for t in ready:
                    if t.job_id == state.wanted:
                        return t
                if ready:
                    return min(ready, key=lambda t: (self._key(t), t.job_id))
                self._cond.wait(0.25)
        return None

    def _serve(self, lane: int) -> None:
        while (ticket := self._next(lane)) is not None:
            try:
                self._meet(lane, ticket)
            except Exception as exc:  # a lane must outlive any one meeting
                log.exception("lane %d: meeting for job %d failed", lane, ticket.job_id)
                self._decide(ticket, f"lane {lane}: the meeting for job {ticket.job_id} failed: {exc}")
            if ticket.granted:
                ticket.released.wait()

    def _meet(self, lane: int, ticket: Ticket) -> None:
        """One meeting of the lane's three nodes over `ticket`: run it, or learn what the others want."""
        state = self._lanes[lane]
        key = self._key(ticket)
        try:
            heard = self._exchange(
                self.rank,
                self.addresses[lane],
                f"dx-lane-{lane}",
                self.meeting_timeout_s,
                _PROPOSAL.pack(ticket.job_id, key),
            )
        except rendezvous.RendezvousTimeout as exc:
            self._decide(
                ticket,
                f"lane {lane}: peer node(s) {exc.missing} did not come to the lane's meeting within "
                f"{self.meeting_timeout_s:.0f}s to run job {ticket.job_id} (down, or not running it)",
            )
            return
        proposals = {rank: _PROPOSAL.unpack(raw[: _PROPOSAL.size]) for rank, raw in heard.items()}
        proposals[self.rank] = (ticket.job_id, key)
        if all(job == ticket.job_id for job, _ in proposals.values()):
            state.served[ticket.buyer] = state.turns
            state.turns += 1
            state.wanted = None
            self._decide(ticket, None)
            return
        winner = min(proposals.values(), key=lambda p: (p[1], p[0]))[0]
        now = time.monotonic()
        others = {r: job for r, (job, _) in proposals.items() if job != ticket.job_id}
        if winner == ticket.job_id:
            ticket.passed_over_since = ticket.passed_over_since or now
            if now - ticket.passed_over_since > self.patience_s:
                self._decide(
                    ticket,
                    f"lane {lane}: peer node(s) {sorted(others)} passed job {ticket.job_id} over for "
                    f"{self.patience_s:.0f}s (they proposed jobs {sorted(set(others.values()))}): they do "
                    "not hold it or cannot run it",
                )
        elif winner not in state.forgotten and winner != state.wanted:
            state.wanted, state.wanted_since = winner, now
        time.sleep(_ROUND_PAUSE_S)

    def _decide(self, ticket: Ticket, refusal: str | None) -> None:
        with self._cond:
            # agreed while an earlier job over the same dataset is still finishing here: let it end
            while refusal is None and any(other.granted for other in self._conflicts(ticket)):
                self._cond.wait(0.25)
            ticket.refusal = refusal
            ticket.granted = refusal is None
            ticket.decided.set()
            if refusal is not None:
                # not this lane's any more: its owner's `turn` removes it
                ticket.released.set()
            self._cond.notify_all()
