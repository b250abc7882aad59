"""Mean-field signal propagation: the length map, the correlation map, chi_1, the edge of chaos and the
depth scales (Poole et al. 2016; Schoenholz et al. 2017), for any activation of :mod:`derive.activations`.

A fully connected layer z^l = W^l phi(z^{l-1}) + b^l with W_ij ~ N(0, sigma_w^2/n) and b_i ~ N(0, sigma_b^2),
in the limit of infinite width, maps the second moment q^{l-1} of a unit's pre-activation to

    q^l = sigma_w^2 E[phi(sqrt(q^{l-1}) Z)^2] + sigma_b^2                         (the length map)

and, for two inputs of the same length q*, their correlation c^{l-1} to

    c^l = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q*,   (u_1, u_2) ~ N(0, q* [[1, c], [c, 1]])

(the correlation map). Its slope at c = 1 is chi_1 = sigma_w^2 E[phi'(sqrt(q*) Z)^2] (Price's theorem:
d E[phi(u_1) phi(u_2)] / d Cov(u_1, u_2) = E[phi'(u_1) phi'(u_2)]). chi_1 < 1: c = 1 attracts (ordered);
chi_1 > 1: it repels and a fixed point c* < 1 attracts (chaotic); chi_1 = 1 is the edge of chaos. The
depth scales (Schoenholz et al. 2017, eqs. 6 and 9): q^l - q* ~ exp(-l/xi_q) and c^l - c* ~ exp(-l/xi_c),
with xi_q^-1 = -log(sigma_w^2 m'(q*)) (m(q) = E[phi(sqrt(q) Z)^2]; their chi_1 + sigma_w^2 E[phi'' phi] is
the same number, by Stein's lemma) and xi_c^-1 = -log(sigma_w^2 E[phi'(u_1) phi'(u_2)]) at c*.

Two routes, both numerical and labelled so:

- one-dimensional quantities (q*, the slope of the length map, chi_1, the critical sigma_w^2) start from
  float64 Gauss-Legendre quadrature and are then refined by Newton steps on mpmath quadratures
  (:func:`derive.activations.gaussian_map`'s tanh-sinh route) to the digits asked for;
- two-dimensional ones (the correlation map, c*, chi_c, xi_c in the chaotic phase) are float64 nested
  Gauss-Legendre quadrature split at the activation's kinks: good to about 1e-13, and reported to at
  most :data:`DIGITS_2D` significant digits.

Positively homogeneous activations (ReLU, leaky ReLU, linear, |t|) are exact: m(q) = k q and
E[phi'^2] = k' with k, k' rational (the relu-second-moment argument), so q* = sigma_b^2/(1 - k sigma_w^2),
chi_1 = k' sigma_w^2 and the critical point sigma_w^2 = 1/k' (ReLU: 2, He initialization) need no quadrature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .activations import Activation, gaussian_map, is_homogeneous, kinks, lookup, quadrature_budget
from .expr import t
from .pairquad import MeanFieldError, expect, pair_expect

__all__ = ["MeanFieldError"]

#: Significant digits of the two-dimensional (float64) quantities.
DIGITS_2D = 12
#: More than this many iterations of a map without settling: no fixed point reached (reported as such).
_MAX_ITER = 2000


class Diverges(MeanFieldError):
    """The length map has no fixed point: q grows without bound."""


# -- the activation --------------------------------------------------------------------------------------


def activation(name_or_act: str | Activation) -> Activation:
    return lookup(name_or_act) if isinstance(name_or_act, str) else name_or_act


@dataclass(frozen=True)
class _Numeric:
    """An activation's float64 callables and kinks (bound to its parameter values)."""

    phi: object
    dphi: object
    kinks: tuple
    homogeneous: tuple | None  # (k, k') with m(q) = k q, E[phi'^2] = k' (exact), or None


@lru_cache(maxsize=256)
def _numeric_cached(act: Activation, values: tuple) -> _Numeric:
    vals = dict(values) or None
    phi, dphi = act.numpy(vals)
    expr = act.bound(vals)
    points = tuple(float(k) for k in kinks(expr))
    hom = None
    if is_homogeneous(expr):
        up, down = expr.subs(t, 1), expr.subs(t, -1)
        hom = (sp.nsimplify((up**2 + down**2) / 2), sp.nsimplify((up**2 + down**2) / 2))
    return _Numeric(phi, dphi, points, hom)


