import os
import shutil

import pytest
from hypothesis import settings

# In CI the property tests replay the same examples every run (a failure there is reproducible);
# locally they explore new ones each time.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def require_tex():
    """Skip when pdflatex is missing, unless INITVAR_REQUIRE_TEX=1 (CI) turns that into a failure."""
    if shutil.which("pdflatex") and shutil.which("bibtex"):
        return
    if os.environ.get("INITVAR_REQUIRE_TEX") == "1":
        pytest.fail("pdflatex/bibtex missing but INITVAR_REQUIRE_TEX=1")
    pytest.skip("pdflatex missing")


def pytest_collection_modifyitems(config, items):
    """The framework audit's tests run last: JAX starts threads when imported, and a process that has
    them should not fork afterwards (the run, worker and interruption tests fork)."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_audit.py"))
