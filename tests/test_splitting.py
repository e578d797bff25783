from __future__ import annotations

import numpy as np

from msk1model.outcome import make_y
from msk1model.splitting import make_split


def test_split_is_stratified_disjoint_and_seeded() -> None:
    event = np.array([True] * 120 + [False] * 280)
    y = make_y(time=np.arange(1.0, 401.0), event=event)
    split = make_split(y, test_size=0.25, cv_folds=4, seed=9)
    assert len(split.test) == 100 and len(split.train) == 300
    assert not set(split.train) & set(split.test)
    assert event[split.test].sum() == 30  # exactly the cohort's 30% event rate
    for fit, val in split.folds:
        assert not set(fit) & set(val)
        assert (
            event[split.train[val]].sum() == 90 // 4 or event[split.train[val]].sum() == 90 // 4 + 1
        )
    assert sorted(np.concatenate([v for _, v in split.folds]).tolist()) == list(range(300))
    again = make_split(y, test_size=0.25, cv_folds=4, seed=9)
    np.testing.assert_array_equal(split.test, again.test)
    assert not np.array_equal(split.test, make_split(y, test_size=0.25, cv_folds=4, seed=10).test)
