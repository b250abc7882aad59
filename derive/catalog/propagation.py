"""Variance propagation: one layer forward, one layer backward, and a deep stack."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import sympy as sp

from ..core import Chain, Derivation, Step
from ..expr import E, G, L, Nl, Var, W, Wl, X, Xl, Yl, c_phi, ell, g, i, k, n, n_out, w, x
from ..semantics import STANDARD_FAMILIES

FORWARD_ASSUMPTIONS = ("indep-wx", "iid-w", "iid-x", "zero-mean-w")


def forward_variance(refs: dict) -> Derivation:
    """Var(sum_i w_i x_i) = n Var(w) E[x^2], and n Var(w) Var(x) for mean-zero x (Glorot & Bengio 2010)."""
    y = sp.Sum(W[i] * X[i], (i, 1, n))
    return Derivation(
        id="forward-variance",
        title="Forward propagation through one layer",
        summary="y = sum_{i=1}^n w_i x_i has Var(y) = n Var(w) E[x^2]; n Var(w) Var(x) when E[x] = 0.",
        chains=(
            Chain(
                key="second-moment",
                title="Mean-zero weights, inputs of any mean",
                lhs=Var(y),
                assumptions=FORWARD_ASSUMPTIONS,
                steps=(
                    Step(sp.Sum(Var(W[i] * X[i]), (i, 1, n)), "uncorrelated-sum", ("iid-w", "zero-mean-w", "indep-wx")),
                    Step(n * Var(w * x), "identical", ("iid-w", "iid-x", "indep-wx")),
                    Step(
                        n * Var(w) * E(x**2), "result", ("indep-wx", "zero-mean-w"), ref="product-variance:zero-mean-w"
                    ),
                ),
            ),
            Chain(
                title="Mean-zero weights and inputs (the textbook statement)",
                lhs=Var(y),
                assumptions=(*FORWARD_ASSUMPTIONS, "zero-mean-x"),
                steps=(
                    Step(n * Var(w) * E(x**2), "result", FORWARD_ASSUMPTIONS, ref="forward-variance:second-moment"),
                    Step(n * Var(w) * (Var(x) + E(x) ** 2), "def-var"),
                    Step(n * Var(w) * Var(x), "zero-mean-x", ("zero-mean-x",)),
                ),
            ),
        ),
        refs=refs,
        models=STANDARD_FAMILIES,
        sizes={n: (2, 3, 5)},
        notes=(
            r"The terms $w_i x_i$ are uncorrelated because the $w_i$ are independent, mean zero and "
            r"independent of the inputs; the inputs themselves need not be independent of each other "
            r"for this step. Setting $\operatorname{Var}(y)=\operatorname{Var}(x)$ gives "
            r"$\operatorname{Var}(w)=1/n$ (LeCun et al. 1998; Glorot and Bengio 2010).",
        ),
    )


def backward_variance(refs: dict) -> Derivation:
    """Var(dL/dx) = n_out Var(w) Var(dL/dy) (Glorot & Bengio 2010; He et al. 2015)."""
    grad_x = sp.Sum(W[k] * G[k], (k, 1, n_out))
    cites = ("iid-w", "zero-mean-w", "indep-grad")
    product = ("zero-mean-w", "indep-grad", "zero-mean-grad")
    return Derivation(
        id="backward-variance",
        title="Backward propagation through one layer",
        summary="dL/dx_j = sum_{k=1}^{n_out} w_kj dL/dy_k has Var = n_out Var(w) Var(dL/dy).",
        chains=(
            Chain(
                key="product",
                title="One term: a weight times a backpropagated gradient",
                lhs=Var(w * g),
                assumptions=product,
                steps=(
                    Step(E(w**2 * g**2) - E(w * g) ** 2, "def-var"),
                    Step(E(w**2) * E(g**2) - E(w) ** 2 * E(g) ** 2, "independence", ("indep-grad",)),
                    Step(E(w**2) * E(g**2), "zero-mean-w", ("zero-mean-w",)),
                    Step((Var(w) + E(w) ** 2) * (Var(g) + E(g) ** 2), "def-var"),
                    Step(Var(w) * (Var(g) + E(g) ** 2), "zero-mean-w", ("zero-mean-w",)),
                    Step(Var(w) * Var(g), "zero-mean-grad", ("zero-mean-grad",)),
                ),
            ),
            Chain(
                lhs=Var(grad_x),
                assumptions=(*cites, "zero-mean-grad"),
                steps=(
                    Step(sp.Sum(Var(W[k] * G[k]), (k, 1, n_out)), "uncorrelated-sum", cites),
                    Step(n_out * Var(w * g), "identical", ("iid-w", "indep-grad")),
                    Step(n_out * Var(w) * Var(g), "result", product, ref="backward-variance:product"),
                ),
            ),
        ),
        refs=refs,
        models=STANDARD_FAMILIES,
        sizes={n_out: (2, 3, 5)},
        notes=(
            r"Here $\delta_y=\partial\ell/\partial y$ and $\delta_x=\partial\ell/\partial x$; the sum runs over "
            r"the $n_{\mathrm{out}}$ units that input $x_j$ feeds, so the fan is the layer's fan-out. "
            r"\texttt{indep-grad} is an approximation: $\delta_y$ is computed from the weights of the layers above. "
            r"Through an activation, $\delta_y$ of the layer below is $\delta_x\,\phi'(y)$, which multiplies "
            r"the second moment by $\mathbb{E}[\phi'(z)^2]$ "
            r"(\eqref{eq:relu-second-moment:derivative}); keeping it gives "
            r"$\operatorname{Var}(w)=1/(n_{\mathrm{out}}\mathbb{E}[\phi'(z)^2])$.",
        ),
    )


_ACTIVATIONS = {
    "linear": lambda v: v,
    "relu": lambda v: v if v > 0 else 0,
    "leaky_relu": lambda v: v if v > 0 else Fraction(v) / 5,
    "capped_relu": lambda v: min(max(v, 0), 1),  # ReLU6-like: not positively homogeneous
}
_WEIGHT_LAWS = {
    # (values, probabilities) of w / s_l: symmetric; skewed with mean 0; symmetric shifted off 0.
    "symmetric": (((-1, 1), (Fraction(1, 2), Fraction(1, 2)))),
    "skewed": (((-2, 1), (Fraction(1, 3), Fraction(2, 3)))),
    "shifted": (((Fraction(-1, 2), Fraction(3, 2)), (Fraction(1, 2), Fraction(1, 2)))),
}
_WIDTHS = (2, 3, 2, 2)  # layer l has fan-in _WIDTHS[l-1] (n_l) and _WIDTHS[l] outputs
_SCALES = (1, 2, Fraction(1, 2), 3)  # s_l: Var(w_l) = s_l^2 Var of the law
_INPUTS = ((-1, 2), (Fraction(2, 3), Fraction(1, 3)))  # x_1's coordinates: skewed, mean 0


def _law(values, probs, scale=1):
    return [(Fraction(v) * scale, Fraction(p)) for v, p in zip(values, probs, strict=True)]


@cache
def _network_moments(activation: str, weights: str):
    """Exact per-layer moments of a small deep network with two-point weights and inputs.

    The distribution of each layer's input vector is propagated exactly (a dict of vectors to
    probabilities, all weight draws enumerated), so E[y_l^2], E[y_l] and E[x_l^2] are exact rationals.
    """
    phi = _ACTIVATIONS[activation]
    states = {}
    x_law = _law(*_INPUTS)
    for combo in itertools.product(x_law, repeat=_WIDTHS[0]):
        vec = tuple(v for v, _ in combo)
        prob = Fraction(1)
        for _, p in combo:
            prob *= p
        states[vec] = states.get(vec, 0) + prob
    out = {}
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(_WIDTHS), start=1):
        w_law = _law(*_WEIGHT_LAWS[weights], _SCALES[layer - 1])
        mean_w = sum(v * p for v, p in w_law)
        var_w = sum(v * v * p for v, p in w_law) - mean_w**2
        ex2 = sum(p * vec[0] ** 2 for vec, p in states.items())
        row_laws = []
        for combo in itertools.product(w_law, repeat=fan_in):
            prob = Fraction(1)
            for _, p in combo:
                prob *= p
            row_laws.append((tuple(v for v, _ in combo), prob))
        nxt = {}
        ey = ey2 = Fraction(0)
        for vec, p_vec in states.items():
            # each output unit has its own independent row; outputs are independent given the input
            unit_law = {}
            for row, p_row in row_laws:
                y = sum(r * v for r, v in zip(row, vec, strict=True))
                unit_law[y] = unit_law.get(y, 0) + p_row
            for y, p_y in unit_law.items():
                ey += p_vec * p_y * y
                ey2 += p_vec * p_y * y * y
            for ys in itertools.product(unit_law.items(), repeat=fan_out):
                prob = p_vec
                for _, p_y in ys:
                    prob *= p_y
                key = tuple(phi(y) for y, _ in ys)
                nxt[key] = nxt.get(key, 0) + prob
        out[layer] = {"var_y": ey2 - ey**2, "ex2": ex2, "var_w": var_w, "n": fan_in}
        states = nxt
    return out


@dataclass(frozen=True)
class StackNetwork:
    """An exact model of a deep stack: a small network (widths 2, 3, 2, 2; a different weight scale
    per layer) with two-point weights and inputs, its moments computed by exact enumeration.

    ``weights``: "symmetric" satisfies every assumption of the deep law; "skewed" (mean zero, not
    symmetric) breaks only symmetric-w; "shifted" breaks zero-mean-w. Each line is evaluated at the
    depths L = 2 and 3 (a vector of values), and c_phi is the network's own activation's
    E[phi(v)^2]/E[v^2] for a symmetric v, so a dropped or wrong activation factor shows.
    """

    activation: str
    weights: str = "symmetric"
    sizes_own = True

    @property
    def name(self) -> str:
        return f"{self.activation} network, {self.weights} two-point weights, widths {_WIDTHS}"

    @property
    def can_violate(self):
        broken = {
            "symmetric": frozenset(),
            "skewed": frozenset({"symmetric-w"}),
            # shifted weights are neither mean-zero nor symmetric about 0
            "shifted": frozenset({"zero-mean-w", "symmetric-w"}),
        }[self.weights]
        if self.activation != "linear":  # after a ReLU the next layer's inputs have a non-zero mean
            broken |= {"zero-mean-x"}
        if self.activation == "capped_relu":
            broken |= {"homogeneous-phi"}
        return broken

    #: What these networks satisfy at all: a chain stating anything else is not about them.
    SATISFIES = frozenset(
        {"indep-wx", "iid-w", "iid-x", "zero-mean-w", "zero-mean-x", "symmetric-w", "layer-stack", "homogeneous-phi"}
    )

    def applies(self, assumptions) -> bool:
        return set(assumptions) <= self.SATISFIES and not (self.can_violate & set(assumptions))

    def _c_phi(self):
        phi = _ACTIVATIONS[self.activation]
        return Fraction(phi(1) ** 2 + phi(-1) ** 2, 2)

    def evaluate(self, expr, assumptions):
        layers = _network_moments(self.activation, self.weights)
        table = {c_phi: sp.Rational(self._c_phi())}
        for layer, m in layers.items():
            table[Var(Yl[layer])] = sp.Rational(m["var_y"])
            table[E(Xl[layer] ** 2)] = sp.Rational(m["ex2"])
            table[Var(Wl[layer])] = sp.Rational(m["var_w"])
            table[Nl[layer]] = m["n"]
        values = []
        for depth in range(2, len(_WIDTHS)):
            line = sp.S(expr).subs(L, depth).doit()
            values.append(sp.S(line.xreplace(table)).doit().xreplace(table))
        return sp.Matrix(values)

    def same(self, left, right) -> bool:
        return all(sp.simplify(a - b) == 0 for a, b in zip(left, right, strict=True))


def _five_layer_prediction(factor, std, c_value, width=100, depth=5):
    """Var(y_depth)/Var(y_1) for N(0, std^2) weights: the deep law in the five-layer experiment."""
    ratio = sp.Product(factor, (ell, 2, L)).subs(L, depth).doit()
    ratio = ratio.replace(lambda e: isinstance(e, Var), lambda e: std**2)
    return ratio.replace(lambda e: isinstance(e, sp.Indexed), lambda e: width).subs(c_phi, c_value)


def _five_layer_notes(factor):
    lines = []
    for label, std in (("small", sp.Rational(1, 100)), ("large", sp.S.One)):
        for act, c_value in (("tanh near $0$", sp.S.One), ("ReLU", sp.Rational(1, 2))):
            ratio = _five_layer_prediction(factor, std, c_value)
            caveat = ""
            if ratio > 1 and c_value == 1:
                caveat = r" --- far outside the linear regime: tanh saturates at $\pm1$, its gradients vanish"
            lines.append(
                rf"The five-layer experiment ($100$ units per layer), {label} weights of standard deviation ${sp.latex(std)}$ (variance "
                rf"${sp.latex(std**2)}$), $100$ units, {act} ($c_\phi={sp.latex(c_value)}$): "
                rf"$\operatorname{{Var}}(y_5)/\operatorname{{Var}}(y_1)={sp.latex(ratio)}\approx {sp.latex(sp.Float(ratio, 3))}${caveat}."
            )
    return tuple(lines)


def deep_propagation(refs: dict) -> Derivation:
    """Var(y_L) = Var(y_1) prod_{l=2}^{L} n_l Var(w_l) c_phi."""
    factor = Nl[ell] * Var(Wl[ell]) * c_phi
    return Derivation(
        id="deep-propagation",
        title="Propagation through a deep stack",
        summary="Var(y_L) = Var(y_1) prod_{l=2}^{L} n_l Var(w_l) c_phi, with c_phi = 1 (linear regime), "
        "1/2 (ReLU), (1 + a^2)/2 (leaky ReLU).",
        chains=(
            Chain(
                lhs=Var(Yl[L]),
                assumptions=(*FORWARD_ASSUMPTIONS, "symmetric-w", "layer-stack", "homogeneous-phi"),
                steps=(
                    Step(
                        Nl[L] * Var(Wl[L]) * E(Xl[L] ** 2),
                        "result",
                        FORWARD_ASSUMPTIONS,
                        ref="forward-variance:second-moment",
                        subs={sp.Sum(W[i] * X[i], (i, 1, n)): Yl[L], w: Wl[L], x: Xl[L], n: Nl[L]},
                    ),
                    Step(
                        Nl[L] * Var(Wl[L]) * c_phi * Var(Yl[L - 1]),
                        "activation-factor",
                        ("symmetric-w", "zero-mean-w", "layer-stack", "homogeneous-phi"),
                    ),
                    Step(Var(Yl[1]) * sp.Product(factor, (ell, 2, L)), "unroll", ("layer-stack",)),
                ),
            ),
        ),
        refs=refs,
        models=(
            StackNetwork("relu"),
            StackNetwork("leaky_relu"),
            StackNetwork("linear"),
            StackNetwork("relu", "skewed"),
            StackNetwork("relu", "shifted"),
            StackNetwork("capped_relu"),
        ),
        notes=(
            r"$y_{l-1}=\sum_i w_i x_i$ is symmetric about $0$ when the $w_i$ are (they are independent of "
            r"the $x_i$; mean zero is not enough), so $\mathbb{E}[x_l^2]=\mathbb{E}[\phi(y_{l-1})^2]=c_\phi\operatorname{Var}(y_{l-1})$ "
            r"by \eqref{eq:relu-second-moment} or \eqref{eq:leaky-relu-second-moment}; "
            r"in the linear regime $c_\phi=1$. The variance is kept when every factor is $1$, "
            r"which is \eqref{eq:init-schemes}.",
            *_five_layer_notes(factor),
        ),
    )
