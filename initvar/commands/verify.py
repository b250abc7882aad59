"""`initvar verify`: the Monte Carlo checks, a table (or --json) on stdout, results files in --out."""

from __future__ import annotations

from .. import jobs


def run(args) -> int:
    import json
    import sys

    from montecarlo.results import summary

    if getattr(args, "derived_cache", False):
        from montecarlo.derived import use_store

        from ..cache import derived_cache

        use_store(derived_cache(args))
    results, _, meta = jobs.run_verify(args, args.out)
    if args.json:
        json.dump(
            {"seed": meta["seed"], "summary": summary(results), "checks": [r.as_dict() for r in results]},
            sys.stdout,
            indent=2,
        )
        print()
    else:
        jobs.print_summary(results)
        print(f"wrote {args.out}/results.json, results.csv, results_table.tex")
    return 0 if summary(results)["all_passed"] else 1
