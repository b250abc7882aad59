"""The LaTeX outputs: committed copy in sync, labels present, and they compile."""

import subprocess
from pathlib import Path

import pytest
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


def _pdftext(folder: Path, name: str) -> str:
    pdf = folder / name.replace(".tex", ".pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())  # words in reading order, line breaks as spaces


THESIS = (
    "\\documentclass{{report}}\\usepackage{{amsmath,amssymb}}{packages}\\begin{{document}}\n"
    "\\chapter{{Initialization}}\n{body}\n\\end{{document}}\n"
)


def _thesis(tmp_path, idents, text, packages=""):
    for ident in idents:
        (tmp_path / f"{ident}.tex").write_text(render_snippet(registry()[ident]))
    body = "\n".join(rf"\input{{{ident}}}" for ident in idents) + "\n" + text
    (tmp_path / "thesis.tex").write_text(THESIS.format(packages=packages, body=body))
    _pdflatex(tmp_path, "thesis.tex")
    return _pdftext(tmp_path, "thesis.tex")


@pytest.mark.parametrize("packages", ["", "\\usepackage{hyperref}"], ids=["plain", "hyperref"])
def test_snippet_alone_prints_a_readable_fallback(tmp_path, packages):
    """forward-variance cites product-variance, which is not in the document: its title and id print."""
    require_tex()
    text = _thesis(tmp_path, ["forward-variance"], "See \\eqref{eq:forward-variance}.", packages)
    assert "initvarref" not in text and "eq:" not in text, text
    assert "Variance of a product of independent variables" in text and "product-variance:zero-mean-w" in text
    assert "(1.2)" in text or "(1.1)" in text  # the in-document reference to its own result is a number


@pytest.mark.parametrize("packages", ["", "\\usepackage{hyperref}"], ids=["plain", "hyperref"])
def test_two_snippets_cross_reference_by_number(tmp_path, packages):
    """With product-variance in the document, forward-variance's reference to it is its equation number."""
    require_tex()
    text = _thesis(tmp_path, ["product-variance", "forward-variance"], "", packages)
    assert "initvarref" not in text and "eq:" not in text, text
    # product-variance labels (1.1)-(1.3); forward-variance's first line cites (1.2) by number
    assert "by (1.2)" in text, text
    assert "product-variance:zero-mean-w" not in text  # no fallback where the number exists


def test_heading_level_is_the_documents(tmp_path):
    require_tex()
    (tmp_path / "fv.tex").write_text(render_snippet(registry()["forward-variance"]))
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\\usepackage{amsmath,amssymb}"
        "\\newcommand{\\initvarsection}{\\section*}\\begin{document}\\input{fv}\\end{document}\n"
    )
    _pdflatex(tmp_path, "doc.tex")
    assert "1 Forward propagation" not in _pdftext(tmp_path, "doc.tex")  # unnumbered, as the author chose


def test_printed_lines_read_as_an_author_writes():
    """No printed line starts with a minus sign when it has a positive term, and no two consecutive
    printed lines of a chain are the same."""
    from derive.latex import _rows

    for d in registry().values():
        for chain in d.chains:
            rows = _rows(chain)
            rights = [right for _, right, _ in rows]
            assert all(a != b for a, b in zip(rights, rights[1:], strict=False)), (d.id, chain.key)
            for right in rights:
                if right.lstrip().startswith("-"):
                    assert "+" not in right, (d.id, chain.key, right)
