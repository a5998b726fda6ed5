"""A compute node's job execution: authorize, fetch public documents, check, hand off to a worker, attest.

Stages of an attempt (each recorded with its time in the job's timeline):
authorized -> spec_fetched -> manifests_fetched -> program_checked -> queued (in its lane) -> turn (the
three nodes agreed to run it now) -> guard_planned -> shares_verified -> computed ->
output_sealed -> destroyed -> output_held -> attested -> awaiting_completion -> output_published ->
destruction_attested, or failed/refused with the error.
The parent process only handles public data (spec, manifests, program, sealed output hash); the
worker child process (node/worker.py) does everything that touches plaintext and exits. A failed
job can be run again (a new attempt with a new worker).

Deadlines: a job whose on-chain deadline is less than `deadline_margin_s` away is refused (rule
"deadline_margin"), when triggered and again before its worker starts. The sealed output is kept in
the node's work dir (it is ciphertext) and published to the blob store only once the job is COMPLETED
on-chain: any two of the three replicated output shares reconstruct the result, so publishing after
one's own attestation would hand a buyer the result of a job it can still reclaim. A job that ends
REFUNDED or DISPUTED, or whose deadline passes first, never has its output published; the local copy
is deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from multiprocessing import forkserver
from pathlib import Path

from dx_core.cid import cid_from_digest
from dx_core.keystore import Identity
from mpc_compute.attestation import sign_attestation, sign_destruction
from mpc_compute.blob_source import open_blob_source
from mpc_compute.job_spec import JobSpec, JobSpecError, column_indices, compile_for, inputs_digest
from mpc_compute.manifest import Manifest, ManifestError
from mpc_compute.node import guard_store
from mpc_compute.node.authorization import AttestationSink, Authorization, JobRecord, NotAuthorized
from mpc_compute.node.lanes import LaneRefused, Lanes, meeting_addresses
from mpc_compute.node.worker import InputPlan, WorkOrder, worker_main
from mpc_compute.policy import PolicyViolation
from mpc_compute.rendezvous import link_window_s

log = logging.getLogger("dx.node.service")
# Workers fork from a forkserver that imported these once: a fresh process per job still, without paying
# SPU's and JAX's import (seconds) in every job. The server holds no secret: keys come down each pipe.
WORKER_PRELOAD = ["mpc_compute.node.worker", "mpc_compute.party"]
# An attempt stopped at one of these stages had attested its output: after a restart it goes on waiting.
RESUMABLE_STAGES = ("attested", "awaiting_completion", "resumed")


class JobRefused(Exception):
    """The job must not run: its documents, shares or program do not check out, or a policy forbids it.
    `rule` names what refused it (a policy rule, or the node check); the on-chain refusal carries it."""

    def __init__(self, message: str, rule: str = "node-check") -> None:
        super().__init__(message)
        self.rule = rule


class JobConflict(Exception):
    """The job is running or has already succeeded."""


class DeadlineRefused(JobRefused):
    """The job's on-chain deadline is closer than the node's margin (rule deadline_margin)."""


@dataclass
class NodeConfig:
    index: int
    # the three nodes' SPU link addresses, one row per lane: the node runs one job per lane at once
    spu_lanes: list[list[str]]
    blobs: str
    work_dir: Path
    # where the three nodes agree on each lane's next job (node/lanes.py); default: after the links
    lane_meetings: list[list[str]] | None = None
    recv_timeout_ms: int = 60_000
    connect_retry_times: int = 30
    connect_retry_interval_ms: int = 500
    job_timeout_s: float = 3600.0
    tls: object | None = None
    # refuse a job whose on-chain deadline is closer than this: it could not attest in time
    deadline_margin_s: float = 60.0
    # waiting for COMPLETED: how often to read the chain, and how long past the deadline (wall clock)
    # to keep waiting when the chain mines no block that would settle it
    settle_poll_s: float = 1.0
    settle_grace_s: float = 300.0


@dataclass
class JobState:
    job_id: int
    status: str = "queued"
    attempt: int = 0
    timeline: list[dict] = field(default_factory=list)
    error: str | None = None
    attestation: dict | None = None
    destruction: dict | None = None
    chain: dict = field(default_factory=dict)
    # the part of `error` the control API may show: built from chain facts and the node's rules only
    public_error: str | None = None
    on_change: object = field(default=None, repr=False, compare=False)

    def stage(self, name: str, detail: str | None = None, at: float | None = None) -> None:
        entry = {"stage": name, "at": at or time.time(), "attempt": self.attempt}
        if detail:
            entry["detail"] = detail
        self.timeline.append(entry)
        if self.on_change is not None:
            self.on_change()

    def to_dict(self) -> dict:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "attempt": self.attempt,
            "timeline": self.timeline,
            "error": self.error,
            "attestation": self.attestation,
            "destruction": self.destruction,
            "chain": self.chain,
            "public_error": self.public_error,
        }

    def public_dict(self) -> dict:
        """What the control API shows on a chain: no more than the chain already does (stage names and
        times, status, transactions); no attestation, output CID, stage details or error text."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "attempt": self.attempt,
            "timeline": [{k: e[k] for k in ("stage", "at", "attempt") if k in e} for e in self.timeline],
            "error": self.public_error,
            "chain": self.chain,
        }


