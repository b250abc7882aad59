import os
import shutil

import pytest


def require_tex():
    """Skip when pdflatex is missing, unless INITVAR_REQUIRE_TEX=1 (CI) turns that into a failure."""
    if shutil.which("pdflatex") and shutil.which("bibtex"):
        return
    if os.environ.get("INITVAR_REQUIRE_TEX") == "1":
        pytest.fail("pdflatex/bibtex missing but INITVAR_REQUIRE_TEX=1")
    pytest.skip("pdflatex missing")
