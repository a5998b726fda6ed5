"""Encrypted member keystores: an Ethereum key and an X25519 key in one password-protected JSON file.

File layout (version 1):

    {"version": 1, "address": "0x...", "x25519_public": "<hex>",
     "ethereum": <eth-account keystore v3 JSON (scrypt)>,
     "x25519": {"kdf": "scrypt", "kdfparams": {"n", "r", "p", "salt"}, "cipher": "aes-256-gcm",
                "nonce": "<hex>", "ciphertext": "<hex>"}}

The X25519 private key is encrypted with AES-256-GCM under a scrypt-derived key (own salt), with the
address and public key as associated data, so a file whose halves were swapped between members
fails to load. Services read the password from DX_KEYSTORE_PASSWORD (`password_from_env`), and their
key setting (a 0x key or a keystore path) with `load_signer`. Nothing here logs a key; an
`Identity`'s repr shows only its public parts.

The public development material lives here too, in one home: `DEV_ADDRESSES` (the accounts of the
Anvil/Ganache default mnemonic), `DEV_PASSWORD` (the local demo's keystore password) and
`DEV_CHAIN_IDS`. `refuse_dev_address` is the one check that keeps them off any other chain.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from eth_account import Account
from eth_account.signers.local import LocalAccount

DEFAULT_SCRYPT_N = 2**17
PASSWORD_ENV = "DX_KEYSTORE_PASSWORD"
# Shipped in the source, so it protects nothing: only the local demo stack on a dev chain may use it.
DEV_PASSWORD = "dx-local-demo-only"
# Chain ids Anvil (31337) and Ganache (1337) use by default: a local dev chain has one of these.
DEV_CHAIN_IDS = frozenset({31337, 1337})
# The accounts of the public mnemonic "test test ... junk" (m/44'/60'/0'/0/i, i = 0..19): every
# Anvil and Ganache prints their private keys, so anything they hold on a real chain is anyone's.
DEV_ADDRESSES: tuple[str, ...] = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    "0xBcd4042DE499D14e55001CcbB24a551F3b954096",
    "0x71bE63f3384f5fb98995898A86B02Fb2426c5788",
    "0xFABB0ac9d68B0B445fB7357272Ff202C5651694a",
    "0x1CBd3b2770909D4e10f157cABC84C7264073C9Ec",
    "0xdF3e18d64BC6A983f673Ab319CCaE4f1a57C7097",
    "0xcd3B766CCDd6AE721141F452C550Ca635964ce71",
    "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
    "0xbDA5747bFD65F08deb54cb465eB87D40e51B197E",
    "0xdD2FD4581271e230360230F9337D5c0430Bf44C0",
    "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199",
)
_DEV_LOWER = frozenset(a.lower() for a in DEV_ADDRESSES)


class KeystoreError(Exception):
    """A keystore that cannot be read, or a wrong password."""


class DevKeyError(KeystoreError):
    """A public development key or password offered where only real secrets are acceptable."""


def is_dev_address(address: str) -> bool:
    """Whether `address` is one of the public development accounts."""
    return address.lower() in _DEV_LOWER


def refuse_dev_address(address: str, what: str, chain_id: int | None = None) -> None:
    """Raise DevKeyError when `what` (e.g. "the operator's keystore keys/operator.json") holds a
    public development account: the caller has decided it is not on the local dev chain."""
    if is_dev_address(address):
        index = [a.lower() for a in DEV_ADDRESSES].index(address.lower())
        where = f"chain {chain_id}" if chain_id is not None else "a chain other than the local dev chain"
        raise DevKeyError(
            f"{what} is {address}, public development account #{index} of the Anvil/Ganache mnemonic; "
            f"refused on {where} (rule: dev keys only on the stack's own local dev chain)"
        )


@dataclass(frozen=True)
class Identity:
    """A member's keys: Ethereum account (signing) and X25519 key (receiving sealed shares)."""

    account: LocalAccount = field(repr=False)
    x25519: X25519PrivateKey = field(repr=False)

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def x25519_public(self) -> bytes:
        return self.x25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return f"Identity(address={self.address}, x25519_public={self.x25519_public.hex()})"

    __str__ = __repr__


