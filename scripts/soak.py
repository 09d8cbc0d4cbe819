#!/usr/bin/env python3
"""Run the soak over the real projects of the corpus outside pytest and print what it found.

    python scripts/soak.py                  # every case of ../shared/corpus (or $HARDEN_CORPUS)
    python scripts/soak.py frappe--frappe_docker calcom--docker
    python scripts/soak.py --keep -v CASE   # keep the copies, print the combinations checked
    python scripts/soak.py --units CASE     # also list every unit of the practice table

Same checks and the same coverage and practice tables as `pytest -m soak` (tests/test_soak.py
explains them);
it runs `python -m harden` with this interpreter, so use the venv harden is installed in.
Exit status: 0 no damage, 1 damage found, 2 the corpus or a case is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import soak_lib  # noqa: E402


def units_text(pr: soak_lib.Practice) -> str:
    lines = ["practice units (done after harden; before -> after; what; why not):"]
    state = {None: "-", True: "yes", False: "no"}
    for key, label, _, _ in soak_lib.PRACTICES:
        units = pr.units.get(key, {})
        lines.append(f"  {label}: {len(units)}")
        for _, u in sorted(units.items()):
            why = f"  [{u.reason}] {u.detail}" if not u.done else ""
            lines.append(f"    {'done' if u.done else 'MISS'}  {state[u.before]:>3} -> {state[u.after]:<3}  "
                         f"{u.case_label} ({u.what}){why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", metavar="CASE", help="corpus case names (default: all)")
    ap.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: $HARDEN_CORPUS or ../shared/corpus)")
    ap.add_argument("--jobs", type=int, default=None, help="concurrent subprocesses (default: $HARDEN_SOAK_JOBS or 2 x CPUs)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies and print where they are")
    ap.add_argument("--report", type=Path, default=os.environ.get("HARDEN_SOAK_REPORT") or None,
                    help="also write the summary and table to this file (default: $HARDEN_SOAK_REPORT)")
    ap.add_argument("--units", action="store_true",
                    help="list every unit of the practice table: done or not, before and after harden, and why not")
    ap.add_argument("-v", "--verbose", action="store_true", help="print per case: time, combinations, invalid-before combinations, notes")
    args = ap.parse_args(argv)

    corpus = args.corpus.resolve() if args.corpus else soak_lib.corpus_root()
    known = soak_lib.case_names(corpus)
    if not known:
        print(f"soak: no corpus at {corpus} (set HARDEN_CORPUS)", file=sys.stderr)
        return 2
    cases = args.cases or known
    unknown = [c for c in cases if c not in known]
    if unknown:
        print(f"soak: unknown case(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="harden-soak-"))

    def progress(r: soak_lib.CaseResult) -> None:
        state = f"DAMAGE ({len(r.failures)})" if r.failures else "ok"
        print(f"  {r.case}: {state}  [{r.seconds:.1f}s, {r.combos} combinations, apply exit {r.exit_codes.get('apply')}]", flush=True)

    print(f"soaking {len(cases)} case(s) from {corpus}", flush=True)
    try:
        soak = soak_lib.run_soak(cases, corpus, work, jobs=args.jobs, keep=args.keep, progress=progress)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for name in sorted(soak.results):
        r = soak.results[name]
        if args.verbose:
            print(f"== {name}: {r.seconds:.1f}s, {r.combos} combinations, valid before: {r.valid_before}, exits {r.exit_codes}")
            for line in r.info:
                print(f"   info: {line}")
            for line in r.invalid_before:
                print(f"   invalid before harden: {line}")
        if r.failures:
            print(r.render())
            print()
    text = soak.report_text()
    print(text)
    if args.units:
        print(units_text(soak.practice()))
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    if args.keep:
        print(f"copies kept in {work} (before/ after/ replay/ per case)")
    return 1 if any(r.failures for r in soak.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
