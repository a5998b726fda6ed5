"""Sign-In with Ethereum (EIP-4361) routes: a nonce, login for a bearer token, and who the token is."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from sqlalchemy import delete, update

from dx_core import siwe
from dx_core.roles import role_names
from exchange_api.deps import CtxDep, Member, SessionDep, hash_token
from exchange_api.errors import Unauthorized, problem_responses
from exchange_api.models import AuthNonce, AuthToken
from exchange_api.schemas import LoginIn, MeOut, NonceOut, TokenOut

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.get("/nonce", response_model=NonceOut, summary="A single-use nonce for a SIWE message")
def get_nonce(ctx: CtxDep, session: SessionDep) -> NonceOut:
    nonce = siwe.generate_nonce()
    row = AuthNonce(nonce=nonce)
    session.add(row)
    session.commit()
    domain = ctx.settings.siwe_domain
    nonce_ttl = timedelta(seconds=ctx.settings.nonce_ttl_seconds)
    return NonceOut(
        nonce=nonce,
        domain=domain,
        uri=f"http://{domain}",
        chain_id=ctx.chain_id,
        expires_at=row.issued_at + nonce_ttl,
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
        message = siwe.parse(body.message)
    except Exception as exc:
        raise Unauthorized(f"not an EIP-4361 message: {exc}") from None
    if message.domain != ctx.settings.siwe_domain:
        raise Unauthorized(
            f"message is for domain {message.domain!r}; this API is {ctx.settings.siwe_domain!r}"
        )
    chain_id = ctx.chain_id
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
    expired_at = stored.issued_at + timedelta(seconds=ctx.settings.nonce_ttl_seconds)
    if expired_at < now:
        # Expired rows go on use (and in the periodic purge): an unused nonce is not kept forever.
        session.exec(delete(AuthNonce).where(AuthNonce.nonce == stored.nonce))  # type: ignore[call-overload]
        session.commit()
        raise Unauthorized(f"nonce {message.nonce!r} expired at {expired_at.isoformat()}")
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
    # A token never outlives the message it came from.
    expires = min(expires, datetime.fromisoformat(str(message.expiration_time)))
    session.add(AuthToken(token_hash=hash_token(token), address=message.address, expires_at=expires))
    session.commit()
    ctx.roles.invalidate(message.address)
    roles = ctx.roles.get(message.address)
    return TokenOut(access_token=token, expires_at=expires, address=message.address, roles=role_names(roles))


@router.get(
    "/me", response_model=MeOut, summary="Who the bearer token belongs to", responses=problem_responses(401)
)
def me(principal: Member) -> MeOut:
    return MeOut(address=principal.address, roles=role_names(principal.roles), role_mask=principal.roles)
