"""Member identities on this machine: encrypted keystores in `<data_dir>/keys/`, and the demo's cast.

The password comes from DX_KEYSTORE_PASSWORD; when it is unset the documented dev default
(`dx-local-demo-only`) is used, which is only acceptable for the local demo on a dev chain.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from dx.errors import ConfigError, InputError
from dx.stack import DEV_KEYSTORE_PASSWORD
from dx_core import keystore
from dx_core.settings import get_settings
from ganache.launcher import DEV_KEYS

# The demo's cast, each on a funded dev account of the local chain (index into DEV_KEYS).
DEMO_CAST: dict[str, int] = {
    "operator": 0,
    "tax-bureau": 1,
    "telecom": 2,
    "bank-a": 3,
    "bank-b": 4,
    "model-vendor": 5,
    "regulator": 6,
}
# Accounts of the services `dx up` runs (one per process, so their nonces never race).
SERVICE_ACCOUNTS: dict[str, int] = {"node-0": 7, "node-1": 8, "node-2": 9, "notarizer": 10, "relayer": 11}
# The cast's Ethereum keys are the chain's public dev keys, so a costly KDF would protect nothing:
# a light scrypt keeps `dx up` quick. Accounts made with `dx account new/import` get the full cost.
DEV_SCRYPT_N = 2**12
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_cache: dict[tuple[str, str], keystore.Identity] = {}


@dataclass(frozen=True)
class AccountInfo:
    name: str
    address: str
    x25519_public: str
    path: Path


def keys_dir() -> Path:
    return Path(get_settings().data_dir) / "keys"


def password() -> str:
    return os.environ.get(keystore.PASSWORD_ENV) or DEV_KEYSTORE_PASSWORD


def path_of(name: str) -> Path:
    if not NAME_RE.match(name):
        raise InputError(f"bad account name {name!r}", hint="use lower-case letters, digits, - and _")
    return keys_dir() / f"{name}.json"


def create(name: str, private_key: str | bytes | None = None, scrypt_n: int = keystore.DEFAULT_SCRYPT_N
           ) -> AccountInfo:
    """A new encrypted keystore `name` (fresh keys, or the given Ethereum private key)."""
    path = path_of(name)
    if path.exists():
        raise InputError(f"an account named {name!r} already exists at {path}",
                         hint="pick another name or remove the file first")
    try:
        account = Account.from_key(private_key) if private_key is not None else None
    except (ValueError, TypeError) as exc:
        raise InputError(f"not a valid private key: {type(exc).__name__}",
                         hint="pass 32 bytes as 64 hex digits, with or without 0x") from None
    ident = keystore.create(account)
    keystore.save(ident, path, password(), scrypt_n)
    return info(name)


def info(name: str) -> AccountInfo:
    path = path_of(name)
    if not path.exists():
        raise ConfigError(f"no account named {name!r} (looked for {path})",
                          hint="list accounts with `dx account list`, or run `dx up` to create the demo cast")
    address, public = keystore.public_info(path)
    return AccountInfo(name, address, public.hex(), path)


def list_accounts() -> list[AccountInfo]:
    d = keys_dir()
    return [info(p.stem) for p in sorted(d.glob("*.json"))] if d.exists() else []


def load(name: str) -> keystore.Identity:
    """The decrypted identity `name` (decrypted once per process: scrypt is slow on purpose)."""
    key = (str(keys_dir()), name)
    if key not in _cache:
        path = path_of(name)
        if not path.exists():
            info(name)  # raises the helpful error
        try:
            _cache[key] = keystore.load(path, password())
        except keystore.KeystoreError as exc:
            raise ConfigError(f"cannot open the keystore of {name!r}: {exc}",
                              hint="set DX_KEYSTORE_PASSWORD to the password it was created with") from None
    return _cache[key]


def ensure_demo_cast() -> list[tuple[AccountInfo, bool]]:
    """Create the keystores of the demo cast and of the stack's services that do not exist yet;
    (info, created) for each."""
    out = []
    for name, index in {**DEMO_CAST, **SERVICE_ACCOUNTS}.items():
        if path_of(name).exists():
            out.append((info(name), False))
        else:
            out.append((create(name, DEV_KEYS[index], DEV_SCRYPT_N), True))
    return out