def _numeric(act: Activation, values: dict | None) -> _Numeric:
    return _numeric_cached(act, tuple(sorted((values or {}).items())))


def homogeneous_factors(act: str | Activation, values: dict | None = None):
    """(k, k') for a positively homogeneous phi: E[phi(sqrt(q) Z)^2] = k q and E[phi'(sqrt(q) Z)^2] = k',
    exact SymPy rationals (phi = c+ t on t > 0, c- t on t < 0: k = k' = (c+^2 + c-^2)/2); None otherwise."""
    return _numeric(activation(act), values).homogeneous


# -- the length map -----------------------------------------------------------------------------------------


def _check_params(sigma_w2, sigma_b2):
    for name, value in (("sigma_w^2", sigma_w2), ("sigma_b^2", sigma_b2)):
        if not (isinstance(value, (int, float)) or hasattr(value, "is_number") or hasattr(value, "_mpf_")):
            raise MeanFieldError(f"{name} must be a number, not {value!r}")
        v = float(value)
        if not math.isfinite(v) or v < 0:
            raise MeanFieldError(f"{name} must be a finite number >= 0, not {value}")
    if float(sigma_w2) == 0:
        raise MeanFieldError("sigma_w^2 must be > 0 (zero weights carry no signal)")


def second_moment(act, q: float, values: dict | None = None) -> float:
    """m(q) = E[phi(sqrt(q) Z)^2], float64."""
    num = _numeric(activation(act), values)
    if num.homogeneous:
        return float(num.homogeneous[0]) * q
    return expect(lambda u: num.phi(u) ** 2, q, num.kinks)


def q_map(act, sigma_w2: float, sigma_b2: float, q: float, values: dict | None = None) -> float:
    """The length map q -> sigma_w^2 E[phi(sqrt(q) Z)^2] + sigma_b^2 (float64)."""
    return float(sigma_w2) * second_moment(act, q, values) + float(sigma_b2)


def _slope_float(num: _Numeric, q: float) -> float:
    """m'(q) = E[phi(sqrt(q) Z)^2 (Z^2 - 1)] / (2 q) (differentiating the Gaussian density: no phi'' needed,
    so a jump of phi' is no trouble); q > 0 (at q = 0 see :func:`_at_zero`)."""
    if num.homogeneous:
        return float(num.homogeneous[0])
    root = math.sqrt(q)
    return expect(lambda u: num.phi(u) ** 2 * ((u / root) ** 2 - 1), q, num.kinks) / (2 * q)


def _dphi0_squared(act: Activation, values) -> sp.Expr:
    """lim_{q -> 0} E[phi'(sqrt(q) Z)^2] = (phi'(0+)^2 + phi'(0-)^2)/2, exact (SymPy): phi'(0)^2 where phi is
    smooth at 0, the mean of the two one-sided slopes squared at a kink there (SELU, ReLU6, ELU with alpha != 1)."""
    deriv = act.bound_derivative(values)
    eps = sp.Symbol("epsilon", positive=True)  # t = +-eps resolves every Piecewise/Max/Heaviside to one side
    right = sp.limit(sp.piecewise_fold(deriv.subs(t, eps)), eps, 0)
    left = sp.limit(sp.piecewise_fold(deriv.subs(t, -eps)), eps, 0)
    return sp.nsimplify(sp.simplify((right**2 + left**2) / 2))


def _derivative_float(num: _Numeric, q: float) -> float:
    if num.homogeneous:
        return float(num.homogeneous[1])
    return expect(lambda u: num.dphi(u) ** 2, q, num.kinks)


def _zero_is_fixed(num: _Numeric, sigma_b2) -> bool:
    """q = 0 is a fixed point of the length map: no bias and phi(0) = 0."""
    import numpy as np

    return float(sigma_b2) == 0 and float(num.phi(np.zeros(1))[0]) == 0


