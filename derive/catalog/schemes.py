"""The general law solved for Var(w), its named presets, uniform bounds, and convolution fans."""

from __future__ import annotations

import sympy as sp

from ..activations import ACTIVATIONS, factor_of
from ..core import Chain, Derivation, Step
from ..expr import E, G, Var, W, X, a, c_phi, g, t, v_w, w, x
from ..schemes import SCHEMES
from ..semantics import STANDARD_FAMILIES, Instance

n_fan = sp.Symbol(r"n_{\mathrm{fan}}", integer=True, positive=True)
b = sp.Symbol("b", positive=True)
u = sp.Symbol("u", real=True)  # a weight drawn from U(-b, b)


def _scheme_symbol(key: str) -> sp.Symbol:
    return sp.Symbol(rf"\operatorname{{Var}}(w)_{{\mathrm{{{key}}}}}", positive=True)


def _factor_symbol(activation: str) -> sp.Symbol:
    return sp.Symbol(rf"c_{{\phi,\mathrm{{{activation.replace('_', ' ')}}}}}", positive=True)


def _bound_symbol(key: str) -> sp.Symbol:
    return sp.Symbol(rf"b_{{\mathrm{{{key}}}}}", positive=True)


def _preserving_root(refs: dict, fan, factor):
    """Var(w) that makes deep-propagation's per-layer factor n_l Var(w_l) c_phi equal to 1."""
    product = refs["deep-propagation"].result.rhs.atoms(sp.Product).pop()
    per_layer = product.function.replace(lambda e: isinstance(e, Var), lambda e: v_w)
    per_layer = per_layer.replace(lambda e: isinstance(e, sp.Indexed), lambda e: fan).subs(c_phi, factor)
    (root,) = sp.solve(sp.Eq(per_layer, 1), v_w)
    return root


def init_schemes(refs: dict) -> Derivation:
    """Var(w) = 1/(c_phi n_fan), with LeCun, Xavier and He as presets (LeCun 1998; Glorot 2010; He 2015)."""
    general = 1 / (c_phi * n_fan)
    chains = [
        Chain(
            title="The general law",
            lhs=v_w,
            assumptions=("variance-preserving", "layer-stack"),
            steps=(Step(general, "solve", ("variance-preserving",)),),
        )
    ]

    def factor(scheme):
        act = ACTIVATIONS[scheme.activation]
        return factor_of(act, refs.get(act.factor_from))

    for key, scheme in SCHEMES.items():
        act = ACTIVATIONS[scheme.activation]
        if act.factor_from == "linear-regime":
            factor_step = Step(
                general.subs(n_fan, scheme.fan).subs(c_phi, factor(scheme)), "linear-regime", ("linear-regime",)
            )
            extra = ("linear-regime",)
        else:
            factor_step = Step(
                general.subs(n_fan, scheme.fan).subs(c_phi, factor(scheme)),
                "result",
                ("symmetric-z",),
                ref=act.factor_from,
            )
            extra = ("symmetric-z",)
        chains.append(
            Chain(
                key=key,
                title=scheme.title,
                lhs=_scheme_symbol(key),
                assumptions=("variance-preserving", "layer-stack", *extra),
                steps=(
                    Step(
                        general.subs({n_fan: scheme.fan, c_phi: _factor_symbol(scheme.activation)}),
                        "result",
                        ("variance-preserving", "layer-stack"),
                        ref="init-schemes",
                    ),
                    factor_step,
                    Step(sp.factor(sp.simplify(factor_step.expr)), "algebra"),
                ),
            )
        )

    roots = {v_w: _preserving_root(refs, n_fan, c_phi)}
    for key, scheme in SCHEMES.items():
        roots[_scheme_symbol(key)] = _preserving_root(refs, scheme.fan, factor(scheme))
        roots[_factor_symbol(scheme.activation)] = factor(scheme)

    def model(point):
        def apply(expr):
            return sp.S(expr).xreplace(roots).subs(point)

        return apply

    points = ({"n_in": 64, "n_out": 16, "a": sp.Rational(1, 10)}, {"n_in": 5, "n_out": 300, "a": sp.Rational(1, 3)})
    models = tuple(
        Instance(
            f"variance-preserving root at {p}",
            model({sp.Symbol(k, integer=True, positive=True) if k != "a" else a: v for k, v in p.items()}),
        )
        for p in points
    )
    return Derivation(
        id="init-schemes",
        title="Initialization schemes from one law",
        summary="Keeping n_fan Var(w) c_phi = 1 gives Var(w) = 1/(c_phi n_fan); LeCun, Xavier and He are presets.",
        chains=tuple(chains),
        refs=refs,
        models=models,
        notes=(
            r"A scheme is a point (fan mode, activation): $n_{\mathrm{fan}}\in\{n_{\mathrm{in}}, n_{\mathrm{out}}, "
            r"(n_{\mathrm{in}}+n_{\mathrm{out}})/2\}$ and $c_\phi$ from \eqref{eq:relu-second-moment}, "
            r"\eqref{eq:leaky-relu-second-moment} or the linear regime. The std gain is $1/\sqrt{c_\phi}$: "
            r"$\sqrt2$ for ReLU. LeCun et al.\ (1998), Glorot and Bengio (2010), He et al.\ (2015).",
        ),
    )


