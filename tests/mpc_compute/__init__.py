"""Tests of mpc_compute: the SPU runtime, the algorithm library, documents and envelopes."""
