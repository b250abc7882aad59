"""Estimates with honest confidence intervals, and Holm's step-down adjustment.

Every statistical check produces R independent *replications*: each replication draws its own
weights and its own inputs from its own seed and returns one estimate (a mean over many,
possibly correlated, samples that share that weight matrix). Replications are i.i.d., so the
Student-t interval over them is honest whatever the correlation inside a replication and
whatever the kurtosis of a single sample: no normal approximation of per-sample variances.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """Mean of R i.i.d. replications with its two-sided (1 - alpha) Student-t interval."""

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    replications: int
    samples: int
    confidence: float

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    def p_value(self, theory: float) -> float:
        """Two-sided p-value of H0: the replication mean is ``theory``."""
        if self.stderr == 0:
            return 0.0 if self.value != theory else 1.0
        stat = (self.value - theory) / self.stderr
        return float(2 * student_t_sf(abs(stat), self.replications - 1))


_T_DIGITS = 30  # working digits of the Student-t functions: their float results are correctly rounded or nearly


def _t_tail(x, nu):
    """P(T > x) for x >= 0 as an mpmath number: I_{nu/(nu + x^2)}(nu/2, 1/2) / 2."""
    import mpmath

    return mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + x * x), regularized=True) / 2


@lru_cache(maxsize=4096)
def student_t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom, 0.5 < p < 1 (what ``scipy.stats.t.ppf``
    computes, to 1e-14 relative or better): the root of the upper tail, by mpmath at 30 digits from a
    Cornish-Fisher start. mpmath imports in a tenth of the time ``scipy.special`` takes, which is most of a
    one-check run's start-up."""
    import mpmath

    if not (0.5 < p < 1) or df < 1:
        raise ValueError(f"student_t_quantile needs 0.5 < p < 1 and df >= 1, got p={p}, df={df}")
    with mpmath.workdps(_T_DIGITS):
        nu, tail = mpmath.mpf(df), 1 - mpmath.mpf(p)
        if df == 1:  # Cauchy, exactly
            return float(mpmath.tan(mpmath.pi * (mpmath.mpf(p) - mpmath.mpf(1) / 2)))
        if df == 2:  # exactly: t = (2p - 1) sqrt(2 / (4 p (1 - p)))
            pp = mpmath.mpf(p)
            return float((2 * pp - 1) * mpmath.sqrt(2 / (4 * pp * (1 - pp))))
        z = NormalDist().inv_cdf(p)
        start = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        root = mpmath.findroot(lambda x: _t_tail(x, nu) - tail, (mpmath.mpf(start), mpmath.mpf(start) * 1.001))
        if not (root > 0 and abs(_t_tail(root, nu) - tail) <= tail * mpmath.mpf(10) ** -20):
            raise ArithmeticError(f"the Student-t quantile did not converge (p={p}, df={df})")
        return float(root)


def student_t_sf(x: float, df: int) -> float:
    """P(T > x) for Student's t with ``df`` degrees of freedom (as ``scipy.stats.t.sf``), by mpmath."""
    import mpmath

    with mpmath.workdps(_T_DIGITS):
        value = _t_tail(abs(mpmath.mpf(x)), mpmath.mpf(df))
        return float(value if x >= 0 else 1 - value)


def from_replications(values, samples_per_replication: int, confidence: float = 0.999) -> Estimate:
    """The Student-t estimate from i.i.d. replication values."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError("need at least two replications")
    if not np.all(np.isfinite(values)):
        raise ValueError("a replication produced a non-finite value")
    r = values.size
    mean = float(values.mean())
    stderr = float(values.std(ddof=1) / np.sqrt(r))
    quantile = student_t_quantile(0.5 + confidence / 2, r - 1)
    return Estimate(
        mean, stderr, mean - quantile * stderr, mean + quantile * stderr, r, r * samples_per_replication, confidence
    )


def holm(p_values, level: float) -> tuple[list[float], list[bool]]:
    """Holm (1979) step-down adjusted p-values and rejections at family-wise level ``level``."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist(), (adjusted <= level).tolist()


def from_function_of_means(values, statistic, samples_per_replication: int, confidence: float = 0.999) -> Estimate:
    """``statistic`` of the replications' mean vector, with its delta-method Student-t interval.

    ``values`` is R x k (one vector per i.i.d. replication); the estimate is g(m), m the mean vector, and its
    standard error sqrt(grad g(m)' S grad g(m) / R), S the replications' sample covariance: the first-order
    (delta method) error of a smooth function of means, as for a ratio E[A]/E[B]^2. The gradient is taken by
    central differences with steps far below m's own standard errors. Degrees of freedom R - 1. For a
    linear ``statistic`` this is exactly :func:`from_replications` of the combined replications.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError("need at least two replications of a vector")
    if not np.all(np.isfinite(values)):
        raise ValueError("a replication produced a non-finite value")
    r = values.shape[0]
    mean = values.mean(axis=0)
    cov = np.atleast_2d(np.cov(values, rowvar=False, ddof=1))
    value = float(statistic(mean))
    se_mean = np.sqrt(np.diag(cov) / r)
    grad = np.zeros(mean.size)
    for i in range(mean.size):
        step = 1e-4 * se_mean[i] if se_mean[i] > 0 else 0.0
        if step == 0:
            continue  # a constant column contributes no variance
        up, down = mean.copy(), mean.copy()
        up[i] += step
        down[i] -= step
        grad[i] = (statistic(up) - statistic(down)) / (2 * step)
    stderr = float(np.sqrt(max(0.0, grad @ cov @ grad) / r))
    if not np.isfinite(value) or not np.isfinite(stderr):
        raise ValueError("the statistic of the replication means is not finite")
    quantile = student_t_quantile(0.5 + confidence / 2, r - 1)
    return Estimate(
        value, stderr, value - quantile * stderr, value + quantile * stderr, r, r * samples_per_replication, confidence
    )
