"""The jobs behind the subcommands: each reads its inputs, computes, and writes through
:mod:`initvar.writer`. Validation happens before anything is written."""

from __future__ import annotations

from pathlib import Path

from .writer import Batch, prepare_dir

#: What the running command is doing, for the message when it is interrupted.
STATE = {"step": None}


def write_derivations(out: Path, only=None) -> list[Path]:
    """Write ``out/derivations.tex`` and ``out/derivations/<id>.tex``; return the paths written."""
    from derive.latex import render_document, render_snippet
    from derive.registry import IDS, registry

    from .cli import UsageError

    if only:
        unknown = [i for i in only if i not in IDS]
        if unknown:
            raise UsageError(f"initvar derive: unknown derivation id {unknown[0]!r}; known: {', '.join(IDS)}")
    STATE["step"] = "derive"
    chosen = [d for ident, d in registry().items() if not only or ident in only]  # checked before any write
    out = prepare_dir(out)
    snippets = prepare_dir(out / "derivations")
    with Batch() as batch:  # all or nothing: a full disk leaves the old files
        written = [batch.write_text(snippets / f"{d.id}.tex", render_snippet(d)) for d in chosen]
        written.append(batch.write_text(out / "derivations.tex", render_document(chosen)))
    return written


def _jobs(args) -> int:
    import os

    return args.jobs or os.cpu_count() or 1


def _progress_bar(total_hint: str):
    """A tqdm bar on stderr when it is a terminal (with the time left); silent otherwise."""
    import sys

    from tqdm import tqdm

    state = {"bar": None}

    def update(step, total):
        if state["bar"] is None:
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
    from derive.registry import registry
    from montecarlo import results as res
    from montecarlo import verify

    from .cli import UsageError

    checks = verify.select(getattr(args, "only", None))
    if not checks:
        raise UsageError(f"initvar verify: no check matches {args.only!r} (list: initvar verify --only '*' --json)")
    registry()  # build (and so check) derive/ once here, before any write; forked workers inherit it
    if out is not None:
        out = prepare_dir(out)
    STATE["step"] = "verify"
    update, close = _progress_bar("verify")
    try:
        results, profiles = verify.run(
            checks,
            seed=args.seed,
            samples=args.samples,
            precision=getattr(args, "precision", None),
            jobs=_jobs(args),
            level=args.level,
            progress=update,
        )
    finally:
        close()
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


def cmd_verify(args) -> int:
    import json
    import sys

    from montecarlo.results import summary

    results, _, meta = run_verify(args, args.out)
    if args.json:
        json.dump(
            {"seed": meta["seed"], "summary": summary(results), "checks": [r.as_dict() for r in results]},
            sys.stdout,
            indent=2,
        )
        print()
    else:
        print_summary(results)
        print(f"wrote {args.out}/results.json, results.csv, results_table.tex")
    return 0 if summary(results)["all_passed"] else 1


