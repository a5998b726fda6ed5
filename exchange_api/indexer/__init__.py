"""The chain indexer: the loop following ledger events (runner), their effect (apply), who runs it (lease)."""
