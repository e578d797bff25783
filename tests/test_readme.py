"""The README's code examples run as written."""

from __future__ import annotations

import re

import numpy as np

from .conftest import ROOT


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_scikit_learn_example_runs() -> None:
    (block,) = [b for b in _python_blocks() if "GridSearchCV" in b]
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    search = namespace["search"]
    assert search.best_params_["alpha"] in (0.001, 0.01, 0.1)  # type: ignore[attr-defined]
    assert 0.55 < search.best_score_ < 0.8  # type: ignore[attr-defined]
    X = namespace["X"]
    curves = search.best_estimator_.predict_survival_function(X.head(3), [3.0, 5.0])  # type: ignore[attr-defined]
    assert curves.shape == (3, 2) and np.all(curves[:, 1] <= curves[:, 0]) and np.all(curves > 0)
