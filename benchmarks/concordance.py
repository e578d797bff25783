"""Benchmark of Harrell's and Uno's C: msk1model against scikit-survival and lifelines.

On the synthetic cohort (its times and events) with the true linear predictor plus noise as the
risk score, at each ``--sizes`` n, in one process: the median of ``--repeats`` wall times of

- msk1model's ``harrell_c`` and ``uno_c`` (O(n log n), :mod:`msk1model.evaluation.concordance`);
- scikit-survival's ``concordance_index_censored`` and ``concordance_index_ipcw`` (O(n^2));
- lifelines' ``concordance_index`` (Harrell's C; it has no Uno's C),

with the peak memory of one msk1model call (tracemalloc, numpy's allocations included) and the
peer/msk1model ratios; the values are checked to agree with scikit-survival's to 1e-8 where it
ran. scikit-survival is skipped above ``--peer-limit`` patients (22 s at 10^5 on 2 cores; its
time grows as n^2). Figures print as a table and go to ``--out`` (JSON) with the machine they
ran on; it asserts nothing. Targets (issue 13): each C under 0.5 s at n = 10^6 and at least 30x
faster than lifelines. Run ``.venv/bin/python benchmarks/concordance.py [--sizes
1000,10000,100000,1000000] [--repeats 3] [--out benchmarks/results/concordance.json]``;
``make bench`` runs a quick version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _timing import median_time, peak_mib, ratio, run
from lifelines.utils import concordance_index
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

from msk1model.data.synthetic import TRUE_LOG_HR, design_matrix, make_synthetic_cohort
from msk1model.evaluation import harrell_c, uno_c
from msk1model.evaluation.censoring import forget_estimates
from msk1model.outcome import make_y

TAU = 5.0


def _cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = make_synthetic_cohort(n, seed=seed)
    lp = design_matrix(table).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    risk = lp + np.random.default_rng(seed).normal(0.0, 0.5, n)
    return table["time"].to_numpy(float), table["event"].to_numpy(bool), risk


def measure(n: int, repeats: int, peer_limit: int, seed: int = 1) -> dict[str, Any]:
    """Timings (seconds), peak memory (MiB) and values of every implementation at ``n``."""
    time_, event, risk = _cohort(n, seed)
    y = make_y(time=time_, event=event)
    row: dict[str, Any] = {"n": n, "events": int(event.sum())}
    ours = {
        "harrell": lambda: harrell_c(y, risk),
        # every call fits the censoring estimate afresh (uno_c remembers it for large samples,
        # which a bootstrap gains from but a single call does not)
        "uno": lambda: (forget_estimates(), uno_c(y, y, risk, tau=TAU))[1],
    }
    for name, call in ours.items():
        row[f"msk1model_{name}_s"], row[f"msk1model_{name}"] = median_time(call, repeats)
        row[f"msk1model_{name}_peak_mib"] = peak_mib(call)
    row["lifelines_harrell_s"], row["lifelines_harrell"] = median_time(
        lambda: concordance_index(time_, -risk, event), repeats
    )
    if n <= peer_limit:
        row["sksurv_harrell_s"], row["sksurv_harrell"] = median_time(
            lambda: concordance_index_censored(event, time_, risk)[0], 1
        )
        row["sksurv_uno_s"], row["sksurv_uno"] = median_time(
            lambda: concordance_index_ipcw(y, y, risk, tau=TAU)[0], 1
        )
        for name in ("harrell", "uno"):
            row[f"agrees_{name}"] = bool(
                abs(row[f"msk1model_{name}"] - row[f"sksurv_{name}"]) < 1e-8
            )
    return row


def _print(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'n':>9} {'ours Harrell':>13} {'ours Uno':>9} {'peak MiB':>9} {'lifelines':>10} "
        f"{'sksurv H':>9} {'sksurv Uno':>10} {'lifelines/ours':>15} {'sksurv/ours H':>14} "
        f"{'sksurv/ours Uno':>16} {'agree':>6}"
    )
    print(head)
    for r in rows:
        peer = {k: (f"{r[k]:.3f}" if k in r else "-") for k in ("sksurv_harrell_s", "sksurv_uno_s")}
        agree = "-" if "agrees_harrell" not in r else str(r["agrees_harrell"] and r["agrees_uno"])
        print(
            f"{r['n']:>9} {r['msk1model_harrell_s']:>13.4f} {r['msk1model_uno_s']:>9.4f} "
            f"{r['msk1model_harrell_peak_mib']:>9.0f} {r['lifelines_harrell_s']:>10.3f} "
            f"{peer['sksurv_harrell_s']:>9} {peer['sksurv_uno_s']:>10} "
            f"{ratio(r, 'lifelines_harrell_s', 'msk1model_harrell_s'):>15} "
            f"{ratio(r, 'sksurv_harrell_s', 'msk1model_harrell_s'):>14} "
            f"{ratio(r, 'sksurv_uno_s', 'msk1model_uno_s'):>16} {agree:>6}"
        )
    largest = rows[-1]
    print(
        f"targets at n = {largest['n']}: Harrell's C {largest['msk1model_harrell_s']:.3f} s, "
        f"Uno's C {largest['msk1model_uno_s']:.3f} s (target under 0.5 s each); "
        f"lifelines/ours {ratio(largest, 'lifelines_harrell_s', 'msk1model_harrell_s')} "
        "(target at least 30x)"
    )


def main(argv: list[str] | None = None) -> int:
    return run(
        __doc__ or "",
        measure,
        _print,
        peer_limit=100_000,
        out="benchmarks/results/concordance.json",
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
