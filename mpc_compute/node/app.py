"""The node's control API (FastAPI): health, public keys, job status, the operator-signed job trigger.

Triggers (POST /jobs/{id}/run) must carry the operator's EIP-191 signature over a message bound to this
API, the action, the job id, this node's address, the chain id, a time and a nonce (`control_message`,
headers made by `sign_control`). On a chain the operator is any account holding the Registry's admin
role; without a chain (--dev-no-chain) it is the address given with --operator. A signature is good for
`MAX_SKEW_S` either side of the node's clock and once (its nonce is remembered). The chain watcher
triggers jobs in process and needs none of this.

Errors are problem+json bodies naming the rule that refused the request. On a chain, GET /jobs/{id}
shows what the chain already shows (stage names and times, status, transactions); only a node without
a chain, where the node's signed statements are the only vouchers, shows its attestation and receipt.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi import Body, FastAPI, Path, Request
from fastapi.responses import JSONResponse

from mpc_compute.node.authorization import NotAuthorized
from mpc_compute.node.service import DeadlineRefused, JobConflict, JobRefused, NodeService

CONTROL_DOMAIN = "dx compute node control v1"
MAX_SKEW_S = 120
SIGNATURE_HEADER, TIME_HEADER, NONCE_HEADER = "X-DX-Signature", "X-DX-Time", "X-DX-Nonce"
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://dx.example/problems/"
log = logging.getLogger("dx.node.app")


def control_message(action: str, job_id: int, node: str, chain_id: int, issued: int, nonce: str) -> str:
    """The text the operator signs (EIP-191 personal message) to ask node `node` to do `action`."""
    return (
        f"{CONTROL_DOMAIN}\naction: {action}\njob: {job_id}\nnode: {node.lower()}\n"
        f"chain: {chain_id}\ntime: {issued}\nnonce: {nonce}"
    )


def sign_control(
    account: LocalAccount,
    job_id: int,
    node: str,
    chain_id: int,
    action: str = "run",
    issued: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The request headers that authenticate `action` on `job_id` at node `node` as `account`."""
    issued = int(time.time()) if issued is None else issued
    nonce = nonce or secrets.token_hex(16)
    message = control_message(action, job_id, node, chain_id, issued, nonce)
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()
    return {
        SIGNATURE_HEADER: signature if signature.startswith("0x") else "0x" + signature,
        TIME_HEADER: str(issued),
        NONCE_HEADER: nonce,
    }


class ControlRefused(Exception):
    """A control request that is not the operator's, as the named rule decided."""

    def __init__(self, status: int, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.rule, self.detail = status, rule, detail


@dataclass
class ControlAuth:
    """Checks operator signatures on control requests for one node; remembers nonces it accepted."""

    node_address: str
    chain_id: int
    is_operator: Callable[[str], bool]

    def __post_init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, headers: Mapping[str, str], action: str, job_id: int) -> str:
        """The operator's address, or ControlRefused naming the rule the request broke."""
        signature, issued, nonce = (headers.get(h) for h in (SIGNATURE_HEADER, TIME_HEADER, NONCE_HEADER))
        if not signature or not issued or not nonce:
            raise ControlRefused(
                401,
                "operator_signature_required",
                f"{action} needs the operator's signature: headers {SIGNATURE_HEADER}, {TIME_HEADER}, "
                f"{NONCE_HEADER}",
            )
        try:
            when = int(issued)
        except ValueError:
            raise ControlRefused(401, "signature_time", f"{TIME_HEADER} is not an integer") from None
        skew = int(time.time()) - when
        if abs(skew) > MAX_SKEW_S:
            raise ControlRefused(
                401,
                "signature_time",
                f"the request was signed {skew}s from this node's clock; at most {MAX_SKEW_S}s is accepted",
            )
        if len(nonce) > 128:
            raise ControlRefused(401, "signature_nonce", f"{NONCE_HEADER} is longer than 128 characters")
        message = control_message(action, job_id, self.node_address, self.chain_id, when, nonce)
        try:
            signer = Account.recover_message(encode_defunct(text=message), signature=signature)
        except Exception:
            raise ControlRefused(401, "operator_signature", "the signature does not parse") from None
        # A signature made for another job, node, chain or action recovers to some other address.
        if not self.is_operator(signer):
            raise ControlRefused(
                403,
                "operator_only",
                f"{signer} is not the operator (or the signature is not over this job, node and chain)",
            )
        with self._lock:
            now = time.time()
            for old in [n for n, t in self._seen.items() if t < now - 2 * MAX_SKEW_S]:
                del self._seen[old]
            if nonce in self._seen:
                raise ControlRefused(401, "signature_replayed", "this signed request was already used")
            self._seen[nonce] = now
        return signer


def _problem(request: Request, status: int, rule: str, detail: str) -> JSONResponse:
    body = {
        "type": TYPE_BASE + rule.replace("_", "-"),
        "title": rule.replace("_", " "),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "rule": rule,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def make_app(service: NodeService, control: ControlAuth, dev_no_chain: bool = False) -> FastAPI:
    """The control API of `service`; `dev_no_chain` shows full statuses (no chain to vouch for them)."""
    app = FastAPI(title=f"dx compute node {service.config.index}")

    @app.get("/health")
    def health() -> dict:
        running = sum(1 for s in service.jobs.values() if s.status in ("queued", "running"))
        return {
            "status": "ok",
            "index": service.config.index,
            "address": service.identity.address,
            "jobs_running": running,
            "lanes": {"count": service.lanes.count, "jobs": service.lanes.queued()},
            "mode": "dev-no-chain" if dev_no_chain else "chain",
        }

    @app.get("/keys")
    def keys() -> dict:
        return {
            "index": service.config.index,
            "address": service.identity.address,
            "x25519_public": service.identity.x25519_public.hex(),
        }

    @app.get("/jobs/{job_id}")
    def job(request: Request, job_id: int = Path(ge=0, lt=2**256)) -> JSONResponse:
        state = service.status(job_id)
        if state is None:
            return _problem(
                request, 404, "job_unknown", f"node {service.config.index} has not run job {job_id}"
            )
        return JSONResponse(state.to_dict() if dev_no_chain else state.public_dict())

    @app.post("/jobs/{job_id}/run", status_code=202)
    def run(
        request: Request,
        job_id: int = Path(ge=0, lt=2**256),
        claim: dict | None = Body(default=None),  # noqa: B008
    ) -> JSONResponse:
        try:
            control.check(request.headers, "run", job_id)
            state = service.trigger(job_id, claim)
        except ControlRefused as exc:
            return _problem(request, exc.status, exc.rule, exc.detail)
        except NotAuthorized as exc:
            return _problem(request, 409, "job_not_authorized", str(exc))
        except DeadlineRefused as exc:
            return _problem(request, 409, "deadline_margin", str(exc))
        except JobRefused as exc:
            return _problem(request, 409, "job_refused", str(exc))
        except JobConflict as exc:
            return _problem(request, 409, "job_conflict", str(exc))
        except Exception as exc:  # e.g. the chain does not answer: say so without the internals
            log.warning("trigger of job %d failed: %s: %s", job_id, type(exc).__name__, exc)
            return _problem(request, 503, "node_unavailable", "the node could not check the job on-chain")
        return JSONResponse(state.to_dict() if dev_no_chain else state.public_dict(), status_code=202)

    return app
