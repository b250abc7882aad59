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

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache

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
    #: a derivation whose main chain is E[phi(z)^2] and whose chain "derivative" is E[phi'(z)^2] for
    #: z ~ N(0, sigma^2) in closed form (where SymPy finds one): the gains then use it, exactly
    closed_forms: str | None = field(default=None, compare=False)

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
    Activation("sin", sp.sin(t), title="sine", closed_forms="sine-moments"),
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
#
# Everything below evaluates phi through one guarded evaluator (:func:`_compiled`), never through
# lambdify: mpmath numbers do not overflow (their exponent is an unbounded integer), so an unguarded
# exp(exp(x)) at x = 1e6 would run for hours (or allocate 2**(1e23) bits in tanh) instead of failing.
# The guard saturates like IEEE floats, only much later: a product, power, exp, sinh or cosh beyond
# 2**MAG_LIMIT becomes +-inf (and below 2**-MAG_LIMIT, 0), a sin/cos of an argument beyond
# 10**TRIG_LIMIT_DIGITS becomes nan, and inf then follows mpmath's rules (1/(1 + inf) = 0, tanh(inf) =
# 1), so x*sigmoid(x) is still 0 far to the left while exp(exp(x)) ends as inf: an _Overflow naming the
# first sub-expression that saturated. Each operation so costs at most a few milliseconds. Points where
# phi is not real or is infinite raise a _DomainError that names the sub-expression. Each quadrature
# also runs under a budget of evaluations and seconds (QUAD_EVALUATIONS, QUAD_SECONDS), and optionally
# under an enclosing budget for a whole command (:func:`quadrature_budget`).

#: One quadrature: at most this many integrand evaluations (the 21 built-ins need 1,000 to 3,000 at 45
#: digits) and this many seconds (they need 0.01 to 0.2 s; a loaded machine must not fail them); over
#: either it fails with a QuadratureError. The commands give a custom expression a tighter budget for
#: all its quadratures together (initvar.commands.gain, initvar.commands.propagate).
QUAD_EVALUATIONS = 40_000
QUAD_SECONDS = 5.0
#: Values saturate to +-inf above 2**MAG_LIMIT, about 10**1.26e6: mpmath handles those in microseconds,
#: while exp of such a value, or tanh of e**(1e23), would take hours or all the memory.
MAG_LIMIT = 2**22
EXP_LIMIT = int(MAG_LIMIT * 0.6931471805599453)  # exp(v) is inf for v > EXP_LIMIT, and 0 below -EXP_LIMIT
#: sin/cos of |argument| > 10**TRIG_LIMIT_DIGITS is nan (reduction costs ~2 ms there, 11 s at e**1e6).
TRIG_LIMIT_DIGITS = 5000
#: The growth screen and the quadrature's tail scan look out to |x| = 2**13 (and |u| = 2**13).
_FAR = 2**13


class ActivationError(ValueError):
    """phi is not usable on the whole real line: not real, infinite, or growing too fast somewhere."""


class QuadratureError(ValueError):
    """A Gaussian moment could not be computed honestly: divergent, not converged, or over budget."""


class _DomainError(ArithmeticError):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class _Overflow(ArithmeticError):
    def __init__(self, node, x):
        super().__init__(node, x)
        self.node, self.x = node, x


class _Budget(Exception):
    pass


_SATURATED: list = [None]  # the first sub-expression that saturated in the current evaluation


class _XPrinter(sp.printing.str.StrPrinter):
    """t printed as x, without rebuilding the expression (xreplace with another symbol re-evaluates every
    node, and SymPy's assumptions on tanh(tanh(...)) then take seconds)."""

    def _print_Symbol(self, expr):
        return "x" if expr == t else super()._print_Symbol(expr)


def _show(expr, limit: int = 70) -> str:
    """An expression as the user wrote it (x, not t; abs, max, ... in the parser's spelling), cut to ``limit``."""
    text = _XPrinter().doprint(sp.S(expr))
    for name in ("Abs", "Max", "Min", "Heaviside"):
        text = text.replace(name + "(", name.lower() + "(")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(x) -> str:
    import mpmath

    x = mpmath.mpf(x)
    if mpmath.isfinite(x) and x == int(x) and abs(x) < 10**15:
        return str(int(x))
    return mpmath.nstr(x, 6, min_fixed=-4, max_fixed=6, strip_zeros=True)


