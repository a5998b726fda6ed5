"""The input client storing sealed shares through the real exchange API's blob routes (SIWE sign-in)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mpc_compute import spu_runtime
from mpc_compute.blob_source import HttpBlobStore, open_blob_source
from mpc_compute.clients.input import share_dataset
from mpc_compute.envelope import open_bundle, public_bytes, share_context
from mpc_compute.manifest import Column, Manifest

pytestmark = [pytest.mark.mpc, pytest.mark.api, pytest.mark.chain]


def test_share_through_the_exchange_api(api_server, api_world, tmp_path):
    provider = api_world.member(1)  # PROVIDER
    keys = [X25519PrivateKey.generate() for _ in range(3)]
    x = np.random.default_rng(5).normal(size=(300, 4))
    np.save(tmp_path / "x.npy", x)
    uploader = open_blob_source(api_server.url, account=provider)
    shared = share_dataset(
        tmp_path / "x.npy",
        [Column(f"c{k}", "float64") for k in range(4)],
        [public_bytes(k) for k in keys],
        uploader,
        chunk_rows=100,
    )

    reader = open_blob_source(api_server.url)  # downloads need no sign-in, and are hash-checked
    manifest = Manifest.from_bytes(reader.get(shared.manifest_cid), shared.manifest_hash)
    shares = []
    for i in range(3):
        parts = [
            open_bundle(reader.get(c.cid), keys[i], share_context("dataset", manifest.label, i))
            for c in manifest.node(i).arrays["features"]
        ]
        shares.append(spu_runtime.join_row_blocks(parts))
    np.testing.assert_allclose(spu_runtime.reconstruct(shares), x, atol=1e-4)

    with pytest.raises(httpx.HTTPStatusError) as err:  # an anonymous upload is refused by the API
        HttpBlobStore(api_server.url).put(b"anonymous")
    assert err.value.response.status_code == 401
