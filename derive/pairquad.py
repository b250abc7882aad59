"""Float64 Gaussian quadratures for the mean-field maps: E[g(sqrt(q) Z)] and, for a centred Gaussian pair,
E[f(u_1) g(u_2)], by composite Gauss-Legendre rules split at kinks (good to about 1e-13)."""

from __future__ import annotations

import math
from functools import lru_cache

#: |z| beyond which the standard normal density (< 1e-22) is dropped in the float64 quadratures.
_Z_MAX = 10.0
_GL_ORDER = 24
_PIECE = 1.0


class MeanFieldError(ValueError):
    """A mean-field quantity that does not exist (q diverges) or could not be computed (one line)."""


# -- float64 quadrature -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _gl():
    import numpy as np

    x, w = np.polynomial.legendre.leggauss(_GL_ORDER)
    return x, w


def _nodes(breaks, piece: float = _PIECE):
    return _nodes_cached(tuple(float(b) for b in breaks), piece)


@lru_cache(maxsize=4096)
def _nodes_cached(breaks, piece=_PIECE):
    """Composite Gauss-Legendre nodes and weights on [-_Z_MAX, _Z_MAX], pieces of at most ``piece``, split at
    ``breaks`` (kinks in z): sum(w f(x)) approximates the integral of f."""
    import numpy as np

    edges = np.arange(-_Z_MAX, _Z_MAX + piece / 2, piece)
    inner = [b for b in breaks if -_Z_MAX < b < _Z_MAX]
    if inner:
        edges = np.unique(np.concatenate([edges, inner]))
    lo, hi = edges[:-1], edges[1:]
    x, w = _gl()
    half = (hi - lo)[:, None] / 2
    nodes = (lo[:, None] + half * (x[None, :] + 1)).ravel()
    weights = (half * w[None, :]).ravel()
    return nodes, weights


def _density(z):
    import numpy as np

    return np.exp(-z * z / 2) / math.sqrt(2 * math.pi)


#: Where a steep or saturating phi does its work: |u| in these, scaled into z by 1/sqrt(q) once q is large.
_U_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def _scale_breaks(q: float) -> list:
    """Extra piece boundaries in z at u = +-U/sqrt(q) for large q: phi(sqrt(q) z) changes on a scale 1/sqrt(q)
    there, which pieces of width 1 cannot resolve."""
    if q <= 4:
        return []
    root = math.sqrt(q)
    return [sign * u / root for u in _U_SCALES for sign in (1, -1)]


#: Agreement (relative to the integral of |integrand|) between a quadrature and the same on pieces half as wide
#: that counts as resolved. Smooth integrands agree to about 1e-14; an activation the pieces do not resolve (sin
#: at large q) disagrees by 1e-3 or more; between them is evaluation noise (exp(u) - 1 near 0, say), which finer
#: pieces do not remove, so the line is drawn well above it.
_RESOLVED = 1e-8
#: Halvings of the pieces tried before a Gaussian moment is declared unresolvable (pieces of 1/256).
_MAX_HALVINGS = 8
#: The same for a Gaussian pair's moments (pieces of 1/8).
_MAX_PAIR_HALVINGS = 3


def _agree(a, b) -> bool:
    """Two (value, scale) results agree: the values to _RESOLVED relative to the integral of |integrand| (a
    moment that is nearly 0 by cancellation agrees to rounding, not to its own size)."""
    return abs(a[0] - b[0]) <= _RESOLVED * max(a[1], b[1], 1e-300)


def _resolved(rule, first, halvings: int, what: str) -> float:
    """The value of ``rule`` (piece width -> (value, scale)), whose result on pieces of _PIECE is ``first``: the
    first value when the rule on pieces half as wide agrees with it, else the first of successive halvings that
    agrees with the one before; MeanFieldError naming ``what`` after ``halvings`` halvings without agreement."""
    previous, piece = first, _PIECE / 2
    for halving in range(halvings):
        result = rule(piece)
        if _agree(result, previous):
            return first[0] if halving == 0 else result[0]
        previous, piece = result, piece / 2
    raise MeanFieldError(
        f"{what} could not be resolved: the activation varies faster than quadrature pieces of {2 * piece:.3g} "
        "standard deviations resolve"
    )


