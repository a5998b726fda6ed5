"""How each ledger event changes the cached tables (a pure function of the stored event rows)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import delete, select, update
from sqlmodel import Session

from dx_core.blobstore import BlobError, IpfsBlobStore, LocalBlobStore
from dx_core.cid import InvalidCID, cid_from_digest
from exchange_api.catalog.store import parse_metadata, upsert_listing
from exchange_api.models import (
    Approval,
    Attestation,
    ChainEvent,
    Job,
    JobInput,
    Listing,
    ListingColumn,
    ListingTag,
    ListingToken,
    Member,
)
from mpc_compute.policy import DEFAULT_POLICY, ZERO32, Policy, PolicyError
from notarizer.entry import Kind

log = logging.getLogger("exchange_api.indexer")
DERIVED_TABLES = [
    t.__table__
    for t in (Attestation, JobInput, Job, ListingTag, ListingColumn, ListingToken, Listing, Member)
]
MAX_METADATA_BYTES = 1024 * 1024
JOB_STATUS_BY_EVENT = {
    "JobRequested": "requested",
    "JobAuthorized": "authorized",
    "JobCompleted": "completed",
    "JobDisputed": "disputed",
    "JobDeclined": "declined",
    "JobRefunded": "refunded",
    "JobRefused": "refused",
}


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value or "")


class EventApplier:
    """Maps (contract, event) to a handler; unknown events are kept in chain_event but change nothing."""

    def __init__(self, blobs: LocalBlobStore | IpfsBlobStore) -> None:
        self.blobs = blobs
        self.handlers: dict[str, Callable[[Session, ChainEvent, dict[str, Any]], None]] = {
            "MemberAdmitted": self._member_admitted,
            "MemberRolesChanged": self._member_roles,
            "MemberSuspended": lambda s, e, a: self._member_active(s, a, False, e),
            "MemberReinstated": lambda s, e, a: self._member_active(s, a, True, e),
            "MemberKeyRotated": self._member_key,
            "DatasetListed": self._dataset_listed,
            "DatasetUpdated": self._dataset_listed,
            "DatasetDelisted": lambda s, e, a: self._delisted(s, "dataset", e, a),
            "DatasetUsed": lambda s, e, a: self._used(s, "dataset", e, a),
            "AlgorithmListed": self._algorithm_listed,
            "AlgorithmUpdated": self._algorithm_listed,
            "AlgorithmDelisted": lambda s, e, a: self._delisted(s, "algorithm", e, a),
            "AlgorithmUsed": lambda s, e, a: self._used(s, "algorithm", e, a),
            "JobRequested": self._job_requested,
            "JobApproved": self._job_approved,
            "JobDeclined": self._job_declined,
            "JobAttested": lambda s, e, a: self._attested(s, "result", e, a),
            "DestructionAttested": lambda s, e, a: self._attested(s, "destruction", e, a),
        }

    def apply(self, session: Session, ev: ChainEvent) -> None:
        handler = self.handlers.get(ev.name)
        if handler is not None:
            handler(session, ev, ev.args)
        if ev.name in JOB_STATUS_BY_EVENT and ev.name != "JobRequested":
            self._job_status(session, ev, JOB_STATUS_BY_EVENT[ev.name])
        session.flush()

    # -- registry --------------------------------------------------------------------------------------

    def _member_admitted(self, session: Session, ev: ChainEvent, a: dict) -> None:
        session.merge(
            Member(
                address=to_checksum_address(a["member"]),
                roles=int(a["roles"]),
                encryption_key=_hex(a.get("encryptionKey")),
                active=True,
                block_number=ev.block_number,
            )
        )

    def _member_roles(self, session: Session, ev: ChainEvent, a: dict) -> None:
        session.execute(
            update(Member.__table__)
            .where(Member.__table__.c.address == to_checksum_address(a["member"]))
            .values(roles=int(a["newRoles"]), block_number=ev.block_number)
        )

    def _member_active(self, session: Session, a: dict, active: bool, ev: ChainEvent) -> None:
        session.execute(
            update(Member.__table__)
            .where(Member.__table__.c.address == to_checksum_address(a["member"]))
            .values(active=active, block_number=ev.block_number)
        )

    def _member_key(self, session: Session, ev: ChainEvent, a: dict) -> None:
        session.execute(
            update(Member.__table__)
            .where(Member.__table__.c.address == to_checksum_address(a["member"]))
            .values(encryption_key=_hex(a.get("newKey")), block_number=ev.block_number)
        )

    # -- market ----------------------------------------------------------------------------------------

    def _metadata(self, cid: str) -> dict[str, Any]:
        """The metadata document from the blob store (uploaded before the listing tx), or {}."""
        try:
            if not cid or not self.blobs.has(cid) or self.blobs.size(cid) > MAX_METADATA_BYTES:
                return {}
            return parse_metadata(self.blobs.get(cid))
        except (BlobError, InvalidCID, OSError):
            return {}

    def _policy(self, policy_hash: Any) -> dict[str, Any] | None:
        """The listing's policy document as a dict (the default one for a zero hash); None when the
        document is missing or does not hash to the listing's commitment (the catalog then says so)."""
        digest = bytes.fromhex(_hex(policy_hash).removeprefix("0x"))  # stored events hold hex strings
        if not digest or digest == ZERO32:
            return DEFAULT_POLICY.to_dict()
        try:
            return Policy.from_bytes(self.blobs.get(cid_from_digest(digest)), digest).to_dict()
        except (BlobError, PolicyError, OSError):
            return None

    def _dataset_listed(self, session: Session, ev: ChainEvent, a: dict) -> None:
        terms = a["terms"]
        fields: dict[str, Any] = dict(
            metadata_cid=terms["metadataCid"],
            manifest_hash=_hex(terms["manifestHash"]),
            price_wei=int(terms["pricePerUse"]),
            max_uses=int(terms["maxUses"]),
            expires_at=int(terms["expiresAt"]),
            updated_block=ev.block_number,
            status="active",
        )
        if "owner" in a:
            fields.update(owner=to_checksum_address(a["owner"]), created_block=ev.block_number)
        meta = self._metadata(terms["metadataCid"])
        meta["policy_hash"] = _hex(terms.get("policyHash"))
        meta["policy"] = self._policy(terms.get("policyHash"))
        upsert_listing(session, "dataset", int(a["id"]), metadata=meta, **fields)

    def _algorithm_listed(self, session: Session, ev: ChainEvent, a: dict) -> None:
        fields: dict[str, Any] = dict(
            metadata_cid=a["metadataCid"],
            price_wei=int(a["pricePerUse"]),
            max_uses=int(a["maxUses"]),
            updated_block=ev.block_number,
            status="active",
        )
        meta = self._metadata(a["metadataCid"])
        meta.setdefault("secret_params_hash", _hex(a.get("secretParamsHash")))
        if "owner" in a:
            fields.update(
                owner=to_checksum_address(a["owner"]),
                created_block=ev.block_number,
                manifest_hash=_hex(a.get("codeHash")),
            )
            meta.setdefault("name", a.get("name", ""))
            meta.setdefault("algorithm_name", a.get("name", ""))
            meta.setdefault("version", a.get("version", ""))
        else:
            old = session.execute(
                select(Listing.__table__.c.extra).where(
                    Listing.__table__.c.kind == "algorithm", Listing.__table__.c.listing_id == int(a["id"])
                )
            ).scalar()
            for key in ("algorithm_name", "version"):
                if old and key in old:
                    meta.setdefault(key, old[key])
        upsert_listing(session, "algorithm", int(a["id"]), metadata=meta, **fields)

    def _delisted(self, session: Session, kind: str, ev: ChainEvent, a: dict) -> None:
        upsert_listing(session, kind, int(a["id"]), status="delisted", updated_block=ev.block_number)

    def _used(self, session: Session, kind: str, ev: ChainEvent, a: dict) -> None:
        upsert_listing(session, kind, int(a["id"]), uses=int(a["uses"]), updated_block=ev.block_number)

    # -- compute jobs ----------------------------------------------------------------------------------

    def _job_requested(self, session: Session, ev: ChainEvent, a: dict) -> None:
        terms = a["terms"]
        job_id = int(a["jobId"])
        datasets = [int(d) for d in terms["datasetIds"]]
        algorithm_id = int(terms["algorithmId"])
        owners = [to_checksum_address(o) for o in terms["owners"]]
        escrow = sum(int(p) for p in terms["prices"]) + 3 * int(terms["nodeFee"])
        session.merge(
            Job(
                job_id=job_id,
                buyer=to_checksum_address(a["buyer"]),
                algorithm_id=algorithm_id,
                dataset_ids=datasets,
                param_hash=_hex(terms["paramsHash"]),
                program_hash=_hex(terms["programHash"]),
                result_key=_hex(terms["resultKey"]),
                payment_wei=str(escrow),
                deadline=int(a["deadline"]),
                owners=owners,
                pending_mask=int(a["pending"]),
                cluster_version=int(a["clusterVersion"]),
                terms=terms,
                status="requested",
                created_block=ev.block_number,
                updated_block=ev.block_number,
            )
        )
        inputs = [("dataset", d) for d in datasets] + [("algorithm", algorithm_id)]
        for i, (kind, listing_id) in enumerate(inputs):
            owner = owners[i] if i < len(owners) else ""
            session.merge(JobInput(job_id=job_id, kind=kind, listing_id=listing_id, owner=owner))

    def _job_status(self, session: Session, ev: ChainEvent, status: str) -> None:
        values: dict[str, Any] = {"status": status, "updated_block": ev.block_number}
        if status == "authorized":
            values["authorized_block"] = ev.block_number
        session.execute(
            update(Job.__table__).where(Job.__table__.c.job_id == int(ev.args["jobId"])).values(**values)
        )

    def _job_approved(self, session: Session, ev: ChainEvent, a: dict) -> None:
        job_id, owner = int(a["jobId"]), to_checksum_address(a["owner"])
        job = session.get(Job, job_id)
        if job is not None:
            mask = job.pending_mask
            for i, o in enumerate(job.owners):
                if o == owner:
                    mask &= ~(1 << i)
            job.pending_mask = mask
            job.updated_block = ev.block_number
            session.add(job)
        # Approval rows are off-chain records; seeing the approval on-chain confirms them.
        ap = Approval.__table__
        session.execute(
            update(ap)
            .where(ap.c.job_id == job_id, ap.c.owner == owner, ap.c.decision == "approve")
            .values(status="onchain", tx_hash=ev.tx_hash)
        )

    def _job_declined(self, session: Session, ev: ChainEvent, a: dict) -> None:
        ap = Approval.__table__
        session.execute(
            update(ap)
            .where(
                ap.c.job_id == int(a["jobId"]),
                ap.c.owner == to_checksum_address(a["owner"]),
                ap.c.decision == "decline",
            )
            .values(status="onchain", tx_hash=ev.tx_hash)
        )

    def _attested(self, session: Session, kind: str, ev: ChainEvent, a: dict) -> None:
        job_id, node = int(a["jobId"]), to_checksum_address(a["node"])
        session.execute(
            delete(Attestation.__table__).where(
                Attestation.__table__.c.job_id == job_id,
                Attestation.__table__.c.node == node,
                Attestation.__table__.c.kind == kind,
            )
        )
        session.add(
            Attestation(
                job_id=job_id,
                node=node,
                kind=kind,
                inputs_digest=_hex(a.get("inputsDigest")),
                program_hash=_hex(a.get("programHash")),
                output_share_hash=_hex(a.get("outputShareHash")),
                node_index=int(a.get("nodeIndex", 0)),
                receipt_hash=_hex(a.get("receiptHash")),
                tx_hash=ev.tx_hash,
                block_number=ev.block_number,
            )
        )


