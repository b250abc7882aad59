"""A thin LaTeX renderer over SymPy's printer: one ``align`` block per chain, the rule and the cited
assumption keys at the right of each line, a ``\\label`` on each result, in an author's term order."""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from .assumptions import ASSUMPTIONS
from .rules import RULES
from .text import plain_tex

PREAMBLE = r"""\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage{amsmath,amssymb}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
\emergencystretch=3em
"""

#: The packages a writeup needs to \input a snippet.
SNIPPET_REQUIRES = r"% requires \usepackage{amsmath,amssymb}"


class _AuthorPrinter(LatexPrinter):
    r"""sympy's LaTeX printer with an author's conventions: multi-letter subscripts upright
    (n_{\mathrm{in}}), the indicator of t > 0 written as such (Heaviside's theta is undefined in a
    reader's document)."""

    def _print_Symbol(self, expr, style="plain"):
        match = re.fullmatch(r"([A-Za-z])_([A-Za-z]{2,})", expr.name)
        if match:
            return rf"{match.group(1)}_{{\mathrm{{{match.group(2)}}}}}"
        return super()._print_Symbol(expr, style=style)

    def _print_Mul(self, expr):
        num, den = sp.fraction(expr, exact=True)
        if den != 1 and not expr.could_extract_minus_sign():
            # a fraction whose numerator and denominator each follow the author's order
            return rf"\frac{{{self._print(author_form(num))}}}{{{self._print(author_form(den))}}}"
        return super()._print_Mul(expr)

    def _print_Heaviside(self, expr, exp=None):
        arg = expr.args[0]
        if arg.could_extract_minus_sign():
            body = rf"\mathbf{{1}}_{{\{{{self._print(-arg)} < 0\}}}}"
        else:
            body = rf"\mathbf{{1}}_{{\{{{self._print(arg)} > 0\}}}}"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"


def _rank(factor) -> int:
    """Where a factor goes in a product: numbers, sizes, activation factors, Var of weights, other
    variances, moments of weights, other moments, the rest (n Var(w) E[x^2], as an author writes)."""
    from .expr import E, Var, base_of

    if factor.is_Number:
        return 0
    core = factor.base if isinstance(factor, sp.Pow) else factor
    if isinstance(core, (sp.Symbol, sp.Indexed)) and core.is_integer:
        return 1
    if isinstance(core, sp.Symbol) and core.name.startswith("c_"):
        return 2
    if isinstance(core, (Var, E)):
        inner = core.args[0]
        weight = any(base_of(s) == "w" for s in inner.atoms(sp.Symbol, sp.Indexed)) and not any(
            base_of(s) not in (None, "w") for s in inner.atoms(sp.Symbol, sp.Indexed)
        )
        return (3 if weight else 4) if isinstance(core, Var) else (5 if weight else 6)
    role = base_of(core) if isinstance(core, (sp.Symbol, sp.Indexed)) else None
    return 7 if role == "w" else 8 if role is not None else 9


def author_form(expr):
    """``expr`` rebuilt unevaluated in an author's order: positive terms first, and in products
    numbers, sizes and Var(w) before moments of the inputs. Fractions, exponentials and other
    functions' arguments keep SymPy's own layout."""
    from .expr import E, Var

    expr = sp.S(expr)
    if not expr.args:
        return expr
    if isinstance(expr, (sp.Integral, sp.Sum, sp.Product, sp.Limit)):
        return expr.func(author_form(expr.args[0]), *expr.args[1:])
    if isinstance(expr, (E, Var)):
        return expr.func(author_form(expr.args[0]))
    if isinstance(expr, sp.Indexed):
        return sp.Indexed(expr.base, *(author_form(index) for index in expr.indices))
    if isinstance(expr, sp.Add):
        terms = [author_form(term) for term in expr.as_ordered_terms()]
        terms.sort(key=lambda term: [_rank(f) for f in sp.Mul.make_args(term) if not f.is_Number])
        positive = [term for term in terms if not term.could_extract_minus_sign()]
        negative = [term for term in terms if term.could_extract_minus_sign()]
        return sp.Add(*positive, *negative, evaluate=False)
    if isinstance(expr, sp.Mul):
        factors = expr.as_ordered_factors()
        if any(f.is_Pow and f.exp.is_negative for f in factors) or any(
            f.is_Rational and not f.is_Integer for f in factors
        ):
            return expr  # a fraction: SymPy's layout (numerator over denominator)
        return sp.Mul(*sorted((author_form(f) for f in factors), key=_rank), evaluate=False)
    if isinstance(expr, sp.Pow) and not expr.base.is_Atom and isinstance(expr.base, (sp.Add, E, Var)):
        return sp.Pow(author_form(expr.base), expr.exp, evaluate=False)
    return expr


