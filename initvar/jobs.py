"""The steps the commands share (derive, verify, figures), each writing through :mod:`initvar.writer`.
Validation happens before anything is written; each command lives in :mod:`initvar.commands`."""

from __future__ import annotations

import contextlib
from pathlib import Path

from montecarlo.writer import Batch, prepare_dir

from . import process
from .errors import UsageError

#: What the running command is doing, for the message when it is interrupted.
STATE = {"step": None}


def begin(step: str) -> None:
    """Enter ``step`` (named in the message if the run is interrupted); a Ctrl-C that Python could not
    raise where it arrived stops the run here."""
    process.raise_lost_interrupt()
    STATE["step"] = step


def write_derivations(out: Path, only=None) -> list[Path]:
    """Write ``out/derivations.tex`` and ``out/derivations/<id>.tex``; return the paths written."""
    from derive.latex import render_document, render_snippet
    from derive.registry import IDS, registry

    if only:
        unknown = [i for i in only if i not in IDS]
        if unknown:
            raise UsageError(f"initvar derive: unknown derivation id {unknown[0]!r}; known: {', '.join(IDS)}")
    begin("derive")
    chosen = [d for ident, d in registry().items() if not only or ident in only]  # checked before any write
    out = prepare_dir(out)
    snippets = prepare_dir(out / "derivations")
    with Batch() as batch:  # all or nothing: a full disk leaves the old files
        written = [batch.write_text(snippets / f"{d.id}.tex", render_snippet(d)) for d in chosen]
        written.append(batch.write_text(out / "derivations.tex", render_document(chosen)))
    return written


def worker_count(args) -> int:
    """--jobs, at most the usable CPUs (the command line already capped it, with a note); by default all of them."""
    from .process import usable_cpus

    cpus = usable_cpus()
    return min(args.jobs or cpus, cpus)


def prime_checks(checks) -> None:
    """Build (and so check) the derivations the selected checks take their theory and controls from,
    and only those, before anything is written; forked workers inherit them."""
    for check in checks:
        if check.kind == "statistical":
            check.theory()
            check.control()


def _progress_bar(total_hint: str):
    """A tqdm bar on stderr when it is a terminal (with the time left); silent otherwise."""
    import sys

    state = {"bar": None}
    if not sys.stderr.isatty():  # silent: not even tqdm's import (a tenth of a one-check run)
        return (lambda step, total: process.raise_lost_interrupt()), (lambda: None)

    def update(step, total):
        process.raise_lost_interrupt()
        if state["bar"] is None:
            from tqdm import tqdm

            state["bar"] = tqdm(
                total=total, desc=total_hint, unit="task", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False
            )
        state["bar"].update(step)

    def close():
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def run_verify(args, out: Path | None):
    """Run the checks; write results.json/.csv/results_table.tex into ``out`` (None: write nothing)."""
    from montecarlo import results as res
    from montecarlo import verify

    from .cache import check_index

    begin("verify")  # selecting and building the checks is verify's too: a Ctrl-C meanwhile is named so
    checks = verify.select(getattr(args, "only", None), index=check_index(args))
    if not checks:
        raise UsageError(f"initvar verify: no check matches {args.only!r} (list: initvar verify --only '*' --json)")
    prime_checks(checks)
    if out is not None:
        out = prepare_dir(out)
    update, close = _progress_bar("verify")
    try:
        results, profiles = verify.run(
            checks,
            seed=args.seed,
            samples=args.samples,
            precision=getattr(args, "precision", None),
            jobs=worker_count(args),
            level=args.level,
            progress=update,
            executor=getattr(args, "executor", None),
        )
    finally:
        close()
    precision = getattr(args, "precision", None)
    if precision is not None:
        note_short_of_precision(results, precision)
    meta = {
        "seed": args.seed,
        "level": args.level,
        "samples": args.samples,
        "precision": getattr(args, "precision", None),
        "confidence": verify.CONFIDENCE,
        "command": "initvar verify",
    }
    if out is not None:
        with Batch() as batch:
            batch.write_text(out / "results.json", res.to_json(results, meta))
            batch.write_text(out / "results.csv", res.to_csv(results))
            batch.write_text(out / "results_table.tex", res.to_latex_table(results, args.level))
    return results, profiles, meta


