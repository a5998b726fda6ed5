"""Local EVM chain tooling: the Anvil/Ganache launcher (`ganache.launcher`) and the dev accounts."""
