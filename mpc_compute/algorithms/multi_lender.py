"""multi_lender: for each of a buyer's applicants, the total outstanding loans and number of lenders.

Inputs: `applicants` (n,) int64 IDs (the buyer's query, unique); per lender k `loan_ids_<k>` (m_k,)
int64 (unique within a book) and `loan_amounts_<k>` (m_k,) floats. Outputs, in the applicants' order:
`lenders` (n,) how many books hold the applicant, `total_loans` (n,) the sum of their amounts.
Method (oblivious.lookup): one sort of all n + sum(m_k) rows by tagged key, a window of one comparison
per lender, a second sort by original position. Nothing about non-applicants reaches the buyer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys
from mpc_compute.algorithms.oblivious import MAX_TABLES, lookup

NAME = "multi_lender"
VERSION = "1.0.0"
DESCRIPTION = "Per applicant: number of lenders holding a loan and the total amount (multi-lending check)."
ROLES = (
    Role("applicants", "query", False, "(n,) int64 hashed applicant IDs of the buyer", use="query"),
    Role("loan_ids", "data", True, "(m_k,) int64 hashed borrower IDs of lender k", use="join_key"),
    Role("loan_amounts", "data", True, "(m_k,) floats: outstanding amount per borrower of lender k",
         use="feature"),
)
OUTPUTS = ("lenders", "total_loans")
RECEIVER = "buyer"
PARAMS_DOC: dict[str, str] = {}


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, set(), NAME)
    by = {s.name: s for s in specs}
    app = by["applicants"]
    if len(app.shape) != 1 or app.shape[0] < 1 or app.dtype != "int64":
        raise InvalidInputs(f"{NAME}: applicants must be a non-empty (n,) int64 array, got {app}")
    books = sorted(int(s.name.rsplit("_", 1)[1]) for s in specs if s.name.startswith("loan_ids_"))
    amounts = sorted(int(s.name.rsplit("_", 1)[1]) for s in specs if s.name.startswith("loan_amounts_"))
    if books != amounts or books != list(range(len(books))):
        raise InvalidInputs(
            f"{NAME}: need loan_ids_k and loan_amounts_k for k = 0..K-1, got ids {books}, amounts {amounts}"
        )
    if not 1 <= len(books) <= MAX_TABLES:
        raise InvalidInputs(f"{NAME}: between 1 and {MAX_TABLES} lender books, got {len(books)}")
    for k in books:
        ids, amt = by[f"loan_ids_{k}"], by[f"loan_amounts_{k}"]
        if len(ids.shape) != 1 or ids.dtype != "int64" or ids.shape[0] < 1:
            raise InvalidInputs(f"{NAME}: loan_ids_{k} must be a non-empty (m,) int64 array, got {ids}")
        if amt.shape != ids.shape or not amt.dtype.startswith("float"):
            raise InvalidInputs(f"{NAME}: loan_amounts_{k} must be {ids.shape} floats, got {amt}")
    return {"books": len(books)}


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    order = [s.name for s in specs]
    books = params["books"]

    def multi_lender(*args):
        x = dict(zip(order, args, strict=True))
        tables = [(x[f"loan_ids_{k}"], x[f"loan_amounts_{k}"]) for k in range(books)]
        count, total = lookup(x["applicants"], tables, with_values=True)
        return count, total

    return Build(multi_lender, ("lenders", "total_loans"))


def plaintext(inputs: dict, params: dict[str, Any]) -> dict[str, Any]:
    app = inputs["applicants"]
    lenders = np.zeros(len(app))
    total = np.zeros(len(app))
    k = 0
    while f"loan_ids_{k}" in inputs:
        ids, amt = inputs[f"loan_ids_{k}"], inputs[f"loan_amounts_{k}"]
        book = dict(zip(ids.tolist(), amt.tolist(), strict=True))
        for i, a in enumerate(app.tolist()):
            if a in book:
                lenders[i] += 1
                total[i] += book[a]
        k += 1
    return {"lenders": lenders, "total_loans": total}
