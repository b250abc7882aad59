"""The optional frameworks: which are installed, which extra installs each, their versions, and importing
them (only here, and only inside functions: ``import derive, montecarlo`` never needs them).

Keras 3 runs on the JAX backend when JAX is installed, else on NumPy's; KERAS_BACKEND is set before
Keras is first imported (a Keras imported earlier keeps its backend, which is then recorded).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    name: str
    title: str
    modules: tuple  # what must import
    extra: str  # `pip install 'initvar[EXTRA]'` installs it
    distributions: tuple  # whose versions audit.json records


FRAMEWORKS = {
    f.name: f
    for f in (
        Framework("torch", "PyTorch", ("torch",), "torch", ("torch",)),
        Framework("jax", "JAX", ("jax",), "jax", ("jax", "jaxlib")),
        Framework("flax", "Flax", ("jax", "flax"), "jax", ("flax",)),
        Framework("keras", "Keras", ("keras",), "keras", ("keras",)),
    )
}

#: --framework CHOICE -> the frameworks it audits
CHOICES = {
    "torch": ("torch",),
    "jax": ("jax", "flax"),
    "keras": ("keras",),
    "all": ("torch", "jax", "flax", "keras"),
}
#: the extra that installs every framework
ALL_EXTRA = "frameworks"


class MissingFramework(ImportError):
    """A framework the audit needs is not installed (or not usable); the message says which extra installs it."""


def _find(module: str):
    """importlib's finder, in one place (tests replace it to hide a framework)."""
    return importlib.util.find_spec(module)


def installed(name: str) -> bool:
    """Whether every module ``name`` needs can be found (cheap: nothing is imported)."""
    try:
        return all(_find(module) is not None for module in FRAMEWORKS[name].modules)
    except (ImportError, ValueError):
        return False


def install_hint(names) -> str:
    """The pip command that installs the frameworks ``names`` (through the project's extras)."""
    extras = sorted({FRAMEWORKS[n].extra for n in names})
    if len(extras) == 1:
        return f"pip install 'initvar[{extras[0]}]'"
    return f"pip install 'initvar[{ALL_EXTRA}]' (or one of {', '.join(f'initvar[{e}]' for e in extras)})"


def load(name: str):
    """Import framework ``name`` (its main module), or raise MissingFramework naming the extra."""
    if not installed(name):
        raise MissingFramework(f"{FRAMEWORKS[name].title} is not installed: {install_hint([name])}")
    try:
        if name == "keras":
            return _import_keras()
        if name in ("jax", "flax"):
            _prefer_cpu()
            module = importlib.import_module("jax")
            return importlib.import_module("flax.linen") if name == "flax" else module
        return importlib.import_module(name)
    except MissingFramework:
        raise
    except ImportError as exc:
        raise MissingFramework(
            f"{FRAMEWORKS[name].title} is installed but does not import ({exc}): {install_hint([name])}"
        ) from None


def _prefer_cpu():
    """JAX on the CPU unless the user chose otherwise: the audit is about distributions, not speed, and
    probing for accelerators costs time and prints warnings."""
    if "jax" not in sys.modules:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _import_keras():
    if "keras" not in sys.modules:
        if os.environ.get("KERAS_BACKEND") not in ("jax", "numpy"):
            os.environ["KERAS_BACKEND"] = "jax" if installed("jax") else "numpy"
        if os.environ["KERAS_BACKEND"] == "jax":
            _prefer_cpu()
    keras = importlib.import_module("keras")
    major = int(str(getattr(keras, "__version__", "0")).split(".")[0] or 0)
    if major < 3:
        raise MissingFramework(f"Keras {keras.__version__} is not Keras 3: {install_hint(['keras'])}")
    return keras


def version(distribution: str) -> str:
    try:
        return md.version(distribution)
    except md.PackageNotFoundError:
        return "not installed"


def versions(names) -> dict:
    """Versions of the audited frameworks' distributions (and Keras's backend)."""
    out = {}
    for name in names:
        for distribution in FRAMEWORKS[name].distributions:
            out[distribution] = version(distribution)
        if name == "keras" and "keras" in sys.modules:
            out["keras_backend"] = sys.modules["keras"].backend.backend()
    return out
