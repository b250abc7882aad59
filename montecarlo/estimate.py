"""Estimates with honest confidence intervals, and Holm's step-down adjustment.

Every statistical check produces R independent *replications*: each replication draws its own
weights and its own inputs from its own seed and returns one estimate (a mean over many,
possibly correlated, samples that share that weight matrix). Replications are i.i.d., so the
Student-t interval over them is honest whatever the correlation inside a replication and
whatever the kurtosis of a single sample: no normal approximation of per-sample variances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

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


_T_DIGITS = 30  # working digits of mpmath's Student-t functions: their float results are correctly rounded or nearly

#: Up to this many degrees of freedom the Student-t functions use their finite forms in float64 (no
#: mpmath import: a tenth of a one-check run); above it, mpmath. Up to 100 their rounding errors stay within
#: 1e-14 of the exact values (tested against 40 digits at every df they serve); they grow with df.
FLOAT_DF = 100


def _t_split(x: float, df: int) -> tuple[float, float]:
    """(P(|T| <= x), P(|T| > x)) for x >= 0 and df <= FLOAT_DF, in float64, each to a few units in the last
    place of its own size.

    With c = df / (df + x^2) = cos(theta)^2, s = x / sqrt(df + x^2) = sin(theta) and a_j the terms of the binomial series of
    (1 - c)^(-1/2) = 1/s (a_0 = 1, a_j = a_{j-1} c (2j - 1) / (2j)), an even df = 2m gives
    P(|T| <= x) = s (a_0 + ... + a_{m-1}) (Abramowitz and Stegun 26.7.3), so P(|T| > x) is s times the
    series' remainder from a_m. An odd df = 2m + 1 gives, with b_j = b_{j-1} c 2j / (2j + 1) (b_0 = 1),
    the series of arcsin(y) / sqrt(1 - y^2) at y = cos(theta), P(|T| <= x) = (2 / pi) (theta + s cos(theta)
    (b_0 + ... + b_{m-1})), theta = atan(x / sqrt(df)) (26.7.4), and P(|T| > x) = (2 / pi) s cos(theta) times
    the remainder from b_m. Both remainders are sums of positive terms. Where P(|T| <= x) <= 3/4 it is the
    finite sum and P(|T| > x) one minus it (which at least 1/4 leaves a few units in the last place);
    elsewhere the remainder is summed until its terms no longer change it (a ratio of at most c < 1 per
    term), and P(|T| <= x) is one minus it."""
    nu = float(df)
    root = math.sqrt(nu)
    if x < 1e150:
        r = math.sqrt(nu + x * x)
        s, cos = x / r, root / r
        c = nu / (nu + x * x)
    else:  # in terms of t = sqrt(df) / x, so that x^2 does not overflow (x up to infinity)
        t = root / x
        h = math.sqrt(1 + t * t)
        s, cos = 1 / h, t / h
        c = t * t / (1 + t * t)
    odd = df % 2 == 1
    m = (df - 1) // 2 if odd else df // 2

    def ratio(j):  # term j + 1 over term j, over c: (2j + 2) / (2j + 3) for odd df, (2j + 1) / (2j + 2) for even
        return (2 * j + 2) / (2 * j + 3) if odd else (2 * j + 1) / (2 * j + 2)

    term, head = 1.0, 0.0
    for j in range(m):
        head += term
        term *= c * ratio(j)
    if odd:
        inside = (2 / math.pi) * (math.atan2(x, root) + s * cos * head)
        scale = (2 / math.pi) * s * cos
    else:
        inside = s * head
        scale = s
    if inside <= 0.75 or term == 0.0:
        return inside, max(0.0, 1.0 - inside)
    tail, j = 0.0, m
    while True:
        previous = tail
        tail += term
        if tail == previous:
            return 1.0 - scale * tail, scale * tail
        term *= c * ratio(j)
        j += 1


#: Wichura's AS241 (PPND16) rational approximations of the standard normal quantile, relative error about 1e-16
#: (M. J. Wichura, "Algorithm AS 241: The percentage points of the normal distribution", Applied Statistics 37(3),
#: 477-484, 1988): (numerator, denominator) coefficients, highest power first, for the centre (|p - 1/2| <= 0.425,
#: in r = 0.180625 - (p - 1/2)^2) and the two tail ranges (in r = sqrt(-log(min(p, 1 - p))) - 1.6 up to 5, and - 5 beyond).
_AS241 = {
    "centre": (
        (
            2.5090809287301226727e3,
            3.3430575583588128105e4,
            6.7265770927008700853e4,
            4.5921953931549871457e4,
            1.3731693765509461125e4,
            1.9715909503065514427e3,
            1.3314166789178437745e2,
            3.3871328727963666080e0,
        ),
        (
            5.2264952788528545610e3,
            2.8729085735721942674e4,
            3.9307895800092710610e4,
            2.1213794301586595867e4,
            5.3941960214247511077e3,
            6.8718700749205790830e2,
            4.2313330701600911252e1,
            1.0,
        ),
    ),
    "near": (
        (
            7.7454501427834140764e-4,
            2.2723844989269184583e-2,
            2.4178072517745061177e-1,
            1.2704582524523683826e0,
            3.6478483247632046050e0,
            5.7694972214606914055e0,
            4.6303378461565452959e0,
            1.4234371107496835773e0,
        ),
        (
            1.0507500716444168432e-9,
            5.4759380849953449460e-4,
            1.5198666563616457197e-2,
            1.4810397642748007459e-1,
            6.8976733498510000455e-1,
            1.6763848301838038494e0,
            2.0531916266377588219e0,
            1.0,
        ),
    ),
    "far": (
        (
            2.0103343992922881327e-7,
            2.7115555687434875782e-5,
            1.2426609473880784386e-3,
            2.6532189526576123093e-2,
            2.9656057182850489123e-1,
            1.7848265399172913358e0,
            5.4637849111641143699e0,
            6.6579046435011037772e0,
        ),
        (
            2.0442631033899397856e-15,
            1.4215117583164458887e-7,
            1.8463183175100546818e-5,
            7.8686913114561325910e-4,
            1.4875361290850614853e-2,
            1.3692988092273580531e-1,
            5.9983220655588793769e-1,
            1.0,
        ),
    ),
}


def _polynomial(coefficients, r: float) -> float:
    value = 0.0
    for c in coefficients:  # Horner's rule, highest power first
        value = value * r + c
    return value


def _normal_quantile(p: float) -> float:
    """The standard normal quantile of ``p`` in (0, 1) by AS241 (see :data:`_AS241`): what ``statistics.NormalDist``
    computes, without importing ``statistics`` (and with it ``fractions`` and ``decimal``: a few milliseconds of a
    one-check run)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        num, den = _AS241["centre"]
        r = 0.180625 - q * q
        return _polynomial(num, r) * q / _polynomial(den, r)
    r = math.sqrt(-math.log(p if q <= 0.0 else 1.0 - p))
    num, den = _AS241["near" if r <= 5.0 else "far"]
    r -= 1.6 if r <= 5.0 else 5.0
    x = _polynomial(num, r) / _polynomial(den, r)
    return -x if q < 0.0 else x