def fixed_point_float(act, sigma_w2, sigma_b2, values=None, q0: float = 1.0) -> float:
    """q* reached by iterating the length map from q0 (float64), with Newton steps where the map contracts
    (so that a slope near 1 does not take millions of steps); MeanFieldError when q grows without bound."""
    _check_params(sigma_w2, sigma_b2)
    num = _numeric(activation(act), values)
    sw2, sb2 = float(sigma_w2), float(sigma_b2)
    if num.homogeneous:
        k = float(num.homogeneous[0])
        if k * sw2 < 1:
            return sb2 / (1 - k * sw2)
        if k * sw2 == 1 and sb2 == 0:
            return q0  # every q is a fixed point: the signal keeps its length exactly
        raise Diverges(
            f"no fixed point: q grows without bound (sigma_w^2 E[phi'^2] = {k * sw2:.6g} >= 1"
            + (" with sigma_b^2 > 0)" if k * sw2 == 1 else ")")
        )
    zero = _zero_is_fixed(num, sb2)
    q = float(q0)
    falling = True  # every plain step so far made q smaller
    fallback = None  # (q, F(q)) of the last plain step, to return to when a Newton step makes things worse
    pause = 0  # plain steps to take before trying Newton again
    for _ in range(_MAX_ITER):
        try:
            new = sw2 * expect(lambda u: num.phi(u) ** 2, q, num.kinks) + sb2
        except MeanFieldError:
            if q > 1e3 * max(q0, 1.0):  # phi overflows a float out there: q was growing past any fixed point
                raise Diverges(f"no fixed point: q grows without bound (past {q:.6g})") from None
            raise
        if not math.isfinite(new) or new > 1e12:
            raise Diverges("no fixed point: q grows without bound under the length map")
        if abs(new - q) <= 1e-15 * q or new == q:
            return new
        falling = falling and new < q
        if zero and new < q and new < 1e-10:
            return 0.0  # falling towards the fixed point q = 0 (algebraically where the slope there is 1)
        if fallback is not None and abs(new - q) >= abs(fallback[1] - fallback[0]):
            q, fallback, pause = fallback[1], None, 10  # the Newton step did not help: a plain step instead
            continue
        fallback = None
        if pause:
            pause -= 1
            q = new
            continue
        slope = sw2 * _slope_float(num, q)
        step = q - (new - q) / (slope - 1) if abs(slope - 1) > 1e-13 else -1.0
        if slope < 1 and step > 0 and abs(step - q) <= 4 * max(q, abs(new - q)):
            fallback, q = (q, new), step  # Newton on F(q) - q, kept only if the residual falls
        else:
            fallback, q = None, new
    if q > q0:
        raise Diverges(f"no fixed point: q still grows after {_MAX_ITER} layers (q = {q:.6g})")
    if zero and falling and _falls_to_zero(num, sw2, q) and sw2 * float(_dphi0_squared(activation(act), values)) == 1:
        # the slope at q = 0 is exactly 1 (hardtanh at sigma_w^2 = 1, no bias): q falls to 0, but only as fast
        # as the map's deficit there (for hardtanh exp(-1/(2q)): q^l ~ 1/(2 ln l)), never within _MAX_ITER layers
        return 0.0
    raise MeanFieldError("the length map did not settle (no fixed point reached)")


def _falls_to_zero(num: _Numeric, sw2: float, q: float) -> bool:
    """The length map (no bias) is below the identity at q and nowhere above it (beyond rounding) on a log grid
    of (1e-12, q] (where its deficit falls below float64's resolution it equals q): no fixed point there that
    float64 can tell from 0."""
    grid = [q * 10.0 ** (-k / 4) for k in range(int(4 * math.log10(q / 1e-12)) + 1)]
    values = [sw2 * expect(lambda u: num.phi(u) ** 2, g, num.kinks) for g in grid]
    return values[0] < grid[0] and all(v <= g * (1 + 1e-15) for v, g in zip(values, grid, strict=True))


# -- mpmath refinement (one-dimensional quantities to many digits) ------------------------------------------


def _mp_maps(act: Activation, values, q, digits: int):
    """(m(q), m'(q), d(q)) as mpmath numbers to ``digits`` digits (gaussian_map's quadrature)."""
    import mpmath

    q = sp.Float(q, digits + 15) if not isinstance(q, sp.Basic) else q
    m = gaussian_map(act, "second", q, values, digits)
    d = gaussian_map(act, "derivative", q, values, digits)
    with mpmath.workdps(digits + 15):
        qm = mpmath.mpf(sp.N(q, digits + 15))
        if qm == 0:
            return m, None, d
        # m'(q) = E[phi(sqrt q Z)^2 (Z^2 - 1)] / (2q): differentiating the density, an integrand that does not
        # vanish at 0 (E[phi phi' Z] does, and a scan of it can miss a narrow peak there)
        slope = _second_moment_slope(act, values, q, digits)
    return m, slope, d