def _saturate(node, value):
    """``value`` (a product or power) as is, or +-inf beyond 2**MAG_LIMIT, or 0 below 2**-MAG_LIMIT."""
    import mpmath

    if not value or not mpmath.isfinite(value):
        return value
    size = mpmath.mag(value)
    if size > MAG_LIMIT:
        if _SATURATED[0] is None:
            _SATURATED[0] = node
        return mpmath.inf if value > 0 else mpmath.ninf
    return mpmath.mpf(0) if size < -MAG_LIMIT else value


def _compile(node):
    """A closure x (mpf) -> node(x) (mpf) at the current mpmath precision, guarded (see above)."""
    import mpmath

    if node == t:
        return lambda x: x
    if not node.has(t):
        value = sp.N(node, mpmath.mp.dps + 5)
        real, imag = value.as_real_imag()
        if imag != 0 or not real.is_Number or not real.is_finite:
            raise _DomainError(f"the constant {_show(node)} is not a finite real number")
        const = mpmath.mpf(real)
        return lambda x: const
    if isinstance(node, sp.Piecewise):
        pieces = [(_compile(expr), _compile_condition(cond)) for expr, cond in node.args]

        def piecewise(x):
            for f, cond in pieces:
                if cond(x):
                    return f(x)
            raise _DomainError(f"{_show(node)} is undefined at x = {_fmt(x)}")

        return piecewise
    args = [_compile(arg) for arg in node.args]
    if isinstance(node, sp.Add):

        def add(x):
            total = args[0](x)
            for f in args[1:]:
                total += f(x)
            return total

        return add
    if isinstance(node, sp.Mul):

        def mul(x):
            total = args[0](x)
            for f in args[1:]:
                total *= f(x)
            return _saturate(node, total)

        return mul
    if isinstance(node, sp.Pow):
        return _compile_pow(node, *args)
    func = node.func

    def saturated(value):
        if _SATURATED[0] is None:
            _SATURATED[0] = node
        return value

    if func == sp.exp:
        (a,) = args

        def exp(x):
            v = a(x)
            if v > EXP_LIMIT:
                return saturated(mpmath.inf)
            return mpmath.exp(v) if v > -EXP_LIMIT else mpmath.mpf(0)

        return exp
    if func in (sp.sinh, sp.cosh):
        (a,) = args
        f = mpmath.sinh if func == sp.sinh else mpmath.cosh

        def hyperbolic(x):
            v = a(x)
            if abs(v) > EXP_LIMIT:
                return saturated(mpmath.inf if v > 0 or func == sp.cosh else mpmath.ninf)
            return f(v)

        return hyperbolic
    if func in (sp.sin, sp.cos):
        (a,) = args
        f = mpmath.sin if func == sp.sin else mpmath.cos
        limit = mpmath.mpf(10) ** TRIG_LIMIT_DIGITS

        def trig(x):
            v = a(x)
            if not abs(v) <= limit:  # beyond it (or inf, nan) the value is not determined at this precision
                return saturated(mpmath.nan)
            return f(v)

        return trig
    if func == sp.log:
        a, arg = args[0], node.args[0]

        def log(x):
            v = a(x)
            if v < 0:
                raise _DomainError(f"{_show(node)} is undefined where {_show(arg)} <= 0 (e.g. at x = {_fmt(x)})")
            if v == 0:
                raise _DomainError(f"{_show(node)} is infinite at x = {_fmt(x)}")
            return mpmath.log(v)

        return log
    simple = {sp.tanh: mpmath.tanh, sp.atan: mpmath.atan, sp.erf: mpmath.erf, sp.Abs: abs}
    if func in simple:
        (a,) = args
        f = simple[func]
        return lambda x: f(a(x))
    if func == sp.Max:
        return lambda x: max(f(x) for f in args)
    if func == sp.Min:
        return lambda x: min(f(x) for f in args)
    if func == sp.sign:
        (a,) = args
        return lambda x: mpmath.sign(a(x))
    if func == sp.Heaviside:
        a = args[0]
        at_zero = args[1] if len(args) > 1 else (lambda x: mpmath.mpf(1) / 2)

        def heaviside(x):
            v = a(x)
            return mpmath.mpf(1) if v > 0 else mpmath.mpf(0) if v < 0 else at_zero(x)

        return heaviside
    if func == sp.DiracDelta:
        return lambda x: mpmath.mpf(0)  # a null set for any density (see _no_delta)
    # Anything else (never produced by derive.parser): SymPy's own mpmath printer, unguarded.
    fn = sp.lambdify(t, node, modules="mpmath")
    return lambda x: mpmath.mpf(fn(x))


