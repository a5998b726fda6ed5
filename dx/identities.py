"""Member identities on this machine: encrypted keystores in `<data_dir>/keys/`, and the demo's cast.

Two regimes. In the local demo stack (this data dir's stack runs its own Anvil/Ganache) the demo cast
and the services use the public dev keys, and the password defaults to the demo one shipped in the
source (`dx-local-demo-only`). Anywhere else (no stack yet, or `dx up --rpc-url`) keys are real: the
password comes from DX_KEYSTORE_PASSWORD or is asked for on the terminal (twice for a new keystore),
the demo password is refused, and so is every public dev key (dx_core.keystore.DEV_ADDRESSES).
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from dx.errors import ConfigError, InputError
from dx.stack import DEV_KEYSTORE_PASSWORD, Supervisor
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
# What `dx up` needs on any chain: the operator (deploys, admits) and the services' own accounts.
STACK_ACCOUNTS: tuple[str, ...] = ("operator", *SERVICE_ACCOUNTS)
# Keys an operator may give the stack's services directly (0x key or keystore path) instead of keys/.
GIVEN_KEY_ENV: dict[str, str] = {"relayer": "DX_RELAYER_KEY", "notarizer": "DX_NOTARIZER_KEY"}
MIN_PASSWORD_LEN = 8
# The cast's Ethereum keys are the chain's public dev keys, so a costly KDF would protect nothing:
# a light scrypt keeps `dx up` quick. Accounts made with `dx account new/import` get the full cost.
DEV_SCRYPT_N = 2**12
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_cache: dict[tuple[str, str], keystore.Identity] = {}
_asked: dict[str, str] = {}  # password typed on the terminal, per data dir: asked once per process


@dataclass(frozen=True)
class AccountInfo:
    name: str
    address: str
    x25519_public: str
    path: Path


def keys_dir() -> Path:
    return Path(get_settings().data_dir) / "keys"


def demo_stack() -> bool:
    """Whether this data dir holds the local demo stack (its own local chain), where the public dev
    keys and the demo password are allowed. `dx up` checks the chain id as well."""
    sup = Supervisor.load(get_settings())
    return sup is not None and sup.config.own_chain


def _refuse_weak(value: str, new: bool) -> None:
    if value == DEV_KEYSTORE_PASSWORD:
        raise ConfigError("the keystore password is the demo password shipped in the source; refused outside "
                          "the local demo stack (rule: real keys never under a public password)",
                          hint=f"set {keystore.PASSWORD_ENV} to a password of your own, or unset it "
                               "to be asked")
    if new and len(value) < MIN_PASSWORD_LEN:
        raise InputError(f"the keystore password is shorter than {MIN_PASSWORD_LEN} characters",
                         hint="choose a longer password")


def _ask(new: bool) -> str:
    if not sys.stdin.isatty():
        raise ConfigError(f"{keystore.PASSWORD_ENV} is not set and there is no terminal to ask for the "
                          "keystore password (outside the local demo stack the demo default is not used)",
                          hint=f"set {keystore.PASSWORD_ENV} to the password of your keystores")
    value = getpass.getpass("new keystore password: " if new else "keystore password: ")
    _refuse_weak(value, new)
    if new and getpass.getpass("repeat the password: ") != value:
        raise InputError("the two passwords differ",
                         hint="run the command again and type the same password twice")
    return value


def password(*, new: bool = False, local: bool | None = None) -> str:
    """The keystore password. In the local demo stack: DX_KEYSTORE_PASSWORD or the demo default.
    Elsewhere: DX_KEYSTORE_PASSWORD, else asked on the terminal (twice when `new`); never the demo one."""
    local = demo_stack() if local is None else local
    value = os.environ.get(keystore.PASSWORD_ENV)
    if local:
        return value or DEV_KEYSTORE_PASSWORD
    if value:
        _refuse_weak(value, new)
        return value
    where = str(keys_dir())
    if where not in _asked:
        _asked[where] = _ask(new)
    return _asked[where]


def refuse_dev_key(address: str, what: str, chain_id: int | None = None) -> None:
    """ConfigError when `address` is a public dev account; call it off the local dev chain only."""
    try:
        keystore.refuse_dev_address(address, what, chain_id)
    except keystore.DevKeyError as exc:
        raise ConfigError(str(exc), hint="use keys of your own: `dx account import NAME` (or remove the "
                                         "keystore and let `dx up` create a fresh one to fund)") from None


def path_of(name: str) -> Path:
    if not NAME_RE.match(name):
        raise InputError(f"bad account name {name!r}", hint="use lower-case letters, digits, - and _")
    return keys_dir() / f"{name}.json"


def create(name: str, private_key: str | bytes | None = None, scrypt_n: int = keystore.DEFAULT_SCRYPT_N,
           *, local: bool | None = None) -> AccountInfo:
    """A new encrypted keystore `name` (fresh keys, or the given Ethereum private key). Outside the
    local demo stack (`local`, by default `demo_stack()`) a public dev key and the demo password are
    refused."""
    local = demo_stack() if local is None else local
    path = path_of(name)
    if path.exists():
        raise InputError(f"an account named {name!r} already exists at {path}",
                         hint="pick another name or remove the file first")
    try:
        account = Account.from_key(private_key) if private_key is not None else None
    except (ValueError, TypeError) as exc:
        raise InputError(f"not a valid private key: {type(exc).__name__}",
                         hint="pass 32 bytes as 64 hex digits, with or without 0x") from None
    if account is not None and not local:
        refuse_dev_key(account.address, f"the key given for {name!r}")
    ident = keystore.create(account)
    keystore.save(ident, path, password(new=True, local=local), scrypt_n)
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
        local = demo_stack()
        if not local:
            refuse_dev_key(info(name).address, f"the account {name!r} ({path})")
        try:
            _cache[key] = keystore.load(path, password(local=local))
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
            out.append((create(name, DEV_KEYS[index], DEV_SCRYPT_N, local=True), True))
    return out


@dataclass(frozen=True)
class StackAccount:
    """One account `dx up` runs with off the local dev chain, and where its key came from."""

    name: str
    address: str
    source: str  # "$DX_RELAYER_KEY", "keys/operator.json", ...
    created: bool


def _given_address(value: str, var: str) -> str:
    if value.startswith("0x") and len(value) == 66:
        try:
            return Account.from_key(value).address
        except (ValueError, TypeError):
            raise ConfigError(f"{var} is not a valid private key",
                              hint="a 0x key (64 hex digits) or a keystore path") from None
    try:
        return keystore.public_info(Path(value))[0]
    except (OSError, ValueError, KeyError):
        raise ConfigError(f"{var} names no readable dx keystore",
                          hint="a 0x key or the path of a keystore file") from None


def ensure_stack_accounts(chain_id: int) -> list[StackAccount]:
    """The operator's and services' accounts for a chain that is not the local dev chain: the keys given
    ($DX_RELAYER_KEY / $DX_NOTARIZER_KEY, or keystores already in keys/), else fresh random keystores.
    Any public dev key is refused before anything is created."""
    found: dict[str, StackAccount] = {}
    for name in STACK_ACCOUNTS:
        var = GIVEN_KEY_ENV.get(name)
        given = os.environ.get(var) if var else None
        if given:
            found[name] = StackAccount(name, _given_address(given, var), f"${var}", False)
        elif path_of(name).exists():
            found[name] = StackAccount(name, info(name).address, str(path_of(name)), False)
    for acct in found.values():
        refuse_dev_key(acct.address, f"the {acct.name} account ({acct.source})", chain_id)
    out = []
    for name in STACK_ACCOUNTS:
        if name not in found:
            made = create(name, local=False)
            found[name] = StackAccount(name, made.address, str(made.path), True)
        out.append(found[name])
    return out
