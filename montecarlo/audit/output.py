"""The audit's outputs: a table on stdout, audit.json, audit.tex (booktabs), the depth figure, and the
LaTeX section a report includes. Every file is a pure function of the result (no clock, no host name).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from .frameworks import FRAMEWORKS
from .laws import DEPTHS

#: The figure's name (written as figures/FIGURE.pdf and .png under the output directory).
FIGURE = "audit_depth"
JSON, TEX = "audit.json", "audit.tex"
_SHOWN = ("relu", "tanh")  # the factors every row of the tables shows


def _g(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def _frameworks_line(payload: dict) -> str:
    v = payload["versions"]
    parts = []
    for name in payload["frameworks"]:
        dist = FRAMEWORKS[name].distributions[0]
        extra = f", {v['keras_backend']} backend" if name == "keras" and "keras_backend" in v else ""
        parts.append(f"{FRAMEWORKS[name].title} {v.get(dist, '?')}{extra}")
    return ", ".join(parts)


def _holding(case: dict, activation: str, direction: str = "forward") -> dict | None:
    return next((h for h in case["holdings"] if h["activation"] == activation and h["direction"] == direction), None)


def _judged(case: dict) -> list[dict]:
    directions = {"forward": ("forward",), "backward": ("backward",), "compromise": ("forward", "backward")}
    return [_holding(case, act, d) for act in case["judged"] for d in directions.get(case["law"], ())]


# -- stdout ---------------------------------------------------------------------------------------------


def print_table(result, stream=None) -> None:
    payload = result.as_dict() if hasattr(result, "as_dict") else result
    out = stream or sys.stdout
    reps = payload["cases"][0]["replications"] if payload["cases"] else 0
    print(
        f"initvar audit: {_frameworks_line(payload)}; seed {payload['seed']}; {reps} independent calls per case; "
        f"{payload['confidence']:.1%} intervals; Holm at family-wise level {payload['level']:g}",
        file=out,
    )
    if payload["missing"]:
        print(f"not installed (skipped): {', '.join(FRAMEWORKS[n].title for n in payload['missing'])}", file=out)
    w = max([len(c["id"]) for c in payload["cases"]] + [4])
    head = (
        f"{'case':<{w}} {'fan_in':>6} {'fan_in Var(w): documented':>25} {'measured [99.9% CI]':>28} "
        f"{'x/layer relu':>12} {'tanh':>7}  verdict"
    )
    print(head, file=out)
    for c in payload["cases"]:
        v = c["variance_times_fan_in"]
        measured = f"{_g(v['value'])} [{_g(v['ci_low'])}, {_g(v['ci_high'])}]"
        factors = [_holding(c, a)["factor"]["value"] for a in _SHOWN]
        print(
            f"{c['id']:<{w}} {c['fan_in']:>6} {_g(c['documented'][0]['value'] * c['fan_in']):>25} {measured:>28} "
            f"{_g(factors[0]):>12} {_g(factors[1]):>7}  {c['verdict']['text']}",
            file=out,
        )
    print(
        "\nSecond moment after L layers of this kind (q_0 = 1; forward: L applications of q -> n Var(w) E[phi(sqrt(q) "
        "Z)^2], backward: (n_out Var(w) E[phi'(Z)^2])^L), from the measured Var(w), interval from its CI:",
        file=out,
    )
    print(
        f"{'case':<{w}} {'activation':<16} {'direction':<9} {'x/layer [99.9% CI]':>30}"
        + "".join(f" {'L = ' + str(L):>14}" for L in DEPTHS),
        file=out,
    )
    for c in payload["cases"]:
        for h in _judged(c):
            f = h["factor"]
            depth = []
            for L in DEPTHS:
                d = h["second_moment_after"][str(L)]
                depth.append("-" if d is None else f"{d['value']:.3g}")
            factor = f"{_g(f['value'])} [{_g(f['ci_low'])}, {_g(f['ci_high'])}]"
            print(
                f"{c['id']:<{w}} {h['activation']:<16} {h['direction']:<9} {factor:>30}"
                + "".join(f" {d:>14}" for d in depth),
                file=out,
            )
    if payload["networks"]:
        print(
            "\nDeep networks of each framework's default layers (width 256, depth 50, input phi(z_0), z_0 ~ N(0, 1)):",
            file=out,
        )
        for n in payload["networks"]:
            print(f"{n['id']:<14} {n['call']}", file=out)
            if n["factor"] is not None:
                f = n["factor"]
                controls = ", ".join(
                    f"{_g(t['value'])} {'rejected' if t['rejected'] else 'NOT rejected'}"
                    for t in n["tests"]
                    if t["kind"] == "network-control"
                )
                print(
                    f"{'':<14} per-layer factor: predicted {_g(n['predicted_factor'])}, simulated {_g(f['value'])} "
                    f"[{_g(f['ci_low'])}, {_g(f['ci_high'])}] -> {'confirmed' if n['passed'] else 'FAILED'} "
                    f"(controls: {controls})",
                    file=out,
                )
            layers = [10, n["depth"]]
            moments = "; ".join(
                f"E[z_{L}^2] predicted {n['second_moment'][L - 1]['predicted']:.3g}, simulated "
                f"{n['second_moment'][L - 1]['value']:.3g} [{n['second_moment'][L - 1]['ci_low']:.3g}, "
                f"{n['second_moment'][L - 1]['ci_high']:.3g}]"
                for L in layers
            )
            print(f"{'':<14} {moments}", file=out)
    kinds = [c["verdict"]["kind"] for c in payload["cases"]]
    controls = sum(c["control"]["rejected"] for c in payload["cases"])
    print(
        f"\n{len(kinds)} cases: {kinds.count('matches')} match their documented law, {kinds.count('differs')} differ "
        f"from their documentation, {kinds.count('does-not-preserve')} match it but do not preserve the variance; "
        f"{controls} of {len(kinds)} negative controls rejected; "
        f"{sum(n['passed'] for n in payload['networks'] if n['factor'] is not None)} of "
        f"{sum(n['factor'] is not None for n in payload['networks'])} network factors confirmed",
        file=out,
    )


# -- audit.json --------------------------------------------------------------------------------------------


def to_json(result) -> str:
    return json.dumps(result.as_dict(), indent=2, allow_nan=False) + "\n"


# -- audit.tex ----------------------------------------------------------------------------------------------


def _tex(text: str) -> str:
    from ..results import tex_escape

    return tex_escape(text)


def _tex_num(value, digits: int = 4) -> str:
    if value is None:
        return "--"
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        return rf"${mantissa}\times10^{{{int(exp)}}}$"
    return text


def _tt(text: str) -> str:
    """Typewriter text that may break after punctuation (long calls and ids)."""
    out = _tex(text)
    for mark in ("(", ",", "/", "=", "."):
        out = out.replace(mark, mark + r"\allowbreak{}")
    return r"\texttt{" + out.replace("-", "-{}") + "}"


def _tex_verdict(text: str) -> str:
    return re.sub(r"\bx(?=[0-9])", r"$\\times$", _tex(text))


def to_latex(result) -> str:
    payload = result.as_dict() if hasattr(result, "as_dict") else result
    rows = [
        "% Generated by initvar audit. \\input this file; requires \\usepackage{booktabs,longtable,amssymb}.",
        r"\begin{longtable}{@{}p{0.24\textwidth}rrp{0.14\textwidth}rrp{0.27\textwidth}@{}}",
        r"\caption{What the frameworks' initializers do ("
        + _tex(_frameworks_line(payload))
        + r"): $n_{\mathrm{in}}\operatorname{Var}(w)$ as documented and as sampled (99.9\% interval over "
        r"independent calls), the per-layer forward factor $n_{\mathrm{in}}\operatorname{Var}(w)\,"
        r"\mathbb{E}[\phi(Z)^2]$ for ReLU and tanh (tanh at $q=1$), and the verdict (Holm, family-wise level "
        + f"{payload['level']:g}"
        + r").}\label{tab:audit}\\",
        r"\toprule",
        r"case & $n_{\mathrm{in}}$ & documented & sampled & ReLU & tanh & verdict \\",
        r"\midrule",
        r"\endhead",
    ]
    for c in payload["cases"]:
        v = c["variance_times_fan_in"]
        factors = [_holding(c, a)["factor"]["value"] for a in _SHOWN]
        rows.append(
            rf"\raggedright{_tt(c['id'])} & {c['fan_in']} & {_tex_num(c['documented'][0]['value'] * c['fan_in'])} & "
            rf"\raggedright {_tex_num(v['value'])} [{_tex_num(v['ci_low'])}, {_tex_num(v['ci_high'])}] & "
            rf"{_tex_num(factors[0])} & {_tex_num(factors[1])} & \raggedright {_tex_verdict(c['verdict']['text'])}"
            r"\tabularnewline"
        )
    rows += [r"\bottomrule", r"\end{longtable}", ""]
    return "\n".join(rows)


# -- the figure ---------------------------------------------------------------------------------------------


def figure(result, folder: Path) -> list[Path]:
    """E[z_l^2] against depth for each framework's default layers with ReLU and with tanh: the derived
    prediction (lines) and the mean of the simulated networks (markers, with their 99.9% intervals)."""
    from ..figures import COLORS, _plt, _save

    payload = result.as_dict() if hasattr(result, "as_dict") else result
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.1), sharex=True)
    colors = {"torch": COLORS[1], "flax": COLORS[0], "keras": COLORS[5]}
    markers = {"torch": "o", "flax": "s", "keras": "D"}
    labels = {"torch": "PyTorch nn.Linear", "flax": "Flax nn.Dense", "keras": "Keras Dense"}
    from matplotlib.lines import Line2D

    offsets = {"torch": 0, "flax": 1, "keras": 2}  # markers at different layers: Flax's and Keras's lines coincide
    handles = {}
    for ax, activation, title in zip(axes, ("relu", "tanh"), ("(a) ReLU", "(b) tanh"), strict=True):
        for n in payload["networks"]:
            if n["activation"] != activation:
                continue
            layers = np.array([m["layer"] for m in n["second_moment"]])
            predicted = np.array([m["predicted"] for m in n["second_moment"]])
            simulated = np.array([m["value"] for m in n["second_moment"]])
            low = np.array([m["ci_low"] for m in n["second_moment"]])
            high = np.array([m["ci_high"] for m in n["second_moment"]])
            biased = n["bias_variance"] > 0
            color, marker = colors[n["framework"]], markers[n["framework"]]
            style = "--" if biased else "-"
            ax.plot(layers, predicted, color=color, lw=1.1, ls=style)
            pick = np.arange(offsets[n["framework"]], len(layers), 4)
            pick = pick[simulated[pick] > 0]
            # an interval reaching below 0 is drawn upwards only (a log axis has no 0)
            below = np.where(low[pick] > 0, simulated[pick] - low[pick], 0.0)
            ax.errorbar(
                layers[pick],
                simulated[pick],
                yerr=[below, high[pick] - simulated[pick]],
                fmt=marker,
                ms=3,
                color=color,
                mfc="white" if biased else color,
                mew=0.8,
                elinewidth=0.6,
            )
            label = labels[n["framework"]] + (" with its default bias" if biased else "")
            handles.setdefault(
                label,
                Line2D([], [], color=color, ls=style, marker=marker, ms=3, mfc="white" if biased else color),
            )
        ax.set_yscale("log")
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_xlabel("layer $l$", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(r"$\mathbb{E}[z_l^2]$", fontsize=8)
    axes[0].legend(list(handles.values()), list(handles), fontsize=6.5, loc="lower left")
    fig.text(
        0.99,
        0.005,
        "lines: derived layer map from q_0 = 1; markers: mean of the simulated networks (99.9% intervals)",
        fontsize=6.5,
        ha="right",
        va="bottom",
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, folder, FIGURE)


# -- writing ------------------------------------------------------------------------------------------------


def write_outputs(result, out: Path) -> list[Path]:
    """audit.json and audit.tex (all or nothing), then figures/audit_depth.pdf and .png, into ``out``."""
    from ..writer import Batch, prepare_dir

    out = prepare_dir(Path(out))
    with Batch() as batch:
        written = [batch.write_text(out / JSON, to_json(result)), batch.write_text(out / TEX, to_latex(result))]
    if result.networks:
        written += figure(result, prepare_dir(out / "figures"))
    return written


# -- the report's section -----------------------------------------------------------------------------------


def report_section(out_dir) -> str | None:
    """The LaTeX section "What frameworks really do" from ``out_dir/audit.json`` (None when it is absent).

    It \\input's ``audit.tex`` and includes ``figures/audit_depth.pdf`` from the same folder, so the report
    must be compiled there; it needs booktabs, longtable, graphicx and amsmath/amssymb (for \\mathbb).
    """
    path = Path(out_dir) / JSON
    if not path.is_file():
        return None
    payload = json.loads(path.read_text(encoding="utf-8"))
    cases = payload["cases"]
    kinds = [c["verdict"]["kind"] for c in cases]
    controls = sum(c["control"]["rejected"] for c in cases)
    reps = cases[0]["replications"] if cases else 0
    findings = []
    for c in cases:
        if c["verdict"]["kind"] == "differs":
            findings.append(rf"\item {_tt(c['call'])}: {_tex(c['verdict']['text'])}.")
    for n in payload["networks"]:
        if n["factor"] is None:
            continue
        f = n["factor"]
        findings.append(
            rf"\item {_tt(n['call'])}: per-layer factor {_tex_num(f['value'])} "
            rf"[{_tex_num(f['ci_low'])}, {_tex_num(f['ci_high'])}] simulated, {_tex_num(n['predicted_factor'])} "
            r"predicted"
            + ("" if n["passed"] else r" (\textbf{not confirmed})")
            + rf"; $\mathbb{{E}}[z_{{{n['depth']}}}^2]$ = {_tex_num(n['second_moment'][-1]['value'], 3)} after "
            rf"{n['depth']} layers (predicted {_tex_num(n['second_moment'][-1]['predicted'], 3)})."
        )
    for n in payload["networks"]:
        if n["bias_variance"] > 0:
            last = n["second_moment"][-1]
            findings.append(
                rf"\item With its default bias ($\operatorname{{Var}}(b)$ = {_tex_num(n['bias_variance'], 3)}) the "
                rf"{_tex(FRAMEWORKS[n['framework']].title)} network does not vanish: $\mathbb{{E}}[z_{{{n['depth']}}}^2]$ = {_tex_num(last['value'], 3)} "
                rf"[{_tex_num(last['ci_low'], 3)}, {_tex_num(last['ci_high'], 3)}] (predicted "
                rf"{_tex_num(last['predicted'], 3)}, the fixed point $\operatorname{{Var}}(b)/(1-f)$): what reaches "
                r"the output is then the biases, not the input."
            )
    version_rows = "\n".join(
        rf"{_tex(k)} & \texttt{{{_tex(str(v))}}} \\" for k, v in sorted(payload["versions"].items())
    )
    lines = [
        r"\section{What frameworks really do}\label{sec:audit}",
        r"\texttt{initvar audit} calls the real initializers and default layers of "
        + _tex(_frameworks_line(payload))
        + rf", each at a non-square dense shape ($256\to128$) or a grouped convolution, {reps} independent calls "
        r"per case, and estimates $\operatorname{Var}(w)$ and $\mathbb{E}[w]$ with Student-$t$ intervals over the "
        r"calls. Each case is held against what its documentation states, turned into a variance by the derived "
        r"laws (a uniform bound $b$ gives $b^2/3$, a normal truncated at $\pm k$ standard deviations "
        r"$t(k)^2$ times its variance, $t(2)=0.8796$), with a deliberately wrong reading of the documentation as "
        r"a negative control, and against the derived laws: the per-layer forward factor "
        r"$n_{\mathrm{in}}\operatorname{Var}(w)\,\mathbb{E}[\phi(Z)^2]$ ($n\operatorname{Var}(w)c_\phi$ for ReLU, "
        r"the Gaussian map at $q=1$ for tanh), the backward factor "
        r"$n_{\mathrm{out}}\operatorname{Var}(w)\,\mathbb{E}[\phi'(Z)^2]$ with the derived fan-out of a grouped "
        r"convolution $(c_{\mathrm{out}}/g)k_hk_w$, and the second moment they predict after 10, 50 and 100 layers "
        rf"(in \texttt{{audit.json}}). Claims are rejected by Holm's procedure at family-wise level {payload['level']:g}. "
        rf"Of {len(cases)} cases, {kinds.count('matches')} match their documented law, {kinds.count('differs')} "
        rf"differ from their documentation and {kinds.count('does-not-preserve')} match it but do not preserve the "
        rf"variance for the activation they are meant for (defaults: ReLU and tanh); {controls} of {len(cases)} "
        r"negative controls were rejected. Table~\ref{tab:audit} lists every case; Figure~\ref{fig:audit_depth} "
        r"follows each framework's default layers through 50 layers.",
    ]
    if findings:
        lines += [r"\begin{itemize}", *findings, r"\end{itemize}"]
    lines += [
        r"{\footnotesize\setlength{\tabcolsep}{3pt}",
        r"\input{audit}",
        "}",
    ]
    if payload["networks"]:
        lines += [
            "\\begin{figure}[tbp]\\centering",
            rf"\includegraphics[width=\textwidth]{{figures/{FIGURE}.pdf}}",
            r"\caption{Second moment of the pre-activations against depth in networks of each framework's default "
            r"dense layers (width 256) with ReLU (a) and tanh (b), fed $\phi(z_0)$, $z_0\sim\mathcal{N}(0,1)$: "
            r"the derived layer map from $q_0=1$ (lines) and the mean of independently initialized networks "
            r"(markers, 99.9\% intervals). PyTorch's default shrinks a ReLU network's second moment by $1/6$ per "
            r"layer; LeCun's and Glorot's (square layers) by $1/2$.}\label{fig:" + FIGURE + "}",
            r"\end{figure}",
        ]
    lines += [
        r"\begin{center}\begin{tabular}{ll}\toprule framework & version \\ \midrule",
        version_rows,
        r"\bottomrule\end{tabular}\end{center}",
        "",
    ]
    return "\n".join(lines)
