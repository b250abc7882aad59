"""The jobs behind the subcommands: each reads its inputs, computes, and writes through
:mod:`initvar.writer`. Validation happens before anything is written."""

from __future__ import annotations

from pathlib import Path

from .writer import prepare_dir, write_text


class InputError(ValueError):
    """Bad input found while validating; reported as one line, exit status 2."""


def write_derivations(out: Path, only=None) -> list[Path]:
    """Write ``out/derivations.tex`` and ``out/derivations/<id>.tex``; return the paths written."""
    from derive.latex import render_document, render_snippet
    from derive.registry import IDS, registry

    from .cli import UsageError

    if only:
        unknown = [i for i in only if i not in IDS]
        if unknown:
            raise UsageError(f"initvar derive: unknown derivation id {unknown[0]!r}; known: {', '.join(IDS)}")
    out = prepare_dir(out)
    chosen = [d for ident, d in registry().items() if not only or ident in only]
    snippets = prepare_dir(out / "derivations")
    written = [write_text(snippets / f"{d.id}.tex", render_snippet(d)) for d in chosen]
    written.append(write_text(out / "derivations.tex", render_document(chosen)))
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
    if out is not None:
        out = prepare_dir(out)
    registry()  # build derive/ once here, so that forked workers inherit it
    update, close = _progress_bar("verify")
    try:
        results, profiles = verify.run(
            checks, seed=args.seed, samples=args.samples, jobs=_jobs(args), level=args.level, progress=update
        )
    finally:
        close()
    meta = {
        "seed": args.seed,
        "level": args.level,
        "samples": args.samples,
        "confidence": verify.CONFIDENCE,
        "command": "initvar verify",
    }
    if out is not None:
        write_text(out / "results.json", res.to_json(results, meta))
        write_text(out / "results.csv", res.to_csv(results))
        write_text(out / "results_table.tex", res.to_latex_table(results, args.level))
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
