"""Tests of dx_core, what every component shares: blob store, CIDs, canonical JSON, sign-in, locks, keys."""
