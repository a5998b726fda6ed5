"""The input client's memory stays bounded by its chunk size, not by the dataset size.

Run as a script for the full-size figure:
`python -m tests.mpc_compute.clients.test_input_memory 1000000 16 [chunk_rows]` (prints peak RSS
with and without the sharing, for a rows x cols float dataset in an .npy file).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mpc_compute import spu_runtime
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.input import share_dataset
from mpc_compute.envelope import public_bytes
from mpc_compute.manifest import Column

pytestmark = pytest.mark.mpc

REPO = Path(__file__).resolve().parents[3]
MODULE = "tests.mpc_compute.clients.test_input_memory"  # also when run as a script (__main__)


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(rows: int, cols: int, path: str) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, cols))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 65536):
        stop = min(rows, start + 65536)
        out[start:stop] = rng.normal(size=(stop - start, cols))
    out.flush()


def measure(rows: int, cols: int, workdir: Path, chunk_rows: int | None = None) -> dict:
    """Share a rows x cols .npy (written block by block) and report peak RSS before and after."""
    path = workdir / "big.npy"
    # written by a separate process, so this one's peak RSS does not include the generator's pages
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from {MODULE} import generate; generate({rows}, {cols}, {str(path)!r})",
        ],
        cwd=REPO,
        check=True,
        timeout=300,
    )
    spu_runtime.make_shares(np.zeros((4, cols)))  # warm SPU up so the baseline includes its allocations
    keys = [public_bytes(X25519PrivateKey.generate()) for _ in range(3)]
    baseline = _vm_hwm_mb()
    started = time.perf_counter()
    shared = share_dataset(
        path,
        [Column(f"c{k}", "float64") for k in range(cols)],
        keys,
        open_blob_source(str(workdir / "blobs")),
        chunk_rows=chunk_rows,
    )
    seconds = time.perf_counter() - started
    blobs = sum(f.stat().st_size for f in (workdir / "blobs").rglob("b*"))
    return {
        "rows": rows,
        "cols": cols,
        "plaintext_mb": rows * cols * 8 / 2**20,
        "baseline_peak_mb": baseline,
        "peak_mb": _vm_hwm_mb(),
        "chunk_rows": shared.manifest.chunk_rows,
        "seconds": seconds,
        "stored_mb": blobs / 2**20,
    }


def run_in_subprocess(rows: int, cols: int, chunk_rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", MODULE, str(rows), str(cols), str(chunk_rows), tmp],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_rows():
    # small chunks keep this quick; the default (65536 rows x 16 columns) is measured by running the
    # module as a script, see the docstring
    small = run_in_subprocess(50_000, 16, 16384)  # 4 chunks
    large = run_in_subprocess(250_000, 16, 16384)  # 16 chunks, 31 MB of plaintext
    assert small["chunk_rows"] == large["chunk_rows"] == 16384
    extra_plaintext = large["plaintext_mb"] - small["plaintext_mb"]
    extra_peak = (large["peak_mb"] - large["baseline_peak_mb"]) - (
        small["peak_mb"] - small["baseline_peak_mb"]
    )
    assert extra_peak < extra_plaintext / 2, (
        f"{extra_peak:.0f} MB more peak for {extra_plaintext:.0f} MB more data"
    )
    assert large["peak_mb"] - large["baseline_peak_mb"] < 300, large


if __name__ == "__main__":
    r, c = int(sys.argv[1]), int(sys.argv[2])
    chunk = int(sys.argv[3]) if len(sys.argv) > 3 and int(sys.argv[3]) > 0 else None
    if len(sys.argv) > 4:
        print(json.dumps(measure(r, c, Path(sys.argv[4]), chunk)))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(measure(r, c, Path(tmp), chunk)))
