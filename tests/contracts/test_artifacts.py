"""The committed artifacts are exactly what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from contracts.artifacts import ARTIFACT_DIR, CONTRACT_NAMES, load_artifact
from dx_core.roles import Role

# Compiling does not depend on the chain, so these run once (main pass), not again in CI's Ganache pass.

COMPILE_JS = Path(__file__).resolve().parents[2] / "ganache" / "compile.js"


def test_committed_artifacts_are_fresh(tmp_path) -> None:
    """Recompile into a scratch directory; every committed artifact must be byte-identical."""
    env = dict(os.environ, DX_ARTIFACTS_OUT=str(tmp_path))
    build = subprocess.run(
        ["node", str(COMPILE_JS)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert build.returncode == 0, build.stderr
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_text() for p in ARTIFACT_DIR.glob("*.json")}
    assert sorted(fresh) == sorted(f"{n}.json" for n in CONTRACT_NAMES)
    stale = sorted(name for name in fresh if committed.get(name) != fresh[name])
    assert not stale, f"stale artifacts {stale}: run scripts/compile_contracts and commit the result"
    assert sorted(committed) == sorted(fresh), "artifacts without a source: delete them"


def test_artifact_provenance() -> None:
    for name in CONTRACT_NAMES:
        artifact = load_artifact(name)
        assert artifact["contractName"] == name
        assert artifact["evmVersion"] == "shanghai"
        assert artifact["compiler"]["version"].startswith("0.8.37")
        assert artifact["optimizer"] == {"enabled": True, "runs": 200} and artifact["viaIR"] is True
        assert artifact["bytecode"].startswith("0x6") and len(artifact["deployedBytecode"]) > 1000
        # EIP-170: deployable on any chain
        assert (len(artifact["deployedBytecode"]) - 2) // 2 <= 24_576
        assert artifact["sourceHash"] == load_artifact(CONTRACT_NAMES[0])["sourceHash"]
        assert json.dumps(artifact["abi"])  # the ABI is plain JSON


@pytest.mark.contracts
@pytest.mark.chain
def test_deployed_code_matches_artifacts(w3, deployment) -> None:
    # Registry and Notary have no immutables, so their runtime code is byte-identical to the artifact.
    for name in ("Registry", "Notary"):
        code = w3.eth.get_code(deployment.addresses[name])
        assert "0x" + code.hex().removeprefix("0x") == load_artifact(name)["deployedBytecode"]
    for name in CONTRACT_NAMES:
        assert len(w3.eth.get_code(deployment.addresses[name])) > 0
    deployment.check_chain(w3)


@pytest.mark.contracts
@pytest.mark.chain
def test_python_roles_mirror_the_solidity_roles(ledger) -> None:
    # contracts/src/Roles.sol is the definition; Registry exposes its bits as public constants.
    for role in Role:
        assert ledger.registry.contract.functions[role.name]().call() == role.value
