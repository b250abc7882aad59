"""Gains, defined, not typed: what scale of weights keeps a layer's second moment, per activation.

For weights N(0, sigma_w^2 / n) and Z ~ N(0, 1):

- the **forward gain** g = 1/sqrt(E[phi(Z)^2]) is the sigma_w that makes q = 1 a fixed point of the
  layer's second-moment map q -> sigma_w^2 E[phi(sqrt(q) Z)^2] (zero bias);
- the **backward gain** 1/sqrt(E[phi'(Z)^2]) keeps the gradient's second moment at q = 1;
- the **linear-regime gain** 1/|phi'(0)| (Glorot and Bengio's premise, phi(z) ~ phi'(0) z), refused
  where it means nothing (phi(0) != 0, a kink at 0, phi'(0) = 0).

PyTorch's ``calculate_gain`` is shown beside them with what it does per layer at q = 1: the forward
factor torch_gain^2 E[phi(Z)^2] (1 would keep the second moment).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from .activations import Activation, factor_of, gaussian_map, is_homogeneous, linear_regime_factor, lookup
from .registry import get

_FLOAT_MAX = 1.7976931348623157e308
_FLOAT_TINY = 2.2250738585072014e-308  # the smallest normal float64


@cache
def c_phi(name: str) -> sp.Expr:
    """c_phi = E[phi(z)^2]/E[z^2] of a positively homogeneous activation, read off its derivation."""
    act = lookup(name)
    return factor_of(act, get(act.factor_from) if act.factor_from else None)


def gain(name: str) -> sp.Expr:
    """The std gain 1/sqrt(c_phi): sqrt(2) for ReLU, 1 for the identity."""
    return sp.simplify(1 / sp.sqrt(c_phi(name)))


@dataclass(frozen=True)
class Gains:
    """An activation's Gaussian moments at q = 1, the gains they define, and PyTorch's choice."""

    activation: str
    params: dict
    method: str  # "exact" (positively homogeneous: closed form) or "numerical" (mpmath quadrature)
    second_moment: object  # E[phi(Z)^2]
    mean: object  # E[phi(Z)]
    derivative_moment: object  # E[phi'(Z)^2]
    forward: object
    backward: object
    linear_regime: object | None
    linear_regime_refusal: str | None
    torch: object | None
    torch_note: str | None
    torch_forward_factor: object | None
    map_slope: object  # g^2 d/dq E[phi(sqrt(q) Z)^2] at q = 1: the fixed point q = 1 is stable when < 1

    def as_dict(self, digits: int = 30) -> dict:
        import mpmath

        def fmt(v):
            if v is None:
                return None
            return mpmath.nstr(mpmath.mpf(v), digits, min_fixed=-4, max_fixed=6)

        return {
            "activation": self.activation,
            "params": {k: str(v) for k, v in self.params.items()},
            "method": self.method,
            "second_moment": fmt(self.second_moment),
            "mean": fmt(self.mean),
            "derivative_moment": fmt(self.derivative_moment),
            "forward_gain": fmt(self.forward),
            "backward_gain": fmt(self.backward),
            "linear_regime_gain": fmt(self.linear_regime),
            "linear_regime_refusal": self.linear_regime_refusal,
            "torch_gain": fmt(self.torch),
            "torch_note": self.torch_note,
            "torch_forward_factor_per_layer": fmt(self.torch_forward_factor),
            "map_slope_at_fixed_point": fmt(self.map_slope),
        }


def _closed_forms(act: Activation, values, digits: int):
    """(E[phi(Z)^2], E[phi'(Z)^2]) from the activation's closed-form derivation at sigma = 1, or None."""
    import mpmath

    from .expr import sigma

    if act.closed_forms is None or values:
        return None
    d = get(act.closed_forms)
    second, deriv = (d.chain(key).result.rhs.subs(sigma, 1) for key in ("", "derivative"))
    return tuple(mpmath.mpf(sp.N(v, digits + 10)) for v in (second, deriv))


def gains(activation: str | Activation, values: dict | None = None, digits: int = 30) -> Gains:
    """Gains of ``activation`` (a name or an :class:`Activation`) with parameters ``values``."""
    import mpmath

    act = lookup(activation) if isinstance(activation, str) else activation
    act.bound(values)  # validates the parameter names
    with mpmath.workdps(digits + 10):
        closed = _closed_forms(act, values, digits)
        second = closed[0] if closed else gaussian_map(act, "second", 1, values, digits)
        mean = gaussian_map(act, "mean", 1, values, digits)
        deriv = closed[1] if closed else gaussian_map(act, "derivative", 1, values, digits)
        if not (mpmath.isfinite(second) and second > 0):
            raise ValueError(f"E[{act.name}(Z)^2] = {second}: no forward gain")
        forward = 1 / mpmath.sqrt(second)
        slope = forward**2 * gaussian_map(act, "slope", 1, values, digits)
        backward = 1 / mpmath.sqrt(deriv) if mpmath.isfinite(deriv) and deriv > 0 else None
        # mpmath numbers never overflow, but a gain of 1e-391 (phi = exp(30 x): E[phi(Z)^2] = e^1800) is of
        # no use to any float framework: every number shown must be a finite float64.
        for label, v in (
            ("E[phi(Z)^2]", second),
            ("E[phi(Z)]", mean),
            ("E[phi'(Z)^2]", deriv),
            ("the forward gain", forward),
            ("the backward gain", backward),
            ("the map's slope", slope),
        ):
            if v is not None and v != 0 and not (_FLOAT_TINY <= abs(v) <= _FLOAT_MAX):
                raise ValueError(
                    f"{label} = {mpmath.nstr(v, 6)} is outside the float64 range (2.2e-308 to 1.8e308): no usable gain"
                )
        try:
            factor = mpmath.mpf(sp.N(linear_regime_factor(act, values), digits + 10))
            if not (mpmath.isfinite(factor) and factor > 0):
                raise ValueError(f"phi'(0)^2 = {mpmath.nstr(factor, 6)}: no linear regime")
            linear, refusal = 1 / mpmath.sqrt(factor), None
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            linear, refusal = None, str(exc)
        torch = note = torch_factor = None
        if act.torch_gain is not None:
            value, note = act.torch_gain
            table = act.defaults()
            names = {name: symbol for name, (symbol, _) in act.params}
            for key, v in (values or {}).items():
                table[names[key]] = sp.nsimplify(v) if isinstance(v, str) else sp.S(v)
            torch = mpmath.mpf(sp.N(sp.S(value).xreplace(table), digits + 10))
            torch_factor = torch**2 * second
    params = {name: (values or {}).get(name, default) for name, (_, default) in act.params}
    if act.defaults_from:
        params = {name: act.defaults()[symbol] for name, (symbol, _) in act.params} | (values or {})
    return Gains(
        activation=act.name,
        params=params,
        method="exact" if closed or is_homogeneous(act.bound(values)) else "numerical",
        second_moment=second,
        mean=mean,
        derivative_moment=deriv,
        forward=forward,
        backward=backward,
        linear_regime=linear,
        linear_regime_refusal=refusal,
        torch=torch,
        torch_note=note,
        torch_forward_factor=torch_factor,
        map_slope=slope,
    )
