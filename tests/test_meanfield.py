"""derive.meanfield against independent routes: SciPy's adaptive quadrature (QUADPACK) and root finding for the
one-dimensional quantities, the closed-form arc-cosine and arcsine kernels for the correlation map, and exact
rationals for ReLU. Agreement to >= 12 significant digits is asked wherever the route allows it."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize, special

import derive
from derive import meanfield as mf

REL = 1e-12  # the >= 12 significant digits the issue asks for


def _close(a, b, rel=REL):
    return abs(float(a) - float(b)) <= rel * max(abs(float(b)), 1e-300)


def _gauss_expect(g, q):
    """E[g(sqrt(q) Z)] by QUADPACK on the real line (a route independent of the project's quadratures)."""
    root = math.sqrt(q)
    value, _ = integrate.quad(
        lambda z: g(root * z) * math.exp(-z * z / 2), -np.inf, np.inf, epsabs=0, epsrel=1e-13, limit=200
    )
    return value / math.sqrt(2 * math.pi)


def _tanh2(u):
    return math.tanh(u) ** 2


def _sech4(u):
    return (1 - math.tanh(u) ** 2) ** 2


def _q_star_scipy(sw2, sb2, phi2=_tanh2):
    return optimize.brentq(lambda q: sw2 * _gauss_expect(phi2, q) + sb2 - q, 1e-6, 50, xtol=1e-16, rtol=1e-15)


def test_q_star_and_chi1_to_12_digits_tanh():
    sw2, sb2 = 1.76, 0.05
    point = mf.analyse("tanh", sw2, sb2, digits=30)
    q_ref = _q_star_scipy(sw2, sb2)
    assert _close(point.q_star, q_ref)
    assert _close(point.chi1, sw2 * _gauss_expect(_sech4, q_ref))
    assert point.phase == "ordered" and point.c_star == 1.0


def test_q_star_float_route_agrees_with_the_mpmath_route():
    q30 = mf.fixed_point("erf", 2.0, 0.1, digits=30)
    q_float = mf.fixed_point_float("erf", 2.0, 0.1)
    q_ref = _q_star_scipy(2.0, 0.1, lambda u: special.erf(u) ** 2)
    assert _close(q30, q_ref) and _close(q_float, q_ref)


def test_critical_sigma_w2_tanh_to_12_digits_and_30_digit_consistency():
    sb2 = 0.05
    s30, q30 = mf.critical_sigma_w2("tanh", sb2, digits=30)

    def chi1_minus_one(sw2):
        q = _q_star_scipy(sw2, sb2)
        return sw2 * _gauss_expect(_sech4, q) - 1

    s_ref = optimize.brentq(chi1_minus_one, 1.2, 3.0, xtol=1e-15, rtol=1e-15)
    assert _close(s30, s_ref)
    # the 30-digit solution satisfies both equations at 30 digits (mpmath quadrature at 45 digits)
    with mpmath.workdps(45):
        m = mpmath.quad(lambda z: mpmath.tanh(mpmath.sqrt(q30) * z) ** 2 * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])
        d = mpmath.quad(lambda z: mpmath.sech(mpmath.sqrt(q30) * z) ** 4 * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])
        # sigma_b^2 = 0.05 is read as the decimal 1/20, not the nearest binary float
        assert abs(s30 * m + mpmath.mpf(1) / 20 - q30) < mpmath.mpf(10) ** -29
        assert abs(s30 * d - 1) < mpmath.mpf(10) ** -29


def test_relu_edge_of_chaos_is_exactly_two_and_comes_from_the_derivation():
    s, q = mf.critical_sigma_w2("relu", 0)
    assert s == sp.Integer(2) and q is None
    assert derive.get("edge-of-chaos").chain("critical").result.rhs == s
    point = mf.analyse("relu", 2, 0)
    assert point.phase == "critical" and point.chi1 == 1 and point.exact and math.isinf(point.xi_c)
    with pytest.raises(mf.MeanFieldError, match="only at sigma_b\\^2 = 0"):
        mf.critical_sigma_w2("relu", 0.1)
    assert mf.analyse("relu", 3, 0).phase == "exploding"
    # leaky ReLU: 2/(1 + a^2), exactly
    s_leaky, _ = mf.critical_sigma_w2("leaky_relu", 0, values={"negative_slope": "1/5"})
    assert s_leaky == sp.Rational(2) / (1 + sp.Rational(1, 25))


