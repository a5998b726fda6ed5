"""Job specs: canonical bytes, commitments, column selection and the reproducible program hash."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.input import share_dataset
from mpc_compute.envelope import public_bytes
from mpc_compute.job_spec import (
    JobInput,
    JobSpec,
    JobSpecError,
    input_shapes,
    inputs_digest,
    program_hash_for,
)
from mpc_compute.manifest import Column

pytestmark = pytest.mark.mpc


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    d = tmp_path_factory.mktemp("spec")
    (d / "a.csv").write_text("id,x,y,z\n" + "\n".join(f"u{i},{i},{i * 2},{i % 3}" for i in range(10)) + "\n")
    keys = [public_bytes(X25519PrivateKey.generate()) for _ in range(3)]
    schema = [
        Column("id", "text", "id"),
        Column("x", "float64"),
        Column("y", "float64"),
        Column("z", "float64"),
    ]
    return share_dataset(d / "a.csv", schema, keys, open_blob_source(str(d / "blobs")))


def make_spec(listing, columns=("x", "z"), **changes) -> JobSpec:
    spec = JobSpec(
        "joint_stats",
        "1.0.0",
        (JobInput("data_0", "dataset", 3, listing.manifest_hash.hex(), "features", columns),),
        ("released", "count", "sum", "mean", "variance", "differencing_refused"),
        "0x" + "11" * 20,
        "22" * 32,
        {},
    )
    return dataclasses.replace(spec, **changes)


def test_canonical_round_trip(listing):
    spec = make_spec(listing)
    assert JobSpec.from_bytes(spec.to_bytes(), spec.digest()) == spec
    assert b" " not in spec.to_bytes()
    with pytest.raises(JobSpecError, match="commits to"):
        JobSpec.from_bytes(spec.to_bytes(), b"\0" * 32)
    with pytest.raises(JobSpecError, match="canonical"):
        JobSpec.from_bytes(spec.to_bytes().replace(b":", b": ", 1))


def test_program_hash_is_reproducible_and_shape_bound(listing):
    manifests = {listing.manifest_hash.hex(): listing.manifest}
    spec = make_spec(listing)
    assert input_shapes(spec, manifests) == [("data_0", (10, 2), "float64")]
    first = program_hash_for(spec, manifests)
    assert program_hash_for(JobSpec.from_bytes(spec.to_bytes()), manifests) == first
    assert program_hash_for(make_spec(listing, columns=("x", "y", "z")), manifests) != first
    assert program_hash_for(make_spec(listing, params={"min_cohort": 50}), manifests) != first


def test_bad_specs_are_refused(listing):
    manifests = {listing.manifest_hash.hex(): listing.manifest}
    with pytest.raises(JobSpecError, match=r"columns \['w'\] are not in array features"):
        program_hash_for(make_spec(listing, columns=("x", "w")), manifests)
    with pytest.raises(JobSpecError, match="unknown algorithm"):
        program_hash_for(make_spec(listing, algorithm="nope"), manifests)
    with pytest.raises(JobSpecError, match="this node has version"):
        program_hash_for(make_spec(listing, algorithm_version="0.1"), manifests)
    with pytest.raises(JobSpecError, match="program gives"):
        program_hash_for(make_spec(listing, outputs=("count",)), manifests)
    other = dataclasses.replace(listing.manifest, spu_config_hash="00" * 32)
    with pytest.raises(JobSpecError, match="shares were made for SPU config"):
        program_hash_for(make_spec(listing), {listing.manifest_hash.hex(): other})


def test_inputs_digest_depends_on_order():
    a, b = b"\1" * 32, b"\2" * 32
    assert inputs_digest([a, b]) != inputs_digest([b, a])
    assert len(inputs_digest([a])) == 32
