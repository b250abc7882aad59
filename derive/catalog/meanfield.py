"""Mean field for ReLU, exactly: the length map, chi_1 and the edge of chaos (He initialization as its special
case), and the finite-width fluctuations of a ReLU network's squared length."""

from __future__ import annotations

import sympy as sp

from ..core import Chain, Derivation, Step
from ..expr import (
    E,
    G,
    Var,
    W,
    c_pair,
    ddphi,
    dphi,
    f_z,
    g,
    k,
    n_in,
    n_out,
    phi,
    q_pair,
    relu,
    sigma,
    std_normal_density,
    t,
    t1,
    t2,
    u1,
    u2,
    w,
    z,
)
from ..semantics import STANDARD_FAMILIES, Family, Quadrature

#: The weight and bias variances of a mean-field layer: W_ij ~ N(0, sigma_w^2/n), b_i ~ N(0, sigma_b^2).
sigma_w2 = sp.Symbol(r"\sigma_w^2", positive=True)
sigma_b2 = sp.Symbol(r"\sigma_b^2", nonnegative=True)
#: The sigma_w^2 at which chi_1 = 1, as the unknown of a solve step.
sigma_crit2 = sp.Symbol(r"\sigma_{w,\mathrm{crit}}^2", positive=True)
#: A layer's width (the number of units whose squared outputs are summed).
n_l = sp.Symbol("n_l", integer=True, positive=True)

HALF = sp.Rational(1, 2)


class _Except:
    """A model that leaves out some chains (``keys``): the solve chain's unknown means nothing to a density."""

    def __init__(self, model, keys):
        self.model, self.keys = model, frozenset(keys)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def handles(self, chain) -> bool:
        return chain.key not in self.keys and getattr(self.model, "handles", lambda c: True)(chain)


class _EdgeRoot:
    """The critical chain's own model: sigma_crit^2 is 1/E[relu'(z)^2], E computed by mpmath quadrature under a
    symmetric density (an independent route to the root of sigma_w^2 E[relu'(z)^2] = 1)."""

    sizes_own = True

    def __init__(self, name, density):
        self.name, self.density = f"the root of chi_1 = 1 by quadrature ({name})", density

    def applies(self, assumptions) -> bool:
        return True

    def handles(self, chain) -> bool:
        return chain.key == "critical"

    def evaluate(self, expr, assumptions):
        import mpmath

        with mpmath.workdps(30):
            half = mpmath.quad(lambda u: self.density(u) if u > 0 else 0, [-mpmath.inf, 0, mpmath.inf])
            return sp.S(expr).xreplace({sigma_crit2: sp.Float(1 / half, 25)})

    def same(self, left, right) -> bool:
        return abs(sp.N(left - right, 20)) < sp.Float(10) ** -15


def _gauss(variable):
    return sp.exp(-(variable**2) / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma)


