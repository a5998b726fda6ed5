#!/usr/bin/env python
"""Deploy the ledger contracts to an EVM node and write the deployment file the other services read."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account
from eth_account.signers.local import LocalAccount

from contracts import deploy, web3_at
from dx_core.settings import get_settings
from ganache.launcher import DEV_KEYS

KEY_ENV_DEFAULT = "DX_DEPLOYER_KEY"


class MissingKeyError(SystemExit):
    """No usable deployer key was given."""


def load_key(args: argparse.Namespace) -> LocalAccount:
    """The deployer account: from --key-file, else the env var named by --key-env, else --dev-key."""
    if args.key_file:
        text = Path(args.key_file).read_text().strip()
        return Account.from_key(text)
    value = os.environ.get(args.key_env, "").strip()
    if value:
        return Account.from_key(value)
    if args.dev_key:
        return Account.from_key(DEV_KEYS[0])
    raise MissingKeyError(
        f"no deployer key: set ${args.key_env}, pass --key-file FILE, or --dev-key for a local dev chain"
    )


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rpc-url", default=settings.rpc_url, help="EVM JSON-RPC endpoint")
    parser.add_argument("--key-env", default=KEY_ENV_DEFAULT, help="env var holding the deployer's hex key")
    parser.add_argument("--key-file", type=Path, help="file holding the deployer's hex key")
    parser.add_argument(
        "--dev-key", action="store_true", help="use the first dev account (local chains only)"
    )
    parser.add_argument("--out", type=Path, default=settings.resolved_deployment_file, help="deployment file")
    parser.add_argument("--json", action="store_true", help="print the deployment as JSON")
    args = parser.parse_args(argv)

    operator = load_key(args)
    w3 = web3_at(args.rpc_url, timeout=60)
    if not w3.is_connected():
        print(f"error: no EVM node answers at {args.rpc_url}", file=sys.stderr)
        return 2
    deployment = deploy(w3, operator)
    path = deployment.save(args.out)
    if args.json:
        print(json.dumps(dict(deployment.to_json(), file=str(path)), indent=2))
    else:
        print(f"deployed to chain {deployment.chain_id} by {deployment.deployer}:")
        for name, address in deployment.addresses.items():
            print(f"  {name:12} {address}  (block {deployment.blocks[name]})")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