def _to_sympy(x, digits):
    return sp.Float(x, digits + 15)


@dataclass(frozen=True)
class Point:
    """The mean-field description of one (activation, sigma_w^2, sigma_b^2)."""

    activation: str
    sigma_w2: object
    sigma_b2: object
    q_star: object  # mpmath/SymPy number, or None when q diverges
    q_slope: object  # sigma_w^2 m'(q*): the length map's slope at q*; < 1 stable
    chi1: object
    c_star: float | None
    chi_c: float | None
    phase: str  # "ordered", "chaotic", "critical" or "exploding"
    xi_q: float | None  # inf at a marginal q*
    xi_c: float | None  # inf at the edge of chaos
    digits: int
    exact: bool  # every number is exact (a homogeneous activation)


def _phase(chi1, digits) -> str:
    tol = 10.0 ** (-DIGITS_2D)  # what the numbers can tell apart, whatever digits are shown
    if abs(float(chi1) - 1) <= tol:
        return "critical"
    return "ordered" if float(chi1) < 1 else "chaotic"


def fixed_point(act, sigma_w2, sigma_b2, values=None, digits: int = 15, q0: float = 1.0):
    """q* to ``digits`` digits (SymPy exact for homogeneous phi, else an mpmath number): float64 iteration,
    then Newton steps on mpmath quadratures until two agree to the digits asked for."""
    import mpmath

    act = activation(act)
    num = _numeric(act, values)
    if num.homogeneous:
        k = num.homogeneous[0]
        sw2, sb2 = sp.nsimplify(sigma_w2), sp.nsimplify(sigma_b2)
        if k * sw2 < 1:
            return sb2 / (1 - k * sw2)
        if k * sw2 == 1 and sb2 == 0:
            return sp.nsimplify(q0)
        fixed_point_float(act, sigma_w2, sigma_b2, values, q0)  # raises the one-line reason
    q = fixed_point_float(act, sigma_w2, sigma_b2, values, q0)
    if q == 0 or digits <= 14:
        return mpmath.mpf(q)
    with mpmath.workdps(digits + 10):
        sw2, sb2 = mpmath.mpf(sp.N(sp.nsimplify(sigma_w2), digits + 10)), mpmath.mpf(sp.N(sp.nsimplify(sigma_b2)))
        qm = mpmath.mpf(q)
        for _ in range(8):
            m, slope, _ = _mp_maps(act, values, _to_sympy(qm, digits), digits)
            f = sw2 * m + sb2 - qm
            new = qm - f / (sw2 * slope - 1)
            if abs(new - qm) <= mpmath.mpf(10) ** (-digits - 3) * abs(new):
                return +new
            qm = new
    raise MeanFieldError("Newton's method on the length map did not converge to the digits asked for")


def correlation_map(act, sigma_w2, sigma_b2, c: float, q: float | None = None, values=None) -> float:
    """c -> (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q_next for two inputs of second moment q (q* by
    default, where q_next = q*), float64."""
    act = activation(act)
    num = _numeric(act, values)
    if q is None:
        q = float(fixed_point_float(act, sigma_w2, sigma_b2, values))
    q_next = q_map(act, sigma_w2, sigma_b2, q, values)
    if q_next == 0:
        return 1.0
    cov = float(sigma_w2) * _cross(num, q, c) + float(sigma_b2)
    return cov / q_next


def _cross(num: _Numeric, q: float, c: float) -> float:
    """E[phi(u_1) phi(u_2)], (u_1, u_2) ~ N(0, q [[1, c], [c, 1]])."""
    return pair_expect(num.phi, num.phi, q, c, num.kinks)


def _chi_c(num: _Numeric, sigma_w2: float, q: float, c: float) -> float:
    """sigma_w^2 E[phi'(u_1) phi'(u_2)]: the correlation map's slope at c (Price's theorem)."""
    return float(sigma_w2) * pair_expect(num.dphi, num.dphi, q, c, num.kinks)