def edge_of_chaos(refs: dict) -> Derivation:
    """ReLU's length map q -> sigma_w^2 q/2 + sigma_b^2, chi_1 = sigma_w^2/2, and the edge of chaos sigma_w^2 = 2."""
    return Derivation(
        id="edge-of-chaos",
        title="The edge of chaos of a ReLU network",
        summary="For a ReLU layer with weights N(0, sigma_w^2/n) and biases N(0, sigma_b^2): the length map is "
        "q -> sigma_w^2 q/2 + sigma_b^2 and chi_1 = sigma_w^2/2, so the edge of chaos chi_1 = 1 is sigma_w^2 = 2, where "
        "q is a fixed point only if sigma_b^2 = 0: He initialization.",
        chains=(
            Chain(
                key="length",
                title=r"The length map: $q^l = \sigma_w^2\,\mathbb{E}[\mathrm{relu}(z)^2] + \sigma_b^2$, "
                r"$z\sim\mathcal{N}(0, q^{l-1})$",
                lhs=sigma_w2 * E(relu(z) ** 2) + sigma_b2,
                assumptions=("symmetric-z", "gaussian-z"),
                steps=(
                    Step(sigma_w2 * E(z**2) / 2 + sigma_b2, "result", ("symmetric-z",), ref="relu-second-moment"),
                    Step(sigma_w2 * sigma**2 / 2 + sigma_b2, "gaussian", ("gaussian-z",)),
                ),
            ),
            Chain(
                title=r"$\chi_1 = \sigma_w^2\,\mathbb{E}[\mathrm{relu}'(z)^2]$",
                lhs=sigma_w2 * E(sp.Heaviside(z) ** 2),
                assumptions=("symmetric-z",),
                steps=(
                    Step(sigma_w2 * HALF, "result", ("symmetric-z",), ref="relu-second-moment:derivative"),
                    Step(sigma_w2 / 2, "algebra"),
                ),
            ),
            Chain(
                key="critical",
                title=r"The edge of chaos: the $\sigma_w^2$ with $\chi_1 = 1$",
                lhs=sigma_crit2,
                assumptions=("symmetric-z",),
                steps=(Step(sp.Integer(2), "solve-edge", ()),),
            ),
            Chain(
                key="fixed",
                title=r"The length map at the edge",
                lhs=2 * E(relu(z) ** 2) + sigma_b2,
                assumptions=("symmetric-z", "gaussian-z"),
                steps=(
                    Step(
                        2 * sigma**2 / 2 + sigma_b2,
                        "result",
                        ("symmetric-z", "gaussian-z"),
                        ref="edge-of-chaos:length",
                        subs={sigma_w2: 2},
                    ),
                    Step(sigma**2 + sigma_b2, "algebra"),
                ),
            ),
        ),
        refs=refs,
        models=(
            *(_Except(m, ("critical",)) for m in (*STANDARD_FAMILIES, Quadrature("0.7"), Quadrature("2.3"))),
            _EdgeRoot("normal", lambda u: __import__("mpmath").npdf(u)),
            _EdgeRoot("Laplace", lambda u: __import__("mpmath").exp(-abs(u)) / 2),
        ),
        sizes={sigma_w2: (1, sp.Rational(3, 2), 3), sigma_b2: (0, sp.Rational(1, 10), sp.Rational(1, 2))},
        context={"edge": {"critical": ("", sigma_w2)}},
        notes=(
            r"With $q = \sigma^2$ the second moment of a unit's pre-activation, the length map of a ReLU layer is "
            r"linear with slope $\sigma_w^2/2$; $\chi_1$, the slope of the correlation map at $c = 1$ and the factor "
            r"by which $\mathbb{E}\|\partial\ell/\partial x^l\|^2$ grows per layer (Schoenholz et al.\ 2017), is "
            r"$\sigma_w^2/2$ whatever $q$. So $\sigma_w^2 < 2$ is ordered (correlations go to $1$, gradients vanish), "
            r"$\sigma_w^2 > 2$ makes $q$ explode, and at the edge $\sigma_w^2 = 2$ the length map is $q \mapsto q + "
            r"\sigma_b^2$: every $q$ is a fixed point when $\sigma_b^2 = 0$, and none exists otherwise. The edge of "
            r"chaos of a ReLU network is the single point $(\sigma_w^2, \sigma_b^2) = (2, 0)$: weights of variance "
            r"$2/n_{\mathrm{in}}$ and no bias, He initialization (\eqref{eq:init-schemes}).",
            r"For any other activation the maps have no closed form in general: \texttt{initvar meanfield} computes "
            r"$q^*$, $\chi_1$, $c^*$ and the depth scales $\xi_q$, $\xi_c$ by quadrature (labelled numerical), and "
            r"\texttt{initvar meanfield --critical} the critical $\sigma_w^2(\sigma_b^2)$ to 30 digits.",
        ),
    )


