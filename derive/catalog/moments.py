"""Moment identities: the variance of a product, and the second moments of ReLU-type activations."""

from __future__ import annotations

import sympy as sp

from ..core import Chain, Derivation, Step
from ..expr import E, Var, a, f_z, leaky_relu, relu, sigma, t, w, x, z
from ..semantics import STANDARD_FAMILIES, Quadrature

HALF = sp.Rational(1, 2)


def product_variance(refs: dict) -> Derivation:
    """Var(wx) for independent w and x (the "second line" of the textbook statement)."""
    general = Var(w) * Var(x) + Var(w) * E(x) ** 2 + E(w) ** 2 * Var(x)
    return Derivation(
        id="product-variance",
        title="Variance of a product of independent variables",
        summary="Var(wx) = Var(w)Var(x) + Var(w)E[x]^2 + E[w]^2 Var(x); Var(w)E[x^2] if E[w]=0; "
        "Var(w)Var(x) if both have mean zero.",
        chains=(
            Chain(
                key="general",
                title="Independent $w$ and $x$",
                lhs=Var(w * x),
                assumptions=("indep-wx",),
                steps=(
                    Step(E(w**2 * x**2) - E(w * x) ** 2, "def-var"),
                    Step(E(w**2) * E(x**2) - E(w) ** 2 * E(x) ** 2, "independence", ("indep-wx",)),
                    Step((Var(w) + E(w) ** 2) * (Var(x) + E(x) ** 2) - E(w) ** 2 * E(x) ** 2, "def-var"),
                    Step(general, "algebra"),
                ),
            ),
            Chain(
                key="zero-mean-w",
                title="Mean-zero weights",
                lhs=Var(w * x),
                assumptions=("indep-wx", "zero-mean-w"),
                steps=(
                    Step(general, "result", ("indep-wx",), ref="product-variance:general"),
                    Step(Var(w) * Var(x) + Var(w) * E(x) ** 2, "zero-mean-w", ("zero-mean-w",)),
                    Step(Var(w) * (Var(x) + E(x) ** 2), "algebra"),
                    Step(Var(w) * E(x**2), "def-var"),
                ),
            ),
            Chain(
                title="Mean-zero weights and inputs",
                lhs=Var(w * x),
                assumptions=("indep-wx", "zero-mean-w", "zero-mean-x"),
                steps=(
                    Step(Var(w) * E(x**2), "result", ("indep-wx", "zero-mean-w"), ref="product-variance:zero-mean-w"),
                    Step(Var(w) * (Var(x) + E(x) ** 2), "def-var"),
                    Step(Var(w) * Var(x), "zero-mean-x", ("zero-mean-x",)),
                ),
            ),
        ),
        refs=refs,
        models=STANDARD_FAMILIES,
        notes=(
            r"Only $\mathbb{E}[w]=0$ is needed for $\operatorname{Var}(wx)=\operatorname{Var}(w)\,"
            r"\mathbb{E}[x^2]$; the inputs may have any mean. This is the form that survives a ReLU.",
        ),
    )


def _density_integral(body, low=-sp.oo, high=sp.oo):
    return sp.Integral(body * f_z(t), (t, low, high))