def tex(expr) -> str:
    if isinstance(expr, str):
        return expr
    return _AuthorPrinter({"mul_symbol": "\\,", "order": "none"}).doprint(author_form(expr))


def _justification_text(step, ref_macro: bool) -> str:
    """The rule, and the result or assumptions it cites, as text for the right column."""
    rule = RULES[step.rule]
    label = rule.label
    if step.rule == "result" and step.ref:
        ident, _, key = step.ref.partition(":")
        target = f"eq:{ident}" + (f":{key}" if key else "")
        label = rf"by \eqref{{{target}}}" if ref_macro else rf"by ({ident}{':' + key if key else ''})"
    keys = ", ".join(step.cites)
    return label + (rf" [\texttt{{{keys}}}]" if keys and ref_macro else (f" [{keys}]" if keys else ""))


def _tex_lines(expr) -> str:
    """``expr`` as LaTeX; a sum too wide for one line continues on the next ones, a term per line."""
    text = tex(expr)
    form = author_form(expr)
    if _visible_width(text) <= 2 * _WIDE or not isinstance(form, sp.Add):
        return text
    terms = list(form.args)
    parts = [tex(terms[0])]
    for term in terms[1:]:
        sign, body = ("-", -term) if term.could_extract_minus_sign() else ("+", term)
        parts.append(rf"\nonumber \\ &\quad {sign} {tex(body)}")
    return " ".join(parts)


def _rows(chain):
    """(left, right, step) rows of a chain, a step whose line prints like the one before merged into it."""
    rows = []
    previous = tex(chain.lhs)
    for step in chain.steps:
        text = _tex_lines(step.expr)
        if text == previous and rows:
            # the same line again (an algebra step that only reorders): keep one line, cite both rules
            rows[-1] = (rows[-1][0], rows[-1][1], rows[-1][2] + (step,))
            continue
        rows.append((previous if not rows else "", text, (step,)))
        previous = text
    return rows


def _visible_width(latex: str) -> int:
    """A rough count of the characters a formula shows (commands and braces dropped)."""
    text = re.sub(r"\\(operatorname|mathbb|mathrm|text|left|right|frac|sqrt|limits)\b", "", latex)
    text = re.sub(r"\\[A-Za-z]+", "x", text)
    return len(re.sub(r"[{}^_\s,\\]", "", text))


#: Wider formulas put their justification on a line of its own (the page is 16 cm at 11 pt).
_WIDE = 34


def render_chain(d, chain) -> str:
    lines = [r"\begin{align}"]
    rows = _rows(chain)
    for index, (left, right, steps) in enumerate(rows):
        last = index == len(rows) - 1
        tail = rf"\label{{{d.label(chain)}}}" if last else r"\nonumber \\"
        why = "; ".join(_justification_text(step, True) for step in steps)
        box = rf"\parbox[t]{{4.2cm}}{{\raggedright\footnotesize {why}}}"
        if left and _visible_width(left) > _WIDE // 2:  # a long left-hand side gets a line of its own
            lines.append(rf"  & {left} \nonumber \\")
            left = ""
        if _visible_width(left) + _visible_width(right) > _WIDE or "\\nonumber" in right:
            lines.append(rf"  {left} &= {right} \nonumber \\")
            lines.append(rf"  & && {box} {tail}")
        else:
            lines.append(rf"  {left} &= {right} && {box} {tail}")
    lines.append(r"\end{align}")
    return "\n".join(lines)