def finite_width_fluctuations(refs: dict) -> Derivation:
    """E||x^l||^4 / (E||x^l||^2)^2 picks up a factor 1 + 5/n_l per ReLU layer of width n_l (Gaussian weights)."""
    gauss = _gauss(t)
    ratio = (n_l * E(relu(z) ** 4) + n_l * (n_l - 1) * E(relu(z) ** 2) ** 2) / (n_l * E(relu(z) ** 2)) ** 2
    return Derivation(
        id="finite-width-fluctuations",
        title="Finite-width fluctuations of a ReLU network",
        summary="Given the previous layer, a ReLU layer of width n_l with Gaussian weights and no bias multiplies "
        "E||x||^4/(E||x||^2)^2 by 1 + 5/n_l: over a network, the exact product prod (1 + 5/n_l) <= exp(5 sum 1/n_l).",
        chains=(
            Chain(
                key="fourth",
                title=r"The fourth moment of a rectified Gaussian",
                lhs=E(relu(z) ** 4),
                assumptions=("gaussian-z",),
                steps=(
                    Step(sp.Integral(relu(t) ** 4 * f_z(t), (t, -sp.oo, sp.oo)), "def-mean"),
                    Step(sp.Integral(t**4 * f_z(t), (t, 0, sp.oo)), "activation-def"),
                    Step(sp.Integral(t**4 * gauss, (t, 0, sp.oo)), "gaussian", ("gaussian-z",)),
                    Step(3 * sigma**4 / 2, "integrate"),
                ),
            ),
            Chain(
                title=r"$\mathbb{E}\|x^l\|^4/(\mathbb{E}\|x^l\|^2)^2$ given $x^{l-1}$: $n_l$ i.i.d.\ units "
                r"$x_i = \mathrm{relu}(z_i)$, $z_i \sim \mathcal{N}(0, \sigma^2)$",
                lhs=ratio,
                assumptions=("gaussian-z", "symmetric-z"),
                steps=(
                    Step(
                        (n_l * 3 * sigma**4 / 2 + n_l * (n_l - 1) * E(relu(z) ** 2) ** 2)
                        / (n_l * E(relu(z) ** 2)) ** 2,
                        "result",
                        ("gaussian-z",),
                        ref="finite-width-fluctuations:fourth",
                    ),
                    Step(
                        (n_l * 3 * sigma**4 / 2 + n_l * (n_l - 1) * (E(z**2) / 2) ** 2) / (n_l * E(z**2) / 2) ** 2,
                        "result",
                        ("symmetric-z",),
                        ref="relu-second-moment",
                    ),
                    Step(
                        (n_l * 3 * sigma**4 / 2 + n_l * (n_l - 1) * (sigma**2 / 2) ** 2) / (n_l * sigma**2 / 2) ** 2,
                        "gaussian",
                        ("gaussian-z",),
                    ),
                    Step((n_l + 5) / n_l, "algebra"),
                    Step(1 + 5 / n_l, "algebra"),
                ),
            ),
        ),
        refs=refs,
        models=(*STANDARD_FAMILIES, Quadrature("0.7"), Quadrature("2.3")),
        sizes={n_l: (1, 4, 100)},
        notes=(
            r"Given $x^{l-1}$, the pre-activations $z_i = \sum_j W_{ij} x^{l-1}_j$ of a layer with weights "
            r"$\mathcal{N}(0, 2/n_{l-1})$ are i.i.d.\ $\mathcal{N}(0, \sigma^2)$ with $\sigma^2 = 2\|x^{l-1}\|^2/n_{l-1}$, "
            r"so $\mathbb{E}[\|x^l\|^4 \mid x^{l-1}] = n_l\,\mathbb{E}[x_i^4] + n_l(n_l-1)\,\mathbb{E}[x_i^2]^2$ "
            r"(the left-hand side above). The ratio does not depend on $\sigma$, and "
            r"$\mathbb{E}[\|x^l\|^4\mid x^{l-1}]$ and $\mathbb{E}[\|x^l\|^2 \mid x^{l-1}]$ are fixed multiples of "
            r"$\|x^{l-1}\|^4$ and $\|x^{l-1}\|^2$; taking expectations layer by layer, a network of hidden widths "
            r"$n_1, \dots, n_L$ and a fixed input has exactly "
            r"$\mathbb{E}\|x^L\|^4/(\mathbb{E}\|x^L\|^2)^2 = \prod_{l=1}^{L} (1 + 5/n_l)$, a rational number "
            r"(widths $4, 4, 4$: $729/64 \approx 11.4$). Since $1 + u \le e^u$ this is at most "
            r"$\exp(5\sum_l 1/n_l)$, the exponential form in Hanin and Rolnick (2018), and close to it when every "
            r"$n_l$ is large. The squared length of one network fluctuates about its mean by a relative variance "
            r"$\prod(1+5/n_l) - 1 \approx 5\sum_l 1/n_l$: what matters is the sum of reciprocal widths, so depth must "
            r"grow no faster than width for the mean-field picture to describe a single network.",
        ),
    )


# -- the correlation map in closed form: arc-cosine (ReLU) and arcsine (erf) kernels ------------------------

q, c = q_pair, c_pair
angle, xi = sp.Symbol(r"\varphi", real=True), sp.Symbol(r"\xi", real=True)
theta = sp.acos(c)


def _agree_to(digits: int, left, right) -> bool:
    """Two numerical models' vectors of values agree to ``digits`` significant digits (absolute below 1)."""
    tol = sp.Float(10) ** (-digits)
    return all(abs(a - b) <= tol * max(1, abs(b)) for a, b in zip(left, right, strict=True))


