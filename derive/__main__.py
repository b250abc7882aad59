"""``python -m derive``: build and check every derivation and print each result (one line each).

Exit status 0 when every derivation checks, 1 (one line naming the step) when one is refused. Writing
the LaTeX is ``initvar derive``'s job (derive/ writes no files).
"""

import sys

from .core import DerivationError
from .registry import IDS, get

try:
    for ident in IDS:
        print(f"{ident}: {get(ident).result.rhs}")
except DerivationError as exc:
    print(f"python -m derive: refused: {exc}", file=sys.stderr)
    sys.exit(1)
