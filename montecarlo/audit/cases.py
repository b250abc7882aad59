"""An audit case: one real initializer (or default layer) of one framework at one shape, what its
documentation says Var(w) is, a deliberately wrong reading of it (the negative control), and the laws
its verdict is about. The catalogs live in torch_cases, jax_cases and keras_cases (see catalog).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from zlib import crc32

import numpy as np

from .laws import RELU, TANH, Act

#: The non-square dense layer every framework is sampled at: (fan_in, fan_out).
DENSE = (256, 128)
#: A grouped 2-D convolution (k_h != k_w) and a grouped 1-D one.
CONV2D = {"c_in": 64, "c_out": 96, "groups": 4, "kernel": (3, 5)}
CONV1D = {"c_in": 32, "c_out": 48, "groups": 2, "kernel": (5,)}
#: What a framework's default layer is judged against: the activations people put after it.
DEFAULT_JUDGED = (RELU, TANH)


@dataclass(frozen=True)
class Claim:
    """Var(w) as a documentation states it (turned into a number by derive's laws), with the phrase that
    states it; ``text`` returns the installed version's documentation, to check the phrase is still there."""

    variance: float
    statement: str
    source: str
    quotes: tuple = ()  # phrases of the documentation that state it
    text: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    def quotes_found(self) -> bool | None:
        """Whether every quoted phrase is in the installed version's documentation (None: nothing quoted)."""
        if not self.quotes or self.text is None:
            return None
        try:
            text = _squash(self.text())
        except Exception:  # a documentation that cannot be read is reported, not fatal
            return False
        return all(_squash(quote) in text for quote in self.quotes)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def docstrings(*objects) -> Callable[[], str]:
    """The docstrings of ``objects``, read when the quotes are checked."""
    return lambda: "\n".join(getattr(obj, "__doc__", None) or "" for obj in objects)


@dataclass(frozen=True)
class Control:
    """A deliberately wrong reading of the documentation: the sampled variance must reject it."""

    variance: float
    statement: str


@dataclass(frozen=True)
class Case:
    id: str
    framework: str
    call: str  # what a user writes
    shape: tuple  # the weight's shape as the framework stores it
    fan_in: int  # the derived fans (conv-fan: groups counted in both)
    fan_out: int
    claims: tuple  # Claim, ...; the first is the headline
    control: Control
    law: str  # "forward", "backward", "compromise" or "none": what its documentation says it keeps
    judged: tuple = ()  # Act, ...: the activations its verdict is about
    sample: Callable[[int], np.ndarray] | None = field(default=None, compare=False, repr=False)
    bound: float | None = None  # the documented largest |w| (truncated normals)
    note: str = ""

    @property
    def documented(self) -> float:
        return self.claims[0].variance


def seed_for(root: int, ident: str, replication: int) -> int:
    """The integer seed of replication ``replication`` of ``ident``: SeedSequence(root, (crc32(ident), r)),
    so a case's draws do not depend on which other cases run."""
    state = np.random.SeedSequence(root, spawn_key=(crc32(ident.encode()), replication)).generate_state(1)
    return int(state[0])


def conv_fans(spec: dict) -> tuple[int, int]:
    """(fan_in, fan_out) = ((c_in/g) k, (c_out/g) k) with k the kernel's size, from ``conv-fan``."""
    from .. import theory as th

    kernel = tuple(spec["kernel"]) + (1,) * (2 - len(spec["kernel"]))
    args = (spec["c_in"], spec["c_out"], spec["groups"], *kernel)
    fan_in, fan_out = (f(*args) for f in th.conv_fans())
    return int(round(float(fan_in))), int(round(float(fan_out)))


def shape_fans(shape: tuple, layout: str) -> tuple[int, int]:
    """The fans a framework reads off a weight's shape (PyTorch's _calculate_fan_in_and_fan_out, JAX's
    and Keras's compute_fans): (input axis x receptive field, output axis x receptive field). For a
    grouped convolution the fan-out is then c_out k, g times the derived one (see ``conv-fan``).

    layout "oi...": PyTorch, (out, in, *kernel); "...io": JAX/Flax/Keras, (*kernel, in, out)."""
    if layout == "oi...":
        out_axis, in_axis, kernel = shape[0], shape[1], shape[2:]
    else:
        in_axis, out_axis, kernel = shape[-2], shape[-1], shape[:-2]
    receptive = int(np.prod(kernel)) if kernel else 1
    return in_axis * receptive, out_axis * receptive


__all__ = ["Act", "Case", "Claim", "Control", "conv_fans", "docstrings", "seed_for", "shape_fans"]
