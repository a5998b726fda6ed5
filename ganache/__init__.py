"""Local EVM chain tooling: the Anvil/Ganache launcher and the deterministic dev accounts."""

from ganache.launcher import DEV_KEYS, DEV_MNEMONIC, ChainStartError, LocalChain

__all__ = ["DEV_KEYS", "DEV_MNEMONIC", "ChainStartError", "LocalChain"]
