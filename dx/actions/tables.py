"""Rich tables for listings, jobs and audit trails."""

from __future__ import annotations

from rich.table import Table

from dx import output


def _short(address: str | None) -> str:
    return f"{address[:8]}…{address[-4:]}" if address and len(address) > 14 else (address or "")


def listing_table(title: str, rows: list[dict]) -> Table:
    return output.table(title, ["kind", "id", "title", "owner", "price (wei)", "uses", "status"], [
        (r.get("kind", "dataset"), r.get("id"), r.get("title"), _short(r.get("owner")), r.get("price_wei"),
         f"{r.get('uses', 0)}/{r.get('max_uses') or '∞'}", r.get("status"))
        for r in rows])


def jobs_table(title: str, rows: list[dict]) -> Table:
    return output.table(title, ["job", "algorithm", "datasets", "buyer", "status", "waiting for"], [
        (r.get("id"), r.get("algorithm_id"), ",".join(str(d) for d in r.get("dataset_ids", [])),
         _short(r.get("buyer")), r.get("status"), ", ".join(_short(o) for o in r.get("pending_owners", [])))
        for r in rows])


def trail_table(title: str, rows: list[dict]) -> Table:
    return output.table(title, ["seq", "kind", "actor", "subjects", "time"], [
        (r.get("seq"), r.get("kind"), _short(r.get("actor")), ",".join(r.get("subjects", []) or []),
         (r.get("time_iso") or str(r.get("time", "")))[:23].replace("T", " "))
        for r in rows])
