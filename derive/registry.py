"""The registry of derivations: built (and so checked) once, in dependency order, on first use."""

from __future__ import annotations

from .core import Derivation


def _builders():
    from .catalog import moments, propagation, saturation, schemes, symmetry

    return (
        moments.product_variance,
        propagation.forward_variance,
        propagation.backward_variance,
        moments.relu_second_moment,
        moments.leaky_relu_second_moment,
        saturation.tanh_saturation,
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
    "tanh-saturation",
    "deep-propagation",
    "init-schemes",
    "uniform-bound",
    "conv-fan",
    "zero-init",
    "constant-init",
)


_BUILT: dict[str, Derivation] = {}


def _build_through(ident: str) -> None:
    """Build (and so check) the derivations in order up to ``ident``: each may use the earlier ones."""
    for build, expected in zip(_builders(), IDS, strict=True):
        if expected not in _BUILT:
            derivation = build(_BUILT)
            assert derivation.id == expected, (derivation.id, expected)
            _BUILT[expected] = derivation
        if expected == ident:
            return


def registry() -> dict[str, Derivation]:
    """Every derivation by id, each built and checked (once per process)."""
    _build_through(IDS[-1])
    return dict(_BUILT)


def get(ident: str) -> Derivation:
    """The derivation ``ident`` (building only it and the ones before it); KeyError lists the ids."""
    if ident not in IDS:
        raise KeyError(f"unknown derivation {ident!r}; known: {', '.join(IDS)}")
    if ident not in _BUILT:
        _build_through(ident)
    return _BUILT[ident]
