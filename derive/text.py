"""Plain text in LaTeX: derive's one escaping table (no SymPy here, so that writing a results table
does not import it)."""

from __future__ import annotations

_PLAIN_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
}


def plain_tex(text: str) -> str:
    """Plain words (an assumption's one-line statement) safe in running LaTeX text."""
    return "".join(_PLAIN_SPECIAL.get(ch, ch) for ch in text)
