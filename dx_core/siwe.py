"""Sign-In with Ethereum (EIP-4361): the one place the exchange's sign-in message is written."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

if TYPE_CHECKING:
    import siwe as siwe_library

# The siwe library is imported on first use, not with this module: it compiles its ABNF grammars at
# import (about 0.4 s here), which every `dx` command would otherwise pay, signing in or not.
_LAZY = ("generate_nonce", "ExpiredMessage", "NotYetValidMessage", "VerificationError")

STATEMENT = "Sign in to the exchange"
DEFAULT_TTL = timedelta(minutes=15)


def _library() -> ModuleType:
    # The abnf grammar library (used by siwe) warns about siwe's grammar when it first loads it.
    warnings.filterwarnings("ignore", module=r"abnf\.")
    import siwe

    return siwe


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def sign_in_message(
    domain: str,
    address: str,
    nonce: str,
    chain_id: int,
    *,
    ttl: timedelta = DEFAULT_TTL,
    issued_at: datetime | None = None,
) -> str:
    """The EIP-4361 text a member signs to sign in at `domain` (URI http://domain, version 1), issued now
    (or at `issued_at`) and valid for `ttl`."""
    now = issued_at or datetime.now(UTC)
    return (
        _library()
        .SiweMessage(
            domain=domain,
            address=to_checksum_address(address),
            statement=STATEMENT,
            uri=f"http://{domain}",
            version="1",
            chain_id=chain_id,
            nonce=nonce,
            issued_at=_iso(now),
            expiration_time=_iso(now + ttl),
        )
        .prepare_message()
    )


def parse(message: str) -> siwe_library.SiweMessage:
    """Parse a signed-in message; raises ValueError when it is not EIP-4361 text."""
    return _library().SiweMessage.from_message(message)


def __getattr__(name: str) -> Any:
    """`generate_nonce` and siwe's verification errors, loaded with the library on first use."""
    if name in _LAZY:
        return getattr(_library(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
