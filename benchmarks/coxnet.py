"""Benchmark of the elastic-net Cox path: msk1model's path solver against scikit-survival.

On the synthetic cohort's seven design columns (standardised), at each ``--sizes`` n, in one
process: the median of ``--repeats`` wall times of a 50-alpha path (``l1_ratio`` 0.5, every
column penalised; both end it early where the deviance ratio stops changing, at the same alpha)
by

- msk1model's :func:`~msk1model.models.coxnet_path.coxnet_path` at scikit-survival's tolerance
  (1e-7) and at the tolerance the ``coxnet`` model uses (1e-9);
- scikit-survival's ``CoxnetSurvivalAnalysis`` at its default tolerance (1e-7) and at 1e-9
  (one run each),

with the ratios at each tolerance (at 1e-7 scikit-survival's coefficients are about 3e-4 from the
optimum, outside the 1e-4 target; at 1e-9 both are within it: the ratio at equal accuracy), the
path lengths and the largest coefficient difference from scikit-survival at a tolerance tight
enough to reach the optimum (1e-14, within about 1e-7; target 1e-4). The peer is skipped above
``--peer-limit`` patients. Figures print as a table and go to ``--out`` (JSON) with the machine;
it asserts nothing. Target (issue 13): the path at n = 10^5 at least 10x faster than
``CoxnetSurvivalAnalysis``, same coefficients to 1e-4. Run
``.venv/bin/python benchmarks/coxnet.py [--sizes 1000,10000,100000] [--repeats 3]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _timing import median_time, ratio, run
from sksurv.linear_model import CoxnetSurvivalAnalysis

from msk1model.data.synthetic import design_matrix, make_synthetic_cohort
from msk1model.models.coxnet_path import coxnet_path
from msk1model.outcome import make_y

_ALPHAS, _L1 = 50, 0.5


def measure(n: int, repeats: int, peer_limit: int, seed: int = 1) -> dict[str, Any]:
    """Timings (seconds), path lengths and coefficient differences at ``n``."""
    table = make_synthetic_cohort(n, seed=seed)
    X = design_matrix(table).to_numpy(dtype=float)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    time, event = table["time"].to_numpy(float), table["event"].to_numpy(bool)
    row: dict[str, Any] = {"n": n, "events": int(event.sum()), "covariates": X.shape[1]}
    coxnet_path(X[:100], time[:100], event[:100])  # compile outside the timing
    paths = {}
    for name, tol in (("msk1model", 1e-7), ("msk1model_tol9", 1e-9)):
        call = lambda tol=tol: coxnet_path(  # noqa: E731
            X, time, event, l1_ratio=_L1, n_alphas=_ALPHAS, tol=tol
        )
        row[f"{name}_s"], paths[name] = median_time(call, repeats)
        row[f"{name}_alphas"] = len(paths[name].alphas)
        row[f"{name}_passes"] = paths[name].passes
    if n <= peer_limit:
        y = make_y(time=time, event=event)
        fit = lambda tol: CoxnetSurvivalAnalysis(  # noqa: E731
            n_alphas=_ALPHAS, l1_ratio=_L1, tol=tol
        ).fit(X, y)
        row["sksurv_s"], peer = median_time(lambda: fit(1e-7), 1)
        row["sksurv_tol9_s"], peer9 = median_time(lambda: fit(1e-9), 1)
        row["sksurv_alphas"] = len(peer.alphas_)
        exact = fit(1e-14)
        for name, path in (("sksurv", peer), ("sksurv_tol9", peer9), *paths.items()):
            coef = path.coef_ if name.startswith("sksurv") else path.coef
            k = min(coef.shape[1], exact.coef_.shape[1])
            row[f"max_coef_diff_{name}"] = float(np.abs(coef[:, :k] - exact.coef_[:, :k]).max())
    return row


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'n':>8} {'alphas':>7} {'passes':>7} {'ours 1e-7':>10} {'sksurv 1e-7':>12} "
        f"{'ratio':>6} {'ours 1e-9':>10} {'sksurv 1e-9':>12} {'ratio':>6} "
        f"{'from optimum: ours 1e-7, sksurv 1e-7, ours 1e-9, sksurv 1e-9':>62}"
    )
    for r in rows:
        got = {k: (f"{r[k]:.2g}" if k in r else "-") for k in ("sksurv_s", "sksurv_tol9_s")}
        diffs = ", ".join(
            f"{r[f'max_coef_diff_{name}']:.1e}" if f"max_coef_diff_{name}" in r else "-"
            for name in ("msk1model", "sksurv", "msk1model_tol9", "sksurv_tol9")
        )
        print(
            f"{r['n']:>8} {r['msk1model_alphas']:>7} {r['msk1model_passes']:>7} "
            f"{r['msk1model_s']:>10.4f} {got['sksurv_s']:>12} "
            f"{ratio(r, 'sksurv_s', 'msk1model_s'):>6} {r['msk1model_tol9_s']:>10.4f} "
            f"{got['sksurv_tol9_s']:>12} {ratio(r, 'sksurv_tol9_s', 'msk1model_tol9_s'):>6} "
            f"{diffs:>62}"
        )
    largest = rows[-1]
    print(
        f"target at n = {largest['n']}: path of {_ALPHAS} alphas "
        f"({largest['msk1model_alphas']} before the early end) {largest['msk1model_s']:.3f} s; "
        f"scikit-survival/ours {ratio(largest, 'sksurv_s', 'msk1model_s')} at tolerance 1e-7, "
        f"{ratio(largest, 'sksurv_tol9_s', 'msk1model_tol9_s')} at 1e-9 (target at least 10x); "
        f"coefficients within {largest.get('max_coef_diff_msk1model', float('nan')):.1e} of the "
        f"optimum at 1e-7 (scikit-survival "
        f"{largest.get('max_coef_diff_sksurv', float('nan')):.1e}; target 1e-4)"
    )


def main(argv: list[str] | None = None) -> int:
    return run(
        __doc__ or "",
        measure,
        _print,
        peer_limit=100_000,
        out="benchmarks/results/coxnet.json",
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
