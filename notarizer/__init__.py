"""Notarizer: an append-only transparency log (RFC 6962/9162) anchored on the Notary contract.

Why not pymerkle: pymerkle 7.0.0 implements the same hashing but keeps its tree in its own SQLite file
or in memory, numbers leaves from 1 and recomputes subtree hashes for proofs. The log must live in the
shared database (SQLite or PostgreSQL, one transaction with the entry rows), serialize concurrent
appenders, and answer proofs at 1M entries from O(log n) stored hashes. So the tree code here is our
own and small: `notarizer.proofs` (pure hashing, proof shapes and RFC 9162 verification) and
`notarizer.log` (perfect-subtree hashes stored in `log_nodes`). The tests cross-check every root and
proof against pymerkle as an independent reference and against hand-computed trees.

Modules: `entry` (kinds, canonical JSON, leaf bytes), `proofs`, `tables`, `log` (TransparencyLog),
`anchorer` (checkpoints to the chain), `api` (the regulator's routes), `verifier` / `verify` (the
regulator's independent check), `bundle` (signed exports).
"""
