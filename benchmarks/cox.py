"""Benchmark of the Cox fit: msk1model's Newton solver against scikit-survival and lifelines.

On the synthetic cohort's seven design columns (age, size, grade, nodes, PR, ER, MSK1 in ER+),
at each ``--sizes`` n, in one process: the median of ``--repeats`` wall times of

- msk1model's :func:`~msk1model.models.cox_newton.fit_cox_newton`, Breslow and Efron ties (one
  sort, one compiled pass per Newton step);
- scikit-survival's ``CoxPHSurvivalAnalysis`` (its default, Breslow ties; one run);
- lifelines' ``CoxPHFitter`` (Efron ties; one run),

with msk1model's peak memory, the peer/msk1model ratios and the largest coefficient difference
from each peer (Breslow against scikit-survival, Efron against lifelines; target 1e-6). The peers
are skipped above ``--peer-limit`` patients. Figures print as a table and go to ``--out`` (JSON)
with the machine; it asserts nothing. Targets (issue 13): the fit at n = 10^6 under 3 s and at
least 25x faster than scikit-survival, same coefficients to 1e-6. Run
``.venv/bin/python benchmarks/cox.py [--sizes 1000,10000,100000,1000000] [--repeats 3]``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from _timing import median_time, peak_mib, ratio, run
from lifelines import CoxPHFitter
from sksurv.linear_model import CoxPHSurvivalAnalysis

from msk1model.data.synthetic import design_matrix, make_synthetic_cohort
from msk1model.models.cox_newton import fit_cox_newton
from msk1model.outcome import make_y


def measure(n: int, repeats: int, peer_limit: int, seed: int = 1) -> dict[str, Any]:
    """Timings (seconds), peak memory (MiB) and coefficient differences at ``n``."""
    table = make_synthetic_cohort(n, seed=seed)
    X = design_matrix(table).to_numpy(dtype=float)
    time, event = table["time"].to_numpy(float), table["event"].to_numpy(bool)
    row: dict[str, Any] = {"n": n, "events": int(event.sum()), "covariates": X.shape[1]}
    fits = {}
    for ties in ("breslow", "efron"):
        call = lambda ties=ties: fit_cox_newton(X, time, event, ties=ties)  # noqa: E731
        row[f"msk1model_{ties}_s"], fits[ties] = median_time(call, repeats)
        row[f"msk1model_{ties}_peak_mib"] = peak_mib(call)
    if n <= peer_limit:
        y = make_y(time=time, event=event)
        row["sksurv_breslow_s"], sk = median_time(lambda: CoxPHSurvivalAnalysis().fit(X, y), 1)
        row["max_coef_diff_sksurv"] = float(np.abs(sk.coef_ - fits["breslow"].coef).max())
        frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
        frame = frame.assign(T=time, E=event.astype(int))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifelines' advice on the near-constant columns
            row["lifelines_efron_s"], cph = median_time(
                lambda: CoxPHFitter().fit(frame, "T", "E"), 1
            )
        theirs = cph.params_.to_numpy()
        row["max_coef_diff_lifelines"] = float(np.abs(theirs - fits["efron"].coef).max())
    return row


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'n':>9} {'ours Breslow':>13} {'ours Efron':>11} {'peak MiB':>9} {'sksurv':>8} "
        f"{'lifelines':>10} {'sksurv/ours':>12} {'lifelines/ours':>15} {'diff sksurv':>12} "
        f"{'diff lifelines':>15}"
    )
    for r in rows:
        peer = {
            k: (f"{r[k]:.3g}" if k in r else "-")
            for k in (
                "sksurv_breslow_s",
                "lifelines_efron_s",
                "max_coef_diff_sksurv",
                "max_coef_diff_lifelines",
            )
        }
        print(
            f"{r['n']:>9} {r['msk1model_breslow_s']:>13.4f} {r['msk1model_efron_s']:>11.4f} "
            f"{r['msk1model_efron_peak_mib']:>9.0f} {peer['sksurv_breslow_s']:>8} "
            f"{peer['lifelines_efron_s']:>10} "
            f"{ratio(r, 'sksurv_breslow_s', 'msk1model_breslow_s'):>12} "
            f"{ratio(r, 'lifelines_efron_s', 'msk1model_efron_s'):>15} "
            f"{peer['max_coef_diff_sksurv']:>12} {peer['max_coef_diff_lifelines']:>15}"
        )
    largest = rows[-1]
    print(
        f"targets at n = {largest['n']}: Cox fit {largest['msk1model_breslow_s']:.2f} s Breslow, "
        f"{largest['msk1model_efron_s']:.2f} s Efron (target under 3 s); scikit-survival/ours "
        f"{ratio(largest, 'sksurv_breslow_s', 'msk1model_breslow_s')} (target at least 25x); "
        f"coefficients within {largest.get('max_coef_diff_sksurv', float('nan')):.1e} "
        "(target 1e-6)"
    )


def main(argv: list[str] | None = None) -> int:
    return run(
        __doc__ or "",
        measure,
        _print,
        peer_limit=1_000_000,
        out="benchmarks/results/cox.json",
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