def _compile_condition(cond):
    import operator

    if cond == sp.true:
        return lambda x: True
    if cond == sp.false:
        return lambda x: False
    ops = {sp.StrictGreaterThan: operator.gt, sp.GreaterThan: operator.ge, sp.StrictLessThan: operator.lt}
    ops |= {sp.LessThan: operator.le, sp.Eq: operator.eq, sp.Ne: operator.ne}
    if type(cond) in ops:
        lhs, rhs, op = _compile(cond.lhs), _compile(cond.rhs), ops[type(cond)]
        return lambda x: op(lhs(x), rhs(x))
    if isinstance(cond, (sp.And, sp.Or)):
        parts = [_compile_condition(c) for c in cond.args]
        combine = all if isinstance(cond, sp.And) else any
        return lambda x: combine(p(x) for p in parts)
    if isinstance(cond, sp.Not):
        inner = _compile_condition(cond.args[0])
        return lambda x: not inner(x)
    raise _DomainError(f"condition {cond} is not supported")


def _compile_pow(node, base, power):
    import mpmath

    b_expr, p_expr = node.args
    if not p_expr.has(t):
        p_value = power(None)
        integer = bool(p_expr.is_Integer or (p_expr.is_Float and p_expr == int(p_expr)))
        n = int(p_expr) if integer else None
        shown = _show(node)

        def const_pow(x):
            b = base(x)
            if b == 0 and p_value < 0:
                raise _DomainError(f"{shown} is infinite at x = {_fmt(x)}")
            if b < 0 and not integer:
                raise _DomainError(f"{shown} is undefined where {_show(b_expr)} < 0 (e.g. at x = {_fmt(x)})")
            if not b or not mpmath.isfinite(b):
                return b**n if integer else mpmath.power(b, p_value)
            size = mpmath.mag(b) * p_value
            if size > MAG_LIMIT:  # decided before computing: b**16 of a 10**1e6 would be slow
                return _saturate(node, mpmath.mpf(2) ** (MAG_LIMIT + 1) * (-1 if b < 0 and n % 2 else 1))
            if size < -MAG_LIMIT:
                return mpmath.mpf(0)
            return b**n if integer else mpmath.power(b, p_value)

        return const_pow

    def var_pow(x):
        b = base(x)
        if not b > 0:
            if not b_expr.has(t):
                raise _DomainError(f"{_show(node)} is undefined: a variable exponent needs a positive base, not {b}")
            raise _DomainError(
                f"{_show(node)} is undefined where {_show(b_expr)} <= 0 (a variable exponent needs a positive "
                f"base; e.g. at x = {_fmt(x)})"
            )
        v = power(x) * mpmath.log(b)
        if v > EXP_LIMIT:
            if _SATURATED[0] is None:
                _SATURATED[0] = node
            return mpmath.inf
        return mpmath.exp(v) if v > -EXP_LIMIT else mpmath.mpf(0)

    return var_pow


@cache
def _compiled(expr, dps: int):
    """The guarded evaluator of ``expr`` at ``dps`` digits: x -> finite mpf, or _Overflow naming the first
    sub-expression that saturated (the result is inf or nan), or _DomainError."""
    import mpmath

    with mpmath.workdps(dps):
        inner = _compile(sp.S(expr))

    def evaluate(x):
        _SATURATED[0] = None
        value = inner(x)
        if not mpmath.isfinite(value):
            raise _Overflow(_SATURATED[0] if _SATURATED[0] is not None else expr, x)
        return value

    return evaluate


def _evaluate(expr, x, dps: int = 20):
    """expr at x (guarded), or raise _DomainError / _Overflow."""
    import mpmath

    fn = _compiled(expr, dps)
    with mpmath.workdps(dps):
        return fn(mpmath.mpf(x))


