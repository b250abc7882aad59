"""What montecarlo/ computes from derive/'s checked results (a float, or the NumPy function that
``sympy.lambdify`` printed), optionally kept on disk so that a later run need not import SymPy,
build the derivations and check them again.

A kept value is only ever what derive/ computed, never a retyped constant: it was computed, in an
earlier process, from derivations that were built and checked there, and it is kept under a key
(:func:`source_key`) that hashes every source file of derive/ and montecarlo/ and the versions of
Python, NumPy, SciPy, SymPy and mpmath; any edit to any of them is a miss, and a miss builds and
checks the derivations as before. A NumPy function is kept as the source text SymPy's printer wrote
for it and is revived only with the same NumPy objects bound to the same names, so it computes the
same bytes.

Nothing is kept unless a store is installed (:func:`use_store`): the library never touches the disk,
and the command line installs one only for ``initvar verify`` run as a program (``--no-cache``:
recompute everything and keep the new values). The store stays unused while the activation registry
differs from derive/'s own activations (an activation registered at run time is not in the sources
the key hashes).
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import inspect
import sys
import types
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
    import importlib.metadata as md
    import importlib.util

    if roots is None:
        roots = tuple(Path(next(iter(importlib.util.find_spec(p).submodule_search_locations))) for p in _PACKAGES)
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    versions = [sys.version]
    for name in ("numpy", "scipy", "sympy", "mpmath"):
        try:
            versions.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            versions.append(f"{name} -")
    digest.update(repr((versions, registered_activations())).encode())
    return digest.hexdigest()[:40]


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


def _global_names(code: types.CodeType) -> set:
    """The global names ``code`` (and the code nested in it) loads."""
    import dis

    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


_MODULES = {"numpy": "numpy", "builtins": "builtins"}


def _freeze(value):
    """A JSON form of ``value`` (a float, a string, a lambdified NumPy function, or a tuple of them),
    or None when it has none that revives to the same thing."""
    import numpy as np

    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, tuple):
        items = [_freeze(v) for v in value]
        return None if any(i is None for i in items) else {"tuple": items}
    if not isinstance(value, types.FunctionType) or value.__closure__ or value.__defaults__:
        return None
    try:
        source = inspect.getsource(value)
    except (OSError, TypeError):
        return None
    names = sorted(_global_names(value.__code__))
    kept = []
    for name in names:
        bound = value.__globals__.get(name, getattr(builtins, name, None))
        if bound is None:
            return None  # a name nothing binds: it would fail when called
        if bound is getattr(builtins, name, None) and name not in value.__globals__:
            continue
        if name in _MODULES:
            if bound is not sys.modules[_MODULES[name]]:
                return None
        elif getattr(np, name, None) is not bound:
            return None  # a name that is not NumPy's (a SymPy fallback, say): not kept
        kept.append(name)
    frozen = {"numpy": source, "name": value.__name__, "globals": kept}
    return frozen if _revive(frozen) is not None else None


def _revive(entry):
    """The value ``entry`` (from :func:`_freeze`) stands for, or None when it is malformed."""
    import numpy as np

    if not isinstance(entry, dict) or len(entry) not in (1, 3):
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
    source, name, names = entry.get("numpy"), entry.get("name"), entry.get("globals")
    if not (isinstance(source, str) and isinstance(name, str) and isinstance(names, list)):
        return None
    namespace = {}
    for global_name in names:
        if global_name in _MODULES:
            namespace[global_name] = np if global_name == "numpy" else builtins
        elif isinstance(global_name, str) and hasattr(np, global_name):
            namespace[global_name] = getattr(np, global_name)
        else:
            return None
    try:
        exec(compile(source, f"<derived {name}>", "exec"), namespace)  # noqa: S102 - SymPy's own printout
    except Exception:
        return None
    function = namespace.get(name)
    return function if isinstance(function, types.FunctionType) else None


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
