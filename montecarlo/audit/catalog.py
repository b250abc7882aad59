"""Every audit case of the frameworks asked for, from their catalogs (one module per framework)."""

from __future__ import annotations

from . import jax_cases, keras_cases, torch_cases
from .cases import Case

BUILDERS = {
    "torch": torch_cases.cases,
    "jax": jax_cases.jax_cases,
    "flax": jax_cases.flax_cases,
    "keras": keras_cases.cases,
}


def catalog(frameworks) -> list[Case]:
    """Every case of the frameworks named (each must be installed), in the order named."""
    out = []
    for name in frameworks:
        out += BUILDERS[name]()
    idents = [c.id for c in out]
    if len(set(idents)) != len(idents):
        raise ValueError("two audit cases share an id")
    return out