# -- the activation check (domain, poles, growth) ----------------------------------------------------


def _grid(lo_step: float = 1 / 16, linear: float = 64.0):
    """Points of the real line: dense on [-linear, linear], then geometric out to +-_FAR."""
    import numpy as np

    inner = np.arange(0.0, linear + lo_step / 2, lo_step)
    outer = np.geomspace(linear, _FAR, 64)[1:]
    half = np.concatenate([inner, outer])
    return np.concatenate([-half[:0:-1], half])


def _singular_bases(expr):
    """(sub-expression, base) pairs whose base must not vanish: 1/u and u**-p (poles), log(u), u**v."""
    out = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Pow) and node.base.has(t):
            p = node.exp
            if p.has(t) or (p.is_Number and p < 0):
                out.append((node, node.base))
        elif isinstance(node, sp.log) and node.args[0].has(t):
            out.append((node, node.args[0]))
    return out


def _numpy_fn(expr):
    import numpy as np

    fn = sp.lambdify(t, expr, ["scipy", "numpy"])

    def f(x):
        with np.errstate(all="ignore"):
            try:
                return np.broadcast_to(np.asarray(fn(x), dtype=float), x.shape)
            except (TypeError, ValueError, OverflowError, ZeroDivisionError):
                return np.full(x.shape, np.nan)  # judged point by point by the guarded evaluator

    return f


def _zeros(base, grid, values, limit: int = 64):
    """Real zeros of ``base`` near ``grid``: sign changes (bisected) and touching minima of |base| (golden
    section), each refined with the guarded evaluator; at most ``limit`` of them."""
    import mpmath
    import numpy as np

    found = []
    finite = np.isfinite(values)
    exact = np.flatnonzero(finite & (values == 0))
    found.extend(float(grid[i]) for i in exact[:limit])
    sign = np.sign(values)
    change = np.flatnonzero(finite[:-1] & finite[1:] & (sign[:-1] * sign[1:] < 0))
    with mpmath.workdps(30):
        for i in change[:limit]:
            lo, hi = mpmath.mpf(float(grid[i])), mpmath.mpf(float(grid[i + 1]))
            f_lo = _evaluate(base, lo, 30)
            for _ in range(120):
                mid = (lo + hi) / 2
                f_mid = _evaluate(base, mid, 30)
                if f_mid == 0:
                    lo = hi = mid
                    break
                if (f_mid < 0) == (f_lo < 0):
                    lo, f_lo = mid, f_mid
                else:
                    hi = mid
            found.append((lo + hi) / 2)
        magnitude = np.abs(values)
        interior = np.flatnonzero(
            finite[1:-1] & (magnitude[1:-1] <= magnitude[:-2]) & (magnitude[1:-1] <= magnitude[2:])
        )
        interior = interior[np.argsort(magnitude[1:-1][interior])][:limit] + 1
        scale = max(1.0, float(np.median(magnitude[finite]))) if finite.any() else 1.0
        for i in interior:
            if magnitude[i] == 0 or magnitude[i] > 1e-2 * scale:
                continue
            a, b = mpmath.mpf(float(grid[i - 1])), mpmath.mpf(float(grid[i + 1]))
            ratio = (mpmath.sqrt(5) - 1) / 2
            for _ in range(160):
                c, d = b - ratio * (b - a), a + ratio * (b - a)
                if abs(_evaluate(base, c, 30)) <= abs(_evaluate(base, d, 30)):
                    b = d
                else:
                    a = c
            x0 = (a + b) / 2
            if abs(_evaluate(base, x0, 30)) <= mpmath.mpf(10) ** -25 * scale:
                found.append(x0)
    return found[:limit]


