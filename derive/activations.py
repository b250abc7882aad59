"""Activations as plain data: expression, derivative, and where their second-moment factor comes from.

The factor c_phi = E[phi(z)^2] / E[z^2] for symmetric z is *derived*: ReLU's and leaky ReLU's
come from their derivations' results; smooth sigmoid-type functions get the linear-regime
factor phi'(0)^2 (Glorot & Bengio 2010's premise), computed here by differentiation. Exact
Gaussian second moments E[phi(sqrt(q) Z)^2] come from SymPy when it has a closed form and
from mpmath quadrature otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from .expr import E, a, leaky_relu, relu, t, z


@dataclass(frozen=True)
class Activation:
    """One activation: ``expr`` in the variable ``t``; ``factor_from`` names the derivation
    whose result gives c_phi (or ``"linear-regime"``); ``heuristic_gain`` is a framework's
    empirical std gain, kept only to be shown beside the derived one."""

    name: str
    expr: sp.Expr
    factor_from: str
    heuristic_gain: tuple[sp.Expr, str] | None = None
    derivative_expr: sp.Expr | None = None  # where sp.diff would leave Dirac deltas (t*delta(t) = 0)

    @property
    def derivative(self) -> sp.Expr:
        return self.derivative_expr if self.derivative_expr is not None else sp.diff(self.expr, t)

    def at_zero(self) -> sp.Expr:
        """phi(0): what every unit outputs when all weights and biases are zero."""
        return sp.simplify(self.expr.subs(t, 0))


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("linear", t, "linear-regime"),
        Activation("relu", relu(t), "relu-second-moment"),
        Activation(
            "leaky_relu",
            leaky_relu(t, a),
            "leaky-relu-second-moment",
            derivative_expr=sp.Heaviside(t) + a * sp.Heaviside(-t),
        ),
        # PyTorch's calculate_gain('tanh') = 5/3 is an empirical choice (torch/nn/init.py).
        Activation("tanh", sp.tanh(t), "linear-regime", (sp.Rational(5, 3), "PyTorch calculate_gain, empirical")),
        Activation("sigmoid", 1 / (1 + sp.exp(-t)), "linear-regime"),
    )
}

DEFAULT_LEAKY_SLOPE = sp.Rational(1, 100)  # PyTorch's default negative_slope for leaky_relu


def lookup(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


def factor_of(act: Activation, source=None) -> sp.Expr:
    """c_phi of ``act``: phi'(0)^2 in the linear regime, else read off ``source``'s result
    E[phi(z)^2] = c_phi E[z^2] (``source``: the derivation named by ``act.factor_from``)."""
    if act.factor_from == "linear-regime":
        at_zero = act.at_zero()
        if at_zero != 0:
            raise ValueError(
                f"{act.name}(0) = {at_zero} != 0: E[{act.name}(z)^2] is no multiple of E[z^2], so it has no "
                "activation factor c_phi (its second-moment map is q -> E[phi(sqrt(q) Z)^2], not c_phi q)"
            )
        return sp.simplify(act.derivative.subs(t, 0) ** 2)
    factor = sp.simplify(source.result.rhs / E(z**2))
    if factor.has(E):
        raise ValueError(f"{act.factor_from} does not give a multiple of E[z^2]")
    return factor


@cache
def c_phi(name: str) -> sp.Expr:
    """The second-moment factor c_phi of activation ``name`` (symbolic in the slope ``a``)."""
    act = lookup(name)
    if act.factor_from == "linear-regime":
        return factor_of(act)
    from .registry import get

    return factor_of(act, get(act.factor_from))


def gain(name: str) -> sp.Expr:
    """The std gain 1/sqrt(c_phi): sqrt(2) for ReLU, 1 in the linear regime."""
    return sp.simplify(1 / sp.sqrt(c_phi(name)))


def gaussian_second_moment(name: str, q: float, slope: float = float(DEFAULT_LEAKY_SLOPE)) -> float:
    """E[phi(sqrt(q) Z)^2] for Z ~ N(0, 1): the exact infinite-width map of a layer's second moment."""
    if q < 0:
        raise ValueError("q must be non-negative")
    act = lookup(name)
    if act.factor_from != "linear-regime" or name == "linear":
        return float(c_phi(name).subs(a, slope)) * q  # exact for positively homogeneous phi
    import mpmath

    fn = sp.lambdify(t, act.expr, modules="mpmath")
    root_q = mpmath.sqrt(q)
    with mpmath.workdps(30):
        value = mpmath.quad(
            lambda u: fn(root_q * u) ** 2 * mpmath.exp(-u * u / 2) / mpmath.sqrt(2 * mpmath.pi),
            [-mpmath.inf, 0, mpmath.inf],
        )
    return float(value)
