"""Reseal commands: `dx node reseal` (a node after its key rotation), `dx dataset reseal` (an owner)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dx import output
from dx.commands.options import Acting

RESEAL_DIR = Path("reseal")
node_app = typer.Typer(help="A compute node's own chores: re-seal its shares after a key rotation.",
                       no_args_is_help=True)


def register(app: typer.Typer, dataset_app: typer.Typer, algorithm_app: typer.Typer) -> None:
    app.add_typer(node_app, name="node")
    node_app.command("reseal")(node_reseal)
    dataset_app.command("reseal")(dataset_reseal)
    algorithm_app.command("reseal")(algorithm_reseal)


def node_reseal(
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False,
                                      help="Directory for the signed requests.")] = RESEAL_DIR,
    old_keystore: Annotated[Path | None, typer.Option(
        "--old-keystore", exists=True, dir_okay=False,
        help="Keystore of the key before rotation (default: the newest in keys/retired/).")] = None,
    acting: Acting = "node-1",
) -> None:
    """Re-seal this node's shares to its new key, after `dx account rotate-key --force`.

    For each active listing (a dataset, or an algorithm's secret model) whose shares for this node are
    sealed to its old key, the node opens its own bundles with the old key (in memory only), seals them
    to its registered key, uploads them and writes a signed request for the listing's owner, who applies
    it with `dx dataset reseal FILE` (or `dx algorithm reseal FILE`).

    [bold]Example:[/]  dx node reseal --out reseal/ --as node-1
    """
    from dx.actions.reseal import reseal_node

    result = reseal_node(acting, out, old_keystore)

    def human() -> None:
        output.console.print(f"[bold]{acting}[/] (node {result['node_index']}): "
                             f"{len(result['requests'])} listing(s) re-sealed to {result['new_key'][:16]}...")
        for r in result["requests"]:
            output.console.print(f"  {r['kind']} #{r['listing_id']}: {r['bundles']} bundle(s), request "
                                 f"{escape(r['request'])} for its owner {r['owner']}")
        for s in result["skipped"]:
            output.console.print(f"  [yellow]{s['kind']} #{s['listing_id']} skipped: "
                                 f"{escape(s['reason'])}[/]")

    output.emit(result, human)


def dataset_reseal(
    request: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A node's signed request.")],
    acting: Acting = "tax-bureau",
) -> None:
    """Apply a compute node's signed reseal request to your listing (only that node's shares change).

    The request's signature, the node's cluster seat and registered key are checked against the chain,
    and the new bundles' headers against the listing; then the listing points at the new manifest.

    [bold]Example:[/]  dx dataset reseal reseal/reseal-dataset-1-node1.json --as tax-bureau
    """
    from dx.actions.reseal import apply_request

    _emit_applied(apply_request(acting, request, "dataset"))


def algorithm_reseal(
    request: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A node's signed request.")],
    acting: Acting = "model-vendor",
) -> None:
    """Apply a compute node's signed reseal request to your secret model's algorithm listing.

    The same checks as `dx dataset reseal`; the listing then points at the model manifest in which only
    that node's shares changed.

    [bold]Example:[/]  dx algorithm reseal reseal/reseal-model-2-node1.json --as model-vendor
    """
    from dx.actions.reseal import apply_request

    _emit_applied(apply_request(acting, request, "model"))


def _emit_applied(result: dict) -> None:
    word = "dataset" if result["kind"] == "dataset" else "algorithm"
    output.emit(result, lambda: output.console.print(
        f"{word} [bold]#{result['listing_id']}[/]: node {result['node_index']}'s shares re-sealed, manifest "
        f"{result['manifest_hash'][:18]}..."))
