"""The laws a framework's initializer is held against, as numbers read off derive/.

- What its documentation states, turned into Var(w) by derive's laws: a uniform bound b through
  ``uniform-bound`` (Var = b^2/3), a normal truncated at +-k std through ``truncated-normal``
  (Var = std^2 t(k)^2, t(2) = 0.8796...), PyTorch's ``calculate_gain`` table from the activation
  registry (where derive keeps it beside the derived gains, labelled as PyTorch's choice).
- What a layer does with it: the per-layer forward factor n Var(w) E[phi(Z)^2] (n Var(w) c_phi for a
  positively homogeneous phi, the Gaussian map at q = 1 otherwise) and the backward factor
  n_out Var(w) E[phi'(Z)^2], from derive's Gaussian maps; the variance that would keep either, 1/(n E[...]).
- Where a deep stack of such layers ends: q_L, L applications of the layer map q -> n Var(w) E[phi(sqrt(q) Z)^2]
  to q_0 = 1 (exactly (n Var(w) c_phi)^L for homogeneous phi; the map iterated for tanh).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .. import theory as th

#: Depths at which every holding predicts the second moment.
DEPTHS = (10, 50, 100)


@dataclass(frozen=True)
class Act:
    """An activation of derive's registry with parameter values (by CLI name, as strings)."""

    name: str
    params: tuple = ()  # ((name, value), ...)

    @property
    def values(self) -> dict | None:
        return dict(self.params) or None

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(value for _, value in self.params)})"


LINEAR, RELU, TANH, GELU, SELU = Act("linear"), Act("relu"), Act("tanh"), Act("gelu"), Act("selu")
#: Every case reports its factors for these.
COMMON = (LINEAR, RELU, TANH, GELU, SELU)


# -- documented laws -> Var(w) ---------------------------------------------------------------------------


def uniform_variance(bound: float) -> float:
    """Var(U(-b, b)) = b^2/3, from ``uniform-bound``."""
    return float(th.uniform_variance_fn()(bound))


def truncated_variance(std: float, lower: float, upper: float) -> float:
    """Var of N(0, std^2) redrawn outside [lower, upper] (symmetric bounds): std^2 t(k)^2 with k = upper/std,
    t(k) the std of N(0, 1) truncated to [-k, k], from ``truncated-normal``."""
    if lower != -upper:
        raise ValueError("only symmetric truncation bounds have a derived variance here")
    return std**2 * th.truncated_normal_std(upper / std) ** 2


def truncated_std(k: float = 2.0) -> float:
    """t(k): the std of N(0, 1) truncated to [-k, k] (0.87962566... at k = 2), from ``truncated-normal``."""
    return th.truncated_normal_std(k)


def torch_gain(name: str, **params) -> float:
    """PyTorch's ``calculate_gain(name, param)`` as its documentation tabulates it (derive keeps the table
    in the activation registry, beside the derived gains)."""
    from derive.activations import lookup

    act = lookup(name)
    if act.torch_gain is None:
        raise ValueError(f"PyTorch's calculate_gain has no entry for {name!r}")
    table = act.defaults()
    names = {key: symbol for key, (symbol, _) in act.params}
    for key, value in params.items():
        table[names[key]] = sp.nsimplify(value)
    return float(sp.S(act.torch_gain[0]).xreplace(table))


# -- what a layer does ---------------------------------------------------------------------------------


@cache
def moments(act: Act) -> tuple[float, float]:
    """(E[phi(Z)^2], E[phi'(Z)^2]) for Z ~ N(0, 1): derive's Gaussian maps at q = 1 (exact for homogeneous
    phi, where E[phi(Z)^2] is c_phi)."""
    from derive.activations import gaussian_map, lookup

    entry = lookup(act.name)
    second = gaussian_map(entry, "second", 1, act.values, digits=20)
    derivative = gaussian_map(entry, "derivative", 1, act.values, digits=20)
    return float(second), float(derivative)