def short_of_precision(results, precision: float) -> list:
    """[(id, half-width / |theory|)] of the checks whose 99.9% interval stayed wider than ``precision`` x |theory|
    (each check stops at its cap, ``montecarlo.verify.max_replications``)."""
    short = []
    for r in results:
        if r.control or r.kind != "statistical" or r.theory == 0:
            continue
        reached = (r.ci_high - r.ci_low) / 2 / abs(r.theory)
        if reached > precision * (1 + 1e-9):
            short.append((r.id, reached))
    return short


def note_short_of_precision(results, precision: float, stream=None) -> None:
    """One note on stderr naming the checks that stopped at their cap before the half-width asked for."""
    import sys

    short = short_of_precision(results, precision)
    if short:
        listed = ", ".join(f"{ident} ({reached:.3%})" for ident, reached in short)
        print(
            f"initvar: note: {len(short)} check(s) stopped at their cap of replications before a half-width "
            f"of {precision:.3%} of the theory: {listed}",
            file=stream or sys.stderr,
        )


def print_summary(results, stream=None):
    import sys

    stream = stream or sys.stdout
    width = max(len(r.id) for r in results)
    print(f"{'check':<{width}}  {'theory':>11}  {'estimate':>11}  {'99.9% CI':>25}  verdict", file=stream)
    for r in results:
        verdict = ("rejected" if r.passed else "NOT REJECTED") if r.control else ("pass" if r.passed else "FAIL")
        ci = f"[{r.ci_low:.5g}, {r.ci_high:.5g}]" if r.kind == "statistical" else "exact"
        print(f"{r.id:<{width}}  {r.theory:>11.5g}  {r.estimate:>11.5g}  {ci:>25}  {verdict}", file=stream)
    from montecarlo.results import summary

    s = summary(results)
    print(
        f"{s['checks_passed']}/{s['checks']} checks passed, {s['controls_rejected']}/{s['controls']} controls rejected",
        file=stream,
    )


FIGURE_NAMES = (
    "five_layer_histograms",
    "variance_depth",
    "relu_halving",
    "constant_init",
    "phase_diagram",
    "length_cobweb",
    "correlation_map",
)


def figures_present(out: Path) -> bool:
    return all((out / "figures" / f"{name}.{ext}").exists() for name in FIGURE_NAMES for ext in ("pdf", "png"))


def write_figures(out: Path, seed: int, profiles=None, samples=None, jobs=1) -> list[Path]:
    """All figures; the depth figure's profiles are recomputed (same seed, same numbers) if not given."""
    from montecarlo import figures, meanfield_figures, verify

    begin("figures")
    deep = verify.select("deep/")
    if profiles is None:
        _, profiles = verify.run(deep, seed=seed, samples=samples, jobs=jobs)
    written = figures.all_figures(out, seed, profiles, deep)
    return written + meanfield_figures.all_meanfield_figures(prepare_dir(Path(out) / "figures"), seed)


def start_independent_figures(out: Path, seed: int):
    """Draw the figures that need no verification results in a forked process (main job, jobs > 1).

    The process dies with its parent; a figure it cannot write is reported through a pipe (see
    :func:`finish_independent_figures`), so that the parent reports it as one line."""
    import multiprocessing
    import os

    from montecarlo import theory
    from montecarlo.executor import STOP_SIGNALS, die_with_parent

    theory.scheme_variance("he", 1, 1)  # derived before forking, so the child inherits it
    # created here, not only in the child, so that this process removes it if the run writes nothing; a folder
    # that cannot be made is the child's to report, through the pipe, as any figure it cannot write
    with contextlib.suppress(OSError):
        prepare_dir(out / "figures")
    parent = os.getpid()
    read_end, write_end = os.pipe()

    def draw():
        import signal

        def stop(signum, frame):
            raise KeyboardInterrupt

        # The parent stops this process itself (SIGUSR1), so that the atomic writer can clean up.
        os.close(read_end)
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        die_with_parent(parent)
        from montecarlo import figures
        from montecarlo.writer import prepare_dir

        try:
            folder = prepare_dir(out / "figures")
            figures.five_layer_histograms(folder, seed)
            figures.relu_halving(folder, seed)
            figures.constant_init(folder, seed)
            from montecarlo import meanfield_figures

            meanfield_figures.all_meanfield_figures(folder, seed)
        except KeyboardInterrupt:
            os._exit(1)
        except OSError as exc:  # OutputError included: one line for the parent to report
            message = str(exc) if exc.strerror is None or exc.filename is None else f"{exc.strerror}: {exc.filename}"
            os.write(write_end, message.encode("utf-8", "replace")[:4000])
            os._exit(FIGURE_OUTPUT_FAILED)

    process = multiprocessing.get_context("fork").Process(target=draw, daemon=True)
    try:
        process.start()
    finally:
        os.close(write_end)
    process.failure_pipe = read_end
    return process