class _PairModel:
    """(u_1, u_2) ~ N(0, q [[1, c], [c, 1]]) at concrete (q, c): E[f(u_1) g(u_2)] by the nested Gauss-Legendre
    quadrature of :mod:`derive.meanfield` (float64, split at the kinks, good to about 1e-13), single integrals by
    mpmath quadrature. Numerical, and named so: lines agree to ``digits`` significant digits."""

    numeric_pair = True
    sizes_own = True

    def __init__(self, points, digits: int = 11):
        self.points, self.digits = tuple(points), digits
        self.name = f"Gaussian pair by quadrature at (q, c) in {[(str(a), str(b)) for a, b in self.points]}"

    def applies(self, assumptions) -> bool:
        return "gaussian-pair" in assumptions

    def _one(self, expr, qv, cv):
        import mpmath

        from ..activations import kinks
        from ..pairquad import pair_expect

        table = {q: qv, c: cv}

        def expect(arg):
            arg = sp.S(arg).xreplace(table)
            first, second = sp.S.One, sp.S.One
            for factor in sp.Mul.make_args(sp.powsimp(sp.expand_power_exp(arg), combine="base")):
                if factor.has(u1) and factor.has(u2):
                    # exp(-u_1^2 - u_2^2): split the exponent
                    if isinstance(factor, sp.exp):
                        one, two = factor.args[0].as_independent(u2, as_Add=True)
                        first, second = first * sp.exp(one), second * sp.exp(two)
                        continue
                    raise ValueError(f"{factor} is not a product of a function of u_1 and one of u_2")
                if factor.has(u2):
                    second *= factor
                else:
                    first *= factor
            f = sp.lambdify(u1, first, modules=["scipy", "numpy"])
            g = sp.lambdify(u2, second, modules=["scipy", "numpy"])
            breaks = tuple(sorted({float(k) for k in (*kinks(first.subs(u1, t)), *kinks(second.subs(u2, t)))}))

            def vec(fn):
                import numpy as np

                return lambda v: np.broadcast_to(np.asarray(fn(v), dtype=float), np.shape(v))

            return sp.Float(pair_expect(vec(f), vec(g), float(qv), float(cv), breaks), 17)

        def walk(e):
            if isinstance(e, E):
                return expect(e.args[0])
            if isinstance(e, sp.Integral):
                ((var, low, high),) = e.limits
                body = e.function.xreplace(table)
                if body.has(E):
                    fn = lambda v: mpmath.mpf(sp.N(walk(body.xreplace({var: sp.Float(v, 20)})), 17))  # noqa: E731
                    ends = [mpmath.mpf(sp.N(x.xreplace(table), 20)) for x in (low, high)]
                    return sp.Float(mpmath.quad(fn, ends, maxdegree=4), 17)
                fn = sp.lambdify(var, body, modules="mpmath")
                ends = [
                    mpmath.inf
                    if x == sp.oo
                    else -mpmath.inf
                    if x == -sp.oo
                    else mpmath.mpf(sp.N(x.xreplace(table), 30))
                    for x in (low, high)
                ]
                return sp.Float(mpmath.quad(fn, ends), 17)
            if not e.args:
                return e.xreplace(table)
            return e.func(*(walk(a) for a in e.args))

        with mpmath.workdps(20):
            return sp.N(walk(sp.S(expr)), 17)

    def evaluate(self, expr, assumptions):
        return sp.Matrix([self._one(expr, qv, cv) for qv, cv in self.points])

    def same(self, left, right) -> bool:
        return _agree_to(self.digits, left, right)


def arc_cosine_kernel(refs: dict) -> Derivation:
    """E[relu(u_1) relu(u_2)] = q (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi) (Cho and Saul 2009)."""
    arc = sp.Integral(sp.cos(angle) * sp.cos(angle - theta), (angle, theta - sp.pi / 2, sp.pi / 2))
    return Derivation(
        id="arc-cosine-kernel",
        title="The correlation map of ReLU: the arc-cosine kernel",
        summary="For a centred Gaussian pair with second moments q and correlation c: E[relu(u_1) relu(u_2)] = "
        "q (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi), Cho and Saul's (2009) arc-cosine kernel of degree 1.",
        chains=(
            Chain(
                title=r"$\mathbb{E}[\mathrm{relu}(u_1)\,\mathrm{relu}(u_2)]$",
                lhs=E(relu(u1) * relu(u2)),
                assumptions=("gaussian-pair",),
                steps=(
                    Step(q / sp.pi * arc, "polar", ("gaussian-pair",)),
                    Step(q / sp.pi * ((sp.pi - theta) * c / 2 + sp.sqrt(1 - c**2) / 2), "integrate"),
                    Step(q * (sp.sqrt(1 - c**2) + (sp.pi - sp.acos(c)) * c) / (2 * sp.pi), "algebra"),
                ),
            ),
        ),
        refs=refs,
        models=(
            _PairModel(((1, sp.Rational(1, 2)), (sp.Rational(13, 10), sp.Rational(-3, 10)))),
            _PairModel(((sp.Rational(1, 2), sp.Rational(9, 10)), (2, 0))),
        ),
        notes=(
            r"Write $u_1 = \sqrt{q}\,z_1$, $u_2 = \sqrt{q}\,(c z_1 + \sqrt{1-c^2}\,z_2)$ with $z_1, z_2$ independent "
            r"standard normal, and $(z_1, z_2) = r(\cos\varphi, \sin\varphi)$: then $u_1 = \sqrt{q}\,r\cos\varphi$, "
            r"$u_2 = \sqrt{q}\,r\cos(\varphi - \theta)$ with $\theta = \arccos c$, and both are positive exactly for "
            r"$\varphi \in (\theta - \pi/2, \pi/2)$; with the density $e^{-r^2/2}\,r/(2\pi)$ the radial integral is $\int_0^\infty r^3 e^{-r^2/2}\,dr = 2$, which leaves $q/\pi$ times the angular one. The step is checked numerically "
            r"(nested quadrature at four $(q, c)$); the integrals after it are SymPy's.",
            r"So ReLU's correlation map is exact: $c \mapsto (\sigma_w^2 q\,(\sqrt{1-c^2} + (\pi - \arccos c)\,c)"
            r"/(2\pi) + \sigma_b^2)/q'$; at $c = 1$ it gives $q/2$, the halving factor, and its slope there is "
            r"$\sigma_w^2/2 = \chi_1$ (\eqref{eq:edge-of-chaos}).",
        ),
    )


