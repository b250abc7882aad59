"""`initvar audit`: the real initializers of PyTorch, JAX/Flax and Keras held against the derived laws.

initvar audit [--framework torch|jax|keras|all] [--json] [--out DIR] [--seed S]

A table on stdout (or audit.json with --json); audit.json, audit.tex and figures/audit_depth.pdf/.png in
--out. Frameworks are optional extras: `--framework all` audits the installed ones (and names the missing
ones on stderr); a named framework that is missing, or none at all, is bad usage (exit 2, nothing
written). Exit 1 when a negative control is not rejected or a network's factor is not confirmed; the
verdicts themselves describe the frameworks and do not change the exit status.
"""

from __future__ import annotations

from ..errors import UsageError


def run(args) -> int:
    import json
    import sys
    import time

    from montecarlo import audit
    from montecarlo.audit.frameworks import FRAMEWORKS
    from montecarlo.writer import prepare_dir

    if not str(args.out).strip():
        raise UsageError("initvar audit: --out needs a directory, got an empty path")
    try:
        _, missing = audit.select(args.framework)
    except audit.MissingFramework as exc:
        raise UsageError(f"initvar audit: {exc}") from None
    prepare_dir(args.out)  # an unwritable --out fails now, not after the sampling
    if missing:
        names = ", ".join(FRAMEWORKS[n].title for n in missing)
        print(f"initvar audit: {names} not installed, skipped ({audit.install_hint(missing)})", file=sys.stderr)
    start = time.monotonic()
    try:
        result = audit.run(args.framework, seed=args.seed)
    except audit.MissingFramework as exc:  # found but does not import
        raise UsageError(f"initvar audit: {exc}") from None
    written = audit.write_outputs(result, args.out)
    seconds = time.monotonic() - start
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        print()
    else:
        audit.print_table(result)
        print(f"wrote {', '.join(str(p) for p in written)} in {seconds:.1f} s")
    return 0 if result.passed else 1
