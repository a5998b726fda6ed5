"""An owner's check before signing an approval: recompute the job from the chain, compare the typed data."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from contracts import Ledger
from contracts.eip712 import (
    APPROVAL_TYPE,
    DECLINE_TYPE,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    EIP712_DOMAIN_TYPE,
    Domain,
    approval_typed_data,
    decline_typed_data,
)
from contracts.types import JobStatus
from dx_core.cid import cid_from_digest
from mpc_compute.job_spec import JobSpec, JobSpecError, program_hash_for
from mpc_compute.manifest import Manifest, ManifestError

ZERO32 = bytes(32)
# Fetches a blob by CID (the API's blob routes, IPFS, a directory): untrusted, every blob is hash-checked.
GetBlob = Callable[[str], bytes]


class ApprovalRefused(Exception):
    """A check an owner's client makes before signing failed; `check` names it, the message says why."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"refused to sign ({check}): {message}")
        self.check = check


@dataclass(frozen=True)
class InputFacts:
    name: str
    kind: str
    listing_id: int
    array: str
    columns: tuple[str, ...] | None
    rows: int


@dataclass(frozen=True)
class JobReview:
    """What an owner approves, recomputed from the chain and hash-checked blobs only."""

    job_id: int
    owner: str
    chain_id: int
    jobs_address: str
    program_hash: bytes
    algorithm: str
    algorithm_version: str
    algorithm_listing: int
    code_hash_matches: bool
    inputs: tuple[InputFacts, ...]
    params: dict[str, Any]
    receiver: str
    buyer: str
    prices: tuple[tuple[str, int], ...]
    policy: tuple[str, ...] = field(default=())

    def describe(self) -> list[str]:
        """The job in words, one line each, as the owner reads it before signing."""
        code = "matches" if self.code_hash_matches else "DOES NOT match"
        lines = [
            f"job #{self.job_id} requested by {self.buyer}",
            f"algorithm {self.algorithm} version {self.algorithm_version} "
            f"(listing #{self.algorithm_listing}); its code hash {code} the listing's on-chain code hash",
        ]
        for i in self.inputs:
            cols = "all columns" if i.columns is None else "columns " + ", ".join(i.columns)
            lines.append(f"input {i.name}: {i.kind} #{i.listing_id}, array {i.array}, {cols}, {i.rows} rows")
        params = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items())) or "none"
        lines.append(f"public parameters: {params}")
        lines.append(f"result receiver: {self.receiver}")
        lines.extend(f"price for {what}: {wei} wei" for what, wei in self.prices)
        lines.extend(f"policy: {p}" for p in self.policy)
        lines.append(f"program hash 0x{self.program_hash.hex()} (recomputed locally, equals the chain's)")
        return lines


def _blob(get_blob: GetBlob, digest: bytes, what: str) -> bytes:
    try:
        data = get_blob(cid_from_digest(digest))
    except Exception as exc:  # any store's failure: the owner cannot check, so does not sign
        raise ApprovalRefused("blob-fetch", f"cannot fetch the {what} {digest.hex()[:16]}…: {exc}") from None
    if hashlib.sha256(data).digest() != digest:
        raise ApprovalRefused(
            "blob-hash", f"the {what} fetched does not hash to the on-chain {digest.hex()}: it was swapped"
        )
    return data


def _policy_lines(ledger: Ledger, get_blob: GetBlob, terms: Any) -> tuple[str, ...]:
    """Which policy rules apply, in words: each dataset's policy as the job's terms bound it at request
    (else as its listing holds it), via mpc_compute.policy when that module is present."""
    try:
        policy_mod = importlib.import_module("mpc_compute.policy")
    except ImportError:  # a tree without listing policies: nothing to show
        return ()
    bound = tuple(getattr(terms, "policy_hashes", ()) or ())
    lines: list[str] = []
    for k, dataset_id in enumerate(terms.dataset_ids):
        if len(bound) == len(terms.dataset_ids):
            digest = bytes(bound[k])
        else:
            digest = bytes(getattr(ledger.market.dataset(dataset_id), "policy_hash", ZERO32) or ZERO32)
        if digest == ZERO32:
            policy, origin = policy_mod.DEFAULT_POLICY, "the default policy"
        else:
            data = _blob(get_blob, digest, f"policy of dataset #{dataset_id}")
            try:
                policy = policy_mod.Policy.from_bytes(data, digest)
            except ValueError as exc:
                raise ApprovalRefused("policy", f"dataset #{dataset_id}: {exc}") from None
            origin = f"policy 0x{digest.hex()[:16]}…"
        lines += [f"dataset #{dataset_id} ({origin}): {line}" for line in policy_mod.describe(policy)]
    return tuple(lines)