def pair_trajectory(act, sigma_w2, sigma_b2, q0: float, c0: float, depth: int, values=None) -> list:
    """[(q^l, c^l) for l = 1..depth] for two inputs whose first-layer pre-activations have second moment q0
    and correlation c0 (float64): q^l = sigma_w^2 m(q^{l-1}) + sigma_b^2 and
    c^l = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q^l, (u_1, u_2) with second moment q^{l-1} and
    correlation c^{l-1}; the first entry is (q0, c0)."""
    act = activation(act)
    num = _numeric(act, values)
    _check_params(sigma_w2, sigma_b2)
    out = [(float(q0), float(c0))]
    q, c = float(q0), float(c0)
    for _ in range(depth - 1):
        q_next = q_map(act, sigma_w2, sigma_b2, q, values)
        cov = float(sigma_w2) * pair_expect(num.phi, num.phi, q, c, num.kinks) + float(sigma_b2)
        c = cov / q_next if q_next else 1.0
        q = q_next
        out.append((q, c))
    return out


def _c_star(num: _Numeric, sigma_w2, sigma_b2, q: float, chi1: float) -> float:
    """The attracting fixed point of the correlation map in [-1, 1]: 1 unless chi_1 > 1; else the root of
    C(c) - c in [-1, 1) whose slope |C'(c)| < 1, found by bisection between sign changes on a grid."""
    if chi1 <= 1:
        return 1.0
    sw2, sb2 = float(sigma_w2), float(sigma_b2)

    def g(c):
        return (sw2 * pair_expect(num.phi, num.phi, q, c, num.kinks) + sb2) / q - c

    from scipy.optimize import brentq

    grid = [-1 + 2 * i / 10 for i in range(10)] + [1 - 1e-3]
    values = [g(c) for c in grid]
    roots = []
    for i in range(len(grid) - 1):
        lo, hi, f_lo, f_hi = grid[i], grid[i + 1], values[i], values[i + 1]
        if f_lo == 0:
            roots.append(lo)
        elif f_lo * f_hi < 0:
            roots.append(brentq(g, lo, hi, xtol=1e-15, rtol=1e-15))
    stable = [r for r in roots if abs(_chi_c(num, sw2, q, r)) < 1]
    if not stable:
        raise MeanFieldError("the correlation map has no attracting fixed point below c = 1")
    return max(stable)


def analyse(act, sigma_w2, sigma_b2, values=None, digits: int = 12, q0: float = 1.0) -> Point:
    """q*, its stability, chi_1, c*, chi_c, the phase and the depth scales xi_q, xi_c (see the module)."""
    import mpmath

    _check_params(sigma_w2, sigma_b2)
    act_obj = activation(act)
    num = _numeric(act_obj, values)
    try:
        q_star = fixed_point(act_obj, sigma_w2, sigma_b2, values, digits, q0)
    except Diverges:
        return Point(
            act_obj.name, sigma_w2, sigma_b2, None, None, None, None, None, "exploding", None, None, digits, False
        )
    if num.homogeneous:
        k, kd = num.homogeneous
        sw2 = sp.nsimplify(sigma_w2)
        slope, chi1 = k * sw2, kd * sw2
        exact = True
    else:
        exact = False
        with mpmath.workdps(digits + 10):
            sw2 = mpmath.mpf(sp.N(sp.nsimplify(sigma_w2), digits + 10))
            if float(q_star) == 0:
                # q* = 0 (no bias, phi(0) = 0): the length map's slope there is sigma_w^2 times the limit of
                # E[phi'(sqrt(q) Z)^2] (phi'(0)^2, or the mean of the one-sided slopes squared at a kink), which is
                # also chi_1: exact
                slope = chi1 = sp.nsimplify(sigma_w2) * _dphi0_squared(act_obj, values)
            elif digits <= 14:
                slope = sw2 * _slope_float(num, float(q_star))
                chi1 = sw2 * _derivative_float(num, float(q_star))
            else:
                _, s, d = _mp_maps(act_obj, values, _to_sympy(q_star, digits), digits)
                slope, chi1 = sw2 * s, sw2 * d
    phase = _phase(chi1, digits) if not exact else ("critical" if chi1 == 1 else _phase(chi1, digits))
    qf = float(q_star)
    c_star = _c_star(num, sigma_w2, sigma_b2, qf, float(chi1)) if phase == "chaotic" else 1.0
    chi_c = float(chi1) if c_star == 1.0 else _chi_c(num, sigma_w2, qf, c_star)
    xi_q = math.inf if float(slope) >= 1 else -1 / math.log(float(slope)) if float(slope) > 0 else 0.0
    xi_c = math.inf if phase == "critical" else (-1 / math.log(chi_c) if 0 < chi_c != 1 else 0.0)
    return Point(act_obj.name, sigma_w2, sigma_b2, q_star, slope, chi1, c_star, chi_c, phase, xi_q, xi_c, digits, exact)


