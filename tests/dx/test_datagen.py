"""The synthetic scenario: deterministic per seed, the promised shapes, labels that carry signal."""

from __future__ import annotations

import numpy as np
import pytest

from dx import datagen


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(scores)) + 1
    pos = labels.sum()
    neg = len(labels) - pos
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def test_same_seed_writes_the_same_bytes(tmp_path):
    a = datagen.write(datagen.generate(11, datagen.SMALL), tmp_path / "a")
    b = datagen.write(datagen.generate(11, datagen.SMALL), tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name


def test_another_seed_gives_other_data():
    a = datagen.generate(1, datagen.SMALL).tables["tax"].columns["revenue"]
    b = datagen.generate(2, datagen.SMALL).tables["tax"].columns["revenue"]
    assert not np.array_equal(a, b)


def test_shapes_and_keys():
    sizes = datagen.Sizes(enterprises=150, applicants=60, loans_per_bank=40, shared_borrowers=9, blacklist=12)
    s = datagen.generate(3, sizes)
    tax, tel = s.tables["tax"], s.tables["telecom"]
    ids = tax.columns["enterprise_id"]
    assert tax.rows == tel.rows == 150
    assert ids == sorted(ids) and len(set(ids)) == 150
    assert all(len(e) == 10 and e.startswith("ENT-") and e[4:].isdigit() for e in ids)
    assert tel.columns["enterprise_id"] == ids  # vertically split: rows align
    assert s.tables["applicants_bank_a"].rows == 60
    assert set(np.unique(s.tables["applicants_bank_a"].columns["defaulted"])) <= {0, 1}
    a = set(s.tables["loans_bank_a"].columns["enterprise_id"])
    b = set(s.tables["loans_bank_b"].columns["enterprise_id"])
    assert len(a) == len(b) == 40
    assert len(a & b) == 9  # the multi-lender check has exactly these borrowers to find
    blacklist = set(s.tables["blacklist"].columns["enterprise_id"])
    assert len(blacklist) == 12 and blacklist <= set(ids)
    assert blacklist & set(s.tables["applicants_bank_a"].columns["enterprise_id"])
    for name in ("tax_applicants", "telecom_applicants"):  # the applicant panel: same rows, same order
        panel = s.tables[name]
        assert panel.columns["enterprise_id"] == s.tables["applicants_bank_a"].columns["enterprise_id"]
        assert panel.rows == 60 and all(abs(float(np.mean(v))) < 1.5 for k, v in panel.columns.items()
                                        if k != "enterprise_id")
    panel = np.column_stack([s.tables["tax_applicants"].numeric(["revenue", "tax_paid", "filings_late"]),
                             s.tables["telecom_applicants"].numeric(["monthly_spend", "tenure_months",
                                                                     "payment_delays"])])
    np.testing.assert_allclose(panel, s.zfeatures_of(s.tables["applicants_bank_a"].columns["enterprise_id"]),
                               atol=1e-5)
    for model in s.models.values():
        assert model.features == datagen.FEATURES and len(model.weights) == len(datagen.FEATURES)


def test_labels_depend_on_tax_and_telecom_features():
    s = datagen.generate(7, datagen.Sizes(enterprises=2000, applicants=1500, loans_per_bank=100,
                                          shared_borrowers=10, blacklist=10))
    app = s.tables["applicants_bank_a"]
    y = np.asarray(app.columns["defaulted"], dtype=np.int64)
    x = s.features_of(app.columns["enterprise_id"])
    assert 0.15 < y.mean() < 0.85
    # A plain logistic regression on the features learns the labels well above chance ...
    z = (x - x.mean(0)) / x.std(0)
    w = np.zeros(z.shape[1])
    b = 0.0
    for _ in range(500):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= 0.5 * z.T @ (p - y) / len(y)
        b -= 0.5 * float(np.mean(p - y))
    assert _auc(z @ w, y) > 0.8
    # ... and the vendor's secret credit model scores them too; a shuffled label set does not.
    zx = s.zfeatures_of(app.columns["enterprise_id"])
    assert _auc(s.models["credit_model"].score(zx), y) > 0.8
    shuffled = np.random.default_rng(0).permutation(y)
    assert abs(_auc(s.models["credit_model"].score(zx), shuffled) - 0.5) < 0.1


def test_csv_round_trip(tmp_path):
    s = datagen.generate(5, datagen.SMALL)
    paths = datagen.write(s, tmp_path)
    back = datagen.read_table(paths["telecom"])
    assert back.columns["enterprise_id"] == s.tables["telecom"].columns["enterprise_id"]
    np.testing.assert_allclose(back.numeric(["monthly_spend", "tenure_months"]),
                               s.tables["telecom"].numeric(["monthly_spend", "tenure_months"]))


def test_impossible_sizes_are_refused():
    with pytest.raises(ValueError, match="loan books"):
        datagen.Sizes(enterprises=50, applicants=10, loans_per_bank=40, shared_borrowers=5, blacklist=5)
    with pytest.raises(ValueError, match="applicants"):
        datagen.Sizes(enterprises=50, applicants=0)
