"""Binding of Market.sol: dataset and algorithm listings, their policies and usage counters."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic

from contracts.bindings.base import ContractBinding
from contracts.tx import DecodedEvent, TxResult
from contracts.types import AlgorithmListing, DatasetListing, ListingStatus, PrivacyBudget

ZERO32 = b"\x00" * 32


def _h(value: bytes, field: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{field} must be 32 bytes, got {len(value)}")
    return bytes(value)


class MarketBinding(ContractBinding):
    NAME = "Market"
    # Ledger sets this to the deployment block so log queries skip older history.
    from_block = 0

    # ---- datasets
    @staticmethod
    def dataset_terms(
        metadata_cid: str,
        manifest_hash: bytes,
        price_per_use: int,
        max_uses: int = 0,
        expires_at: int = 0,
        policy_hash: bytes = ZERO32,
    ) -> tuple:
        """The DatasetTerms tuple (max_uses 0 = unlimited, expires_at 0 = never, policy_hash 0 = default)."""
        return (
            metadata_cid,
            _h(manifest_hash, "manifest_hash"),
            price_per_use,
            max_uses,
            expires_at,
            _h(policy_hash, "policy_hash"),
        )

    def list_dataset(
        self,
        sender: LocalAccount,
        metadata_cid: str,
        manifest_hash: bytes,
        price_per_use: int,
        max_uses: int = 0,
        expires_at: int = 0,
        policy_hash: bytes = ZERO32,
    ) -> TxResult:
        """List a dataset; its id is `result.event("DatasetListed").args["id"]`."""
        terms = self.dataset_terms(
            metadata_cid, manifest_hash, price_per_use, max_uses, expires_at, policy_hash
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
        policy_hash: bytes = ZERO32,
    ) -> dict:
        terms = self.dataset_terms(
            metadata_cid, manifest_hash, price_per_use, max_uses, expires_at, policy_hash
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
        policy_hash: bytes = ZERO32,
    ) -> TxResult:
        terms = self.dataset_terms(
            metadata_cid, manifest_hash, price_per_use, max_uses, expires_at, policy_hash
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
        (owner, price, max_uses, uses, expires_at, status, has_policy, manifest_hash, policy_hash, cid) = row
        return DatasetListing(
            dataset_id,
            owner,
            cid,
            bytes(manifest_hash),
            int(price),
            int(max_uses),
            int(uses),
            int(expires_at),
            bytes(policy_hash),
            ListingStatus(status),
            bool(has_policy),
        )

    # ---- privacy budgets (micro-ε: 1 ε = 1_000_000)
    def set_privacy_budget(
        self, sender: LocalAccount, dataset_id: int, total_micro_eps: int, per_job_micro_eps: int
    ) -> TxResult:
        """The owner sets a dataset's ε budget; both 0 removes it (only while nothing is spent)."""
        return self._send(sender, "setPrivacyBudget", dataset_id, total_micro_eps, per_job_micro_eps)

    def build_set_privacy_budget(
        self, sender: str, dataset_id: int, total_micro_eps: int, per_job_micro_eps: int
    ) -> dict:
        return self.build("setPrivacyBudget", dataset_id, total_micro_eps, per_job_micro_eps, sender=sender)

    def privacy_budget(self, dataset_id: int) -> PrivacyBudget | None:
        """The dataset's budget (total 0: none), or None when no dataset has this id."""
        row = self._read_or_none("privacyBudgetOf", dataset_id, missing=("DatasetNotFound",))
        if row is None:
            return None
        total, per_job, spent = row
        return PrivacyBudget(dataset_id, int(total), int(per_job), int(spent))

    def reserved_epsilon(self, job_id: int, dataset_id: int) -> int:
        """Micro-ε job `job_id` holds on the dataset (0 once given back, or when it has no budget)."""
        return int(self._read("reservedEpsilon", job_id, dataset_id))

    def epsilon_events(self, dataset_id: int) -> list[DecodedEvent]:
        """The dataset's EpsilonReserved and EpsilonReleased events, oldest first (from the chain's logs)."""
        return self._epsilon_logs(("EpsilonReserved", "EpsilonReleased"), None, dataset_id)

    def reserved_at_request(self, job_id: int) -> dict[int, int]:
        """Dataset id -> micro-ε the job's request reserved (its EpsilonReserved events), whatever was given
        back since: what the job was bought under, as its terms bind the policies of its request."""
        return {
            int(ev.args["datasetId"]): int(ev.args["microEps"])
            for ev in self._epsilon_logs(("EpsilonReserved",), job_id, None)
        }

    def _epsilon_logs(self, names: tuple[str, ...], job_id: int | None, dataset_id: int | None) -> list:
        events = {e["name"]: e for e in self.abi if e["type"] == "event"}
        topics = [
            [event_abi_to_log_topic(events[n]) for n in names],
            None if job_id is None else job_id.to_bytes(32, "big"),
            None if dataset_id is None else dataset_id.to_bytes(32, "big"),
        ]
        logs = self.w3.eth.get_logs(
            {"address": self.address, "fromBlock": self.from_block, "toBlock": "latest", "topics": topics}
        )
        decoder = self._sender.decoder
        return [ev for ev in (decoder.decode(log) if decoder else None for log in logs) if ev is not None]

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
        owners, prices, mask, _policies = self._read("quote", list(dataset_ids), algorithm_id, buyer)
        return list(owners), [int(p) for p in prices], int(mask)
