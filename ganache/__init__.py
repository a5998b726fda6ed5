"""Local EVM chain tooling: the Anvil/Ganache launcher and the deterministic dev accounts."""

from __future__ import annotations

from typing import Any

__all__ = ["DEV_KEYS", "DEV_MNEMONIC", "ChainStartError", "LocalChain"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m ganache.launcher` does not import the module twice.
    if name in __all__:
        from ganache import launcher

        return getattr(launcher, name)
    raise AttributeError(f"module 'ganache' has no attribute {name!r}")
