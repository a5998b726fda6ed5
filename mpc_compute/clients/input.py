"""The input client: validate a dataset or model, secret-share it, seal and store the shares.

Flow: `iter_columns` streams a CSV (csv module), Parquet (pyarrow, imported only for Parquet) or .npy
file in row batches typed by a declared schema and validates every value (missing column, missing
value, wrong type, NaN or infinity -> an `InputValidationError` naming column and row) in a first
pass, BEFORE anything is shared. The second pass splits each batch into SPU shares
(`spu_runtime.make_shares`), seals share i to node i's X25519 key bound to (kind, manifest label,
node i), stores the bundle content-addressed, and records its CID and the sha256 of the plaintext
share in the manifest. Memory stays bounded by the batch size.

Arrays shared from a dataset (each only if the schema has such columns):
- "id": int64 (rows,), the id column; text ids become 63-bit field elements via `id_to_field`
  (mpc_compute.algorithms.oblivious); ids must be unique within a dataset (checked before sharing).
- "features": float64 (rows, k), the feature columns in schema order.
- "label": float64 (rows,), the label column.
A model's parameters (`share_model`) are shared one array per parameter name, unchunked.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpc_compute import spu_runtime
from mpc_compute.algorithms.oblivious import id_to_field
from mpc_compute.blob_source import BlobSource
from mpc_compute.envelope import seal, share_context
from mpc_compute.manifest import ArraySpec, ChunkRef, Column, Manifest, NodeShares

# pyarrow (Parquet only) and rich's progress display are imported inside functions: they take long
# to load and most runs need neither.

TARGET_CHUNK_ELEMENTS = 1 << 20


class InputValidationError(ValueError):
    """A value or column of the input does not fit the declared schema."""

    def __init__(self, message: str, column: str | None = None, row: int | None = None) -> None:
        parts = ([] if column is None else [f"column {column!r}"]) + ([] if row is None else [f"row {row}"])
        super().__init__(", ".join(parts) + ": " + message if parts else message)
        self.column, self.row = column, row


def _check_unique_ids(column: str, ids: np.ndarray) -> None:
    """Join programs sort by ID and need each ID once per input (a repeat would also tell the nodes so)."""
    if len(ids) < 2:
        return
    order = np.argsort(ids, kind="stable")
    repeats = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if len(repeats):
        first, again = sorted((int(order[repeats[0]]), int(order[repeats[0] + 1])))
        raise InputValidationError(f"the id at row {again} repeats the one at row {first}", column, again)


@dataclass(frozen=True)
class SharedListing:
    """What sharing produced: the manifest, its bytes, its hash (the on-chain commitment) and CID."""

    manifest: Manifest
    manifest_bytes: bytes
    manifest_hash: bytes
    manifest_cid: str


# ---------------------------------------------------------------- reading and validation


def _first_bad(values, ok) -> int:
    return next(i for i, v in enumerate(values) if not ok(v))


def _parses(kind):
    def check(v) -> bool:
        try:
            kind(v)
        except (TypeError, ValueError, OverflowError):
            return False
        return True

    return check


def _is_int(v) -> bool:
    if isinstance(v, str):
        return _parses(int)(v)
    return _parses(int)(v) and float(v) == int(v)


def _convert(col: Column, values: np.ndarray, row0: int) -> np.ndarray:
    """One column of a batch (strings from CSV, numbers from Parquet or .npy) as numpy, or an
    InputValidationError naming the first bad row."""
    if values.dtype == object:
        missing = [v is None or (isinstance(v, str) and v.strip() == "") for v in values]
        if any(missing):
            raise InputValidationError("missing value", col.name, row0 + missing.index(True))
    if col.dtype == "text":
        if col.role != "id":
            raise InputValidationError("only id columns can be text (they are hashed)", col.name)
        return np.fromiter((id_to_field(str(v)) for v in values), dtype=np.int64, count=len(values))
    if col.dtype == "bool":
        words = [str(v).strip().lower() for v in values]
        allowed = ("true", "false", "1", "0", "1.0", "0.0")
        if any(w not in allowed for w in words):
            bad = _first_bad(words, lambda w: w in allowed)
            raise InputValidationError(f"{values[bad]!r} is not a boolean", col.name, row0 + bad)
        return np.array([w in ("true", "1", "1.0") for w in words], dtype=np.float64)
    if col.dtype == "int64":
        if values.dtype.kind in "iub":
            return values.astype(np.int64)
        ok = [_is_int(v) for v in values]
        if not all(ok):
            bad = ok.index(False)
            raise InputValidationError(f"{_text(values[bad])!r} is not a int64", col.name, row0 + bad)
        return np.array([int(v) if isinstance(v, str) else int(float(v)) for v in values], dtype=np.int64)
    try:
        data = values.astype(np.float64)
    except (ValueError, OverflowError):
        bad = _first_bad(values, _parses(float))
        raise InputValidationError(f"{_text(values[bad])!r} is not a float64", col.name, row0 + bad) from None
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise InputValidationError(f"{data[bad]} is not a finite number", col.name, row0 + bad)
    return data


def _text(v) -> str:
    return v if isinstance(v, str) else repr(v)


def _csv_batches(path: Path, schema: list[Column], batch_rows: int) -> Iterator[dict[str, np.ndarray]]:
    names = [c.name for c in schema]
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        _check_columns(names, header, path)
        index = [header.index(n) for n in names]
        done = 0
        while True:
            rows = list(itertools.islice(reader, batch_rows))
            if not rows:
                return
            short = next((k for k, r in enumerate(rows) if len(r) < len(header)), None)
            if short is not None:
                got = len(rows[short])
                raise InputValidationError(
                    f"row has {got} fields, the header has {len(header)}", row=done + short
                )
            yield {n: np.array([r[k] for r in rows], dtype=object) for n, k in zip(names, index, strict=True)}
            done += len(rows)


def _parquet_batches(path: Path, schema: list[Column], batch_rows: int) -> Iterator[dict[str, np.ndarray]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = [c.name for c in schema]
    _check_columns(names, pf.schema_arrow.names, path)
    for batch in pf.iter_batches(batch_size=batch_rows, columns=names):
        out = {}
        for n in names:
            column = batch.column(n)
            values = column.to_numpy(zero_copy_only=False)
            if column.null_count:
                values = np.array(column.to_pylist(), dtype=object)
            out[n] = values if values.dtype.kind in "biuf" else np.asarray(values, dtype=object)
        yield out


def _check_columns(wanted: list[str], present: list[str], path: Path) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise InputValidationError(f"missing column(s) {missing} in {path.name} (has {present})", missing[0])


def _npy_blocks(path: Path, data: np.memmap, batch_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Row blocks read with plain file reads: a memory map would keep every touched page resident."""
    if data.flags.f_contiguous and not data.flags.c_contiguous:
        for start in range(0, data.shape[0], batch_rows):
            yield start, np.array(data[start : start + batch_rows])
        return
    offset, (rows, cols), dtype = data.offset, data.shape, data.dtype
    del data
    with path.open("rb") as fh:
        for start in range(0, rows, batch_rows):
            n = min(batch_rows, rows - start)
            fh.seek(offset + start * cols * dtype.itemsize)
            yield start, np.fromfile(fh, dtype=dtype, count=n * cols).reshape(n, cols)


