"""Fail when any module of the package is covered below the floor, statements and branches together.

A total can hide a module nobody tests; the floor holds for each file. Run after the test suite has
written `.coverage` (scripts/test.sh does).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import coverage

FLOOR = 85.0


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "coverage.json"
        data = coverage.Coverage()
        data.load()
        data.json_report(outfile=str(report))
        files = json.loads(report.read_text())["files"]
    under = sorted(
        (summary["percent_covered"], name)
        for name, summary in ((name, data["summary"]) for name, data in files.items())
        if summary["num_statements"] and summary["percent_covered"] < FLOOR
    )
    for percent, name in under:
        print(f"{name}: {percent:.1f}% of statements and branches covered, under the floor of {FLOOR:.0f}%")
    if under:
        print(f"{len(under)} module(s) under the coverage floor")
        return 1
    print(f"every one of {len(files)} modules is covered at least {FLOOR:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
