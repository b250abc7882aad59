"""The constants the field types as literals, each computed from the derivation that defines it."""

from __future__ import annotations

import sympy as sp

from .activations import alpha, lam
from .catalog.constants import k_trunc
from .expr import sigma
from .registry import get


def _digits(value, digits: int) -> str:
    return str(sp.N(value, digits))


def truncated_normal_std(k=2, digits: int = 30) -> sp.Float:
    """Std of N(0, 1) truncated to [-k, k], from ``truncated-normal``'s result."""
    return sp.N(sp.sqrt(get("truncated-normal").result.rhs.subs(k_trunc, sp.nsimplify(k))), digits)


def selu_solution(digits: int = 30) -> dict:
    """(alpha, lambda) solving ``selu-constants``' conditions: mean 0, second moment 1."""
    d = get("selu-constants")
    mean, second = d.result.rhs, d.chain("second-moment").result.rhs
    (alpha_value,) = sp.solve(sp.Eq(mean / lam, 0), alpha)
    lam_value = sp.sqrt(1 / (second / lam**2).subs(alpha, alpha_value))
    return {"alpha": sp.N(alpha_value, digits), "lambda": sp.N(lam_value, digits)}


def constants(digits: int = 30) -> dict:
    """Every constant, to ``digits`` digits, with the derivation it comes from."""
    relu = get("relu-second-moment")
    selu = selu_solution(digits)
    out = {
        "truncated_normal_std_k2": {
            "value": _digits(truncated_normal_std(2, digits), digits),
            "meaning": "std of N(0,1) truncated to [-2, 2] (Keras/JAX's .87962566103423978)",
            "derivation": "truncated-normal",
        },
        "truncated_normal_std_k1": {
            "value": _digits(truncated_normal_std(1, digits), digits),
            "meaning": "std of N(0,1) truncated to [-1, 1]",
            "derivation": "truncated-normal",
        },
        "truncated_normal_std_k3": {
            "value": _digits(truncated_normal_std(3, digits), digits),
            "meaning": "std of N(0,1) truncated to [-3, 3]",
            "derivation": "truncated-normal",
        },
        "selu_alpha": {
            "value": _digits(selu["alpha"], digits),
            "meaning": "SELU alpha: E[selu(Z)] = 0 for Z ~ N(0,1)",
            "derivation": "selu-constants",
        },
        "selu_lambda": {
            "value": _digits(selu["lambda"], digits),
            "meaning": "SELU lambda: E[selu(Z)^2] = 1 for Z ~ N(0,1)",
            "derivation": "selu-constants",
        },
        "rectified_gaussian_mean": {
            "value": _digits(relu.chain("gaussian-mean").result.rhs.subs(sigma, 1), digits),
            "meaning": "E[relu(Z)], Z ~ N(0,1): 1/sqrt(2 pi)",
            "derivation": "relu-second-moment",
        },
        "rectified_gaussian_variance": {
            "value": _digits(relu.chain("gaussian-variance").result.rhs.subs(sigma, 1), digits),
            "meaning": "Var(relu(Z)), Z ~ N(0,1): 1/2 - 1/(2 pi)",
            "derivation": "relu-second-moment",
        },
        "tanh_saturation_limit": {
            "value": _digits(get("tanh-saturation").result.rhs, digits),
            "meaning": "lim sigma E[tanh'(z)^2], z ~ N(0, sigma^2): 4/(3 sqrt(2 pi))",
            "derivation": "tanh-saturation",
        },
    }
    return out