def _check_one(expr, what: str) -> None:
    import mpmath

    expr = sp.S(expr)
    shown = _show(expr)

    def refuse(message):
        # "phi(x) = 1/x: 1/x is infinite at x = 0" says it twice: name phi only when the culprit is a part of it
        return ActivationError(message if message.startswith(shown + " ") else f"{what}: {message}")

    if expr.free_symbols - {t}:
        raise ActivationError(f"{what} may only depend on x")
    if not expr.has(t):
        try:
            _evaluate(expr, 0)  # a constant: real and finite, or a _DomainError
        except _DomainError as exc:
            raise refuse(exc.message) from None
        return
    # 1. Not real, or infinite, at a point of a grid of the real line (small |x| first: simple witnesses).
    points = sorted({0.0, *(s * v for v in (1, 2, 0.5, 3, 0.25, 10, 0.1, 100, 1e-3, 1e3, 1e-6) for s in (-1, 1))})
    points.sort(key=lambda v: (abs(v) != 1, abs(v), v > 0))
    for x in [*points, *_grid(1 / 8, 16)]:
        try:
            _evaluate(expr, float(x))
        except _DomainError as exc:
            raise refuse(exc.message) from None
        except _Overflow:
            continue  # judged by the growth screen below
    # 2. Poles between the grid points: zeros of every denominator, log argument and variable-power base.
    grid = _grid()
    for node, base in _singular_bases(expr):
        try:
            zeros = _zeros(base, grid, _numpy_fn(base)(grid), limit=8)
        except _DomainError as exc:
            raise refuse(exc.message) from None
        except _Overflow:
            continue
        for x0 in zeros:
            kind = "undefined" if isinstance(node, sp.Pow) and node.exp.has(t) else "infinite"
            where = f" (where {_show(base)} = 0)" if base != t else ""
            raise refuse(f"{_show(node)} is {kind} at x = {_fmt(x0)}{where}")
    # 3. Growth: E[phi(Z)^2] < oo needs log|phi(x)| < x^2/4 far out (|x| = 256 ... 8192: nearer 0 the ratio
    # says nothing, x**16 has log|x**16|/x^2 = 1.4 at x = 4); exp(exp(x)), exp(x**2)... fail here.
    worst = (mpmath.mpf(0), None)
    for k in range(8, 14):
        for x in (2.0**k, -(2.0**k)):
            try:
                value = _evaluate(expr, x)
            except _Overflow as exc:
                raise refuse(
                    f"{_show(exc.node)} exceeds 10^1000000 at x = {_fmt(x)}: phi grows too fast to take its "
                    "Gaussian moments"
                ) from None
            except _DomainError as exc:
                raise refuse(exc.message) from None
            if value != 0:
                rate = mpmath.log(abs(value)) / (x * x)
                if rate > worst[0]:
                    worst = (rate, x)
    if worst[0] >= mpmath.mpf(1) / 4:
        raise ActivationError(
            f"{what} grows like exp({_fmt(worst[0])} x^2) or faster (at x = {_fmt(worst[1])}): "
            "E[phi(Z)^2] is infinite (it needs log|phi(x)|/x^2 < 1/4)"
        )


def check_activation(expr, derivative: bool = False) -> None:
    """Refuse (ActivationError, one sentence naming the problem) an expression phi(t) that is not a usable
    activation on the whole real line:

    - not real somewhere: ``log(x) is undefined where x <= 0``, ``sqrt(x)``, ``x**0.5``, ``x**x``;
    - infinite somewhere: ``1/x is infinite at x = 0``, ``x**-2``, ``log(x**2)``; poles between grid
      points are found as sign changes and touching minima of each denominator;
    - growing so fast that E[phi(Z)^2] is infinite: log|phi(x)|/x^2 >= 1/4 at some |x| <= 8192, or an
      overflow beyond 10^1e6 there (``exp(exp(x))``, ``exp(x**2)``).

    ``exp(x)`` passes: E[exp(2 sqrt(q) Z)] = exp(2q) is finite for every q (the quadrature finds the
    mass near u = 2 sqrt(q), and a caller refuses a value too big for a float). With ``derivative``,
    phi' is held to the same (the backward gain needs E[phi'(Z)^2]). The grid is finite, so this is a
    screen, not a proof; the quadrature re-checks the tails at each q it is asked for.
    """
    expr = sp.S(expr)
    _check_one(expr, "phi(x) = " + _show(expr, 40))
    if derivative:
        deriv = _no_delta(sp.diff(expr, t))
        _check_one(deriv, "phi'(x) = " + _show(deriv, 40))


# -- kinks, homogeneity ------------------------------------------------------------------------------