def critical_sigma_w2(act, sigma_b2, values=None, digits: int = 30, budget_seconds: float = 60.0):
    """The sigma_w^2 at which chi_1 = 1 (the edge of chaos) for the given sigma_b^2.

    Homogeneous phi: 1/k' exactly (ReLU: 2), which exists only at sigma_b^2 = 0 (else q* diverges there).
    Otherwise: bisection in float64 on chi_1(sigma_w^2) - 1, then Newton's method on the pair of equations
    q = s m(q) + sigma_b^2, s d(q) = 1 in (q, s) with mpmath quadratures at ``digits`` + 15 digits (the
    Jacobian from m'(q) and d'(q) = E[phi'(sqrt q Z)^2 (Z^2 - 1)]/(2q)), to ``digits`` digits. Returns
    (sigma_w^2, q*) — SymPy numbers for homogeneous phi, mpmath numbers otherwise."""
    import mpmath

    act = activation(act)
    num = _numeric(act, values)
    _check_params(1, sigma_b2)
    if num.homogeneous:
        kd = num.homogeneous[1]
        if kd == 0:
            raise MeanFieldError("phi' is zero: chi_1 is 0 for every sigma_w^2")
        if sp.nsimplify(sigma_b2) != 0:
            raise MeanFieldError(
                f"for {act.name} the edge of chaos sigma_w^2 = {1 / kd} exists only at sigma_b^2 = 0: with a "
                "bias the length map has slope 1 there and q grows without bound"
            )
        return 1 / kd, None

    def chi1_of(sw2):
        try:
            q = fixed_point_float(act, sw2, sigma_b2, values)
        except Diverges:
            return math.inf, None
        return sw2 * _derivative_float(num, q), q

    lo, hi = 1e-3, 1.0
    while True:
        chi_hi, q_hi = chi1_of(hi)
        if q_hi is None:
            # q diverges at hi: bisect between lo (chi_1 < 1) and hi for a point with chi_1 >= 1 and a fixed point
            while hi - lo > 1e-6 * hi:
                mid = (lo + hi) / 2
                chi_m, q_m = chi1_of(mid)
                if q_m is not None and chi_m < 1:
                    lo = mid
                else:
                    hi = mid
                    if q_m is not None:
                        break
            else:
                raise MeanFieldError(
                    f"no edge of chaos: chi_1 < 1 up to sigma_w^2 = {lo:.6g}, beyond which q grows without bound"
                )
            break
        if chi_hi >= 1:
            break
        lo, hi = hi, hi * 2
        if hi > 1e6:
            raise MeanFieldError("chi_1 stays below 1 for every sigma_w^2 up to 1e6: no edge of chaos")
    if chi1_of(lo)[0] > 1:
        raise MeanFieldError("chi_1 exceeds 1 already at sigma_w^2 = 1e-3: no edge of chaos above it")
    for _ in range(200):
        mid = (lo + hi) / 2
        if chi1_of(mid)[0] < 1:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-8 * hi:
            break  # Newton's method below takes it from here
    s_float = (lo + hi) / 2
    q_float = chi1_of(s_float)[1]
    if _zero_is_fixed(num, sigma_b2) and q_float < 1e-6:
        # q* = 0 up to the edge (no bias, phi(0) = 0): there chi_1 = sigma_w^2 phi'(0)^2, so the edge is exactly
        # 1/phi'(0)^2 (tanh, erf scaled: 1), provided the bisection landed there
        d0 = _dphi0_squared(act, values)
        if d0 != 0 and (q_float == 0 or abs(float(1 / d0) - s_float) <= 1e-6 * s_float):
            return 1 / d0, sp.S.Zero
    if q_float == 0:
        raise MeanFieldError("the edge of chaos lies where q* = 0 and phi has no slope at 0 to define chi_1 there")
    if digits <= 13 and q_float > 0:
        # float64 Newton steps on the same pair of equations (float quadratures): enough for 13 digits
        sb2f, q, s = float(sigma_b2), q_float, s_float
        previous_step = math.inf
        for _ in range(8):
            root = math.sqrt(q)
            m = expect(lambda u: num.phi(u) ** 2, q, num.kinks)
            d = _derivative_float(num, q)
            mslope = _slope_float(num, q)
            dslope = expect(lambda u, r=root: num.dphi(u) ** 2 * ((u / r) ** 2 - 1), q, num.kinks) / (2 * q)
            f1, f2 = s * m + sb2f - q, s * d - 1
            a11, a12, a21, a22 = s * mslope - 1, m, s * dslope, d
            det = a11 * a22 - a12 * a21
            dq, ds = (-f1 * a22 + a12 * f2) / det, (-a11 * f2 + a21 * f1) / det
            q, s = q + dq, s + ds
            step = max(abs(ds) / abs(s), abs(dq) / abs(q))
            if step <= 1e-15:
                return s, q
            if step <= 1e-13 and step > previous_step / 2:
                # no longer shrinking quadratically: the steps are the quadratures' rounding (a 2-cycle of 1e-15
                # was seen with another CPU's tanh), far below the 13 digits this route is for
                return s, q
            previous_step = step
        raise MeanFieldError("Newton's method for the critical sigma_w^2 did not converge")
    asked = digits
    digits = max(digits, 16)
    dps = digits + 15
    with quadrature_budget(budget_seconds), mpmath.workdps(dps):
        sb2 = mpmath.mpf(sp.N(sp.nsimplify(sigma_b2), dps))
        q, s = mpmath.mpf(q_float), mpmath.mpf(s_float)
        for _ in range(10):
            qs = _to_sympy(q, digits)
            m, mslope, d = _mp_maps(act, values, qs, digits)
            # d'(q) = E[phi'(sqrt q Z)^2 (Z^2 - 1)] / (2 q), as a quadrature of phi'(t)^2 (t^2/q - 1)/(2q)
            dslope = _derivative_slope(act, values, qs, digits)
            f1, f2 = s * m + sb2 - q, s * d - 1
            jac = mpmath.matrix([[s * mslope - 1, m], [s * dslope, d]])
            dq, ds = mpmath.lu_solve(jac, mpmath.matrix([-f1, -f2]))
            q, s = q + dq, s + ds
            if abs(ds) <= mpmath.mpf(10) ** (-digits - 3) * abs(s) and abs(dq) <= mpmath.mpf(10) ** (-digits - 3) * (
                abs(q) + mpmath.mpf(10) ** (-digits - 3)
            ):
                return (+s, +q) if asked >= 16 else (float(s), float(q))
    raise MeanFieldError("Newton's method for the critical sigma_w^2 did not converge to the digits asked for")


