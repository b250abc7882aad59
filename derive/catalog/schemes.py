"""The laws solved for Var(w), their named presets, uniform bounds, and convolution fans."""

from __future__ import annotations

import sympy as sp

from ..activations import ACTIVATIONS
from ..core import Chain, Derivation, Step
from ..expr import E, G, Var, W, X, a, b_u, c_phi, g, n_in, n_out, t, u_w, v_w, w, x, z
from ..schemes import COMPROMISE, SCHEMES, compromise
from ..semantics import STANDARD_FAMILIES, Family, Instance

b = b_u
u = u_w  # a weight drawn from U(-b, b)
d_phi = sp.Symbol(r"d_{\phi}", positive=True)  # E[phi'(z)^2], the backward activation factor
v_back = sp.Symbol(r"v_{w}'", positive=True)  # Var(w) that keeps the backward second moment
_SYMMETRIC = frozenset({"symmetric-z"})


def _scheme_symbol(key: str) -> sp.Symbol:
    return sp.Symbol(rf"\operatorname{{Var}}(w)_{{\text{{{key}}}}}", positive=True)


def _bound_symbol(key: str) -> sp.Symbol:
    return sp.Symbol(rf"b_{{\text{{{key}}}}}", positive=True)


def _phi(activation: str, variable=z):
    return ACTIVATIONS[activation].expr.subs(t, variable)


def _forward_factor(activation: str):
    """c_phi = E[phi(z)^2]/E[z^2], unevaluated (1 for the identity)."""
    return E(_phi(activation) ** 2) / E(z**2)


def _backward_factor(activation: str):
    """E[phi'(z)^2], unevaluated (1 for the identity)."""
    return E(ACTIVATIONS[activation].derivative.subs(t, z) ** 2)


def _factor_step(scheme, line, moment):
    """Replace the activation's moment by its derived value (a result), or nothing for the identity."""
    if scheme.activation == "linear":
        return []
    derivation = ACTIVATIONS[scheme.activation].factor_from
    ref = derivation if moment == "forward" else f"{derivation}:derivative"
    return [Step(line, "result", ("symmetric-z",), ref=ref)]


