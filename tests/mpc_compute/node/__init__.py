"""Tests of mpc_compute.node: real node processes, alone, on a chain, over TLS and under faults."""
