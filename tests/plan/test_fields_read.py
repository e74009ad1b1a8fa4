"""Every plan field has an effect or is gone: each field of the plan schema is read (``.name``)
by the plan's product code outside the schema module (the scenario's test, applied to plans)."""

from __future__ import annotations

import re
from pathlib import Path

from ballast.plan.document import Plan
from tests.test_scenario_fields_read import schema_fields

PLAN_SRC = Path(__file__).resolve().parents[2] / "src" / "ballast" / "plan"
NOT_READERS = {"document.py", "optimize_document.py", "docs.py"}  # the schema and its documentation
READ_GENERICALLY = {
    "version": "checked by Plan._version on load",
    "description": "free text for people; no computation reads it",
}


def test_every_plan_field_is_read_by_the_model():
    code = "\n".join(p.read_text() for p in sorted(PLAN_SRC.glob("*.py")) if p.name not in NOT_READERS)
    unread = [
        path
        for path, name in schema_fields(Plan)
        if name not in READ_GENERICALLY and not re.search(rf"\.{name}\b", code)
    ]
    assert not unread, f"plan fields no code reads: {unread}"
