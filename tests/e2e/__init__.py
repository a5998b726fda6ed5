"""End-to-end tests: a whole dx stack started from the command line, on Anvil, Ganache or another chain."""