def arcsine_kernel(refs: dict) -> Derivation:
    """E[erf(u_1) erf(u_2)] = (2/pi) arcsin(2 q c / (1 + 2 q)) (Williams 1997), through Price's theorem."""
    dkernel = 2 / sp.pi / sp.sqrt(1 - xi**2)  # in xi = 2 rho / (1 + 2q), rho the covariance
    return Derivation(
        id="arcsine-kernel",
        title="The correlation map of erf: the arcsine kernel",
        summary="For a centred Gaussian pair with second moments q and correlation c: E[erf(u_1) erf(u_2)] = "
        "(2/pi) arcsin(2 q c / (1 + 2 q)) (Williams 1997), from Price's theorem and one Gaussian integral.",
        chains=(
            Chain(
                title=r"$\mathbb{E}[\operatorname{erf}(u_1)\operatorname{erf}(u_2)]$",
                lhs=E(sp.erf(u1) * sp.erf(u2)),
                assumptions=("gaussian-pair",),
                steps=(
                    Step(sp.Integral(dkernel, (xi, 0, 2 * q * c / (1 + 2 * q))), "price", ("gaussian-pair",)),
                    Step(2 / sp.pi * sp.asin(2 * q * c / (1 + 2 * q)), "integrate"),
                ),
            ),
        ),
        refs=refs,
        models=(
            _PairModel(((1, sp.Rational(1, 2)), (sp.Rational(13, 10), sp.Rational(-3, 10)))),
            _PairModel(((sp.Rational(1, 2), sp.Rational(9, 10)), (2, sp.Rational(1, 5)))),
        ),
        notes=(
            r"Price's theorem: $\partial\,\mathbb{E}[f(u_1) g(u_2)]/\partial\rho = \mathbb{E}[f'(u_1) g'(u_2)]$ for the "
            r"covariance $\rho = \mathbb{E}[u_1 u_2]$; with $\operatorname{erf}'(u) = (2/\sqrt{\pi})\,e^{-u^2}$ and "
            r"$\mathbb{E}[\operatorname{erf}(u_1)\operatorname{erf}(u_2)] = 0$ at $\rho = 0$ (independent, odd), the "
            r"kernel is the integral over $\rho$ from $0$ to $qc$ of $(4/\pi)\,\mathbb{E}[e^{-u_1^2 - u_2^2}] = "
            r"(4/\pi)/\sqrt{\det(I + 2\Sigma)}$. That step is checked numerically (nested quadrature at four "
            r"$(q, c)$); the last integral is SymPy's.",
        ),
    )


# -- any smooth activation: the length map, its slope, and the slope of the correlation map ----------------


class _SmoothPhi:
    """A concrete smooth activation in place of the abstract phi (phi', phi'' its derivatives), at concrete
    (sigma_w^2, sigma_b^2, q, c): expectations over the Gaussian pair are written with standard normals in the
    *other* order from the rule's (u_2 = sqrt(q) s_1, u_1 = sqrt(q) (c s_1 + sqrt(1 - c^2) s_2)), derivatives in
    q and c are taken by SymPy under the integral sign, and the integrals by float64 composite Gauss-Legendre
    quadrature (:mod:`derive.pairquad`'s nodes; good to about 1e-13 for these smooth, rapidly decaying
    integrands). Numerical, and named so: lines agree to ``digits`` significant digits."""

    numeric_pair = True
    sizes_own = True

    def __init__(self, name: str, expr, points, digits: int = 9):
        s = sp.Symbol("s", real=True)
        first = sp.diff(expr(s), s)
        self.fns = {
            phi: sp.Lambda(s, expr(s)),
            dphi: sp.Lambda(s, first),
            ddphi: sp.Lambda(s, sp.diff(first, s)),
        }
        self.points, self.digits = tuple(points), digits
        self.name = f"phi = {name} at (sigma_w^2, sigma_b^2, q, c) in {[tuple(str(v) for v in p) for p in points]}"

    def applies(self, assumptions) -> bool:
        return set(assumptions) <= {"gaussian-pair", "smooth-phi"}

    @staticmethod
    def _pair(arg):
        s1, s2 = sp.symbols("s_1 s_2", real=True)
        root = sp.sqrt(q)
        if arg.has(u1) and arg.has(u2):
            body = arg.xreplace({u2: root * s1, u1: root * (c * s1 + sp.sqrt(1 - c**2) * s2)})
            inner = sp.Integral(body * std_normal_density(s1) * std_normal_density(s2), (s2, -sp.oo, sp.oo))
            return sp.Integral(inner, (s1, -sp.oo, sp.oo))
        body = arg.xreplace({u1: root * s1, u2: root * s1})
        return sp.Integral(body * std_normal_density(s1), (s1, -sp.oo, sp.oo))

    @staticmethod
    def _numeric(e):
        """The value of ``e`` (numbers, and integrals over the real line, nested at most twice)."""
        import numpy as np

        from ..pairquad import _nodes

        nodes, weights = _nodes(())

        def integral(node):
            """A single integral, or a double one (SymPy writes nested integrals as one, innermost limit
            first): the inner one on a grid of the outer variable's nodes."""
            limits, body = node.limits, node.function
            if any((low, high) != (-sp.oo, sp.oo) for _, low, high in limits):
                raise ValueError("only integrals over the real line")
            if body.has(sp.Integral):
                raise ValueError("write nested integrals as one Integral with two limits")
            if len(limits) == 1:
                fn = sp.lambdify(limits[0][0], body, modules=["scipy", "numpy"])
                return float(np.sum(weights * np.broadcast_to(fn(nodes), nodes.shape)))
            if len(limits) != 2:
                raise ValueError("integrals nested more than twice")
            (inner, _, _), (outer, _, _) = limits
            fn = sp.lambdify((outer, inner), body, modules=["scipy", "numpy"])
            table = np.broadcast_to(fn(nodes[:, None], nodes[None, :]), (len(nodes), len(nodes)))
            return float(weights @ table @ weights)

        def walk(node):
            if isinstance(node, sp.Integral):
                return sp.Float(integral(node), 17)
            if not node.args:
                return node
            return node.func(*(walk(a) for a in node.args))

        return sp.N(walk(e), 17)

    def evaluate(self, expr, assumptions):
        e = sp.S(expr)
        for fn, concrete in self.fns.items():
            e = e.replace(fn, concrete)
        e = e.replace(lambda x: isinstance(x, E), lambda x: self._pair(x.args[0]))
        e = e.replace(lambda x: isinstance(x, sp.Derivative), lambda x: x.doit(deep=False))
        return sp.Matrix(
            [self._numeric(e.xreplace({sigma_w2: w2, sigma_b2: b2, q: qv, c: cv})) for w2, b2, qv, cv in self.points]
        )

    def same(self, left, right) -> bool:
        return _agree_to(self.digits, left, right)


