"""Large weights saturate tanh: the backward factor E[tanh'(z)^2] vanishes like 1/sigma."""

from __future__ import annotations

import sympy as sp

from ..core import Chain, Derivation, Step
from ..expr import E, f_z, sigma, t, z
from ..semantics import LargeScale, Quadrature

#: tanh'(u) = 1 - tanh(u)^2, the factor a gradient picks up through a tanh unit.
DTANH = 1 - sp.tanh(z) ** 2


def _gauss(variable):
    return sp.exp(-(variable**2) / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma)


def tanh_saturation(refs: dict) -> Derivation:
    """E[tanh'(z)^2] for z ~ N(0, sigma^2), and sigma E[tanh'(z)^2] -> 4/(3 sqrt(2 pi)) as sigma -> oo."""
    body = (1 - sp.tanh(t) ** 2) ** 2
    exact = sp.Integral(body * _gauss(t), (t, -sp.oo, sp.oo))
    scaled = sp.Integral(body * sp.exp(-(t**2) / (2 * sigma**2)), (t, -sp.oo, sp.oo)) / sp.sqrt(2 * sp.pi)
    limit = sp.Integral(body, (t, -sp.oo, sp.oo)) / sp.sqrt(2 * sp.pi)
    return Derivation(
        id="tanh-saturation",
        title="Large weights saturate tanh",
        summary="For z ~ N(0, sigma^2), E[tanh'(z)^2] is a Gaussian average of (1 - tanh^2)^2 and "
        "sigma E[tanh'(z)^2] -> 4/(3 sqrt(2 pi)) as sigma -> oo: the gradient factor falls like 1/sigma.",
        chains=(
            Chain(
                key="exact",
                title="The backward factor of a tanh unit",
                lhs=E(DTANH**2),
                assumptions=("gaussian-z",),
                steps=(
                    Step(sp.Integral(body * f_z(t), (t, -sp.oo, sp.oo)), "def-mean"),
                    Step(exact, "gaussian", ("gaussian-z",)),
                ),
            ),
            Chain(
                title="Its decay for large pre-activations",
                lhs=sp.Limit(sigma * E(DTANH**2), sigma, sp.oo),
                assumptions=("gaussian-z",),
                steps=(
                    Step(sp.Limit(sigma * exact, sigma, sp.oo), "result", ("gaussian-z",), ref="tanh-saturation:exact"),
                    Step(sp.Limit(scaled, sigma, sp.oo), "algebra"),
                    Step(limit, "monotone-convergence"),
                    Step(sp.Rational(4, 3) / sp.sqrt(2 * sp.pi), "integrate"),
                ),
            ),
        ),
        refs=refs,
        models=(Quadrature("0.7"), Quadrature("2.3"), LargeScale("1e4"), LargeScale("1e5")),
        notes=(
            r"So $\mathbb{E}[\tanh'(z)^2]\approx \frac{4}{3\sqrt{2\pi}\,\sigma}$ once $\sigma\gg1$: the "
            r"gradient a tanh layer passes back shrinks like $1/\sigma$. In the five-layer experiment with std-$1$ "
            r"weights and $100$ units, $\sigma^2\approx100$ already at the first layer, so each tanh layer keeps "
            r"only about $5\%$ of the gradient's second moment (and its outputs pile up at $\pm1$); with std-$0.01$ "
            r"weights $\sigma\ll1$ and $\mathbb{E}[\tanh'(z)^2]\approx1$, but the forward signal itself vanishes "
            r"(\eqref{eq:deep-propagation}).",
        ),
    )


def sine_moments(refs: dict) -> Derivation:
    """E[sin(z)^2] and E[cos(z)^2] for z ~ N(0, sigma^2) in closed form: SymPy integrates both."""
    gauss = _gauss(t)
    return Derivation(
        id="sine-moments",
        title="Gaussian moments of the sine activation",
        summary="For z ~ N(0, sigma^2): E[sin(z)^2] = (1 - exp(-2 sigma^2))/2 and E[sin'(z)^2] = E[cos(z)^2] = "
        "(1 + exp(-2 sigma^2))/2, the closed forms behind sin's gains.",
        chains=(
            Chain(
                title=r"$\mathbb{E}[\sin(z)^2]$",
                lhs=E(sp.sin(z) ** 2),
                assumptions=("gaussian-z",),
                steps=(
                    Step(sp.Integral(sp.sin(t) ** 2 * f_z(t), (t, -sp.oo, sp.oo)), "def-mean"),
                    Step(sp.Integral(sp.sin(t) ** 2 * gauss, (t, -sp.oo, sp.oo)), "gaussian", ("gaussian-z",)),
                    Step((1 - sp.exp(-2 * sigma**2)) / 2, "integrate"),
                ),
            ),
            Chain(
                key="derivative",
                title=r"$\mathbb{E}[\sin'(z)^2]$",
                lhs=E(sp.cos(z) ** 2),
                assumptions=("gaussian-z",),
                steps=(
                    Step(sp.Integral(sp.cos(t) ** 2 * f_z(t), (t, -sp.oo, sp.oo)), "def-mean"),
                    Step(sp.Integral(sp.cos(t) ** 2 * gauss, (t, -sp.oo, sp.oo)), "gaussian", ("gaussian-z",)),
                    Step((1 + sp.exp(-2 * sigma**2)) / 2, "integrate"),
                ),
            ),
        ),
        refs=refs,
        models=(Quadrature("0.7"), Quadrature("2.3")),
        notes=(
            r"SymPy finds these two Gaussian moments in closed form, so \texttt{initvar gain sin} is exact: "
            r"$\sigma^2=1$ gives the forward gain $\sqrt{2/(1-e^{-2})}$ and the backward gain $\sqrt{2/(1+e^{-2})}$.",
        ),
    )
