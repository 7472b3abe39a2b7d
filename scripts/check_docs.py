"""Check the claims README.md and docs/*.md make against the code (issue 25; the rules are in
tests/docs_check.py). Prints one finding per line, ``file:line: kind: claim — why``; exits 1 if
there is any. Give Markdown files to check only those."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.docs_check import check_docs, check_file, code_facts  # noqa: E402


def main(argv: list[str]) -> int:
    if argv:
        facts = code_facts()
        findings = [f for name in argv for f in check_file(Path(name), facts)]
    else:
        findings = check_docs()
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
