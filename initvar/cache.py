"""The user's cache, two JSON files per key:

- ``checks-<key>.json``: which group of checks holds which check id, so that ``initvar verify --only X``
  builds only the checks it runs (see :func:`montecarlo.verify.select`);
- ``derived-<key>.json``: the values and NumPy functions montecarlo/ computed from derive/'s checked
  derivations (see :mod:`montecarlo.derived`), so that ``initvar verify`` need not import SymPy and
  build the derivations again. Only ``initvar verify`` run as a program uses it.

The key (:func:`montecarlo.derived.source_key`) is a hash of every source file of derive/ and
montecarlo/ and of the library versions, so an edited source is a miss, and a miss builds and checks
the derivations. ``--no-cache`` ignores what is stored, rebuilds it and stores it again. A cache that
cannot be read or written is silently skipped.

Location: ``$INITVAR_CACHE_DIR``, else ``$XDG_CACHE_HOME/initvar``, else ``~/.cache/initvar``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Cache files kept besides the current one (older keys are removed when a new one is written).
KEEP = 4


def cache_dir() -> Path | None:
    explicit = os.environ.get("INITVAR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if base and os.path.isabs(base):
        return Path(base) / "initvar"
    home = os.path.expanduser("~")
    if not home or home == "~":
        return None
    return Path(home) / ".cache" / "initvar"


class JsonCache:
    """``load(key)``/``store(key, data)`` of one kind of entry, as ``<prefix>-<key>.json`` in :func:`cache_dir`."""

    prefix = ""

    def __init__(self, *, read: bool = True):
        self.read = read
        self.folder = cache_dir()

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{self.prefix}-{key}.json"

    def load(self, key: str):
        path = self._path(key)
        if not self.read or path is None:
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def store(self, key: str, data) -> None:
        from montecarlo.writer import OutputError, prepare_dir, write_text

        path = self._path(key)
        if path is None:
            return
        try:
            prepare_dir(path.parent)
            write_text(path, json.dumps(data, indent=1) + "\n")
            old = sorted(path.parent.glob(f"{self.prefix}-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for stale in old[KEEP + 1 :]:
                stale.unlink()
        except (OSError, OutputError):
            pass


class CheckIndex(JsonCache):
    """The check-id index."""

    prefix = "checks"


class DerivedCache(JsonCache):
    """Values computed from derive/'s checked derivations (read by :mod:`montecarlo.derived`)."""

    prefix = "derived"


def check_index(args) -> CheckIndex:
    """The index for a command's ``--no-cache``."""
    return CheckIndex(read=not getattr(args, "no_cache", False))


def derived_cache(args) -> DerivedCache:
    """The store of derived values for a command's ``--no-cache``."""
    return DerivedCache(read=not getattr(args, "no_cache", False))
