"""The dx command line itself: help texts with examples, --json output, one-line human errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from contracts.errors import ContractRevert
from dx.cli import app, main, translate
from dx.stack import StackConfig, Supervisor
from dx_core.settings import REPO_ROOT, get_settings
from exchange_api.client import ExchangeError


def _leaf_commands(cmd, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if hasattr(cmd, "commands"):
        out = []
        for name, sub in cmd.commands.items():
            out.extend(_leaf_commands(sub, (*path, name)))
        return out
    return [path]


LEAVES = _leaf_commands(typer.main.get_command(app))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("DX_KEYSTORE_PASSWORD", "test-password")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_every_role_command_exists():
    expected = {("up",), ("down",), ("status",), ("demo",), ("account", "new"), ("account", "import"),
                ("account", "list"), ("member", "admit"), ("cluster", "register"), ("dataset", "publish"),
                ("dataset", "list"), ("dataset", "show"), ("dataset", "delist"), ("requests",), ("approve",),
                ("decline",), ("algorithm", "publish"), ("catalog", "search"), ("job", "request"),
                ("job", "status"), ("job", "result"), ("audit", "trail"), ("audit", "usage"),
                ("audit", "verify"), ("audit", "export"), ("datagen",)}
    assert expected <= set(LEAVES)


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_each_command_has_help_with_an_example(capsys, path):
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0
    assert "Example:" in out
    example = out.split("Example:", 1)[1].split("\n", 1)[0].replace("--json ", "")
    assert f"dx {' '.join(path)}" in example  # the example runs this very command


def test_root_help_lists_the_groups(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for group in ("account", "member", "cluster", "dataset", "algorithm", "catalog", "job", "audit", "demo"):
        assert group in out


def test_json_mode_prints_one_document(capsys, tmp_path):
    code, out, _ = run(capsys, "--json", "datagen", "--out", str(tmp_path / "d"), "--enterprises", "40",
                       "--applicants", "20", "--loans-per-bank", "10", "--shared-borrowers", "3",
                       "--blacklist", "5")
    assert code == 0
    doc = json.loads(out)
    assert doc["rows"]["tax"] == 40 and doc["rows"]["loans_bank_b"] == 10
    assert (tmp_path / "d" / "credit_model.json").exists()


def test_accounts_round_trip_in_json(capsys):
    code, out, _ = run(capsys, "--json", "account", "new", "bank-c")
    assert code == 0
    created = json.loads(out)
    assert created["name"] == "bank-c" and created["address"].startswith("0x")
    code, out, _ = run(capsys, "--json", "account", "list")
    assert [a["address"] for a in json.loads(out)] == [created["address"]]
    keystore_text = (get_settings().data_dir / "keys" / "bank-c.json").read_text()
    assert "ciphertext" in keystore_text and created["address"][2:].lower() in keystore_text.lower()


def test_import_refuses_a_bad_key_with_one_red_line(capsys):
    code, _, err = run(capsys, "account", "import", "x", "--private-key", "0x1234")
    assert code == 2
    assert err.startswith("error: not a valid private key")
    assert "hint:" in err and "Traceback" not in err


def test_errors_in_json_mode_are_a_document(capsys):
    code, out, _ = run(capsys, "--json", "account", "new", "Bad Name")
    assert code == 2
    assert json.loads(out)["error"]["type"] == "InputError"


def test_bad_sizes_are_an_input_error(capsys):
    code, _, err = run(capsys, "datagen", "--enterprises", "5")
    assert code == 2 and "bad sizes" in err


def test_status_of_a_stack_never_started_says_stopped(capsys):
    code, out, _ = run(capsys, "--json", "status")
    assert code == 3  # services not running
    states = {s["name"]: s["state"] for s in json.loads(out)["services"]}
    assert states["chain"] == "stopped"


def test_real_entry_point_renders_expected_errors_without_traceback(tmp_path):
    env = {**os.environ, "DX_DATA_DIR": str(tmp_path / "d"), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "dx", "dataset", "show", "1", "--as", "nobody"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 2  # the message and the hint


def test_up_refuses_to_put_another_chain_on_a_data_dir(capsys):
    Supervisor(StackConfig.from_settings(get_settings(), "anvil")).save()  # this data dir held an Anvil chain
    code, _, err = run(capsys, "up", "--chain", "ganache")
    assert code == 3
    assert "holds the state of a anvil chain" in err and "another --data-dir" in err
    assert not (get_settings().data_dir / "logs").exists()  # nothing was started


def test_other_components_expected_errors_become_one_line(capsys):
    refused = translate(ExchangeError(409, {"title": "Conflict", "detail": "job 4 is already authorized"}))
    assert refused is not None and refused.exit_code == 5 and "already authorized" in refused.message
    assert translate(ValueError("a bug")) is None  # genuine bugs keep their traceback
    revert = translate(ContractRevert("Market", "UsageLimitReached", {"listingId": 6}))
    assert revert is not None and "UsageLimitReached" in revert.message
