"""Sign-In with Ethereum (EIP-4361): nonces, login, bearer tokens, and the role checks routes depend on."""

from __future__ import annotations

import hashlib
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import update

from exchange_api.context import REGULATOR, AppContext, CtxDep, SessionDep, role_names
from exchange_api.errors import Forbidden, Unauthorized, problem_responses
from exchange_api.models import AuthNonce, AuthToken

# The abnf grammar library (used by siwe) warns about siwe's grammar when it first loads it.
warnings.filterwarnings("ignore", module=r"abnf\.")
import siwe  # noqa: E402

NONCE_TTL = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Principal:
    """The signed-in member of a request."""

    address: str
    roles: int

    def has(self, role: int) -> bool:
        return bool(self.roles & role)

    @property
    def is_regulator(self) -> bool:
        return self.has(REGULATOR)


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


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expected_chain_id(ctx: AppContext) -> int:
    return ctx.chain.chain_id if ctx.chain is not None else ctx.settings.chain_id


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def optional_member(
    request: Request,
    ctx: CtxDep,
    session: SessionDep,
) -> Principal | None:
    token = _bearer(request)
    if token is None:
        return None
    row = session.get(AuthToken, _hash_token(token))
    if row is None:
        raise Unauthorized("unknown bearer token: sign in again at /v1/auth/login")
    if row.expires_at <= datetime.now(UTC):
        raise Unauthorized(f"bearer token expired at {row.expires_at.isoformat()}: sign in again")
    request.scope.setdefault("state", {})["actor"] = row.address
    return Principal(row.address, ctx.roles.get(row.address))


def current_member(principal: Annotated[Principal | None, Depends(optional_member)]) -> Principal:
    if principal is None:
        raise Unauthorized("this route needs a bearer token: sign in with Ethereum at /v1/auth/login")
    return principal


def require_role(role: int, what: str):  # type: ignore[no-untyped-def]
    """A dependency admitting members holding `role` (regulators pass every read check separately)."""

    def check(principal: Annotated[Principal, Depends(current_member)]) -> Principal:
        if not principal.has(role):
            raise Forbidden(
                f"{principal.address} does not hold the {role_names(role)[0]} role needed to {what} "
                f"(its roles: {', '.join(role_names(principal.roles)) or 'none'})"
            )
        return principal

    return check


def require_regulator(principal: Annotated[Principal, Depends(current_member)]) -> Principal:
    if not principal.is_regulator:
        raise Forbidden(f"{principal.address} is not a regulator: the audit routes are for regulators")
    return principal


Member = Annotated[Principal, Depends(current_member)]
MaybeMember = Annotated[Principal | None, Depends(optional_member)]

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.get("/nonce", response_model=NonceOut, summary="A single-use nonce for a SIWE message")
def get_nonce(ctx: CtxDep, session: SessionDep) -> NonceOut:
    nonce = siwe.generate_nonce()
    row = AuthNonce(nonce=nonce)
    session.add(row)
    session.commit()
    domain = ctx.settings.siwe_domain
    return NonceOut(
        nonce=nonce,
        domain=domain,
        uri=f"http://{domain}",
        chain_id=expected_chain_id(ctx),
        expires_at=row.issued_at + NONCE_TTL,
    )


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Exchange a signed SIWE message for a bearer token",
    responses=problem_responses(401, 422),
)
def login(
    body: LoginIn,
    ctx: CtxDep,
    session: SessionDep,
) -> TokenOut:
    try:
        message = siwe.SiweMessage.from_message(body.message)
    except Exception as exc:
        raise Unauthorized(f"not an EIP-4361 message: {exc}") from None
    if message.domain != ctx.settings.siwe_domain:
        raise Unauthorized(
            f"message is for domain {message.domain!r}; this API is {ctx.settings.siwe_domain!r}"
        )
    chain_id = expected_chain_id(ctx)
    if message.chain_id != chain_id:
        raise Unauthorized(f"message is for chain id {message.chain_id}; this exchange runs on {chain_id}")
    now = datetime.now(UTC)
    if message.expiration_time is None:
        raise Unauthorized("the message needs an Expiration Time")
    stored = session.get(AuthNonce, message.nonce)
    if stored is None:
        raise Unauthorized(f"nonce {message.nonce!r} was not issued by this API (GET /v1/auth/nonce)")
    if stored.used_at is not None:
        raise Unauthorized(f"nonce {message.nonce!r} was already used: get a fresh one")
    if stored.issued_at + NONCE_TTL < now:
        raise Unauthorized(f"nonce {message.nonce!r} expired at {(stored.issued_at + NONCE_TTL).isoformat()}")
    try:
        message.verify(body.signature, domain=ctx.settings.siwe_domain, nonce=stored.nonce, timestamp=now)
    except siwe.ExpiredMessage:
        raise Unauthorized(f"the message expired at {message.expiration_time}") from None
    except siwe.NotYetValidMessage:
        raise Unauthorized(f"the message is not valid before {message.not_before}") from None
    except siwe.VerificationError as exc:
        raise Unauthorized(
            f"signature does not verify for {message.address} ({type(exc).__name__})"
        ) from None
    # Consume the nonce atomically: of two concurrent logins with one nonce, exactly one wins.
    used = session.exec(  # type: ignore[call-overload]
        update(AuthNonce)
        .where(AuthNonce.nonce == stored.nonce, AuthNonce.used_at.is_(None))
        .values(used_at=now)
    )
    if used.rowcount != 1:
        raise Unauthorized(f"nonce {message.nonce!r} was already used: get a fresh one")
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=ctx.settings.token_ttl_seconds)
    expiry_claimed = message.expiration_time._datetime  # a token never outlives the message it came from
    expires = min(expires, expiry_claimed)
    session.add(AuthToken(token_hash=_hash_token(token), address=message.address, expires_at=expires))
    session.commit()
    ctx.roles.invalidate(message.address)
    roles = ctx.roles.get(message.address)
    return TokenOut(access_token=token, expires_at=expires, address=message.address, roles=role_names(roles))


@router.get(
    "/me", response_model=MeOut, summary="Who the bearer token belongs to", responses=problem_responses(401)
)
def me(principal: Member) -> MeOut:
    return MeOut(address=principal.address, roles=role_names(principal.roles), role_mask=principal.roles)
