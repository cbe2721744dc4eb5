"""The Python blocks of the documentation, and how each is meant to run.

A reader runs a page's blocks in order as one program, so a block may use what an earlier block on
the same page defined. Three kinds of block:

- a program block runs as written (no top-level `await`: a reader would run it with `python`);
- a block whose first line is `# file: NAME.py` is saved as that file beside the page's programs (so
  they can import it); a `# file: test_*.py` block is also run with pytest;
- a block right after a line `_Not runnable here: REASON._` is skipped, and the reader sees why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python\s*$")
NOT_RUNNABLE = re.compile(r"^_Not runnable here: (?P<reason>.+?)\._\s*$")
FILE = re.compile(r"^# file: (?P<name>[\w/]+\.py)\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str
    skip_reason: str | None = None

    @property
    def file_name(self) -> str | None:
        match = FILE.match(self.code.split("\n", 1)[0])
        return match.group("name") if match else None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        if not FENCE.match(lines[index]):
            index += 1
            continue
        start = index + 1
        end = start
        while not lines[end].startswith("```"):
            end += 1
        before = next((text for text in reversed(lines[:index]) if text.strip()), "")
        skip = NOT_RUNNABLE.match(before)
        found.append(Block(page, start + 1, "\n".join(lines[start:end]) + "\n", skip.group("reason") if skip else None))
        index = end + 1
    return found