def cmd_propagate(args) -> int:
    """Simulate one network and print per-layer statistics against the theory."""
    import json

    import numpy as np

    from derive.activations import ACTIVATIONS
    from derive.schemes import SCHEMES
    from montecarlo import simulate, theory

    from .cli import UsageError

    if args.activation_expr is not None:
        from derive.activations import Activation
        from derive.parser import ExpressionError, parse_expression

        try:
            expr = parse_expression(args.activation_expr)
        except ExpressionError as exc:
            raise UsageError(f"initvar propagate: bad --activation-expr: {exc}") from None
        # Process-local entry: a smooth custom activation is treated through its exact Gaussian moments.
        ACTIVATIONS["custom"] = Activation("custom", expr, title=args.activation_expr)
        args.activation = "custom"
    if args.activation not in ACTIVATIONS:
        raise UsageError(f"initvar propagate: unknown activation {args.activation!r}; known: {', '.join(ACTIVATIONS)}")
    if args.init is not None and args.init not in SCHEMES:
        raise UsageError(f"initvar propagate: unknown scheme {args.init!r}; known: {', '.join(SCHEMES)}")
    if args.width > 8192 or args.depth > 1000:
        raise UsageError("initvar propagate: --width at most 8192 and --depth at most 1000")
    if args.plot is not None and args.plot.suffix.lower() not in (".pdf", ".png"):
        raise UsageError(f"initvar propagate: --plot must end in .pdf or .png, got {args.plot.name!r}")
    if args.plot is not None:
        prepare_dir(args.plot.parent if str(args.plot.parent) else Path("."))
    if args.init is not None:
        var_w, how = theory.scheme_variance(args.init, args.width, args.width), f"{args.init} (derived)"
        if not np.isfinite(var_w) or var_w <= 0:
            raise UsageError(f"initvar propagate: scheme {args.init} gives no valid variance here")
    elif args.std is not None:
        var_w, how = args.std**2, f"std {args.std:g} (variance {args.std**2:g})"
    else:
        var_w, how = args.var, f"variance {args.var:g} (std {args.var**0.5:g})"
    rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(7,)))
    prof = simulate.network_profile(
        rng, width=args.width, depth=args.depth, samples=args.samples, activation_name=args.activation, var_w=var_w
    )
    predicted = theory.layer_second_moments(args.activation, args.width, var_w, args.depth)
    rows = [
        {
            "layer": i + 1,
            "mean": float(prof["mean"][i]),
            "variance": float(prof["variance"][i]),
            "second_moment": float(prof["second_moment"][i]),
            "theory_second_moment": float(predicted[i]),
            "ratio": float(prof["second_moment"][i] / predicted[i]) if predicted[i] else float("nan"),
            "fraction_abs_gt_3": float(prof["fraction_abs_gt_3"][i]),
        }
        for i in range(args.depth)
    ]
    payload = {
        "activation": args.activation,
        "weights": how,
        "var_w": var_w,
        "width": args.width,
        "depth": args.depth,
        "samples": args.samples,
        "seed": args.seed,
        "layers": rows,
    }
    if args.plot is not None:
        from montecarlo.figures import propagate_plot

        propagate_plot(args.plot, rows, f"{args.activation}, {how}, width {args.width}")
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(
        f"{args.activation}, weights {how}, width {args.width}, depth {args.depth}, {args.samples} inputs, "
        f"one network (seed {args.seed})"
    )
    print(f"{'layer':>5}  {'mean y':>11}  {'Var y':>11}  {'E[y^2]':>11}  {'theory':>11}  {'ratio':>7}  {'|y|>3':>6}")
    for r in rows:
        print(
            f"{r['layer']:>5}  {r['mean']:>11.4g}  {r['variance']:>11.4g}  {r['second_moment']:>11.4g}  "
            f"{r['theory_second_moment']:>11.4g}  {r['ratio']:>7.3f}  {r['fraction_abs_gt_3']:>6.1%}"
        )
    print(
        "theory: Var(y_1) = n Var(w) E[x^2], then Var(y_{l+1}) = n Var(w) E[phi(y_l)^2] (wide limit; exact in "
        "expectation for linear and ReLU-type activations). One network fluctuates around it."
    )
    if args.plot is not None:
        print(f"wrote {args.plot}")
    return 0


FIGURE_NAMES = ("seed_histograms", "variance_depth", "relu_halving", "constant_init")


def _figures_present(out: Path) -> bool:
    return all((out / "figures" / f"{name}.{ext}").exists() for name in FIGURE_NAMES for ext in ("pdf", "png"))


def write_figures(out: Path, seed: int, profiles=None, samples=None, jobs=1) -> list[Path]:
    """All figures; the depth figure's profiles are recomputed (same seed, same numbers) if not given."""
    from montecarlo import figures, verify

    STATE["step"] = "figures"
    deep = verify.select("deep/")
    if profiles is None:
        _, profiles = verify.run(deep, seed=seed, samples=samples, jobs=jobs)
    return figures.all_figures(out, seed, profiles, deep)


def _start_independent_figures(out: Path, seed: int):
    """Draw the figures that need no verification results in a forked process (main job, jobs > 1)."""
    import multiprocessing

    from montecarlo import theory

    theory.scheme_variance("he", 1, 1)  # derived before forking, so the child inherits it

    def draw():
        import os
        import signal

        def stop(signum, frame):
            raise KeyboardInterrupt

        # The parent stops this process itself (SIGUSR1), so that the atomic writer can clean up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        from montecarlo import figures

        from .writer import prepare_dir

        try:
            folder = prepare_dir(out / "figures")
            figures.seed_histograms(folder, seed)
            figures.relu_halving(folder, seed)
            figures.constant_init(folder, seed)
        except KeyboardInterrupt:
            os._exit(1)

    process = multiprocessing.get_context("fork").Process(target=draw, daemon=True)
    process.start()
    return process