def moment(act: Act, direction: str) -> float:
    return moments(act)[0 if direction == "forward" else 1]


def derived_variance(act: Act, direction: str, fan: float) -> float:
    """The Var(w) that keeps the second moment through a layer at q = 1: 1/(fan E[phi(Z)^2]) forward (He's
    2/fan_in for ReLU, LeCun's 1/fan_in for the identity), 1/(fan E[phi'(Z)^2]) backward."""
    return 1.0 / (fan * moment(act, direction))


@cache
def homogeneous(act: Act) -> bool:
    """phi(s t) = s phi(t) for s > 0, decided symbolically by the activation's entry."""
    from derive.activations import lookup

    return bool(lookup(act.name).homogeneous(act.values))


@cache
def _linear_regime(act: Act) -> float | None:
    """phi'(0)^2: E[phi(sqrt(q) Z)^2]/q as q -> 0, where phi has a linear regime (None where derive refuses one)."""
    from derive.activations import linear_regime_factor, lookup

    try:
        return float(linear_regime_factor(lookup(act.name), act.values))
    except ValueError:
        return None


def _layer_map(act: Act, q: np.ndarray) -> np.ndarray:
    """E[phi(sqrt(q) Z)^2] for an array of q: the tabulated Gaussian map on [1e-12, 1e6], phi'(0)^2 q below
    (its linear regime, to 12 digits there), NaN where neither applies."""
    low, high = 1e-12, 1e6
    out = np.full(q.shape, np.nan)
    inside = (q >= low) & (q <= high)
    if inside.any():
        slope = float(dict(act.params).get("negative_slope", th.DEFAULT_SLOPE))
        out[inside] = th.gaussian_second_moment_array(act.name, q[inside], slope)
    small = q < low
    if small.any():
        regime = _linear_regime(act)
        if regime is not None:
            out[small] = regime * q[small]
    out[q == 0] = 0.0
    return out


def forward_depth(act: Act, scale, depths=DEPTHS) -> np.ndarray:
    """q_L for each L in ``depths`` and each layer scale s = n Var(w) in ``scale`` (an array): L applications
    of q -> s E[phi(sqrt(q) Z)^2] to q_0 = 1, i.e. (s c_phi)^L for homogeneous phi. Shape (len(scale), len(depths))."""
    scale = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    if homogeneous(act):
        factor = scale * moment(act, "forward")
        return factor[:, None] ** np.asarray(depths, dtype=np.float64)[None, :]
    q = np.ones_like(scale)
    out = np.empty((scale.size, len(depths)))
    column = {depth: i for i, depth in enumerate(depths)}
    for layer in range(1, max(depths) + 1):
        q = scale * _layer_map(act, q)
        if layer in column:
            out[:, column[layer]] = q
    return out


def forward_curve(act: Act, scale: float, depth: int, bias_variance: float = 0.0) -> np.ndarray:
    """q_1..q_depth for one layer scale s: q_l = s E[phi(sqrt(q_{l-1}) Z)^2] + Var(b) from q_0 = 1.

    ``bias_variance``: a bias independent of the weights and of the input adds its variance to every
    pre-activation's second moment (the forward law plus an independent mean-zero term); 0 for none.
    """
    q = np.ones(1)
    out = []
    factor = moment(act, "forward") if homogeneous(act) else None
    for _ in range(depth):
        q = scale * (factor * q if factor is not None else _layer_map(act, q)) + bias_variance
        out.append(float(q[0]))
    return np.array(out)


def backward_depth(act: Act, scale, depths=DEPTHS) -> np.ndarray | None:
    """The gradient's second moment after L layers, (s E[phi'(Z)^2])^L with s = n_out Var(w), for homogeneous
    phi (whose E[phi'(z)^2] does not depend on the scale of z); None otherwise."""
    if not homogeneous(act):
        return None
    factor = np.atleast_1d(np.asarray(scale, dtype=np.float64)) * moment(act, "backward")
    return factor[:, None] ** np.asarray(depths, dtype=np.float64)[None, :]
