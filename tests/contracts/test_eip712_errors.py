"""EIP-712 helpers agree with the contract; revert data decodes into named errors."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak

from contracts import eip712
from contracts.errors import decode_revert

pytestmark = [pytest.mark.contracts]

KEY = "0x" + "11" * 32


def test_sign_and_recover_roundtrip() -> None:
    account = Account.from_key(KEY)
    domain = eip712.Domain(31337, "0x" + "ab" * 20)
    signed = eip712.sign_approval(account, domain, 7, b"\x01" * 32, 3, 1000)
    typed = eip712.approval_typed_data(domain, 7, b"\x01" * 32, account.address, 3, 1000)
    assert eip712.recover_signer(typed, signed.signature) == account.address
    assert (signed.owner, signed.nonce, signed.deadline) == (account.address, 3, 1000)
    again = eip712.SignedMessage.from_signature(account.address, 3, 1000, "0x" + signed.signature.hex())
    assert again == signed
    other = eip712.approval_typed_data(domain, 8, b"\x01" * 32, account.address, 3, 1000)
    assert eip712.recover_signer(other, signed.signature) != account.address
    decline = eip712.sign_decline(account, domain, 7, 4, 1000)
    typed = eip712.decline_typed_data(domain, 7, account.address, 4, 1000)
    assert eip712.recover_signer(typed, decline.signature) == account.address
    with pytest.raises(ValueError, match="65 bytes"):
        eip712.SignedMessage.from_signature(account.address, 1, 1, b"\0" * 64)


@pytest.mark.chain
def test_domain_and_type_hashes_match_the_contract(ledger, w3) -> None:
    jobs = ledger.jobs
    domain = jobs.domain()
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(
                    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak(text=eip712.DOMAIN_NAME),
                keccak(text=eip712.DOMAIN_VERSION),
                w3.eth.chain_id,
                jobs.address,
            ],
        )
    )
    assert jobs.read("domainSeparator") == expected
    assert domain.chain_id == w3.eth.chain_id and domain.verifying_contract == jobs.address
    approval = "Approval(uint256 jobId,bytes32 programHash,address owner,uint256 nonce,uint256 deadline)"
    assert jobs.read("APPROVAL_TYPEHASH") == keccak(text=approval)
    decline = "Decline(uint256 jobId,address owner,uint256 nonce,uint256 deadline)"
    assert jobs.read("DECLINE_TYPEHASH") == keccak(text=decline)


def _data(signature: str, types: list[str], values: list) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


def test_decode_custom_errors_strings_and_panics() -> None:
    err = decode_revert(
        _data("UsageLimitReached(uint256,uint256,uint256)", ["uint256"] * 3, [3, 5, 5]), "ComputeJobs"
    )
    assert str(err) == "Market.UsageLimitReached(listingId=3, uses=5, maxUses=5)"
    assert (err.contract, err.error_name, err.args_dict) == (
        "Market",
        "UsageLimitReached",
        {"listingId": 3, "uses": 5, "maxUses": 5},
    )
    # an error several contracts declare goes to the one that was called
    both = _data("NotActiveMember(address,uint8)", ["address", "uint8"], ["0x" + "22" * 20, 4])
    assert decode_revert(both, "ComputeJobs").contract == "ComputeJobs"
    assert decode_revert(both, "Market").contract == "Market"
    assert str(decode_revert(_data("Error(string)", ["string"], ["boom"]), "X")) == "X.Error(reason='boom')"
    panic = decode_revert(_data("Panic(uint256)", ["uint256"], [0x11]), "X")
    assert panic.error_name == "Panic" and panic.args_dict["reason"] == "arithmetic overflow or underflow"
    assert decode_revert(b"\xde\xad\xbe\xef", "X").error_name == "UnknownError"
    assert decode_revert(b"", "X").error_name == "Reverted"
