"""Every figure the JSON carries has its own section in docs/figures.md."""

from __future__ import annotations

import re
from pathlib import Path

import kpi
from tests.test_kpi import AS_OF, _build

DOCS = Path(__file__).resolve().parent.parent / "docs" / "figures.md"


def documented_headings() -> set[str]:
    return set(re.findall(r"^## ([a-z_]+)\s*$", DOCS.read_text(), flags=re.MULTILINE))


def test_every_figure_has_a_section(tmp_path):
    con = _build(tmp_path / "docs.duckdb")
    headings = documented_headings()
    for record_type, key in (("account", "contoso.com"), ("contact", "bob@contoso.com")):
        figures = kpi.figures(con, record_type, key, as_of=AS_OF, days=30)
        missing = sorted(set(figures) - headings)
        assert not missing, f"docs/figures.md has no section for {missing}"
