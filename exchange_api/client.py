"""Python client SDK of the exchange API: sign-in, blobs, catalog, listings, jobs, approvals, transactions.

Transactions are built by the API, signed here with the member's own key (it never leaves the
client), and relayed by the API. Every write carries an Idempotency-Key, so a retry after a network
error cannot act twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

from dx_core.cid import cid_for_bytes
from dx_core.siwe import sign_in_message
from mpc_compute.policy import DEFAULT_POLICY, Policy

if TYPE_CHECKING:  # the check loads the chain and the compiler: only callers who pass one pay for it
    from mpc_compute.clients.approval import ApprovalCheck


class ExchangeError(Exception):
    """An API error: `status`, and the RFC 9457 `problem` document (its `detail` is the message)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}")

    @property
    def contract_error(self) -> str | None:
        """The custom error name when the chain reverted (e.g. 'UsageLimitReached')."""
        err = self.problem.get("contract_error")
        return err.get("name") if isinstance(err, dict) else None


class ExchangeClient:
    """One member's session with the exchange API (`account` may be None for public reads)."""

    def __init__(
        self,
        base_url: str,
        account: LocalAccount | None = None,
        *,
        timeout: float = 120.0,
        retries: int = 2,
        http: httpx.Client | None = None,
    ) -> None:
        self.account = account
        self.retries = retries
        self.http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """Send one request; writes get an Idempotency-Key and are retried on transport errors."""
        hdrs = self._headers(headers)
        write = method in ("POST", "PUT", "PATCH", "DELETE")
        if write and not path.startswith("/v1/blobs"):
            hdrs.setdefault("Idempotency-Key", uuid.uuid4().hex)
        attempt = 0
        while True:
            try:
                resp = self.http.request(
                    method, path, json=json_body, content=content, params=params, headers=hdrs
                )
                break
            except httpx.TransportError:
                attempt += 1
                if attempt > self.retries:
                    raise
                time.sleep(0.5 * attempt)
        if resp.status_code >= 400:
            try:
                problem = resp.json()
            except ValueError:
                problem = {"title": resp.reason_phrase, "detail": resp.text}
            raise ExchangeError(resp.status_code, problem)
        if raw:
            return resp
        return resp.json() if resp.content else None

    def _need_account(self) -> LocalAccount:
        if self.account is None:
            raise ValueError("this call signs with the member's key: create the client with account=...")
        return self.account

    # -- auth ------------------------------------------------------------------------------------------

    def login(self, ttl: timedelta = timedelta(minutes=15)) -> str:
        """Sign in with Ethereum; stores and returns the bearer token."""
        account = self._need_account()
        n = self.request("GET", "/v1/auth/nonce")
        text = sign_in_message(n["domain"], account.address, n["nonce"], n["chain_id"], ttl=ttl)
        signature = account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
        self.token = self.request(
            "POST", "/v1/auth/login", json_body={"message": text, "signature": signature}
        )["access_token"]
        return self.token

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/v1/auth/me")

    # -- blobs -----------------------------------------------------------------------------------------

    def put_blob(self, data: bytes, check: bool = True) -> str:
        headers = {"X-Expected-CID": cid_for_bytes(data)} if check else {}
        return self.request("PUT", "/v1/blobs", content=data, headers=headers)["cid"]

    def get_blob(self, cid: str) -> bytes:
        return self.request("GET", f"/v1/blobs/{cid}", raw=True).content

    def has_blob(self, cid: str) -> bool:
        return self.http.head(f"/v1/blobs/{cid}").status_code == 200

    # -- catalog ---------------------------------------------------------------------------------------

    def search_datasets(self, **filters: Any) -> dict[str, Any]:
        """Filters: q, owner, tag, column (lists), min_price, max_price, status, sort, page, page_size."""
        return self.request("GET", "/v1/catalog/datasets", params=filters)

    def search_algorithms(self, **filters: Any) -> dict[str, Any]:
        return self.request("GET", "/v1/catalog/algorithms", params=filters)

    def dataset(self, dataset_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/catalog/datasets/{dataset_id}")

    def algorithm(self, algorithm_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/catalog/algorithms/{algorithm_id}")

    # -- transactions ----------------------------------------------------------------------------------

    def sign(self, unsigned: dict[str, Any]) -> str:
        tx = {k: v for k, v in unsigned.items() if k != "from"}
        return self._need_account().sign_transaction(tx).raw_transaction.to_0x_hex()

    def relay(self, raw_tx: str, wait_s: float = 120.0) -> dict[str, Any]:
        """Relay a signed tx; when the exchange answers `pending` (sent, not mined within its bounded wait),
        follow it with GET /v1/tx/{hash} until it is mined or `wait_s` passes."""
        out = self.request("POST", "/v1/tx/relay", json_body={"raw_tx": raw_tx})
        return self.follow(out, wait_s)

    def follow(self, out: dict[str, Any], wait_s: float = 120.0) -> dict[str, Any]:
        """The tx answer once it is no longer `pending` (or the last pending answer after `wait_s`)."""
        end = time.monotonic() + wait_s
        while out.get("status") == "pending" and out.get("tx_hash") and time.monotonic() < end:
            time.sleep(0.5)
            out = self.tx_status(out["tx_hash"])
        return out

    def sign_and_relay(self, built: dict[str, Any]) -> dict[str, Any]:
        return self.relay(self.sign(built["tx"]))

    def track(self, tx_hash: str) -> dict[str, Any]:
        return self.request("POST", "/v1/tx/track", json_body={"tx_hash": tx_hash})

    def tx_status(self, tx_hash: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/tx/{tx_hash}")

    @staticmethod
    def _event_arg(tx: dict[str, Any], event: str, arg: str) -> Any:
        for ev in tx["events"]:
            if ev["event"] == event:
                return ev["args"][arg]
        raise ValueError(f"no {event} event in tx {tx['tx_hash']}: {[e['event'] for e in tx['events']]}")

    # -- sellers and algorithm providers ---------------------------------------------------------------

    def _list(self, build_path: str, body: dict[str, Any], event: str) -> int:
        """Build, sign and relay a new listing; its id, read from the listing event the tx emitted."""
        tx = self.sign_and_relay(self.request("POST", build_path, json_body=body))
        return int(self._event_arg(tx, event, "id"))

    def _dataset_terms(
        self,
        metadata: dict[str, Any],
        manifest: bytes,
        price_wei: int,
        max_uses: int,
        expires_at: int,
        policy: Policy | None,
    ) -> dict[str, Any]:
        """Upload the metadata document, the share manifest and the data-use policy (unless it is the
        default one); the dataset terms body that names them."""
        metadata_cid = self.put_blob(json.dumps(metadata, sort_keys=True).encode())
        self.put_blob(manifest)
        policy = policy or DEFAULT_POLICY
        if policy != DEFAULT_POLICY:
            self.put_blob(policy.to_bytes())
        return {
            "metadata_cid": metadata_cid,
            "manifest_hash": "0x" + hashlib.sha256(manifest).hexdigest(),
            "price_wei": price_wei,
            "max_uses": max_uses,
            "expires_at": expires_at,
            "policy_hash": "0x" + policy.chain_hash().hex(),
        }

    def publish_dataset(
        self,
        metadata: dict[str, Any],
        manifest: bytes,
        price_wei: int,
        max_uses: int = 0,
        expires_at: int = 0,
        policy: Policy | None = None,
    ) -> int:
        """Upload the metadata document, the share manifest and the policy, list the dataset on-chain;
        returns its id. `policy` None: the default policy (k = 10, ID columns join keys only)."""
        body = self._dataset_terms(metadata, manifest, price_wei, max_uses, expires_at, policy)
        return self._list("/v1/listings/datasets/build", body, "DatasetListed")

    def update_dataset(
        self,
        dataset_id: int,
        metadata: dict[str, Any],
        manifest: bytes,
        price_wei: int,
        max_uses: int = 0,
        expires_at: int = 0,
        policy: Policy | None = None,
    ) -> dict[str, Any]:
        body = self._dataset_terms(metadata, manifest, price_wei, max_uses, expires_at, policy)
        return self.sign_and_relay(
            self.request("POST", f"/v1/listings/datasets/{dataset_id}/build-update", json_body=body)
        )

    def set_privacy_budget(
        self, dataset_id: int, total_micro_eps: int, per_job_micro_eps: int
    ) -> dict[str, Any]:
        """Set the dataset's differential-privacy budget in micro-ε (1 ε = 1,000,000; both 0: none),
        signed here and relayed: Market.setPrivacyBudget (the total may not fall below what is spent)."""
        params = {"total_micro_eps": total_micro_eps, "per_job_micro_eps": per_job_micro_eps}
        return self.sign_and_relay(
            self.request("POST", f"/v1/listings/datasets/{dataset_id}/build-budget", params=params)
        )

    def delist_dataset(self, dataset_id: int) -> dict[str, Any]:
        return self.sign_and_relay(self.request("POST", f"/v1/listings/datasets/{dataset_id}/build-delist"))

    def _algorithm_terms(
        self, metadata: dict[str, Any], price_wei: int, secret_params_hash: bytes, max_uses: int
    ) -> dict[str, Any]:
        """Upload the metadata document; the algorithm terms that listing and updating both send."""
        return {
            "metadata_cid": self.put_blob(json.dumps(metadata, sort_keys=True).encode()),
            "price_wei": price_wei,
            "secret_params_hash": "0x" + secret_params_hash.hex(),
            "max_uses": max_uses,
        }

    def publish_algorithm(
        self,
        metadata: dict[str, Any],
        name: str,
        version: str,
        code_hash: bytes,
        price_wei: int,
        secret_params_hash: bytes = b"\0" * 32,
        max_uses: int = 0,
    ) -> int:
        body = {
            "name": name,
            "version": version,
            "code_hash": "0x" + code_hash.hex(),
            **self._algorithm_terms(metadata, price_wei, secret_params_hash, max_uses),
        }
        return self._list("/v1/listings/algorithms/build", body, "AlgorithmListed")

    def update_algorithm(
        self,
        algorithm_id: int,
        metadata: dict[str, Any],
        price_wei: int,
        secret_params_hash: bytes = b"\0" * 32,
        max_uses: int = 0,
    ) -> dict[str, Any]:
        body = self._algorithm_terms(metadata, price_wei, secret_params_hash, max_uses)
        return self.sign_and_relay(
            self.request("POST", f"/v1/listings/algorithms/{algorithm_id}/build-update", json_body=body)
        )

    def delist_algorithm(self, algorithm_id: int) -> dict[str, Any]:
        return self.sign_and_relay(
            self.request("POST", f"/v1/listings/algorithms/{algorithm_id}/build-delist")
        )

    def my_requests(self, status: str | None = None) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/me/requests", params={"status": status} if status else None)

    def my_usage(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/me/usage")

    # -- buyers ----------------------------------------------------------------------------------------

    def request_job(
        self,
        dataset_ids: list[int],
        algorithm_id: int,
        params_hash: bytes,
        program_hash: bytes,
        result_key: bytes,
        deadline: int,
        result_receiver: str | None = None,
    ) -> int:
        """Request a compute job (the escrow is in the built tx's value); returns the job id."""
        body = {
            "dataset_ids": dataset_ids,
            "algorithm_id": algorithm_id,
            "params_hash": "0x" + params_hash.hex(),
            "program_hash": "0x" + program_hash.hex(),
            "result_key": "0x" + result_key.hex(),
            "deadline": deadline,
            "result_receiver": result_receiver,
        }
        tx = self.sign_and_relay(self.request("POST", "/v1/jobs/build", json_body=body))
        return int(self._event_arg(tx, "JobRequested", "jobId"))

    def jobs(self, status: str | None = None) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/jobs", params={"status": status} if status else None)

    def job(self, job_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}")

    def job_results(self, job_id: int) -> list[dict[str, Any]]:
        return self.request("GET", f"/v1/jobs/{job_id}/results")

    def wait_for_job(self, job_id: int, statuses: set[str], timeout: float = 120.0) -> dict[str, Any]:
        """Poll until the job reaches one of `statuses` (raises TimeoutError naming the last status)."""
        end = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            if time.monotonic() > end:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout}s")
            time.sleep(0.5)

    # -- owners' approvals -----------------------------------------------------------------------------

    def _signed_decision(
        self,
        job_id: int,
        decision: str,
        nonce: int | None,
        deadline: int | None,
        check: ApprovalCheck | None = None,
    ) -> dict:
        account = self._need_account()
        nonce = secrets.randbits(128) if nonce is None else nonce
        deadline = int(time.time()) + 3600 if deadline is None else deadline
        typed = self.request(
            "GET",
            f"/v1/jobs/{job_id}/typed-data",
            params={"nonce": nonce, "deadline": deadline, "decision": decision},
        )
        if check is not None:  # raises ApprovalRefused, naming the check, before anything is signed
            typed = check.typed_data(job_id, account.address, decision, typed, nonce, deadline)
        signature = account.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()
        return {"owner": account.address, "signature": signature, "nonce": nonce, "deadline": deadline}

    def approve_job(
        self,
        job_id: int,
        nonce: int | None = None,
        deadline: int | None = None,
        check: ApprovalCheck | None = None,
    ) -> dict[str, Any]:
        """Sign the job's EIP-712 Approval locally and submit it (the API relays once all owners approved).

        With `check` (mpc_compute.clients.approval.ApprovalCheck: the client's own chain and deployment),
        the job is recomputed from the chain and the API's typed data compared with it first; on any
        mismatch ApprovalRefused is raised and nothing is signed or sent. Without it, the API's typed
        data is signed as served: pass a check unless the API is trusted."""
        signed = self._signed_decision(job_id, "approve", nonce, deadline, check)
        return self.submit_approval(job_id, signed)

    def submit_approval(self, job_id: int, signed: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{job_id}/approvals", json_body=signed)

    def decline_job(
        self,
        job_id: int,
        nonce: int | None = None,
        deadline: int | None = None,
        check: ApprovalCheck | None = None,
    ) -> dict[str, Any]:
        """Sign the job's EIP-712 Decline locally and submit it (`check` as for approve_job)."""
        signed = self._signed_decision(job_id, "decline", nonce, deadline, check)
        return self.request("POST", f"/v1/jobs/{job_id}/declines", json_body=signed)

    # -- operations -----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        resp = self.http.get("/health")
        return resp.json()

    # -- settlement and membership -------------------------------------------------------------------

    def earnings(self) -> dict[str, Any]:
        """The member's withdrawable balance on ComputeJobs, what each job credited it, and the jobs it
        bought that it may reclaim now."""
        return self.request("GET", "/v1/me/earnings")

    def withdraw(self) -> dict[str, Any]:
        """Pay out the member's whole credited balance (ComputeJobs.withdraw, signed here); the relayed tx
        with its Withdrawal event. A zero balance: ExchangeError 422, contract error NothingToWithdraw."""
        return self.sign_and_relay(self.request("POST", "/v1/me/build-withdraw"))

    def reclaim_job(self, job_id: int) -> dict[str, Any]:
        """The buyer takes back the escrow of its unfinished job past the deadline (ComputeJobs.reclaim);
        the relayed tx with its JobRefunded event (the refund is credited: withdraw it after)."""
        return self.sign_and_relay(self.request("POST", f"/v1/jobs/{job_id}/build-reclaim"))

    def rotate_key(self, new_key: bytes) -> dict[str, Any]:
        """Replace the member's X25519 key on the Registry (Registry.rotateKey, signed here). Shares and
        results sealed to the old key stay sealed to it: keep the old private key to open them."""
        return self.sign_and_relay(
            self.request("POST", "/v1/me/build-rotate-key", json_body={"new_key": "0x" + new_key.hex()})
        )
