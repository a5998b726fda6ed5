"""Load the compiled contract artifacts (ABI, bytecode, provenance) committed in contracts/artifacts/."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
SOURCE_DIR = Path(__file__).resolve().parent / "src"
# Deployment order: later contracts take earlier ones' addresses in their constructors.
CONTRACT_NAMES: tuple[str, ...] = ("Registry", "Market", "ComputeJobs", "Notary")


class ArtifactNotFound(FileNotFoundError):
    """No compiled artifact for that contract name (run scripts/compile_contracts)."""


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The artifact of contract `name`: keys abi, bytecode, deployedBytecode, sourceHash, compiler, ..."""
    path = ARTIFACT_DIR / f"{name}.json"
    if not path.is_file():
        raise ArtifactNotFound(f"no artifact for contract {name!r} at {path}; run scripts/compile_contracts")
    return json.loads(path.read_text())


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of contract `name`."""
    return load_artifact(name)["abi"]


def available_contracts() -> list[str]:
    """Names from CONTRACT_NAMES that have an artifact, in deployment order."""
    return [n for n in CONTRACT_NAMES if (ARTIFACT_DIR / f"{n}.json").is_file()]