def iter_columns(
    path: Path, schema: list[Column], batch_rows: int
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(first row, {column: values}) per batch, validated and typed; streams with bounded memory."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = np.load(path, mmap_mode="r")
        if data.ndim != 2 or data.shape[1] != len(schema):
            raise InputValidationError(
                f"{path.name} has shape {data.shape}, schema has {len(schema)} columns"
            )
        if data.dtype.kind not in "biuf":
            raise InputValidationError(f"{path.name} holds {data.dtype}, not numbers")
        for start, block in _npy_blocks(path, data, batch_rows):
            yield start, {c.name: _convert(c, block[:, k], start) for k, c in enumerate(schema)}
        return
    if suffix == ".csv":
        batches = _csv_batches(path, schema, batch_rows)
    elif suffix in (".parquet", ".pq"):
        batches = _parquet_batches(path, schema, batch_rows)
    else:
        raise InputValidationError(f"unsupported input format {suffix!r}: use .csv, .parquet or .npy")
    row0 = 0
    for batch in batches:
        yield row0, {c.name: _convert(c, batch[c.name], row0) for c in schema}
        row0 += len(batch[schema[0].name])


def dataset_arrays(schema: list[Column]) -> list[ArraySpec]:
    """The arrays a dataset with this schema is shared as (shape's first dimension filled in later)."""
    ids = [c.name for c in schema if c.role == "id"]
    feats = [c.name for c in schema if c.role == "feature"]
    labels = [c.name for c in schema if c.role == "label"]
    if len(ids) > 1 or len(labels) > 1:
        raise InputValidationError(f"at most one id and one label column (got ids {ids}, labels {labels})")
    if any(c.role == "param" for c in schema):
        raise InputValidationError("a dataset schema cannot have 'param' columns")
    out = []
    if ids:
        out.append(ArraySpec("id", "int64", (0,), tuple(ids)))
    if feats:
        out.append(ArraySpec("features", "float64", (0, len(feats)), tuple(feats)))
    if labels:
        out.append(ArraySpec("label", "float64", (0,), tuple(labels)))
    return out


def _assemble(spec: ArraySpec, cols: dict[str, np.ndarray]) -> np.ndarray:
    if spec.name == "features":
        return np.column_stack([cols[c].astype(np.float64) for c in spec.columns])
    (name,) = spec.columns
    return cols[name].astype(np.int64 if spec.dtype == "int64" else np.float64)


# ---------------------------------------------------------------- sharing and sealing


class _Sealer:
    """Shares arrays chunk by chunk, seals share i to node i, stores it, and remembers the refs."""

    def __init__(self, kind: str, label: str, node_keys: list[bytes], store: BlobSource, config) -> None:
        if len(node_keys) != spu_runtime.WORLD_SIZE:
            raise ValueError(f"need {spu_runtime.WORLD_SIZE} node keys, got {len(node_keys)}")
        self.kind, self.label, self.keys, self.store, self.config = kind, label, node_keys, store, config
        self.refs: list[dict[str, list[ChunkRef]]] = [{} for _ in node_keys]
        self.bytes_stored = 0

    def add(self, name: str, block: np.ndarray) -> None:
        shares = spu_runtime.make_shares(block, self.config)
        rows = int(block.shape[0]) if block.ndim else 1
        for i, share in enumerate(shares):
            bundle = seal(share, self.keys[i], share_context(self.kind, self.label, i))
            cid = self.store.put(bundle)
            self.bytes_stored += len(bundle)
            self.refs[i].setdefault(name, []).append(ChunkRef(cid, hashlib.sha256(share).hexdigest(), rows))
            del bundle
        del shares

    def nodes(self) -> tuple[NodeShares, ...]:
        return tuple(NodeShares(i, self.keys[i].hex(), self.refs[i]) for i in range(len(self.keys)))


def row_progress(enabled: bool):
    """A bar counting rows: done/total rows, a rate in rows/s (not rich's kB/s: these are rows, not bytes),
    elapsed and remaining time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RowRateColumn(ProgressColumn):
        def render(self, task) -> Text:  # type: ignore[no-untyped-def]
            speed = task.finished_speed or task.speed
            if speed is None and task.finished and task.elapsed:  # one chunk: no moving average yet
                speed = task.completed / task.elapsed
            return Text(row_rate(speed), style="progress.data.speed")

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        RowRateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def row_rate(speed: float | None) -> str:
    """A sharing rate for people: `12.3k rows/s`, `850 rows/s`, `?` before the first chunk."""
    if speed is None:
        return "? rows/s"
    if speed >= 1e6:
        return f"{speed / 1e6:.1f}M rows/s"
    if speed >= 1e3:
        return f"{speed / 1e3:.1f}k rows/s"
    return f"{speed:.0f} rows/s"


def _finish(manifest: Manifest, store: BlobSource) -> SharedListing:
    data = manifest.to_bytes()
    cid = store.put(data)
    if cid != manifest.cid():
        raise RuntimeError(f"blob store named the manifest {cid}, expected {manifest.cid()}")
    return SharedListing(manifest, data, manifest.digest(), cid)


def share_dataset(
    path: Path,
    schema: list[Column],
    node_keys: list[bytes],
    store: BlobSource,
    *,
    chunk_rows: int | None = None,
    label: str | None = None,
    progress: bool = False,
    config=None,
) -> SharedListing:
    """Validate `path` against `schema`, then share, seal and store it; returns the manifest."""
    specs = dataset_arrays(schema)
    width = max(1, sum(len(s.columns) for s in specs))
    chunk_rows = chunk_rows or max(1, TARGET_CHUNK_ELEMENTS // width)
    rows = 0
    id_column = next((c.name for c in schema if c.role == "id"), None)
    ids: list[np.ndarray] = []  # 8 bytes per row: bounded well below the chunked sharing itself
    for row0, cols in iter_columns(path, schema, chunk_rows):  # validation pass: nothing shared yet
        rows = row0 + len(next(iter(cols.values())))
        if id_column is not None:
            ids.append(cols[id_column])
    if id_column is not None and ids:
        _check_unique_ids(id_column, np.concatenate(ids))
        del ids
    if rows == 0:
        raise InputValidationError(f"{Path(path).name} has no data rows")
    config = config or spu_runtime.runtime_config()
    label = label or secrets.token_hex(16)
    sealer = _Sealer("dataset", label, node_keys, store, config)
    with row_progress(progress) as bar:
        task = bar.add_task(f"sharing {Path(path).name}", total=rows)
        for _, cols in iter_columns(path, schema, chunk_rows):
            for spec in specs:
                sealer.add(spec.name, _assemble(spec, cols))
            bar.advance(task, len(next(iter(cols.values()))))
    arrays = tuple(ArraySpec(s.name, s.dtype, (rows, *s.shape[1:]), s.columns) for s in specs)
    manifest = Manifest(
        kind="dataset",
        label=label,
        columns=tuple(schema),
        rows=rows,
        chunk_rows=chunk_rows,
        spu_config_hash=spu_runtime.config_hash(config).hex(),
        arrays=arrays,
        nodes=sealer.nodes(),
    )
    manifest.validate()
    return _finish(manifest, store)


def share_model(
    params: dict[str, np.ndarray],
    node_keys: list[bytes],
    store: BlobSource,
    *,
    label: str | None = None,
    config=None,
    public_params: dict | None = None,
) -> SharedListing:
    """Share an algorithm provider's secret model parameters, one unchunked array per parameter.

    `public_params` are the algorithm's public parameters this model fixes for every job (e.g. link,
    scale, offset): the manifest commits to them, and nodes refuse a job spec that asks for others."""
    checked = {}
    for name, value in params.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise InputValidationError(f"parameter holds {arr.dtype}, not numbers", name)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise InputValidationError("parameter has a NaN or infinite entry", name)
        checked[name] = arr.astype(np.float64 if arr.dtype.kind == "f" else np.int64)
    config = config or spu_runtime.runtime_config()
    label = label or secrets.token_hex(16)
    sealer = _Sealer("model", label, node_keys, store, config)
    for name, arr in checked.items():
        sealer.add(name, arr)
    manifest = Manifest(
        kind="model",
        label=label,
        columns=tuple(
            Column(n, "float64" if a.dtype.kind == "f" else "int64", "param") for n, a in checked.items()
        ),
        rows=0,
        chunk_rows=0,
        spu_config_hash=spu_runtime.config_hash(config).hex(),
        arrays=tuple(ArraySpec(n, a.dtype.name, tuple(a.shape), (n,)) for n, a in checked.items()),
        nodes=sealer.nodes(),
        public_params=dict(public_params or {}),
    )
    manifest.validate()
    return _finish(manifest, store)
