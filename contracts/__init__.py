"""The exchange's ledger: Solidity artifacts, deployment, and typed Python bindings (`Ledger`)."""

from contracts.deploy import Deployment, DeploymentError, deploy
from contracts.errors import ContractRevert, LedgerError, TransactionFailed
from contracts.ledger import Ledger, connect, web3_at
from contracts.tx import DecodedEvent, TxResult
from contracts.types import (
    AlgorithmListing,
    Attestation,
    Checkpoint,
    Cluster,
    DatasetListing,
    Job,
    JobStatus,
    JobTerms,
    ListingStatus,
    Member,
)

__all__ = [
    "AlgorithmListing",
    "Attestation",
    "Checkpoint",
    "Cluster",
    "ContractRevert",
    "DatasetListing",
    "DecodedEvent",
    "Deployment",
    "DeploymentError",
    "Job",
    "JobStatus",
    "JobTerms",
    "Ledger",
    "LedgerError",
    "ListingStatus",
    "Member",
    "TransactionFailed",
    "TxResult",
    "connect",
    "deploy",
    "web3_at",
]
