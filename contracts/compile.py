"""Compile contracts/src with py-solc-x driving the pinned solcjs: the artifacts of ganache/compile.js."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import solcx

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "contracts" / "src"
# py-solc-x cannot download a native solc here; this executable runs the pinned solcjs for it.
SOLCJS = ROOT / "contracts" / "solcjs"
NODE_MODULES = ROOT / "ganache" / "node_modules"
EVM_VERSION = "shanghai"
OPTIMIZER = {"enabled": True, "runs": 200}
VIA_IR = True


def standard_input() -> dict[str, Any]:
    """The standard-JSON input ganache/compile.js builds: our sources as `src/<file>`, the same settings."""
    sources = {f"src/{p.name}": {"content": p.read_text()} for p in sorted(SRC.glob("*.sol"))}
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": OPTIMIZER,
            "viaIR": VIA_IR,
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def _source_text(name: str, given: dict[str, Any]) -> str:
    if name in given:
        return str(given[name]["content"])
    path = (NODE_MODULES / name).resolve()
    if not path.is_relative_to(NODE_MODULES.resolve()):
        raise ValueError(f"import {name} resolves outside ganache/node_modules")
    return path.read_text()


def build() -> dict[str, str]:
    """Every artifact's file name and exact text, compiled by `solcx.compile_standard` through solcjs."""
    data = standard_input()
    # base path contracts/ names our sources `src/...`; the wrapper adds node_modules as include path.
    output = solcx.compile_standard(data, base_path=ROOT / "contracts", solc_binary=SOLCJS)
    # The full string compile.js records (solc.version()); py-solc-x's own parse drops ".Emscripten.clang".
    version = subprocess.run([SOLCJS, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    for error in output.get("errors", []):
        where = (error.get("sourceLocation") or {}).get("file", "")
        if where.startswith("src/"):
            print(error["formattedMessage"], file=sys.stderr)
    # The same source hash as compile.js: every source the compiler read, by name, NUL-separated.
    digest = hashlib.sha256()
    for name in sorted(output["sources"]):
        digest.update(f"{name}\0{_source_text(name, data['sources'])}\0".encode())
    source_hash = "0x" + digest.hexdigest()
    artifacts: dict[str, str] = {}
    for file, contracts in output["contracts"].items():
        if not file.startswith("src/"):
            continue
        for name, c in contracts.items():
            if not c["evm"]["bytecode"]["object"]:
                continue  # interfaces have no code to deploy
            artifact = {
                "contractName": name,
                "sourceName": file,
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                "sourceHash": source_hash,
                "compiler": {"name": "solcjs", "version": version},
                "evmVersion": EVM_VERSION,
                "optimizer": OPTIMIZER,
                "viaIR": VIA_IR,
            }
            artifacts[f"{name}.json"] = json.dumps(artifact, indent=2, ensure_ascii=False) + "\n"
    return artifacts


def _differs(path: Path, text: str) -> bool:
    return not path.is_file() or path.read_text() != text


def main(argv: list[str] | None = None) -> int:
    """Write contracts/artifacts (or DX_ARTIFACTS_OUT); with --check, only report stale artifacts."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(os.environ.get("DX_ARTIFACTS_OUT") or ROOT / "contracts" / "artifacts")
    artifacts = build()
    if "--check" in args:
        stale = sorted(n for n, t in artifacts.items() if _differs(out / n, t))
        if stale:
            print(f"stale artifacts (run scripts/compile_contracts): {', '.join(stale)}", file=sys.stderr)
            return 1
        print("artifacts are up to date")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in artifacts.items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