def _second_moment_slope(act: Activation, values, q, digits: int):
    """m'(q) = d/dq E[phi(sqrt(q) Z)^2] = E[phi(sqrt q Z)^2 (Z^2 - 1)]/(2q): an mpmath quadrature."""
    from .activations import _gauss_quad_cached

    expr = act.bound(values)
    qs = sp.S(q)
    body = expr**2 * (t**2 / qs - 1) / (2 * qs)
    return _gauss_quad_cached(body, qs, tuple(kinks(expr)), digits, "d/dq E[phi(sqrt(q) Z)^2]")


def _derivative_slope(act: Activation, values, q, digits: int):
    """d'(q) = d/dq E[phi'(sqrt(q) Z)^2] = E[phi'(sqrt q Z)^2 (Z^2 - 1)]/(2q): an mpmath quadrature."""
    from .activations import _derivative_of, _gauss_quad_cached, _no_delta

    expr = act.bound(values)
    deriv = _derivative_of(expr) if act.derivative_expr is None else _no_delta(act.bound_derivative(values))
    qs = sp.S(q)
    body = deriv**2 * (t**2 / qs - 1) / (2 * qs)
    return _gauss_quad_cached(body, qs, tuple(kinks(expr)), digits, "d/dq E[phi'(sqrt(q) Z)^2]")


# -- closed-form kernels (independent of the quadratures above) -------------------------------------------


