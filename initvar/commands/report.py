"""`initvar report`: report.tex (and report.pdf), computing first whatever --out lacks."""

from __future__ import annotations

from montecarlo.writer import Batch, prepare_dir

from .. import jobs, report


def run(args, *, results=None, profiles=None, steps=None) -> int:
    """Write report.tex (computing what is missing in ``args.out`` first) and compile it when TeX is found."""
    import shutil
    import sys

    from derive.registry import IDS

    out = prepare_dir(args.out)
    say = steps or (lambda text: print(text, file=sys.stderr))
    if not (out / "derivations.tex").exists() or not all((out / "derivations" / f"{i}.tex").exists() for i in IDS):
        say("report: derivations missing, deriving")
        jobs.write_derivations(out)
    if results is None and not (out / "results.json").exists():
        say("report: results missing, verifying")
        results, profiles, _ = jobs.run_verify(args, out)
    if not (out / "results_table.tex").exists():
        say("report: results table missing, verifying")
        results, profiles, _ = jobs.run_verify(args, out)
    data = report.load_results(out)
    if not all((out / name).exists() for name in ("gains.json", "gains.tex", "constants.json")):
        say("report: gains or constants missing, computing")
        jobs.write_gains(out)
    if not jobs.figures_present(out):
        say("report: figures missing, drawing")
        jobs.write_figures(out, data["seed"], profiles, data.get("samples"), jobs.worker_count(args))
    jobs.STATE["step"] = "report"
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