def kinks(expr) -> list:
    """The real points where phi or phi' may jump (arguments of Max/Min/Abs/Heaviside/Piecewise).

    Polynomial candidates of degree <= 4 are solved exactly (every built-in); any other candidate is
    solved numerically (sign changes on a grid, bisected), at most 32 points: SymPy's solve on a
    transcendental equation can run for ever.
    """
    return list(_kinks(sp.S(expr)))


@cache
def _kinks(expr) -> tuple:
    points = set()
    numeric = []
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
            if cand.free_symbols == {t} and cand.is_polynomial(t) and sp.degree(cand, t) <= 4:
                try:
                    sols = sp.solve(sp.Eq(cand, 0), t)
                except NotImplementedError:
                    continue
                for s in sols:
                    if s.is_real and s.is_finite:
                        points.add(sp.nsimplify(s))
            elif cand.free_symbols == {t}:
                numeric.append(cand)
    if numeric:
        grid = _grid(1 / 32, 64)
        for cand in numeric:
            try:
                for x0 in _zeros(cand, grid, _numpy_fn(cand)(grid), limit=32):
                    points.add(sp.Float(x0, 30))
            except (_DomainError, _Overflow):
                continue
            if len(points) >= 32:
                break
    return tuple(sorted(points, key=float)[:64])


@cache
def is_homogeneous(expr) -> bool:
    """:func:`_homogeneous`, cached, with a numerical pre-check (phi(s t) = s phi(t) at a few points) so that
    SymPy's simplify only ever sees expressions that are homogeneous as far as numbers can tell."""
    import mpmath

    expr = sp.S(expr)
    if expr.free_symbols - {t}:
        return _homogeneous(expr)
    try:
        with mpmath.workdps(40):  # the products below at 40 digits, compared at 20
            for s in ("2.5", "0.3"):
                for x in ("0.7", "1.3", "-0.7", "-1.3"):
                    lhs = _evaluate(expr, mpmath.mpf(s) * mpmath.mpf(x), 30)
                    rhs = mpmath.mpf(s) * _evaluate(expr, x, 30)
                    if abs(lhs - rhs) > mpmath.mpf(10) ** -20 * (1 + abs(rhs)):
                        return False
    except (_DomainError, _Overflow):
        return False
    return _homogeneous(expr)


# -- the maps -----------------------------------------------------------------------------------------

_BUDGET: dict = {"deadline": None, "seconds": None}


@contextmanager
def quadrature_budget(seconds: float):
    """Every quadrature inside shares one deadline, ``seconds`` from now (besides its own budget)."""
    saved = dict(_BUDGET)
    _BUDGET.update(deadline=time.monotonic() + seconds, seconds=seconds)
    try:
        yield
    finally:
        _BUDGET.update(saved)


@cache
def _derivative_of(expr):
    return _no_delta(sp.diff(expr, t))


_LABELS = {
    "second": "E[phi(sqrt(q) Z)^2]",
    "mean": "E[phi(sqrt(q) Z)]",
    "derivative": "E[phi'(sqrt(q) Z)^2]",
    "slope": "E[phi(Z) phi'(Z) Z]",
}


def gaussian_map(act: Activation, kind: str, q, values: dict | None = None, digits: int = 30):
    """E[phi(sqrt(q) Z)^2] ("second"), E[phi(sqrt(q) Z)] ("mean"), E[phi'(sqrt(q) Z)^2] ("derivative"), or
    at q = 1 E[phi(Z) phi'(Z) Z] ("slope", the derivative of the second-moment map there), for Z ~ N(0, 1),
    as an mpmath number with ``digits`` digits; exact for homogeneous phi ("second", "derivative").

    Raises QuadratureError (a ValueError) when the moment is infinite or cannot be computed within the
    budget, ActivationError where phi or phi' is not real or infinite, and ValueError for a q that is
    not a finite non-negative number.
    """
    import mpmath

    q = sp.S(q)
    if q in (sp.oo, sp.zoo) or (q.is_number and q.is_infinite):
        raise ValueError("the variance q is infinite: a second moment overflowed a float before this one")
    if not (q.is_number and q.is_finite and q.is_extended_nonnegative):
        raise ValueError(f"the variance q = {q} is not a finite non-negative number")
    expr = act.bound(values)
    if kind in ("second", "derivative") and is_homogeneous(expr):
        # Exact: phi = c+ t on t > 0 and c- t on t < 0, so E[phi(sqrt(q) Z)^2] = q (c+^2 + c-^2)/2 and
        # E[phi'(sqrt(q) Z)^2] = (c+^2 + c-^2)/2, whatever q (the symmetric split of relu-second-moment).
        factor = (expr.subs(t, 1) ** 2 + expr.subs(t, -1) ** 2) / 2
        value = factor * q if kind == "second" else factor
        with mpmath.workdps(digits + 10):
            return mpmath.mpf(sp.N(value, digits + 10))
    if kind in ("derivative", "slope"):
        deriv = _derivative_of(expr) if act.derivative_expr is None else _no_delta(act.bound_derivative(values))
    # "slope": d/dq E[phi(sqrt(q) Z)^2] at q = 1 is E[phi(Z) phi'(Z) Z] (differentiate under the integral)
    bodies = {"second": lambda: expr**2, "mean": lambda: expr, "derivative": lambda: deriv**2}
    body = bodies.get(kind, lambda: expr * deriv * t)()
    try:
        return _gauss_quad_cached(body, q, tuple(kinks(expr)), digits, _LABELS[kind])
    except _DomainError as exc:
        raise ActivationError(exc.message) from None


