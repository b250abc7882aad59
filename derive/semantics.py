"""The second, semantic check: evaluate a derivation's lines exactly under concrete models.

A *model* turns a line of a derivation (an expression with unevaluated ``E``/``Var``) into
an exact value. The main kind is a :class:`Family`: a concrete distribution family for every
random symbol (Normal, Uniform, Laplace with symbolic scales, or a skewed two-point law), built
to satisfy exactly the assumptions a chain states and to break the ones it does not:

- ``indep-wx`` not stated: each input depends on its weight, x_i = x'_i + rho (w_i^2 - E[w^2])
  (which keeps E[x] as it was); ``indep-grad`` likewise for the backpropagated gradient;
- ``iid-w`` not stated: w_i = (1 + (i-1)/4) w'_i + kappa w_0, neither identical nor independent;
  ``iid-x``: x_i = (1 + (i-1)/3) x'_i;
- ``zero-mean-*`` not stated: the symbol gets a free symbolic mean;
- ``symmetric-z``/``symmetric-w`` not stated: the skewed family (values -2s and s with
  probabilities 1/3 and 2/3: mean zero, not symmetric) is among the models.

Moments of polynomials are computed exactly: the polynomial is expanded into monomials and each
monomial factorizes over the independent draws into raw moments, which come from
``sympy.stats``. Non-polynomial functions of one random symbol (ReLU, leaky ReLU) are integrated
against its density on each half-line (or summed over the two-point law's support).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import sympy as sp

from .expr import E, G, Var, W, X, base_of, f_z, g, random_atoms, sigma, w, x

_base = base_of
_random_atoms = random_atoms

#: Assumptions a Family can break (when a chain does not state them).
BREAKABLE = frozenset({"indep-wx", "indep-grad", "iid-w", "iid-x", "zero-mean-w", "zero-mean-x", "zero-mean-grad"})
SYMMETRY = frozenset({"symmetric-z", "symmetric-w", "gaussian-z"})


def _tag(base: str) -> str:
    return base.replace("\\", "").replace("{", "").replace("}", "").replace("_", "")


@cache
def _distribution(kind: str, base: str):
    """A mean-zero sympy.stats random symbol of family ``kind`` for ``base``."""
    import sympy.stats as st

    tag = _tag(base)
    if kind == "normal":
        # z's scale is the derivations' own sigma, so that "z ~ N(0, sigma^2)" means one thing.
        scale = sigma if base == "z" else sp.Symbol(f"sigma_{tag}", positive=True)
        return st.Normal(f"N_{tag}", 0, scale)
    if kind == "uniform":
        half = sp.Symbol(f"h_{tag}", positive=True)
        return st.Uniform(f"U_{tag}", -half, half)
    if kind == "laplace":
        return st.Laplace(f"L_{tag}", 0, sp.Symbol(f"b_{tag}", positive=True))
    raise ValueError(f"unknown family {kind!r}")


def _two_point(base: str):
    """The skewed law: -2s with probability 1/3, s with probability 2/3 (mean 0, third moment -2s^3)."""
    s = sp.Symbol(f"s_{_tag(base)}", positive=True)
    return ((-2 * s, sp.Rational(1, 3)), (s, sp.Rational(2, 3)))


@cache
def _centered_moment(kind: str, base: str, power: int):
    if kind == "skewed":
        return sp.expand(sum(p * v**power for v, p in _two_point(base)))
    import sympy.stats as st

    return sp.expand(st.E(_distribution(kind, base) ** power))


def _mean_symbol(base: str):
    return sp.Symbol(f"m_{_tag(base)}", real=True)


@cache
def _raw_moment(kind: str, base: str, centered: bool, power: int):
    """E[X^power]; a non-centered X is m + Y with Y centered and m a free symbolic mean."""
    if centered:
        return _centered_moment(kind, base, power)
    mean = _mean_symbol(base)
    return sp.expand(
        sum(sp.binomial(power, j) * mean ** (power - j) * _centered_moment(kind, base, j) for j in range(power + 1))
    )


@cache
def _density(kind: str, base: str):
    import sympy.stats as st

    return st.density(_distribution(kind, base))


def _centered(base: str, assumptions: frozenset[str]) -> bool:
    if base in ("z", "y"):
        return True  # a pre-activation is a sum of mean-zero-weighted terms; no chain gives z a mean
    if base == r"\delta_{y}":
        return "zero-mean-grad" in assumptions
    return f"zero-mean-{base}" in assumptions


def expand_sums(expr):
    """Carry out the finite sums and products of a line whose sizes are concrete (nothing else)."""
    return sp.S(expr).replace(lambda e: isinstance(e, (sp.Sum, sp.Product)), lambda e: e.doit())


_POSITIVE = sp.Symbol("s_pos", positive=True)


@cache
def _half_moment(kind: str, base: str, power: int):
    """Integral of s^power * f(s) over s > 0, for the family's (symmetric) density f."""
    dens = _density(kind, base)
    return sp.integrate(_POSITIVE**power * dens(_POSITIVE), (_POSITIVE, 0, sp.oo))


