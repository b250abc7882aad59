"""The main job (`initvar`, `initvar all`): derive, verify, figures, report into --out."""

from __future__ import annotations

from montecarlo.writer import prepare_dir

from .. import jobs
from . import report as report_command


def run(args) -> int:
    """The main job: derive, verify, figures, report, into ``args.out``."""
    import sys
    import time

    from montecarlo.results import summary

    start = time.monotonic()
    out = prepare_dir(args.out)

    def step(text):
        print(f"[{time.monotonic() - start:5.1f}s] {text}", file=sys.stderr, flush=True)

    from derive.registry import IDS

    step(f"1/4 derive: building and checking {len(IDS)} derivations; gains and constants")
    jobs.write_derivations(out)
    jobs.write_gains(out)
    step("2/4 verify: Monte Carlo checks (and, on another core, the figures that need no results)")
    import signal

    from montecarlo.executor import STOP_SIGNALS

    # Block Ctrl-C/SIGTERM/SIGHUP while forking the figure process (a signal caught mid-fork would run
    # the parent's handler in the child); the child ignores them and is stopped by the parent.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    side = None
    try:
        try:
            # Not beside a Dask client: its threads should not be forked with this process.
            alone = jobs.worker_count(args) > 1 and getattr(args, "executor", None) is None
            side = jobs.start_independent_figures(out, args.seed) if alone else None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        results, profiles, meta = jobs.run_verify(args, out)
        step("3/4 figures")
        jobs.begin("figures")
        if side is not None:
            jobs.finish_independent_figures(side)
            from montecarlo import figures

            figures.variance_depth(out / "figures", args.seed)
        else:
            jobs.write_figures(out, args.seed, profiles)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if side is not None and side.is_alive():
            import os

            os.kill(side.pid, signal.SIGUSR1)  # stops it cleanly: a file being written is discarded
            side.join(timeout=30)
            if side.is_alive():
                side.kill()
                side.join()
        if side is not None:
            jobs.close_figure_pipe(side)
        raise
    step("4/4 report")
    status = report_command.run(args, results=results, profiles=profiles, meta=meta, steps=step)
    s = summary(results)
    print(
        f"{s['checks_passed']}/{s['checks']} checks passed, {s['controls_rejected']}/{s['controls']} controls "
        f"rejected, in {time.monotonic() - start:.1f}s"
    )
    print(
        f"written to {out}/: derivations.tex, derivations/<id>.tex, gains.json, gains.tex, constants.json, "
        "results.json, results.csv, results_table.tex, "
        "figures/*.pdf|png, references.bib, report.tex" + (", report.pdf" if (out / "report.pdf").exists() else "")
    )
    if not s["all_passed"]:
        return 1
    return status
