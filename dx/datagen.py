"""Deterministic synthetic data for the demo scenario: enterprises, their tax and telecom records, loans.

The story: a population of enterprises, each keyed by a text ID ("ENT-000123"). Every table is a
pure function of (seed, sizes), so the same seed always writes the same bytes.

| table / model           | owner           | columns                                                     |
|-------------------------|-----------------|-------------------------------------------------------------|
| tax                     | tax bureau      | enterprise_id, revenue, tax_paid, filings_late, years_reg.. |
| telecom                 | telecom         | enterprise_id, monthly_spend, tenure_months, lines, delays  |
| tax_scaled              | tax bureau      | its whole table's model columns, standardized, its order    |
| telecom_scaled          | telecom         | its whole table's model columns, standardized, its order    |
| loans_bank_a / _b       | bank A / bank B | enterprise_id, loan_amount                                  |
| applicants_bank_a       | bank A          | enterprise_id, defaulted (0/1)                              |
| blacklist               | regulator list  | enterprise_id                                               |
| credit_model, aml_model | model vendor    | logistic weights over standardized FEATURES and a bias      |

Each member keeps its own table in its own order with its own ID set, as real ones do: the tax
bureau has every enterprise, sorted by ID; the telecom serves only `telecom_share` of them, in the
order they signed up; bank A lists its applicants in the order they applied. Nobody shares an ID list
with anyone: vertical training and scoring join the tables on enterprise ID inside MPC. The `_scaled`
tables are each provider's whole table, standardized with its own mean and deviation (model inputs).
Applicants' default labels are drawn from a logistic model of the tax and telecom features, so a
regression trained on them learns something; the vendor's credit model is close to that truth.
Revenue and tax are in millions (M CNY), spend and loans in thousands (k CNY). Enterprises that
borrow from both banks exist on purpose (the multi-lender check finds them), and some applicants are
on the blacklist.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FEATURES = ["revenue", "tax_paid", "filings_late", "monthly_spend", "tenure_months", "payment_delays"]
TAX_COLUMNS = ["revenue", "tax_paid", "filings_late", "years_registered"]
TELECOM_COLUMNS = ["monthly_spend", "tenure_months", "lines", "payment_delays"]

# The hidden truth behind default labels, over standardized raw features.
_TRUE_WEIGHTS = {"revenue": -0.5, "tax_paid": -0.9, "filings_late": 1.1,
                 "monthly_spend": -0.3, "tenure_months": -0.8, "payment_delays": 0.9}
_TRUE_BIAS = -1.0
# The AML model looks for shell-company patterns: high revenue, little tax, few lines, late filings.
_AML_WEIGHTS = {"revenue": 0.8, "tax_paid": -1.2, "filings_late": 0.6,
                "monthly_spend": -0.4, "tenure_months": -0.5, "payment_delays": 0.2}
_AML_BIAS = -2.0


@dataclass(frozen=True)
class Sizes:
    """How big the scenario is; the defaults run the whole demo in a few minutes on 2 cores."""

    enterprises: int = 300
    applicants: int = 200
    loans_per_bank: int = 120
    shared_borrowers: int = 25
    blacklist: int = 20
    telecom_share: float = 0.9

    def __post_init__(self) -> None:
        if self.enterprises < 10:
            raise ValueError(f"need at least 10 enterprises, got {self.enterprises}")
        for name in ("applicants", "loans_per_bank", "blacklist"):
            if not 0 < getattr(self, name) <= self.enterprises:
                raise ValueError(f"{name}={getattr(self, name)} must be in 1..{self.enterprises}")
        if not 0 <= self.shared_borrowers <= self.loans_per_bank:
            raise ValueError(f"shared_borrowers={self.shared_borrowers} must be in 0..loans_per_bank")
        if 2 * self.loans_per_bank - self.shared_borrowers > self.enterprises:
            raise ValueError("the two loan books need more distinct enterprises than exist")
        if not 0.1 <= self.telecom_share <= 1.0:
            raise ValueError(f"telecom_share={self.telecom_share} must be in [0.1, 1]")


SMALL = Sizes(enterprises=120, applicants=80, loans_per_bank=50, shared_borrowers=12, blacklist=10)


@dataclass
class Table:
    """Columns by name; `enterprise_id` is a list of str, every other column a 1-D numpy array."""

    columns: dict[str, object]

    @property
    def rows(self) -> int:
        return len(self.columns["enterprise_id"])

    def numeric(self, names: list[str]) -> np.ndarray:
        """The named columns as a float64 matrix (rows x len(names))."""
        return np.column_stack([np.asarray(self.columns[n], dtype=np.float64) for n in names])


@dataclass(frozen=True)
class LinearModel:
    """A logistic model: score = sigmoid(bias + weights . z), z = FEATURES standardized (zfeatures_of)."""

    name: str
    features: list[str]
    weights: list[float]
    bias: float
    # secret_model_score's public parameters the listing fixes (the buyer cannot choose the scale)
    public_params: dict = field(default_factory=dict)

    def score(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ np.asarray(self.weights) + self.bias)))

    def to_dict(self) -> dict:
        return {"name": self.name, "features": self.features, "weights": self.weights, "bias": self.bias,
                "public_params": self.public_params}

    def vector(self) -> np.ndarray:
        """The parameters as one vector (weights then bias): what the vendor secret-shares."""
        return np.asarray([*self.weights, self.bias], dtype=np.float64)


@dataclass
class Scenario:
    """Everything the demo's members own, generated from one seed."""

    seed: int
    sizes: Sizes
    tables: dict[str, Table] = field(default_factory=dict)
    models: dict[str, LinearModel] = field(default_factory=dict)
    # the generator's ground truth: FEATURES of every enterprise, the telecom's non-customers included
    truth: dict[str, np.ndarray] = field(default_factory=dict)

    def zfeatures_of(self, ids: list[str]) -> np.ndarray:
        """The model inputs of the given enterprises, as the in-MPC join builds them: each provider's
        standardized columns (its `_scaled` table), zero where the provider lacks the enterprise."""
        blocks = []
        for table, cols in (("tax_scaled", ("revenue", "tax_paid", "filings_late")),
                            ("telecom_scaled", ("monthly_spend", "tenure_months", "payment_delays"))):
            t = self.tables[table]
            index = {e: i for i, e in enumerate(t.columns["enterprise_id"])}
            values = t.numeric(list(cols))
            blocks.append(np.array([values[index[e]] if e in index else np.zeros(len(cols)) for e in ids]))
        return np.column_stack(blocks)

    def in_every_table(self, ids: list[str]) -> np.ndarray:
        """Which of the given enterprises both providers hold (the rows a keyed join keeps)."""
        tax, telecom = (set(self.tables[t].columns["enterprise_id"]) for t in ("tax", "telecom"))
        held = tax & telecom
        return np.array([e in held for e in ids])

    def features_of(self, ids: list[str]) -> np.ndarray:
        """The ground-truth FEATURES of the given enterprises (no single member holds all of them)."""
        index = {e: i for i, e in enumerate(self.truth["ids"])}
        return self.truth["features"][[index[e] for e in ids]]


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    return (x - mean) / std, mean, std


