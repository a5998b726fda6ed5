"""`dx account new/import/list`: encrypted member keystores on this machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dx import output

# dx.identities loads eth_account and the keystore's crypto: imported by the commands that use it.
if TYPE_CHECKING:
    from dx.identities import AccountInfo

app = typer.Typer(help="Member identities: encrypted keystores (Ethereum + X25519 keys) in <data_dir>/keys/.",
                  no_args_is_help=True)


def _show(info: AccountInfo, verb: str) -> None:
    output.emit(info, lambda: output.console.print(
        f"{verb} account [bold]{info.name}[/] {info.address} (keystore {info.path})"))


@app.command("new")
def new(name: Annotated[str, typer.Argument(help="Local name of the account, e.g. bank-c.")]) -> None:
    """Create a new identity with fresh keys, encrypted with DX_KEYSTORE_PASSWORD.

    Outside the local demo stack, an unset DX_KEYSTORE_PASSWORD is asked for (twice) and the demo
    password is refused.

    [bold]Example:[/]  dx account new bank-c
    """
    from dx import identities

    _show(identities.create(name), "created")


@app.command("import")
def import_(
    name: Annotated[str, typer.Argument(help="Local name of the account.")],
    private_key: Annotated[str, typer.Option("--private-key", prompt=True, hide_input=True,
                                             envvar="DX_IMPORT_PRIVATE_KEY",
                                             help="Ethereum private key (hex); prompted for when omitted.")],
) -> None:
    """Import an existing Ethereum key (a fresh X25519 key is added) into an encrypted keystore.

    Outside the local demo stack the password is DX_KEYSTORE_PASSWORD or asked for (never the demo
    one), and a public Anvil/Ganache dev key is refused.

    [bold]Example:[/]  dx account import treasury   (prompts for the key)
    """
    from dx import identities

    _show(identities.create(name, private_key.strip()), "imported")


@app.command("list")
def list_() -> None:
    """List the accounts on this machine (public parts only, no password needed).

    [bold]Example:[/]  dx --json account list
    """
    from dx import identities

    rows = identities.list_accounts()
    output.emit(rows, lambda: output.console.print(output.table(
        "accounts", ["name", "address", "x25519 public key"],
        [(a.name, a.address, a.x25519_public[:16] + "…") for a in rows])))
