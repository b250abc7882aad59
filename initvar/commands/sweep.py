"""`initvar sweep`: the per-layer length and correlation maps over a (sigma_w^2, sigma_b^2) grid, Monte Carlo
against mean field, on the local pool or a Dask cluster (--scheduler); writes sweep.csv, sweep.json and
figures/sweep.pdf/.png into --out."""

from __future__ import annotations

import math
import sys

from ..errors import UsageError

MAX_POINTS = 50  # per axis
MAX_WIDTH = 4096
MAX_DEPTH = 200
MAX_NETWORKS = 10000


def _range(text: str, flag: str) -> tuple:
    """A:B:N -> N evenly spaced values from A to B (N = 1: A alone, and then B must equal A)."""
    parts = (text or "").split(":")
    if len(parts) != 3:
        raise UsageError(f"initvar sweep: {flag} takes START:STOP:COUNT, e.g. 0.5:4:8, got {text!r}")
    try:
        start, stop = float(parts[0]), float(parts[1])
        count = int(parts[2])
    except ValueError:
        raise UsageError(f"initvar sweep: {flag} takes numbers START:STOP:COUNT, got {text!r}") from None
    if not (math.isfinite(start) and math.isfinite(stop)) or start < 0 or stop < start:
        raise UsageError(f"initvar sweep: {flag} needs finite 0 <= START <= STOP, got {text!r}")
    if not 1 <= count <= MAX_POINTS:
        raise UsageError(f"initvar sweep: {flag} COUNT must be between 1 and {MAX_POINTS}, got {count}")
    if count == 1 and stop != start:
        raise UsageError(f"initvar sweep: {flag} with COUNT 1 needs START = STOP, got {text!r}")
    if stop > 1e4:
        raise UsageError(f"initvar sweep: {flag} beyond this tool's range (at most 1e4)")
    step = (stop - start) / (count - 1) if count > 1 else 0.0
    return tuple(round(start + k * step, 12) for k in range(count))


def run(args) -> int:
    from derive.activations import ACTIVATIONS
    from montecarlo import sweep as sw
    from montecarlo.executor import LocalPool
    from montecarlo.writer import Batch, prepare_dir

    from ..jobs import _progress_bar, worker_count

    if args.activation not in ACTIVATIONS:
        raise UsageError(f"initvar sweep: unknown activation {args.activation!r}; known: {', '.join(ACTIVATIONS)}")
    w2 = _range(args.sigma_w2, "--sigma-w2")
    b2 = _range(args.sigma_b2, "--sigma-b2")
    if w2[0] <= 0:
        raise UsageError("initvar sweep: --sigma-w2 must start above 0 (zero weights carry no signal)")
    for flag, value, top in (("--width", args.width, MAX_WIDTH), ("--depth", args.depth, MAX_DEPTH)):
        if value > top:
            raise UsageError(f"initvar sweep: {flag} at most {top}, got {value}")
    if args.networks > MAX_NETWORKS or args.networks < 2:
        raise UsageError(f"initvar sweep: --networks between 2 and {MAX_NETWORKS}, got {args.networks}")
    if not (math.isfinite(args.q1) and args.q1 > b2[-1]):
        raise UsageError(f"initvar sweep: --q1 must exceed the largest sigma_b^2 ({b2[-1]:g}), got {args.q1:g}")
    if not (math.isfinite(args.c1) and -1 < args.c1 < 1):
        raise UsageError(f"initvar sweep: --c1 must lie in (-1, 1), got {args.c1:g}")
    for b in b2:  # the first layer's input pairs must exist at every sigma_b^2
        cos = (args.c1 * args.q1 - b) / (args.q1 - b)
        if not -1 <= cos <= 1:
            raise UsageError(
                f"initvar sweep: no input pair has c^1 = {args.c1:g} at q^1 = {args.q1:g}, sigma_b^2 = {b:g}"
            )
    sweep = sw.Sweep(
        args.activation, w2, b2, args.width, args.depth, args.networks, float(args.q1), float(args.c1), args.seed
    )
    executor = args.executor if getattr(args, "executor", None) is not None else LocalPool(worker_count(args))
    update, close = _progress_bar(f"sweep: {len(sweep.points)} grid points x {args.networks} networks")
    try:
        rows = sw.run(sweep, executor, update)
    finally:
        close()
    out = args.out
    prepare_dir(out)
    prepare_dir(out / "figures")
    with Batch() as batch:
        batch.write_text(out / "sweep.csv", sw.as_csv(rows))
        batch.write_text(out / "sweep.json", sw.as_json(sweep, rows))
    sw.figure(out / "figures", sweep, rows)
    inside = sum(r["q_within"] for r in rows), sum(r["c_within"] for r in rows)
    print(
        f"sweep: {len(sweep.points)} grid points x {args.depth} layers; the 99.9% interval holds the mean-field q^l in "
        f"{inside[0]}/{len(rows)} and c^l in {inside[1]}/{len(rows)} (finite width {args.width}: an O(1/n) deviation "
        "is not in the theory)"
    )
    print(f"written to {out}/: sweep.csv, sweep.json, figures/sweep.pdf|png", file=sys.stdout)
    return 0
