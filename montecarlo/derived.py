"""What montecarlo/ computes from derive/'s checked results (a float, or a formula as an expression tree,
:mod:`montecarlo.formula`), optionally kept on disk so that a later run need not import SymPy,
build the derivations and check them again.

A kept value is only ever what derive/ computed, never a retyped constant: it was computed, in an
earlier process, from derivations that were built and checked there, and it is kept under a key
(:func:`source_key`) that hashes every source file of derive/ and montecarlo/ and the versions of
Python, NumPy, SciPy, SymPy and mpmath; any edit to any of them is a miss, and a miss builds and
checks the derivations as before. A formula is kept as its expression tree (operators, parameter
names, exact rationals) and revived by reading that data: nothing read from disk is executed, and the
same interpreter evaluates a formula whether it was just built or read back, so both compute the same
bytes.

Nothing is kept unless a store is installed (:func:`use_store`): the library never touches the disk,
and the command line installs one only for ``initvar verify`` run as a program (``--no-cache``:
recompute everything and keep the new values). The store stays unused while the activation registry
differs from derive/'s own activations (an activation registered at run time is not in the sources
the key hashes).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys
from pathlib import Path

#: The store values are kept in (``load(key)`` -> dict or None, ``store(key, dict)``), or None.
_STORE = None
#: The store's table for the current key: {entry: frozen value}, loaded on first use.
_TABLE: dict | None = None
_KEY: str | None = None


def use_store(store) -> None:
    """Keep derived values in ``store`` (None: keep nothing on disk) from now on in this process."""
    global _STORE, _TABLE
    _STORE, _TABLE = store, None


def source_key(roots: tuple[Path, ...] | None = None) -> str:
    """A hash of what every derived value depends on: the sources of derive/ and montecarlo/ (or of
    ``roots``), the versions of Python and the numerical libraries, and the activations registered
    in this process (``built-in`` while they are derive/'s own). Reads files; imports neither SymPy
    nor derive/."""
    digest = (_own_sources() if roots is None else _sources(roots)).copy()
    digest.update(repr((_library_versions(), registered_activations())).encode())
    return digest.hexdigest()[:40]


def _sources(roots: tuple[Path, ...]):
    """A running SHA-256 of every ``*.py`` below ``roots``: names and contents."""
    digest = hashlib.sha256()
    for root in roots:
        for relative in sorted(_python_files(str(root))):
            digest.update(f"{root.name}/{relative}\0".encode())
            with open(os.path.join(root, relative), "rb") as handle:
                digest.update(handle.read())
            digest.update(b"\0")
    return digest


def _python_files(root: str, prefix: str = ""):
    """The ``*.py`` files below ``root`` as POSIX paths relative to it (what ``Path.rglob`` finds, read with
    ``os.scandir``, in about half the time)."""
    with os.scandir(os.path.join(root, prefix) if prefix else root) as entries:
        for entry in entries:
            name = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.is_dir(follow_symlinks=False):  # as rglob: a linked folder is not entered (no cycles)
                yield from _python_files(root, name)
            elif entry.name.endswith(".py") and entry.is_file():
                yield name


@functools.cache
def _own_sources():
    """:func:`_sources` of derive/ and montecarlo/, read once per process: the code a process runs is the
    code it imported, whatever is edited on disk meanwhile (and a run asks for the key several times)."""
    import importlib.util

    return _sources(tuple(Path(next(iter(importlib.util.find_spec(p).submodule_search_locations))) for p in _PACKAGES))


@functools.cache
def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (None when it is not installed), read from the name
    of its ``NAME-VERSION.dist-info`` directory on ``sys.path``, first match first, as ``importlib.metadata``
    finds it; that module (which a one-check run would otherwise import and use to parse METADATA files, a
    tenth of a second) only where no such directory names one version."""
    for entry in sys.path:
        infos = sorted(n for n in _listing(entry or ".") if n.startswith(f"{name}-") and n.endswith(".dist-info"))
        if len(infos) == 1:
            return infos[0][len(name) + 1 : -len(".dist-info")]
        if infos:
            break
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _library_versions() -> list:
    """Python's version and the installed versions of the numerical libraries."""
    return [
        sys.version,
        *(f"{name} {installed_version(name) or '-'}" for name in ("numpy", "scipy", "sympy", "mpmath")),
    ]


@functools.cache
def _listing(folder: str) -> tuple[str, ...]:
    """The names in ``folder`` (none when it cannot be listed), read once for every library asked about."""
    try:
        return tuple(os.listdir(folder))
    except OSError:
        return ()


_PACKAGES = ("derive", "montecarlo")


def registered_activations():
    """``"built-in"`` while the activation registry holds exactly derive/'s own activations (or is not
    loaded yet, so that nothing can have been registered), else the sorted names registered."""
    acts = sys.modules.get("derive.activations")
    if acts is None or acts.ACTIVATIONS == getattr(acts, "BUILT_IN", None):
        return "built-in"
    return sorted(acts.ACTIVATIONS)


def _table() -> dict | None:
    """The store's entries for the current key, or None when nothing is to be kept."""
    global _TABLE, _KEY
    if _STORE is None or registered_activations() != "built-in":
        return None
    if _TABLE is None:
        try:
            _KEY = source_key()
        except OSError:
            return None
        data = _STORE.load(_KEY)
        _TABLE = data if isinstance(data, dict) else {}
    return _TABLE


def _freeze(value):
    """A JSON form of ``value`` (a float, a string, a :class:`~montecarlo.formula.Formula`, or a tuple of
    them), or None when it has none (a function SymPy's lambdify compiled is not kept)."""
    from .formula import Formula

    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, tuple):
        items = [_freeze(v) for v in value]
        return None if any(i is None for i in items) else {"tuple": items}
    if isinstance(value, Formula):
        return {"formula": value.to_json()}
    return None


def _revive(entry):
    """The value ``entry`` (from :func:`_freeze`) stands for, or None when it is malformed. Reads data only:
    a formula is a checked expression tree, never code."""
    from .formula import Formula, FormulaError

    if not isinstance(entry, dict) or len(entry) != 1:
        return None
    if "float" in entry:
        try:
            return float(entry["float"])
        except (TypeError, ValueError):
            return None
    if "str" in entry:
        return entry["str"] if isinstance(entry["str"], str) else None
    if "tuple" in entry:
        items = entry["tuple"] if isinstance(entry["tuple"], list) else None
        values = None if items is None else [_revive(i) for i in items]
        return None if values is None or any(v is None for v in values) else tuple(values)
    if "formula" in entry:
        try:
            return Formula.from_json(entry["formula"])
        except (FormulaError, RecursionError):
            return None
    return None


def derived(fn):
    """Memoize ``fn`` (positional arguments that ``repr`` identifies: strings, numbers) in this process
    and, with a store installed, on disk (see the module docstring)."""

    signature = inspect.signature(fn)

    @functools.cache
    def memo(*args):
        table = _table()
        entry = f"{fn.__module__}.{fn.__qualname__}{args!r}"
        if table is not None and entry in table:
            value = _revive(table[entry])
            if value is not None:
                return value
        value = fn(*args)
        table = _table()  # computing may have registered an activation
        if table is not None:
            frozen = _freeze(value)
            if frozen is not None:
                table[entry] = frozen
                _STORE.store(_KEY, table)
        return value

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return memo(*bound.arguments.values())

    wrapper.cache_clear = memo.cache_clear
    return wrapper
