"""The registry of derivations: built (and so checked) once, in dependency order, on first use."""

from __future__ import annotations

from functools import lru_cache

from .core import Derivation


def _builders():
    from .catalog import moments, propagation, schemes, symmetry

    return (
        moments.product_variance,
        propagation.forward_variance,
        propagation.backward_variance,
        moments.relu_second_moment,
        moments.leaky_relu_second_moment,
        propagation.deep_propagation,
        schemes.init_schemes,
        schemes.uniform_bound,
        schemes.conv_fan,
        symmetry.zero_init,
        symmetry.constant_init,
    )


#: Ids in the order the report presents them (the order they are built in).
IDS = (
    "product-variance",
    "forward-variance",
    "backward-variance",
    "relu-second-moment",
    "leaky-relu-second-moment",
    "deep-propagation",
    "init-schemes",
    "uniform-bound",
    "conv-fan",
    "zero-init",
    "constant-init",
)


@lru_cache(maxsize=1)
def registry() -> dict[str, Derivation]:
    """Every derivation by id, each built and checked."""
    built: dict[str, Derivation] = {}
    for build in _builders():
        derivation = build(built)
        built[derivation.id] = derivation
    assert tuple(built) == IDS, tuple(built)
    return built


def get(ident: str) -> Derivation:
    """The derivation ``ident``; KeyError lists the known ids."""
    if ident not in IDS:
        raise KeyError(f"unknown derivation {ident!r}; known: {', '.join(IDS)}")
    return registry()[ident]
