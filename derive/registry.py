"""The registry of derivations: one entry per derivation (id, builder, what it needs), built and so
checked on first use, each after the derivations it needs."""

from __future__ import annotations

from .catalog import constants, meanfield, moments, propagation, saturation, schemes, symmetry
from .core import Derivation, DerivationError

#: One entry per derivation, in the order the report presents them: (id, builder, ids it needs).
#: A builder sees only the derivations it declares, so an undeclared dependency fails at once.
CATALOG = (
    ("product-variance", moments.product_variance, ()),
    ("forward-variance", propagation.forward_variance, ("product-variance",)),
    ("backward-variance", propagation.backward_variance, ()),
    ("relu-second-moment", moments.relu_second_moment, ()),
    ("leaky-relu-second-moment", moments.leaky_relu_second_moment, ()),
    ("tanh-saturation", saturation.tanh_saturation, ()),
    ("sine-moments", saturation.sine_moments, ()),
    ("deep-propagation", propagation.deep_propagation, ("forward-variance",)),
    (
        "init-schemes",
        schemes.init_schemes,
        ("deep-propagation", "backward-variance", "relu-second-moment", "leaky-relu-second-moment"),
    ),
    ("uniform-bound", schemes.uniform_bound, ("init-schemes",)),
    ("conv-fan", schemes.conv_fan, ("product-variance", "backward-variance")),
    ("zero-init", symmetry.zero_init, ()),
    ("constant-init", symmetry.constant_init, ()),
    ("truncated-normal", constants.truncated_normal, ()),
    ("selu-constants", constants.selu_constants, ()),
    ("signal-propagation", meanfield.signal_propagation, ("backward-variance",)),
    ("edge-of-chaos", meanfield.edge_of_chaos, ("relu-second-moment",)),
    ("finite-width-fluctuations", meanfield.finite_width_fluctuations, ("relu-second-moment",)),
    ("arc-cosine-kernel", meanfield.arc_cosine_kernel, ()),
    ("arcsine-kernel", meanfield.arcsine_kernel, ()),
)

#: Ids in report order.
IDS = tuple(ident for ident, _, _ in CATALOG)
_ENTRIES = {ident: (build, needs) for ident, build, needs in CATALOG}
_BUILT: dict[str, Derivation] = {}


def _build(ident: str, stack: tuple = ()) -> Derivation:
    if ident in _BUILT:
        return _BUILT[ident]
    if ident in stack:
        raise DerivationError(f"derivations need each other in a cycle: {' -> '.join((*stack, ident))}")
    build, needs = _ENTRIES[ident]
    refs = {need: _build(need, (*stack, ident)) for need in needs}
    derivation = build(refs)
    if derivation.id != ident:
        raise DerivationError(f"the builder registered as {ident!r} built {derivation.id!r}")
    _BUILT[ident] = derivation
    return derivation


def registry() -> dict[str, Derivation]:
    """Every derivation by id, each built and checked (once per process)."""
    return {ident: _build(ident) for ident in IDS}


def get(ident: str) -> Derivation:
    """The derivation ``ident`` (building only it and what it needs); KeyError lists the ids."""
    if ident not in _ENTRIES:
        raise KeyError(f"unknown derivation {ident!r}; known: {', '.join(IDS)}")
    return _build(ident)
