"""A compute node's job execution: authorize, fetch public documents, check, hand off to a worker, attest.

Stages of an attempt (each recorded with its time in the job's timeline):
authorized -> spec_fetched -> manifests_fetched -> program_checked -> shares_verified -> computed ->
output_sealed -> destroyed -> attested -> destruction_attested, or failed/refused with the error.
The parent process only handles public data (spec, manifests, program, sealed output hash); the
worker child process (node/worker.py) does everything that touches plaintext and exits. A failed
job can be run again (a new attempt with a new worker).
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dx_core.cid import cid_from_digest
from dx_core.keystore import Identity
from mpc_compute.attestation import sign_attestation, sign_destruction
from mpc_compute.blob_source import open_blob_source
from mpc_compute.job_spec import JobSpec, JobSpecError, column_indices, compile_for, inputs_digest
from mpc_compute.manifest import Manifest, ManifestError
from mpc_compute.node.authorization import AttestationSink, Authorization, JobRecord, NotAuthorized
from mpc_compute.node.worker import InputPlan, WorkOrder, worker_main


class JobRefused(Exception):
    """The job must not run: its documents, shares or program do not check out."""


class JobConflict(Exception):
    """The job is running or has already succeeded."""


@dataclass
class NodeConfig:
    index: int
    spu_addresses: list[str]
    blobs: str
    work_dir: Path
    recv_timeout_ms: int = 60_000
    connect_retry_times: int = 30
    connect_retry_interval_ms: int = 500
    job_timeout_s: float = 3600.0
    tls: object | None = None


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
        }


class NodeService:
    def __init__(
        self, config: NodeConfig, identity: Identity, authorization: Authorization, sink: AttestationSink
    ) -> None:
        self.config, self.identity, self.authorization, self.sink = config, identity, authorization, sink
        self.blobs = open_blob_source(config.blobs, identity.account)
        self.jobs: dict[int, JobState] = {}
        self._lock = threading.Lock()
        # one SPU link per node address: attempts take turns (the watcher triggers in chain order)
        self._spu_lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}
        self._jobs_dir = Path(config.work_dir) / "jobs"
        self._jobs_dir.mkdir(parents=True, exist_ok=True)
        self._load_jobs()

    # ------------------------------------------------------------------ status, kept across restarts

    def _load_jobs(self) -> None:
        for path in sorted(self._jobs_dir.glob("*.json")):
            doc = json.loads(path.read_text())
            state = JobState(**doc)
            if state.status in ("queued", "running"):
                state.status, state.error = "failed", "the node restarted during this attempt"
                state.stage("failed", state.error)
            self.jobs[state.job_id] = state

    def save(self, state: JobState) -> None:
        """Persist a job's public status (no secrets, no shares) so GET /jobs survives a restart."""
        path = self._jobs_dir / f"{state.job_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.to_dict()))
        tmp.replace(path)

    def status(self, job_id: int) -> JobState | None:
        return self.jobs.get(job_id)

    def trigger(self, job_id: int, claim: dict | None = None) -> JobState:
        """Start an attempt in the background; JobConflict if one runs or the job is done."""
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
        try:
            record = self.authorization.authorize(state.job_id, claim)
            state.stage("authorized")
            order = self._prepare(state, record)
            with self._spu_lock:
                report = self._execute(order, state)
            if not report.get("ok"):
                state.error = report.get("error", "worker failed without a report")
                state.status = "refused" if report.get("kind") == "refused" else "failed"
                state.stage(state.status, state.error)
                self._receipt(state, report)
                return
            report["output_cid"] = self.blobs.put(report.pop("sealed_output"))
            state.stage("output_stored")
            self._attest(state, record, order, report)
            self._receipt(state, report)
            state.status = "succeeded"
        except NotAuthorized as exc:
            self._fail(state, "refused", f"not authorized: {exc}")
        except JobRefused as exc:
            self._fail(state, "refused", str(exc))
        except Exception as exc:
            self._fail(state, "failed", f"{type(exc).__name__}: {exc}")

    def _fail(self, state: JobState, status: str, error: str) -> None:
        state.status, state.error = status, error
        state.stage(status, error)

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
            addresses=self.config.spu_addresses,
            blobs=self.config.blobs,
            x25519_private=self.identity.x25519.private_bytes_raw(),
            program=program,
            inputs=plans,
            receiver_key=receiver_key,
            recv_timeout_ms=self.config.recv_timeout_ms,
            connect_retry_times=self.config.connect_retry_times,
            connect_retry_interval_ms=self.config.connect_retry_interval_ms,
            tls=self.config.tls,
        )

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
        ctx = multiprocessing.get_context("spawn")
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
            return {
                "ok": False,
                "kind": "failed",
                "error": f"worker process died (exit code {proc.exitcode})",
            }
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

    def _receipt(self, state: JobState, report: dict) -> None:
        destroyed = {
            "attempt": state.attempt,
            "decrypted_input_shares": "overwritten in the worker, worker process exited",
            "spu_runtime": "cleared, worker process exited",
            "output_share_plaintext": "overwritten after sealing",
            **report.get("destroyed", {}),
        }
        receipt = sign_destruction(self.identity.account, state.job_id, self.config.index, destroyed)
        state.destruction = receipt.to_dict()
        if state.status == "running":
            tx = self.sink.destroyed(receipt)
            if tx:
                state.chain["destroyed"] = tx
            state.stage("destruction_attested")
