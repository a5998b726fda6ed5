"""The `dx` root command: global options, the command groups, and human error rendering."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dx import output
from dx.commands import (
    accounts,
    audit,
    buyer,
    datagen_cmd,
    demo_cmd,
    listing_update,
    membership,
    operator,
    reseal,
    sellers,
    settlement,
    stack_cmds,
)
from dx.errors import ConfigError, DxError, RemoteError, StackError

# Building the CLI imports typer, rich and dx.commands only: each command imports what it acts with when
# it runs (`dx --help` must not pay seconds of web3, FastAPI, SQLAlchemy, JAX). translate classifies an
# error by the classes of modules loaded already: an exception of a module never imported cannot occur.

HELP = (
    "Trade the use of data, never the data: the command line of the data exchange.\n\n"
    "Start the local stack, then act in a role: the operator admits members and registers the compute "
    "cluster; sellers publish datasets and approve jobs; algorithm providers publish models; buyers "
    "search the catalog, request jobs and reconstruct results; regulators verify the audit trail.\n\n"
    "[bold]Example:[/]  dx up && dx status && dx demo --small"
)

app = typer.Typer(
    name="dx",
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", file_okay=False, help="Local state (default: $DX_DATA_DIR or .dx/).")] = None,
) -> None:
    """Global options shared by every command."""
    output.set_json(json_out)
    if data_dir is not None:
        from dx_core.settings import get_settings

        os.environ["DX_DATA_DIR"] = str(data_dir.resolve())
        get_settings.cache_clear()


stack_cmds.register(app)
app.add_typer(accounts.app, name="account")
operator.register(app)
sellers.register(app)
buyer.register(app)
app.add_typer(audit.app, name="audit")
datagen_cmd.register(app)
demo_cmd.register(app)
settlement.register(app, buyer.job_app)
membership.register(operator.member_app, accounts.app)
listing_update.register(sellers.dataset_app)
reseal.register(app, sellers.dataset_app, sellers.algorithm_app)


def _loaded(module: str, *names: str) -> tuple[type, ...]:
    """The named exception classes of `module` if it is imported already, else none (nothing to match)."""
    mod = sys.modules.get(module)
    return tuple(getattr(mod, n) for n in names) if mod is not None else ()


def _is(exc: BaseException, classes: tuple[type, ...]) -> bool:
    return bool(classes) and isinstance(exc, classes)


def translate(exc: BaseException) -> DxError | None:
    """An expected error of another component, as a DxError; None for a genuine bug."""
    if _is(exc, _loaded("contracts.errors", "ContractRevert")):
        return RemoteError(f"the chain refused the transaction: {exc}")
    if _is(exc, _loaded("dx_core.keystore", "KeystoreError")):
        return ConfigError(str(exc), hint="check DX_KEYSTORE_PASSWORD and the keystore path")
    if _is(exc, _loaded("httpx", "ConnectError", "ConnectTimeout")):
        return StackError(f"cannot reach a service: {exc}", hint="start the local stack with `dx up`")
    if _is(exc, _loaded("exchange_api.client", "ExchangeError")):
        return RemoteError(f"the exchange refused the request: {exc}")
    if _is(exc, _loaded("httpx", "HTTPStatusError")):  # a blob transfer through mpc_compute's HTTP store
        try:
            body = exc.response.json()
        except ValueError:
            body = None
        detail = (body.get("detail") if isinstance(body, dict) else None) or exc.response.reason_phrase
        return RemoteError(f"the exchange refused {exc.request.method} {exc.request.url.path} "
                           f"({exc.response.status_code}): {detail}")
    if _is(exc, _loaded("requests", "RequestException")
           + _loaded("web3.exceptions", "ProviderConnectionError", "PersistentConnectionError")):
        return StackError(f"cannot reach the chain: {exc}", hint="start the local stack with `dx up`")
    return None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the command, render expected errors as one red line.

    Typer's standalone mode renders usage errors and exits; what escapes it is ours to render.
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="dx", standalone_mode=True)
    except DxError as exc:
        output.render_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        output.err_console.print("[red]aborted[/]")
        sys.exit(130)
    except Exception as exc:
        translated = translate(exc)
        if translated is None:
            raise
        output.render_error(translated)
        sys.exit(translated.exit_code)
