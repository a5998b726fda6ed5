"""The demo scenario: the exchange's story played end to end against the local stack."""

from __future__ import annotations

from dx import output
from dx.commands.stack_cmds import bring_up


def run(small: bool, seed: int, chain: str | None, keep_running: bool) -> dict:
    output.say("[bold]The data exchange demo[/]: data is usable but not visible, controllable and metered.")
    summary = bring_up(chain)
    for note in summary["notes"]:
        output.say(f"[yellow]not yet available:[/] {note}")
    output.emit(summary, lambda: None)
    return summary
