"""One home per activation: its SymPy expression, parameters, NumPy callable and Gaussian maps.

Adding an activation is one :class:`Activation` entry in ``ACTIVATIONS`` (or one
:func:`register` call at run time): its gains (:mod:`derive.gains`), its LaTeX, its samplers
and its Monte Carlo check all follow from the entry.

For z ~ N(0, q) an activation has three Gaussian maps (the infinite-width maps of a layer, as
neural-tangents pairs a layer's function with its kernel):

- the second moment  m(q)  = E[phi(sqrt(q) Z)^2],
- the mean           mu(q) = E[phi(sqrt(q) Z)],
- the derivative map d(q)  = E[phi'(sqrt(q) Z)^2].

A positively homogeneous phi (phi(s t) = s phi(t) for s > 0: linear, ReLU, leaky ReLU, |t|) has
m(q) = q (phi(1)^2 + phi(-1)^2)/2 exactly, by the symmetric-density argument of the
``relu-second-moment`` derivation; homogeneity is decided symbolically, once. Every other map is
mpmath quadrature to 30 digits, split at the activation's kinks, and labelled ``numerical``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import sympy as sp

from .expr import E, a, leaky_relu, relu, t, z

#: PyTorch's default negative_slope for leaky_relu (torch.nn.LeakyReLU): the one definition of it.
DEFAULT_LEAKY_SLOPE = sp.Rational(1, 100)

alpha = sp.Symbol(r"\alpha", positive=True)
beta = sp.Symbol(r"\beta", positive=True)
lam = sp.Symbol(r"\lambda", positive=True)

_SELU_DIGITS = 30


@dataclass(frozen=True)
class Activation:
    """One activation.

    ``expr`` is phi(t) with parameter symbols; ``params`` maps each parameter's CLI name to
    (symbol, default). ``factor_from`` names the derivation whose result gives c_phi for the
    positively homogeneous ReLU family (None elsewhere). ``torch_gain`` is PyTorch's
    ``calculate_gain`` value (std factor) with a note, shown beside the derived gains only.
    ``derivative_expr`` replaces sp.diff where that would leave Dirac deltas (t delta(t) = 0).
    """

    name: str
    expr: sp.Expr
    params: tuple = ()
    factor_from: str | None = None
    torch_gain: tuple | None = None
    derivative_expr: sp.Expr | None = None
    title: str = ""
    defaults_from: str | None = field(default=None, compare=False)  # e.g. SELU: derived constants

    # -- the expression -----------------------------------------------------------------------------
    def defaults(self) -> dict:
        if self.defaults_from == "selu":
            return dict(selu_constants())  # a copy: callers add their own values to it
        return {symbol: value for _, (symbol, value) in self.params}

    def bound(self, values: dict | None = None) -> sp.Expr:
        """phi(t) with every parameter given a value (``values`` by CLI name, else the default)."""
        table = self.defaults()
        names = {name: symbol for name, (symbol, _) in self.params}
        for key, value in (values or {}).items():
            if key not in names:
                known = ", ".join(names) or "none"
                raise KeyError(f"{self.name} has no parameter {key!r} (parameters: {known})")
            table[names[key]] = sp.nsimplify(value) if isinstance(value, str) else sp.S(value)
        return self.expr.xreplace(table) if table else self.expr

    @property
    def derivative(self) -> sp.Expr:
        if self.derivative_expr is not None:
            return self.derivative_expr
        return _no_delta(sp.diff(self.expr, t))

    def bound_derivative(self, values: dict | None = None) -> sp.Expr:
        table = self.defaults()
        names = {name: symbol for name, (symbol, _) in self.params}
        for key, value in (values or {}).items():
            table[names[key]] = sp.nsimplify(value) if isinstance(value, str) else sp.S(value)
        return self.derivative.xreplace(table) if table else self.derivative

    def at_zero(self, values: dict | None = None) -> sp.Expr:
        """phi(0): what every unit outputs when all weights and biases are zero."""
        return sp.simplify(self.bound(values).subs(t, 0))

    # -- properties decided symbolically ---------------------------------------------------------
    def homogeneous(self, values: dict | None = None) -> bool:
        """phi(s t) = s phi(t) for every s > 0: on each half-line phi(t)/t is a constant."""
        return _homogeneous(self.bound(values))

    # -- NumPy ------------------------------------------------------------------------------------
    def numpy(self, values: dict | None = None, dtype=None):
        """(phi, phi') as vectorized NumPy/SciPy callables (scipy.special.erf for erf, ...)."""
        return _numpy_pair(self.bound(values), self.bound_derivative(values))


def _no_delta(expr):
    """Drop Dirac deltas: they sit at kinks (a null set for any density) and multiply t or 0 there."""
    return sp.S(expr).replace(sp.DiracDelta, lambda *args: sp.S.Zero)


_S = sp.Symbol("s_hom", positive=True)


def _homogeneous(expr) -> bool:
    for sign in (1, -1):
        ratio = sp.simplify(sp.S(expr).subs(t, sign * _S) / _S)
        if ratio.has(_S):
            return False
    return True


@cache
def _numpy_pair(expr, deriv):
    import numpy as np

    modules = ["scipy", "numpy"]
    fn = sp.lambdify(t, expr, modules)
    dfn = sp.lambdify(t, _no_delta(deriv), modules)

    def phi(v):
        with np.errstate(over="ignore"):
            return np.broadcast_to(np.asarray(fn(v), dtype=v.dtype), v.shape)

    def dphi(v):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.broadcast_to(np.asarray(dfn(v), dtype=v.dtype), v.shape)

    return phi, dphi


def _piecewise(positive, negative):
    return sp.Piecewise((positive, t > 0), (negative, True))


def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


ACTIVATIONS: dict[str, Activation] = {}


def register(activation: Activation) -> Activation:
    """Add an activation (one entry is all a new activation needs); returns it."""
    if activation.name in ACTIVATIONS and ACTIVATIONS[activation.name] != activation:
        raise ValueError(f"an activation called {activation.name!r} exists already")
    ACTIVATIONS[activation.name] = activation
    return activation


def unregister(name: str) -> None:
    ACTIVATIONS.pop(name, None)


# PyTorch's calculate_gain values are its own choices (torch/nn/init.py): tanh 5/3 and selu 3/4 are
# empirical (pytorch issues #24991, #57109, PR #50664); relu sqrt(2) and leaky sqrt(2/(1+a^2)) match
# the derived forward gains. Shown beside the derived gains, never used as theory.
for _act in (
    Activation("linear", t, factor_from=None, torch_gain=(sp.S.One, "calculate_gain('linear')"), title="identity"),
    Activation(
        "relu",
        relu(t),
        factor_from="relu-second-moment",
        torch_gain=(sp.sqrt(2), "calculate_gain('relu')"),
        title="ReLU",
    ),
    Activation(
        "leaky_relu",
        leaky_relu(t, a),
        params=(("negative_slope", (a, DEFAULT_LEAKY_SLOPE)),),
        factor_from="leaky-relu-second-moment",
        torch_gain=(sp.sqrt(2 / (1 + a**2)), "calculate_gain('leaky_relu', a)"),
        derivative_expr=sp.Heaviside(t) + a * sp.Heaviside(-t),
        title="leaky ReLU",
    ),
    Activation("elu", _piecewise(t, alpha * (sp.exp(t) - 1)), params=(("alpha", (alpha, sp.S.One)),), title="ELU"),
    Activation(
        "selu",
        lam * _piecewise(t, alpha * (sp.exp(t) - 1)),
        params=(("alpha", (alpha, None)), ("scale", (lam, None))),
        torch_gain=(sp.Rational(3, 4), "calculate_gain('selu'), empirical"),
        title="SELU",
        defaults_from="selu",
    ),
    Activation(
        "celu", _piecewise(t, alpha * (sp.exp(t / alpha) - 1)), params=(("alpha", (alpha, sp.S.One)),), title="CELU"
    ),
    Activation("gelu", t * (1 + sp.erf(t / sp.sqrt(2))) / 2, title="GELU (exact, erf)"),
    Activation(
        "gelu_tanh",
        t / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (t + sp.Rational(44715, 1000000) * t**3))),
        title="GELU (tanh approximation)",
    ),
    Activation("silu", t * _sigmoid(t), title="SiLU / swish"),
    Activation("mish", t * sp.tanh(sp.log(1 + sp.exp(t))), title="Mish"),
    Activation("softplus", sp.log(1 + sp.exp(beta * t)) / beta, params=(("beta", (beta, sp.S.One)),), title="softplus"),
    Activation("tanh", sp.tanh(t), torch_gain=(sp.Rational(5, 3), "calculate_gain('tanh'), empirical"), title="tanh"),
    Activation("sigmoid", _sigmoid(t), torch_gain=(sp.S.One, "calculate_gain('sigmoid')"), title="logistic sigmoid"),
    Activation("hardtanh", sp.Min(1, sp.Max(-1, t)), title="hardtanh"),
    Activation("hardswish", t * sp.Min(sp.Max(t + 3, 0), 6) / 6, title="hardswish"),
    Activation("hardsigmoid", sp.Min(sp.Max(t / 6 + sp.Rational(1, 2), 0), 1), title="hardsigmoid"),
    Activation("relu6", sp.Min(sp.Max(0, t), 6), title="ReLU6"),
    Activation("softsign", t / (1 + sp.Abs(t)), title="softsign"),
    Activation("erf", sp.erf(t), title="erf"),
    Activation("sin", sp.sin(t), title="sine"),
    Activation("abs", sp.Abs(t), title="absolute value"),
):
    register(_act)