def expect(g, q: float, kinks_t=()) -> float:
    """E[g(sqrt(q) Z)], Z ~ N(0, 1), float64 (g vectorized). Checked against the same rule on pieces half as
    wide, and refined (halving again) until two agree: an activation that oscillates faster than the pieces
    resolve (sin at large q) is integrated on finer ones, or refused with MeanFieldError; where the first two
    agree the first is returned."""
    import numpy as np

    if q == 0:
        return float(g(np.zeros(1))[0])
    root = math.sqrt(q)
    breaks = [k / root for k in kinks_t] + _scale_breaks(q)

    def rule(piece):
        z, w = _nodes(breaks, piece)
        with np.errstate(over="ignore", invalid="ignore"):
            terms = w * _density(z) * g(root * z)
            value, scale = float(np.sum(terms)), float(np.sum(np.abs(terms)))
        if not math.isfinite(value):
            raise MeanFieldError(f"a Gaussian moment at q = {q:.6g} is not finite")
        return value, scale

    return _resolved(rule, rule(_PIECE), _MAX_HALVINGS, f"a Gaussian moment at q = {q:.6g}")


def pair_expect(f, g, q: float, c: float, kinks_t=()) -> float:
    """E[f(u_1) g(u_2)] with (u_1, u_2) ~ N(0, q [[1, c], [c, 1]]), float64, nested quadrature: the inner
    integral over u_2 given u_1 is split at the kinks (which move with u_1)."""
    import numpy as np

    if q == 0:
        zero = np.zeros(1)
        return float(f(zero)[0] * g(zero)[0])
    root = math.sqrt(q)
    c = min(1.0, max(-1.0, c))
    s = math.sqrt(max(0.0, 1.0 - c * c))
    scaled = _scale_breaks(q)
    points_u = list(kinks_t) + [b * root for b in scaled]  # where phi(u_2) needs boundaries, in u

    def rule(piece):
        z1, w1 = _nodes([k / root for k in kinks_t] + scaled, piece)
        weight1 = w1 * _density(z1)
        with np.errstate(over="ignore", invalid="ignore"):
            f1 = f(root * z1)
            # inner: E[g(u_2) | u_1] at each outer node; inner_abs: E[|g(u_2)| | u_1], so that the scale below is the
            # integral of |f(u_1) g(u_2)|, the size the inner integral's rounding is relative to (c near 0 cancels
            # inside it: E[tanh(u_2) | u_1] is rounding of order 1e-16 then, not a small exact value)
            if s == 0:
                inner = g(root * c * z1)
                inner_abs = np.abs(inner)
            elif not points_u:
                z2, w2 = _nodes((), piece)
                u2 = root * (c * z1[:, None] + s * z2[None, :])
                values, inner_weights = g(u2), w2 * _density(z2)
                inner, inner_abs = values @ inner_weights, np.abs(values) @ inner_weights
            else:
                inner, inner_abs = np.empty_like(z1), np.empty_like(z1)
                for i, zi in enumerate(z1):
                    z2, w2 = _nodes([(k / root - c * zi) / s for k in points_u], piece)
                    values, inner_weights = g(root * (c * zi + s * z2)), w2 * _density(z2)
                    inner[i], inner_abs[i] = np.dot(inner_weights, values), np.dot(inner_weights, np.abs(values))
            terms = weight1 * f1 * inner
            value = float(np.sum(terms))
            scale = float(np.sum(np.abs(weight1 * f1) * inner_abs))
        if not math.isfinite(value):
            raise MeanFieldError(f"a Gaussian moment at q = {q:.6g}, c = {c:.6g} is not finite")
        return value, scale

    first = rule(_PIECE)
    if q <= 4:
        return first[0]
    # Past q = 4 phi(sqrt(q) z) changes faster in z: checked against the same rule on pieces half as wide and
    # refined as in expect, but at most _MAX_PAIR_HALVINGS times (each halving costs four times as much).
    return _resolved(rule, first, _MAX_PAIR_HALVINGS, f"a Gaussian pair moment at q = {q:.6g}, c = {c:.6g}")