def _cornish_fisher(p: float, df: int) -> float:
    """The start of both quantile searches: the normal quantile corrected to order 1/df^2."""
    z = _normal_quantile(p)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _t_density(x: float, df: int) -> float:
    nu = float(df)
    log_norm = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    return math.exp(log_norm - (nu + 1) / 2 * math.log1p(x * x / nu))


def _t_quantile_float(p: float, df: int) -> float:
    """The p-quantile from the finite forms of :func:`_t_split` (df <= FLOAT_DF): the root of P(|T| <= x) = 2p - 1
    or of P(|T| > x) = 2 (1 - p), by Newton's method kept inside a bracket that bisection narrows whenever a
    step would leave it."""
    upper = 1.0 - p
    if df == 1:  # Cauchy: tan(pi (p - 1/2)) = 1 / tan(pi (1 - p)), from the smaller angle (both exact)
        return math.tan(math.pi * (p - 0.5)) if p <= 0.75 else 1.0 / math.tan(math.pi * upper)
    if df == 2:  # t = (2p - 1) sqrt(2 / (4 p (1 - p)))
        return (2 * p - 1) * math.sqrt(2 / (4 * p * upper))

    # P(|T| <= x) = 2p - 1 near the centre, P(|T| > x) = 2 (1 - p) in the tail: whichever is the smaller
    # side, so that neither is found as one minus the other (both right sides are exact in float).
    centre = p <= 0.75

    def excess(x):  # decreasing in x
        inside, outside = _t_split(x, df)
        return (2 * p - 1) - inside if centre else outside - 2 * upper

    x = _cornish_fisher(p, df)
    low, high = 0.0, max(x, 1.0)
    while excess(high) > 0:
        low, high = high, 2 * high
    for _ in range(200):
        g = excess(x)
        if g == 0:
            return x
        if g > 0:
            low = max(low, x)
        else:
            high = min(high, x)
        step = g / (2 * _t_density(x, df))
        following = x + step
        if not (low < following < high):
            following = (low + high) / 2
        if abs(following - x) <= 4e-16 * x or high - low <= 4e-16 * high:
            return following
        x = following
    raise ArithmeticError(f"the Student-t quantile did not converge (p={p}, df={df})")


def _t_tail(x, nu):
    """P(T > x) for x >= 0 as an mpmath number: I_{nu/(nu + x^2)}(nu/2, 1/2) / 2."""
    import mpmath

    return mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + x * x), regularized=True) / 2


