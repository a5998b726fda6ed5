"""EIP-712 typed data for ComputeJobs: build, sign and recover owners' Approval and Decline messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

DOMAIN_NAME = "DataExchange ComputeJobs"
DOMAIN_VERSION = "1"

EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
APPROVAL_TYPE = [
    {"name": "jobId", "type": "uint256"},
    {"name": "programHash", "type": "bytes32"},
    {"name": "owner", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
DECLINE_TYPE = [
    {"name": "jobId", "type": "uint256"},
    {"name": "owner", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain: binds a signature to one chain and one ComputeJobs contract."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True)
class SignedMessage:
    """An owner's signature over Approval or Decline, in the shape ComputeJobs.Signed takes."""

    owner: str
    nonce: int
    deadline: int
    v: int
    r: bytes
    s: bytes

    @property
    def signature(self) -> bytes:
        return self.r + self.s + bytes([self.v])

    def as_tuple(self) -> tuple:
        return (self.owner, self.nonce, self.deadline, self.v, self.r, self.s)

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "nonce": self.nonce,
            "deadline": self.deadline,
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_signature(cls, owner: str, nonce: int, deadline: int, signature: bytes | str) -> SignedMessage:
        sig = bytes.fromhex(signature.removeprefix("0x")) if isinstance(signature, str) else bytes(signature)
        if len(sig) != 65:
            raise ValueError(f"an ECDSA signature is 65 bytes (r, s, v), got {len(sig)}")
        v = sig[64] if sig[64] >= 27 else sig[64] + 27
        return cls(to_checksum_address(owner), nonce, deadline, v, sig[:32], sig[32:64])


def approval_typed_data(
    domain: Domain, job_id: int, program_hash: bytes, owner: str, nonce: int, deadline: int
) -> dict[str, Any]:
    """The full EIP-712 message an owner signs to approve job `job_id` running `program_hash`."""
    if len(program_hash) != 32:
        raise ValueError(f"program_hash must be 32 bytes, got {len(program_hash)}")
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Approval": APPROVAL_TYPE},
        "primaryType": "Approval",
        "domain": domain.as_dict(),
        "message": {
            "jobId": job_id,
            "programHash": bytes(program_hash),
            "owner": to_checksum_address(owner),
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def decline_typed_data(domain: Domain, job_id: int, owner: str, nonce: int, deadline: int) -> dict[str, Any]:
    """The full EIP-712 message an owner signs to decline job `job_id`."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Decline": DECLINE_TYPE},
        "primaryType": "Decline",
        "domain": domain.as_dict(),
        "message": {
            "jobId": job_id,
            "owner": to_checksum_address(owner),
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def _sign(account: LocalAccount, typed: dict[str, Any]) -> SignedMessage:
    signed = account.sign_message(encode_typed_data(full_message=typed))
    msg = typed["message"]
    return SignedMessage(
        account.address,
        msg["nonce"],
        msg["deadline"],
        signed.v,
        signed.r.to_bytes(32, "big"),
        signed.s.to_bytes(32, "big"),
    )


def sign_approval(
    account: LocalAccount, domain: Domain, job_id: int, program_hash: bytes, nonce: int, deadline: int
) -> SignedMessage:
    """`account` signs an Approval of job `job_id` for program `program_hash`."""
    return _sign(account, approval_typed_data(domain, job_id, program_hash, account.address, nonce, deadline))


def sign_decline(
    account: LocalAccount, domain: Domain, job_id: int, nonce: int, deadline: int
) -> SignedMessage:
    """`account` signs a Decline of job `job_id`."""
    return _sign(account, decline_typed_data(domain, job_id, account.address, nonce, deadline))


def recover_signer(typed: dict[str, Any], signature: bytes | str) -> str:
    """The address that signed typed message `typed` (Approval or Decline)."""
    return Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
