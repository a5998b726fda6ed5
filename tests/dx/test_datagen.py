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
    assert tax.rows == 150 and tel.rows == 135  # the telecom serves 90% of the enterprises
    assert ids == sorted(ids) and len(set(ids)) == 150
    assert all(len(e) == 10 and e.startswith("ENT-") and e[4:].isdigit() for e in ids)
    # every member keeps its own order and ID set: nothing is pre-aligned for the vertical jobs
    tel_ids = tel.columns["enterprise_id"]
    assert set(tel_ids) < set(ids) and tel_ids != sorted(tel_ids)
    app_ids = s.tables["applicants_bank_a"].columns["enterprise_id"]
    assert s.tables["applicants_bank_a"].rows == 60 and app_ids != sorted(app_ids)
    assert set(np.unique(s.tables["applicants_bank_a"].columns["defaulted"])) <= {0, 1}
    a = set(s.tables["loans_bank_a"].columns["enterprise_id"])
    b = set(s.tables["loans_bank_b"].columns["enterprise_id"])
    assert len(a) == len(b) == 40
    assert len(a & b) == 9  # the multi-lender check has exactly these borrowers to find
    blacklist = set(s.tables["blacklist"].columns["enterprise_id"])
    assert len(blacklist) == 12 and blacklist <= set(ids)
    assert blacklist & set(app_ids)
    assert "tax_applicants" not in s.tables and "telecom_applicants" not in s.tables  # no applicant panels
    for name, source in (("tax_scaled", tax), ("telecom_scaled", tel)):  # whole tables, standardized
        scaled = s.tables[name]
        assert scaled.columns["enterprise_id"] == source.columns["enterprise_id"]
        for col, values in scaled.columns.items():
            if col != "enterprise_id":
                raw = np.asarray(source.columns[col], dtype=float)
                np.testing.assert_allclose(values, (raw - raw.mean()) / raw.std(), atol=1e-5)
    # the join the MPC programs build: each provider's standardized columns, zero where it lacks one
    z = s.zfeatures_of(app_ids)
    missing = ~np.isin(app_ids, tel_ids)
    assert missing.any() and not z[missing, 3:].any()
    np.testing.assert_array_equal(s.in_every_table(app_ids), ~missing)
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
