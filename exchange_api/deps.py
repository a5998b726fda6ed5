"""The per-app context (engine, blob store, chain, log, metrics) and the FastAPI dependencies reaching it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from dx_core.settings import Settings
from exchange_api.metrics import Metrics
from exchange_api.notary import RequestNotary

PROVIDER, ALGORITHM_PROVIDER, BUYER, COMPUTE_NODE, REGULATOR = 1, 2, 4, 8, 16
ROLE_NAMES = {
    PROVIDER: "provider",
    ALGORITHM_PROVIDER: "algorithm_provider",
    BUYER: "buyer",
    COMPUTE_NODE: "compute_node",
    REGULATOR: "regulator",
}


def role_names(mask: int) -> list[str]:
    return [name for bit, name in ROLE_NAMES.items() if mask & bit]


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
    blobs: Any
    metrics: Metrics
    notary: RequestNotary
    roles: RoleCache
    chain: Any = None  # exchange_api.chain.ChainGateway when a deployment is configured
    log: Any = None  # notarizer.log.TransparencyLog
    indexer: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


async def get_ctx(request: Request) -> AppContext:
    # async: FastAPI would otherwise hop to a worker thread just to read an attribute
    return request.app.state.ctx


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.ctx.engine, expire_on_commit=False) as session:
        yield session


# Route parameter types: the context and a request-scoped DB session, declared once for every router.
CtxDep = Annotated[AppContext, Depends(get_ctx)]
SessionDep = Annotated[Session, Depends(get_session)]
