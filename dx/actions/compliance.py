"""The regulator's compliance check: every job that ran is re-checked against the policies it was bound to.

It trusts the chain and content hashes only: the job's terms, listings and approvals come from the
ledger, and each document (spec, manifests, policies) is fetched from the exchange's blob store by the
hash the chain holds and checked against it. A job that ran although a policy forbade it is a
*violation* (the log may be faithful, the rules were still broken); refused jobs are the rules working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import Ledger
from contracts.types import JobStatus
from dx_core.cid import cid_from_digest
from mpc_compute.job_spec import JobSpec, JobSpecError
from mpc_compute.manifest import Manifest, ManifestError
from mpc_compute.node.policy_gate import PolicyGate
from mpc_compute.policy import PolicyViolation
from notarizer.verifier import VIOLATION, Finding

# A job "ran" when some node attested it: those are the jobs whose result someone may hold.
RAN = ("JobAttested",)


def compliance_check(
    ledger: Ledger, fetch: Callable[[str], bytes]
) -> Callable[[dict[int, list[Any]]], list[Finding]]:
    """A notarizer.verifier ComplianceCheck over `ledger`, fetching documents with `fetch(cid)`."""
    gate = PolicyGate(ledger)

    def check(jobs: dict[int, list[Any]]) -> list[Finding]:
        findings = []
        for job_id, events in sorted(jobs.items()):
            if not any(e.event in RAN for e in events):
                continue
            job = ledger.jobs.job(job_id)
            if job is None or job.status is JobStatus.REFUSED:
                continue
            problem = _violation(gate, job, fetch)
            if problem is not None:
                findings.append(Finding("violation", f"job {job_id}: {problem}", category=VIOLATION))
        return findings

    return check


def _violation(gate: PolicyGate, job: Any, fetch: Callable[[str], bytes]) -> str | None:
    digest = bytes(job.terms.params_hash)
    try:
        spec = JobSpec.from_bytes(fetch(cid_from_digest(digest)), digest)
        manifests = {}
        for i in spec.inputs:
            mh = bytes.fromhex(i.manifest_hash)
            manifests[i.manifest_hash] = Manifest.from_bytes(fetch(cid_from_digest(mh)), mh)
        gate.check(job, spec, manifests, fetch)
    except PolicyViolation as exc:
        return f"ran although {exc}"
    except (JobSpecError, ManifestError) as exc:
        return f"its job documents do not check against the chain: {exc}"
    return None
