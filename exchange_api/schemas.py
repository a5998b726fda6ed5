"""Every request and response body of the API: auth, blobs, catalog, health, listings, jobs, approvals, tx."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from dx_core.cid import CID_PATTERN, InvalidCID, digest_from_cid
from exchange_api.catalog.search import MAX_COUNT

HEX32 = r"^0x[0-9a-fA-F]{64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"
CID = CID_PATTERN
UINT256 = 2**256


def _valid_cid(value: str) -> str:
    try:
        digest_from_cid(value)
    except InvalidCID as exc:
        raise ValueError(str(exc)) from None
    return value


CidStr = Annotated[str, AfterValidator(_valid_cid)]


# -- auth ------------------------------------------------------------------------------------------------


class NonceOut(BaseModel):
    nonce: str = Field(examples=["k3J9sQ2xV8pLm4Tz"])
    domain: str = Field(examples=["localhost:8000"])
    uri: str = Field(examples=["http://localhost:8000"])
    chain_id: int = Field(examples=[31337])
    expires_at: datetime


class LoginIn(BaseModel):
    message: str = Field(description="the EIP-4361 message, as signed", min_length=1, max_length=8000)
    signature: str = Field(
        description="0x-hex EIP-191 signature of the message", pattern=r"^0x[0-9a-fA-F]+$", max_length=300
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    address: str
    roles: list[str]


class MeOut(BaseModel):
    address: str
    roles: list[str]
    role_mask: int


# -- blobs -----------------------------------------------------------------------------------------------


class BlobOut(BaseModel):
    cid: str = Field(examples=["bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"])
    size: int = Field(examples=[1024])


# -- catalog ---------------------------------------------------------------------------------------------


class ListingOut(BaseModel):
    id: int = Field(examples=[1])
    kind: str = Field(examples=["dataset"])
    owner: str = Field(examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])
    metadata_cid: str
    manifest_hash: str = Field(description="0x-hex commitment to the share manifest (or the code hash)")
    price_wei: str = Field(
        description="price per use in wei, as a decimal string", examples=["1000000000000000"]
    )
    max_uses: int
    uses: int
    expires_at: int = Field(description="unix time; 0 = never")
    status: str = Field(examples=["active"])
    title: str
    description: str
    tags: list[str]
    columns: list[dict[str, Any]] = Field(description="schema columns: [{name, dtype}]")
    extra: dict[str, Any] = Field(description="other metadata fields and policy")
    created_block: int
    updated_block: int


class CatalogPage(BaseModel):
    items: list[ListingOut]
    total: int = Field(description=f"matches across all pages, counted up to {MAX_COUNT}")
    total_is_exact: bool = Field(description=f"false when there are more than {MAX_COUNT} matches")
    page: int
    page_size: int


# -- health ----------------------------------------------------------------------------------------------


class CheckOut(BaseModel):
    ok: bool
    detail: str = ""


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"], description="ok or degraded")
    checks: dict[str, CheckOut]
    indexer_lag: int | None = Field(default=None, description="blocks behind the chain head")


# -- listings, jobs, approvals, transactions --------------------------------------------------------------


class UnsignedTx(BaseModel):
    """An EIP-1559 transaction for the member to sign locally and send (or relay via /v1/tx/relay)."""

    tx: dict[str, Any] = Field(
        description="fields for eth_account's sign_transaction: from, to, data, value, gas, nonce, chainId, "
        "maxFeePerGas, maxPriorityFeePerGas",
        examples=[
            {
                "from": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "to": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "data": "0x...",
                "value": 0,
                "gas": 210000,
                "nonce": 3,
                "chainId": 31337,
                "maxFeePerGas": 2000000000,
                "maxPriorityFeePerGas": 1000000000,
            }
        ],
    )


class DatasetTermsIn(BaseModel):
    metadata_cid: CidStr = Field(pattern=CID, description="CID of the metadata document (uploaded first)")
    manifest_hash: str = Field(pattern=HEX32, description="sha256 of the share manifest (uploaded first)")
    price_wei: int = Field(ge=0, lt=2**96, description="price per use, wei")
    max_uses: int = Field(default=0, ge=0, lt=2**32, description="0 = unlimited")
    expires_at: int = Field(default=0, ge=0, lt=2**40, description="unix time; 0 = never")
    policy_hash: str = Field(
        default="0x" + "00" * 32,
        pattern=HEX32,
        description="sha256 of the data-use policy document (uploaded first); zero = the default policy",
    )


class AlgorithmTermsIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["logistic_regression"])
    version: str = Field(min_length=1, max_length=40, examples=["1.0.0"])
    code_hash: str = Field(pattern=HEX32)
    metadata_cid: CidStr = Field(pattern=CID)
    price_wei: int = Field(ge=0, lt=2**96)
    secret_params_hash: str = Field(default="0x" + "00" * 32, pattern=HEX32)
    max_uses: int = Field(default=0, ge=0, lt=2**32)


class AlgorithmUpdateIn(BaseModel):
    metadata_cid: CidStr = Field(pattern=CID)
    price_wei: int = Field(ge=0, lt=2**96)
    secret_params_hash: str = Field(default="0x" + "00" * 32, pattern=HEX32)
    max_uses: int = Field(default=0, ge=0, lt=2**32)


class RelayIn(BaseModel):
    raw_tx: str = Field(
        pattern=r"^0x[0-9a-fA-F]+$", max_length=200_000, description="signed transaction, 0x-hex"
    )


class TrackIn(BaseModel):
    tx_hash: str = Field(pattern=HEX32, description="hash of a transaction the member sent itself")


class TxEventOut(BaseModel):
    contract: str
    event: str
    args: dict[str, Any]


class TxOut(BaseModel):
    tx_hash: str
    sender: str
    kind: str = Field(description="Contract.function the transaction calls")
    status: str = Field(description="pending | mined | reverted | failed (never more than the chain shows)")
    block_number: int | None = None
    error: str | None = None
    events: list[TxEventOut] = Field(default_factory=list)


class JobRequestIn(BaseModel):
    dataset_ids: list[Annotated[int, Field(ge=1, lt=UINT256)]] = Field(min_length=1, max_length=15)
    algorithm_id: int = Field(ge=1, lt=UINT256)
    params_hash: str = Field(pattern=HEX32, description="sha256 of the canonical job spec")
    program_hash: str = Field(pattern=HEX32)
    result_key: str = Field(pattern=HEX32, description="X25519 public key of the result receiver")
    deadline: int = Field(gt=0, lt=2**40, description="unix time after which the buyer may reclaim")
    result_receiver: str | None = Field(default=None, pattern=ADDRESS, description="default: the buyer")


class SignatureIn(BaseModel):
    owner: str = Field(pattern=ADDRESS)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte EIP-712 signature")
    nonce: int = Field(ge=0, lt=UINT256)
    deadline: int = Field(ge=0, lt=UINT256, description="unix time the signature expires")


class ApprovalOut(BaseModel):
    owner: str
    decision: str
    nonce: str
    deadline: int
    status: str = Field(description="verified | relayed | onchain | failed")
    tx_hash: str | None = None
    error: str | None = None


class AttestationOut(BaseModel):
    node: str
    node_index: int
    kind: str = Field(description="result | destruction")
    inputs_digest: str
    program_hash: str
    output_share_hash: str
    output_share_cid: str | None = Field(description="CID of the encrypted output share (sha256 = its hash)")
    receipt_hash: str
    tx_hash: str
    block_number: int


class JobOut(BaseModel):
    id: int
    buyer: str
    status: str = Field(description="requested | authorized | completed | disputed | declined | refunded")
    dataset_ids: list[int]
    algorithm_id: int
    owners: list[str]
    pending_owners: list[str]
    program_hash: str
    params_hash: str
    result_key: str
    escrow_wei: str
    deadline: int
    created_block: int
    updated_block: int
    approvals: list[ApprovalOut] = Field(default_factory=list)
    attestations: list[AttestationOut] = Field(default_factory=list)


class ApprovalResultOut(BaseModel):
    job: JobOut
    relayed: TxOut | None = Field(default=None, description="the approveBatch/declineBySig tx, once relayed")
    waiting_for: list[str] = Field(description="owners whose approval is still missing")


class ResultShareOut(BaseModel):
    node: str
    node_index: int
    output_share_hash: str
    cid: str
    stored: bool = Field(description="whether the blob store holds the share")


class UsageOut(BaseModel):
    kind: str
    id: int
    title: str
    status: str
    uses: int
    max_uses: int
    price_wei: str
    completed_jobs: int
    earned_wei: str = Field(description="sum of this listing's price over completed jobs")
