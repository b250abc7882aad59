"""Rules as executable rewrites: what a step's rule name means to the checker.

A rule is an identity that holds under the assumptions it requires, written as a rewrite
``T``. A step ``before = after`` by rule ``T`` is accepted when ``T(before)`` and ``T(after)``
are equal as algebra (SymPy proves their difference is 0). Because ``T`` changes an expression
only into something equal to it under the cited assumptions, that proves ``before = after``;
and because ``T`` rewrites only what the rule is about (``zero-mean-x`` turns E[x] into 0 and
nothing else), a rule cannot justify an arbitrary change. A few rules are checked identities
instead of rewrites (``unroll`` by induction, ``solve-*`` by substituting the solution back into
the law it solves, ``result`` by replacing the cited result's left-hand side by its right-hand
side).

Every rewrite is sound only for the roles of the symbols it touches: ``w`` (weights), ``x``
(inputs), ``\\delta_y`` (backpropagated gradients), ``z`` (a pre-activation), by base name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .expr import (
    GRAD_BASES,
    INPUT_BASES,
    WEIGHT_BASES,
    E,
    G,
    L,
    Nl,
    Var,
    W,
    Wl,
    X,
    Xl,
    Yl,
    b_u,
    base_of,
    c_pair,
    c_phi,
    ell,
    f_z,
    g,
    n_in,
    q_pair,
    random_atoms,
    sigma,
    std_normal_density,
    t,
    t1,
    t2,
    u1,
    u2,
    u_w,
    v_w,
    w,
    x,
    z,
)
from .schemes import compromise


@dataclass(frozen=True)
class Rule:
    """A justification a step may name.

    ``requires`` lists alternative sets of assumption keys: the rule applies when the step cites
    every key of at least one of them. ``rewrite(expr, ctx)`` is the rule's identity (applied to
    both sides of the step), or ``verify(before, after, ctx)`` returns None when the step follows
    and a reason otherwise.
    """

    key: str
    label: str
    requires: tuple[frozenset[str], ...] = (frozenset(),)
    rewrite: Callable | None = None
    verify: Callable | None = None


@dataclass(frozen=True)
class Context:
    """What a rule may look at besides the two lines: the step, its derivation and chain."""

    derivation: object
    chain: object
    step: object

    @property
    def cites(self) -> frozenset[str]:
        return frozenset(self.step.cites)

    def definitions(self, key: str) -> dict:
        return dict(self.derivation.context.get(key, {}))


# -- helpers ------------------------------------------------------------------------------------


def _role(sym) -> str | None:
    base = base_of(sym)
    if base in WEIGHT_BASES:
        return "w"
    if base in INPUT_BASES:
        return "x"
    if base in GRAD_BASES:
        return "g"
    return "z" if base is not None else None


def _integrals_linear(expr):
    """Every integral written as a sum of constant * Integral(term): terms compare by identity."""

    def split(integral):
        if len(integral.limits) != 1:
            raise ValueError("multiple integrals are not supported by the rules: write them nested")
        (var, *_bounds) = integral.limits[0]
        total = sp.S.Zero
        for term in sp.Add.make_args(sp.expand(integral.function)):
            const, dep = term.as_independent(var, as_Add=False)
            total += const * sp.Integral(dep, *integral.limits)
        return total

    return sp.S(expr).replace(lambda e: isinstance(e, sp.Integral), split)


def same(left, right) -> bool:
    """``left == right`` as algebra, with integrals compared term by term."""
    diff = _integrals_linear(sp.S(left)) - _integrals_linear(sp.S(right))
    diff = sp.expand(diff)
    if diff == 0:
        return True
    if diff.has(sp.erfc):  # erfc(u) = 1 - erf(u), which simplify does not use on its own
        diff = sp.expand(diff.rewrite(sp.erf))
        if diff == 0:
            return True
    return sp.simplify(diff) == 0


def _replace(expr, test, fn):
    return sp.S(expr).replace(test, fn)


# -- rewrites -----------------------------------------------------------------------------------


def _def_var(expr, ctx):
    return _replace(expr, lambda e: isinstance(e, Var), lambda e: E(e.args[0] ** 2) - E(e.args[0]) ** 2)


def _def_mean(expr, ctx):
    """E[h(z)] = integral of h(t) f_z(t) over the real line (z the only random symbol of h)."""

    def is_z_moment(e):
        return isinstance(e, E) and random_atoms(e.args[0]) == [z]

    expr = _replace(expr, is_z_moment, lambda e: sp.Integral(e.args[0].subs(z, t) * f_z(t), (t, -sp.oo, sp.oo)))
    # A density integrates to 1.
    return sp.S(expr).xreplace({sp.Integral(f_z(t), (t, -sp.oo, sp.oo)): sp.S.One})


_S = sp.Symbol("s_half", positive=True)


def _split_at_zero(expr, fold: bool):
    """Split integrals in t at 0 and resolve max/Heaviside/|.| on each half-line (t = +s or t = -s).

    With ``fold`` (the density is symmetric, f_z(-s) = f_z(s)), the negative half-line is written as
    an integral over the positive one: the integral of h(t) f_z(t) over t < 0 is that of h(-s) f_z(s).
    """

    def split(integral):
        if len(integral.limits) != 1:
            raise ValueError("multiple integrals are not supported by the rules: write them nested")
        var, low, high = integral.limits[0]
        if var != t:
            return integral
        pieces = []
        if low == -sp.oo and high == sp.oo:
            pieces = [(-1, -sp.oo, 0), (1, 0, sp.oo)]
        elif low == 0 and high == sp.oo:
            pieces = [(1, 0, sp.oo)]
        elif low == -sp.oo and high == 0:
            pieces = [(-1, -sp.oo, 0)]
        else:
            return integral
        total = sp.S.Zero
        for sign, lo, hi in pieces:
            body = integral.function.subs(t, sign * _S)
            if fold:
                if body.has(f_z):
                    body = body.replace(f_z, lambda arg: f_z(sp.Abs(arg)))
                    body = body.subs(sp.Abs(_S), _S)
                total += sp.Integral(body.subs(_S, t), (t, 0, sp.oo))
            else:
                total += sp.Integral(body.subs(_S, sign * t), (t, lo, hi))
        return total

    return sp.S(expr).replace(lambda e: isinstance(e, sp.Integral), split)


def _activation_def(expr, ctx):
    return _split_at_zero(expr, fold=False)


def _symmetry(expr, ctx):
    return _split_at_zero(expr, fold=True)


def _gaussian(expr, ctx):
    density = sp.exp(-(t**2) / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma)
    expr = sp.S(expr).replace(f_z, lambda arg: density.subs(t, arg))
    return expr.xreplace({E(z): sp.S.Zero, E(z**2): sigma**2})


def _uniform(expr, ctx):
    def is_u_moment(e):
        return isinstance(e, E) and random_atoms(e.args[0]) == [u_w]

    return _replace(expr, is_u_moment, lambda e: sp.Integral(e.args[0].subs(u_w, t) / (2 * b_u), (t, -b_u, b_u)))


def _pair_integral(arg):
    """E[arg] for arg a function of the Gaussian pair (u_1, u_2), as integrals over standard normals:
    u_1 = sqrt(q) t_1 and u_2 = sqrt(q) (c t_1 + sqrt(1 - c^2) t_2); each u alone is sqrt(q) t_1."""
    root = sp.sqrt(q_pair)
    has1, has2 = arg.has(u1), arg.has(u2)
    line = (t1, -sp.oo, sp.oo)
    if has1 and has2:
        body = arg.xreplace({u1: root * t1, u2: root * (c_pair * t1 + sp.sqrt(1 - c_pair**2) * t2)})
        inner = sp.Integral(body * std_normal_density(t1) * std_normal_density(t2), (t2, -sp.oo, sp.oo))
        return sp.Integral(inner, line)
    if has1 or has2:
        body = arg.xreplace({u1: root * t1, u2: root * t1})
        return sp.Integral(body * std_normal_density(t1), line)
    return E(arg)


def _drop_free_normal(integral):
    """An integral over t_2 of (something free of t_2) times the density of t_2: the density integrates to 1."""
    limits = list(integral.limits)
    for index, (var, low, high) in enumerate(limits):
        if var != t2 or (low, high) != (-sp.oo, sp.oo):
            continue
        rest = sp.simplify(integral.function / std_normal_density(t2))
        if rest.has(t2):
            return integral
        del limits[index]
        return sp.Integral(rest, *limits) if limits else rest
    return integral


def _standard_normals(expr, ctx):
    expr = _replace(expr, lambda e: isinstance(e, E) and (e.has(u1) or e.has(u2)), lambda e: _pair_integral(e.args[0]))
    return _replace(expr, lambda e: isinstance(e, sp.Integral) and e.has(t2), _drop_free_normal)


def _leibniz(expr, ctx):
    """Differentiate under the integral sign (derivatives of phi become phi', phi''). Only integrals: E[...]
    hides how the pair's law depends on q and c, so a derivative of an E is refused, not taken as 0."""

    def differentiate(d):
        if d.expr.has(E):
            raise ValueError("write the expectation as an integral before differentiating it (E hides q and c)")
        return d.doit(deep=False)  # not deep: SymPy would try (for minutes) to integrate what it differentiated

    return _replace(expr, lambda e: isinstance(e, sp.Derivative), differentiate)


def _integrate(expr, ctx):
    return _replace(expr, lambda e: isinstance(e, sp.Integral) and not e.has(f_z), lambda e: e.doit())


def _zero_mean(role):
    def rewrite(expr, ctx):
        def is_mean(e):
            return isinstance(e, E) and _role(e.args[0]) == role and e.args[0] in random_atoms(e.args[0])

        return _replace(expr, is_mean, lambda e: sp.S.Zero)

    return rewrite


def _partners(ctx) -> set:
    """The roles the step's citations make independent of the weights: inputs (indep-wx), gradients (indep-grad)."""
    return {role for key, role in (("indep-wx", "x"), ("indep-grad", "g")) if key in ctx.cites}


def _independence(expr, ctx):
    """E[AB] = E[A]E[B] for A a product of weights and B a product of inputs (indep-wx) or of
    backpropagated gradients (indep-grad)."""
    partners = _partners(ctx)

    def factor(e):
        arg = e.args[0]
        if not isinstance(arg, sp.Mul):
            return e
        groups: dict[str, list] = {}
        const = []
        for f in arg.args:
            roles = {_role(s) for s in random_atoms(f)}
            if not roles:
                const.append(f)
            elif len(roles) == 1:
                groups.setdefault(roles.pop(), []).append(f)
            else:
                return e
        if set(groups) != {"w"} | (set(groups) & partners) or len(groups) != 2:
            return e
        return sp.Mul(*const) * sp.Mul(*(E(sp.Mul(*fs)) for fs in groups.values()))

    return _replace(expr, lambda e: isinstance(e, E), factor)


def _weight_factor(body, variables):
    """(the weight factor, the rest) of a summand w[...] * rest, where the weight's indices are all
    the summation variables (so distinct terms have distinct weights); else None."""
    if not isinstance(body, sp.Mul) or len(set(variables)) != len(variables):
        return None
    weights = [f for f in body.args if isinstance(f, sp.Indexed) and _role(f) == "w"]
    if len(weights) != 1 or not set(variables) <= set(weights[0].indices):
        return None
    rest = body / weights[0]
    if any(_role(s) == "w" for s in random_atoms(rest)):
        return None
    return weights[0], rest


def _uncorrelated_sum(expr, ctx):
    """Var(sum_i w_i r_i) = sum_i Var(w_i r_i) when the w_i are independent, mean zero, and independent
    of every r_j (inputs under indep-wx, gradients under indep-grad): the cross terms E[w_i w_j r_i r_j]
    factor into E[w_i] E[w_j r_i r_j] = 0."""
    partners = _partners(ctx)

    def distribute(e):
        inner = e.args[0]
        if not isinstance(inner, sp.Sum):
            return e
        variables = [lim[0] for lim in inner.limits]
        split = _weight_factor(inner.function, variables)
        if split is None:
            return e
        roles = {_role(s) for s in random_atoms(split[1])}
        if not roles or not roles <= partners:
            return e
        return sp.Sum(Var(inner.function), *inner.limits)

    return _replace(expr, lambda e: isinstance(e, Var), distribute)


def _identical(expr, ctx):
    """sum over a range of Var(f(w_i, r_i)) = (range size) Var(f(w, r)) when the pairs are identically
    distributed: weights under iid-w, inputs under iid-x, gradients under indep-grad."""
    partners = _partners(ctx)
    allowed = {}
    if "iid-w" in ctx.cites:
        allowed[W] = w
    if "iid-x" in ctx.cites:
        allowed[X] = x
    if "indep-grad" in ctx.cites:
        allowed[G] = g

    def collapse(e):
        body = e.function
        if not isinstance(body, (Var, E)):
            return e
        atoms = [s for s in random_atoms(body) if isinstance(s, sp.Indexed)]
        if len({s.base for s in atoms}) != len(atoms):
            return e  # two draws of the same base (w_i and w_{i+1}): not one identically distributed term
        roles = {_role(s) for s in atoms}
        if "w" in roles and (roles - {"w"}) - partners:
            return e  # weights with inputs or gradients: identical pairs need their independence too
        plain = body.replace(lambda s: isinstance(s, sp.Indexed) and s.base in allowed, lambda s: allowed[s.base])
        variables = [lim[0] for lim in e.limits]
        if any(plain.has(v) for v in variables):
            return e
        count = sp.Mul(*(hi - lo + 1 for _, lo, hi in e.limits))
        return count * plain

    return _replace(expr, lambda e: isinstance(e, sp.Sum), collapse)


def _activation_factor(expr, ctx):
    """E[x_l^2] = E[phi(y_{l-1})^2] = c_phi Var(y_{l-1}): c_phi is E[phi(z)^2]/E[z^2] for a symmetric,
    mean-zero pre-activation, and y_{l-1} is one (symmetric weights independent of the inputs)."""

    def is_input_square(e):
        return (
            isinstance(e, E)
            and isinstance(e.args[0], sp.Pow)
            and e.args[0].exp == 2
            and (isinstance(e.args[0].base, sp.Indexed) and e.args[0].base.base == Xl)
        )

    return _replace(expr, is_input_square, lambda e: c_phi * Var(Yl[e.args[0].base.indices[0] - 1]))


def _definitions(key):
    def rewrite(expr, ctx):
        table = ctx.definitions(key)
        expr = sp.S(expr)
        plain = {k: v for k, v in table.items() if not isinstance(k, sp.IndexedBase)}
        bases = {k: v for k, v in table.items() if isinstance(k, sp.IndexedBase)}
        expr = expr.xreplace(plain)
        if bases:
            expr = expr.replace(
                lambda e: isinstance(e, sp.Indexed) and e.base in bases, lambda e: bases[e.base](*e.indices)
            )
        return expr.doit() if bases else expr

    return rewrite


# -- checked identities ---------------------------------------------------------------------------


def _verify_unroll(before, after, ctx):
    """Induction: the closed form equals Var(y_1) at L = 1 and satisfies the step's recurrence
    Var(y_L) = F(L) Var(y_{L-1}); both checked at L = 2..6 with the products carried out."""
    closed = sp.S(after)
    if not closed.has(L):
        return "the closed form does not depend on the depth L"
    # The induction itself, with L symbolic: the closed form must be A * prod_{l=2}^{L} g(l) with A free
    # of L, g(L) the recurrence's own factor F(L) and A = Var(y_1) (the empty product at L = 1).
    products = [p for p in closed.atoms(sp.Product) if p.has(L)]
    if len(products) != 1:
        return "the closed form must be one product over the layers l = 2..L times a factor free of L"
    (product,) = products
    (variable, lower, upper) = product.limits[0]
    head = sp.simplify(closed / product)
    if head.has(L) or lower != 2 or upper != L:
        return "the closed form must be Var(y_1) times prod_{l=2}^{L} of the per-layer factor"
    factor = sp.simplify(sp.S(before) / Var(Yl[L - 1]))
    if factor.has(Var(Yl[L - 1])) or not same(product.function.subs(variable, L), factor):
        return "the product's factor is not the recurrence's factor F(L)"
    if not same(head, Var(Yl[1])):
        return "the closed form is not Var(y_1) at L = 1"
    for depth in range(2, 7):
        stepped = sp.S(before).xreplace({Var(Yl[L - 1]): closed.subs(L, L - 1)}).subs(L, depth).doit()
        if not same(stepped, closed.subs(L, depth).doit()):
            return f"the closed form does not satisfy the recurrence at L = {depth}"
    return None


def _forward_condition(ctx, value):
    """The deep law's per-layer factor n_l Var(w_l) c_phi with n_l the fan-in and Var(w_l) = value."""
    law = ctx.derivation.refs["deep-propagation"].result.rhs
    product = next(iter(law.atoms(sp.Product)))
    factor = product.function.xreplace({Nl[ell]: n_in, Var(Wl[ell]): value})
    return factor.xreplace({c_phi: ctx.derivation.context["c_phi"][ctx.chain.key]})


def _backward_condition(ctx, value):
    """The backward law's per-layer factor n_out Var(w) E[phi'(z)^2]."""
    law = ctx.derivation.refs["backward-variance"].result.rhs
    grads = [v for v in law.atoms(Var) if v.args[0] != w]
    factor = (law / grads[0]).xreplace({Var(w): value})
    return factor * ctx.derivation.context["d_phi"][ctx.chain.key]


def _verify_solve(condition):
    def verify(before, after, ctx):
        if not isinstance(before, sp.Symbol) or before != ctx.chain.lhs:
            return "a solve step starts from the chain's unknown variance alone"
        factor = condition(ctx, after)
        if not same(factor, 1):
            return f"substituted into the law, the per-layer factor is {sp.simplify(factor)}, not 1"
        return None

    return verify


def _verify_solve_edge(before, after, ctx):
    """The unknown is the unique positive root of chi_1(sigma_w^2) = 1, chi_1 the result of the chain that
    the derivation's context names for this chain ("edge": {key: (chi_1 chain key, variable)})."""
    if not isinstance(before, sp.Symbol) or before != ctx.chain.lhs:
        return "a solve step starts from the chain's unknown alone"
    named = ctx.derivation.context.get("edge", {}).get(ctx.chain.key)
    if named is None:
        return "the derivation names no chi_1 chain for this solve step"
    source, variable = named
    chi1 = ctx.derivation.chain(source).result.rhs
    roots = [r for r in sp.solve(sp.Eq(chi1, 1), variable) if r.is_positive]
    if len(roots) != 1:
        return f"chi_1 = 1 has {len(roots)} positive roots in {variable}, not one"
    if not same(roots[0], after):
        return f"chi_1 = 1 at {variable} = {roots[0]}, not {after}"
    return None


def _verify_numerically(before, after, ctx):
    """A step justified by a theorem that SymPy cannot apply (polar coordinates, Price's theorem): both lines
    are evaluated by every model of the derivation that evaluates numerically (``numeric_pair``), at its
    points, and must agree to its digits. Labelled "checked numerically" wherever it is shown."""
    models = [m for m in ctx.derivation.models if getattr(m, "numeric_pair", False)]
    if not models:
        return "a step checked numerically needs a model that evaluates it numerically"
    for model in models:
        left, right = model.evaluate(before, frozenset()), model.evaluate(after, frozenset())
        if not model.same(left, right):
            return f"the lines differ numerically under {model.name}"
    return None


def _verify_monotone(before, after, ctx):
    """lim_{s->oo} c * integral f(t, s) dt = c * integral lim f(t, s) dt when f >= 0 increases in s
    (monotone convergence) and c does not depend on s."""
    if not isinstance(before, sp.Limit):
        return "the line before is not a limit"
    inner, var = before.args[0], before.args[1]
    if before.args[2] != sp.oo:
        return "monotone convergence is used here only for a limit at +oo (an increasing integrand)"
    integrals = list(inner.atoms(sp.Integral))
    if len(integrals) != 1:
        return "the limit must hold exactly one integral"
    (integral,) = integrals
    const = sp.simplify(inner / integral)
    if const.has(var) or const.has(integral):
        return "the factor in front of the integral depends on the limit variable"
    f = integral.function
    if not (f.is_nonnegative and sp.diff(f, var).is_nonnegative):
        return "the integrand is not shown non-negative and increasing in the limit variable"
    pointwise = sp.limit(f, var, before.args[2])
    if not same(const * sp.Integral(pointwise, *integral.limits), after):
        return "this is not the integral of the pointwise limit"
    return None


def _verify_compromise(before, after, ctx):
    """Glorot and Bengio's eq. 12: 1/Var(w) is the mean of the two conditions' 1/Var(w)."""
    if before != ctx.chain.lhs:
        return "the compromise is stated for the chain's own variance, as its first step"
    forward, backward = ctx.derivation.context["compromise"][ctx.chain.key]
    expected = compromise(forward, backward)
    if not same(after, expected):
        return "not the compromise 2/(1/Var_forward + 1/Var_backward) of the two conditions"
    return None


def _verify_solve_bound(before, after, ctx):
    """b solves Var(U(-b, b)) = v_w, with Var(U(-b, b)) the chain's own derived value."""
    variance = ctx.derivation.chain("").result.rhs
    if not sp.S(after).is_positive:
        return "the bound b of U(-b, b) is the positive root"
    if not same(variance.subs(b_u, after), v_w):
        return "Var(U(-b, b)) at this b is not Var(w)"
    return None


def _verify_checker(key):
    def verify(before, after, ctx):
        checker = ctx.derivation.context.get(key)
        if checker is None:
            return f"no {key} checker in the derivation"
        return checker(before, after)

    return verify


def _rule(key, label, *alternatives, rewrite=None, verify=None):
    requires = tuple(frozenset(a) for a in alternatives) or (frozenset(),)
    if rewrite is None and verify is None:
        raise ValueError(f"rule {key!r} has neither a rewrite nor a check")
    return Rule(key, label, requires, rewrite, verify)


def _identity(expr, ctx):
    return sp.S(expr)


RULES: dict[str, Rule] = {
    r.key: r
    for r in (
        _rule("algebra", "algebra", rewrite=_identity),
        _rule("integrate", "exact integration", rewrite=_integrate),
        _rule("def-var", "definition of variance", rewrite=_def_var),
        _rule("def-mean", "definition of expectation", rewrite=_def_mean),
        _rule("independence", "independence", {"indep-wx"}, {"indep-grad"}, rewrite=_independence),
        _rule(
            "uncorrelated-sum",
            "variance of a sum of uncorrelated terms",
            {"iid-w", "zero-mean-w", "indep-wx"},
            {"iid-w", "zero-mean-w", "indep-grad"},
            rewrite=_uncorrelated_sum,
        ),
        _rule(
            "identical",
            "identical distribution",
            {"iid-w", "iid-x", "indep-wx"},
            {"iid-w", "indep-grad"},
            rewrite=_identical,
        ),
        _rule("zero-mean-w", "mean-zero weights", {"zero-mean-w"}, rewrite=_zero_mean("w")),
        _rule("zero-mean-x", "mean-zero inputs", {"zero-mean-x"}, rewrite=_zero_mean("x")),
        _rule("zero-mean-grad", "mean-zero gradients", {"zero-mean-grad"}, rewrite=_zero_mean("g")),
        _rule("symmetry", "symmetry of the density", {"symmetric-z"}, rewrite=_symmetry),
        _rule("gaussian", "Gaussian density", {"gaussian-z"}, rewrite=_gaussian),
        _rule("activation-def", "definition of the activation", rewrite=_activation_def),
        _rule(
            "activation-factor",
            "activation factor",
            {"symmetric-w", "zero-mean-w", "layer-stack", "homogeneous-phi"},
            rewrite=_activation_factor,
        ),
        _rule("unroll", "induction over layers", {"layer-stack"}, verify=_verify_unroll),
        _rule(
            "solve-forward",
            "keep the forward second moment",
            {"variance-preserving"},
            verify=_verify_solve(_forward_condition),
        ),
        _rule(
            "solve-backward",
            "keep the backward second moment",
            {"variance-preserving"},
            verify=_verify_solve(_backward_condition),
        ),
        _rule("compromise", "Glorot and Bengio's compromise", verify=_verify_compromise),
        _rule(
            "polar",
            "polar coordinates (checked numerically)",
            {"gaussian-pair"},
            verify=_verify_numerically,
        ),
        _rule(
            "price",
            "Price's theorem and a Gaussian integral (checked numerically)",
            {"gaussian-pair"},
            verify=_verify_numerically,
        ),
        _rule("solve-edge", "solve for the edge of chaos", verify=_verify_solve_edge),
        _rule(
            "standard-normals",
            "the Gaussian pair in standard normals",
            {"gaussian-pair"},
            rewrite=_standard_normals,
        ),
        _rule("leibniz", "differentiation under the integral sign", {"smooth-phi"}, rewrite=_leibniz),
        _rule(
            "mean-field-weights",
            "mean-field weights",
            {"mean-field-w"},
            rewrite=_definitions("mean-field-weights"),
        ),
        _rule(
            "stein",
            "Gaussian integration by parts (checked numerically)",
            {"smooth-phi"},
            verify=_verify_numerically,
        ),
        _rule("monotone-convergence", "monotone convergence", verify=_verify_monotone),
        _rule("uniform", "uniform density", {"uniform-w"}, rewrite=_uniform),
        _rule("solve-bound", "solve for the bound", {"uniform-w"}, verify=_verify_solve_bound),
        _rule("network", "definition of the network", rewrite=_definitions("network")),
        _rule("zero-init", "all parameters zero", {"zero-init"}, rewrite=_definitions("zero-init")),
        _rule("constant-init", "constant parameters", {"constant-init"}, rewrite=_definitions("constant-init")),
        _rule("chain-rule", "chain rule", {"differentiable"}, verify=_verify_checker("chain-rule")),
        _rule("result", "earlier result", verify=lambda before, after, ctx: None),  # checked in core
    )
}
