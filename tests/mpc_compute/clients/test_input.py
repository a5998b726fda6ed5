"""Input client: schema validation before sharing, text ids hashed, shares that reconstruct to the data."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dx_core.canonical import canonical_json
from mpc_compute import spu_runtime
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.input import InputValidationError, id_to_field, share_dataset, share_model
from mpc_compute.envelope import EnvelopeError, open_bundle, public_bytes, share_context
from mpc_compute.manifest import Column, Manifest, ManifestError

pytestmark = pytest.mark.mpc

SCHEMA = [
    Column("cid", "text", "id"),
    Column("age", "int64"),
    Column("income", "float64"),
    Column("default", "float64", "label"),
]


@pytest.fixture(scope="module")
def keys():
    return [X25519PrivateKey.generate() for _ in range(3)]


@pytest.fixture
def store(tmp_path):
    return open_blob_source(str(tmp_path / "blobs"))


def write_csv(path, rows, header="cid,age,income,default"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def good_rows(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (f"cust-{i}", int(rng.integers(18, 90)), round(float(rng.normal(5e4, 1e4)), 3), int(i % 2))
        for i in range(n)
    ]


def open_array(store, manifest, keys, name):
    shares = []
    for i in range(3):
        parts = [
            open_bundle(store.get(c.cid), keys[i], share_context(manifest.kind, manifest.label, i))
            for c in manifest.node(i).arrays[name]
        ]
        for part, ref in zip(parts, manifest.node(i).arrays[name], strict=True):
            assert spu_runtime.share_digest(part).hex() == ref.share_sha256
        shares.append(spu_runtime.join_row_blocks(parts) if len(parts) > 1 else parts[0])
    return spu_runtime.reconstruct(shares)


def test_csv_shares_reconstruct(tmp_path, keys, store):
    rows = good_rows(50)
    path = write_csv(tmp_path / "d.csv", rows)
    shared = share_dataset(path, SCHEMA, [public_bytes(k) for k in keys], store, chunk_rows=16)
    m = Manifest.from_bytes(store.get(shared.manifest_cid), shared.manifest_hash)
    assert m.rows == 50 and [a.name for a in m.arrays] == ["id", "features", "label"]
    assert len(m.node(0).arrays["features"]) == 4  # 16 + 16 + 16 + 2 rows
    feats = open_array(store, m, keys, "features")
    expect = np.array([[r[1], r[2]] for r in rows])
    np.testing.assert_allclose(feats, expect, rtol=1e-5)
    ids = open_array(store, m, keys, "id")
    assert ids.tolist() == [id_to_field(r[0]) for r in rows]
    np.testing.assert_allclose(open_array(store, m, keys, "label"), [r[3] for r in rows])


def test_parquet(tmp_path, keys, store):
    rows = good_rows(20)
    table = pa.table(
        {
            "cid": [r[0] for r in rows],
            "age": [r[1] for r in rows],
            "income": [r[2] for r in rows],
            "default": [float(r[3]) for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    shared = share_dataset(
        tmp_path / "d.parquet", SCHEMA, [public_bytes(k) for k in keys], store, chunk_rows=8
    )
    np.testing.assert_allclose(
        open_array(store, shared.manifest, keys, "features"), [[r[1], r[2]] for r in rows], rtol=1e-5
    )
    assert open_array(store, shared.manifest, keys, "id").tolist() == [id_to_field(r[0]) for r in rows]
    table = table.set_column(2, "income", pa.array([None if k == 13 else r[2] for k, r in enumerate(rows)]))
    pq.write_table(table, tmp_path / "gap.parquet")
    with pytest.raises(InputValidationError, match="column 'income', row 13: missing value"):
        share_dataset(tmp_path / "gap.parquet", SCHEMA, [public_bytes(k) for k in keys], store, chunk_rows=8)


def test_npy(tmp_path, keys, store):
    x = np.random.default_rng(3).normal(size=(30, 3))
    np.save(tmp_path / "x.npy", x)
    schema = [Column("a", "float64"), Column("b", "float64"), Column("c", "float64")]
    shared = share_dataset(tmp_path / "x.npy", schema, [public_bytes(k) for k in keys], store, chunk_rows=7)
    np.testing.assert_allclose(open_array(store, shared.manifest, keys, "features"), x, atol=1e-4)
    x[17, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(InputValidationError, match="column 'b', row 17: nan is not a finite number"):
        share_dataset(tmp_path / "nan.npy", schema, [public_bytes(k) for k in keys], store, chunk_rows=7)


def test_short_csv_row_is_named(tmp_path, keys, store):
    path = write_csv(tmp_path / "d.csv", good_rows(12))
    lines = path.read_text().splitlines()
    lines[6] = "cust-x,40"  # data row 5
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputValidationError, match="row 5: row has 2 fields, the header has 4"):
        share_dataset(path, SCHEMA, [public_bytes(k) for k in keys], store, chunk_rows=4)


def test_id_hash_is_63_bit_and_stable():
    values = [id_to_field(f"id-{i}") for i in range(1000)]
    assert all(0 <= v < 2**63 for v in values)
    assert len(set(values)) == 1000
    assert id_to_field("alice") == id_to_field("alice") != id_to_field("alice ")


@pytest.mark.parametrize(
    ("bad_row", "column", "message"),
    [
        (("c-9", "old", 1.0, 0), "age", "'old' is not a int64"),
        (("c-9", 30, "nan", 0), "income", "not a finite number"),
        (("c-9", 30, "abc", 0), "income", "'abc' is not a float64"),
        (("c-9", 30.5, 2.0, 0), "age", "'30.5' is not a int64"),
        (("c-9", 30, "", 0), "income", "missing value"),
        (("c-9", 30, "inf", 0), "income", "not a finite number"),
    ],
)
def test_validation_names_column_and_row_before_sharing(tmp_path, keys, store, bad_row, column, message):
    rows = good_rows(40)
    rows[33] = bad_row
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(InputValidationError) as err:
        share_dataset(path, SCHEMA, [public_bytes(k) for k in keys], store, chunk_rows=8)
    assert err.value.column == column and err.value.row == 33
    assert message in str(err.value) and "row 33" in str(err.value)
    assert not list((tmp_path / "blobs").rglob("b*")), "nothing may be stored when validation fails"


def test_missing_column(tmp_path, keys, store):
    path = write_csv(tmp_path / "d.csv", [r[:3] for r in good_rows(5)], header="cid,age,income")
    with pytest.raises(InputValidationError, match=r"missing column\(s\) \['default'\]") as err:
        share_dataset(path, SCHEMA, [public_bytes(k) for k in keys], store)
    assert err.value.column == "default"


def test_text_feature_is_refused(tmp_path, keys, store):
    path = write_csv(tmp_path / "d.csv", good_rows(5))
    schema = [Column("cid", "text", "feature"), *SCHEMA[1:]]
    with pytest.raises(InputValidationError, match="only id columns can be text"):
        share_dataset(path, schema, [public_bytes(k) for k in keys], store)


def test_model_params_and_binding(tmp_path, keys, store):
    w = np.array([0.5, -1.25, 2.0])
    shared = share_model({"weights": w, "bias": np.array(0.75)}, [public_bytes(k) for k in keys], store)
    m = shared.manifest
    assert m.kind == "model"
    np.testing.assert_allclose(open_array(store, m, keys, "weights"), w, atol=1e-5)
    np.testing.assert_allclose(open_array(store, m, keys, "bias"), 0.75, atol=1e-5)
    bundle = store.get(m.node(1).arrays["weights"][0].cid)
    with pytest.raises(EnvelopeError) as err:  # a model share is not a dataset share
        open_bundle(bundle, keys[1], share_context("dataset", m.label, 1))
    assert err.value.check == "listing"
    with pytest.raises(InputValidationError, match="NaN"):
        share_model({"w": np.array([1.0, np.nan])}, [public_bytes(k) for k in keys], store)


def test_manifest_commitment_is_checked(tmp_path, keys, store):
    shared = share_dataset(
        write_csv(tmp_path / "d.csv", good_rows(5)), SCHEMA, [public_bytes(k) for k in keys], store
    )
    altered = shared.manifest_bytes.replace(b'"rows":5', b'"rows":6')
    with pytest.raises(ManifestError, match="the commitment is"):
        Manifest.from_bytes(altered, shared.manifest_hash)
    with pytest.raises(ManifestError, match="canonical"):
        Manifest.from_bytes(shared.manifest_bytes.replace(b",", b", ", 1))


def test_repeated_id_is_refused(tmp_path, keys, store):
    rows = good_rows(30)
    rows[21] = ("cust-4", *rows[21][1:])
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(
        InputValidationError, match="column 'cid', row 21: the id at row 21 repeats the one at row 4"
    ):
        share_dataset(path, SCHEMA, [public_bytes(k) for k in keys], store, chunk_rows=8)
    assert not list((tmp_path / "blobs").rglob("b*"))


def test_manifest_with_non_ascii_columns_is_utf8_canonical_json(tmp_path, keys, store):
    """Manifests use the one canonical JSON (dx_core.canonical): UTF-8 text, not \\u escapes, so the
    commitment is the sha256 of the bytes a regulator's or the browser's canonical encoder produces."""
    schema = [Column("客户", "text", "id"), Column("größe", "float64"), Column("default", "float64", "label")]
    rows = [(f"c{i}", float(i), float(i % 2)) for i in range(12)]
    path = write_csv(tmp_path / "d.csv", rows, header="客户,größe,default")
    shared = share_dataset(path, schema, [public_bytes(k) for k in keys], store)
    assert "größe".encode() in shared.manifest_bytes and b"\\u" not in shared.manifest_bytes
    assert shared.manifest_hash == hashlib.sha256(canonical_json(json.loads(shared.manifest_bytes))).digest()
    m = Manifest.from_bytes(store.get(shared.manifest_cid), shared.manifest_hash)
    assert [c.name for c in m.columns] == ["客户", "größe", "default"]
    np.testing.assert_allclose(open_array(store, m, keys, "features")[:, 0], [r[1] for r in rows])