def create(account: LocalAccount | None = None, x25519: X25519PrivateKey | None = None) -> Identity:
    """A new identity (fresh random keys unless given)."""
    return Identity(account or Account.create(), x25519 or X25519PrivateKey.generate())


def password_from_env() -> str:
    """The keystore password services use, from DX_KEYSTORE_PASSWORD."""
    value = os.environ.get(PASSWORD_ENV)
    if not value:
        raise KeystoreError(f"set {PASSWORD_ENV} to the keystore password")
    return value


def load_signer(value: str, password: str | None = None) -> LocalAccount:
    """A service's signing account from its setting: a 0x-hex private key (66 characters), else the path
    of a dx keystore file, decrypted with `password` (by default from DX_KEYSTORE_PASSWORD)."""
    if value.startswith("0x") and len(value) == 66:
        return Account.from_key(value)
    doc = json.loads(Path(value).read_text())
    return decrypt(doc, password_from_env() if password is None else password).account


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode())


def _aad(address: str, public: bytes) -> bytes:
    return f"dx-keystore/v1|{address.lower()}|{public.hex()}".encode()


def encrypt(identity: Identity, password: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> dict:
    """The keystore document of `identity`, encrypted under `password`."""
    eth = Account.encrypt(identity.account.key, password, kdf="scrypt", iterations=scrypt_n)
    salt, nonce = os.urandom(16), os.urandom(12)
    r, p = 8, 1
    secret = identity.x25519.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key = _scrypt(password, salt, scrypt_n, r, p)
    ct = AESGCM(key).encrypt(nonce, secret, _aad(identity.address, identity.x25519_public))
    return {
        "version": 1,
        "address": identity.address,
        "x25519_public": identity.x25519_public.hex(),
        "ethereum": eth,
        "x25519": {
            "kdf": "scrypt",
            "kdfparams": {"n": scrypt_n, "r": r, "p": p, "salt": salt.hex()},
            "cipher": "aes-256-gcm",
            "nonce": nonce.hex(),
            "ciphertext": ct.hex(),
        },
    }


def decrypt(doc: dict, password: str) -> Identity:
    """The identity in a keystore document; raises KeystoreError on a wrong password or bad file."""
    if doc.get("version") != 1:
        raise KeystoreError(f"unsupported keystore version {doc.get('version')!r}")
    try:
        eth_key = Account.decrypt(doc["ethereum"], password)
    except ValueError:
        raise KeystoreError("wrong password for the Ethereum key") from None
    except KeyError as exc:
        raise KeystoreError(f"keystore misses field {exc}") from None
    account = Account.from_key(eth_key)
    if account.address.lower() != str(doc.get("address", "")).lower():
        raise KeystoreError(f"keystore claims address {doc.get('address')}, key is {account.address}")
    try:
        x = doc["x25519"]
        params = x["kdfparams"]
        key = _scrypt(password, bytes.fromhex(params["salt"]), params["n"], params["r"], params["p"])
        public = bytes.fromhex(doc["x25519_public"])
        secret = AESGCM(key).decrypt(
            bytes.fromhex(x["nonce"]), bytes.fromhex(x["ciphertext"]), _aad(account.address, public)
        )
    except KeyError as exc:
        raise KeystoreError(f"keystore misses field {exc}") from None
    except InvalidTag:
        raise KeystoreError("X25519 key does not decrypt: wrong password or altered keystore") from None
    ident = Identity(account, X25519PrivateKey.from_private_bytes(secret))
    if ident.x25519_public != public:
        raise KeystoreError("X25519 private key does not match the stored public key")
    return ident


def save(identity: Identity, path: Path, password: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> Path:
    """Write the encrypted keystore to `path` (mode 0600, atomic replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(encrypt(identity, password, scrypt_n), fh, indent=1)
    os.replace(tmp, path)
    return path


def load(path: Path, password: str) -> Identity:
    """Read and decrypt a keystore file."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path}") from None
    except json.JSONDecodeError as exc:
        raise KeystoreError(f"{path} is not JSON: {exc}") from None
    return decrypt(doc, password)


def public_info(path: Path) -> tuple[str, bytes]:
    """Address and X25519 public key of a keystore, without the password."""
    doc = json.loads(Path(path).read_text())
    return doc["address"], bytes.fromhex(doc["x25519_public"])
