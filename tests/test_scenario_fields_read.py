"""Every scenario field has an effect or is gone (issue 17): walk the scenario schema (pydantic
model fields, recursively through optional, list and union types) and fail for any field that
no product code reads. "Reads" means an attribute access ``.name`` or a key ``["name"]`` /
``['name']`` in ``src/ballast`` outside the schema modules. A name shared with another object
can hide a dead field (``.name`` is read everywhere; ``dynamics.min_power_share`` looked read
because the plant model has an attribute of that name, yet no run ever used it): the test
catches fields read nowhere, not every field without an effect."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from ballast.scenario import Scenario, ScenarioError, parse_scenario

SRC = Path(__file__).resolve().parents[1] / "src" / "ballast"
# the modules that declare the schema (and render its documentation); reads there do not count
SCHEMA_MODULES = {SRC / "scenario.py", SRC / "scenario_smoothing.py", SRC / "scenario_costs.py",
                  SRC / "scenario_docs.py", SRC / "programs" / "schema.py"}

# Fields read generically, by a loop over names or a whole-model dump, so no `.name` access
# names them. Each entry says where it is read.
READ_GENERICALLY: dict[str, str] = {
    "version": "checked by Scenario._version (a validator in the schema module) on load",
    "ecrs": "programs/plan.py and programs/settle.py loop over the reserve names with getattr",
    "ers": "as ecrs",
    "non_spin": "as ecrs",
    "shortfall_penalty_usd_per_mwh": "programs/settle.py reads it with getattr for each reserve",
    "reduction_pct": "read inside the schema module: programs/schema.py DrEvent.request() turns it "
                     "into the one DR request (programs/dr.py) that plan.py uses",
}


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside a field annotation (Optional, list, dict, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            out += _models(arg)
    return out


def schema_fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, field name) for every field of ``model`` and the models it holds."""
    out: list[tuple[str, str]] = []
    seen: set[type[BaseModel]] = set()

    def walk(m: type[BaseModel], at: str) -> None:
        if m in seen:
            return
        seen.add(m)
        for name, info in m.model_fields.items():
            out.append((f"{at}{name}", name))
            for sub in _models(info.annotation):
                walk(sub, f"{at}{name}.")

    walk(model, prefix)
    return out


def product_source() -> str:
    return "\n".join(p.read_text() for p in sorted(SRC.rglob("*.py")) if p not in SCHEMA_MODULES)


def test_walk_finds_nested_sections() -> None:
    paths = {p for p, _ in schema_fields(Scenario)}
    # one field from each depth and container kind: list, optional, nested optional, programs
    assert {"site.import_limit_mw", "miners.dynamics.sleep_s", "ai.training.duty",
            "smoothing.ramp_window_s", "programs.coincident_peak", "markets.price.column"} <= paths


def unread_fields(model: type[BaseModel], src: str) -> list[str]:
    """Dotted paths of the fields of ``model`` whose name ``src`` never reads."""
    unread = []
    for path, name in schema_fields(model):
        if name in READ_GENERICALLY:
            continue
        if not re.search(rf"\.{name}\b|\[\s*[\"']{name}[\"']\s*\]", src):
            unread.append(path)
    return unread


def test_every_scenario_field_is_read() -> None:
    unread = unread_fields(Scenario, product_source())
    assert unread == [], (f"scenario fields no code reads: {unread}; use them, delete them "
                          "(and note it in CHANGELOG.md), or list a generic reader in "
                          "READ_GENERICALLY with where it is read")


def test_the_check_catches_an_unread_field() -> None:
    """The detector itself, on a made-up model and source text: attribute and key reads count,
    a name that only appears inside another word or in a bare string does not."""
    class Inner(BaseModel):
        by_key_mw: float = 1.0
        in_word_s: float = 1.0

    class Probe(BaseModel):
        by_attr_mw: float = 1.0
        inner: Inner | None = None
        only_string: str = ""

    src = 'x = cfg.by_attr_mw\ny = doc["by_key_mw"]\nz = cfg.in_word_s_total\nw = "only_string"\n'
    assert unread_fields(Probe, src) == ["inner", "inner.in_word_s", "only_string"]


@pytest.mark.parametrize(("section", "field"), [
    ("smoothing", "record_every_s"),
    ("dynamics", "profile_ramp_s"),
    ("dynamics", "min_power_share"),
    ("dynamics", "profile_step_share"),
])
def test_removed_fields_are_refused_by_name(section: str, field: str) -> None:
    """The fields removed for having no effect are refused, never silently ignored."""
    doc = {"version": 1, "site": {"import_limit_mw": 100},
           "miners": [{"name": "a", "model": "Antminer S21", "count": 10}],
           "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
           "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"}}
    if section == "smoothing":
        doc["smoothing"] = {"ramp_up_mw_per_s": 1, "ramp_down_mw_per_s": 1, field: 1.0}
        where = f"smoothing.{field}"
    else:
        doc["miners"][0]["dynamics"] = {field: 0.5}
        where = f"miners.0.dynamics.{field}"
    with pytest.raises(ScenarioError, match=rf"x.yaml: invalid scenario: {re.escape(where)}: "):
        parse_scenario(doc, "x.yaml")