def cmd_report(args, *, results=None, profiles=None, steps=None) -> int:
    """Write report.tex (computing what is missing in ``args.out`` first) and compile it when TeX is found."""
    import shutil
    import sys

    from derive.registry import IDS

    from . import report

    out = prepare_dir(args.out)
    say = steps or (lambda text: print(text, file=sys.stderr))
    if not (out / "derivations.tex").exists() or not all((out / "derivations" / f"{i}.tex").exists() for i in IDS):
        say("report: derivations missing, deriving")
        write_derivations(out)
    if results is None and not (out / "results.json").exists():
        say("report: results missing, verifying")
        results, profiles, _ = run_verify(args, out)
    if not (out / "results_table.tex").exists():
        say("report: results table missing, verifying")
        results, profiles, _ = run_verify(args, out)
    data = report.load_results(out)
    if not _figures_present(out):
        say("report: figures missing, drawing")
        write_figures(out, data["seed"], profiles, data.get("samples"), _jobs(args))
    STATE["step"] = "report"
    with Batch() as batch:
        batch.write_text(out / "references.bib", report.BIBLIOGRAPHY)
        batch.write_text(out / "report.tex", report.render_report(out, data))
    if not (shutil.which("pdflatex") and shutil.which("bibtex")):
        print(
            f"wrote {out}/report.tex; pdflatex/bibtex not found, so no report.pdf. Install TeX Live "
            f"(Debian: apt-get install {report.TEX_PACKAGES}) and rerun `initvar report --out {out}`."
        )
        return 0
    try:
        pdf = report.compile_pdf(out)
    except report.LatexError as exc:
        print(f"initvar report: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}/report.tex and {pdf}")
    return 0


def cmd_all(args) -> int:
    """The main job: derive, verify, figures, report, into ``args.out``."""
    import sys
    import time

    from montecarlo.results import summary

    start = time.monotonic()
    out = prepare_dir(args.out)

    def step(text):
        print(f"[{time.monotonic() - start:5.1f}s] {text}", file=sys.stderr, flush=True)

    step("1/4 derive: building and checking 11 derivations")
    write_derivations(out)
    step("2/4 verify: Monte Carlo checks (and, on another core, the figures that need no results)")
    import signal

    # Block Ctrl-C/SIGTERM while forking the figure process (a signal caught mid-fork would run the
    # parent's handler in the child); the child ignores them and is stopped by the parent.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    side = None
    try:
        side = _start_independent_figures(out, args.seed) if _jobs(args) > 1 else None
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        results, profiles, _ = run_verify(args, out)
        step("3/4 figures")
        STATE["step"] = "figures"
        if side is not None:
            side.join()
            if side.exitcode != 0:
                raise RuntimeError("drawing the figures failed")
            from montecarlo import figures, verify

            figures.variance_depth(out / "figures", profiles, verify.select("deep/"))
        else:
            write_figures(out, args.seed, profiles)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if side is not None and side.is_alive():
            import os

            os.kill(side.pid, signal.SIGUSR1)  # stops it cleanly: a file being written is discarded
            side.join(timeout=30)
            if side.is_alive():
                side.kill()
                side.join()
        raise
    step("4/4 report")
    status = cmd_report(args, results=results, profiles=profiles, steps=step)
    s = summary(results)
    print(
        f"{s['checks_passed']}/{s['checks']} checks passed, {s['controls_rejected']}/{s['controls']} controls "
        f"rejected, in {time.monotonic() - start:.1f}s"
    )
    print(
        f"written to {out}/: derivations.tex, derivations/<id>.tex, results.json, results.csv, results_table.tex, "
        "figures/*.pdf|png, references.bib, report.tex" + (", report.pdf" if (out / "report.pdf").exists() else "")
    )
    if not s["all_passed"]:
        return 1
    return status