@lru_cache(maxsize=4096)
def _gauss_quad_cached(body, q, breaks, digits, label):
    """:func:`_gauss_quad`, remembered: a deep network's second moment settles at a fixed point, and every
    layer after that asks for the same q again (a failure is not remembered: it raises)."""
    import mpmath

    with mpmath.workdps(digits + 15):
        return _gauss_quad(body, q, breaks, digits, label)


def _gauss_quad(body, q, breaks, digits, label=None):
    """E[body(sqrt(q) Z)], Z ~ N(0, 1), by tanh-sinh quadrature in u = z (mpmath), in three steps:

    1. a scan of L(u) = log|body(sqrt(q) u)| - u^2/2 on a grid out to |u| = 8192 finds where the mass is
       (for exp(x) at q = 100 it is near u = 20, not near 0) and checks that the integrand has decayed
       by e^-D, D = (digits + 15) ln 10 + 10, at the far ends; otherwise the moment is infinite (or
       beyond any number): QuadratureError;
    2. the integral over [lo, hi], the grid points outside which L < max L - D, split at 0, at the kinks
       and around the peak (the tails outside are below 10^-(digits + 15) of the largest value);
    3. the error estimate must be below 10^-digits of the largest value of the integrand.

    Every integrand evaluation counts against QUAD_EVALUATIONS and QUAD_SECONDS (and the enclosing
    :func:`quadrature_budget`).
    """
    import mpmath

    dps = digits + 15
    fn = _compiled(body, dps)
    with mpmath.workdps(dps):
        q = mpmath.mpf(sp.N(sp.S(q), dps))
        if q == 0:
            return +fn(mpmath.mpf(0))
        root = mpmath.sqrt(q)
        start = time.monotonic()
        deadline = start + QUAD_SECONDS
        if _BUDGET["deadline"] is not None:
            deadline = min(deadline, _BUDGET["deadline"])
        count = [0]

        def budget():
            count[0] += 1
            if count[0] > QUAD_EVALUATIONS:
                raise _Budget(f"more than {QUAD_EVALUATIONS} integrand evaluations")
            if time.monotonic() > deadline:
                if _BUDGET["deadline"] is not None and time.monotonic() > _BUDGET["deadline"]:
                    raise _Budget(f"the {_BUDGET['seconds']:g} s budget for all the Gaussian moments ran out")
                raise _Budget(f"more than {QUAD_SECONDS:g} s")

        def log_integrand(u):
            budget()
            value = fn(root * u)
            return mpmath.log(abs(value)) - u * u / 2 if value != 0 else mpmath.ninf

        def integrand(u):  # divided by its largest value (``top`` below): mpmath's tolerance is absolute
            budget()
            return fn(root * u) * mpmath.exp(-u * u / 2 - top)

        where = f"{label or 'E[' + _show(body, 50) + ']'} at q = {_fmt(q)}"
        margin = (digits + 15) * mpmath.log(10) + 10
        try:
            # 1. the scan: |u| <= 16 in steps of 1/4, then geometric out to _FAR. Far out, body itself may
            # saturate (exp(x^2/20) at x = 8192) where the integrand is long negligible: when L has been
            # falling, and is already below its largest value less the margin, the scan stops there.
            inner = [mpmath.mpf(k) / 4 for k in range(1, 65)]
            outer = [mpmath.mpf(16) * mpmath.mpf(1.15) ** k for k in range(1, 46)]
            grid = inner + [u for u in outer if u <= _FAR] + [mpmath.mpf(_FAR)]
            centre = log_integrand(mpmath.mpf(0))
            sides = []
            for sign in (1, -1):
                us_side, logs_side = [], []
                for u in grid:
                    try:
                        value = log_integrand(sign * u)
                    except _Overflow:
                        falling = len(logs_side) >= 3 and logs_side[-1] < logs_side[-2] < logs_side[-3]
                        if u > 16 and falling and logs_side[-1] < max(centre, *logs_side) - margin:
                            break
                        raise
                    us_side.append(sign * u)
                    logs_side.append(value)
                sides.append((us_side, logs_side))
            (us_pos, logs_pos), (us_neg, logs_neg) = sides
            us = us_neg[::-1] + [mpmath.mpf(0)] + us_pos
            logs = logs_neg[::-1] + [centre] + logs_pos
            top = max(logs)
            if top == mpmath.ninf:
                return mpmath.mpf(0)  # body vanishes at every point of the grid
            if max(logs[0], logs[-1]) > top - margin:
                raise QuadratureError(
                    f"{where} is infinite (or beyond any float): the integrand has not decayed at |z| = {_FAR}"
                )
            alive = [i for i, v in enumerate(logs) if v > top - margin]
            lo, hi = us[max(alive[0] - 1, 0)], us[min(alive[-1] + 1, len(us) - 1)]
            peak = us[logs.index(top)]
            # 2. the integral (of the integrand over its largest value, so that mpmath's absolute tolerance is
            # a relative one), split at 0, at the kinks, and at a peak away from 0
            cuts = {mpmath.mpf(sp.N(b, dps)) / root for b in breaks} | {mpmath.mpf(0)}
            if abs(peak) > 2:
                cuts.add(peak)
            points = [lo, *sorted(c for c in cuts if lo < c < hi), hi]
            value, error = mpmath.quad(integrand, points, error=True)
        except _Overflow as exc:
            raise QuadratureError(
                f"{where} is infinite or beyond any float: {_show(exc.node)} exceeds 10^1000000 at x = "
                f"{_fmt(exc.x)} while the integrand has not decayed"
            ) from None
        except _Budget as exc:
            raise QuadratureError(f"{where}: quadrature over budget ({exc})") from None
        # 3. the error estimate, against the (scaled) integrand's largest value (1) times the interval's length
        scale = hi - lo
        if not (error <= mpmath.mpf(10) ** -digits * scale):
            raise QuadratureError(f"{where}: the quadrature did not converge (error estimate {_fmt(error / scale)})")
        if abs(value) <= mpmath.mpf(10) ** -(digits + 5) * scale:
            return mpmath.mpf(0)  # zero to the accuracy there is (an odd phi's mean): not rounding noise
        return +(value * mpmath.exp(top) / mpmath.sqrt(2 * mpmath.pi))


# -- compatibility: c_phi and the layer map used by montecarlo/ --------------------------------------


def gaussian_second_moment(name: str, q: float, slope: float = float(DEFAULT_LEAKY_SLOPE)) -> float:
    """E[phi(sqrt(q) Z)^2] for Z ~ N(0, 1): the exact infinite-width map of a layer's second moment."""
    if q < 0:
        raise ValueError("q must be non-negative")
    act = lookup(name)
    values = {"negative_slope": slope} if act.params and act.params[0][0] == "negative_slope" else None
    # the float's exact binary value: nsimplify would round a tiny q (1e-48) to 0
    return float(gaussian_map(act, "second", sp.Rational(q) if q else 0, values, digits=20))


#: The activations this file defines, taken after all of them (register() at run time adds to ACTIVATIONS,
#: never to this): derived values are kept on disk only while ACTIVATIONS equals it (montecarlo/derived.py).
BUILT_IN = dict(ACTIVATIONS)