def review_job(ledger: Ledger, get_blob: GetBlob, job_id: int, owner: str) -> JobReview:
    """Recompute what approving job `job_id` means for `owner`, trusting only the chain: its terms, the
    spec blob by paramsHash, the manifests by their on-chain hashes, the program hash compiled here."""
    owner = to_checksum_address(owner)
    job = ledger.jobs.job(job_id)
    if job is None:
        raise ApprovalRefused("job-exists", f"job {job_id} does not exist on the chain")
    if job.status is not JobStatus.REQUESTED:
        raise ApprovalRefused("job-status", f"job {job_id} is {job.status.name} on the chain, not REQUESTED")
    terms = job.terms
    if owner.lower() not in {o.lower() for o in terms.owners}:
        raise ApprovalRefused("owner", f"{owner} owns none of the listings job {job_id} uses")
    spec_bytes = _blob(get_blob, bytes(terms.params_hash), "job spec")
    try:
        spec = JobSpec.from_bytes(spec_bytes, bytes(terms.params_hash))
    except JobSpecError as exc:
        raise ApprovalRefused("job-spec", str(exc)) from None
    algorithm = ledger.market.algorithm(terms.algorithm_id)
    if algorithm is None:
        raise ApprovalRefused("algorithm-listing", f"algorithm listing #{terms.algorithm_id} does not exist")
    if (spec.algorithm, spec.algorithm_version) != (algorithm.name, algorithm.version):
        raise ApprovalRefused(
            "algorithm",
            f"the spec runs {spec.algorithm}@{spec.algorithm_version}, the job's algorithm listing "
            f"#{algorithm.id} is {algorithm.name}@{algorithm.version}",
        )
    committed: dict[tuple[str, int], bytes] = {
        ("dataset", d): bytes(ledger.market.dataset(d).manifest_hash) for d in terms.dataset_ids
    }
    if bytes(algorithm.secret_params_hash) != ZERO32:
        committed[("model", algorithm.id)] = bytes(algorithm.secret_params_hash)
    manifests: dict[str, Manifest] = {}
    facts = []
    for i in spec.inputs:
        expected = committed.get((i.kind, i.listing_id))
        if expected is None or expected.hex() != i.manifest_hash:
            raise ApprovalRefused(
                "inputs",
                f"input {i.name!r} names {i.kind} #{i.listing_id} manifest {i.manifest_hash[:16]}…, which "
                "is not a listing of this job with that on-chain manifest hash",
            )
        data = _blob(get_blob, expected, f"manifest of {i.kind} #{i.listing_id}")
        try:
            manifest = Manifest.from_bytes(data, expected)
            rows = manifest.array(i.array).shape[0] if manifest.array(i.array).shape else manifest.rows
        except ManifestError as exc:
            raise ApprovalRefused("manifest", str(exc)) from None
        manifests[i.manifest_hash] = manifest
        facts.append(InputFacts(i.name, i.kind, i.listing_id, i.array, i.columns, int(rows)))
    if spec.receiver_address.lower() != terms.result_receiver.lower():
        raise ApprovalRefused(
            "receiver", f"the spec names receiver {spec.receiver_address}, the job {terms.result_receiver}"
        )
    if spec.receiver_key.lower().removeprefix("0x") != bytes(terms.result_key).hex():
        raise ApprovalRefused("receiver-key", "the spec's result key is not the key the job records on-chain")
    try:
        program_hash = program_hash_for(spec, manifests)
    except (JobSpecError, ValueError) as exc:
        raise ApprovalRefused("program-hash", f"the spec does not compile: {exc}") from None
    if program_hash != bytes(terms.program_hash):
        raise ApprovalRefused(
            "program-hash",
            f"the spec compiles to program 0x{program_hash.hex()}, the job commits to "
            f"0x{bytes(terms.program_hash).hex()}",
        )
    code_ok = _code_hash_matches(spec.algorithm, bytes(algorithm.code_hash))
    listings = [f"dataset #{d}" for d in terms.dataset_ids] + [f"algorithm #{algorithm.id}"]
    return JobReview(
        job_id=job_id,
        owner=owner,
        chain_id=ledger.w3.eth.chain_id,
        jobs_address=to_checksum_address(ledger.jobs.address),
        program_hash=program_hash,
        algorithm=spec.algorithm,
        algorithm_version=spec.algorithm_version,
        algorithm_listing=algorithm.id,
        code_hash_matches=code_ok,
        inputs=tuple(facts),
        params=dict(spec.params),
        receiver=terms.result_receiver,
        buyer=job.buyer,
        prices=tuple(zip(listings, (int(p) for p in terms.prices), strict=False)),
        policy=_policy_lines(ledger, get_blob, terms),
    )


def _code_hash_matches(name: str, listed: bytes) -> bool:
    from mpc_compute.algorithms import ALGORITHMS

    algorithm = ALGORITHMS.get(name)
    return algorithm is not None and algorithm.code_hash == listed


