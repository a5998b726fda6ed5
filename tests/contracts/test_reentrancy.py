"""A contract member that re-enters withdraw() when paid gets paid once: the guard refuses the reentry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from eth_utils import function_signature_to_4byte_selector

from contracts.tx import TxSender
from dx_core.roles import Role
from tests.contracts.conftest import CID, attest_all, h, now

pytestmark = [pytest.mark.contracts, pytest.mark.chain]

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).resolve().parent / "solidity" / "ReentrantMember.sol"
COMPILE = """
const solc = require("solc");
const fs = require("fs");
const input = {language: "Solidity", sources: {"R.sol": {content: fs.readFileSync(process.argv[1], "utf8")}},
  settings: {evmVersion: "shanghai", optimizer: {enabled: true, runs: 200},
             outputSelection: {"*": {"*": ["abi", "evm.bytecode.object"]}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
if ((out.errors || []).some((e) => e.severity === "error")) {
  console.error(JSON.stringify(out.errors));
  process.exit(1);
}
const c = out.contracts["R.sol"].ReentrantMember;
console.log(JSON.stringify({abi: c.abi, bytecode: "0x" + c.evm.bytecode.object}));
"""


@pytest.fixture(scope="session")
def attacker_artifact() -> dict:
    done = subprocess.run(
        ["node", "-e", COMPILE, str(SOURCE)],
        cwd=ROOT / "ganache",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_reentrant_withdraw_is_refused(ledger, w3, world, attacker_artifact, chain_snapshot) -> None:
    sender = TxSender(w3, ledger.decoder)
    controller = world.outsider
    factory = w3.eth.contract(abi=attacker_artifact["abi"], bytecode=attacker_artifact["bytecode"])
    deployed = sender.send(controller, None, factory.constructor().data_in_transaction)
    address = w3.eth.get_transaction_receipt(deployed.tx_hash)["contractAddress"]
    attacker = w3.eth.contract(address=address, abi=attacker_artifact["abi"])

    def via_attacker(target: str, data: str) -> None:
        sender.send(controller, address, attacker.encode_abi("exec", args=[target, data]))

    ledger.registry.admit(world.operator, address, Role.PROVIDER, h("attacker key"), CID)
    market = ledger.market
    via_attacker(market.address, market.encode("listDataset", market.dataset_terms(CID, h("bait"), 10**16)))
    dataset = market.dataset_count()
    assert market.dataset(dataset).owner == address

    jobs = ledger.jobs
    value = jobs.escrow_for([dataset], world.algorithm, world.buyer.address, market)
    result = jobs.request(
        world.buyer, [dataset], world.algorithm, h("p"), h("prog"), h("key buyer"), now(w3) + 600, value
    )
    job_id = result.event("JobRequested").args["jobId"]
    via_attacker(jobs.address, jobs.encode("approve", job_id, jobs.terms(job_id).as_tuple()))
    jobs.approve(world.algo_owner, job_id)
    attest_all(ledger, world, job_id)
    assert jobs.balance_of(address) == 10**16

    contract_before = w3.eth.get_balance(jobs.address)
    sender.send(controller, address, attacker.encode_abi("arm"))
    via_attacker(jobs.address, jobs.encode("withdraw"))
    assert attacker.functions.reentered().call() and not attacker.functions.reentryOk().call()
    error = attacker.functions.reentryError().call()
    assert error[:4] == function_signature_to_4byte_selector("ReentrancyGuardReentrantCall()")
    assert w3.eth.get_balance(address) == 10**16
    assert w3.eth.get_balance(jobs.address) == contract_before - 10**16
    assert jobs.balance_of(address) == 0
