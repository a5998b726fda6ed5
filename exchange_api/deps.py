"""The per-app context (engine, blob store, chain, log, catalog, indexer) and the FastAPI dependencies:
the context, a database session, the signed-in member and the role checks routes declare."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from dx_core.blobstore import IpfsBlobStore, LocalBlobStore
from dx_core.roles import Role, role_names
from dx_core.settings import Settings
from exchange_api.catalog.index import CatalogIndex
from exchange_api.chain import ChainGateway
from exchange_api.errors import Forbidden, Unauthorized
from exchange_api.indexer.runner import Indexer
from exchange_api.middleware.metrics import Metrics
from exchange_api.middleware.notary import RequestNotary
from exchange_api.models import AuthToken
from notarizer.log import TransparencyLog


class RoleCache:
    """Roles from the Registry, cached for `ttl` seconds so each request does not cost an RPC call."""

    def __init__(self, lookup: Callable[[str], int], ttl: float = 5.0) -> None:
        self.lookup = lookup
        self.ttl = ttl
        self._cache: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def get(self, address: str) -> int:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(address)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        roles = self.lookup(address)
        with self._lock:
            self._cache[address] = (now, roles)
        return roles

    def invalidate(self, address: str | None = None) -> None:
        with self._lock:
            if address is None:
                self._cache.clear()
            else:
                self._cache.pop(address, None)


@dataclass
class AppContext:
    """Everything a route needs, built once by create_app."""

    settings: Settings
    engine: Engine
    blobs: LocalBlobStore | IpfsBlobStore
    metrics: Metrics
    notary: RequestNotary
    roles: RoleCache
    catalog: CatalogIndex
    log: TransparencyLog
    chain: ChainGateway | None = None  # None until a deployment is configured
    indexer: Indexer | None = None

    @property
    def chain_id(self) -> int:
        """The chain members sign for: the deployment's, else the configured one."""
        return self.chain.chain_id if self.chain is not None else self.settings.chain_id


async def get_ctx(request: Request) -> AppContext:
    # async: FastAPI would otherwise hop to a worker thread just to read an attribute
    return request.app.state.ctx


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.ctx.engine, expire_on_commit=False) as session:
        yield session


# Route parameter types: the context and a request-scoped DB session, declared once for every router.
CtxDep = Annotated[AppContext, Depends(get_ctx)]
SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    """The signed-in member of a request."""

    address: str
    roles: int

    def has(self, role: int) -> bool:
        return bool(self.roles & role)

    @property
    def is_regulator(self) -> bool:
        return self.has(Role.REGULATOR)


def hash_token(token: str) -> str:
    """What the database stores of a bearer token (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def optional_member(request: Request, ctx: CtxDep, session: SessionDep) -> Principal | None:
    token = _bearer(request)
    if token is None:
        return None
    row = session.get(AuthToken, hash_token(token))
    if row is None:
        raise Unauthorized("unknown bearer token: sign in again at /v1/auth/login")
    if row.expires_at <= datetime.now(UTC):
        session.delete(row)  # an expired token goes on use (and in the periodic purge)
        session.commit()
        raise Unauthorized(f"bearer token expired at {row.expires_at.isoformat()}: sign in again")
    request.scope.setdefault("state", {})["actor"] = row.address
    return Principal(row.address, ctx.roles.get(row.address))


def current_member(principal: Annotated[Principal | None, Depends(optional_member)]) -> Principal:
    if principal is None:
        raise Unauthorized("this route needs a bearer token: sign in with Ethereum at /v1/auth/login")
    return principal


def require_role(role: Role, what: str) -> Callable[[Principal], Principal]:
    """A dependency admitting members holding `role` (regulators pass every read check separately)."""

    def check(principal: Annotated[Principal, Depends(current_member)]) -> Principal:
        if not principal.has(role):
            raise Forbidden(
                f"{principal.address} does not hold the {role.label} role needed to {what} "
                f"(its roles: {', '.join(role_names(principal.roles)) or 'none'})"
            )
        return principal

    return check


def require_regulator(principal: Annotated[Principal, Depends(current_member)]) -> Principal:
    if not principal.is_regulator:
        raise Forbidden(f"{principal.address} is not a regulator: the audit routes are for regulators")
    return principal


Member = Annotated[Principal, Depends(current_member)]
