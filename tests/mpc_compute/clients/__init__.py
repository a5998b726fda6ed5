"""Tests of mpc_compute.clients: the input client (share, seal) and the output client (check, open)."""