def _integrate_split(body, var, low, high, kind: str, base: str):
    """Integral of body(t) * f(t) over [low, high], low in {-oo, 0}, high in {0, oo}.

    Continuous (symmetric) families: each half-line is taken with t = +s or t = -s for a positive
    symbol s, where max(0, t), |t| and Heaviside(t) resolve; the body is then a polynomial in s and
    the integral a sum of the family's half-line moments. The two-point law: a sum over its support.
    """
    if low not in (-sp.oo, 0) or high not in (0, sp.oo):
        raise NotImplementedError(f"integral over [{low}, {high}]")
    if kind == "skewed":
        total = sp.S.Zero
        for value, prob in _two_point(base):
            inside = (value > 0 and high == sp.oo) or (value < 0 and low == -sp.oo)
            if inside:
                total += prob * body.subs(var, value)
        return total
    total = sp.S.Zero
    for sign, used in ((1, high == sp.oo), (-1, low == -sp.oo)):
        if not used:
            continue
        poly = sp.Poly(sp.expand(body.subs(var, sign * _POSITIVE)), _POSITIVE)
        for (power,), coeff in poly.terms():
            total += coeff * _half_moment(kind, base, power)
    return total


_RHO = sp.Rational(1, 3)  # dependence of an input (or gradient) on its weight
_KAPPA = sp.Rational(1, 2)  # weight on the common component of non-i.i.d. weights


