"""Variance propagation: one layer forward, one layer backward, and a deep stack."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..core import Chain, Derivation, Step
from ..expr import E, G, L, Var, W, X, c_phi, ell, g, i, k, n, n_out, w, x
from ..semantics import STANDARD_FAMILIES, Family

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
                    Step(n * Var(w * x), "identical", ("iid-w", "iid-x")),
                    Step(
                        n * Var(w) * E(x**2), "result", ("indep-wx", "zero-mean-w"), ref="product-variance:zero-mean-w"
                    ),
                ),
            ),
            Chain(
                title="Mean-zero weights and inputs (the seed's statement)",
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
        sizes={n: 3},
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
    return Derivation(
        id="backward-variance",
        title="Backward propagation through one layer",
        summary="dL/dx_j = sum_{k=1}^{n_out} w_kj dL/dy_k has Var = n_out Var(w) Var(dL/dy).",
        chains=(
            Chain(
                lhs=Var(grad_x),
                assumptions=(*cites, "zero-mean-grad"),
                steps=(
                    Step(sp.Sum(Var(W[k] * G[k]), (k, 1, n_out)), "uncorrelated-sum", cites),
                    Step(n_out * Var(w * g), "identical", ("iid-w", "indep-grad")),
                    Step(n_out * (E(w**2 * g**2) - E(w * g) ** 2), "def-var"),
                    Step(n_out * (E(w**2) * E(g**2) - E(w) ** 2 * E(g) ** 2), "independence", ("indep-grad",)),
                    Step(n_out * E(w**2) * E(g**2), "zero-mean-w", ("zero-mean-w",)),
                    Step(n_out * (Var(w) + E(w) ** 2) * (Var(g) + E(g) ** 2), "def-var"),
                    Step(n_out * Var(w) * (Var(g) + E(g) ** 2), "zero-mean-w", ("zero-mean-w",)),
                    Step(n_out * Var(w) * Var(g), "zero-mean-grad", ("zero-mean-grad",)),
                ),
            ),
        ),
        refs=refs,
        models=STANDARD_FAMILIES,
        sizes={n_out: 3},
        notes=(
            r"Here $\delta_y=\partial\ell/\partial y$ and $\delta_x=\partial\ell/\partial x$; the sum runs over "
            r"the $n_{\mathrm{out}}$ units that input $x_j$ feeds, so the fan is the layer's fan-out. "
            r"Keeping gradient variance gives $\operatorname{Var}(w)=1/n_{\mathrm{out}}$.",
        ),
    )


# Per-layer quantities of a deep stack: y_l = W_l x_l, x_l = phi(y_{l-1}).
Yl = sp.IndexedBase("y", real=True)
Xl = sp.IndexedBase("x", real=True)
Wl = sp.IndexedBase("w", real=True)
Nl = sp.IndexedBase("n", integer=True, positive=True)


@dataclass(frozen=True)
class LinearNetwork:
    """An exact model of a deep stack: a linear network of concrete depth and width.

    Every weight and input is an independent draw from ``family``; Var(y_l), E[x_l^2] and
    Var(w_l) are computed exactly from the network's polynomials, so the deep law is checked
    against an actual network, not against itself. (The ReLU and leaky factors c_phi are
    checked by their own derivations and by the Monte Carlo checks.)
    """

    family: Family
    depth: int = 3
    width: int = 2

    @property
    def name(self) -> str:
        return f"linear network ({self.family.kind}, depth {self.depth}, width {self.width})"

    def applies(self, assumptions) -> bool:
        return True

    def _layers(self):
        weight = sp.IndexedBase("w", real=True)
        inputs = [sp.IndexedBase("x", real=True)[0, i] for i in range(self.width)]
        outputs = {}
        for layer in range(1, self.depth + 1):
            units = self.width if layer < self.depth else 1
            ys = [sum(weight[layer, u, v] * inputs[v] for v in range(self.width)) for u in range(units)]
            outputs[layer] = (inputs, ys)
            inputs = ys  # linear activation: x_{l+1} = y_l
        return weight, outputs

    def evaluate(self, expr, assumptions):
        weight, layers = self._layers()
        moments = {}
        for layer, (inputs, ys) in layers.items():
            moments[Var(Yl[layer])] = Var(ys[0])
            moments[E(Xl[layer] ** 2)] = E(inputs[0] ** 2)
            moments[Var(Wl[layer])] = Var(weight[layer, 0, 0])
            moments[Nl[layer]] = self.width
        line = sp.S(expr).subs(L, self.depth).doit().xreplace(moments).subs(c_phi, 1)
        return self.family.evaluate(line, assumptions)

    def same(self, left, right) -> bool:
        return self.family.same(left, right)


def _seed_prediction(factor, std, c_value, width=100, depth=5):
    """Var(y_depth)/Var(y_1) for N(0, std^2) weights: the deep law at the seed's settings."""
    ratio = sp.Product(factor, (ell, 2, L)).subs(L, depth).doit()
    ratio = ratio.replace(lambda e: isinstance(e, Var), lambda e: std**2)
    return ratio.replace(lambda e: isinstance(e, sp.Indexed), lambda e: width).subs(c_phi, c_value)


def _seed_notes(factor):
    lines = []
    for label, std in (("small", sp.Rational(1, 100)), ("large", sp.S.One)):
        for act, c_value in (("tanh near $0$", sp.S.One), ("ReLU", sp.Rational(1, 2))):
            ratio = _seed_prediction(factor, std, c_value)
            caveat = ""
            if ratio > 1 and c_value == 1:
                caveat = r" --- far outside the linear regime: tanh saturates at $\pm1$, its gradients vanish"
            lines.append(
                rf"The seed's {label} weights, standard deviation ${sp.latex(std)}$ (variance "
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
                assumptions=(*FORWARD_ASSUMPTIONS, "symmetric-z", "layer-stack"),
                steps=(
                    Step(
                        Nl[L] * Var(Wl[L]) * E(Xl[L] ** 2),
                        "result",
                        FORWARD_ASSUMPTIONS,
                        ref="forward-variance:second-moment",
                    ),
                    Step(
                        Nl[L] * Var(Wl[L]) * c_phi * Var(Yl[L - 1]), "activation-factor", ("symmetric-z", "zero-mean-w")
                    ),
                    Step(Var(Yl[1]) * sp.Product(factor, (ell, 2, L)), "unroll", ("layer-stack",)),
                ),
            ),
        ),
        refs=refs,
        models=tuple(LinearNetwork(f) for f in STANDARD_FAMILIES[:2]),
        notes=(
            r"$y_{l-1}=\sum_i w_i x_i$ is symmetric about $0$ when the $w_i$ are (they are independent of "
            r"the $x_i$), so $\mathbb{E}[x_l^2]=\mathbb{E}[\phi(y_{l-1})^2]=c_\phi\operatorname{Var}(y_{l-1})$ "
            r"by \eqref{eq:relu-second-moment} or \eqref{eq:leaky-relu-second-moment}; "
            r"in the linear regime $c_\phi=1$. The variance is kept when every factor is $1$, "
            r"which is \eqref{eq:init-schemes}.",
            *_seed_notes(factor),
        ),
    )
