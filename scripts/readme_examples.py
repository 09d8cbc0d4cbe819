#!/usr/bin/env python3
"""Print the README's example diffs, or rewrite them in place with --write.

Each block in README.md that follows a line `<!-- harden-example: ARGS -->` holds the output of
`harden diff examples/seed-stack ARGS` (run from the repository root). tests/test_readme.py
checks that every block is current.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
MARK = re.compile(r"^<!-- harden-example: (.*?) -->\n```diff\n(.*?)```\n", re.M | re.S)


def diff_for(args: str) -> str:
    cmd = [sys.executable, "-m", "harden", "diff", "examples/seed-stack", "--no-color", *args.split()]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HARDEN_NO_CACHE": "1"})
    if out.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr}")
    return out.stdout


def blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in MARK.finditer(text)]


def main() -> int:
    text = README.read_text(encoding="utf-8")
    if "--write" in sys.argv:
        new = MARK.sub(lambda m: f"<!-- harden-example: {m.group(1)} -->\n```diff\n{diff_for(m.group(1))}```\n", text)
        README.write_text(new, encoding="utf-8")
        return 0
    for args, _ in blocks(text):
        print(f"== {args}\n{diff_for(args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
