"""docs/plan.md is generated from the plan model and must be current."""

from pathlib import Path

from ballast.plan.docs import render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "plan.md"


def test_plan_reference_is_current():
    assert DOC.read_text().strip() == render_markdown().strip(), (
        "docs/plan.md is stale: run `python -m ballast.plan.docs > docs/plan.md`"
    )


def test_every_plan_field_is_documented():
    rows = [line for line in render_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) >= 40
    for line in rows:
        assert not line.rstrip().endswith("|  |"), f"undocumented field: {line}"
