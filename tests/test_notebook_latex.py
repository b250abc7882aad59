"""Every derivation renders in Jupyter: its _repr_latex_ goes through MathJax 3 itself (the
mathjax-full package, driven by tests/mathjax/check.js) with undefined macros as errors."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from derive import registry

HERE = Path(__file__).resolve().parent / "mathjax"


def _mathjax_available() -> bool:
    return shutil.which("node") is not None and (HERE / "node_modules" / "mathjax-full").is_dir()


def _render(sources):
    proc = subprocess.run(
        ["node", str(HERE / "check.js")], input=json.dumps(sources), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def mathjax():
    if not _mathjax_available():
        if os.environ.get("INITVAR_REQUIRE_MATHJAX") == "1":
            pytest.fail("MathJax is required here: run `npm install --prefix tests/mathjax`")
        pytest.skip("node and tests/mathjax/node_modules (npm install --prefix tests/mathjax) not found")
    return _render


def test_every_derivation_renders_in_mathjax(mathjax):
    derivations = list(registry().values())
    failures = mathjax([d._repr_latex_() for d in derivations])
    assert failures == [], [(derivations[f["index"]].id, f["error"]) for f in failures]


def test_the_checker_sees_an_undefined_macro(mathjax):
    """The print rendering uses \\parbox, which MathJax lacks: the checker must say so."""
    from derive.latex import render_chain

    d = registry()["forward-variance"]
    printed = render_chain(d, d.chains[0]).replace("align", "aligned")
    failures = mathjax([f"$${printed}$$"])
    assert failures and "parbox" in failures[0]["error"], failures
