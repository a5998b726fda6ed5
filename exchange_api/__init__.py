"""The exchange service: FastAPI + SQLModel API for the catalog and the compute-contract workflow."""
