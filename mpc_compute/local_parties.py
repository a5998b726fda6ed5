"""Three real SPU party processes on loopback, one fresh set per job (tests, benchmarks, local demos)."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import resource
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from mpc_compute.party import WORLD_SIZE, PartyError, run_party


class LocalJobError(RuntimeError):
    """At least one local party failed; `errors` maps rank -> the exception it raised."""

    def __init__(self, errors: dict[int, BaseException]):
        self.errors = errors
        detail = "; ".join(f"rank {r}: {type(e).__name__}: {e}" for r, e in sorted(errors.items()))
        super().__init__(f"local SPU job failed: {detail}")


@dataclass
class PartyOutcome:
    rank: int
    outputs: dict[str, bytes] | None = None
    error: BaseException | None = None
    seconds: float = 0.0
    peak_rss_kb: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def free_ports(count: int) -> list[int]:
    """Ports the OS hands out for port 0 (kept bound until all are picked, so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _portable_error(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return PartyError(f"{type(exc).__name__}: {exc}")


def _party_main(rank: int, conn, job: dict[str, Any]) -> None:
    """One party process: run one job, send the outcome back, exit (process exit frees every share)."""
    # SPU/brpc log to stdout from C++; keep the parent's stdout for its own output (e.g. --json)
    sys.stdout.flush()
    os.dup2(2, 1)
    started = time.perf_counter()
    outcome = PartyOutcome(rank)
    try:
        outcome.outputs = run_party(rank, job["addresses"], job["program"], job["inputs"], **job["kwargs"])
    except BaseException as exc:
        outcome.error = _portable_error(exc)
    outcome.seconds = time.perf_counter() - started
    outcome.peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send(outcome)
    conn.close()


class LocalParties:
    """Runs each job as three fresh party processes forked from a server that preloaded SPU.

    A fresh process per job and party mirrors a node's job isolation, keeps a brpc fault in one job
    from leaking into the next, and makes peak RSS a per-job figure; the preloading forkserver keeps
    the start-up cost (importing SPU and jax) out of every job.
    """

    def __init__(self) -> None:
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["mpc_compute.party"])
        self._live: list = []

    def run_outcomes(
        self,
        programs: list,
        inputs: list[dict[str, bytes]],
        *,
        ranks: list[int] | None = None,
        addresses: list[str] | None = None,
        per_rank_kwargs: list[dict[str, Any]] | None = None,
        timeout: float = 600.0,
        **kwargs: Any,
    ) -> list[PartyOutcome]:
        """Run one job on `ranks` (default all three); programs/inputs are per rank."""
        ranks = list(range(WORLD_SIZE)) if ranks is None else ranks
        addresses = addresses or [f"127.0.0.1:{p}" for p in free_ports(WORLD_SIZE)]
        procs, conns = [], []
        for rank in ranks:
            extra = dict(kwargs, **(per_rank_kwargs[rank] if per_rank_kwargs else {}))
            job = {"addresses": addresses, "program": programs[rank], "inputs": inputs[rank], "kwargs": extra}
            parent, child = self._ctx.Pipe(duplex=False)
            proc = self._ctx.Process(target=_party_main, args=(rank, child, job), name=f"spu-party-{rank}")
            proc.start()
            child.close()
            procs.append(proc)
            conns.append(parent)
        self._live = procs
        deadline = time.monotonic() + timeout
        outcomes = []
        try:
            for rank, conn, proc in zip(ranks, conns, procs, strict=True):
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"local party {rank} gave no answer within {timeout}s")
                try:
                    outcomes.append(conn.recv())
                except EOFError:
                    proc.join(timeout=5)
                    outcomes.append(
                        PartyOutcome(
                            rank,
                            error=PartyError(
                                f"party {rank} process died (exit code {proc.exitcode}) before answering"
                            ),
                        )
                    )
        finally:
            self._reap()
            for conn in conns:
                conn.close()
        return outcomes

    def run(self, program, inputs: list[dict[str, bytes]], **kwargs: Any) -> list[dict[str, bytes]]:
        """The three parties' output shares (rank order); raises LocalJobError if any party failed."""
        outcomes = self.run_outcomes([program] * WORLD_SIZE, inputs, **kwargs)
        errors = {o.rank: o.error for o in outcomes if o.error is not None}
        if errors:
            raise LocalJobError(errors)
        return [o.outputs for o in outcomes]

    def _reap(self) -> None:
        for proc in self._live:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self._live = []

    def close(self) -> None:
        self._reap()

    def __enter__(self) -> LocalParties:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
