"""Notarizer: an append-only transparency log (RFC 6962/9162) anchored on the Notary contract.

Why not pymerkle: pymerkle 7.0.0 implements the same hashing but keeps its tree in its own SQLite file
or in memory (not the shared SQLite/PostgreSQL database, not in one transaction with the entry rows),
numbers leaves from 1, and stores only leaves, recomputing subtree hashes for proofs. Measured here:
its SqliteTree appends 128k leaves/s in a batch, but an inclusion proof takes 1.7 ms at 20k leaves and
92 ms at 200k (it grows with the tree), against the < 1 ms at 1M entries required. The log stores every
complete subtree's hash instead (2 rows per entry amortized), so a proof is O(log n) lookups: about
0.3 ms at 1M entries. So the tree code here is our own and small: `notarizer.proofs` (pure hashing,
proof shapes and RFC 9162 verification) and `notarizer.log` (perfect-subtree hashes in `log_nodes`).
The tests cross-check every root and proof against pymerkle as an independent reference, against the
RFC 6962 test vectors of Certificate Transparency and against hand-computed trees.

Modules, in reading order: the log itself, `proofs` (hashing, proofs), `entry` (kinds, leaf bytes; the
canonical JSON is dx_core.canonical), `tables` (the log_* tables, migrated by the exchange's Alembic
revision 0003), `log` (TransparencyLog), `checkpoints`; against the chain, `anchorer` (checkpoints to
the Notary), `chainview` (what the verifier reads from the chain), `verifier` (the regulator's
independent check), `bundle` (signed exports), `usage` (dataset usage); `cli` (`python -m
notarizer.cli`, the regulator's verifier). The regulator's HTTP routes are exchange_api.routes.audit.
"""
