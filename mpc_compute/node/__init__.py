"""The compute-node service: control API, job execution, attestations (run: python -m mpc_compute.node)."""