@lru_cache(maxsize=2)
def _kernel(ident: str):
    from .catalog.meanfield import c, q
    from .registry import get

    return sp.lambdify((q, c), get(ident).result.rhs, modules="math")


def relu_kernel(q: float, c: float) -> float:
    """E[relu(u_1) relu(u_2)], (u_1, u_2) ~ N(0, q [[1, c], [c, 1]]): the degree-1 arc-cosine kernel
    q (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi) (Cho and Saul 2009), read off the arc-cosine-kernel derivation."""
    return float(_kernel("arc-cosine-kernel")(q, min(1.0, max(-1.0, c))))


def erf_kernel(q: float, c: float) -> float:
    """E[erf(u_1) erf(u_2)], same (u_1, u_2): the arcsine kernel (2/pi) arcsin(2 q c / (1 + 2 q)) (Williams 1997),
    read off the arcsine-kernel derivation."""
    return float(_kernel("arcsine-kernel")(q, c))


# -- finite width: the exact fourth moment of a ReLU network's output ------------------------------------


def fluctuation_factor(width) -> sp.Expr:
    """E[||x^l||^4 | x^{l-1}] / E[||x^l||^2 | x^{l-1}]^2 for one ReLU layer of ``width`` units with Gaussian
    weights and no bias: 1 + 5/n, read off the finite-width-fluctuations derivation."""
    from .catalog.meanfield import n_l
    from .registry import get

    n = sp.Integer(width) if not isinstance(width, sp.Basic) else width
    return get("finite-width-fluctuations").result.rhs.subs(n_l, n)


def fluctuation_ratio(widths) -> sp.Expr:
    """E||x^L||^4 / (E||x^L||^2)^2 for a ReLU network with Gaussian weights, no biases and a fixed input, the
    hidden widths ``widths``: the exact rational prod (1 + 5/n_l)."""
    return sp.Mul(*(fluctuation_factor(n) for n in widths))


def hanin_rolnick_bound(widths) -> sp.Expr:
    """exp(5 sum 1/n_l): Hanin and Rolnick's (2018) exponential form of the same fluctuations."""
    return sp.exp(5 * sp.Add(*(sp.Rational(1, int(n)) for n in widths)))


# -- a figure-grade route for heat maps -----------------------------------------------------------------


def xi_c_coarse(act, sigma_w2: float, sigma_b2: float, values=None, nodes: int = 48) -> float:
    """xi_c for a heat map: q* and chi_1 by the float64 routes above, and in the chaotic phase c* and chi_c with
    the correlation map on a tensor Gauss-Hermite rule of ``nodes``^2 points (3 to 4 digits for tanh near sigma_w^2 = 4, more where q* is small;
    :func:`analyse` is the accurate route). inf at the edge, nan where q has no fixed point."""
    import numpy as np
    from scipy.optimize import brentq

    act = activation(act)
    num = _numeric(act, values)
    try:
        q = fixed_point_float(act, sigma_w2, sigma_b2, values)
    except Diverges:
        return math.nan
    chi1 = float(sigma_w2) * _derivative_float(num, q)
    if chi1 <= 1:
        return math.inf if chi1 == 1 else -1 / math.log(chi1)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    z1, z2 = np.meshgrid(x, x, indexing="ij")
    weights = np.outer(w, w)
    root = math.sqrt(q)

    def pair(fn, c):
        s = math.sqrt(max(0.0, 1 - c * c))
        return float(np.sum(weights * fn(root * z1) * fn(root * (c * z1 + s * z2))))

    def g(c):
        return (float(sigma_w2) * pair(num.phi, c) + float(sigma_b2)) / q - c

    grid = np.linspace(-1, 1 - 1e-3, 11)
    vals = [g(c) for c in grid]
    pairs = range(len(grid) - 1)
    roots = [brentq(g, grid[i], grid[i + 1], xtol=1e-10) for i in pairs if vals[i] * vals[i + 1] < 0]
    roots += [grid[i] for i in pairs if vals[i] == 0]
    chis = [(c, float(sigma_w2) * pair(num.dphi, c)) for c in roots]
    stable = [(c, chi) for c, chi in chis if abs(chi) < 1]
    if not stable:
        return math.nan
    _, chi_c = max(stable)
    return -1 / math.log(chi_c) if 0 < chi_c < 1 else math.inf