class _PairTimesFamily:
    """A line with both kinds of moment: E[...] of the Gaussian pair by a :class:`_SmoothPhi`, and the moments of
    weights and backpropagated gradients by a :class:`~derive.semantics.Family`, which draws them to satisfy
    exactly the chain's other assumptions; sigma_w^2 is n_in Var(w) under that family (mean-field-w). Its own
    sizes (n_out, n_in); the family's scale parameters at fixed generic values. Lines agree to ``digits``."""

    sizes_own = True
    PAIR_KEYS = frozenset({"gaussian-pair", "smooth-phi"})
    SIZES = ((2, 3), (3, 4), (5, 7))
    digits = 9

    def __init__(self, pair: _SmoothPhi, family: Family):
        self.pair, self.family = pair, family
        self.name = f"{pair.name}, with {family.name} weights and gradients"

    @property
    def can_violate(self) -> frozenset:
        return self.family.can_violate - {"gaussian-z", "symmetric-z"}

    def applies(self, assumptions) -> bool:
        rest = frozenset(assumptions) - self.PAIR_KEYS
        return bool(rest) and "mean-field-w" in rest and self.family.applies(rest - {"mean-field-w"})

    def evaluate(self, expr, assumptions):
        rest = frozenset(assumptions) - self.PAIR_KEYS - {"mean-field-w"}
        pair_nodes = sorted({e for e in sp.S(expr).atoms(E, Var) if e.has(u1) or e.has(u2)}, key=sp.default_sort_key)
        marks = [sp.Dummy() for _ in pair_nodes]
        values = [self.pair.evaluate(node, assumptions) for node in pair_nodes]
        var_w = self.family.evaluate(Var(w), rest)
        out = []
        for size_out, size_in in self.SIZES:
            line = sp.S(expr).xreplace(dict(zip(pair_nodes, marks, strict=True))).subs({n_out: size_out, n_in: size_in})
            moment = self.family.evaluate(line, rest)
            scale = var_w * size_in  # sigma_w^2 = n_in Var(w)
            generic = {
                s: sp.Rational(7 + 2 * i, 5)
                for i, s in enumerate(
                    sorted((moment.free_symbols | scale.free_symbols) - set(marks) - {sigma_w2}, key=str)
                )
            }
            for index in range(len(self.pair.points)):
                table = {m: v[index] for m, v in zip(marks, values, strict=True)}
                table[sigma_w2] = scale.xreplace(generic)
                out.append(sp.N(moment.xreplace(generic).xreplace(table), 17))
        return sp.Matrix(out)

    def same(self, left, right) -> bool:
        return _agree_to(self.digits, left, right)


