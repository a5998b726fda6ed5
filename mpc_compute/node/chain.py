"""The node's view of the ledger: job authorization, on-chain attestations, a JobAuthorized watcher.

- `ChainAuthorization` refuses a job unless ComputeJobs says AUTHORIZED and this node is node `index`
  of the cluster version the job was requested under. The record it returns carries the job's
  paramsHash (the spec's sha256), programHash, result key and receiver, and the manifest commitment
  of every listing the job names (Market dataset manifestHash; an algorithm's secretParamsHash for
  a model), which the node checks the spec's inputs against.
- `ChainSink` sends the attestation through `Ledger.jobs.attest` and the destruction receipt's
  sha256 (over its canonical signed payload) through `Ledger.jobs.attest_destruction`, and reads a
  job's status and deadline against the chain's clock (`job_state`).
- `ChainOperators` says whether an address may sign control requests (a Registry admin).
- `ChainJobSource` follows JobAuthorized events and triggers the node for each one (`--watch`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

from contracts import Ledger, connect
from contracts.errors import TransactionFailed
from contracts.types import JobStatus
from dx_core.keystore import Identity
from mpc_compute.attestation import Attestation, DestructionReceipt
from mpc_compute.node.authorization import ChainJob, JobRecord, NotAuthorized
from mpc_compute.node.policy_gate import PolicyGate

log = logging.getLogger("dx.node.chain")
ZERO32 = b"\0" * 32


def _tx(result) -> dict:
    return {
        "tx_hash": str(result.tx_hash),
        "block": int(result.block_number),
        "gas_used": int(result.gas_used),
    }


class ChainAuthorization:
    def __init__(self, ledger: Ledger, identity: Identity, index: int) -> None:
        self.ledger, self.identity, self.index = ledger, identity, index
        self.gate = PolicyGate(ledger)

    def authorize(self, job_id: int, claim: dict | None) -> JobRecord:
        job = self.ledger.jobs.job(job_id)
        if job is None:
            raise NotAuthorized(f"job {job_id} does not exist on-chain")
        if job.status is not JobStatus.AUTHORIZED:
            raise NotAuthorized(f"job {job_id} is {job.status.name} on-chain, not AUTHORIZED")
        nodes = self.ledger.registry.cluster_nodes(job.cluster_version)
        if nodes[self.index].lower() != self.identity.address.lower():
            raise NotAuthorized(
                f"job {job_id} runs on cluster v{job.cluster_version}, whose node {self.index} is "
                f"{nodes[self.index]}, not this node ({self.identity.address})"
            )
        # only the receiver can open the result: the key must be the one it registered on-chain
        registered = self.ledger.registry.member(job.terms.result_receiver)
        if registered is None or bytes(registered.encryption_key) != bytes(job.terms.result_key):
            raise NotAuthorized(
                f"job {job_id}: its result key is not the registered key of receiver "
                f"{job.terms.result_receiver}"
            )
        listings: dict[tuple[str, int], bytes] = {}
        for dataset_id in job.dataset_ids:
            listings[("dataset", dataset_id)] = bytes(self.ledger.market.dataset(dataset_id).manifest_hash)
        algorithm = self.ledger.market.algorithm(job.algorithm_id)
        if algorithm is not None and bytes(algorithm.secret_params_hash) != ZERO32:
            listings[("model", job.algorithm_id)] = bytes(algorithm.secret_params_hash)
        return JobRecord(
            job_id=job_id,
            params_hash=bytes(job.terms.params_hash),
            program_hash=bytes(job.program_hash),
            receiver_key=bytes(job.terms.result_key),
            receiver_address=job.terms.result_receiver,
            listings=listings,
            policy_check=lambda spec, manifests, fetch: self.gate.check(job, spec, manifests, fetch),
            policy_digest=job.terms.policy_digest,
            buyer=job.buyer,
        )


def _retry_landing(send, attempts: int = 3):
    """Send again when a transaction failed on landing (not a revert the contract means): the three
    nodes attest concurrently, so a gas estimate can be made against a state that changed before it landed."""
    for attempt in range(attempts):
        try:
            return send()
        except TransactionFailed as exc:
            if attempt == attempts - 1:
                raise
            log.warning("transaction failed on landing, sending again: %s", exc)
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


class ChainSink:
    def __init__(self, ledger: Ledger, identity: Identity) -> None:
        self.ledger, self.identity = ledger, identity

    def attest(self, attestation: Attestation) -> dict | None:
        return _tx(
            _retry_landing(
                lambda: self.ledger.jobs.attest(
                    self.identity.account,
                    attestation.job_id,
                    bytes.fromhex(attestation.inputs_digest),
                    bytes.fromhex(attestation.program_hash),
                    bytes.fromhex(attestation.output_share_hash),
                )
            )
        )

    def refuse(self, job_id: int, rule: str) -> dict | None:
        return _tx(self.ledger.jobs.refuse(self.identity.account, job_id, rule))

    def destroyed(self, receipt: DestructionReceipt) -> dict | None:
        digest = hashlib.sha256(receipt.payload()).digest()
        return {
            **_tx(self.ledger.jobs.attest_destruction(self.identity.account, receipt.job_id, digest)),
            "receipt_hash": digest.hex(),
        }

    def job_state(self, job_id: int) -> ChainJob | None:
        job = self.ledger.jobs.job(job_id)
        if job is None:
            raise NotAuthorized(f"job {job_id} does not exist on-chain")
        # The latest block's timestamp is the clock attest() is judged by (block.timestamp).
        now = int(self.ledger.w3.eth.get_block("latest")["timestamp"])
        return ChainJob(job.status.name, int(job.deadline), now)


class ChainOperators:
    """Who may sign the node's control requests: an account holding the Registry's admin role."""

    ADMIN_ROLE = ZERO32  # OpenZeppelin AccessControl's DEFAULT_ADMIN_ROLE

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.chain_id = int(ledger.deployment.chain_id)

    def is_operator(self, address: str) -> bool:
        return bool(self.ledger.registry.read("hasRole", self.ADMIN_ROLE, address))


class ChainJobSource:
    """Polls the ledger's events and triggers the node for each JobAuthorized job it has yet to attest.

    The next block to read is kept in `<work dir>/watcher.json`, so jobs authorized while the node was
    down are picked up when it comes back; without that file it starts at the ComputeJobs deployment.
    """

    def __init__(
        self, ledger: Ledger, index: int, state_file: Path | None = None, interval: float = 0.25
    ) -> None:
        self.ledger, self.index, self.interval, self.state_file = ledger, index, interval, state_file
        start = ledger.deployment.blocks.get("ComputeJobs", 0)
        if state_file is not None and state_file.exists():
            try:
                start = int(json.loads(state_file.read_text())["next_block"])
            except (ValueError, KeyError, TypeError) as exc:
                # Scanning again from the deployment is safe: a job this node attested is not pending.
                log.warning(
                    "watcher state %s is unreadable (%s): reading the chain from its deployment",
                    state_file,
                    exc,
                )
        self.next_block = start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pending(self, job_id: int) -> bool:
        job = self.ledger.jobs.job(job_id)
        return (
            job is not None
            and job.status is JobStatus.AUTHORIZED
            and not (job.attested_mask >> self.index) & 1
        )

    def poll(self, service) -> list[int]:
        head = self.ledger.w3.eth.block_number
        if head < self.next_block:
            return []
        started = []
        for ev in self.ledger.events(self.next_block, head):
            if ev.contract == "ComputeJobs" and ev.event == "JobAuthorized":
                job_id = int(ev.args["jobId"])
                if not self._pending(job_id):
                    continue
                try:
                    service.trigger(job_id)
                    started.append(job_id)
                except Exception as exc:  # a job already running or done is not the watcher's failure
                    log.info("job %d not started: %s", job_id, exc)
        self.next_block = head + 1
        if self.state_file is not None:
            # Written aside, then renamed: a node stopped mid-write left an empty file it could not start on.
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"next_block": self.next_block}))
            tmp.replace(self.state_file)
        return started

    def start(self, service) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.poll(service)
                except Exception as exc:
                    log.warning("watching the chain failed (will retry): %s", exc)

        self._thread = threading.Thread(target=loop, name="job-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def chain_components(
    rpc_url: str,
    deployment: Path,
    identity: Identity,
    index: int,
    work_dir: Path,
    watch_interval_s: float = 0.25,
) -> tuple[ChainAuthorization, ChainSink, ChainJobSource, ChainOperators]:
    """(authorization, sink, job source, operators) for a node that follows the ledger at `rpc_url`."""
    ledger = connect(rpc_url, deployment, timeout=60)
    return (
        ChainAuthorization(ledger, identity, index),
        ChainSink(ledger, identity),
        ChainJobSource(ledger, index, Path(work_dir) / "watcher.json", interval=watch_interval_s),
        ChainOperators(ledger),
    )