class NodeService:
    def __init__(
        self, config: NodeConfig, identity: Identity, authorization: Authorization, sink: AttestationSink
    ) -> None:
        self.config, self.identity, self.authorization, self.sink = config, identity, authorization, sink
        self.blobs = open_blob_source(config.blobs, identity.account)
        self.jobs: dict[int, JobState] = {}
        self._lock = threading.Lock()
        # one job per lane at a time, in the order the three nodes agree on (node/lanes.py)
        meetings = config.lane_meetings or meeting_addresses(config.spu_lanes)
        window = link_window_s(config.connect_retry_times, config.connect_retry_interval_ms)
        self.lanes = Lanes(config.index, meetings, meeting_timeout_s=window)
        self._threads: dict[int, threading.Thread] = {}
        self.kept_cohorts = guard_store.GuardStore(Path(config.work_dir) / "guard")
        self._jobs_dir = Path(config.work_dir) / "jobs"
        self._jobs_dir.mkdir(parents=True, exist_ok=True)
        self._workers = multiprocessing.get_context("forkserver")
        self._workers.set_forkserver_preload(WORKER_PRELOAD)
        # warm it now, off the start-up path, so that the first job does not wait for the imports either
        threading.Thread(target=forkserver.ensure_running, name="worker-forkserver", daemon=True).start()
        self._load_jobs()
        for thread in self._threads.values():  # attempts that were awaiting completion when it stopped
            thread.start()

    # ------------------------------------------------------------------ status, kept across restarts

    def _load_jobs(self) -> None:
        for path in sorted(self._jobs_dir.glob("*.json")):
            doc = json.loads(path.read_text())
            state = JobState(**doc)
            self.jobs[state.job_id] = state
            if state.status not in ("queued", "running"):
                continue
            held = self._held_path(state)
            stages = [e["stage"] for e in state.timeline if e.get("attempt") == state.attempt]
            if held.exists() and state.attestation and stages and stages[-1] in RESUMABLE_STAGES:
                thread = threading.Thread(
                    target=self._resume_publication,
                    args=(state, held),
                    name=f"job-{state.job_id}",
                    daemon=True,
                )
                self._threads[state.job_id] = thread
                continue
            held.unlink(missing_ok=True)  # not attested: nothing may ever publish it; a new attempt may run
            state.status, state.error = "failed", "the node restarted during this attempt"
            state.public_error = state.error
            state.stage("failed", state.error)
            self.save(state)

    def save(self, state: JobState) -> None:
        """Persist a job's public status (no secrets, no shares) so GET /jobs survives a restart."""
        path = self._jobs_dir / f"{state.job_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.to_dict()))
        tmp.replace(path)

    def status(self, job_id: int) -> JobState | None:
        return self.jobs.get(job_id)

    def trigger(self, job_id: int, claim: dict | None = None) -> JobState:
        """Start an attempt in the background; JobConflict if one runs or the job is done.

        The caller must be trusted (the chain watcher in process, or the control API after checking the
        operator's signature). A job the chain does not authorize (NotAuthorized) or whose deadline is
        too close (JobRefused) is refused here, before any state, thread or file exists for it.
        """
        self.authorization.authorize(job_id, claim)
        self.check_deadline(job_id)
        with self._lock:
            state = self.jobs.get(job_id)
            if state is not None and state.status in ("queued", "running"):
                raise JobConflict(f"job {job_id} is {state.status} (attempt {state.attempt})")
            if state is not None and state.status == "succeeded":
                raise JobConflict(f"job {job_id} already succeeded")
            state = state or JobState(job_id)
            state.status, state.error, state.attempt = "queued", None, state.attempt + 1
            self.jobs[job_id] = state
            thread = threading.Thread(
                target=self._run, args=(state, claim), name=f"job-{job_id}", daemon=True
            )
            self._threads[job_id] = thread
            thread.start()
        return state

    def wait(self, job_id: int, timeout: float | None = None) -> JobState:
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.jobs[job_id]

    # ------------------------------------------------------------------ the attempt

    def _run(self, state: JobState, claim: dict | None) -> None:
        state.on_change = lambda: self.save(state)
        try:
            self._attempt(state, claim)
        finally:
            self.save(state)

    def _attempt(self, state: JobState, claim: dict | None) -> None:
        state.status = "running"
        held: Path | None = None
        try:
            record = self.authorization.authorize(state.job_id, claim)
            state.stage("authorized")
            self.check_deadline(state.job_id)
            order = self._prepare(state, record)
            datasets = guarded_datasets(order)
            state.stage("queued", f"lane {self.lanes.lane_of(state.job_id, datasets)}")
            with self.lanes.turn(state.job_id, record.buyer, datasets) as lane:
                state.stage("turn", f"lane {lane}")
                self.check_deadline(state.job_id)  # it may have waited its turn behind another job
                order = replace(order, addresses=self.config.spu_lanes[lane])
                # read and written inside the turn: the job before this one has filed its cohort
                order = self._attach_kept_cohorts(order, record, state)
                report = self._execute(order, state)
                if report.get("ok") and order.guard is not None:
                    guard_store.keep(
                        order.guard, self.kept_cohorts, state.job_id, record.buyer, report.pop("guard_kept")
                    )
            if not report.get("ok"):
                state.error = report.get("error", "worker failed without a report")
                state.status = "refused" if report.get("kind") == "refused" else "failed"
                state.public_error = (
                    "the node refused its input shares" if state.status == "refused" else "the worker failed"
                )
                state.stage(state.status, state.error)
                log.warning("job %d attempt %d: %s", state.job_id, state.attempt, state.error)
                self._receipt(state, report)
                return
            sealed = report.pop("sealed_output")
            held = self._hold(state, sealed)
            report["output_cid"] = cid_from_digest(hashlib.sha256(sealed).digest())
            state.stage("output_held")
            self._attest(state, record, order, report)
            self._publish_when_completed(state, held, sealed, report)
        except NotAuthorized as exc:
            self._fail(state, "refused", f"not authorized: {exc}", public=True)
        except LaneRefused as exc:
            self._fail(state, "failed", str(exc), public=True)
        except DeadlineRefused as exc:
            self._fail(state, "refused", str(exc), public=True)
        except JobRefused as exc:
            self._fail(state, "refused", str(exc))
            self._refuse_on_chain(state, exc.rule)
        except Exception as exc:
            self._fail(state, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            if held is not None:
                held.unlink(missing_ok=True)

    def _publish_when_completed(self, state: JobState, held: Path, sealed: bytes, report: dict) -> None:
        """Wait for the job's end on-chain: publish the attested output if it COMPLETED, else delete it."""
        outcome = self._await_settlement(state)
        if outcome not in (None, "COMPLETED"):
            # Deleted before the status says so: whoever reads "failed" finds nothing held.
            held.unlink(missing_ok=True)
            self._fail(
                state,
                "failed",
                f"output withheld: job {state.job_id} ended {outcome} on-chain, not COMPLETED; "
                "the sealed output was deleted unpublished",
                public=True,
            )
            report.setdefault("destroyed", {})["sealed_output"] = "deleted, never published"
            try:  # it attested, so it also says on-chain that it destroyed what it held
                self._receipt(state, report, on_chain=True)
            except Exception as exc:
                log.warning("job %d: destruction receipt not sent: %s", state.job_id, exc)
            return
        published = self.blobs.put(sealed)
        if published != report["output_cid"]:
            raise RuntimeError(f"the blob store filed the output as {published}, not the attested CID")
        state.stage("output_published")
        self._receipt(state, report)
        state.status = "succeeded"

    def _resume_publication(self, state: JobState, held: Path) -> None:
        """After a restart: an attempt that had attested and was waiting for COMPLETED goes on waiting,
        with the sealed output it held (checked against the CID it attested), instead of failing and
        leaving a job whose result one share short."""
        state.on_change = lambda: self.save(state)
        try:
            state.stage("resumed", "the node restarted while the job awaited completion on-chain")
            sealed = held.read_bytes()
            cid = cid_from_digest(hashlib.sha256(sealed).digest())
            if cid != state.attestation["output_cid"]:
                raise RuntimeError(f"the held output is {cid}, not the CID this node attested")
            self._publish_when_completed(state, held, sealed, {"output_cid": cid})
        except Exception as exc:
            self._fail(state, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            held.unlink(missing_ok=True)
            self.save(state)

    def _refuse_on_chain(self, state: JobState, rule: str) -> None:
        """Notarize the refusal: the first refusing node ends the job on-chain (the buyer is refunded, the
        uses return); the others find it already refused, which is what they wanted."""
        refuse = getattr(self.sink, "refuse", None)
        if refuse is None:
            return
        try:
            tx = refuse(state.job_id, rule)
            if tx:
                state.chain["refuse"] = tx
        except Exception as exc:  # another node refused first, or the job ended otherwise
            state.chain["refuse_error"] = str(exc)[:200]

    def _fail(self, state: JobState, status: str, error: str, public: bool = False) -> None:
        """End the attempt. Only errors made of chain facts and node rules (`public`) are shown by the
        control API; the others may name paths or internals and go to the node's log and status file."""
        state.status, state.error = status, error
        state.public_error = error if public else f"the attempt {status} (see the node's log)"
        state.stage(status, error)
        log.warning("job %d attempt %d %s: %s", state.job_id, state.attempt, status, error)

    # ------------------------------------------------------------------ deadline and publication

    def check_deadline(self, job_id: int) -> None:
        """DeadlineRefused when the job's on-chain deadline is closer than the node's margin."""
        view = self.sink.job_state(job_id)
        if view is None:  # no chain: no deadline to keep
            return
        # The later of the chain's last block and the wall clock: a chain that has mined no block for a
        # while still judges attest() by the timestamp of the block it mines next.
        now = max(view.now, int(time.time()))
        left = view.deadline - now
        margin = self.config.deadline_margin_s
        if left < margin:
            raise DeadlineRefused(
                f"refused by rule deadline_margin: job {job_id}'s on-chain deadline is "
                f"{f'in {left}s' if left >= 0 else f'{-left}s past'}, less than this node's margin "
                f"of {margin:.0f}s"
            )

    def _hold(self, state: JobState, sealed: bytes) -> Path:
        """Keep the sealed output (ciphertext) in the work dir until the chain says the job is done."""
        path = self._held_path(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sealed)
        return path

    def _held_path(self, state: JobState) -> Path:
        return Path(self.config.work_dir) / "held" / f"{state.job_id}.{state.attempt}.sealed"

    def _await_settlement(self, state: JobState) -> str | None:
        """Wait until the job leaves AUTHORIZED on-chain; its final status name, or "EXPIRED" once the
        deadline has passed without it (no attestation can land then). None without a chain."""
        first = self.sink.job_state(state.job_id)
        if first is None:
            return None
        state.stage("awaiting_completion")
        deadline = first.deadline
        while True:
            try:
                view = self.sink.job_state(state.job_id)
            except NotAuthorized:
                return "GONE"
            except Exception as exc:  # a chain that does not answer for a moment is not the job's end
                log.warning("job %d: reading its status on-chain failed (will retry): %s", state.job_id, exc)
                view = None
            if view is not None:
                if view.status != "AUTHORIZED":
                    return view.status
                if view.now > view.deadline:  # a block past the deadline exists: attest() reverts now
                    return "EXPIRED"
            if time.time() > deadline + self.config.settle_grace_s:
                return "EXPIRED"
            time.sleep(self.config.settle_poll_s)

    def _prepare(self, state: JobState, record: JobRecord) -> WorkOrder:
        idx = self.config.index
        try:
            spec = JobSpec.from_bytes(self.blobs.get(cid_from_digest(record.params_hash)), record.params_hash)
        except JobSpecError as exc:
            raise JobRefused(f"job spec: {exc}") from None
        state.stage("spec_fetched")
        if record.listings is not None:
            self._check_listings(spec, record)
        receiver_key = record.receiver_key or bytes.fromhex(spec.receiver_key)
        if receiver_key.hex() != spec.receiver_key:
            raise JobRefused("the job spec's receiver key differs from the job's result key on-chain")
        manifests: dict[str, Manifest] = {}
        for job_input in spec.inputs:
            digest = bytes.fromhex(job_input.manifest_hash)
            try:
                manifests[job_input.manifest_hash] = Manifest.from_bytes(
                    self.blobs.get(cid_from_digest(digest)), digest
                )
            except ManifestError as exc:
                raise JobRefused(f"input {job_input.name!r}: manifest: {exc}") from None
            mine = manifests[job_input.manifest_hash].node(idx).public_key
            if mine != self.identity.x25519_public.hex():
                raise JobRefused(
                    f"input {job_input.name!r}: shares for node {idx} are sealed to key {mine[:16]}..."
                )
        state.stage("manifests_fetched")
        listings = None
        if record.policy_check is not None:
            try:
                listings = record.policy_check(spec, manifests, self.blobs.get)
            except PolicyViolation as exc:
                raise JobRefused(str(exc), rule=exc.rule) from None
            state.stage("policy_checked")
        try:
            program = compile_for(spec, manifests)
        except JobSpecError as exc:
            raise JobRefused(str(exc)) from None
        if program.program_hash != record.program_hash:
            raise JobRefused(
                f"recompiled program hash {program.program_hash.hex()[:16]}... differs from the job's "
                f"{record.program_hash.hex()[:16]}..."
            )
        state.stage("program_checked", program.program_hash.hex())
        plans = []
        for job_input in spec.inputs:
            manifest = manifests[job_input.manifest_hash]
            chunks = manifest.node(idx).arrays[job_input.array]
            plans.append(
                InputPlan(
                    name=job_input.name,
                    kind=manifest.kind,
                    label=manifest.label,
                    manifest_hash=job_input.manifest_hash,
                    array=job_input.array,
                    chunks=[(c.cid, c.share_sha256) for c in chunks],
                    columns=column_indices(manifest, job_input),
                    ndim=len(manifest.array(job_input.array).shape),
                )
            )
        return WorkOrder(
            job_id=state.job_id,
            index=idx,
            addresses=self.config.spu_lanes[0],  # the lane's, once it has its turn
            blobs=self.config.blobs,
            x25519_private=self.identity.x25519.private_bytes_raw(),
            program=program,
            inputs=plans,
            receiver_key=receiver_key,
            recv_timeout_ms=self.config.recv_timeout_ms,
            connect_retry_times=self.config.connect_retry_times,
            connect_retry_interval_ms=self.config.connect_retry_interval_ms,
            tls=self.config.tls,
            guard=guard_store.guard_order(spec, manifests, program, listings),
        )

    def _attach_kept_cohorts(self, order: WorkOrder, record: JobRecord, state: JobState) -> WorkOrder:
        """The order with this node's kept cohorts of its datasets: the differencing guard's history."""
        if order.guard is None:
            return order
        try:
            guard = guard_store.with_priors(
                order.guard, self.kept_cohorts, state.job_id, record.buyer, self._ended_without_release
            )
            guard = guard_store.compiled(guard, order.program)
        except (guard_store.GuardStateError, ValueError) as exc:
            raise JobRefused(f"differencing guard: {exc}", rule="differencing-guard") from None
        checked = sum(len(s.priors) for s in guard.segments if s.k >= 2)
        state.stage("guard_planned", f"{checked} earlier cohort(s) checked")
        return replace(order, guard=guard)

    def _ended_without_release(self, job_id: int) -> bool:
        """A kept cohort stops counting once the chain says its job can no longer release anything."""
        try:
            job = self.sink.job_state(job_id)
        except NotAuthorized:  # no such job on this chain (any more)
            return True
        return job is not None and job.status in ("DECLINED", "REFUNDED", "REFUSED")

    @staticmethod
    def _check_listings(spec: JobSpec, record: JobRecord) -> None:
        """Every spec input must be a listing the job names, with the manifest the chain commits to."""
        used = set()
        for job_input in spec.inputs:
            key = (job_input.kind, job_input.listing_id)
            committed = record.listings.get(key)
            if committed is None:
                raise JobRefused(
                    f"input {job_input.name!r}: {key[0]} listing {key[1]} is not part of the job"
                )
            if committed.hex() != job_input.manifest_hash:
                raise JobRefused(
                    f"input {job_input.name!r}: manifest {job_input.manifest_hash[:16]}... is not the one "
                    f"{key[0]} listing {key[1]} commits to on-chain ({committed.hex()[:16]}...)"
                )
            used.add(key)
        unused = sorted(set(record.listings) - used)
        if unused:
            raise JobRefused(f"the job names listings {unused} that the job spec does not use")

    def _execute(self, order: WorkOrder, state: JobState) -> dict:
        ctx = self._workers
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker_main, args=(child,), name=f"dx-worker-{order.job_id}", daemon=True)
        proc.start()
        child.close()
        try:
            parent.send(order)
            deadline = time.monotonic() + self.config.job_timeout_s
            while True:
                if not parent.poll(max(0.0, deadline - time.monotonic())):
                    limit = self.config.job_timeout_s
                    return {
                        "ok": False,
                        "kind": "failed",
                        "error": f"worker gave no answer within {limit:.0f}s",
                    }
                message = parent.recv()
                if message[0] == "report":
                    return message[1]
                state.stage(message[1], at=message[2])
        except (EOFError, BrokenPipeError, ConnectionResetError):
            proc.join(5)
            return _died(proc.exitcode, state)
        finally:
            parent.close()
            if proc.is_alive():
                proc.kill()
            proc.join(10)

    def _attest(self, state: JobState, record: JobRecord, order: WorkOrder, report: dict) -> None:
        att = sign_attestation(
            self.identity.account,
            job_id=state.job_id,
            node_index=self.config.index,
            inputs_digest=inputs_digest([bytes.fromhex(p.manifest_hash) for p in order.inputs]).hex(),
            program_hash=record.program_hash.hex(),
            output_share_hash=report["output_share_hash"],
            output_cid=report["output_cid"],
        )
        state.attestation = att.to_dict()
        tx = self.sink.attest(att)
        if tx:
            state.chain["attest"] = tx
        state.stage("attested")

    def _receipt(self, state: JobState, report: dict, on_chain: bool = False) -> None:
        destroyed = {
            "attempt": state.attempt,
            "decrypted_input_shares": "overwritten in the worker, worker process exited",
            "spu_runtime": "cleared, worker process exited",
            "output_share_plaintext": "overwritten after sealing",
            **report.get("destroyed", {}),
        }
        receipt = sign_destruction(self.identity.account, state.job_id, self.config.index, destroyed)
        state.destruction = receipt.to_dict()
        if on_chain or state.status == "running":
            tx = self.sink.destroyed(receipt)
            if tx:
                state.chain["destroyed"] = tx
            state.stage("destruction_attested")


def guarded_datasets(order: WorkOrder) -> frozenset[str]:
    """The manifests whose differencing guard this job must run after every earlier job over them."""
    if order.guard is None:
        return frozenset()
    return frozenset(seg.manifest_hash for seg in order.guard.segments)


def _signal_name(number: int) -> str:
    """SIGSEGV for 11; a number outside the enum (a real-time signal) as SIG34, never an exception."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _died(exitcode: int | None, state: JobState) -> dict:
    """The report of a worker that ended without one: which signal or exit code, after which stage. SPU
    0.9.5 can crash (SIGSEGV) when a peer vanishes mid-run; the process's memory, shares included, went
    with it, and the destruction receipt says so rather than that they were overwritten."""
    how = f"signal {_signal_name(-exitcode)}" if exitcode and exitcode < 0 else f"exit code {exitcode}"
    last = state.timeline[-1]["stage"] if state.timeline else "start"
    gone = f"worker process died ({how}); its memory went with it"
    return {
        "ok": False,
        "kind": "failed",
        "error": f"the SPU party's worker process died ({how}) after stage {last!r}",
        "destroyed": {"decrypted_input_shares": gone, "spu_runtime": gone},
    }