@lru_cache(maxsize=4096)
def student_t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom, 0.5 < p < 1 (what ``scipy.stats.t.ppf``
    computes, to 1e-14 relative or better): up to FLOAT_DF degrees of freedom from the finite forms in
    float64, above by mpmath at 30 digits (the root of the upper tail from a Cornish-Fisher start). Neither
    imports ``scipy.special``, which would be most of a one-check run's start-up."""
    if not (0.5 < p < 1) or df < 1:
        raise ValueError(f"student_t_quantile needs 0.5 < p < 1 and df >= 1, got p={p}, df={df}")
    if df <= FLOAT_DF:
        return _t_quantile_float(p, df)
    import mpmath

    with mpmath.workdps(_T_DIGITS):
        nu = mpmath.mpf(df)
        if p <= 0.75:  # P(|T| <= x) = 2p - 1, as in the float64 forms: neither side one minus the other
            target = 2 * mpmath.mpf(p) - 1

            def side(x):
                return mpmath.betainc(mpmath.mpf(1) / 2, nu / 2, 0, x * x / (nu + x * x), regularized=True)

        else:
            target = 1 - mpmath.mpf(p)

            def side(x):
                return _t_tail(x, nu)

        start = mpmath.mpf(_cornish_fisher(p, df))
        # in units of the start and relative to the target, so that findroot's tolerances fit any p
        u = mpmath.findroot(lambda u: side(u * start) / target - 1, (mpmath.mpf(1), mpmath.mpf("1.001")))
        root = u * start
        if not (root > 0 and abs(side(root) / target - 1) <= mpmath.mpf(10) ** -20):
            raise ArithmeticError(f"the Student-t quantile did not converge (p={p}, df={df})")
        return float(root)


def student_t_sf(x: float, df: int) -> float:
    """P(T > x) for Student's t with ``df`` degrees of freedom (as ``scipy.stats.t.sf``): float64 finite forms
    up to FLOAT_DF degrees of freedom, mpmath above."""
    if df < 1:
        raise ValueError(f"student_t_sf needs df >= 1, got df={df}")
    if df <= FLOAT_DF:
        value = _t_split(abs(float(x)), df)[1] / 2
        return value if x >= 0 else 1.0 - value
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
    return _t_estimate(
        float(values.mean()), float(values.std(ddof=1) / np.sqrt(r)), r, samples_per_replication, confidence
    )


def _t_estimate(value: float, stderr: float, r: int, samples_per_replication: int, confidence: float) -> Estimate:
    quantile = student_t_quantile(0.5 + confidence / 2, r - 1)
    return Estimate(
        value, stderr, value - quantile * stderr, value + quantile * stderr, r, r * samples_per_replication, confidence
    )


class Moments:
    """The count, mean vector and co-moment matrix (sum of outer products of deviations from the mean) of
    replication vectors, folded in block by block (Chan, Golub and LeVeque's update for a union of two
    samples): all :func:`from_moments` and :func:`from_function_of_moments` need, in memory that does not
    grow with the number of replications. The bytes of the result depend on the blocks' order: fold them in
    replication order. A non-finite value is remembered, and refused by the estimates, as by
    :func:`from_replications`."""

    __slots__ = ("n", "mean", "comoment", "finite")

    def __init__(self):
        self.n, self.mean, self.comoment, self.finite = 0, None, None, True

    def add(self, values) -> None:
        """Fold in a block of replications: an R x k array (or R values)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if not values.shape[0]:
            return
        if not np.all(np.isfinite(values)):
            self.finite = False
            return
        r = values.shape[0]
        mean = values.mean(axis=0)
        centred = values - mean
        comoment = np.einsum("ij,ik->jk", centred, centred)  # not BLAS: the same bytes whatever its threads
        if not self.n:
            self.n, self.mean, self.comoment = r, mean, comoment
            return
        n = self.n + r
        delta = mean - self.mean
        self.comoment = self.comoment + comoment + np.multiply.outer(delta, delta) * (self.n * r / n)
        self.mean = self.mean + delta * (r / n)
        self.n = n

    def _checked(self) -> None:
        if self.n < 2:
            raise ValueError("need at least two replications")
        if not self.finite:
            raise ValueError("a replication produced a non-finite value")

    def covariance(self):
        """The replications' sample covariance matrix (ddof 1)."""
        self._checked()
        return self.comoment / (self.n - 1)


def from_moments(moments: Moments, samples_per_replication: int, confidence: float = 0.999, column: int = -1):
    """:func:`from_replications` of one column of the replications folded into ``moments``."""
    moments._checked()
    r = moments.n
    variance = max(0.0, float(moments.comoment[column, column]) / (r - 1))
    return _t_estimate(float(moments.mean[column]), math.sqrt(variance / r), r, samples_per_replication, confidence)


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
    cov = np.atleast_2d(np.cov(values, rowvar=False, ddof=1))
    return _delta_method(values.mean(axis=0), cov, values.shape[0], statistic, samples_per_replication, confidence)


def from_function_of_moments(moments: Moments, statistic, samples_per_replication: int, confidence: float = 0.999):
    """:func:`from_function_of_means` of the replications folded into ``moments``."""
    cov = moments.covariance()
    return _delta_method(moments.mean, cov, moments.n, statistic, samples_per_replication, confidence)


def _delta_method(mean, cov, r: int, statistic, samples_per_replication: int, confidence: float) -> Estimate:
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
    return _t_estimate(value, stderr, r, samples_per_replication, confidence)
