"""What frameworks really do: the real initializers of PyTorch, JAX/Flax and Keras, sampled and held
against the derived laws.

Every case calls one real initializer (or builds one default layer) at a non-square or grouped shape,
estimates Var(w) and E[w] with 99.9% intervals over independent calls, and holds them against

- what its documentation says (turned into a variance by derive's laws: uniform bounds, truncation,
  PyTorch's gain table), with a deliberately wrong reading of it as a negative control;
- the derived laws: the variance that keeps the second moment for an activation, the per-layer factor
  n Var(w) E[phi(Z)^2] (n Var(w) c_phi for homogeneous phi, the Gaussian map at q = 1 for tanh), and the
  second moment it predicts after 10, 50 and 100 layers;

and deep networks built from each framework's own default layers confirm the predicted factor by Monte
Carlo. Verdicts: "matches its documented law", "differs from its documentation", "matches its
documentation but does not preserve the variance for ACT".

The frameworks are optional (extras torch, jax, keras, frameworks). Nothing here imports one at module
level, and ``montecarlo/__init__`` does not import this package.
"""

from __future__ import annotations

from .analysis import AuditResult, run, select
from .frameworks import CHOICES, FRAMEWORKS, MissingFramework, install_hint, installed
from .output import FIGURE, print_table, report_section, to_json, to_latex, write_outputs

__all__ = [
    "CHOICES",
    "FIGURE",
    "FRAMEWORKS",
    "AuditResult",
    "MissingFramework",
    "install_hint",
    "installed",
    "print_table",
    "report_section",
    "run",
    "select",
    "to_json",
    "to_latex",
    "write_outputs",
]
