"""Browser: the console's transaction path (tx.js through the wallet's eth_sendTransaction) and buying a job
from the Buy page, checked on-chain; the compile endpoint's refusals."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_abi import encode
from web3 import Web3

from contracts.artifacts import abi
from dx_core.blobstore import LocalBlobStore
from dx_core.cid import cid_from_digest
from mpc_compute.algorithms import ALGORITHMS, compile_program
from mpc_compute.clients.input import share_dataset
from mpc_compute.job_spec import JobInput, JobSpec, compile_for, input_shapes
from mpc_compute.manifest import Column, Manifest
from mpc_compute.policy import DEFAULT_POLICY, Policy, required_floor
from tests.browser.conftest import check_page, wait_for
from tests.browser.test_console_workflow import token_for

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]
STATIC = Path(__file__).resolve().parents[2] / "exchange_api" / "web" / "static"

_ENCODE_SCRIPT = """
const abi = await import(process.argv[1] + "/abi.js");
const cases = JSON.parse(await new Promise((ok) => { let s = ""; process.stdin.on("data", (d) => s += d);
  process.stdin.on("end", () => ok(s)); }));
const out = cases.map((c) => abi.encode(c.params, c.values));
const refused = [];
for (const bad of [[{ type: "uint8", name: "x" }], [{ type: "address", name: "a" }]]) {
  try { abi.encode(bad, [bad[0].type === "uint8" ? 256 : "0x1234"]); refused.push("encoded"); }
  catch (err) { refused.push(err instanceof abi.AbiError ? "refused" : err.message); }
}
console.log(JSON.stringify({ out, refused }));
"""

SEND = """
async ([contract, fn, args, value]) => {
  const tx = await import("/console/static/tx.js");
  try {
    const r = await tx.sendContractTx(contract, fn, args, { value: BigInt(value) });
    return { ok: true, txHash: r.txHash, status: Number(r.receipt.status) };
  } catch (err) {
    return { ok: false, kind: err.constructor.name, errorName: err.errorName ?? null, message: err.message };
  }
}
"""


def _types(params: list[dict]) -> list[str]:
    def one(p: dict) -> str:
        if p["type"].startswith("tuple"):
            return "(" + ",".join(one(c) for c in p["components"]) + ")" + p["type"][5:]
        return p["type"]

    return [one(p) for p in params]


def test_encoder_matches_eth_abi(node_bin) -> None:  # type: ignore[no-untyped-def]
    """abi.js encodes as eth_abi does the structs the console sends (dynamic arrays inside tuples)."""
    request = next(x for x in abi("ComputeJobs") if x.get("name") == "request")["inputs"]
    list_dataset = next(x for x in abi("Market") if x.get("name") == "listDataset")["inputs"]
    addr = "0x" + os.urandom(20).hex()
    h1, h2 = os.urandom(32), os.urandom(32)
    req_py = ([3, 1, 2**200], 7, h1, h2, Web3.to_checksum_address(addr), h2, 2**40 - 1)
    req_js = {
        "datasetIds": ["3", 1, str(2**200)],
        "algorithmId": 7,
        "paramsHash": "0x" + h1.hex(),
        "programHash": "0x" + h2.hex(),
        "resultReceiver": addr,
        "resultKey": "0x" + h2.hex(),
        "deadline": str(2**40 - 1),
    }
    ds_py = ("bafy-ü-" * 9, h1, 10**15, 5, 0, bytes(32))
    ds_js = ["bafy-ü-" * 9, "0x" + h1.hex(), "1000000000000000", 5, 0, "0x" + "00" * 32]
    cases = [{"params": request, "values": [req_js]}, {"params": list_dataset, "values": [ds_js]}]
    run = subprocess.run(
        [node_bin, "--input-type=module", "-e", _ENCODE_SCRIPT, str(STATIC)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    wanted = [encode(_types(request), [req_py]), encode(_types(list_dataset), [ds_py])]
    assert got["out"] == [w.hex() for w in wanted]
    # A value that does not fit its type is refused, never silently truncated into another value.
    assert got["refused"] == ["refused", "refused"]


def test_wallet_sends_the_tx_and_a_revert_is_named(page_for, console_stack, cast) -> None:  # type: ignore[no-untyped-def]
    """sendContractTx: the wallet signs and sends (the key never leaves it), the receipt comes back, the chain
    records the call; a call that would revert is refused before the wallet is asked, by its error's name."""
    page, wallet = page_for(cast.seller)
    page.goto(f"{console_stack.url}/console/")
    page.locator("#sign-in").wait_for()
    manifest = os.urandom(32)
    terms = {
        "metadataCid": "bafkqaaa",
        "manifestHash": "0x" + manifest.hex(),
        "pricePerUse": "12345",
        "maxUses": 3,
        "expiresAt": 0,
        "policyHash": "0x" + "00" * 32,
    }
    sent = page.evaluate(SEND, ["Market", "listDataset", [terms], "0"])
    assert sent["ok"], sent
    assert sent["status"] == 1
    receipt = console_stack.w3.eth.get_transaction_receipt(sent["txHash"])
    assert receipt["from"] == cast.seller.address
    listing = console_stack.ledger.market.dataset(console_stack.ledger.market.dataset_count())
    assert bytes(listing.manifest_hash) == manifest and listing.price_per_use == 12345
    methods = wallet.methods()
    assert methods.count("eth_sendTransaction") == 1
    key_hex = cast.seller.key.hex().removeprefix("0x")
    assert not any(key_hex in s for s in page.sent), "the private key left the wallet"

    refused = page.evaluate(SEND, ["ComputeJobs", "withdraw", [], "0"])
    assert not refused["ok"] and refused["kind"] == "TxError", refused
    assert refused["errorName"] == "NothingToWithdraw"
    assert "ComputeJobs.NothingToWithdraw" in refused["message"]
    assert "has nothing to withdraw" in refused["message"]
    assert wallet.methods().count("eth_sendTransaction") == 1, "a doomed transaction reached the wallet"


