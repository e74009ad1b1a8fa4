"""docs/sweep.md is generated from the sweep model and must be current."""

from pathlib import Path

from ballast.sweep.docs import render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "sweep.md"


def test_sweep_reference_is_current():
    assert DOC.read_text().strip() == render_markdown().strip(), (
        "docs/sweep.md is stale: run `python -m ballast.sweep.docs > docs/sweep.md`")


def test_every_sweep_field_is_documented():
    text = render_markdown()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) >= 15
    for line in rows:
        assert not line.rstrip().endswith("|  |"), f"undocumented field: {line}"