def uniform_bound(refs: dict) -> Derivation:
    """Var(U(-b, b)) = b^2/3, so b = sqrt(3 Var(w)): the uniform variants of the schemes."""
    density = 1 / (2 * b)
    chains = [
        Chain(
            title="Variance of a uniform weight",
            lhs=Var(u),
            assumptions=("uniform-w",),
            steps=(
                Step(E(u**2) - E(u) ** 2, "def-var"),
                Step(
                    sp.Integral(t**2 * density, (t, -b, b)) - sp.Integral(t * density, (t, -b, b)) ** 2,
                    "uniform",
                    ("uniform-w",),
                ),
                Step(b**2 / 3, "integrate"),
            ),
        ),
        Chain(
            key="bound",
            title="The bound for a given variance",
            lhs=b,
            assumptions=("uniform-w",),
            steps=(Step(sp.sqrt(3 * v_w), "solve-bound", ("uniform-w",)),),
        ),
    ]
    for key in ("xavier", "he"):
        scheme_chain = refs["init-schemes"].chain(key)
        chains.append(
            Chain(
                key=key,
                title=SCHEMES[key].title + ", uniform",
                lhs=_bound_symbol(key),
                assumptions=("uniform-w", *scheme_chain.assumptions),
                steps=(
                    Step(sp.sqrt(3 * _scheme_symbol(key)), "result", ("uniform-w",), ref="uniform-bound:bound"),
                    Step(
                        sp.sqrt(3 * scheme_chain.result.rhs),
                        "result",
                        scheme_chain.assumptions,
                        ref=f"init-schemes:{key}",
                    ),
                    Step(sp.sqrt(sp.factor(3 * refs["init-schemes"].chain(key).result.rhs)), "algebra"),
                ),
            )
        )

    def model(exact: bool):
        import sympy.stats as st

        def variance_of_uniform(bound):
            if exact:
                return st.variance(st.Uniform("U", -bound, bound))
            return sp.integrate(t**2 / (2 * bound), (t, -bound, bound))  # by the density, not sympy.stats

        var_b = variance_of_uniform(b)

        def root(target):
            (value,) = sp.solve(sp.Eq(var_b, target), b)
            return value

        fixed = {Var(u): var_b, E(u**2): var_b, E(u): 0}
        for key in ("xavier", "he"):
            var_key = refs["init-schemes"].chain(key).result.rhs
            fixed[_scheme_symbol(key)] = var_key
            fixed[_bound_symbol(key)] = root(var_key)
        bound_of_v = root(v_w)

        def apply(expr):
            expr = sp.S(expr)
            subs = dict(fixed)
            if expr.has(v_w) or expr == b:  # the "bound" chain: b is the root for Var(w) = v_w
                subs[b] = bound_of_v
            return expr.xreplace(subs).doit()

        return apply

    return Derivation(
        id="uniform-bound",
        title="Uniform bounds",
        summary="Var(U(-b, b)) = b^2/3, so b = sqrt(3 Var(w)): Xavier sqrt(6/(n_in+n_out)), He sqrt(6/n_in).",
        chains=tuple(chains),
        refs=refs,
        models=(Instance("sympy.stats Uniform", model(True)), Instance("density integral", model(False))),
        notes=(
            r"Only the variance enters the propagation law, so $\mathcal{U}(-b,b)$ with $b=\sqrt{3\operatorname{Var}(w)}$ "
            r"and $\mathcal{N}(0,\operatorname{Var}(w))$ give the same layer variance.",
        ),
    )


