"""The exchange's ledger: Solidity artifacts, deployment, and typed Python bindings (`Ledger`)."""

from contracts.deploy import Deployment, DeploymentError, deploy
from contracts.errors import ContractRevert, LedgerError, TransactionFailed
from contracts.ledger import Ledger
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
    Role,
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
    "Role",
    "TransactionFailed",
    "TxResult",
    "deploy",
]
