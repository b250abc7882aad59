"""The jobs behind the subcommands: each reads its inputs, computes, and writes through
:mod:`initvar.writer`. Validation happens before anything is written."""

from __future__ import annotations

from pathlib import Path

from .writer import prepare_dir, write_text


class InputError(ValueError):
    """Bad input found while validating; reported as one line, exit status 2."""


def write_derivations(out: Path, only=None) -> list[Path]:
    """Write ``out/derivations.tex`` and ``out/derivations/<id>.tex``; return the paths written."""
    from derive.latex import render_document, render_snippet
    from derive.registry import IDS, registry

    from .cli import UsageError

    if only:
        unknown = [i for i in only if i not in IDS]
        if unknown:
            raise UsageError(f"initvar derive: unknown derivation id {unknown[0]!r}; known: {', '.join(IDS)}")
    out = prepare_dir(out)
    chosen = [d for ident, d in registry().items() if not only or ident in only]
    snippets = prepare_dir(out / "derivations")
    written = [write_text(snippets / f"{d.id}.tex", render_snippet(d)) for d in chosen]
    written.append(write_text(out / "derivations.tex", render_document(chosen)))
    return written
