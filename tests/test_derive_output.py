"""The LaTeX outputs: committed copy in sync, labels present, and they compile."""

import subprocess
from pathlib import Path

from conftest import require_tex

from derive import IDS, registry
from derive.latex import render_document, render_snippet

ROOT = Path(__file__).resolve().parents[1]


def test_committed_derivations_tex_is_current():
    committed = (ROOT / "output" / "derivations.tex").read_text(encoding="utf-8")
    assert committed == render_document(registry().values()), "rerun `initvar derive` and commit output/"


def test_every_result_is_labelled():
    doc = render_document(registry().values())
    for ident in IDS:
        assert rf"\label{{eq:{ident}}}" in doc
    assert r"\texttt{indep-wx}" in doc  # cited keys shown at the right


def _pdflatex(folder: Path, name: str):
    for _ in range(2):
        proc = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
    log = (folder / name.replace(".tex", ".log")).read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "There were undefined references" not in log
    assert "Reference `" not in log
    return log


def test_derivations_tex_compiles(tmp_path):
    require_tex()
    (tmp_path / "derivations.tex").write_text(render_document(registry().values()))
    _pdflatex(tmp_path, "derivations.tex")
    assert (tmp_path / "derivations.pdf").stat().st_size > 10_000


def test_snippet_compiles_in_minimal_document(tmp_path):
    require_tex()
    (tmp_path / "relu.tex").write_text(render_snippet(registry()["relu-second-moment"]))
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
        "\\input{relu}\nThe halving is \\eqref{eq:relu-second-moment}.\n\\end{document}\n"
    )
    _pdflatex(tmp_path, "paper.tex")  # no undefined references: a snippet stands alone
