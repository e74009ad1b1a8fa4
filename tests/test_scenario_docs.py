"""docs/scenario.md is generated from the schema and must be current."""

from pathlib import Path

from ballast.scenario_docs import render_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "scenario.md"


def test_scenario_reference_is_current():
    assert DOC.read_text().strip() == render_markdown().strip(), (
        "docs/scenario.md is stale: run `python -m ballast.scenario_docs > docs/scenario.md`")


def test_every_field_is_documented():
    text = render_markdown()
    for line in text.splitlines():
        if line.startswith("| `"):
            assert not line.rstrip().endswith("|  |"), f"undocumented field: {line}"