#: backward-variance's assumptions, which a chain citing it must cite
BACKWARD = ("iid-w", "zero-mean-w", "indep-grad", "zero-mean-grad")
_POINTS_A = ((sp.Rational(3, 2), sp.Rational(1, 20), sp.Rational(7, 10), sp.Rational(2, 5)),)
_POINTS_B = ((sp.Rational(5, 2), sp.Rational(3, 10), sp.Rational(19, 10), sp.Rational(-3, 5)),)


def signal_propagation(refs: dict) -> Derivation:
    """The mean-field maps of any smooth activation (Poole et al. 2016, Schoenholz et al. 2017): the length map in
    standard normals, its slope chi_1 + sigma_w^2 E[phi phi''] (the stability of q*, and xi_q), and the slope of
    the correlation map, sigma_w^2 E[phi'(u_1) phi'(u_2)] (Price's theorem), which is chi_1 at c = 1."""
    gamma1, gamma2 = std_normal_density(t1), std_normal_density(t2)
    line = (t1, -sp.oo, sp.oo)
    root = sp.sqrt(q)
    length = sigma_w2 * sp.Integral(phi(root * t1) ** 2 * gamma1, line) + sigma_b2
    smooth = ("gaussian-pair", "smooth-phi")
    pairs = (
        _SmoothPhi("tanh", sp.tanh, _POINTS_A + _POINTS_B),
        _SmoothPhi("erf", sp.erf, _POINTS_B + _POINTS_A),
        _SmoothPhi("sin", sp.sin, _POINTS_A + _POINTS_B),
    )
    at_one = sigma_w2 * sp.Integral(sp.Integral(dphi(root * t1) ** 2 * gamma1 * gamma2, (t2, -sp.oo, sp.oo)), line)
    return Derivation(
        id="signal-propagation",
        title="Signal propagation through any activation",
        summary="For weights N(0, sigma_w^2/n), biases N(0, sigma_b^2) and a twice differentiable phi: the length "
        "map q -> sigma_w^2 E[phi(sqrt(q) Z)^2] + sigma_b^2 has slope chi_1 + sigma_w^2 E[phi(u) phi''(u)], and the "
        "correlation map has slope sigma_w^2 E[phi'(u_1) phi'(u_2)], which is chi_1 = sigma_w^2 E[phi'(u)^2] at c = 1; "
        "backpropagated gradients grow by (n_{l+1}/n_l) chi_1 per layer.",
        chains=(
            Chain(
                key="length",
                title=r"The length map: $q^l = \sigma_w^2\,\mathbb{E}[\phi(u_1)^2] + \sigma_b^2$, "
                r"$u_1 \sim \mathcal{N}(0, q)$, $q = q^{l-1}$",
                lhs=sigma_w2 * E(phi(u1) ** 2) + sigma_b2,
                assumptions=("gaussian-pair",),
                steps=(Step(length, "standard-normals", ("gaussian-pair",)),),
            ),
            Chain(
                key="length-slope",
                title=r"The slope of the length map, $\partial q^l/\partial q^{l-1}$: at $q^*$ it decides "
                r"$q^*$'s stability and $\xi_q$",
                lhs=sp.Derivative(length, q),
                assumptions=smooth,
                steps=(
                    Step(
                        sigma_w2 * sp.Integral(t1 * phi(root * t1) * dphi(root * t1) * gamma1 / root, line),
                        "leibniz",
                        ("smooth-phi",),
                    ),
                    Step(
                        sigma_w2
                        * sp.Integral((dphi(root * t1) ** 2 + phi(root * t1) * ddphi(root * t1)) * gamma1, line),
                        "stein",
                        ("smooth-phi",),
                    ),
                    Step(
                        sigma_w2 * E(dphi(u1) ** 2) + sigma_w2 * E(phi(u1) * ddphi(u1)),
                        "standard-normals",
                        ("gaussian-pair",),
                    ),
                ),
            ),
            Chain(
                title=r"The slope of the correlation map $c^l = (\sigma_w^2\,\mathbb{E}[\phi(u_1)\phi(u_2)] + "
                r"\sigma_b^2)/q$, $c = c^{l-1}$, $q = q^*$",
                lhs=sp.Derivative((sigma_w2 * E(phi(u1) * phi(u2)) + sigma_b2) / q, c),
                assumptions=smooth,
                steps=(Step(sigma_w2 * E(dphi(u1) * dphi(u2)), "price", smooth),),
            ),
            Chain(
                key="gradient",
                title=r"Gradients through a layer: $\partial\ell/\partial h_j^l = \phi'(h_j^l)\,\delta_{x,j}$ with "
                r"$\delta_{x,j} = \sum_k w_{kj}\,\delta_{y,k}$ independent of $h_j^l$ (\texttt{indep-grad})",
                lhs=E(dphi(u1) ** 2) * Var(sp.Sum(W[k] * G[k], (k, 1, n_out))),
                assumptions=(*BACKWARD, "mean-field-w"),
                steps=(
                    Step(E(dphi(u1) ** 2) * n_out * Var(w) * Var(g), "result", BACKWARD, ref="backward-variance"),
                    Step(
                        n_out / n_in * sigma_w2 * E(dphi(u1) ** 2) * Var(g),
                        "mean-field-weights",
                        ("mean-field-w",),
                    ),
                ),
            ),
            Chain(
                key="chi1",
                title=r"At $c = 1$ ($u_2 = u_1$): $\sigma_w^2\,\mathbb{E}[\phi'(u_1)\phi'(u_2)]$ in standard "
                r"normals is $\chi_1$",
                lhs=at_one,
                assumptions=("gaussian-pair",),
                steps=(Step(sigma_w2 * E(dphi(u1) ** 2), "standard-normals", ("gaussian-pair",)),),
            ),
        ),
        refs=refs,
        models=(
            *pairs,
            *(_PairTimesFamily(pairs[i], Family(kind)) for i, kind in enumerate(("normal", "uniform", "laplace"))),
        ),
        context={"mean-field-weights": {Var(w): sigma_w2 / n_in}},
        notes=(
            r"A unit of layer $l$ computes $h_i^l = \sum_{j=1}^{n} W_{ij}\,\phi(h_j^{l-1}) + b_i$ with "
            r"$W_{ij} \sim \mathcal{N}(0, \sigma_w^2/n)$ and $b_i \sim \mathcal{N}(0, \sigma_b^2)$. Given the layer "
            r"below, $h_i^l$ is Gaussian with second moment $\sigma_w^2 \frac{1}{n}\sum_j \phi(h_j^{l-1})^2 + "
            r"\sigma_b^2$ (\eqref{eq:forward-variance} with a bias); as $n \to \infty$ the average is "
            r"$\mathbb{E}[\phi(u)^2]$, and two inputs' pre-activations form the Gaussian pair of the assumptions "
            r"(Poole et al.\ 2016). Hence the length map above and the correlation map "
            r"$c^l = (\sigma_w^2\,\mathbb{E}[\phi(u_1)\phi(u_2)] + \sigma_b^2)/q^*$ once $q$ has reached its fixed "
            r"point $q^*$.",
            r"Its fixed point $q^*$ is stable when the slope of the length map there, $\chi_{q^*} = \chi_1 + "
            r"\sigma_w^2\,\mathbb{E}[\phi(u)\phi''(u)]$, is below $1$, and $q^l - q^*$ then decays like "
            r"$\chi_{q^*}^{\,l} = e^{-l/\xi_q}$: $\xi_q = -1/\ln\chi_{q^*}$. Near a fixed point $c^*$ of the "
            r"correlation map, $c^l - c^*$ decays like $\chi_{c^*}^{\,l}$ with $\chi_{c^*} = \sigma_w^2\,"
            r"\mathbb{E}[\phi'(u_1)\phi'(u_2)]$ at $c = c^*$, so $\xi_c = -1/\ln\chi_{c^*}$ (Schoenholz et al.\ 2017's "
            r"definitions). $c = 1$ is always a fixed point (then $u_2 = u_1$ and the map gives $q^*/q^* = 1$); its "
            r"slope there is $\chi_1$: it is stable (ordered phase) when $\chi_1 < 1$, and another fixed point "
            r"$c^* < 1$ takes over (chaotic phase) when $\chi_1 > 1$. At the edge of chaos, $\chi_1 = 1$, "
            r"$\xi_c = -1/\ln 1 = \infty$: correlations survive arbitrarily many layers.",
            r"$\chi_1$ is also the factor by which gradients grow per layer: the chain above, from "
            r"\eqref{eq:backward-variance} and mean-field weights, gives "
            r"$\mathbb{E}[(\partial\ell/\partial h_j^l)^2] = (n_{l+1}/n_l)\,\sigma_w^2\,\mathbb{E}[\phi'(u)^2]\,"
            r"\mathbb{E}[\delta_y^2]$, $\chi_1\,\mathbb{E}[\delta_y^2]$ at equal widths and $q = q^*$, under the "
            r"approximation that backpropagated gradients are independent of the weights and pre-activations "
            r"(\texttt{indep-grad}); its models draw the weights and gradients from the normal, uniform and Laplace "
            r"families, and the Monte Carlo check measures $\chi_1$ from gradient norms.",
            r"The Leibniz and standard-normal steps are exact rewrites; Stein's lemma "
            r"$\int t\,g(t)\,\gamma(t)\,dt = \int g'(t)\,\gamma(t)\,dt$ and Price's theorem "
            r"$\partial\,\mathbb{E}[f(u_1)g(u_2)]/\partial(qc) = \mathbb{E}[f'(u_1)g'(u_2)]$ are checked numerically with "
            r"$\phi = \tanh$, $\operatorname{erf}$ and $\sin$ at two $(\sigma_w^2, \sigma_b^2, q, c)$, the pair written "
            r"with standard normals in the other order. \texttt{initvar meanfield} evaluates every quantity here for "
            r"any activation the project knows.",
        ),
    )
