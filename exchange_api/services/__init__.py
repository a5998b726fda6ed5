"""The logic several routes share: relaying transactions, reading jobs, collecting owners' approvals."""
