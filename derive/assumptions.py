"""The assumptions catalog: every hypothesis a derivation step may cite, as data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Assumption:
    """One named hypothesis.

    ``key`` is what steps cite, ``latex`` the statement as it appears in a report,
    ``plain`` one line for terminals and docstrings.
    """

    key: str
    latex: str
    plain: str


_ALL = (
    Assumption("indep-wx", r"$w_i$ and $x_j$ are independent for all $i, j$", "weights and inputs are independent"),
    Assumption("iid-w", r"the $w_i$ are i.i.d.", "weights are independent and identically distributed"),
    Assumption(
        "iid-x",
        r"the $x_i$ are identically distributed (they need not be independent of each other)",
        "inputs are identically distributed; they may depend on each other",
    ),
    Assumption("zero-mean-w", r"$\mathbb{E}[w] = 0$", "weights have mean zero"),
    Assumption("zero-mean-x", r"$\mathbb{E}[x] = 0$", "inputs have mean zero"),
    Assumption(
        "symmetric-w",
        r"the density of $w$ is symmetric about $0$",
        "weights are symmetric about 0 (so is every pre-activation they form with independent inputs)",
    ),
    Assumption(
        "symmetric-z", r"the density of $z$ satisfies $f_z(t) = f_z(-t)$", "the pre-activation z is symmetric about 0"
    ),
    Assumption("gaussian-z", r"$z \sim \mathcal{N}(0, \sigma^2)$", "the pre-activation is Gaussian with mean 0"),
    Assumption(
        "linear-regime",
        r"$\phi(z) \approx z$ for the $z$ that occur",
        "the activation is used in its linear regime (Glorot and Bengio's premise)",
    ),
    Assumption(
        "indep-grad",
        r"$\delta_y$ is independent of $w$, the $\delta_{y,k}$ are i.i.d.\ (an approximation: "
        r"$\delta_y$ is computed from the same weights; Glorot and Bengio 2010, He et al.\ 2015)",
        "backpropagated gradients are independent of the weights, and i.i.d. (an approximation)",
    ),
    Assumption(
        "zero-mean-grad",
        r"$\mathbb{E}[\delta_y] = 0$",
        "backpropagated gradients have mean zero (they pass through mean-zero weights)",
    ),
    Assumption(
        "layer-stack",
        r"$x_{l} = \phi(y_{l-1})$, and each layer's weights are drawn independently of its inputs "
        r"(the units of $x_l$ are identically distributed but, at finite width, not independent)",
        "each layer feeds the next; its weights are independent of its inputs",
    ),
    Assumption(
        "homogeneous-phi",
        r"$\phi(s t) = s\,\phi(t)$ for $s > 0$ (linear, ReLU, leaky ReLU, $|t|$)",
        "the activation is positively homogeneous, so E[phi(z)^2] is a fixed multiple of E[z^2]",
    ),
    Assumption(
        "variance-preserving",
        r"$\operatorname{Var}(y_l) = \operatorname{Var}(y_{l-1})$ is the goal",
        "the initialization should keep the variance constant across layers",
    ),
    Assumption(
        "gaussian-pair",
        r"$(u_1, u_2)$ is a centred Gaussian pair with $\mathbb{E}[u_1^2] = \mathbb{E}[u_2^2] = q$ and "
        r"$\mathbb{E}[u_1 u_2] = q c$ (two inputs' pre-activations in one unit of an infinitely wide layer)",
        "two pre-activations are jointly Gaussian, mean 0, second moment q each, correlation c",
    ),
    Assumption(
        "smooth-phi",
        r"$\phi$ is twice continuously differentiable, and $\phi$, $\phi'$, $\phi''$ grow more slowly than "
        r"$e^{t^2/(4q)}$ (every Gaussian integral here converges and may be differentiated under the integral sign)",
        "the activation is twice continuously differentiable and grows slower than exp(t^2/(4q))",
    ),
    Assumption(
        "mean-field-w",
        r"$\operatorname{Var}(w) = \sigma_w^2/n_{\mathrm{in}}$: the weights of a mean-field layer, "
        r"$\mathcal{N}(0, \sigma_w^2/n)$ with $n$ the fan-in",
        "weights have variance sigma_w^2 over the fan-in (a mean-field layer)",
    ),
    Assumption("uniform-w", r"$w \sim \mathcal{U}(-b, b)$", "weights are uniform on [-b, b]"),
    Assumption("zero-init", r"all weights and biases are $0$", "every weight and bias starts at zero"),
    Assumption(
        "constant-init",
        r"every row of $W^{(1)}$ is the same vector: $W^{(1)}_{ji} = u_i$, $b^{(1)}_j = \beta$, "
        r"and every column of $W^{(2)}$ is the same: $W^{(2)}_{kj} = v_k$",
        "every hidden unit starts with the same incoming weights and bias, and the same outgoing weights",
    ),
    Assumption(
        "differentiable",
        r"$\phi$ and the loss $\ell$ are differentiable",
        "the activation and the loss are differentiable",
    ),
)

ASSUMPTIONS: dict[str, Assumption] = {a.key: a for a in _ALL}


def lookup(key: str) -> Assumption:
    """The assumption called ``key``; KeyError names the known keys otherwise."""
    try:
        return ASSUMPTIONS[key]
    except KeyError:
        raise KeyError(f"unknown assumption {key!r}; known: {', '.join(ASSUMPTIONS)}") from None
