"""A relay while the chain is unreachable: a 503 problem, and the intent stays `pending`, never done."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient
from sqlmodel import Session

from contracts import Deployment
from dx_core.settings import Settings
from exchange_api.app import create_app
from exchange_api.models import PendingTx
from tests.fixtures.api import free_port

pytestmark = [pytest.mark.api, pytest.mark.database]
SELLER = Account.from_key("0x" + "c3" * 32)


def test_relay_to_a_dead_chain_is_recorded_as_pending(tmp_path, database_url, login) -> None:
    market = "0x" + "5f" * 20
    deployment = Deployment(
        chain_id=31337,
        addresses={
            "Market": market,
            "Registry": "0x" + "6e" * 20,
            "ComputeJobs": "0x" + "7d" * 20,
            "Notary": "0x" + "8c" * 20,
        },
        blocks={"Market": 1},
    )
    path = deployment.save(tmp_path / "deployment.json")
    deployment = Deployment.load(path)  # checksummed addresses
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        deployment_file=path,
        rpc_url=f"http://127.0.0.1:{free_port()}",
        siwe_domain="testserver",
    )
    app = create_app(settings, run_indexer=False)
    with TestClient(app) as client:
        token = login(client, SELLER)
        health = client.get("/health").json()
        assert health["checks"]["chain"]["ok"] is False
        tx = {
            "to": deployment.addresses["Market"],
            "data": "0x" + keccak(text="delistDataset(uint256)")[:4].hex() + "00" * 31 + "01",
            "value": 0,
            "gas": 200_000,
            "nonce": 0,
            "chainId": 31337,
            "maxFeePerGas": 2 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        raw = SELLER.sign_transaction(tx).raw_transaction.to_0x_hex()
        resp = client.post("/v1/tx/relay", json={"raw_tx": raw}, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert "could not reach the chain" in resp.json()["detail"]
        with Session(app.state.ctx.engine) as session:
            rows = session.query(PendingTx).all()
        assert [(r.sender, r.status) for r in rows] == [(SELLER.address, "pending")]
        assert rows[0].error and "could not reach the chain" in rows[0].error
        status = client.get(f"/v1/tx/{rows[0].tx_hash}", headers={"Authorization": f"Bearer {token}"}).json()
        assert status["status"] == "pending"
