"""Building `dx` and printing any help imports no heavy library and nothing of the API's server side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from dx_core.settings import REPO_ROOT

# What `dx --help` must not load: each costs a quarter of a second to seconds per dx call, and the test
# suite makes hundreds of them. The API's server side is never the CLI's to import, at any time.
HEAVY = ("web3", "fastapi", "sqlalchemy", "sqlmodel", "jax", "spu", "numpy", "contracts", "mpc_compute",
         "exchange_api.services", "exchange_api.deps", "exchange_api.app")

# Runs in a fresh interpreter: build the CLI, then ask every group and every command for --help, one at a
# time, and record which heavy modules each step loaded.
PROBE = textwrap.dedent("""
    import json, sys
    HEAVY = tuple(json.loads(sys.argv[1]))

    def heavy():
        return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))

    import typer
    from dx.cli import app, main
    loaded = {"<build>": heavy()}

    def paths(cmd, path=()):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from paths(sub, (*path, name))

    for path in paths(typer.main.get_command(app)):
        try:
            main([*path, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, (path, exc.code)
        new = [m for m in heavy() if not any(m in v for v in loaded.values())]
        loaded[" ".join(("dx", *path, "--help"))] = new
    print("PROBE " + json.dumps(loaded))
""")


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200"}


def _probe() -> dict[str, list[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY)], cwd=REPO_ROOT, env=_env(),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def test_no_help_text_loads_a_heavy_module_or_the_api_server():
    loaded = _probe()
    assert len(loaded) > 40  # the probe really walked every group and command (a sanity floor)
    culprits = {step: mods for step, mods in loaded.items() if mods}
    assert culprits == {}, f"these steps imported heavy modules: {culprits}"


def test_importtime_of_dx_help_lists_none_of_them():
    # The same check through the interpreter's own import log, on the real `python -m dx --help`.
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "dx", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=_env(), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "dx.cli" in imported and "typer" in imported  # the log is real, and it is dx's
    assert sorted(m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY)) == []
