"""Constants the field types as literals, derived: the truncated-normal correction and SELU's alpha, lambda."""

from __future__ import annotations

import sympy as sp

from ..activations import alpha, lam
from ..core import Chain, Derivation, Step
from ..expr import t
from ..semantics import Numeric

k_trunc = sp.Symbol("k", positive=True)  # truncation at +-k standard deviations
_PHI = sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)


def truncated_normal(refs: dict) -> Derivation:
    """Var(Z | |Z| < k) = 1 - 2 k phi(k) / erf(k / sqrt 2): the factor a truncated normal's std must be
    divided by (Keras and JAX type its k = 2 value, .87962566103423978, as a literal)."""
    num = sp.Integral(t**2 * _PHI, (t, -k_trunc, k_trunc))
    den = sp.Integral(_PHI, (t, -k_trunc, k_trunc))
    closed = 1 - sp.sqrt(2) * k_trunc * sp.exp(-(k_trunc**2) / 2) / (sp.sqrt(sp.pi) * sp.erf(k_trunc / sp.sqrt(2)))
    value = sp.sqrt(closed.subs(k_trunc, 2))
    return Derivation(
        id="truncated-normal",
        title="The truncated-normal correction",
        summary="Z ~ N(0, 1) conditioned on |Z| < k has variance 1 - sqrt(2/pi) k exp(-k^2/2)/erf(k/sqrt 2); at k = 2 its "
        "std is 0.8796256610..., so N(0, s^2) truncated at +-2s needs s = target std / 0.8796....",
        chains=(
            Chain(
                title=r"Variance of $\mathcal{N}(0,1)$ truncated to $[-k,k]$",
                lhs=num / den,
                steps=(Step(closed, "integrate"),),
            ),
        ),
        refs=refs,
        models=(
            Numeric("mpmath quadrature at k = 1/2, 1, 2", ((k_trunc, (sp.Rational(1, 2), 1, 2)),)),
            Numeric("mpmath quadrature at k = 3, 5/2, 7", ((k_trunc, (3, sp.Rational(5, 2), 7)),)),
        ),
        notes=(
            r"At $k=2$ (the truncation of Keras' and JAX's \texttt{truncated\_normal} initializers) the std of the "
            rf"truncated variable is ${sp.N(value, 30)}$ (30 digits): to get standard deviation $s$ after truncation at "
            r"two of its own standard deviations, draw from $\mathcal{N}(0, (s/0.8796\ldots)^2)$ truncated at $\pm2$ "
            r"of the new scale. PyTorch's \texttt{trunc\_normal\_} truncates at absolute bounds and does not correct "
            r"the variance.",
        ),
    )


def selu_constants(refs: dict) -> Derivation:
    """SELU's fixed-point conditions for N(0, 1) input (Klambauer et al. 2017): E[selu(Z)] and E[selu(Z)^2]."""
    bell = sp.exp(-(t**2) / 2)  # the standard normal density is bell / sqrt(2 pi)
    root = 1 / sp.sqrt(2 * sp.pi)
    mean_lhs = (lam * root) * (
        sp.Integral(t * bell, (t, 0, sp.oo)) + alpha * sp.Integral((sp.exp(t) - 1) * bell, (t, -sp.oo, 0))
    )
    second_lhs = (lam**2 * root) * (
        sp.Integral(t**2 * bell, (t, 0, sp.oo)) + alpha**2 * sp.Integral((sp.exp(t) - 1) ** 2 * bell, (t, -sp.oo, 0))
    )
    erfc_half = sp.erfc(1 / sp.sqrt(2))
    mean = lam * (1 / sp.sqrt(2 * sp.pi) + alpha * (sp.exp(sp.Rational(1, 2)) * erfc_half / 2 - sp.Rational(1, 2)))
    second = lam**2 * (
        sp.Rational(1, 2)
        + alpha**2 * (sp.exp(2) * sp.erfc(sp.sqrt(2)) / 2 - sp.exp(sp.Rational(1, 2)) * erfc_half + sp.Rational(1, 2))
    )
    points = ((alpha, (sp.Rational(3, 2), 1, sp.Rational(5, 3))), (lam, (sp.Rational(11, 10), 1, 2)))
    return Derivation(
        id="selu-constants",
        title="SELU's self-normalizing constants",
        summary="For Z ~ N(0, 1), E[selu(Z)] and E[selu(Z)^2] in closed form; setting them to 0 and 1 gives "
        "alpha = 1.6732632423543772848... and lambda = 1.0507009873554804934... (Klambauer et al. 2017).",
        chains=(
            Chain(
                title=r"Mean of $\mathrm{selu}(Z)$, $Z\sim\mathcal{N}(0,1)$",
                lhs=mean_lhs,
                steps=(Step(mean, "integrate"),),
            ),
            Chain(
                key="second-moment",
                title=r"Second moment of $\mathrm{selu}(Z)$",
                lhs=second_lhs,
                steps=(Step(second, "integrate"),),
            ),
        ),
        refs=refs,
        models=(
            Numeric("mpmath quadrature at two (alpha, lambda)", points),
            Numeric("mpmath quadrature at (alpha, lambda) = (2, 1/2)", ((alpha, (2,)), (lam, (sp.Rational(1, 2),)))),
        ),
        notes=(
            r"Mean $0$ fixes $\alpha$ (the condition is linear in it) and second moment $1$ then fixes $\lambda$; "
            r"\texttt{initvar gain selu} and \texttt{constants.json} print both to 30 digits, and the SELU "
            r"activation takes its defaults from them. With LeCun-normal weights ($\operatorname{Var}(w)=1/n$) "
            r"a SELU layer maps mean $0$, variance $1$ to mean $0$, variance $1$: its forward gain is $1$, "
            r"where PyTorch's \texttt{calculate\_gain('selu')} says $3/4$ (an empirical choice).",
        ),
    )