def test_tanh_without_bias_is_critical_at_one_exactly():
    s, q = mf.critical_sigma_w2("tanh", 0)
    assert s == 1 and q == 0
    assert mf.analyse("tanh", 0.5, 0).q_star == 0


def test_correlation_map_matches_the_arc_cosine_kernel():
    q = 1.3
    for c in (-0.9, -0.3, 0.0, 0.4, 0.8, 0.99):
        mapped = mf.correlation_map("relu", 2.0, 0.0, c, q=q)
        assert _close(mapped, 2.0 * mf.relu_kernel(q, c) / (2.0 * q / 2), rel=5e-13)


def test_correlation_map_matches_the_arcsine_kernel_and_c_star_to_12_digits():
    sw2, sb2 = 2.0, 0.1
    point = mf.analyse("erf", sw2, sb2)
    assert point.phase == "chaotic"
    q = _q_star_scipy(sw2, sb2, lambda u: special.erf(u) ** 2)
    for c in (-0.5, 0.2, 0.7, 0.95):
        assert _close(mf.correlation_map("erf", sw2, sb2, c, q=q), (sw2 * mf.erf_kernel(q, c) + sb2) / q, rel=5e-13)
    c_ref = optimize.brentq(lambda c: (sw2 * mf.erf_kernel(q, c) + sb2) / q - c, 0.0, 0.999, xtol=1e-16, rtol=1e-15)
    assert _close(point.c_star, c_ref)


def test_depth_scales_follow_their_definitions():
    point = mf.analyse("tanh", 4.0, 0.05)
    assert point.phase == "chaotic" and 0 < point.c_star < 1
    assert _close(point.xi_c, -1 / math.log(point.chi_c), rel=1e-14)
    # xi_q from the slope of the length map at q*, against a finite difference of the map
    h = 1e-5
    q = float(point.q_star)
    slope = (mf.q_map("tanh", 4.0, 0.05, q + h) - mf.q_map("tanh", 4.0, 0.05, q - h)) / (2 * h)
    assert abs(-1 / math.log(slope) - point.xi_q) < 1e-6 * point.xi_q
    ordered = mf.analyse("tanh", 1.5, 0.05)
    assert ordered.phase == "ordered" and _close(ordered.xi_c, -1 / math.log(float(ordered.chi1)), rel=1e-14)


def test_pair_trajectory_reaches_the_fixed_points():
    traj = mf.pair_trajectory("tanh", 4.0, 0.05, q0=1.0, c0=0.9, depth=200)
    q_end, c_end = traj[-1]
    point = mf.analyse("tanh", 4.0, 0.05)
    assert abs(q_end - float(point.q_star)) < 1e-10
    assert abs(c_end - point.c_star) < 1e-9


def test_fluctuation_ratio_is_the_exact_rational_product():
    assert mf.fluctuation_ratio([4, 4, 4]) == sp.Rational(729, 64)
    assert mf.fluctuation_ratio([100, 100, 100]) == sp.Rational(105, 100) ** 3
    for widths in ([4, 4, 4], [1], [10, 3, 700]):
        ratio = mf.fluctuation_ratio(widths)
        assert ratio.is_Rational and ratio <= mf.hanin_rolnick_bound(widths)


@pytest.mark.parametrize("bad", [(-1.0, 0.0), (1.0, -0.1), (float("nan"), 0.0), (0.0, 0.1), (float("inf"), 0.0)])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(mf.MeanFieldError):
        mf.analyse("tanh", *bad)


def test_coarse_xi_c_for_the_heat_map_agrees_with_the_accurate_route():
    for sw2, sb2 in ((4.0, 0.05), (2.0, 0.05), (1.5, 0.0), (3.0, 0.3), (1.0, 0.2)):
        coarse, accurate = mf.xi_c_coarse("tanh", sw2, sb2), mf.analyse("tanh", sw2, sb2).xi_c
        assert abs(coarse - accurate) <= 1e-3 * accurate, (sw2, sb2, coarse, accurate)
    assert math.isnan(mf.xi_c_coarse("relu", 3.0, 0.0))


def _mp_gauss(fn, q):
    """E[fn(sqrt(q) Z)] by mpmath, split where a large q makes fn(sqrt(q) z) change (an independent route)."""
    root = mpmath.sqrt(q)
    cuts = sorted({0, *(s * u / root for u in (0.5, 2, 8, 32) for s in (1, -1))})
    with mpmath.workdps(30):
        return mpmath.quad(lambda z: fn(root * z) * mpmath.npdf(z), [-mpmath.inf, *cuts, mpmath.inf])