def lookup(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


# -- SELU's constants ------------------------------------------------------------------------------


@cache
def selu_conditions():
    """E[selu(Z)] and E[selu(Z)^2] for Z ~ N(0, 1) in closed form (SymPy integrates each half-line)."""
    gauss = sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)
    neg = alpha * (sp.exp(t) - 1)
    mean = lam * (sp.integrate(t * gauss, (t, 0, sp.oo)) + sp.integrate(neg * gauss, (t, -sp.oo, 0)))
    second = lam**2 * (sp.integrate(t**2 * gauss, (t, 0, sp.oo)) + sp.integrate(neg**2 * gauss, (t, -sp.oo, 0)))
    return sp.simplify(mean), sp.simplify(second)


@cache
def selu_constants(digits: int = _SELU_DIGITS) -> dict:
    """SELU's alpha and lambda from the self-normalizing fixed point (Klambauer et al. 2017, arXiv
    1706.02515): mean 0 and second moment 1 for N(0, 1) input; alpha solves the mean condition (linear
    in alpha), lambda the second-moment one."""
    mean, second = selu_conditions()
    (alpha_value,) = sp.solve(sp.Eq(mean / lam, 0), alpha)
    (lam_value,) = [v for v in sp.solve(sp.Eq(second.subs(alpha, alpha_value), 1), lam) if v.is_positive]
    return {alpha: sp.Float(sp.N(alpha_value, digits + 5), digits), lam: sp.Float(sp.N(lam_value, digits + 5), digits)}


