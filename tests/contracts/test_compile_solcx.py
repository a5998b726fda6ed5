"""py-solc-x driving the pinned solcjs (contracts/compile.py) builds the committed artifacts byte for byte."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import solcx

from contracts import compile as solcx_build
from contracts.artifacts import ARTIFACT_DIR, CONTRACT_NAMES

TINY = {
    "language": "Solidity",
    "sources": {"a.sol": {"content": "pragma solidity ^0.8.0; contract A { uint public x; }"}},
    "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
}


def test_raw_solcjs_output_is_not_json_but_the_wrapper_is() -> None:
    """Why the wrapper exists: solcjs prints its SMT note before the JSON on standard output."""
    raw = subprocess.run(
        ["node", str(solcx_build.NODE_MODULES / "solc" / "solc.js"), "--standard-json"],
        input=json.dumps(TINY), capture_output=True, text=True, check=True,
    )
    assert raw.stdout.startswith(">>> Cannot retry compilation with SMT")
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.stdout)
    out = solcx.compile_standard(TINY, solc_binary=solcx_build.SOLCJS)
    assert out["contracts"]["a.sol"]["A"]["abi"][0]["name"] == "x"
    assert str(solcx.wrapper.get_solc_version(solcx_build.SOLCJS)) == "0.8.37"


def test_py_solc_x_build_is_byte_identical_to_the_committed_artifacts() -> None:
    fresh = solcx_build.build()
    assert sorted(fresh) == sorted(f"{n}.json" for n in CONTRACT_NAMES)
    stale = sorted(name for name, text in fresh.items() if (ARTIFACT_DIR / name).read_text() != text)
    assert not stale, f"py-solc-x's build differs from the committed artifacts {stale}"


def test_check_mode_names_a_doctored_artifact(tmp_path, monkeypatch, capsys) -> None:
    for path in ARTIFACT_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    doctored = json.loads((tmp_path / "Notary.json").read_text())
    code = doctored["deployedBytecode"]
    doctored["deployedBytecode"] = code[:-2] + ("01" if code.endswith("00") else "00")
    (tmp_path / "Notary.json").write_text(json.dumps(doctored, indent=2) + "\n")
    monkeypatch.setenv("DX_ARTIFACTS_OUT", str(tmp_path))
    assert solcx_build.main(["--check"]) == 1
    assert "stale artifacts (run scripts/compile_contracts): Notary.json" in capsys.readouterr().err