def render_chain_notebook(d, chain) -> str:
    """The same chain for MathJax (Jupyter): an ``aligned`` block, the justification as ``\text``,
    references to other results as their ids (MathJax knows no labels of the document)."""
    lines = [r"\begin{aligned}"]
    rows = _rows(chain)
    for index, (left, right, steps) in enumerate(rows):
        end = "" if index == len(rows) - 1 else r" \\"
        why = "; ".join(_justification_text(step, False) for step in steps)
        lines.append(rf"  {left} &= {right} && \text{{{why}}}{end}")
    lines.append(r"\end{aligned}")
    return "\n".join(lines)


def _legend(keys) -> str:
    items = "; ".join(rf"\texttt{{{k}}}: {plain_tex(ASSUMPTIONS[k].plain)}" for k in keys)
    return rf"\noindent{{\footnotesize\textit{{Assumptions}} --- {items}.}}"


def render_derivation(d, *, standalone_math: bool = False, heading: str = r"\initvarsection") -> str:
    """LaTeX for one derivation: heading, summary, assumptions (with what each says), every chain, notes."""
    if standalone_math:  # Jupyter: MathJax renders math only, and only what MathJax knows
        return "\n".join(f"$$\n{render_chain_notebook(d, c)}\n$$" for c in d.chains)
    parts = [
        rf"{heading}{{{d.title}}}\label{{sec:{d.id}}}",
        rf"\noindent\textit{{Id}} \texttt{{{d.id}}}.",
        _legend(d.assumptions) if d.assumptions else "",
        "",
    ]
    for chain in d.chains:
        if chain.title:
            parts.append(rf"\paragraph{{{chain.title}.}}")
        parts.append(render_chain(d, chain))
    for note in d.notes:
        parts.extend(["", note])
    return "\n".join(parts) + "\n"


def render_assumptions() -> str:
    rows = [r"\begin{description}"]
    for a in ASSUMPTIONS.values():
        rows.append(rf"  \item[\texttt{{{a.key}}}] {a.latex}. \emph{{{plain_tex(a.plain)}.}}")
    rows.append(r"\end{description}")
    return "\n".join(rows)


#: Defined once per document (\providecommand): a snippet works alone, with others, and in the report.
SNIPPET_MACROS = (
    "\\providecommand{\\initvarsection}{\\subsection}\n"
    "\\makeatletter\n"
    "\\providecommand{\\initvarref}[2]{\\@ifundefined{r@#1}{#2}{\\eqref{#1}}}\n"
    "\\makeatother\n"
)


def _outside_refs(d, text: str, titles: dict) -> str:
    """A snippet stands alone: a reference to another derivation becomes \\initvarref{label}{fallback},
    which prints \\eqref when the document defines that label and the derivation's title and id otherwise."""
    own = {d.label(c) for c in d.chains}

    def swap(match):
        label = match.group(1)
        if label in own:
            return match.group(0)
        ident = label.removeprefix("eq:").split(":")[0]
        fallback = rf"(\emph{{{titles.get(ident, ident)}}}, \texttt{{{label.removeprefix('eq:')}}})"
        return "\\initvarref{" + label + "}{" + fallback + "}"

    return re.sub(r"\\eqref\{([^}]*)\}", swap, text)


def render_snippet(d, titles: dict | None = None) -> str:
    head = (
        f"% initvar derivation {d.id}: \\input this file; it labels eq:{d.id}. Set the heading level with\n"
        "% \\renewcommand{\\initvarsection}{\\section} (default \\subsection).\n"
        f"{SNIPPET_REQUIRES}\n"
    )
    known = {ident: ref.title for ident, ref in (d.refs or {}).items()} | (titles or {})
    return head + SNIPPET_MACROS + _outside_refs(d, render_derivation(d), known)


