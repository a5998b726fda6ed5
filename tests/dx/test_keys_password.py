"""The keystore password outside the local demo stack: asked for (twice) or required, never the demo one."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from dx.stack import StackConfig, Supervisor
from dx_core import keystore
from dx_core.settings import REPO_ROOT, get_settings


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != keystore.PASSWORD_ENV}
    out.update({"DX_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"})
    return out


def _dx(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dx", *argv], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, cwd=REPO_ROOT)


def _read_until(fd: int, text: bytes, seen: bytearray) -> bool:
    """Read the terminal until `text` shows (True) or the program ends (False)."""
    while text not in seen:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        seen.extend(chunk)
    del seen[: seen.index(text) + len(text)]
    return True


def _dx_on_a_terminal(env: dict[str, str], argv: list[str], dialogue: list[tuple[bytes, str]]
                      ) -> tuple[int, str]:
    """Run dx on a pseudo-terminal, answering each prompt; (exit code, everything shown after)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: dx itself
        os.chdir(REPO_ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "dx", *argv], env)
    seen = bytearray()
    try:
        for prompt, answer in dialogue:
            if not _read_until(fd, prompt, seen):
                break
            os.write(fd, answer.encode() + b"\n")
        _read_until(fd, b"\0never\0", seen)  # drain until it exits
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_new_without_a_password_or_a_terminal_is_refused(env, tmp_path):
    proc = _dx(env, "account", "new", "bank-c")
    assert proc.returncode != 0
    assert "DX_KEYSTORE_PASSWORD is not set" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "keys" / "bank-c.json").exists()  # nothing under the demo password


def test_the_demo_password_is_refused_outside_the_demo_stack(env, tmp_path):
    env[keystore.PASSWORD_ENV] = keystore.DEV_PASSWORD
    for argv in (["account", "new", "bank-c"],
                 ["account", "import", "bank-c", "--private-key", "0x" + "11" * 32]):
        proc = _dx(env, *argv)
        assert proc.returncode != 0 and "demo password shipped in the source" in proc.stderr, proc.stderr
    assert not (tmp_path / "data" / "keys").exists() or not list((tmp_path / "data" / "keys").iterdir())


def test_new_asks_twice_and_encrypts_with_what_was_typed(env, tmp_path):
    code, shown = _dx_on_a_terminal(env, ["account", "new", "bank-c"], [
        (b"new keystore password: ", "correct horse battery"),
        (b"repeat the password: ", "correct horse battery")])
    assert code == 0, shown
    path = tmp_path / "data" / "keys" / "bank-c.json"
    assert keystore.load(path, "correct horse battery").address.startswith("0x")
    with pytest.raises(keystore.KeystoreError):
        keystore.load(path, keystore.DEV_PASSWORD)
    assert "correct horse" not in shown  # the terminal never echoed it


def test_two_different_passwords_create_nothing(env, tmp_path):
    code, shown = _dx_on_a_terminal(env, ["account", "new", "bank-c"], [
        (b"new keystore password: ", "correct horse battery"),
        (b"repeat the password: ", "correct horse batter")])
    assert code != 0 and "the two passwords differ" in shown
    assert not (tmp_path / "data" / "keys" / "bank-c.json").exists()


def test_import_asks_for_the_key_then_the_password(env, tmp_path):
    key = "0x" + "42" * 32
    code, shown = _dx_on_a_terminal(env, ["account", "import", "treasury"], [
        (b"Private key: ", key), (b"new keystore password: ", "a long passphrase"),
        (b"repeat the password: ", "a long passphrase")])
    assert code == 0, shown
    ident = keystore.load(tmp_path / "data" / "keys" / "treasury.json", "a long passphrase")
    assert ident.account.key.hex().removeprefix("0x") == "42" * 32


def test_the_local_demo_stack_keeps_its_default(tmp_path, monkeypatch):
    # a data dir whose stack runs its own Anvil: the demo keeps working without any password set
    monkeypatch.setenv("DX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(keystore.PASSWORD_ENV, raising=False)
    get_settings.cache_clear()
    try:
        Supervisor(StackConfig.from_settings(get_settings(), "anvil")).save()
        from dx import identities

        made = identities.create("bank-c", scrypt_n=2**10)
        assert keystore.load(made.path, keystore.DEV_PASSWORD).address == made.address
    finally:
        get_settings.cache_clear()