def log_entries_for(ev: ChainEvent) -> list[dict[str, Any]]:
    """Transparency-log entries for an event the indexer saw for the first time."""
    a = ev.args
    kind = {
        "MemberAdmitted": Kind.MEMBER_ADMITTED,
        "MemberRolesChanged": Kind.MEMBER_UPDATED,
        "MemberSuspended": Kind.MEMBER_UPDATED,
        "DatasetListed": Kind.LISTING_CREATED,
        "AlgorithmListed": Kind.LISTING_CREATED,
        "DatasetUpdated": Kind.LISTING_UPDATED,
        "AlgorithmUpdated": Kind.LISTING_UPDATED,
        "DatasetDelisted": Kind.LISTING_WITHDRAWN,
        "AlgorithmDelisted": Kind.LISTING_WITHDRAWN,
        "JobRequested": Kind.JOB_REQUESTED,
        "JobAuthorized": Kind.JOB_AUTHORIZED,
        "JobCompleted": Kind.JOB_COMPLETED,
        "JobRefunded": Kind.JOB_REFUNDED,
        "JobDisputed": Kind.JOB_DISPUTED,
        "JobDeclined": Kind.JOB_DECLINED,
        "JobRefused": Kind.JOB_REFUSED,
        "JobAttested": Kind.NODE_ATTESTATION,
        "DestructionAttested": Kind.NODE_DESTRUCTION,
    }.get(ev.name)
    if kind is None:
        return []
    subjects = []
    if "jobId" in a:
        subjects.append(f"job:{a['jobId']}")
    if ev.name.startswith("Dataset"):
        subjects.append(f"dataset:{a['id']}")
    if ev.name.startswith("Algorithm"):
        subjects.append(f"algorithm:{a['id']}")
    if "member" in a:
        subjects.append(f"member:{a['member']}")
    actor = str(a.get("owner") or a.get("buyer") or a.get("node") or a.get("member") or "system")
    payload = {
        "event": ev.name,
        "contract": ev.contract,
        "tx_hash": ev.tx_hash,
        "block": ev.block_number,
        "log_index": ev.log_index,
        "args": a,
    }
    return [{"kind": kind, "actor": actor, "subjects": subjects, "payload": payload}]
