"""`initvar derive`: build and check every derivation, write derivations.tex and derivations/<id>.tex."""

from __future__ import annotations

from .. import jobs


def run(args) -> int:
    if args.list:
        from derive.registry import IDS

        print("\n".join(IDS))
        return 0
    written = jobs.write_derivations(args.out, args.only)
    print(f"wrote {len(written)} files to {args.out}/ (derivations.tex and derivations/<id>.tex)")
    return 0