def _model(name: str, weights: dict[str, float], bias: float, public_params: dict) -> LinearModel:
    return LinearModel(name, list(FEATURES), [round(weights[f], 9) for f in FEATURES], round(bias, 9),
                       public_params)


def generate(seed: int = 7, sizes: Sizes | None = None) -> Scenario:
    """The whole scenario, a pure function of `seed` and `sizes`."""
    sizes = sizes or Sizes()
    rng = np.random.default_rng(seed)
    n = sizes.enterprises
    numbers = np.sort(rng.choice(np.arange(1, 1_000_000), size=n, replace=False))
    ids = [f"ENT-{k:06d}" for k in numbers]

    # Latent health drives every observable, so the features correlate as real ones do.
    health = rng.normal(size=n)
    revenue = np.round(np.exp(rng.normal(1.0 + 0.4 * health, 0.8)), 3)
    tax_rate = np.clip(rng.normal(0.06 + 0.015 * health, 0.02), 0.0, 0.2)
    tax_paid = np.round(revenue * tax_rate, 4)
    filings_late = rng.poisson(np.exp(0.3 - 0.7 * health)).astype(np.int64)
    years = rng.integers(1, 30, size=n)
    monthly_spend = np.round(np.exp(rng.normal(1.5 + 0.3 * health + 0.2 * np.log(revenue / 3), 0.5)), 2)
    tenure = np.clip(np.round(rng.normal(48 + 20 * health, 24)), 1, 240).astype(np.int64)
    lines = rng.integers(1, 40, size=n)
    delays = rng.poisson(np.exp(-0.2 - 0.8 * health)).astype(np.int64)

    s = Scenario(seed, sizes)
    s.tables["tax"] = Table({"enterprise_id": ids, "revenue": revenue, "tax_paid": tax_paid,
                             "filings_late": filings_late, "years_registered": years})
    # the telecom's customers, in the order they signed up
    customers = rng.permutation(n)[: max(1, round(sizes.telecom_share * n))]
    s.tables["telecom"] = Table({"enterprise_id": [ids[i] for i in customers],
                                 "monthly_spend": monthly_spend[customers],
                                 "tenure_months": tenure[customers],
                                 "lines": lines[customers], "payment_delays": delays[customers]})

    raw = np.column_stack([revenue, tax_paid, filings_late, monthly_spend, tenure, delays]).astype(np.float64)
    z, _, _ = _standardize(raw)
    logit = _TRUE_BIAS + z @ np.asarray([_TRUE_WEIGHTS[f] for f in FEATURES])

    # bank A lists its applicants in the order they applied, not by ID
    applicants = rng.choice(n, size=sizes.applicants, replace=False)
    defaulted = (rng.random(sizes.applicants) < 1 / (1 + np.exp(-logit[applicants]))).astype(np.int64)
    s.tables["applicants_bank_a"] = Table({"enterprise_id": [ids[i] for i in applicants],
                                           "defaulted": defaulted})

    order = rng.permutation(n)
    k, shared = sizes.loans_per_bank, sizes.shared_borrowers
    book_a = np.sort(order[:k])
    book_b = np.sort(np.concatenate([order[:shared], order[k:2 * k - shared]]))
    for name, book in (("loans_bank_a", book_a), ("loans_bank_b", book_b)):
        amounts = np.round(np.exp(rng.normal(6.0, 1.0, size=len(book))), 1)
        s.tables[name] = Table({"enterprise_id": [ids[i] for i in book], "loan_amount": amounts})

    # Half the blacklist are applicants, so the blacklist check has hits to find.
    half = min(sizes.blacklist // 2, len(applicants))
    listed = set(rng.choice(applicants, size=half, replace=False).tolist())
    others = [i for i in rng.permutation(n).tolist() if i not in listed]
    listed.update(others[: sizes.blacklist - half])
    s.tables["blacklist"] = Table({"enterprise_id": [ids[i] for i in sorted(listed)]})

    # Each provider's model columns, standardized over its own whole table (what secret regression
    # and scoring read); rows stay in the provider's own order.
    s.truth = {"ids": ids, "features": raw}
    for name, cols in (("tax", ("revenue", "tax_paid", "filings_late")),
                       ("telecom", ("monthly_spend", "tenure_months", "payment_delays"))):
        own = s.tables[name]
        zs, _, _ = _standardize(own.numeric(list(cols)))
        s.tables[f"{name}_scaled"] = Table({"enterprise_id": own.columns["enterprise_id"],
                                            **{c: np.round(zs[:, j], 6) for j, c in enumerate(cols)}})

    # The vendor's models work on those standardized features; its credit model is near the truth.
    noisy = {f: w + float(rng.normal(0, 0.1)) for f, w in _TRUE_WEIGHTS.items()}
    s.models["credit_model"] = _model("credit_model", noisy, _TRUE_BIAS,
                                      {"link": "logistic", "scale": 550.0, "offset": 300.0})
    s.models["aml_model"] = _model("aml_model", _AML_WEIGHTS, _AML_BIAS, {"link": "logistic", "scale": 100.0})
    return s


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return repr(round(float(value), 6))
    return str(value)


def write_table(table: Table, path: Path) -> Path:
    """One table as CSV (header row, then one row per enterprise)."""
    names = list(table.columns)
    with Path(path).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for r in range(table.rows):
            writer.writerow([_fmt(table.columns[c][r]) for c in names])
    return Path(path)


def read_table(path: Path) -> Table:
    """A CSV written by write_table (or any CSV with an enterprise_id column and numeric others)."""
    with Path(path).open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or "enterprise_id" not in rows[0]:
        raise ValueError(f"{path}: expected a header row with an enterprise_id column")
    header, body = rows[0], rows[1:]
    cols: dict[str, object] = {}
    for j, name in enumerate(header):
        values = [row[j] for row in body]
        cols[name] = values if name == "enterprise_id" else np.asarray([float(v) for v in values])
    return Table(cols)


def write(scenario: Scenario, out_dir: Path) -> dict[str, Path]:
    """Write every table (CSV) and model (JSON) into `out_dir`; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: write_table(t, out / f"{name}.csv") for name, t in scenario.tables.items()}
    for name, model in scenario.models.items():
        p = out / f"{name}.json"
        p.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
        paths[name] = p
    return paths