#: Exit status of the figure process when it could not write (its message comes through the pipe).
FIGURE_OUTPUT_FAILED = 3


def finish_independent_figures(process) -> None:
    """Wait for the figure process; a figure it could not write is an OutputError (one line, exit 2)."""
    import os

    from montecarlo.writer import OutputError

    process.join()
    try:
        message = os.read(process.failure_pipe, 4096).decode("utf-8", "replace").strip()
    finally:
        close_figure_pipe(process)
    if process.exitcode == FIGURE_OUTPUT_FAILED:
        raise OutputError(f"drawing the figures: {message or 'a figure could not be written'}")
    if process.exitcode != 0:
        raise RuntimeError(f"drawing the figures failed (exit status {process.exitcode})")


def close_figure_pipe(process) -> None:
    import os

    fd = getattr(process, "failure_pipe", None)
    if fd is not None:
        process.failure_pipe = None
        try:
            os.close(fd)
        except OSError:
            pass


GAIN_DIGITS = 30


def gains_payload(digits: int = GAIN_DIGITS) -> list:
    """Every registered activation's gains (derive.gains), in registry order."""
    from derive.activations import ACTIVATIONS
    from derive.gains import gains

    return [gains(act, digits=digits) for name, act in ACTIVATIONS.items() if name != "custom"]


def gains_table(results) -> str:
    """A booktabs table of the gains (8 significant digits), for \\input in a writeup."""
    import mpmath

    from montecarlo.results import tex_escape

    def num(value, digits=8):
        return r"\textemdash" if value is None else f"${mpmath.nstr(mpmath.mpf(value), digits)}$"

    rows = []
    for g in results:
        rows.append(
            " & ".join(
                [
                    rf"\texttt{{{tex_escape(g.activation)}}}",
                    num(g.second_moment),
                    num(g.forward),
                    num(g.backward),
                    num(g.linear_regime),
                    num(g.torch, 6),
                    num(g.torch_forward_factor, 6),
                    num(g.map_slope, 4),
                    g.method,
                ]
            )
            + r" \\"
        )
    return "\n".join(
        [
            "% Generated by initvar: gains of each activation (see gains.json for 30 digits).",
            r"% requires \usepackage{booktabs}",
            r"\begin{tabular}{lrrrrrrrl}",
            r"\toprule",
            r"activation & $\mathbb{E}[\phi(Z)^2]$ & forward & backward & linear regime & PyTorch & "
            r"PyTorch factor & slope & method \\",
            r"\midrule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}",
            "",
        ]
    )


def write_gains(out: Path) -> list[Path]:
    """gains.json, gains.tex and constants.json in ``out`` (all or nothing)."""
    import json

    from derive.constants import constants

    begin("gains")
    results = gains_payload()
    payload = {
        "definitions": {
            "forward_gain": "1/sqrt(E[phi(Z)^2]), Z ~ N(0,1): Var(w) = gain^2/fan_in makes q = 1 a fixed point",
            "backward_gain": "1/sqrt(E[phi'(Z)^2]): keeps the gradient's second moment at q = 1",
            "linear_regime_gain": "1/|phi'(0)|, where phi(0) = 0 and phi is smooth at 0",
            "torch_forward_factor_per_layer": "torch_gain^2 E[phi(Z)^2]: what calculate_gain does per layer at q = 1",
            "map_slope_at_fixed_point": "g^2 d/dq E[phi(sqrt(q) Z)^2] at q = 1: q = 1 is a stable fixed point when < 1",
            "method": "exact (positively homogeneous: closed form) or numerical (mpmath quadrature, 30 digits)",
        },
        "activations": [g.as_dict(GAIN_DIGITS) for g in results],
    }
    out = prepare_dir(out)
    with Batch() as batch:
        written = [
            batch.write_text(out / "gains.json", json.dumps(payload, indent=2) + "\n"),
            batch.write_text(out / "gains.tex", gains_table(results)),
            batch.write_text(out / "constants.json", json.dumps(constants(GAIN_DIGITS), indent=2) + "\n"),
        ]
    return written