def init_schemes(refs: dict) -> Derivation:
    """Var(w) solved from the forward law, the backward law, or their compromise (LeCun 1998; Glorot 2010; He 2015)."""
    from ..activations import factor_of

    chains = [
        Chain(
            title="The forward law solved for the variance",
            lhs=v_w,
            assumptions=("variance-preserving",),
            steps=(Step(1 / (n_in * c_phi), "solve-forward", ("variance-preserving",)),),
        ),
        Chain(
            key="backward",
            title="The backward law solved for the variance",
            lhs=v_back,
            assumptions=("variance-preserving",),
            steps=(Step(1 / (n_out * d_phi), "solve-backward", ("variance-preserving",)),),
        ),
    ]
    context = {"c_phi": {"": c_phi}, "d_phi": {"backward": d_phi}, "compromise": {}}
    for key, scheme in SCHEMES.items():
        symbol = _scheme_symbol(key)
        extra = () if scheme.activation == "linear" else ("symmetric-z",)
        if scheme.preserves == "forward":
            context["c_phi"][key] = _forward_factor(scheme.activation)
            first = Step(1 / (n_in * _forward_factor(scheme.activation)), "solve-forward", ("variance-preserving",))
            derived = factor_of(ACTIVATIONS[scheme.activation], refs.get(ACTIVATIONS[scheme.activation].factor_from))
            steps = [first, *_factor_step(scheme, sp.factor(1 / (n_in * derived)), "forward")]
        elif scheme.preserves == "backward":
            context["d_phi"][key] = _backward_factor(scheme.activation)
            first = Step(1 / (n_out * _backward_factor(scheme.activation)), "solve-backward", ("variance-preserving",))
            steps = [first]
            if scheme.activation != "linear":
                source = refs[ACTIVATIONS[scheme.activation].factor_from].chain("derivative").result.rhs
                steps += _factor_step(scheme, sp.factor(1 / (n_out * source)), "backward")
        else:
            fwd, bwd = COMPROMISE[key]
            context["compromise"][key] = (_scheme_symbol(fwd), _scheme_symbol(bwd))
            average = compromise(_scheme_symbol(fwd), _scheme_symbol(bwd))
            done = {}
            steps = [Step(average, "compromise")]
            line = average
            for other in (fwd, bwd):
                previous = next(c for c in chains if c.key == other)
                done[_scheme_symbol(other)] = previous.result.rhs
                line = average.xreplace(done)
                steps.append(Step(line, "result", previous.assumptions, ref=f"init-schemes:{other}"))
            steps.append(Step(sp.factor(sp.simplify(line)), "algebra"))
            extra = tuple(k for o in (fwd, bwd) for k in next(c for c in chains if c.key == o).assumptions)
            extra = tuple(dict.fromkeys(k for k in extra if k != "variance-preserving"))
        chains.append(
            Chain(
                key=key,
                title=scheme.title,
                lhs=symbol,
                assumptions=("variance-preserving", *extra),
                steps=tuple(steps),
            )
        )

    exact = Family("normal")

    def solved(scheme):
        """The variance that keeps the scheme's law, computed here by another route: the law's factor
        n Var(w) m with the activation moment m evaluated exactly under a Gaussian pre-activation."""
        if scheme.preserves == "forward":
            moment = exact.evaluate(E(_phi(scheme.activation) ** 2), _SYMMETRIC) / exact.evaluate(E(z**2), _SYMMETRIC)
            return 1 / (n_in * sp.simplify(moment))
        if scheme.preserves == "backward":
            moment = exact.evaluate(E(ACTIVATIONS[scheme.activation].derivative.subs(t, z) ** 2), _SYMMETRIC)
            return 1 / (n_out * sp.simplify(moment))
        fwd, bwd = (solved(SCHEMES[k]) for k in COMPROMISE[scheme.key])
        return compromise(fwd, bwd)  # Glorot and Bengio (2010), eq. 12

    roots = {_scheme_symbol(key): solved(scheme) for key, scheme in SCHEMES.items()}
    unknown = sp.Dummy("v", positive=True)
    roots[v_w] = sp.solve(sp.Eq(n_in * unknown * c_phi, 1), unknown)[0]
    roots[v_back] = sp.solve(sp.Eq(n_out * unknown * d_phi, 1), unknown)[0]

    def model(point, table=roots):
        def apply(expr):
            line = sp.S(expr).xreplace(table)
            if line.has(E):
                line = exact.evaluate(line, _SYMMETRIC)
            return line.subs(point)

        return apply

    points = (
        {n_in: 64, n_out: 16, a: sp.Rational(1, 10)},
        {n_in: 5, n_out: 300, a: sp.Rational(1, 3)},
        {n_in: 7, n_out: 9, a: sp.Rational(1, 5)},
    )

    # Every scheme's variance as its paper states it: the derived chains must reproduce the literature.
    published = {**roots, **{_scheme_symbol(key): scheme.published for key, scheme in SCHEMES.items()}}

    models = tuple(Instance(f"the law's own root at {p}", model(p)) for p in points) + tuple(
        Instance(
            f"the published statements ({', '.join(s.where for s in SCHEMES.values())}) at {p}", model(p, published)
        )
        for p in points[:2]
    )
    # The general chains: c_phi and d_phi are free; the models leave them symbolic.
    return Derivation(
        id="init-schemes",
        title="Initialization schemes from the propagation laws",
        summary="Keeping n_in Var(w) c_phi = 1 (forward) or n_out Var(w) E[phi'(z)^2] = 1 (backward) gives "
        "Var(w); LeCun and He keep the forward law, He's fan-out variant the backward one, and Xavier's "
        "2/(n_in+n_out) is Glorot and Bengio's compromise, which keeps neither when n_in != n_out.",
        chains=tuple(chains),
        refs=refs,
        models=models,
        context=context,
        notes=(
            r"Each scheme names the law it keeps and the activation it compensates; its variance is solved "
            r"from \eqref{eq:deep-propagation} (forward, fan $n_{\mathrm{in}}$) or \eqref{eq:backward-variance} "
            r"with the factor $\mathbb{E}[\phi'(z)^2]$ (backward, fan $n_{\mathrm{out}}$), and every solution is "
            r"checked by substituting it back into the law. The std gain is $1/\sqrt{c_\phi}$: $\sqrt2$ for ReLU.",
            r"Xavier: $1/\operatorname{Var}(w)$ is the mean of the two conditions' $n_{\mathrm{in}}$ and "
            r"$n_{\mathrm{out}}$ (Glorot and Bengio 2010, eq.~12). It keeps neither exactly: per layer it multiplies "
            r"the forward second moment by $2n_{\mathrm{in}}/(n_{\mathrm{in}}+n_{\mathrm{out}})$ and the backward one "
            r"by $2n_{\mathrm{out}}/(n_{\mathrm{in}}+n_{\mathrm{out}})$, both $1$ only for square layers. "
            r"LeCun et al.\ (1998), Glorot and Bengio (2010), He et al.\ (2015).",
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
                    Step(
                        sp.sqrt(3 * _scheme_symbol(key)),
                        "result",
                        ("uniform-w",),
                        ref="uniform-bound:bound",
                        subs={b: _bound_symbol(key), v_w: _scheme_symbol(key)},
                    ),
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
                    Step(fan_in * Var(w * x), "identical", ("iid-w", "iid-x", "indep-wx")),
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
                    Step(
                        fan_out * Var(w) * Var(g),
                        "result",
                        ("zero-mean-w", "indep-grad", "zero-mean-grad"),
                        ref="backward-variance:product",
                    ),
                ),
            ),
        ),
        refs=refs,
        models=STANDARD_FAMILIES[:2] + STANDARD_FAMILIES[3:],
        sizes={c_in: (4, 6, 9), c_out: (6, 9, 3), groups: (2, 3, 3), k_h: (2, 1, 3), k_w: (1, 2, 2)},
        notes=(
            r"Output $(o,i,j)$ of a convolution with $g$ groups sums over the $c_{\mathrm{in}}/g$ input channels of "
            r"its group and the $k_h k_w$ kernel taps; by the same count an input pixel away from the border feeds "
            r"$c_{\mathrm{out}}/g$ channels at $k_h k_w$ positions (with stride $s$, about $k_h k_w/s^2$ of "
            r"them: strides thin out the backward fan, not the forward one). PyTorch's "
            r"\texttt{\_calculate\_fan\_in\_and\_fan\_out} reads both fans off the weight's shape "
            r"$(c_{\mathrm{out}}, c_{\mathrm{in}}/g, k_h, k_w)$: its fan-in is this one, $(c_{\mathrm{in}}/g)k_hk_w$, "
            r"but its fan-out is $c_{\mathrm{out}}k_hk_w$, $g$ times the true one for grouped convolutions and "
            r"blind to the stride.",
        ),
    )