# -- the factor c_phi (positively homogeneous activations) -----------------------------------------


def factor_of(act: Activation, source=None) -> sp.Expr:
    """c_phi = E[phi(z)^2]/E[z^2] for symmetric z: read off ``source``'s result (the derivation named by
    ``act.factor_from``), or 1 for the identity. Refused for activations without one."""
    if act.name == "linear":
        return sp.S.One
    if act.factor_from is None or source is None:
        at_zero = act.at_zero()
        if at_zero != 0:
            raise ValueError(
                f"{act.name}(0) = {at_zero} != 0: E[{act.name}(z)^2] is no multiple of E[z^2], so it has no "
                "activation factor c_phi (its second-moment map is q -> E[phi(sqrt(q) Z)^2], not c_phi q)"
            )
        raise ValueError(
            f"{act.name} is not positively homogeneous: E[phi(z)^2]/E[z^2] depends on the scale of z; "
            "use its Gaussian map E[phi(sqrt(q) Z)^2] (initvar gain) instead of a factor"
        )
    factor = sp.simplify(source.result.rhs / E(z**2))
    if factor.has(E):
        raise ValueError(f"{act.factor_from} does not give a multiple of E[z^2]")
    return factor


def linear_regime_factor(act: Activation, values: dict | None = None) -> sp.Expr:
    """phi'(0)^2, Glorot and Bengio's linear-regime factor; refused where phi(0) != 0 or phi'(0) = 0."""
    at_zero = act.at_zero(values)
    if at_zero != 0:
        raise ValueError(f"{act.name}(0) = {at_zero} != 0: the linear regime phi(z) ~ phi'(0) z does not hold at 0")
    deriv = _no_delta(act.bound_derivative(values))
    # One-sided derivatives at 0, at 60 digits (SymPy's limit cannot expand Min/Max); the exact value is
    # then recognised as a simple closed form and checked against the numbers.
    tiny = sp.Rational(1, 10**40)
    right, left = (sp.N(deriv.subs(t, sign * tiny), 60) for sign in (1, -1))
    if abs(right - left) > 1e-20:
        raise ValueError(
            f"{act.name} has a kink at 0 (phi'(0-) = {float(left):.6g}, phi'(0+) = {float(right):.6g}): no linear regime"
        )
    if abs(right) < 1e-30:
        raise ValueError(f"{act.name}'(0) = 0: no linear regime")
    exact = sp.simplify(deriv.subs(t, 0))
    if exact.has(sp.nan, sp.zoo) or not exact.is_number or abs(sp.N(exact, 60) - right) > 1e-30:
        exact = sp.nsimplify(right, tolerance=1e-35, rational=False)
    return sp.simplify(exact**2)


