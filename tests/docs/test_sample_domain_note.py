"""A pip user meets no surprise: every page whose examples import the clone-only `samples` package says so at its top."""

from __future__ import annotations

import re

from tests.docs.blocks import ROOT, blocks, pages

SAMPLES = re.compile(r"^\s*(from|import) samples\b", re.MULTILINE)


def test_every_page_using_the_sample_domain_says_it_runs_from_a_clone() -> None:
    using = [page for page in pages() if any(SAMPLES.search(block.code) for block in blocks(page))]
    unmarked = [page for page in using if "Runs from a clone" not in "\n".join(page.read_text().splitlines()[:6])]

    assert len(using) >= 10  # the pattern still finds the pages that use it
    assert unmarked == [], [str(page.relative_to(ROOT)) for page in unmarked]
    assert "The sample domain" in (ROOT / "docs" / "index.md").read_text().split("```", 1)[0]
