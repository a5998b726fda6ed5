"""The command groups of `dx`, one module per role or concern."""
