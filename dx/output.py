"""Output of every command: rich tables and lines for people, or one JSON document with `--json`."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dx.errors import DxError

_state = {"json": False}
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def set_json(enabled: bool) -> None:
    """Switch the process to machine-readable output; native code's stdout then goes to stderr."""
    _state["json"] = enabled
    if enabled:
        route_native_stdout()


def route_native_stdout() -> None:
    """Point file descriptor 1 at stderr and keep Python's sys.stdout on the real standard output.

    SPU's C++ runtime (spdlog) prints lines like "[info] [thread_pool.cc:30] Create a fixed thread pool"
    straight to fd 1, below Python: with --json they would precede the document. Only the JSON document
    is written through sys.stdout. A no-op when sys.stdout is not fd 1 (a test's capture, a pipe already
    swapped) or when done already.
    """
    if _state.get("routed"):
        return
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    if fd != 1:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = io.TextIOWrapper(os.fdopen(saved, "wb", buffering=0), encoding="utf-8", line_buffering=True)
    _state["routed"] = True


def json_mode() -> bool:
    return _state["json"]


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for dataclasses, paths, bytes (hex), enums, numpy values and dates."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def emit(data: Any, human: Callable[[], None] | None = None) -> None:
    """Print `data` as JSON in --json mode, else call `human` (or pretty-print `data`)."""
    if json_mode():
        sys.stdout.write(json.dumps(to_jsonable(data), indent=2) + "\n")
        sys.stdout.flush()
    elif human is not None:
        human()
    else:
        console.print_json(json.dumps(to_jsonable(data)))


def say(message: str) -> None:
    """A progress or story line for people; silent in --json mode so stdout stays one document."""
    if json_mode():
        err_console.print(message)
    else:
        console.print(message)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table with the given header and rows (values rendered with str())."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    return t


def render_error(error: DxError) -> None:
    """The one-line red error (plus a hint line) or, in --json mode, an error document on stdout."""
    if json_mode():
        sys.stdout.write(json.dumps({"error": error.to_dict()}, indent=2) + "\n")
        return
    err_console.print(f"[bold red]error:[/] [red]{escape(error.message)}[/]")
    if error.hint:
        err_console.print(f"[dim]hint:[/] {escape(error.hint)}")