def render_document(derivations) -> str:
    derivations = list(derivations)
    titles = {d.id: d.title for d in derivations}
    body = "\n".join(_outside_refs(d, render_derivation(d), titles) for d in derivations)
    return (
        "% Generated by initvar derive. Do not edit: rerun `initvar derive`.\n"
        r"\documentclass[11pt]{article}"
        "\n" + PREAMBLE + SNIPPET_MACROS + r"\title{Derivations of weight-initialization variance laws}"
        "\n"
        r"\author{initvar}"
        "\n"
        r"\date{}"
        "\n"
        r"\begin{document}"
        "\n"
        r"\maketitle"
        "\n"
        r"Every line below was checked when it was generated: each step follows from the line before by its rule "
        r"(an executable rewrite, or an identity checked by substitution), cites the assumptions its rule needs, and "
        r"each line evaluates, under concrete models that satisfy exactly the chain's assumptions and with every size "
        r"at three values, to the value of the result."
        "\n"
        r"\section{Assumptions}"
        "\n" + render_assumptions() + "\n"
        r"\section{Derivations}"
        "\n" + body + r"\end{document}"
        "\n"
    )


def render_activation(act, gains, digits: int = 12) -> str:
    """A snippet for one activation: its definition, Gaussian moments and gains (``gains``: a
    :class:`derive.gains.Gains`), with the method (exact or numerical) said on each line."""
    import mpmath

    from .expr import t

    def num(value):
        return mpmath.nstr(mpmath.mpf(value), digits)

    how = "exact" if gains.method == "exact" else "numerical, mpmath quadrature"
    label = "act:" + act.name.replace("_", "-")
    params = ", ".join(
        rf"{sp.latex(symbol)}={sp.latex(sp.N(value, 8) if value.is_Float else value)}"
        for symbol, value in act.defaults().items()
    )
    lines = [
        f"% initvar activation {act.name}: \\input this file. {SNIPPET_REQUIRES.lstrip('% ')}",
        r"\begin{align}",
        rf"  \phi(t) &= {sp.latex(act.expr.subs(t, sp.Symbol('t')))}"
        + (rf" \quad ({params})" if params else "")
        + r" \nonumber \\",
        rf"  \mathbb{{E}}[\phi(Z)^2] &= {num(gains.second_moment)} & &\text{{{how}}} \nonumber \\",
        rf"  \mathbb{{E}}[\phi'(Z)^2] &= {num(gains.derivative_moment)} & &\text{{{how}}} \nonumber \\",
        rf"  g_{{\mathrm{{forward}}}} = \mathbb{{E}}[\phi(Z)^2]^{{-1/2}} &= {num(gains.forward)} \label{{{label}:forward-gain}}",
    ]
    if gains.backward is not None:
        lines[-1] += r" \\"
        lines.append(
            rf"  g_{{\mathrm{{backward}}}} = \mathbb{{E}}[\phi'(Z)^2]^{{-1/2}} &= {num(gains.backward)} \nonumber"
        )
    lines.append(r"\end{align}")
    escaped = act.name.replace("_", "\\_")
    notes = [rf"Here $Z\sim\mathcal{{N}}(0,1)$ and {act.title or act.name} is \texttt{{{escaped}}}."]
    if gains.linear_regime is not None:
        notes.append(rf"Linear-regime gain $1/|\phi'(0)| = {num(gains.linear_regime)}$.")
    else:
        notes.append(r"No linear-regime gain: $\phi(0)\ne0$, or $\phi$ is not smooth at $0$, or $\phi'(0)=0$.")
    if gains.torch is not None:
        notes.append(
            rf"PyTorch's \texttt{{calculate\_gain}} gives ${num(gains.torch)}$, a factor "
            rf"${num(gains.torch_forward_factor)}$ per layer on the second moment at $q=1$."
        )
    return "\n".join(lines) + "\n" + " ".join(notes) + "\n"
