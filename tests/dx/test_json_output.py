"""With --json, standard output holds the JSON document only: native code's stdout goes to stderr;
the row-sharing progress bar counts rows per second, not kilobytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rich.console import Console

from dx_core.settings import REPO_ROOT
from mpc_compute.clients import input as input_client

# What SPU's C++ runtime does: write its log line to file descriptor 1, below Python's sys.stdout.
NATIVE_LOG = (
    "import os, sys\n"
    "from dx import output\n"
    "output.set_json(len(sys.argv) > 1)\n"
    "os.write(1, b'[info] [thread_pool.cc:30] Create a fixed thread pool with size 1\\n')\n"
    "output.emit({'dataset_id': 1})\n"
)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-c", NATIVE_LOG, *args], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, check=True)


def test_native_stdout_goes_to_stderr_in_json_mode() -> None:
    out = _run("--json")
    assert json.loads(out.stdout) == {"dataset_id": 1}
    assert "thread_pool.cc:30" in out.stderr
    # without --json nothing is moved: people see the line where it was printed
    human = _run()
    assert "thread_pool.cc:30" in human.stdout


def test_the_real_entry_point_prints_only_json(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DX_DATA_DIR": str(tmp_path / "data"),
           "DX_KEYSTORE_PASSWORD": "a-test-password-long-enough"}
    proc = subprocess.run([sys.executable, "-m", "dx", "--json", "account", "list"], capture_output=True,
                          text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_progress_counts_rows_per_second() -> None:
    assert input_client.row_rate(12_345.0) == "12.3k rows/s"
    assert input_client.row_rate(850.0) == "850 rows/s"
    assert input_client.row_rate(None) == "? rows/s"
    progress = input_client.row_progress(True)
    task = progress.add_task("sharing t.csv", total=100)
    progress.advance(task, 100)
    console = Console(width=200, force_terminal=False)
    with console.capture() as captured:
        console.print(progress.make_tasks_table(progress.tasks))
    line = captured.get()
    assert "100/100 rows" in line and "rows/s" in line, line
    assert "kB/s" not in line and " B/s" not in line, line
