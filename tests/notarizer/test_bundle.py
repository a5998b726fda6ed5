"""Signed trail bundles verified against the Notary on Anvil: intact, tampered, mis-cited, mis-signed."""

from __future__ import annotations

import copy
import json

import pytest
from eth_account import Account

from notarizer.anchorer import Anchorer
from notarizer.bundle import build_bundle, verify_bundle
from notarizer.cli import main as verify_main
from notarizer.log import NewEntry

pytestmark = [pytest.mark.chain, pytest.mark.database]
EXPORTER = Account.from_key("0x" + "24" * 32)


@pytest.fixture
def bundle_env(tlog, fresh_chain, operator, chain):
    anchorer = Anchorer(tlog, fresh_chain, operator, every_entries=5, every_seconds=3600)
    for step in ("requested", "authorized", "attested", "completed"):
        tlog.append_many(
            [
                NewEntry(f"job.{step}", "system", ["job:7", "dataset:2"], {"step": step}),
                NewEntry("api.request", "system", ["job:8"], {"x": step}),
                NewEntry("api.request", "system", [], {"y": step}),
            ]
        )
        anchorer.run_once()
    tlog.append("job.settled", "system", ["job:7"], {"step": "settled"})  # not anchored yet
    notary = fresh_chain.notary.address
    bundle = build_bundle(tlog, "job:7", EXPORTER, notary, fresh_chain.w3.eth.chain_id)
    return bundle, chain.rpc_url, notary


def test_intact_bundle_verifies(bundle_env) -> None:
    bundle, rpc, notary = bundle_env
    report = verify_bundle(bundle, rpc, notary, expected_exporter=EXPORTER.address)
    assert report.ok, report.findings
    assert report.entries == 5 and report.checkpoints == 1  # all proved against the latest checkpoint
    assert [f.problem for f in report.findings] == ["unanchored"]


def test_tampered_entry_in_bundle_is_named(bundle_env) -> None:
    bundle, rpc, notary = bundle_env
    forged = copy.deepcopy(bundle)
    forged["entries"][1]["actor"] = "0x" + "66" * 20
    report = verify_bundle(forged, rpc, notary)
    seq = bundle["entries"][1]["seq"]
    assert ("signature", None) in [(f.problem, f.seq) for f in report.errors]
    assert ("changed", seq) in [(f.problem, f.seq) for f in report.errors]


def test_bundle_citing_a_root_the_chain_does_not_hold_is_named(bundle_env) -> None:
    bundle, rpc, notary = bundle_env
    forged = copy.deepcopy(bundle)
    forged["entries"][0]["inclusion"]["root"] = "00" * 32
    report = verify_bundle(forged, rpc, notary)
    assert [f.problem for f in report.errors] == ["signature", "forked-root"]


def test_wrong_or_missing_signature_is_named(bundle_env) -> None:
    bundle, rpc, notary = bundle_env
    assert [f.problem for f in verify_bundle(bundle, rpc, notary, "0x" + "11" * 20).errors] == ["signature"]
    unsigned = {k: v for k, v in bundle.items() if k not in ("signature", "exporter")}
    assert "not signed" in verify_bundle(unsigned, rpc, notary).errors[0].detail


def test_exporter_is_checked_against_the_notarizer_role_on_chain(bundle_env, tlog, operator) -> None:
    bundle, rpc, notary = bundle_env
    outsider = verify_bundle(bundle, rpc, notary)
    assert outsider.ok and any(
        "does not hold the Notary's notarizer role" in f.detail for f in outsider.findings
    )
    by_notarizer = build_bundle(tlog, "job:7", operator, notary)
    assert [f.problem for f in verify_bundle(by_notarizer, rpc, notary).findings] == ["unanchored"]


def test_verify_cli_checks_a_bundle_file(bundle_env, tmp_path, capsys) -> None:
    bundle, rpc, notary = bundle_env
    path = tmp_path / "job7.json"
    path.write_text(json.dumps(bundle))
    args = ["--rpc", rpc, "--notary", notary, "--bundle", str(path), "--exporter", EXPORTER.address]
    assert verify_main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 5
    bundle["entries"][0]["kind"] = "job.refunded"
    path.write_text(json.dumps(bundle))
    assert verify_main(args) == 1
    assert "VERIFICATION FAILED" in capsys.readouterr().out
