"""Binding of Market.sol: dataset and algorithm listings, their policies and usage counters."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from contracts.bindings.base import ContractBinding
from contracts.tx import TxResult
from contracts.types import AlgorithmListing, DatasetListing, ListingStatus

ZERO32 = b"\x00" * 32


def _h(value: bytes, field: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{field} must be 32 bytes, got {len(value)}")
    return bytes(value)


class MarketBinding(ContractBinding):
    NAME = "Market"

    # ---- datasets
    @staticmethod
    def dataset_terms(
        metadata_cid: str,
        manifest_hash: bytes,
        price_per_use: int,
        max_uses: int = 0,
        expires_at: int = 0,
        min_cohort_size: int = 0,
    ) -> tuple:
        """The DatasetTerms tuple (max_uses 0 = unlimited, expires_at 0 = never)."""
        return (
            metadata_cid,
            _h(manifest_hash, "manifest_hash"),
            price_per_use,
            max_uses,
            expires_at,
            min_cohort_size,
        )

    def list_dataset(
        self,
        sender: LocalAccount,
        metadata_cid: str,
        manifest_hash: bytes,
        price_per_use: int,
        max_uses: int = 0,
        expires_at: int = 0,
        min_cohort_size: int = 0,
    ) -> TxResult:
        """List a dataset; its id is `result.event("DatasetListed").args["id"]`."""
        terms = self.dataset_terms(
            metadata_cid, manifest_hash, price_per_use, max_uses, expires_at, min_cohort_size
        )
        return self._send(sender, "listDataset", terms)

    def build_list_dataset(
        self,
        sender: str,
        metadata_cid: str,
        manifest_hash: bytes,
        price_per_use: int,
        max_uses: int = 0,
        expires_at: int = 0,
        min_cohort_size: int = 0,
    ) -> dict:
        terms = self.dataset_terms(
            metadata_cid, manifest_hash, price_per_use, max_uses, expires_at, min_cohort_size
        )
        return self.build("listDataset", terms, sender=sender)

    def update_dataset(
        self,
        sender: LocalAccount,
        dataset_id: int,
        metadata_cid: str,
        manifest_hash: bytes,
        price_per_use: int,
        max_uses: int = 0,
        expires_at: int = 0,
        min_cohort_size: int = 0,
    ) -> TxResult:
        terms = self.dataset_terms(
            metadata_cid, manifest_hash, price_per_use, max_uses, expires_at, min_cohort_size
        )
        return self._send(sender, "updateDataset", dataset_id, terms)

    def set_algorithm_policy(
        self, sender: LocalAccount, dataset_id: int, algorithm_ids: list[int], pre_approved: bool = True
    ) -> TxResult:
        return self._send(sender, "setAlgorithmPolicy", dataset_id, list(algorithm_ids), pre_approved)

    def set_buyer_policy(
        self, sender: LocalAccount, dataset_id: int, buyers: list[str], pre_approved: bool = True
    ) -> TxResult:
        return self._send(sender, "setBuyerPolicy", dataset_id, list(buyers), pre_approved)

    def delist_dataset(self, sender: LocalAccount, dataset_id: int) -> TxResult:
        return self._send(sender, "delistDataset", dataset_id)

    def dataset(self, dataset_id: int) -> DatasetListing | None:
        """The listing, or None when no dataset has this id."""
        row = self._read_or_none("dataset", dataset_id, missing=("DatasetNotFound",))
        if row is None:
            return None
        (owner, min_cohort, price, max_uses, uses, expires_at, status, has_policy, manifest_hash, cid) = row
        return DatasetListing(
            dataset_id,
            owner,
            cid,
            bytes(manifest_hash),
            int(price),
            int(max_uses),
            int(uses),
            int(expires_at),
            int(min_cohort),
            ListingStatus(status),
            bool(has_policy),
        )

    def dataset_count(self) -> int:
        return int(self._read("datasetCount"))

    def is_algorithm_pre_approved(self, dataset_id: int, algorithm_id: int) -> bool:
        return bool(self._read("algorithmPreApproved", dataset_id, algorithm_id))

    def is_buyer_pre_approved(self, dataset_id: int, buyer: str) -> bool:
        return bool(self._read("buyerPreApproved", dataset_id, buyer))

    # ---- algorithms
    def list_algorithm(
        self,
        sender: LocalAccount,
        name: str,
        version: str,
        code_hash: bytes,
        metadata_cid: str,
        price_per_use: int,
        secret_params_hash: bytes = ZERO32,
        max_uses: int = 0,
    ) -> TxResult:
        """List an algorithm or model; its id is `result.event("AlgorithmListed").args["id"]`."""
        return self._send(
            sender,
            "listAlgorithm",
            name,
            version,
            _h(code_hash, "code_hash"),
            metadata_cid,
            price_per_use,
            _h(secret_params_hash, "secret_params_hash"),
            max_uses,
        )

    def update_algorithm(
        self,
        sender: LocalAccount,
        algorithm_id: int,
        metadata_cid: str,
        price_per_use: int,
        secret_params_hash: bytes = ZERO32,
        max_uses: int = 0,
    ) -> TxResult:
        return self._send(
            sender,
            "updateAlgorithm",
            algorithm_id,
            metadata_cid,
            price_per_use,
            _h(secret_params_hash, "secret_params_hash"),
            max_uses,
        )

    def delist_algorithm(self, sender: LocalAccount, algorithm_id: int) -> TxResult:
        return self._send(sender, "delistAlgorithm", algorithm_id)

    def algorithm(self, algorithm_id: int) -> AlgorithmListing | None:
        """The listing, or None when no algorithm has this id."""
        row = self._read_or_none("algorithm", algorithm_id, missing=("AlgorithmNotFound",))
        if row is None:
            return None
        (owner, price, max_uses, uses, status, code_hash, secret_hash, name, version, cid) = row
        return AlgorithmListing(
            algorithm_id,
            owner,
            name,
            version,
            bytes(code_hash),
            cid,
            bytes(secret_hash),
            int(price),
            int(max_uses),
            int(uses),
            ListingStatus(status),
        )

    def algorithm_count(self) -> int:
        return int(self._read("algorithmCount"))

    # ---- jobs
    def quote(
        self, dataset_ids: list[int], algorithm_id: int, buyer: str
    ) -> tuple[list[str], list[int], int]:
        """(owners, prices, pre-approved bit mask) for a prospective job; raises if it cannot be bought."""
        owners, prices, mask = self._read("quote", list(dataset_ids), algorithm_id, buyer)
        return list(owners), [int(p) for p in prices], int(mask)
