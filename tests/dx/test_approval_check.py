"""An owner's approval checks what it signs: a real exchange API whose typed-data response is tampered
with in transit (another verifyingContract, another programHash) is refused unsigned, nothing relayed."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.types import JobStatus
from dx_core.blobstore import LocalBlobStore
from dx_core.roles import Role
from exchange_api.client import ExchangeClient
from mpc_compute.clients.approval import ApprovalCheck, ApprovalRefused
from mpc_compute.envelope import public_bytes
from mpc_compute.job_spec import JobInput, JobSpec, program_hash_for
from mpc_compute.manifest import Column

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


class Interceptor(httpx.BaseTransport):
    """Real HTTP to the API; `edit` rewrites the typed-data document on its way back; POSTs are recorded."""

    def __init__(self, edit: Callable[[dict], None] | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.edit = edit
        self.posted: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posted.append(request.url.path)
        response = self.inner.handle_request(request)
        if self.edit is not None and request.url.path.endswith("/typed-data") and response.status_code == 200:
            response.read()
            doc = json.loads(response.content)
            self.edit(doc)
            return httpx.Response(200, json=doc)
        return response


@pytest.fixture(scope="module")
def requested_job(api_world, api_server, tmp_path_factory):
    """A real joint_stats job on the API suite's chain: a shared and listed dataset (its blobs in a local
    store), the algorithm listed with its real code hash, the spec stored, the job requested on-chain."""
    from mpc_compute.algorithms import ALGORITHMS
    from mpc_compute.clients.input import share_dataset

    w = api_world
    seller, algo, buyer = w.member(Role.PROVIDER), w.member(Role.ALGORITHM_PROVIDER), w.member(Role.BUYER)
    nodes = [w.member(Role.COMPUTE_NODE) for _ in range(3)]
    w.ledger.registry.register_cluster(w.operator, [n.address for n in nodes], CID, b"\x22" * 32, 0)
    work = tmp_path_factory.mktemp("approval")
    store = LocalBlobStore(work / "blobs")
    rng = np.random.default_rng(3)
    with (work / "d.csv").open("w") as fh:
        fh.write("customer,age,balance\n")
        for k in range(40):
            fh.write(f"c-{k},{round(rng.normal(40, 9), 3)},{round(rng.normal(5e3, 300), 3)}\n")
    keys = [public_bytes(X25519PrivateKey.generate()) for _ in range(3)]
    schema = [Column("customer", "text", "id"), Column("age", "float64"), Column("balance", "float64")]
    listing = share_dataset(work / "d.csv", schema, keys, store, chunk_rows=20)
    market = w.ledger.market
    dataset_id = market.list_dataset(seller, CID, listing.manifest_hash, 7).event("DatasetListed").args["id"]
    joint = ALGORITHMS["joint_stats"]
    alg_id = market.list_algorithm(algo, joint.name, joint.version, joint.code_hash, CID, 3)
    alg_id = alg_id.event("AlgorithmListed").args["id"]
    result_key = bytes(w.ledger.registry.member(buyer.address).encryption_key)
    spec = JobSpec(
        algorithm="joint_stats",
        algorithm_version=joint.version,
        inputs=(
            JobInput("data_0", "dataset", dataset_id, listing.manifest_hash.hex(), "features", ("age",)),
        ),
        outputs=(
            "released", "count", "sum", "mean", "variance", "histogram", "histogram_released",
            "differencing_refused",
        ),
        receiver_address=buyer.address,
        receiver_key=result_key.hex(),
        params={"hist_edges": {"0": [0, 30, 45, 60, 200]}},
    )
    program_hash = program_hash_for(spec, {listing.manifest_hash.hex(): listing.manifest})
    store.put(spec.to_bytes())
    deadline = int(w.ledger.w3.eth.get_block("latest")["timestamp"]) + 3600
    value = w.ledger.jobs.escrow_for([dataset_id], alg_id, buyer.address, market)
    job_id = w.ledger.jobs.request(
        buyer, [dataset_id], alg_id, spec.digest(), program_hash, result_key, deadline, value
    ).event("JobRequested").args["jobId"]
    with ExchangeClient(api_server.url, buyer) as watcher:
        watcher.login()
        watcher.wait_for_job(job_id, {"requested"})  # the API has indexed it
    return {"job": job_id, "seller": seller, "algo": algo, "store": store, "program": program_hash,
            "dataset": dataset_id, "url": api_server.url}


def seller_client(job: dict, edit: Callable[[dict], None] | None) -> tuple[ExchangeClient, Interceptor]:
    spy = Interceptor(edit)
    client = ExchangeClient(job["url"], job["seller"], http=httpx.Client(base_url=job["url"], transport=spy))
    client.login()
    return client, spy


def other_contract(doc: dict) -> None:
    doc["domain"]["verifyingContract"] = "0x" + "66" * 20


def other_program(doc: dict) -> None:
    doc["message"]["programHash"] = "0x" + "77" * 32


@pytest.mark.parametrize(
    ("edit", "check"), [(other_contract, "domain-contract"), (other_program, "program-hash")]
)
def test_tampered_typed_data_is_refused_and_nothing_is_relayed(api_world, requested_job, edit, check) -> None:
    job = requested_job
    client, spy = seller_client(job, edit)
    approval = ApprovalCheck(api_world.ledger, job["store"].get)
    with pytest.raises(ApprovalRefused) as refused:
        client.approve_job(job["job"], check=approval)
    assert refused.value.check == check and check in str(refused.value)
    assert not any(p.endswith("/approvals") for p in spy.posted), spy.posted
    onchain = api_world.ledger.jobs.job(job["job"])
    assert onchain.status is JobStatus.REQUESTED and onchain.pending_mask == 0b11
    assert client.job(job["job"])["approvals"] == []


def test_a_spec_blob_that_is_not_the_committed_one_is_refused(api_world, requested_job) -> None:
    job = requested_job
    client, spy = seller_client(job, None)
    served = {"n": 0}

    def swapped(cid: str) -> bytes:  # a store that serves other bytes under the spec's CID
        served["n"] += 1
        return job["store"].get(cid) + b" " if served["n"] == 1 else job["store"].get(cid)

    with pytest.raises(ApprovalRefused) as refused:
        client.approve_job(job["job"], check=ApprovalCheck(api_world.ledger, swapped))
    assert refused.value.check == "blob-hash" and "job spec" in str(refused.value)
    assert not any(p.endswith("/approvals") for p in spy.posted)


def test_an_honest_response_is_checked_shown_and_signed(api_world, requested_job) -> None:
    job = requested_job
    client, spy = seller_client(job, None)
    shown: list[str] = []
    approval = ApprovalCheck(api_world.ledger, job["store"].get, show=lambda r: shown.extend(r.describe()))
    out = client.approve_job(job["job"], check=approval)
    assert out["waiting_for"] == [job["algo"].address]
    assert [p for p in spy.posted if p.endswith("/approvals")] == [f"/v1/jobs/{job['job']}/approvals"]
    words = "\n".join(shown)
    assert "algorithm joint_stats version" in words and "code hash matches" in words
    assert f"dataset #{job['dataset']}, array features, columns age, 40 rows" in words
    assert "hist_edges" in words and f"price for dataset #{job['dataset']}: 7 wei" in words
    assert job["program"].hex() in words
    if importlib.util.find_spec("mpc_compute.policy") is not None:  # listing policies, where present
        assert f"dataset #{job['dataset']} (the default policy): minimum group size k = 10" in words
