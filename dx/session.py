"""Who is acting: a signed-in exchange client for the `--as NAME` account."""

from __future__ import annotations

from dx.components import require


def client(name: str):
    """An exchange client signed in (SIWE) as the account `name`."""
    from dx import identities
    from dx_core.settings import get_settings

    client_mod = require("exchange_api.client")
    ident = identities.load(name)
    return client_mod.ExchangeClient.login(get_settings().api_url, ident)