@dataclass(frozen=True)
class Family:
    """Draws from one distribution family, shaped to satisfy exactly the chain's assumptions."""

    kind: str

    @property
    def name(self) -> str:
        return self.kind

    @property
    def can_violate(self) -> frozenset[str]:
        broken = BREAKABLE | (frozenset({"symmetric-z", "symmetric-w"}) if self.kind == "skewed" else frozenset())
        return broken | (frozenset({"gaussian-z"}) if self.kind != "normal" else frozenset())

    def applies(self, assumptions: frozenset[str]) -> bool:
        if "gaussian-z" in assumptions:
            return self.kind == "normal"
        if self.kind == "skewed":
            return not (SYMMETRY & assumptions)
        return True

    def evaluate(self, expr, assumptions: frozenset[str]):
        expr = self._break(expand_sums(expr), assumptions)
        return sp.expand(self._eval(expr, assumptions))

    def same(self, left, right) -> bool:
        diff = sp.expand(left - right)
        return diff == 0 or sp.simplify(diff) == 0

    # -- internals -------------------------------------------------------------------------
    def _break(self, expr, assumptions):
        """Rewrite the random symbols so that the unstated assumptions fail (see the module doc)."""
        mu_w2 = _raw_moment(self.kind, "w", _centered("w", assumptions), 2)
        common = W[0]
        weights = {}
        if "iid-w" not in assumptions:
            weights = {
                s: (1 + sp.Rational(sum(s.indices) - 1, 4)) * s + _KAPPA * common
                for s in expr.atoms(sp.Indexed)
                if s.base == W and all(i.is_Integer for i in s.indices)
            }
            weights[w] = w + _KAPPA * common
        partner = {}
        if "iid-x" not in assumptions:
            for s in expr.atoms(sp.Indexed):
                if s.base == X and all(i.is_Integer for i in s.indices):
                    partner[s] = (1 + sp.Rational(sum(s.indices) - 1, 3)) * s
        for key, base, plain in (("indep-wx", X, x), ("indep-grad", G, g)):
            if key in assumptions:
                continue
            for s in expr.atoms(sp.Indexed):
                if s.base == base and all(i.is_Integer for i in s.indices):
                    own = W[s.indices]
                    # a different strength for each i: the pairs (w_i, x_i) are not identically distributed
                    partner[s] = partner.get(s, s) + _RHO * sum(s.indices) * (own**2 - mu_w2)
            partner[plain] = plain + _RHO * (w**2 - mu_w2)
        # One simultaneous replacement: an input depends on its weight's own draw w'_i (so E[x] is kept).
        table = {**partner, **weights}
        return sp.S(expr).xreplace(table) if table else expr

    def _eval(self, expr, assumptions):
        if isinstance(expr, Var):
            inner = expr.args[0]
            return self._expect(inner**2, assumptions) - self._expect(inner, assumptions) ** 2
        if isinstance(expr, E):
            return self._expect(expr.args[0], assumptions)
        if isinstance(expr, sp.Integral):
            ((var, low, high),) = expr.limits
            body = sp.cancel(expr.function / f_z(var))
            if body.has(f_z) or not body.is_polynomial(var) and not body.has(sp.Max, sp.Heaviside):
                return expr.doit()  # an explicit density: let SymPy integrate it
            return _integrate_split(body, var, low, high, self.kind, "z")
        if not expr.args:
            return expr
        return expr.func(*(self._eval(arg, assumptions) for arg in expr.args))

    def _moment(self, atom, power, assumptions):
        base = _base(atom)
        return _raw_moment(self.kind, base, _centered(base, assumptions), int(power))

    def _expect(self, arg, assumptions):
        arg = sp.expand(arg)
        atoms = _random_atoms(arg)
        if not atoms:
            return arg
        if arg.is_polynomial(*atoms):
            total = sp.S.Zero
            for term in sp.Add.make_args(arg):
                coeff, value = sp.S.One, sp.S.One
                powers = term.as_powers_dict()
                for factor, power in powers.items():
                    if factor in atoms:
                        value *= self._moment(factor, power, assumptions)
                    else:
                        coeff *= factor**power
                total += coeff * value
            return total
        if len(atoms) == 1:
            return self._expect_univariate(arg, atoms[0], assumptions)
        raise NotImplementedError(f"cannot evaluate E[{arg}] exactly")

    def _expect_univariate(self, arg, atom, assumptions):
        base = _base(atom)
        if self.kind != "skewed" and not _centered(base, assumptions):
            raise NotImplementedError(f"E[{arg}] needs a mean-zero {base}")
        return _integrate_split(arg, atom, -sp.oo, sp.oo, self.kind, base)


@dataclass(frozen=True)
class Quadrature:
    """High-precision numerical quadrature (mpmath) with z ~ N(0, sigma^2) at a concrete sigma.

    Used where only one exact family satisfies a chain's assumptions (Gaussian pre-activations):
    the exact Normal family and this independent route must agree to ``digits`` digits.
    """

    sigma_value: str
    digits: int = 20

    @property
    def name(self) -> str:
        return f"quadrature(sigma={self.sigma_value})"

    def applies(self, assumptions: frozenset[str]) -> bool:
        return "gaussian-z" in assumptions

    def handles(self, chain) -> bool:
        return not any(sp.S(line).has(sp.Limit) for line in chain.lines)

    def evaluate(self, expr, assumptions):
        import mpmath

        u = sp.Dummy("u", real=True)
        sig = sp.Float(self.sigma_value, self.digits + 10)
        dens = sp.exp(-(u**2) / (2 * sig**2)) / (sig * sp.sqrt(2 * sp.pi))
        zsym = sp.Symbol("z", real=True)

        def quad(integrand, low=-sp.oo, high=sp.oo):
            fn = sp.lambdify(u, integrand.subs(sigma, sig), modules="mpmath")
            points = [low, 0, high] if (low < 0) and (high > 0) else [low, high]
            as_mp = [mpmath.inf if p == sp.oo else -mpmath.inf if p == -sp.oo else mpmath.mpf(p) for p in points]
            return sp.Float(mpmath.quad(fn, as_mp), self.digits + 5)

        def walk(e):
            if isinstance(e, Var):
                inner = e.args[0].subs(zsym, u)
                return quad(inner**2 * dens) - quad(inner * dens) ** 2
            if isinstance(e, E):
                return quad(e.args[0].subs(zsym, u) * dens)
            if isinstance(e, sp.Integral):
                ((var, low, high),) = e.limits
                body = e.function.replace(f_z, lambda arg: dens.subs(u, arg)).subs(var, u)
                return quad(body, low, high)
            if not e.args:
                return e.subs(sigma, sig)
            return e.func(*(walk(arg) for arg in e.args))

        with mpmath.workdps(self.digits + 10):
            return sp.N(walk(expr), self.digits + 5)

    def same(self, left, right) -> bool:
        return abs(sp.N(left - right, self.digits)) < sp.Float(10) ** (-self.digits + 5)


