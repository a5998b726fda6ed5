"""Binding of ComputeJobs.sol: request, approve (directly or EIP-712), attest, settle, withdraw."""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BlockNotFound

from contracts import eip712
from contracts.bindings.base import ContractBinding
from contracts.errors import LedgerError
from contracts.tx import TxResult, TxSender
from contracts.types import Attestation, Job, JobStatus, JobTerms


def _h(value: bytes, field: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{field} must be 32 bytes, got {len(value)}")
    return bytes(value)


TERMS_ABI_TYPE = "(uint256[],uint256,address[],uint256[],uint256,bytes32,bytes32,address,bytes32,bytes32[])"


def terms_hash(terms: JobTerms) -> bytes:
    """keccak256(abi.encode(terms)), as ComputeJobs stores it."""
    return keccak(abi_encode([TERMS_ABI_TYPE], [terms.as_tuple()]))


def terms_from_event(args: dict[str, Any]) -> JobTerms:
    t = args["terms"]
    return JobTerms(
        tuple(t["datasetIds"]),
        t["algorithmId"],
        tuple(t["owners"]),
        tuple(t["prices"]),
        t["nodeFee"],
        t["programHash"],
        t["paramsHash"],
        t["resultReceiver"],
        t["resultKey"],
        tuple(bytes(h) for h in t["policyHashes"]),
    )


class JobsBinding(ContractBinding):
    """ComputeJobs. A job's terms live in its JobRequested event; the binding fetches and passes them."""

    NAME = "ComputeJobs"

    def __init__(self, w3: Web3, address: str, sender: TxSender) -> None:
        super().__init__(w3, address, sender)
        self._terms: dict[int, tuple[bytes, JobTerms, int, bytes]] = {}  # hash, terms, block, block hash
        # Ledger sets this to the deployment block so log queries skip older history.
        self.from_block = 0
        events = {e["name"]: e for e in self.abi if e["type"] == "event"}
        self._requested_topic = event_abi_to_log_topic(events["JobRequested"])
        self._attested_topic = event_abi_to_log_topic(events["JobAttested"])
        self._approved_topic = event_abi_to_log_topic(events["JobApproved"])

    def gas_floor(self, fn_name: str, args: tuple) -> int:
        # Nodes attest concurrently: the estimate may be made while this attestation is not the last,
        # but if it lands last it also credits every owner and node (fresh slots cost 22k each).
        # Likewise an approval may turn out to be the one that authorizes (and counts uses).
        if fn_name == "refuse" and len(args) >= 2:
            return 80_000 + 30_000 * len(args[1][2])
        if fn_name in ("attest", "approve", "approveBatch") and len(args) >= 2:
            owners = len(args[1][2])
            if fn_name == "attest":
                return 150_000 + 30_000 * (owners + 3)
            signatures = len(args[2]) if fn_name == "approveBatch" else 0
            return 60_000 + 25_000 * owners + 30_000 * signatures
        return 0

    def domain(self) -> eip712.Domain:
        """The EIP-712 domain owners sign Approval/Decline messages in."""
        return eip712.Domain(self.w3.eth.chain_id, self.address)

    # ---- request
    def escrow_for(self, dataset_ids: list[int], algorithm_id: int, buyer: str, market: Any) -> int:
        """Wei a request must carry: listing prices plus three node fees."""
        _, prices, _ = market.quote(dataset_ids, algorithm_id, buyer)
        _, node_fee = self._registry_terms()
        return sum(prices) + 3 * node_fee

    def _registry_terms(self) -> tuple[int, int]:
        registry = self.w3.eth.contract(
            address=self._read("registry"),
            abi=[
                {
                    "type": "function",
                    "name": "clusterTerms",
                    "stateMutability": "view",
                    "inputs": [],
                    "outputs": [
                        {"name": "version", "type": "uint32"},
                        {"name": "nodeFee", "type": "uint256"},
                    ],
                }
            ],
        )
        try:
            version, fee = registry.functions.clusterTerms().call()
        except Exception as exc:
            raise self._sender.revert_error(exc, "Registry") from None
        return int(version), int(fee)

    @staticmethod
    def request_args(
        dataset_ids: list[int],
        algorithm_id: int,
        params_hash: bytes,
        program_hash: bytes,
        result_receiver: str,
        result_key: bytes,
        deadline: int,
    ) -> tuple:
        return (
            list(dataset_ids),
            algorithm_id,
            _h(params_hash, "params_hash"),
            _h(program_hash, "program_hash"),
            to_checksum_address(result_receiver),
            _h(result_key, "result_key"),
            deadline,
        )

    def request(
        self,
        sender: LocalAccount,
        dataset_ids: list[int],
        algorithm_id: int,
        params_hash: bytes,
        program_hash: bytes,
        result_key: bytes,
        deadline: int,
        value: int,
        result_receiver: str | None = None,
    ) -> TxResult:
        """Request a job paying `value` wei (see `escrow_for`); its id is in the JobRequested event."""
        args = self.request_args(
            dataset_ids,
            algorithm_id,
            params_hash,
            program_hash,
            result_receiver or sender.address,
            result_key,
            deadline,
        )
        return self._send(sender, "request", args, value=value)

    def build_request(
        self,
        sender: str,
        dataset_ids: list[int],
        algorithm_id: int,
        params_hash: bytes,
        program_hash: bytes,
        result_key: bytes,
        deadline: int,
        value: int,
        result_receiver: str | None = None,
    ) -> dict:
        args = self.request_args(
            dataset_ids,
            algorithm_id,
            params_hash,
            program_hash,
            result_receiver or sender,
            result_key,
            deadline,
        )
        return self.build("request", args, sender=sender, value=value)

    # ---- approvals
    def approve(self, sender: LocalAccount, job_id: int) -> TxResult:
        return self._send(sender, "approve", job_id, self.terms(job_id).as_tuple())

    def build_approve(self, sender: str, job_id: int) -> dict:
        return self.build("approve", job_id, self.terms(job_id).as_tuple(), sender=sender)

    def sign_approval(
        self, owner: LocalAccount, job_id: int, nonce: int, deadline: int
    ) -> eip712.SignedMessage:
        """`owner` signs an Approval of this job (bound to its program hash, this chain and contract)."""
        return eip712.sign_approval(
            owner, self.domain(), job_id, self.terms(job_id).program_hash, nonce, deadline
        )

    def approve_batch(
        self, sender: LocalAccount, job_id: int, approvals: list[eip712.SignedMessage]
    ) -> TxResult:
        """Relay owners' signed approvals in one transaction (`sender` pays the gas)."""
        return self._send(
            sender, "approveBatch", job_id, self.terms(job_id).as_tuple(), [a.as_tuple() for a in approvals]
        )

    def build_approve_batch(self, sender: str, job_id: int, approvals: list[eip712.SignedMessage]) -> dict:
        return self.build(
            "approveBatch",
            job_id,
            self.terms(job_id).as_tuple(),
            [a.as_tuple() for a in approvals],
            sender=sender,
        )

    def decline(self, sender: LocalAccount, job_id: int) -> TxResult:
        return self._send(sender, "decline", job_id, self.terms(job_id).as_tuple())

    def sign_decline(
        self, owner: LocalAccount, job_id: int, nonce: int, deadline: int
    ) -> eip712.SignedMessage:
        return eip712.sign_decline(owner, self.domain(), job_id, nonce, deadline)

    def decline_by_sig(self, sender: LocalAccount, job_id: int, signed: eip712.SignedMessage) -> TxResult:
        return self._send(sender, "declineBySig", job_id, self.terms(job_id).as_tuple(), signed.as_tuple())

    def invalidate_nonce(self, sender: LocalAccount, nonce: int) -> TxResult:
        return self._send(sender, "invalidateNonce", nonce)

    def nonce_used(self, owner: str, nonce: int) -> bool:
        return bool(self._read("nonceUsed", owner, nonce))

    def next_nonce(self, owner: str, start: int = 0) -> int:
        """The lowest unused nonce of `owner` from `start` (nonces are a bitmap: any unused one works)."""
        nonce = start
        while self.nonce_used(owner, nonce):
            nonce += 1
        return nonce

    # ---- nodes
    def attest(
        self,
        sender: LocalAccount,
        job_id: int,
        inputs_digest: bytes,
        program_hash: bytes,
        output_share_hash: bytes,
        policy_digest: bytes | None = None,
    ) -> TxResult:
        """Attest a run; `policy_digest` defaults to the digest of the job's own policy hashes."""
        terms = self.terms(job_id)
        return self._send(
            sender,
            "attest",
            job_id,
            terms.as_tuple(),
            _h(inputs_digest, "inputs_digest"),
            _h(program_hash, "program_hash"),
            _h(output_share_hash, "output_share_hash"),
            _h(policy_digest if policy_digest is not None else terms.policy_digest, "policy_digest"),
        )

    def refuse(self, sender: LocalAccount, job_id: int, rule: str) -> TxResult:
        """A node refuses an authorized job no node ran, naming the rule; the buyer is refunded."""
        return self._send(sender, "refuse", job_id, self.terms(job_id).as_tuple(), rule[:200])

    def attest_destruction(self, sender: LocalAccount, job_id: int, receipt_hash: bytes) -> TxResult:
        return self._send(sender, "attestDestruction", job_id, _h(receipt_hash, "receipt_hash"))

    # ---- money
    def reclaim(self, sender: LocalAccount, job_id: int) -> TxResult:
        return self._send(sender, "reclaim", job_id, self.terms(job_id).as_tuple())

    def release_expired_epsilon(self, sender: LocalAccount, job_id: int) -> TxResult:
        """Anyone gives back the ε a job holds once its deadline passed unattested (EpsilonReleased)."""
        return self._send(sender, "releaseExpiredEpsilon", job_id, self.terms(job_id).as_tuple())

    def withdraw(self, sender: LocalAccount) -> TxResult:
        return self._send(sender, "withdraw")

    def build_withdraw(self, sender: str) -> dict:
        return self.build("withdraw", sender=sender)

    def balance_of(self, account: str) -> int:
        return int(self._read("balanceOf", account))

    # ---- reads
    def job_count(self) -> int:
        return int(self._read("jobCount"))

    def terms(self, job_id: int) -> JobTerms:
        """The job's terms, from its JobRequested event (cached: terms never change)."""
        return self._terms_and_block(job_id)[0]

    def _block_hash(self, number: int) -> bytes | None:
        try:
            return bytes(self.w3.eth.get_block(number)["hash"])
        except BlockNotFound:
            return None

    def _terms_and_block(self, job_id: int) -> tuple[JobTerms, int]:
        # Keyed by the stored hash too: a job id can be reused after a chain reorg or evm_revert.
        stored = bytes(self._read("termsHash", job_id))
        cached = self._terms.get(job_id)
        # The same id with the same terms may come back on another branch (an evm_revert replays a test's
        # requests, deadlines included): the cached block counts only while the chain still holds it.
        if cached is not None and cached[0] == stored and self._block_hash(cached[2]) == cached[3]:
            return cached[1], cached[2]
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": self.from_block,
                "toBlock": "latest",
                "topics": [self._requested_topic, job_id.to_bytes(32, "big")],
            }
        )
        decoder = self._sender.decoder
        for log in reversed(logs):
            event = decoder.decode(log) if decoder else None
            if event is None:
                continue
            terms = terms_from_event(event.args)
            if terms_hash(terms) == stored:
                self._terms[job_id] = (stored, terms, event.block_number, bytes(log["blockHash"]))
                return terms, event.block_number
        raise LedgerError(
            f"no JobRequested event matching the stored terms of job {job_id} at {self.address}"
        )

    def _logs(self, topics: list) -> list:
        decoder = self._sender.decoder
        logs = self.w3.eth.get_logs(
            {"address": self.address, "fromBlock": self.from_block, "toBlock": "latest", "topics": topics}
        )
        return [ev for ev in (decoder.decode(log) if decoder else None for log in logs) if ev is not None]

    def approvers(self, job_id: int) -> set[str]:
        """Owners who approved the job (directly or by signature), from its JobApproved events."""
        events = self._logs([self._approved_topic, job_id.to_bytes(32, "big")])
        return {str(ev.args["owner"]) for ev in events}

    def requested_by(self, buyer: str) -> list[tuple[int, int]]:
        """(job id, request block) of every job `buyer` requested, oldest first (JobRequested events)."""
        topic = bytes(12) + bytes.fromhex(buyer.removeprefix("0x"))
        return [
            (int(ev.args["jobId"]), int(ev.block_number))
            for ev in self._logs([self._requested_topic, None, topic])
        ]

    def job(self, job_id: int) -> Job | None:
        """The job (stored state plus its terms), or None when no job has this id."""
        row = self._read_or_none("getJob", job_id, missing=("JobNotFound",))
        if row is None:
            return None
        buyer, status, pending, flags, deadline, version = row
        terms, block = self._terms_and_block(job_id)
        return Job(
            job_id,
            buyer,
            JobStatus(status),
            int(deadline),
            int(version),
            int(pending),
            int(flags) & 7,
            (int(flags) >> 4) & 7,
            bytes(self._read("termsHash", job_id)),
            terms,
            block,
        )

    def inputs_digest(self, job_id: int) -> bytes:
        """The inputs digest the first node attested (zero before any attestation)."""
        return bytes(self._read("inputsDigest", job_id))

    def attestations(self, job_id: int) -> list[Attestation]:
        """The job's attestations, from its JobAttested events, in order."""
        return self._attestation_events(job_id)

    def output_share_hashes(self, job_id: int) -> dict[int, bytes]:
        """Node index -> attested output-share hash, for the result receiver to check each share."""
        return {a.node_index: a.output_share_hash for a in self.attestations(job_id)}

    def _attestation_events(self, job_id: int) -> list[Attestation]:
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": self.from_block,
                "toBlock": "latest",
                "topics": [self._attested_topic, job_id.to_bytes(32, "big")],
            }
        )
        out = []
        for log in logs:
            ev = self._sender.decoder.decode(log) if self._sender.decoder else None
            if ev is None:
                continue
            a = ev.args
            out.append(
                Attestation(
                    job_id,
                    a["node"],
                    a["nodeIndex"],
                    a["inputsDigest"],
                    a["programHash"],
                    a["outputShareHash"],
                    a["policyDigest"],
                    ev.block_number,
                    ev.tx_hash,
                )
            )
        return out
