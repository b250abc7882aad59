"""One general weight sampler: any distribution, scaled to a requested variance.

Only the mean and the variance enter the propagation law, so every distribution here is scaled
to mean 0 and the requested variance (``var``, never a bare number that could be a std). The
scale of each family is solved from its own variance formula in SymPy (the truncated normal's from
the truncated-normal derivation), never typed.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from . import theory

DISTRIBUTIONS = ("zeros", "constant", "normal", "truncated_normal", "uniform", "orthogonal", "rademacher", "laplace")

#: Truncation of the truncated normal, in units of the untruncated standard deviation (PyTorch and
#: JAX truncate at two standard deviations).
TRUNCATION = 2.0


@cache
def _truncated_normal_unit_std() -> float:
    """Std of N(0, 1) truncated to [-2, 2], from the truncated-normal derivation."""
    return theory.truncated_normal_std(TRUNCATION)


@cache
def _laplace_scale_per_std() -> float:
    """b / std for a Laplace(0, b), solved from sympy.stats' variance 2 b^2."""
    import sympy as sp
    import sympy.stats as st

    b = sp.Symbol("b", positive=True)
    (root,) = sp.solve(sp.Eq(st.variance(st.Laplace("L", 0, b)), 1), b)
    return float(root)


def sample(
    rng: np.random.Generator,
    shape,
    distribution: str = "normal",
    *,
    var: float = 1.0,
    value: float = 0.0,
    dtype=np.float64,
) -> np.ndarray:
    """Draw an array of ``shape``: mean 0 and variance ``var`` (or all ``value`` for ``constant``)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
    if not np.isfinite(var) or var < 0:
        raise ValueError(f"variance must be finite and non-negative, got {var}")
    shape = tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
    std = float(np.sqrt(var))
    if distribution == "zeros":
        return np.zeros(shape, dtype=dtype)
    if distribution == "constant":
        return np.full(shape, value, dtype=dtype)
    if distribution == "normal":
        draws = rng.standard_normal(shape, dtype=np.float32 if dtype == np.float32 else np.float64)
        draws *= std
        return draws.astype(dtype, copy=False)
    if distribution == "truncated_normal":
        draws = rng.standard_normal(shape)
        bad = np.abs(draws) > TRUNCATION
        while bad.any():  # rejection keeps exactly the truncated law
            draws[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(draws) > TRUNCATION
        return (draws * (std / _truncated_normal_unit_std())).astype(dtype, copy=False)
    if distribution == "uniform":
        bound = float(theory.uniform_bound_fn()(var))
        return rng.uniform(-bound, bound, shape).astype(dtype, copy=False)
    if distribution == "rademacher":
        return (rng.integers(0, 2, shape).astype(dtype) * 2 - 1) * std
    if distribution == "laplace":
        return rng.laplace(0.0, std * _laplace_scale_per_std(), shape).astype(dtype, copy=False)
    # orthogonal: rows (or columns) orthonormal, scaled so that each entry has variance var.
    if len(shape) != 2:
        raise ValueError("orthogonal weights need a 2-D shape")
    rows, cols = shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))  # Haar measure (Mezzadri 2007)
    q = q if rows >= cols else q.T
    # An orthonormal n x n matrix has entries of variance 1/n: scale to var.
    return (q * np.sqrt(var * max(rows, cols))).astype(dtype, copy=False)


def inputs(rng: np.random.Generator, shape, distribution: str = "normal", *, var: float = 1.0, mean: float = 0.0):
    """Input data with the given mean and variance (any family of :data:`DISTRIBUTIONS`)."""
    return sample(rng, shape, distribution, var=var) + mean