@dataclass(frozen=True)
class LargeScale:
    """A limit sigma -> oo evaluated numerically at one large sigma (mpmath quadrature, ``digits``
    digits): lines agree with the limit to ``rtol`` (the approach is O(1/sigma^2) for the limits here).
    Numerical, and labelled so in the model's name."""

    sigma_value: str
    rtol: float = 1e-6
    digits: int = 20

    @property
    def name(self) -> str:
        return f"numerical quadrature at sigma={self.sigma_value}"

    def applies(self, assumptions: frozenset[str]) -> bool:
        return "gaussian-z" in assumptions

    def handles(self, chain) -> bool:
        limits = [e for line in chain.lines for e in sp.S(line).atoms(sp.Limit)]
        # a limit sigma -> +oo only: evaluating at a large sigma says nothing about any other limit
        return bool(limits) and all(e.args[1] == sigma and e.args[2] == sp.oo for e in limits)

    def evaluate(self, expr, assumptions):
        expr = sp.S(expr).replace(lambda e: isinstance(e, sp.Limit), lambda e: e.args[0])
        return Quadrature(self.sigma_value, self.digits).evaluate(expr, assumptions)

    def same(self, left, right) -> bool:
        scale = max(abs(sp.N(left)), abs(sp.N(right)), sp.Float(1e-30))
        return abs(sp.N(left - right)) / scale < self.rtol


@dataclass(frozen=True)
class Numeric:
    """Lines evaluated numerically (mpmath quadrature for integrals, 30 digits) at given values of free
    symbols; ``points`` pairs each symbol with its values (the i-th values form the i-th point).
    Numerical, and named so."""

    name: str
    points: tuple
    digits: int = 30
    min_points: int = 3
    sizes_own = True

    def applies(self, assumptions) -> bool:
        return True

    def evaluate(self, expr, assumptions):
        values = []
        count = len(self.points[0][1])
        import mpmath

        def quad(integral):
            ((var, low, high),) = integral.limits
            fn = sp.lambdify(var, integral.function, modules="mpmath")
            ends = [
                mpmath.inf if e == sp.oo else -mpmath.inf if e == -sp.oo else mpmath.mpf(sp.N(e, 60))
                for e in (low, high)
            ]
            if ends[0] < 0 < ends[1]:
                ends = [ends[0], mpmath.mpf(0), ends[1]]
            return sp.Float(mpmath.quad(fn, ends), self.digits + 10)

        for i in range(count):
            table = {symbol: vals[i] for symbol, vals in self.points}
            line = sp.S(expr).xreplace(table)
            with mpmath.workdps(self.digits + 15):
                line = line.replace(lambda e: isinstance(e, sp.Integral), quad)
            values.append(sp.N(line, self.digits))
        return sp.Matrix(values)

    def same(self, left, right) -> bool:
        tol = sp.Float(10) ** (-(self.digits - 5))
        return all(abs(a - b) <= tol * max(1, abs(b)) for a, b in zip(left, right, strict=True))


@dataclass(frozen=True)
class Instance:
    """A deterministic model: concrete values (or a function) substituted into every line."""

    name: str
    apply: Callable = field(compare=False)
    sizes_own: bool = True  # it gives sizes their values itself (or keeps them symbolic)

    def applies(self, assumptions: frozenset[str]) -> bool:
        return True

    def evaluate(self, expr, assumptions):
        return sp.simplify(self.apply(expr))

    def same(self, left, right) -> bool:
        diff = left - right
        if isinstance(diff, sp.MatrixBase):
            return all(sp.simplify(entry) == 0 for entry in diff)
        return sp.simplify(diff) == 0


STANDARD_FAMILIES = (Family("normal"), Family("uniform"), Family("laplace"), Family("skewed"))