def _int(value: Any) -> int | None:
    """An integer of the typed data's JSON (the API writes those from 2^53 up as decimal strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 10)
    except ValueError:
        return None


def _hex_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    try:
        return bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        return None


def check_typed_data(
    typed: dict[str, Any], review: JobReview, decision: str, nonce: int, deadline: int
) -> dict[str, Any]:
    """Compare the API's typed data with what `review` computed; returns the typed data to sign, built
    locally (so nothing the API added rides along). ApprovalRefused names the first check that fails."""
    if not isinstance(typed, dict) or not isinstance(typed.get("domain"), dict):
        raise ApprovalRefused("typed-data", "the exchange's typed data is not an EIP-712 object")
    primary = "Approval" if decision == "approve" else "Decline"
    if typed.get("primaryType") != primary:
        raise ApprovalRefused(
            "typed-data", f"primaryType is {typed.get('primaryType')!r}, expected {primary}"
        )
    want_types = {
        "EIP712Domain": EIP712_DOMAIN_TYPE,
        primary: APPROVAL_TYPE if primary == "Approval" else DECLINE_TYPE,
    }
    if typed.get("types") != want_types:
        raise ApprovalRefused("typed-data", f"the types are not the ComputeJobs {primary} types")
    d = typed["domain"]
    if (d.get("name"), d.get("version")) != (DOMAIN_NAME, DOMAIN_VERSION):
        raise ApprovalRefused("domain", f"domain {d.get('name')!r} v{d.get('version')!r} is not ComputeJobs'")
    if _int(d.get("chainId")) != review.chain_id:
        raise ApprovalRefused(
            "domain-chain", f"chainId {d.get('chainId')!r}, this chain is {review.chain_id}"
        )
    contract = str(d.get("verifyingContract", ""))
    if contract.lower() != review.jobs_address.lower():
        raise ApprovalRefused(
            "domain-contract",
            f"verifyingContract {contract} is not ComputeJobs {review.jobs_address} of this deployment",
        )
    m = typed.get("message") if isinstance(typed.get("message"), dict) else {}
    if _int(m.get("jobId")) != review.job_id:
        raise ApprovalRefused("job-id", f"the message approves job {m.get('jobId')!r}, not {review.job_id}")
    if str(m.get("owner", "")).lower() != review.owner.lower():
        raise ApprovalRefused("owner", f"the message is for owner {m.get('owner')!r}, not {review.owner}")
    if (_int(m.get("nonce")), _int(m.get("deadline"))) != (nonce, deadline):
        raise ApprovalRefused("nonce", "the message's nonce or deadline is not the one this client chose")
    domain = Domain(review.chain_id, review.jobs_address)
    if primary == "Decline":
        return decline_typed_data(domain, review.job_id, review.owner, nonce, deadline)
    if _hex_bytes(m.get("programHash")) != review.program_hash:
        raise ApprovalRefused(
            "program-hash",
            f"the message approves program {m.get('programHash')!r}, the job's recomputed program is "
            f"0x{review.program_hash.hex()}",
        )
    return approval_typed_data(domain, review.job_id, review.program_hash, review.owner, nonce, deadline)


class ApprovalCheck:
    """The SDK's hook (ExchangeClient.approve_job(check=...)): the chain of the client's own deployment
    and a blob fetcher; `review` then `typed_data` decide what is signed."""

    def __init__(self, ledger: Ledger, get_blob: GetBlob, show: Callable[[JobReview], None] | None = None):
        self.ledger, self.get_blob, self.show = ledger, get_blob, show

    def review(self, job_id: int, owner: str) -> JobReview:
        return review_job(self.ledger, self.get_blob, job_id, owner)

    def typed_data(
        self, job_id: int, owner: str, decision: str, typed: dict[str, Any], nonce: int, deadline: int
    ) -> dict[str, Any]:
        """The locally built typed data to sign, after every check passed (ApprovalRefused otherwise)."""
        if decision == "decline":
            # A decline runs nothing: only the job's existence, the owner and the domain matter.
            job = self.ledger.jobs.job(job_id)
            if job is None:
                raise ApprovalRefused("job-exists", f"job {job_id} does not exist on the chain")
            review = JobReview(
                job_id,
                to_checksum_address(owner),
                self.ledger.w3.eth.chain_id,
                to_checksum_address(self.ledger.jobs.address),
                bytes(job.program_hash),
                "",
                "",
                0,
                False,
                (),
                {},
                job.terms.result_receiver,
                job.buyer,
                (),
            )
        else:
            review = self.review(job_id, owner)
        checked = check_typed_data(typed, review, decision, nonce, deadline)
        if self.show is not None and decision == "approve":
            self.show(review)
        return checked
