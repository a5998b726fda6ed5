"""What the chain says a job may do: its facts, its datasets' policies and the buyer's recent ID lookups.

`PolicyGate.check(job, spec, manifests, fetch)` gathers, from the ledger alone (never from an exchange
API), the job's buyer, algorithm listing and owner approvals, each dataset's owner and the policy
document whose hash the job's terms bind (fetched by that hash and checked against it), and how many
IDs the buyer probed against each dataset in the policy's period before this job was requested; then it
runs `mpc_compute.policy.check_job`, with the ε the job's request reserved of each dataset's budget. Nodes
call it before computing; the regulator's compliance check calls it again for every job it audits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from contracts import Ledger
from contracts.types import Job, JobStatus
from dx_core.cid import cid_from_digest
from mpc_compute.job_spec import JobSpec, JobSpecError
from mpc_compute.manifest import Manifest, ManifestError
from mpc_compute.policy import (
    ZERO32,
    JobFacts,
    ListingFacts,
    PolicyViolation,
    check_job,
    load_policy,
    probes,
)

log = logging.getLogger("dx.node.policy")
Fetch = Callable[[str], bytes]
# Jobs whose ID lookups count against a buyer's period cap: every job that ran or may still run.
COUNTED = (JobStatus.AUTHORIZED, JobStatus.COMPLETED, JobStatus.DISPUTED)


class PolicyGate:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._probes: dict[int, dict[int, int]] = {}  # job id -> its probes per dataset (specs never change)

    def facts(self, job: Job, fetch: Fetch) -> tuple[JobFacts, dict[int, ListingFacts]]:
        terms = job.terms
        algorithm = self.ledger.market.algorithm(job.algorithm_id)
        if algorithm is None:
            raise PolicyViolation("algorithm-binding", f"algorithm listing {job.algorithm_id} does not exist")
        hashes = terms.policy_hashes or tuple(ZERO32 for _ in terms.dataset_ids)
        listings = {
            dataset_id: ListingFacts(dataset_id, owner, load_policy(policy_hash, fetch), bytes(policy_hash))
            # owners lists the dataset owners in order, then the algorithm's owner
            for dataset_id, owner, policy_hash in zip(
                terms.dataset_ids, terms.owners[: len(terms.dataset_ids)], hashes, strict=True
            )
        }
        approvers = {a.lower() for a in self.ledger.jobs.approvers(job.id)}
        approved = frozenset(d for d, f in listings.items() if f.owner.lower() in approvers)
        facts = JobFacts(
            job_id=job.id,
            buyer=job.buyer,
            algorithm_listing_id=job.algorithm_id,
            algorithm_name=algorithm.name,
            algorithm_version=algorithm.version,
            algorithm_code_hash=bytes(algorithm.code_hash),
            approved_by_owner=approved,
            lookups_in_period=self.lookups_before(job, listings, fetch),
            # from the request's events, not the live reservation: a node checking after another node's
            # refusal gave the ε back must still refuse, not run a job the others will not join
            reserved_micro_eps=self.ledger.market.reserved_at_request(job.id),
        )
        return facts, listings

    def lookups_before(self, job: Job, listings: dict[int, ListingFacts], fetch: Fetch) -> dict[int, int]:
        """Dataset id -> IDs the job's buyer probed against it in jobs requested in the policy's period
        before this one (by block time of the requests, so every re-check gets the same answer)."""
        w3 = self.ledger.w3
        now = int(w3.eth.get_block(job.request_block)["timestamp"])
        totals = dict.fromkeys(listings, 0)
        for other_id, block in self.ledger.jobs.requested_by(job.buyer):
            if other_id == job.id or block > job.request_block:
                continue
            other = self.ledger.jobs.job(other_id)
            ran = other is not None and (
                other.status in COUNTED or (other.status is JobStatus.REFUNDED and other.attested_mask)
            )
            if not ran or not set(other.dataset_ids) & set(listings):
                continue
            at = int(w3.eth.get_block(block)["timestamp"])
            for dataset_id, n in self.job_probes(other, fetch).items():
                if (
                    dataset_id in listings
                    and now - at < listings[dataset_id].policy.id_lookups.period_seconds
                ):
                    totals[dataset_id] += n
        return totals

    def job_probes(self, job: Job, fetch: Fetch) -> dict[int, int]:
        if job.id not in self._probes:
            self._probes[job.id] = self._count_probes(job, fetch)
        return self._probes[job.id]

    @staticmethod
    def _count_probes(job: Job, fetch: Fetch) -> dict[int, int]:
        from mpc_compute.algorithms import ALGORITHMS

        digest = bytes(job.terms.params_hash)
        try:
            spec = JobSpec.from_bytes(fetch(cid_from_digest(digest)), digest)
            manifests = {
                i.manifest_hash: Manifest.from_bytes(
                    fetch(cid_from_digest(bytes.fromhex(i.manifest_hash))), bytes.fromhex(i.manifest_hash)
                )
                for i in spec.inputs
            }
            algorithm = ALGORITHMS.get(spec.algorithm)
            return {} if algorithm is None else probes(spec, manifests, algorithm)
        except (JobSpecError, ManifestError, PolicyViolation) as exc:
            log.warning("job %d: its ID lookups cannot be counted (%s)", job.id, exc)
            return {}

    def check(
        self, job: Job, spec: JobSpec, manifests: dict[str, Manifest], fetch: Fetch
    ) -> dict[int, ListingFacts]:
        """Raise PolicyViolation naming the rule unless the chain's facts and policies allow the spec;
        return the datasets' facts (their policies, for the differencing guard)."""
        from mpc_compute.algorithms import ALGORITHMS

        algorithm = ALGORITHMS.get(spec.algorithm)
        if algorithm is None:
            raise PolicyViolation("algorithm-binding", f"this node has no algorithm {spec.algorithm!r}")
        facts, listings = self.facts(job, fetch)
        check_job(spec, manifests, algorithm, facts, listings)
        return listings
