"""The `dx` command line: run the local stack, act in each role of the exchange, play the demo."""