def test_large_q_star_is_resolved():
    """A hostile review found the float route wrong at sigma_w^2 = 1e6 (q* off by 6e-4, chi_1 by a factor 100)."""
    point = mf.analyse("tanh", 1e6, 0, digits=15)
    q = point.q_star
    assert abs(1e6 * _mp_gauss(lambda u: mpmath.tanh(u) ** 2, q) - q) < 1e-9 * q
    assert _close(point.chi1, 1e6 * _mp_gauss(lambda u: mpmath.sech(u) ** 4, q), rel=1e-10)


def _last_bit_noise(fn):
    """``fn`` with its last bit flipped at pseudo-random points (a hash of each argument's bits): what another
    CPU's or libm's tanh gives (AVX-512 NumPy's tanh differs from AVX2's there)."""

    def noisy(u):
        u = np.asarray(u, dtype=float)
        flip = (u.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(63)
        return fn(u) * (1 + (2.0 * flip - 1) * 2.0**-53)

    return noisy


def test_a_pair_moment_that_cancels_inside_resolves_whatever_the_last_bit():
    """At c near 0 E[tanh(u_2) | u_1] is rounding (1e-16), not a small exact value: the check that two rules agree
    is relative to the integral of |f(u_1) g(u_2)|, not of |f(u_1) E[g(u_2) | u_1]| (which made the check demand
    agreement to 1e-24 and fail on a CPU whose tanh rounds otherwise)."""
    from derive.pairquad import pair_expect

    for q, c in ((999202.0, 5e-16), (1e4, 1e-12), (50.0, -3e-14)):
        # odd phi: E[phi(u_1) phi(u_2)] = c q E[phi'(sqrt(q) Z)]^2 + O(c^3), the slope by mpmath's quadrature
        exact = c * q * float(_mp_gauss(lambda u: mpmath.sech(u) ** 2, q)) ** 2
        for fn in (np.tanh, _last_bit_noise(np.tanh)):
            value = pair_expect(fn, fn, q, c)
            # the integrand's size is E|tanh tanh| <= 1: its float64 rounding, about 1e-16, is what can be asked
            assert abs(value - exact) <= 1e-16, (q, c, value, exact)


@pytest.mark.parametrize("q", [10.0, 1e3, 1e4, 1e6])
def test_a_pair_moment_the_pieces_cannot_resolve_is_refused_not_wrong(q):
    """sin(sqrt(q) z) oscillates faster than the pieces at large q: the agreement check must refuse it or, where
    finer pieces resolve it, give E[sin u_1 sin u_2] = exp(-q) sinh(q c) (a check made too lenient returned
    0.0022 at q = 1e4, where the moment is below 1e-300)."""
    from derive.pairquad import MeanFieldError, pair_expect

    c = 0.3
    exact = float(mpmath.exp(-q) * mpmath.sinh(q * c))
    try:
        value = pair_expect(np.sin, np.sin, q, c)
    except MeanFieldError:
        return
    assert abs(value - exact) <= 1e-16 + 1e-12 * abs(exact), (value, exact)


def test_newton_for_the_edge_accepts_steps_at_the_quadratures_rounding(monkeypatch):
    """Float64 Newton steps settle into a 2-cycle of about 1e-15 when the quadratures' rounding differs by an ulp
    (seen at sigma_b^2 = 0.04219 on an AVX-512 CPU); that is converged for the 13 digits this route gives."""
    exact = [float(v) for v in mf.critical_sigma_w2("tanh", 0.04219, digits=12)]
    calls = iter(range(10**9))
    real = mf.expect

    def noisy(g, q, kinks_t=()):  # alternating +-3 ulp: a quadrature whose rounding moves with its argument
        return real(g, q, kinks_t) * (1 + (-1) ** next(calls) * 3 * 2.0**-52)

    monkeypatch.setattr(mf, "expect", noisy)
    s, q = mf.critical_sigma_w2("tanh", 0.04219, digits=12)
    assert abs(s - exact[0]) <= 1e-13 * exact[0] and abs(q - exact[1]) <= 1e-13 * exact[1]


def test_the_edge_of_chaos_is_found_at_every_bias_the_phase_diagram_draws():
    from montecarlo.meanfield_figures import ACTIVATION, EDGE_B2

    edges = [float(mf.critical_sigma_w2(ACTIVATION, b2, digits=12)[0]) for b2 in EDGE_B2]
    assert all(b > a for a, b in zip(edges[:-1], edges[1:], strict=True))  # sigma_w^2 at the edge grows with sigma_b^2


def test_a_kink_at_zero_uses_both_slopes_when_q_star_is_zero():
    """q* = 0 with a kink at 0: chi_1 = sigma_w^2 (phi'(0+)^2 + phi'(0-)^2)/2, not one side's slope."""
    assert mf.analyse("relu6", 1, 0).chi1 == sp.Rational(1, 2)
    assert mf.analyse("elu", 0.1, 0, values={"alpha": 2}).chi1 == sp.Rational(1, 4)
    lam, alpha = (
        mf.activation("selu").defaults()[s]
        for s in (sp.Symbol(r"\lambda", positive=True), sp.Symbol(r"\alpha", positive=True))
    )
    s, q = mf.critical_sigma_w2("selu", 0)
    assert q == 0 and abs(float(s) - 2 / (float(lam) ** 2 * (1 + float(alpha) ** 2))) < 1e-12


def test_shown_digits_do_not_change_the_phase(capsys):
    from initvar.cli import main

    main(["meanfield", "--activation", "tanh", "--sigma-w2", "1.5", "--digits", "1"])
    assert "phase  chaotic" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "fn", "sw2", "sb2"),
    [("tanh", sp.tanh, 1.76, 0.05), ("erf", sp.erf, 2.0, 0.1), ("tanh", sp.tanh, 3.0, 0.2)],
)
def test_the_numerics_agree_with_the_signal_propagation_derivation(name, fn, sw2, sb2):
    """The slopes analyse() reports come from other formulas than the derivation's: the length map's slope from
    the density's derivative, E[phi^2 (Z^2 - 1)]/(2q), against chi_1 + sigma_w^2 E[phi phi''] (Leibniz and Stein);
    chi_c from the float pair quadrature against the Price chain's right-hand side, evaluated by the
    derivation's own model (the pair in the other Cholesky order). A wrong slope formula on either side fails."""
    from derive.catalog.meanfield import _SmoothPhi

    point = mf.analyse(name, sw2, sb2, digits=12)
    d = derive.get("signal-propagation")
    at = (sp.Float(sw2, 17), sp.Float(sb2, 17), sp.Float(float(point.q_star), 17), sp.Float(point.c_star, 17))
    model = _SmoothPhi(name, fn, (at,))
    slope = model.evaluate(d.chain("length-slope").result.rhs, frozenset())[0]
    assert _close(slope, point.q_slope, 1e-10)
    chi1 = model.evaluate(d.chain("chi1").result.rhs, frozenset())[0]
    assert _close(chi1, point.chi1, 1e-10)
    if point.c_star < 1:  # the correlation map's slope at c* < 1 (chaotic), from Price's theorem
        chi_c = model.evaluate(d.result.rhs, frozenset())[0]
        assert _close(chi_c, point.chi_c, 1e-9)


