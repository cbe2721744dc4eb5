"""Every page under docs/ is reachable from the navigation (the strict build fails on one left out, too)."""

from __future__ import annotations

from typing import Any

import yaml

from tests.docs.blocks import ROOT


def nav_pages(entries: Any) -> set[str]:
    found: set[str] = set()
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found |= nav_pages(value) if isinstance(value, list) else {value}
    return found


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}

    assert pages - nav_pages(config["nav"]) == set()
    assert config["validation"]["nav"]["omitted_files"] == "warn", "so that the strict build fails too"
