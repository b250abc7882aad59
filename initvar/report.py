"""report.tex (a complete article over what is in the output folder), references.bib, and the PDF.

The report \\inputs the derivation snippets and the results table that ``derive`` and ``verify``
wrote, includes the figures, and reproduces the run's provenance from results.json. Compiling
happens in a temporary folder; only report.pdf and report.log come back, atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from montecarlo.writer import write_bytes, write_text

TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended texlive-fonts-recommended"

BIBLIOGRAPHY = r"""@inproceedings{glorot2010understanding,
  author    = {Glorot, Xavier and Bengio, Yoshua},
  title     = {Understanding the difficulty of training deep feedforward neural networks},
  booktitle = {Proceedings of the Thirteenth International Conference on Artificial Intelligence and Statistics (AISTATS)},
  series    = {Proceedings of Machine Learning Research},
  volume    = {9},
  pages     = {249--256},
  year      = {2010}
}

@inproceedings{he2015delving,
  author    = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  title     = {Delving Deep into Rectifiers: Surpassing Human-Level Performance on {ImageNet} Classification},
  booktitle = {Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
  pages     = {1026--1034},
  year      = {2015},
  note      = {arXiv:1502.01852}
}

@incollection{lecun1998efficient,
  author    = {LeCun, Yann and Bottou, L{\'e}on and Orr, Genevieve B. and M{\"u}ller, Klaus-Robert},
  title     = {Efficient {BackProp}},
  booktitle = {Neural Networks: Tricks of the Trade},
  series    = {Lecture Notes in Computer Science},
  volume    = {1524},
  pages     = {9--50},
  publisher = {Springer},
  year      = {1998}
}

@article{holm1979simple,
  author  = {Holm, Sture},
  title   = {A Simple Sequentially Rejective Multiple Test Procedure},
  journal = {Scandinavian Journal of Statistics},
  volume  = {6},
  number  = {2},
  pages   = {65--70},
  year    = {1979}
}

@inproceedings{hanin2018which,
  author    = {Hanin, Boris},
  title     = {Which Neural Net Architectures Give Rise to Exploding and Vanishing Gradients?},
  booktitle = {Advances in Neural Information Processing Systems 31 (NeurIPS)},
  year      = {2018},
  note      = {arXiv:1801.03744}
}

@article{meurer2017sympy,
  author  = {Meurer, Aaron and others},
  title   = {{SymPy}: symbolic computing in {Python}},
  journal = {PeerJ Computer Science},
  volume  = {3},
  pages   = {e103},
  year    = {2017}
}
"""

FIGURES = (
    (
        "five_layer_histograms",
        "The five-layer experiment: activations of each of 5 layers of 100 units for 1000 Gaussian inputs. "
        "Sigmoid and tanh with weights of standard deviation 1 saturate; with standard deviation 0.01 they collapse "
        "onto $\\phi(0)$ (which is $1/2$ for the sigmoid); Xavier keeps tanh's spread; for ReLU, He keeps the scale "
        "that Xavier halves at every layer.",
        0.98,
    ),
    (
        "variance_depth",
        "Second moment of the pre-activations against depth: the wide-limit theory (lines, from "
        "\\eqref{eq:deep-propagation} and tanh's Gaussian second moment) and the mean of 8 simulated networks "
        "(markers). (a) LeCun with a linear network, He with ReLU and tanh at its forward gain keep the scale. "
        "(b) LeCun or Xavier with ReLU halves it at every layer ($2^{-l}$); He with tanh settles below 1; the "
        "five-layer experiment's std $0.01$ makes it vanish ($0.01^{l}$) and std $1$ saturates tanh.",
        0.5,
    ),
    (
        "relu_halving",
        "The ReLU halving \\eqref{eq:relu-second-moment}: half of the mass of $\\mathrm{relu}(z)$ "
        "sits at $0$, and its second moment is half that of $z$.",
        0.8,
    ),
    (
        "constant_init",
        "Constant initialization: every hidden unit's weight follows the same path under gradient "
        "descent (left, one line) as \\eqref{eq:constant-init} says; a random initialization (right) breaks the "
        "symmetry.",
        0.9,
    ),
    (
        "phase_diagram",
        "Mean-field phase diagram of tanh networks (weights $\\mathcal{N}(0,\\sigma_w^2/n)$, biases "
        "$\\mathcal{N}(0,\\sigma_b^2)$): the correlation depth scale $\\xi_c$ (interpolated between the computed "
        "points of a coarse grid) and the edge of chaos $\\chi_1=1$ (solved at the marked $\\sigma_b^2$, joined by "
        "lines), as in Schoenholz et al.\\ (2017), fig.~2. Triangles: schemes with zero bias, $\\sigma_w^2$ = fan-in "
        "$\\times\\operatorname{Var}(w)$ for PyTorch's gain $5/3$, Xavier/LeCun and tanh's forward gain.",
        0.7,
    ),
    (
        "length_cobweb",
        "The length map of tanh and its cobweb from two starting points to $q^*$; points: the second moment of the "
        "pre-activations at consecutive layers of finite networks, with 99.9\\% intervals on both axes.",
        0.55,
    ),
    (
        "correlation_map",
        "The correlation map $c^{l-1}\\mapsto c^l$ of tanh at $q^*$ for three $\\sigma_w^2$ (ordered, near the edge, "
        "chaotic); points: one finite layer fed pre-activations of correlation $c^{l-1}$, 99.9\\% intervals.",
        0.55,
    ),
)


def _date_line() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return r"\date{}"
    when = dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc)
    return rf"\date{{{when:%Y-%m-%d}}}"


def _tt(text: str) -> str:
    from montecarlo.results import tex_escape

    # "--" would become an en dash in the T1 typewriter font: keep the hyphens apart
    return rf"\texttt{{{tex_escape(str(text)).replace('-', '-{}')}}}"


def audit_section(out: Path) -> str | None:
    """The framework audit's section when ``initvar audit`` wrote audit.json into ``out`` (else None)."""
    from montecarlo.audit import report_section

    return report_section(out)


def summary_table(checks: list) -> str:
    """One row per derivation: checks passed, controls rejected, and the worst |estimate - theory| in
    units of the interval's half-width (1 is the edge of the interval)."""
    groups: dict[str, dict] = {}
    for c in checks:
        ident = c["derivation"].split(":")[0]
        g = groups.setdefault(ident, {"checks": 0, "passed": 0, "controls": 0, "rejected": 0, "worst": None})
        if c["control"]:
            g["controls"] += 1
            g["rejected"] += bool(c["passed"])
            continue
        g["checks"] += 1
        g["passed"] += bool(c["passed"])
        half = (c["ci_high"] - c["ci_low"]) / 2 if c["kind"] == "statistical" else 0
        if half > 0:
            ratio = abs(c["estimate"] - c["theory"]) / half
            g["worst"] = ratio if g["worst"] is None else max(g["worst"], ratio)
    rows = []
    for ident, g in groups.items():
        worst = "exact" if g["worst"] is None else f"{g['worst']:.2f}"
        rows.append(rf"{_tt(ident)} & {g['passed']}/{g['checks']} & {g['rejected']}/{g['controls']} & {worst} \\")
    return "\n".join(
        [
            r"\begin{center}\begin{tabular}{lrrr}",
            r"\toprule",
            r"derivation & checks passed & controls rejected & worst $|\hat\theta-\theta|/h$ \\",
            r"\midrule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}\end{center}",
        ]
    )


def render_report(out: Path, results: dict) -> str:
    from derive.latex import PREAMBLE, render_assumptions
    from derive.registry import IDS

    from . import __version__

    s = results["summary"]
    versions = results.get("versions", {})
    samples = results.get("samples")
    precision = results.get("precision")
    if precision is not None:
        samples_text = f"sized by Stein's rule, in stages, for a 99.9\\% half-width of {precision:g} of the theory"
        sizing = f" --precision {precision:g}"
    elif samples is None:
        samples_text, sizing = "each check's default", ""
    else:
        samples_text, sizing = f"{samples} per check", f" --samples {samples}"
    command = f"initvar all --seed {results['seed']}{sizing}"
    derivations = "\n".join(rf"\input{{derivations/{ident}}}" for ident in IDS)
    figures = "\n".join(
        "\\begin{figure}[tbp]\\centering\n"
        rf"\includegraphics[width={width}\textwidth]{{figures/{name}.pdf}}"
        "\n"
        rf"\caption{{{caption}}}\label{{fig:{name}}}"
        "\n\\end{figure}"
        for name, caption, width in FIGURES
    )
    version_rows = "\n".join(rf"{name} & {_tt(value)} \\" for name, value in sorted(versions.items()))
    return "\n".join(
        [
            "% Generated by initvar report. Do not edit: rerun `initvar report`.",
            r"\documentclass[11pt]{article}",
            PREAMBLE.rstrip(),
            r"\usepackage{booktabs,longtable,graphicx}",
            r"\renewcommand{\topfraction}{0.9}\renewcommand{\bottomfraction}{0.8}",
            r"\renewcommand{\textfraction}{0.1}\renewcommand{\floatpagefraction}{0.75}",
            r"\usepackage[hidelinks]{hyperref}",
            r"\pdftrailerid{initvar-report}",
            r"\title{Weight-initialization variance laws: derived and verified}",
            rf"\author{{initvar {__version__}}}",
            _date_line(),
            r"\begin{document}",
            r"\maketitle",
            r"\begin{abstract}",
            "This report derives the variance laws behind the standard weight initializations --- LeCun "
            r"\cite{lecun1998efficient}, Xavier \cite{glorot2010understanding} and He \cite{he2015delving} --- from "
            "named assumptions, with every line checked by SymPy \\cite{meurer2017sympy}, and verifies each result "
            "against simulated layers and networks with confidence intervals and negative controls. "
            rf"{s['checks_passed']} of {s['checks']} checks passed and {s['controls_rejected']} of {s['controls']} "
            "deliberately wrong formulas were rejected.",
            r"\end{abstract}",
            r"\section{What is derived, under which assumptions}",
            "Every step of every derivation names the rule that justifies it and cites the assumptions the rule needs. "
            "A rule is an executable rewrite (or a checked identity): when a derivation is built, each step must follow "
            "from the line before by its rule, a step citing an earlier result must be the line before with that "
            "result substituted, and a step whose rule's assumptions are not cited is refused. Independently, every line "
            "is evaluated exactly under models that satisfy the chain's assumptions and nothing more (Normal, Uniform, "
            "Laplace and a skewed two-point law, with dependent inputs, non-identical weights or non-zero means wherever "
            "a chain does not exclude them; exact small ReLU, leaky-ReLU and linear networks for the deep law; "
            "high-precision quadrature), with every size at three values, and must equal the result; and every cited "
            "assumption that a model can break is shown to be needed. The assumptions:",
            render_assumptions(),
            r"\section{Derivations}",
            derivations,
            r"\section{Verification by simulation}\label{sec:verification}",
            "Each check binds one derived claim to one simulation. A check runs $R$ independent replications, each with "
            "its own weights and inputs drawn from its own seed; the estimate is the mean of the replications and its "
            "99.9\\% interval is Student's $t$ over them, which stays honest when samples inside a replication share a "
            "weight matrix and whatever the kurtosis of one sample. Verdicts control the family-wise error over all "
            rf"checks with Holm's procedure \cite{{holm1979simple}} at level {results['level']:g}. Every statistical check has "
            "a negative control: the same data held against a deliberately wrong formula (the ReLU factor dropped, "
            "$\\operatorname{Var}(x)$ where $\\mathbb{E}[x^2]$ belongs, fan-out where fan-in belongs, ...), which must be "
            "rejected; a control that is not rejected fails the run. Deep ReLU networks are checked through the "
            "per-layer factor $n\\operatorname{Var}(w)c_\\phi$, averaged over 30 layers, because the output variance of a "
            "single network fluctuates with a spread that grows exponentially in depth over width "
            "\\cite{hanin2018which}. The table below summarizes the checks by derivation ($h$ is the interval's "
            "half-width: a worst ratio below 1 means every estimate's interval contains its theory value); "
            "Table~\\ref{tab:results} in the appendix lists every check.",
            summary_table(results["checks"]),
            r"\section{Gains for common activations}\label{sec:gains}",
            "For weights $\\mathcal{N}(0,\\sigma_w^2/n)$ and $Z\\sim\\mathcal{N}(0,1)$, the \\emph{forward gain} "
            "$g=1/\\sqrt{\\mathbb{E}[\\phi(Z)^2]}$ is the $\\sigma_w$ that makes $q=1$ a fixed point of a layer's "
            "second-moment map $q\\mapsto\\sigma_w^2\\,\\mathbb{E}[\\phi(\\sqrt q\\,Z)^2]$; the \\emph{backward gain} "
            "$1/\\sqrt{\\mathbb{E}[\\phi'(Z)^2]}$ does the same for the gradient's second moment; the "
            "\\emph{linear-regime gain} $1/|\\phi'(0)|$ is Glorot and Bengio's premise $\\phi(z)\\approx\\phi'(0)z$, "
            "refused (\\textemdash) where $\\phi(0)\\ne0$ or $\\phi$ has a kink at $0$. The moments are exact for positively "
            "homogeneous activations and mpmath quadrature (30 digits, labelled numerical) otherwise. PyTorch's "
            "\\texttt{calculate\\_gain} is shown beside them with its factor per layer at $q=1$, "
            "$g_{\\mathrm{torch}}^2\\,\\mathbb{E}[\\phi(Z)^2]$ (1 keeps the second moment): its tanh gain $5/3$ and SELU "
            "gain $3/4$ are empirical choices. Each forward gain is checked by a 20-layer network with alternating "
            "widths (checks \\texttt{gain/*}). A fixed point need not be stable: where the map's slope at $q=1$, "
            "$g^2\\,\\mathbb{E}[\\phi(Z)\\phi'(Z)Z]$ (column \\emph{slope}), exceeds $1$ --- GELU, SiLU, Mish, hardswish "
            "--- finite-width fluctuations carry a deep network away from $q=1$; it is exactly $1$ for positively "
            "homogeneous activations.",
            r"\begin{center}{\footnotesize\setlength{\tabcolsep}{3pt}\input{gains}}\end{center}",
            audit_section(out) or "",
            r"\section{Figures}",
            "Figures~\\ref{fig:five_layer_histograms}--\\ref{fig:constant_init} show the five-layer experiment, variance against "
            "depth, the ReLU halving and the symmetry of constant initialization.",
            figures,
            r"\section{Where the common statements go wrong}",
            r"\begin{itemize}",
            r"\item \textbf{$\sigma(0)=1/2$, not $0$.} With all weights zero every unit outputs $\phi(0)$ "
            r"\eqref{eq:zero-init}: $0$ for ReLU and tanh, but $1/2$ for the sigmoid, and $1/K$ per class for a softmax "
            r"over $K$ classes. For the sigmoid the output weights then move, and the hidden units move together "
            r"\eqref{eq:constant-init}.",
            r"\item \textbf{Standard deviation or variance?} ``$\mathcal{N}(0, 0.01)$'' is ambiguous: standard deviation "
            r"$0.01$ is variance $10^{-4}$. The two readings give different networks (the control of check "
            r"\texttt{deep/small-std-tanh} is exactly this confusion, and is rejected). initvar names every scale "
            r"(\texttt{--std} or \texttt{--var}).",
            r"\item \textbf{$\mathbb{E}[x^2]$, not $\operatorname{Var}(x)$, after a ReLU.} A ReLU's outputs have mean "
            r"$\sigma/\sqrt{2\pi}\ne0$, so the next layer's variance is $n\operatorname{Var}(w)\mathbb{E}[x^2]$ "
            r"\eqref{eq:forward-variance:second-moment}; $\mathbb{E}[\mathrm{relu}(z)^2]=\tfrac12\operatorname{Var}(z)$ "
            r"is what He's factor $2$ compensates, while $\operatorname{Var}(\mathrm{relu}(z))=(\tfrac12-\tfrac1{2\pi})"
            r"\operatorname{Var}(z)$ \eqref{eq:relu-second-moment:gaussian-variance}.",
            r"\item \textbf{Xavier is a compromise.} Forward propagation asks for $1/n_{\mathrm{in}}$, backward for "
            r"$1/n_{\mathrm{out}}$; Glorot and Bengio take $2/(n_{\mathrm{in}}+n_{\mathrm{out}})$ "
            r"\eqref{eq:init-schemes:xavier}.",
            r"\item \textbf{Why random numbers from a distribution?} Only the mean and the variance of the weights enter "
            r"the propagation law, so any mean-zero distribution with the right variance works: the checks "
            r"\texttt{forward-variance/*} pass for Normal, Uniform, Rademacher and Laplace weights alike. The shape of the "
            r"distribution shows only in the finite-width fluctuations (the width of the intervals).",
            r"\end{itemize}",
            r"\section{Reproduction}",
            rf"Command: {_tt(command)}. Seed: {results['seed']}. Samples: {samples_text}; confidence "
            rf"{results.get('confidence', 0.999):g}; family-wise level {results['level']:g}. The same seed gives the same "
            "bytes in every text output whatever the number of worker processes: replication $r$ of check $c$ always draws "
            "from its own \\texttt{SeedSequence}$(\\text{seed}, (\\mathrm{crc32}(c), r))$.",
            r"\begin{center}\begin{tabular}{ll}\toprule software & version \\ \midrule",
            version_rows,
            r"\bottomrule\end{tabular}\end{center}",
            r"\bibliographystyle{plain}",
            r"\bibliography{references}",
            r"\appendix",
            r"\section{Every check}",
            r"{\footnotesize\setlength{\tabcolsep}{3pt}",
            r"\input{results_table}",
            "}",
            r"\end{document}",
            "",
        ]
    )


class LatexError(RuntimeError):
    """pdflatex or bibtex failed, or the log shows a problem; the message points to the log."""


_OVERFULL = re.compile(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)")


def check_log(log: str, max_overfull_pt: float = 3.0) -> list[str]:
    """Problems in a LaTeX log: errors, undefined references or citations, wide overfull boxes."""
    problems = []
    for line in log.splitlines():
        if line.startswith("! "):
            problems.append(line)
        elif "Reference `" in line and "undefined" in line:
            problems.append(line.strip())
        elif "Citation `" in line and "undefined" in line:
            problems.append(line.strip())
        match = _OVERFULL.search(line)
        if match and float(match.group(1)) > max_overfull_pt:
            problems.append(line.strip())
    if "There were undefined references" in log:
        problems.append("There were undefined references")
    return problems


#: The timestamp pdfTeX writes into report.pdf when SOURCE_DATE_EPOCH is unset (2026-01-01 00:00 UTC):
#: a fixed value, so that running the main job twice gives the same PDF bytes (the report's date line
#: stays empty unless SOURCE_DATE_EPOCH is set by the user).
DEFAULT_SOURCE_DATE_EPOCH = "1767225600"


def compile_pdf(out: Path) -> Path:
    """pdflatex, bibtex, pdflatex twice, in a temporary folder; write out/report.pdf and out/report.log."""
    env = dict(os.environ)
    env.setdefault("SOURCE_DATE_EPOCH", DEFAULT_SOURCE_DATE_EPOCH)
    env["FORCE_SOURCE_DATE"] = "1"
    from .scratch import temp_dir

    with temp_dir("initvar-tex-") as tmp:  # a killed run's folder is removed by the next run
        build = Path(tmp)
        shutil.copy2(out / "report.tex", build / "report.tex")
        shutil.copy2(out / "references.bib", build / "references.bib")
        for name in ("results_table.tex", "results_summary.tex", "gains.tex", "audit.tex"):
            if (out / name).exists():
                shutil.copy2(out / name, build / name)
        shutil.copytree(out / "derivations", build / "derivations")
        shutil.copytree(out / "figures", build / "figures")
        latex = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"]

        def run(step):
            proc = subprocess.run(step, cwd=build, env=env, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                log = (build / "report.log").read_text(errors="replace") if (build / "report.log").exists() else ""
                write_text(out / "report.log", log or proc.stdout)
                raise LatexError(f"{step[0]} failed; see {out / 'report.log'}")
            return (build / "report.log").read_text(errors="replace")

        run(latex)
        run(["bibtex", "report"])
        run(latex)
        log = run(latex)
        for _ in range(2):  # until references settle
            if "Rerun to get" not in log and "may have changed. Rerun" not in log:
                break
            log = run(latex)
        write_text(out / "report.log", log)
        problems = check_log(log) + check_log(
            (build / "report.blg").read_text(errors="replace") if (build / "report.blg").exists() else ""
        )
        if problems:
            raise LatexError(f"report.pdf has problems ({problems[0]}); see {out / 'report.log'}")
        return write_bytes(out / "report.pdf", (build / "report.pdf").read_bytes())


def load_results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))
