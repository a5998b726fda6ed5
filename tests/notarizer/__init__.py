"""Tests of the notarizer: the transparency log, its proofs, bundles and verifier, and the anchorer."""