def test_hardtanh_without_bias_is_critical_at_one_though_q_falls_only_logarithmically():
    """hardtanh at sigma_w^2 = 1, sigma_b^2 = 0: the length map is q minus an exp(-1/(2q)) deficit, so q^l falls
    to 0 like 1/(2 ln l) and no number of layers reaches it; the slope at 0 is exactly 1: critical."""
    point = mf.analyse("hardtanh", 1, 0)
    assert float(point.q_star) == 0 and point.chi1 == 1 and point.phase == "critical" and point.xi_c == math.inf
    assert mf.analyse("hardtanh", 0.9, 0).phase == "ordered"
    assert float(mf.analyse("hardtanh", 1.1, 0).q_star) > 0.2


def test_an_activation_that_oscillates_fast_is_integrated_on_finer_pieces_or_refused():
    """sin at sigma_w^2 = 5000: q* = 2500 (1 - e^{-5000}) ~ 2500, where sin(sqrt(q) z) turns 50 radians per standard
    deviation; pieces of one standard deviation called it 'exploding'. Each moment is now checked against pieces half
    as wide and refined until the two agree; what finer pieces cannot resolve is refused, not reported."""
    from derive.pairquad import MeanFieldError, expect

    for q in (1.0, 2500.0, 1e5):
        assert _close(expect(lambda u: np.sin(u) ** 2, q), -math.expm1(-2 * q) / 2, 1e-12)
    assert _close(mf.fixed_point_float("sin", 5000, 0), 2500.0, 1e-12)
    with pytest.raises(MeanFieldError, match="could not be resolved"):
        expect(lambda u: np.sin(1e4 * u) ** 2, 1e6)
