"""Cut-point analyses of a continuous biomarker: groups, optimal cut and its interval.

Pure functions of a structured outcome ``y`` (fields event, time in years) and biomarker values.
The optimal cutpoint is the maximally selected standardized log-rank statistic (Lausen &
Schumacher, Biometrics 1992), with its p-value corrected by their approximation (R
``maxstat::pLausen92``) or by permutation; the uncorrected minimum p-value is reported for
contrast only: it is far too small.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np
import numpy.typing as npt
from scipy import stats

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_y
from msk1model.evaluation.km import _at_risk, _hypergeometric_weight

__all__ = [
    "CutpointInterval",
    "OptimalCutpoint",
    "bootstrap_cutpoint_ci",
    "cutpoint_groups",
    "cutpoint_values",
    "lausen_schumacher_p",
    "optimal_cutpoint",
]

#: Permuted statistics this close (relative) to the observed one count as ties, i.e. as >=.
_TIE_TOL = 1e-10


class OptimalCutpoint(NamedTuple):
    """The maximally selected standardized log-rank statistic and its p-values."""

    cutpoint: float
    """Biomarker value of the best cut; low group = values <= cutpoint."""
    statistic: float
    """``max |z|`` over the candidate cuts."""
    z: float
    """Signed ``z = (O - E) / sqrt(V)`` of the low group at the cut (> 0: low group fares worse)."""
    p_uncorrected: float
    """Two-sided normal p of ``z`` at the cut, ignoring the search: anti-conservative."""
    p_lausen_schumacher: float
    """Lausen & Schumacher (1992) approximation for the maximum, capped at 1."""
    p_permutation: float
    """``(1 + #{T_b >= T}) / (1 + B)`` over ``B`` permutations; NaN when ``B = 0``."""
    n_low: int
    """Patients with values <= cutpoint."""
    cuts: np.ndarray
    """shape (n_cuts,): the candidate cutpoints, increasing."""
    statistics: np.ndarray
    """shape (n_cuts,): signed ``z`` of the low group at each candidate cut."""


class CutpointInterval(NamedTuple):
    """Percentile bootstrap interval of the optimal cutpoint."""

    lower: float
    upper: float
    cutpoints: np.ndarray
    """shape (n_boot,): the optimal cutpoint of each resample (NaN where none could be cut)."""


def cutpoint_values(values: npt.ArrayLike, rule: str | float) -> np.ndarray:
    """The cut(s) a rule puts on the biomarker ``values``, increasing.

    ``"median"``: the median; ``"tertiles"``: the 1/3 and 2/3 quantiles (``numpy.quantile``,
    linear); a number: itself.
    """
    x = _check_values(values, "values")
    if isinstance(rule, str) and rule in ("median", "tertiles"):
        return np.quantile(x, [0.5] if rule == "median" else [1 / 3, 2 / 3])
    if isinstance(rule, numbers.Real) and not isinstance(rule, bool) and math.isfinite(rule):
        return np.array([float(rule)])
    raise EvaluationError(
        f"rule must be 'median', 'tertiles' or a finite number (the cut), but got {rule!r}. "
        "Fix: pass one of those"
    )


def cutpoint_groups(values: npt.ArrayLike, rule: str | float) -> np.ndarray:
    """Label each patient by a cut of the biomarker; a value on a cut goes to the lower group.

    Parameters
    ----------
    values : array-like, shape (n,)
        Biomarker values, finite.
    rule : {"median", "tertiles"} or float
        As in :func:`cutpoint_values`: low (<= median) / high, low / mid / high at the
        tertiles, or low (<= the number) / high.

    Returns
    -------
    ndarray of str, shape (n,)
    """
    x = _check_values(values, "values")
    cuts = cutpoint_values(x, rule)
    labels = np.array(["low", "high"] if len(cuts) == 1 else ["low", "mid", "high"])
    groups = labels[np.searchsorted(cuts, x, side="left")]
    counts = {str(label): int((groups == label).sum()) for label in labels}
    if min(counts.values()) == 0:
        raise EvaluationError(
            f"every group of a cut must hold patients, but rule {rule!r} (cuts "
            f"{np.round(cuts, 6).tolist()}) gives {counts}. Fix: choose a cut inside the values"
        )
    return groups


def optimal_cutpoint(
    y: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    min_prop: float = 0.1,
    n_permutations: int = 1000,
    seed: int = 0,
) -> OptimalCutpoint:
    """The cut of the biomarker that maximises the standardized log-rank statistic.

    Candidate cuts are the distinct values whose low group (values <= cut) holds between
    ``min_prop`` and ``1 - min_prop`` of the patients. At each, ``z = (O - E) / sqrt(V)`` of the
    low group, with the hypergeometric ``V`` of the two-group log-rank test (so ``z**2`` is
    lifelines' log-rank chi-square); where ``V = 0`` the cut gets ``z = 0``. All cuts come from one
    pass over the patients sorted by value (sorting once): ``O - E`` is a running sum of log-rank
    scores ``event_i - NelsonAalen(time_i)`` and ``V`` a running sum over patient pairs, in
    ``O(n sqrt(n_event_times))`` per ordering; 1000 permutations of 2000 patients take ~2 s.

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years).
    values : array-like, shape (n,)
        Biomarker values, finite.
    min_prop : float
        Smallest share of patients in either group, in (0, 0.5).
    n_permutations : int
        Permutations of ``values`` among the patients for ``p_permutation``; 0 skips it
        (NaN).
    seed : int
        Seed of the ``numpy`` Generator that draws the permutations.

    Returns
    -------
    OptimalCutpoint
    """
    t, e = check_y(y)
    x = _check_values(values, "values", len(t))
    if not 0 < min_prop < 0.5:
        raise EvaluationError(f"min_prop must lie in (0, 0.5), but got {min_prop!r}")
    if n_permutations < 0:
        raise EvaluationError(f"n_permutations must be >= 0, but got {n_permutations!r}")
    scan = _Scan(t, e, x, min_prop)
    z = scan.z(np.argsort(x, kind="stable"))
    best = int(np.argmax(np.abs(z)))
    statistic = float(abs(z[best]))
    rng = np.random.default_rng(seed)
    # Permuting the values among the patients puts the patients in a uniformly random order
    # along the sorted values; z at a cut depends only on who is below it, so a random order of
    # the patients is the permutation itself, with no sort.
    permuted = np.array(
        [np.abs(scan.z(rng.permutation(len(x)))).max() for _ in range(n_permutations)]
    )
    exceed = int((permuted >= statistic * (1.0 - _TIE_TOL)).sum())
    return OptimalCutpoint(
        cutpoint=float(scan.cuts[best]),
        statistic=statistic,
        z=float(z[best]),
        p_uncorrected=float(2.0 * stats.norm.sf(statistic)),
        p_lausen_schumacher=lausen_schumacher_p(statistic, min_prop),
        p_permutation=(1 + exceed) / (1 + n_permutations) if n_permutations else math.nan,
        n_low=int(scan.n_low[best]),
        cuts=scan.cuts,
        statistics=z,
    )


def lausen_schumacher_p(statistic: float, min_prop: float = 0.1) -> float:
    """Lausen & Schumacher (1992) p-value of a maximally selected standardized statistic.

    ``p = 4 phi(c) / c + phi(c) (c - 1/c) log(e2 (1 - e1) / (e1 (1 - e2)))`` with ``c`` the
    statistic, ``e1 = min_prop``, ``e2 = 1 - min_prop`` and ``phi`` the standard normal density,
    as R ``maxstat::pLausen92``, capped at 1. It approximates the upper tail only: below the
    statistic where it peaks (1.080 at ``min_prop = 0.1``, p 0.975) it falls back to 0 and
    below, so there this returns 1 (R returns the raw formula).
    """
    c = float(statistic)
    e1, e2 = min_prop, 1.0 - min_prop
    log_ratio = math.log(e2 * (1.0 - e1) / (e1 * (1.0 - e2)))
    if c <= _lausen_schumacher_peak(log_ratio):
        return 1.0
    phi = float(stats.norm.pdf(c))
    return min(4.0 * phi / c + phi * (c - 1.0 / c) * log_ratio, 1.0)


def _lausen_schumacher_peak(log_ratio: float) -> float:
    """Statistic where the approximation peaks: its derivative is 0 where ``u = c**2`` solves
    ``L u**2 - (2L - 4) u - (L - 4) = 0`` (``L = log_ratio``); 0 when it has no positive root."""
    a, b, c = log_ratio, -(2.0 * log_ratio - 4.0), -(log_ratio - 4.0)
    discriminant = b * b - 4.0 * a * c
    if discriminant < 0:
        return 0.0
    u = (-b + math.sqrt(discriminant)) / (2.0 * a)
    return math.sqrt(u) if u > 0 else 0.0


def bootstrap_cutpoint_ci(
    y: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    n_boot: int = 200,
    seed: int = 0,
    min_prop: float = 0.1,
    level: float = 0.95,
    n_jobs: int = 1,
) -> CutpointInterval:
    """Percentile bootstrap interval of the optimal cutpoint.

    Replicate ``b`` resamples patients with replacement from its own stream,
    ``numpy.random.SeedSequence(seed).spawn(n_boot)[b]``, so the result does not depend on
    ``n_jobs``. Resamples without events or without a candidate cut give NaN and are left out of
    the percentiles.

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years).
    values : array-like, shape (n,)
        Biomarker values, finite.
    n_boot : int
        Bootstrap resamples, >= 1.
    seed : int
        Root seed of the resampling streams.
    min_prop : float
        As in :func:`optimal_cutpoint`.
    level : float
        Coverage of the interval, in (0, 1).
    n_jobs : int
        Worker processes (``joblib``, -1 for all cores); 1 runs in this process.

    Returns
    -------
    CutpointInterval
        Lower and upper percentile and the cutpoint of every resample, shape (n_boot,).
    """
    t, e = check_y(y)
    x = _check_values(values, "values", len(t))
    if n_boot < 1 or not 0 < level < 1 or not 0 < min_prop < 0.5:
        raise EvaluationError(
            "bootstrap_cutpoint_ci needs n_boot >= 1, 0 < level < 1 and 0 < min_prop < 0.5, but "
            f"got n_boot={n_boot!r}, level={level!r}, min_prop={min_prop!r}"
        )
    streams = np.random.SeedSequence(seed).spawn(n_boot)
    if n_jobs == 1:
        cuts = _bootstrap_cuts(t, e, x, streams, min_prop)
    else:
        from joblib import Parallel, delayed, effective_n_jobs

        workers = max(1, min(effective_n_jobs(n_jobs), n_boot))
        chunks = [streams[i::workers] for i in range(workers)]  # replicates i, i + workers, ...
        parts = Parallel(n_jobs=workers)(
            delayed(_bootstrap_cuts)(t, e, x, chunk, min_prop) for chunk in chunks
        )
        cuts = np.full(n_boot, np.nan)
        for i, part in enumerate(parts):
            cuts[i::workers] = part
    finite = cuts[np.isfinite(cuts)]
    if len(finite) == 0:
        raise EvaluationError("no bootstrap resample gave a cutpoint. Fix: check the data")
    lower, upper = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return CutpointInterval(float(lower), float(upper), cuts)


# --- internals --------------------------------------------------------------------------------


class _Scan:
    """The standardized log-rank statistic at every candidate cut, for any order of patients.

    With patients in value order and ``L_j`` the low group at risk at event time ``j``:
    ``O - E = sum_low (event_i - H(t_i))`` (``H`` Nelson-Aalen) and
    ``V = sum_j w_j L_j / n_j - sum_j w_j L_j**2 / n_j**2`` (``w_j = d_j (n_j - d_j) / (n_j - 1)``).
    The first two are running sums over patients. The square term is a running sum of each
    patient's pairs with the patients before her, ``A(min(k_i, k_p))`` where ``k`` counts the
    event times a patient is at risk at and ``A(k) = sum_{j < k} w_j / n_j**2``: that is
    ``A(k_i)`` times the earlier patients with ``k_p >= k_i`` plus the sum of ``A(k_p)`` over
    those with ``k_p < k_i``, two Fenwick-tree look-ups (compiled by numba): ``O(n log
    n_event_times)`` time and ``O(n)`` memory per order, not ``O(n_cuts * n_event_times)``.
    """

    def __init__(self, t: np.ndarray, e: np.ndarray, x: np.ndarray, min_prop: float) -> None:
        n = len(t)
        xs = np.sort(x)
        low_sizes = np.flatnonzero(np.diff(xs) > 0) + 1  # patients <= each distinct value < max
        keep = (low_sizes >= min_prop * n) & (low_sizes <= (1.0 - min_prop) * n)
        self.n_low = low_sizes[keep]
        if len(self.n_low) == 0:
            raise EvaluationError(
                f"no candidate cut leaves at least {min_prop:g} of the {n} patients on each side: "
                f"the values take {len(np.unique(x))} distinct value(s). Fix: lower min_prop"
            )
        self.cuts = xs[self.n_low - 1]
        event_times = np.unique(t[e])
        at_risk = _at_risk(t, event_times).astype(float)
        deaths = np.bincount(np.searchsorted(event_times, t[e]), minlength=len(event_times))
        weight = _hypergeometric_weight(at_risk, deaths)
        self.a = weight / at_risk**2
        self.cum_a = np.r_[0.0, np.cumsum(self.a)]  # A(k), k = 0 .. n_event_times
        self.cum_w = np.r_[0.0, np.cumsum(weight / at_risk)]
        self.tiny = 1e-12 * float(weight.sum())  # V below this is rounding of an exact 0
        self.k = np.searchsorted(event_times, t, side="right")  # at risk at event times < k_i
        self.score = e - np.r_[0.0, np.cumsum(deaths / at_risk)][self.k]  # O - E of patient i

    def z(self, order: np.ndarray) -> np.ndarray:
        """Signed z of the low group at each cut, patients in value order ``order``; (n_cuts,)."""
        k = self.k[order]
        square = _pair_terms(k, self.cum_a)
        at = self.n_low - 1
        variance = np.cumsum(self.cum_w[k])[at] - np.cumsum(square)[at]
        observed_minus_expected = np.cumsum(self.score[order])[at]
        ok = variance > self.tiny
        return np.where(ok, observed_minus_expected / np.sqrt(np.where(ok, variance, 1.0)), 0.0)


def _bootstrap_cuts(
    t: np.ndarray,
    e: np.ndarray,
    x: np.ndarray,
    streams: Sequence[np.random.SeedSequence],
    min_prop: float,
) -> np.ndarray:
    """Optimal cutpoint of one resample per stream; NaN where none exists; (len(streams),)."""
    cuts = np.full(len(streams), np.nan)
    for b, stream in enumerate(streams):
        idx = np.random.default_rng(stream).integers(0, len(t), size=len(t))
        if not e[idx].any():
            continue
        try:
            scan = _Scan(t[idx], e[idx], x[idx], min_prop)
        except EvaluationError:
            continue
        z = scan.z(np.argsort(x[idx], kind="stable"))
        cuts[b] = scan.cuts[int(np.argmax(np.abs(z)))]
    return cuts


def _check_values(values: npt.ArrayLike, name: str, n: int | None = None) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or (n is not None and len(x) != n) or not np.isfinite(x).all():
        raise EvaluationError(
            f"{name} must be 1-D, finite{'' if n is None else f' and of length {n}'}, but got "
            f"shape {x.shape} with {int((~np.isfinite(x)).sum())} missing or infinite. Fix: drop "
            "those patients first"
        )
    return x


@numba.njit(cache=True, nogil=True)
def _pair_terms(k: np.ndarray, cum_a: np.ndarray) -> np.ndarray:
    """Per patient in order: ``A(k_i) + 2 sum_{p before i} A(min(k_i, k_p))`` (see _Scan)."""
    size = len(cum_a) + 1
    count = np.zeros(size, dtype=np.int64)  # Fenwick trees over k = 0 .. len(cum_a) - 1
    total = np.zeros(size)
    out = np.empty(len(k))
    for i in range(len(k)):
        ki = k[i]
        below = 0
        below_sum = 0.0
        j = ki  # prefix over k_p < k_i (tree index k_p + 1 <= k_i)
        while j > 0:
            below += count[j]
            below_sum += total[j]
            j -= j & -j
        out[i] = cum_a[ki] + 2.0 * (cum_a[ki] * (i - below) + below_sum)
        j = ki + 1
        while j < size:
            count[j] += 1
            total[j] += cum_a[ki]
            j += j & -j
    return out