c_in, c_out, groups, k_h, k_w = sp.symbols("c_in c_out g k_h k_w", integer=True, positive=True)
ch, p, q = sp.symbols("c p q", integer=True, positive=True)


def conv_fan(refs: dict) -> Derivation:
    """fan_in = (c_in/g) k_h k_w and fan_out = (c_out/g) k_h k_w for a grouped 2-D convolution."""
    fan_in = c_in / groups * k_h * k_w
    fan_out = c_out / groups * k_h * k_w
    forward = ("indep-wx", "iid-w", "iid-x", "zero-mean-w")
    backward = ("iid-w", "zero-mean-w", "indep-grad", "zero-mean-grad")

    def conv_sum(body, channels):
        return sp.Sum(body, (ch, 1, channels / groups), (p, 1, k_h), (q, 1, k_w))

    return Derivation(
        id="conv-fan",
        title="Fans of a convolution",
        summary="A convolution's output sums (c_in/g) k_h k_w products and each input feeds (c_out/g) k_h k_w "
        "outputs, so the one-layer laws hold with these fans.",
        chains=(
            Chain(
                lhs=Var(conv_sum(W[ch, p, q] * X[ch, p, q], c_in)),
                assumptions=forward,
                steps=(
                    Step(
                        conv_sum(Var(W[ch, p, q] * X[ch, p, q]), c_in),
                        "uncorrelated-sum",
                        ("iid-w", "zero-mean-w", "indep-wx"),
                    ),
                    Step(fan_in * Var(w * x), "identical", ("iid-w", "iid-x")),
                    Step(
                        fan_in * Var(w) * E(x**2),
                        "result",
                        ("indep-wx", "zero-mean-w"),
                        ref="product-variance:zero-mean-w",
                    ),
                ),
            ),
            Chain(
                key="fan-out",
                title="Backward: gradient with respect to one input",
                lhs=Var(conv_sum(W[ch, p, q] * G[ch, p, q], c_out)),
                assumptions=backward,
                steps=(
                    Step(
                        conv_sum(Var(W[ch, p, q] * G[ch, p, q]), c_out),
                        "uncorrelated-sum",
                        ("iid-w", "zero-mean-w", "indep-grad"),
                    ),
                    Step(fan_out * Var(w * g), "identical", ("iid-w", "indep-grad")),
                    Step(fan_out * Var(w) * Var(g), "result", backward, ref="backward-variance"),
                ),
            ),
        ),
        refs=refs,
        models=STANDARD_FAMILIES[:2],
        sizes={c_in: 4, c_out: 6, groups: 2, k_h: 2, k_w: 1},
        notes=(
            r"Output $(o,i,j)$ of a convolution with $g$ groups sums over the $c_{\mathrm{in}}/g$ input channels of "
            r"its group and the $k_h k_w$ kernel taps; by the same count an input pixel away from the border feeds "
            r"$c_{\mathrm{out}}/g$ channels at $k_h k_w$ positions. These are the fans PyTorch's "
            r"\texttt{\_calculate\_fan\_in\_and\_fan\_out} uses.",
        ),
    )