# -- Gaussian maps -----------------------------------------------------------------------------------


def kinks(expr) -> list:
    """The real points where phi or phi' may jump (arguments of Max/Min/Abs/Heaviside/Piecewise)."""
    points = set()
    expr = sp.S(expr)
    for node in sp.preorder_traversal(expr):
        candidates = []
        if isinstance(node, (sp.Max, sp.Min)):
            args = node.args
            candidates = [args[i] - args[j] for i in range(len(args)) for j in range(i + 1, len(args))]
        elif isinstance(node, (sp.Abs, sp.Heaviside, sp.sign)):
            candidates = [node.args[0]]
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                if isinstance(cond, sp.core.relational.Relational):
                    candidates.append(cond.lhs - cond.rhs)
        for cand in candidates:
            if not cand.has(t):
                continue
            try:
                sols = sp.solve(sp.Eq(cand, 0), t)
            except NotImplementedError:
                continue
            for s in sols:
                if s.is_real and s.is_finite:
                    points.add(sp.nsimplify(s))
    return sorted(points, key=float)


def gaussian_map(act: Activation, kind: str, q, values: dict | None = None, digits: int = 30):
    """E[phi(sqrt(q) Z)^2] ("second"), E[phi(sqrt(q) Z)] ("mean"), E[phi'(sqrt(q) Z)^2] ("derivative"), or
    at q = 1 E[phi(Z) phi'(Z) Z] ("slope", the derivative of the second-moment map there), for Z ~ N(0, 1),
    as an mpmath number with ``digits`` digits; exact for homogeneous phi ("second", "derivative")."""
    import mpmath

    expr = act.bound(values)
    if kind in ("second", "derivative") and _homogeneous(expr):
        # Exact: phi = c+ t on t > 0 and c- t on t < 0, so E[phi(sqrt(q) Z)^2] = q (c+^2 + c-^2)/2 and
        # E[phi'(sqrt(q) Z)^2] = (c+^2 + c-^2)/2, whatever q (the symmetric split of relu-second-moment).
        factor = (expr.subs(t, 1) ** 2 + expr.subs(t, -1) ** 2) / 2
        value = factor * sp.S(q) if kind == "second" else factor
        with mpmath.workdps(digits + 10):
            return mpmath.mpf(sp.N(value, digits + 10))
    deriv = _no_delta(act.bound_derivative(values))
    # "slope": d/dq E[phi(sqrt(q) Z)^2] at q = 1 is E[phi(Z) phi'(Z) Z] (differentiate under the integral)
    body = {"second": expr**2, "mean": expr, "derivative": deriv**2, "slope": expr * deriv * t}[kind]
    return _gauss_quad(body, q, tuple(kinks(expr)), digits)


def _gauss_quad(body, q, breaks, digits):
    import mpmath

    fn = sp.lambdify(t, body, modules="mpmath")
    with mpmath.workdps(digits + 15):
        root = mpmath.sqrt(mpmath.mpf(sp.N(sp.S(q), digits + 15)))
        cuts = sorted({mpmath.mpf(sp.N(b, digits + 15)) / root for b in breaks} | {mpmath.mpf(0)})
        points = [-mpmath.inf, *cuts, mpmath.inf]
        norm = 1 / mpmath.sqrt(2 * mpmath.pi)
        value = mpmath.quad(lambda u: fn(root * u) * mpmath.exp(-u * u / 2), points) * norm
        return +value


# -- compatibility: c_phi and the layer map used by montecarlo/ --------------------------------------


def gaussian_second_moment(name: str, q: float, slope: float = float(DEFAULT_LEAKY_SLOPE)) -> float:
    """E[phi(sqrt(q) Z)^2] for Z ~ N(0, 1): the exact infinite-width map of a layer's second moment."""
    if q < 0:
        raise ValueError("q must be non-negative")
    act = lookup(name)
    values = {"negative_slope": slope} if act.params and act.params[0][0] == "negative_slope" else None
    return float(gaussian_map(act, "second", sp.nsimplify(q) if q else 0, values, digits=20))
