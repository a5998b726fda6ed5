"""Tests of the ledger (contracts): artifacts, deployment, bindings and the Solidity contracts' rules."""
