"""`initvar report`: report.tex (and report.pdf), computing first whatever --out lacks."""

from __future__ import annotations

from montecarlo.writer import Batch, prepare_dir

from .. import jobs, report
from ..errors import UsageError


def _stored_results(out) -> dict:
    """results.json of ``out`` (written by an earlier run), refused in one line if it is not initvar's."""
    import json

    try:
        data = report.load_results(out)
    except ValueError as exc:
        raise UsageError(
            f"initvar report: {out / 'results.json'} is not valid JSON ({exc}); rerun `initvar verify --out {out}`"
        ) from None
    needed = ("seed", "level", "summary", "checks")
    if not isinstance(data, dict) or any(key not in data for key in needed):
        raise UsageError(
            f"initvar report: {out / 'results.json'} is not an initvar results file; rerun `initvar verify --out {out}`"
        )
    return json.loads(json.dumps(data))


def run(args, *, results=None, profiles=None, meta=None, steps=None) -> int:
    """Write report.tex (computing what is missing in ``args.out`` first) and compile it when TeX is found.

    With ``results`` and ``meta`` (the main job, or a verification run here), the report shows those
    results, not whatever results.json holds by then."""
    import json
    import shutil
    import sys

    from derive.registry import IDS
    from montecarlo import results as res

    out = prepare_dir(args.out)
    say = steps or (lambda text: print(text, file=sys.stderr))
    if not (out / "derivations.tex").exists() or not all((out / "derivations" / f"{i}.tex").exists() for i in IDS):
        say("report: derivations missing, deriving")
        jobs.write_derivations(out)
    if results is None and not (out / "results.json").exists():
        say("report: results missing, verifying")
        results, profiles, meta = jobs.run_verify(args, out)
    if not (out / "results_table.tex").exists():
        say("report: results table missing, verifying")
        results, profiles, meta = jobs.run_verify(args, out)
    if results is not None and meta is not None:
        data = json.loads(res.to_json(results, meta))  # the same text this run wrote to results.json
    else:
        data = _stored_results(out)
    if not all((out / name).exists() for name in ("gains.json", "gains.tex", "constants.json")):
        say("report: gains or constants missing, computing")
        jobs.write_gains(out)
    if not jobs.figures_present(out):
        say("report: figures missing, drawing")
        jobs.write_figures(out, data["seed"], profiles, data.get("samples"), jobs.worker_count(args))
    jobs.begin("report")
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