def relu_second_moment(refs: dict) -> Derivation:
    """E[relu(z)^2] = E[z^2]/2 for symmetric z; Gaussian mean and variance of relu(z)."""
    gauss = sp.exp(-(t**2) / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma)
    return Derivation(
        id="relu-second-moment",
        title="The ReLU halving factor",
        summary="E[relu(z)^2] = E[z^2]/2 for z symmetric about 0; for z ~ N(0, sigma^2), "
        "E[relu(z)] = sigma/sqrt(2 pi) and Var(relu(z)) = (1/2 - 1/(2 pi)) sigma^2.",
        chains=(
            Chain(
                title="Symmetric pre-activation",
                lhs=E(relu(z) ** 2),
                assumptions=("symmetric-z",),
                steps=(
                    Step(_density_integral(relu(t) ** 2), "def-mean"),
                    Step(_density_integral(t**2, 0), "activation-def"),
                    Step(HALF * _density_integral(t**2), "symmetry", ("symmetric-z",)),
                    Step(HALF * E(z**2), "def-mean"),
                ),
            ),
            Chain(
                key="gaussian-mean",
                title="Mean of a rectified Gaussian",
                lhs=E(relu(z)),
                assumptions=("gaussian-z",),
                steps=(
                    Step(_density_integral(relu(t)), "def-mean"),
                    Step(_density_integral(t, 0), "activation-def"),
                    Step(sp.Integral(t * gauss, (t, 0, sp.oo)), "gaussian", ("gaussian-z",)),
                    Step(sigma / sp.sqrt(2 * sp.pi), "integrate"),
                ),
            ),
            Chain(
                key="gaussian-variance",
                title="Variance of a rectified Gaussian",
                lhs=Var(relu(z)),
                assumptions=("gaussian-z", "symmetric-z"),
                steps=(
                    Step(E(relu(z) ** 2) - E(relu(z)) ** 2, "def-var"),
                    Step(HALF * E(z**2) - E(relu(z)) ** 2, "result", ("symmetric-z",), ref="relu-second-moment"),
                    Step(HALF * sigma**2 - E(relu(z)) ** 2, "gaussian", ("gaussian-z",)),
                    Step(
                        HALF * sigma**2 - sigma**2 / (2 * sp.pi),
                        "result",
                        ("gaussian-z",),
                        ref="relu-second-moment:gaussian-mean",
                    ),
                    Step(sp.Mul(HALF - 1 / (2 * sp.pi), sigma**2, evaluate=False), "algebra"),
                ),
            ),
            Chain(
                key="derivative",
                title=r"The derivative factor $\mathbb{E}[\mathrm{relu}'(z)^2]$",
                lhs=E(sp.Heaviside(z) ** 2),
                assumptions=("symmetric-z",),
                steps=(
                    Step(_density_integral(sp.Heaviside(t) ** 2), "def-mean"),
                    Step(_density_integral(1, 0), "activation-def"),
                    Step(HALF * _density_integral(1), "symmetry", ("symmetric-z",)),
                    Step(HALF, "def-mean"),
                ),
            ),
            Chain(
                key="zero-mass",
                title=r"Half of the outputs are exactly $0$",
                lhs=E(sp.Heaviside(-z)),
                assumptions=("symmetric-z",),
                steps=(
                    Step(_density_integral(sp.Heaviside(-t)), "def-mean"),
                    Step(_density_integral(1, -sp.oo, 0), "activation-def"),
                    Step(HALF * _density_integral(1), "symmetry", ("symmetric-z",)),
                    Step(HALF, "def-mean"),
                ),
            ),
        ),
        refs=refs,
        models=(*STANDARD_FAMILIES, Quadrature("0.7"), Quadrature("2.3")),
        notes=(
            r"After a ReLU the inputs of the next layer have mean $\sigma/\sqrt{2\pi}\neq 0$, so the "
            r"next layer's variance is $n\operatorname{Var}(w)\,\mathbb{E}[x^2]$ "
            r"by \eqref{eq:product-variance:zero-mean-w}, not $n\operatorname{Var}(w)\operatorname{Var}(x)$: "
            r"He's factor $2$ undoes the halving of $\mathbb{E}[x^2]$, not of $\operatorname{Var}(x)$, "
            r"which shrinks by $\tfrac12-\tfrac1{2\pi}\approx 0.341$.",
            r"Here $\theta$ is the Heaviside step function, $\theta(t)=1$ for $t>0$ and $0$ for $t<0$: "
            r"$\mathrm{relu}'=\theta$ away from $0$, and $\mathbb{E}[\theta(-z)]=P(z<0)=P(\mathrm{relu}(z)=0)$. "
            r"So a ReLU's output has an atom of mass $\tfrac12$ at $0$ and, for $z\sim\mathcal{N}(0,\sigma^2)$, the "
            r"density of $z$ on $(0,\infty)$; $\mathbb{E}[\mathrm{relu}'(z)^2]=\tfrac12$ is the factor the "
            r"backward pass loses per layer, which He's fan-out variant undoes.",
        ),
    )


def leaky_relu_second_moment(refs: dict) -> Derivation:
    """E[lrelu_a(z)^2] = (1 + a^2)/2 E[z^2] for symmetric z."""
    return Derivation(
        id="leaky-relu-second-moment",
        title="Second moment after a leaky ReLU",
        summary="E[lrelu_a(z)^2] = (1 + a^2)/2 E[z^2] for z symmetric about 0.",
        chains=(
            Chain(
                lhs=E(leaky_relu(z, a) ** 2),
                assumptions=("symmetric-z",),
                steps=(
                    Step(_density_integral(leaky_relu(t, a) ** 2), "def-mean"),
                    Step(_density_integral(t**2, 0) + a**2 * _density_integral(t**2, -sp.oo, 0), "activation-def"),
                    Step((1 + a**2) / 2 * _density_integral(t**2), "symmetry", ("symmetric-z",)),
                    Step((1 + a**2) / 2 * E(z**2), "def-mean"),
                ),
            ),
            Chain(
                key="derivative",
                title=r"The derivative factor $\mathbb{E}[\mathrm{lrelu}_a'(z)^2]$",
                lhs=E((sp.Heaviside(z) + a * sp.Heaviside(-z)) ** 2),
                assumptions=("symmetric-z",),
                steps=(
                    Step(_density_integral((sp.Heaviside(t) + a * sp.Heaviside(-t)) ** 2), "def-mean"),
                    Step(_density_integral(1, 0) + a**2 * _density_integral(1, -sp.oo, 0), "activation-def"),
                    Step((1 + a**2) / 2 * _density_integral(1), "symmetry", ("symmetric-z",)),
                    Step((1 + a**2) / 2, "def-mean"),
                ),
            ),
        ),
        refs=refs,
        models=STANDARD_FAMILIES,
        notes=(r"$a=0$ gives the ReLU factor $\tfrac12$, $a=1$ the linear factor $1$.",),
    )