# ---------------------------------------------------------------- the Buy page

SCHEMA = [
    Column("customer", "text", "id"),
    Column("age", "float64"),
    Column("balance", "float64"),
    Column("noise", "float64"),
]


def _csv(path: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        fh.write("customer,age,balance,noise\n")
        for k in range(rows):
            fh.write(f"c{seed}-{k},{rng.integers(20, 70)},{rng.normal(5e3, 300):.3f},{rng.normal():.4f}\n")
    return path


@dataclass
class Market:
    datasets: list[int]
    manifests: dict[int, Manifest]
    algorithm: int
    unknown_algorithm: int
    policy: Policy
    blobs: LocalBlobStore


@pytest.fixture(scope="module")
def market(console_stack, cast, tmp_path_factory) -> Market:  # type: ignore[no-untyped-def]
    """Three datasets really shared and sealed (to throwaway node keys: nothing runs here, the program is
    only compiled), the second under a policy with k = 12; a joint_stats listing, and one naming no
    library algorithm."""
    ledger = console_stack.ledger
    blobs = LocalBlobStore(console_stack.server.settings.resolved_blob_dir)
    node_keys = [X25519PrivateKey.generate().public_key().public_bytes_raw() for _ in range(3)]
    work = tmp_path_factory.mktemp("buy-data")
    policy = Policy(min_group_size=12)
    blobs.put(policy.to_bytes())
    meta_cols = [{"name": c.name, "dtype": c.dtype, "role": c.role} for c in SCHEMA]
    ids, manifests = [], {}
    for k, rows in enumerate((30, 24, 18)):
        shared = share_dataset(_csv(work / f"d{k}.csv", rows, k), SCHEMA, node_keys, blobs, chunk_rows=10)
        meta = blobs.put(
            json.dumps(
                {"title": f"Bank book {k}", "description": "loans", "tags": ["bank"], "columns": meta_cols}
            ).encode()
        )
        res = ledger.market.list_dataset(
            cast.seller,
            meta,
            shared.manifest_hash,
            10**15 * (k + 1),
            max_uses=5,
            policy_hash=policy.chain_hash() if k == 1 else bytes(32),
        )
        ids.append(res.event("DatasetListed").args["id"])
        manifests[ids[-1]] = shared.manifest
    alg_meta = blobs.put(json.dumps({"title": "Joint statistics", "description": "pooled stats"}).encode())
    version = ALGORITHMS["joint_stats"].version
    alg = ledger.market.list_algorithm(
        cast.algo_owner, "joint_stats", version, Web3.keccak(text="js"), alg_meta, 2 * 10**14
    )
    bogus = ledger.market.list_algorithm(
        cast.algo_owner, "no_such_algorithm", "9.9", Web3.keccak(text="x"), alg_meta, 1
    )
    ids_alg = alg.event("AlgorithmListed").args["id"], bogus.event("AlgorithmListed").args["id"]
    wait_for(
        "the catalog to index the listings",
        lambda: (
            all(httpx.get(f"{console_stack.url}/v1/catalog/datasets/{i}").status_code == 200 for i in ids)
            and httpx.get(f"{console_stack.url}/v1/catalog/algorithms/{ids_alg[0]}").status_code == 200
        ),
    )
    return Market(ids, manifests, ids_alg[0], ids_alg[1], policy, blobs)


def cli_program_hash(
    market: Market, dataset_ids: list[int], columns: tuple[str, ...], params: dict, receiver: str, key: bytes
) -> tuple[str, str]:
    """What `dx job request` computes for the same job: the spec from the manifests, the floor raised to
    the policies' k, compiled by job_spec.compile_for (the nodes' own check). -> (programHash, paramsHash)."""
    alg = ALGORITHMS["joint_stats"]
    manifests = {market.manifests[d].digest().hex(): market.manifests[d] for d in dataset_ids}
    inputs = tuple(
        JobInput(f"data_{k}", "dataset", d, market.manifests[d].digest().hex(), "features", columns)
        for k, d in enumerate(dataset_ids)
    )
    policies = [market.policy if d == market.datasets[1] else DEFAULT_POLICY for d in dataset_ids]
    public = required_floor(params, alg, policies)
    shapes = input_shapes(JobSpec(alg.name, alg.version, inputs, (), receiver, key.hex(), public), manifests)
    outputs = tuple(compile_program(alg.name, shapes, public).output_names)
    spec = JobSpec(alg.name, alg.version, inputs, outputs, receiver, key.hex(), public)
    return "0x" + compile_for(spec, manifests).program_hash.hex(), "0x" + spec.digest().hex()


def open_buy_page(page, url: str):  # type: ignore[no-untyped-def]
    page.goto(f"{url}/console/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    page.get_by_role("link", name="Buy").click()
    page.locator("#buy-form").wait_for()


def pick(page, dataset_ids: list[int], columns: list[str], algorithm: int) -> None:  # type: ignore[no-untyped-def]
    for d in dataset_ids:
        page.locator(f"#dataset-{d}").check()
        for c in columns:
            page.locator(f'[data-columns-of="{d}"] input[value="{c}"]').check()
    page.get_by_label("Algorithm").select_option(str(algorithm))


def test_buyer_requests_a_joint_stats_job_from_the_browser(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, market
) -> None:
    ledger = console_stack.ledger
    chosen = market.datasets[:2]
    page, wallet = page_for(cast.buyer)
    open_buy_page(page, console_stack.url)
    check_page(page, "buy-form")
    pick(page, chosen, ["age", "balance"], market.algorithm)
    page.get_by_label("Minimum cohort (rows)").fill("5")
    page.get_by_role("button", name="Review the job").click()
    page.locator("#program-hash").wait_for()

    key = ledger.registry.member(cast.buyer.address).encryption_key
    program, params_hash = cli_program_hash(
        market, chosen, ("age", "balance"), {"min_cohort": 5}, cast.buyer.address, key
    )
    assert page.locator("#program-hash").inner_text() == program
    # The policy's k = 12 raised the buyer's floor of 5, as the CLI does (the nodes refuse less).
    assert json.loads(page.locator("#compiled-params").inner_text()) == {"min_cohort": 12}
    escrow = ledger.jobs.escrow_for(chosen, market.algorithm, cast.buyer.address, ledger.market)
    assert page.locator("#escrow").get_attribute("data-wei") == str(escrow)
    policy_text = page.locator(f'#policies [data-dataset="{chosen[1]}"]').inner_text()
    assert "at least 12 rows" in policy_text
    default_text = page.locator(f'#policies [data-dataset="{chosen[0]}"]').inner_text()
    assert "the default policy" in default_text
    assert f"at least {DEFAULT_POLICY.min_group_size} rows" in default_text
    assert page.get_by_text("the stored spec hashes to it and names these inputs").count() == 1
    assert page.get_by_text("the receiver's key registered on-chain").count() == 1
    check_page(page, "buy-review")

    page.locator("#request-job").click()
    page.locator("#requested").wait_for()
    job_link = page.locator("#requested a")
    job_id = int(job_link.inner_text().rsplit("#", 1)[1])
    job = ledger.jobs.job(job_id)
    assert job is not None and job.buyer == cast.buyer.address
    assert list(job.terms.dataset_ids) == chosen and job.terms.algorithm_id == market.algorithm
    assert "0x" + bytes(job.terms.program_hash).hex() == program
    assert "0x" + bytes(job.terms.params_hash).hex() == params_hash
    assert bytes(job.terms.result_key) == key
    sent = [p for m, p in wallet.calls if m == "eth_sendTransaction"]
    assert len(sent) == 1 and int(sent[0][0]["value"], 16) == escrow
    # The spec the nodes fetch by paramsHash is in the blob store and is the one compiled.
    stored = JobSpec.from_bytes(
        market.blobs.get(cid_from_digest(bytes(job.terms.params_hash))), bytes(job.terms.params_hash)
    )
    assert stored.params == {"min_cohort": 12} and stored.receiver_key == key.hex()
    job_link.click()
    page.get_by_role("heading", name=f"Job {job_id}", exact=True).wait_for()


def test_a_revert_is_shown_in_words(page_for, console_stack, cast, market) -> None:  # type: ignore[no-untyped-def]
    """The dataset is delisted between the review and the signature: the request is refused by the chain,
    named (Market.DatasetNotActive) and said in words, and the wallet is never asked to sign."""
    target = market.datasets[2]
    page, wallet = page_for(cast.buyer)
    open_buy_page(page, console_stack.url)
    # From the dataset's own page: its "Request a job" link opens the Buy page with the dataset ticked.
    page.get_by_role("link", name="Catalog", exact=True).first.click()
    page.get_by_role("link", name="Bank book 2").click()
    page.get_by_role("link", name="Request a job").click()
    page.locator("#buy-form").wait_for()
    assert page.locator(f"#dataset-{target}").is_checked()
    pick(page, [target], ["age"], market.algorithm)
    page.get_by_role("button", name="Review the job").click()
    page.locator("#request-job").wait_for()
    console_stack.ledger.market.delist_dataset(cast.seller, target)
    page.locator("#request-job").click()
    error = page.locator("#request-error")
    error.wait_for()
    text = error.inner_text()
    assert "DatasetNotActive" in text and f"dataset #{target} is not active" in text, text
    assert error.get_attribute("role") == "alert"
    assert "eth_sendTransaction" not in wallet.methods()
    check_page(page, "buy-revert")


def test_compile_endpoint_refuses_with_the_rule(console_stack, cast, market) -> None:  # type: ignore[no-untyped-def]
    url = f"{console_stack.url}/v1/programs/compile"
    auth = {"Authorization": f"Bearer {token_for(console_stack.url, cast.buyer)}"}
    ds = market.datasets[0]

    def refused(body: dict, rule: str, status: int = 422) -> str:
        resp = httpx.post(url, json=body, headers=auth, timeout=120)
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        doc = resp.json()
        assert doc.get("rule") == rule and rule in doc["detail"], doc
        return doc["detail"]

    detail = refused(
        {"algorithm_id": market.unknown_algorithm, "inputs": [{"source": ds}]}, "unknown-algorithm"
    )
    assert "no_such_algorithm" in detail
    detail = refused(
        {"algorithm_id": market.algorithm, "inputs": [{"source": ds}], "params": {"bogus": 1}},
        "invalid-params",
    )
    assert "bogus" in detail
    # Parameters of the wrong JSON type are the buyer's fault (a 422 naming the rule), never a 500.
    for bad in ({"hist_edges": {"age": [0, 1]}}, {"hist_edges": {"0": 5}}, {"cohort": [1, 2]}):
        refused(
            {"algorithm_id": market.algorithm, "inputs": [{"source": ds}], "params": bad}, "invalid-params"
        )
    detail = refused(
        {"algorithm_id": market.algorithm, "inputs": [{"source": ds, "columns": ["salary"]}]}, "spec-mismatch"
    )
    assert "salary" in detail
    # A member who is not a buyer, or nobody signed in: no compile (it stores the spec blob).
    seller = {"Authorization": f"Bearer {token_for(console_stack.url, cast.seller)}"}
    resp = httpx.post(
        url, json={"algorithm_id": market.algorithm, "inputs": [{"source": ds}]}, headers=seller
    )
    assert resp.status_code == 403 and "compile job programs" in resp.json()["detail"], resp.text
    assert (
        httpx.post(url, json={"algorithm_id": market.algorithm, "inputs": [{"source": ds}]}).status_code
        == 401
    )


def test_the_page_says_why_it_cannot_review(page_for, console_stack, cast, market) -> None:  # type: ignore[no-untyped-def]
    """Signed out, the page asks for a sign-in; a job that does not compile is refused in the page with the
    rule's name, and no request button is offered."""
    page, wallet = page_for(cast.buyer)
    page.goto(f"{console_stack.url}/console/buy")
    page.get_by_text("Sign in with your buyer wallet to request a compute job.").wait_for()
    assert page.locator("#buy-form").count() == 0
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#buy-form").wait_for()
    page.locator(f"#dataset-{market.datasets[0]}").check()
    page.locator(f'[data-columns-of="{market.datasets[0]}"] input[value="age"]').check()
    page.locator(f"#dataset-{market.datasets[1]}").check()  # all three features: not the same width
    page.get_by_label("Algorithm").select_option(str(market.algorithm))
    page.get_by_role("button", name="Review the job").click()
    alert = page.locator("#review-box [role=alert]")
    alert.wait_for()
    assert "invalid-inputs" in alert.inner_text() and "same cols" in alert.inner_text()
    assert page.locator("#request-job").count() == 0
    assert "eth_sendTransaction" not in wallet.methods()
    check_page(page, "buy-refused")


RACE = """
([id]) => {
  window.__sends = [0, 1].map(() => import("/console/static/tx.js").then((tx) =>
    tx.sendContractTx("Market", "delistDataset", [BigInt(id)]).then(
      (r) => ({ ok: true, status: Number(r.receipt.status) }),
      (err) => ({ ok: false, errorName: err.errorName ?? null, message: err.message, txHash: err.txHash }))));
}
"""


def test_a_revert_the_preflight_missed_is_named_from_the_mined_block(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast
) -> None:
    """Two delistings of one dataset pass their preflight together and are mined in one block: the second
    reverts on-chain, and tx.js names its error (DatasetNotActive) from the block, with its transaction."""
    ledger, w3 = console_stack.ledger, console_stack.w3
    listed = ledger.market.list_dataset(cast.seller, "bafkqaaa", os.urandom(32), 1)
    ds = listed.event("DatasetListed").args["id"]
    page, wallet = page_for(cast.seller)
    page.goto(f"{console_stack.url}/console/")
    page.locator("#sign-in").wait_for()
    if "error" in w3.provider.make_request("evm_setAutomine", [False]):
        pytest.skip("this chain cannot hold transactions for one block (no evm_setAutomine)")
    try:
        page.evaluate(RACE, [ds])

        def both_sent() -> bool:
            page.wait_for_timeout(100)  # lets Playwright deliver the page's wallet calls
            return wallet.methods().count("eth_sendTransaction") == 2

        wait_for("both transactions to reach the wallet", both_sent)
        w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    results = page.evaluate("() => Promise.all(window.__sends)")
    assert {"ok": True, "status": 1} in results, results
    failed = next(r for r in results if not r["ok"])
    assert failed["errorName"] == "DatasetNotActive", failed
    assert f"dataset #{ds} is not active" in failed["message"]
    assert w3.eth.get_transaction_receipt(failed["txHash"])["status"] == 0
