"""Typed bindings, one module per contract; `contracts.Ledger` bundles them."""
