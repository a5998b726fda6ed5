"""The regulator's compliance check names a job that ran although its listing's policy forbade it (as if its
nodes had skipped the check), from the chain and hash-checked documents alone; an allowed job is clean."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts import JobStatus
from dx.actions.compliance import compliance_check
from dx_core.roles import Role
from mpc_compute import spu_runtime
from mpc_compute.algorithms import ALGORITHMS, compile_program
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.input import share_dataset
from mpc_compute.envelope import public_bytes
from mpc_compute.job_spec import JobInput, JobSpec, input_shapes, program_hash_for
from mpc_compute.manifest import Column
from mpc_compute.policy import Policy
from notarizer.chainview import ChainEvent
from tests.fixtures.chain import admit_members

pytestmark = [pytest.mark.chain]

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def test_a_job_that_ran_against_its_policy_is_a_violation(
    ledger, w3, dev_accounts, operator, chain_snapshot, tmp_path
) -> None:
    nodes, (seller, vendor, buyer) = dev_accounts[13:16], dev_accounts[16:19]
    receiver = X25519PrivateKey.generate()
    admit_members(
        ledger,
        operator,
        [
            (seller, Role.PROVIDER),
            (vendor, Role.ALGORITHM_PROVIDER),
            (buyer, Role.BUYER),
            *[(n, Role.COMPUTE_NODE) for n in nodes],
        ],
        {buyer.address: public_bytes(receiver)},
    )
    reg = ledger.registry
    reg.register_cluster(operator, [n.address for n in nodes], CID, spu_runtime.config_hash(), 0)
    store = open_blob_source(str(tmp_path / "blobs"))
    csv = tmp_path / "d.csv"
    csv.write_text("enterprise_id,revenue\n" + "".join(f"E{k},{k * 1.5}\n" for k in range(30)))
    keys = [public_bytes(X25519PrivateKey.generate()) for _ in range(3)]
    shared = share_dataset(
        csv, [Column("enterprise_id", "text", "id"), Column("revenue", "float64")], keys, store
    )
    policy = Policy(min_group_size=20)
    store.put(policy.to_bytes())
    market, jobs = ledger.market, ledger.jobs
    ds = (
        market.list_dataset(seller, CID, shared.manifest_hash, 0, policy_hash=policy.chain_hash())
        .event("DatasetListed")
        .args["id"]
    )
    alg = ALGORITHMS["joint_stats"]
    alg_id = (
        market.list_algorithm(vendor, alg.name, alg.version, alg.code_hash, CID, 0)
        .event("AlgorithmListed")
        .args["id"]
    )
    manifests = {shared.manifest_hash.hex(): shared.manifest}

    def run_unchecked(min_cohort: int) -> int:
        """A job the nodes ran and attested without checking the policy."""
        inputs = (JobInput("data_0", "dataset", ds, shared.manifest_hash.hex(), "features"),)
        params = {"min_cohort": min_cohort}
        draft = JobSpec(
            alg.name, alg.version, inputs, (), buyer.address, public_bytes(receiver).hex(), params
        )
        outputs = tuple(compile_program(alg.name, input_shapes(draft, manifests), params).output_names)
        spec = JobSpec(
            alg.name, alg.version, inputs, outputs, buyer.address, public_bytes(receiver).hex(), params
        )
        store.put(spec.to_bytes())
        program = program_hash_for(spec, manifests)
        deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
        value = jobs.escrow_for([ds], alg_id, buyer.address, market)
        job_id = (
            jobs.request(buyer, [ds], alg_id, spec.digest(), program, public_bytes(receiver), deadline, value)
            .event("JobRequested")
            .args["jobId"]
        )
        jobs.approve(seller, job_id)
        jobs.approve(vendor, job_id)
        for i, node in enumerate(nodes):
            jobs.attest(node, job_id, b"\x02" * 32, program, bytes([i + 1]) * 32)
        assert jobs.job(job_id).status is JobStatus.COMPLETED
        return job_id

    bad, good = run_unchecked(0), run_unchecked(25)
    attested = {j: [ChainEvent("JobAttested", "0x", 0, 0, {"jobId": j})] for j in (bad, good)}
    findings = compliance_check(ledger, store.get)(attested)
    assert [f.category for f in findings] == ["violation"]
    assert f"job {bad}:" in findings[0].detail and "min-group-size" in findings[0].detail
    assert "k = 20" in findings[0].detail
    # a job no node ran is not judged (it released nothing)
    assert compliance_check(ledger, store.get)({bad: [ChainEvent("JobAuthorized", "0x", 0, 0, {})]}) == []
