"""Each scenario field the inputs cache key leaves out (``ballast.inputs.site.NOT_READ``) truly
leaves ``build_inputs``' output as it was: walk the scenario schema, take every field (at any
depth) that ``NOT_READ`` excludes, change it to another valid value and build the inputs again.
A field added to ``NOT_READ`` that the builder does read fails here, naming it.

Why a check and not a key derived from the fields the builder reads (as the loader records the
files it reads): the builder reads the scenario by plain attribute access in several modules
(``inputs/site.py``, ``inputs/coverage.py``, ``inputs/availability.py``, ``TrainingSwings.
from_spec``) and through the schema's own methods (``run.index()``, ``run.step``); pydantic has
no hook for reads, so recording them means handing the builder a proxy for every section, list
and method, whose reads inside the models' own methods go to the real object; and which fields
are read depends on their values (``markets.bitcoin.fees`` picks the sources, ``run.seed`` only
with noise), so each cache entry would have to carry its own read set. ``NOT_READ`` fails safe
(a field it does not name is in the key) and this walk checks the fields it does name."""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Literal

import pandas as pd
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ballast.inputs import build_inputs
from ballast.inputs.site import NOT_READ, inputs_key
from ballast.scenario import Scenario, ScenarioError, parse_scenario
from tests.conftest import BASE_SCENARIO
from tests.test_scenario_fields_read import schema_fields

# every optional section present, so each field under NOT_READ has a value to change
FULL: dict = copy.deepcopy(BASE_SCENARIO) | {
    "description": "a campus",
    "notes": ["a note"],
    "battery": {"power_mw": 50, "energy_mwh": 200},
    "costs": {
        "transmission_usd_per_kw_year": 50.0,
        "transmission_load_source": "bundled:ercot_system_hourly_2023_2024",
        "supply_contract": {"price_usd_per_mwh": 40.0, "volume_mw": 50.0},
    },
}
FULL["run"] = {"start": "2024-05-01T00:00:00Z", "end": "2024-05-03T00:00:00Z", "resolution": "15min"}
# the other branches of the builder: the diurnal shape with noise (reads the seed and the site's
# time zone), the flat fee share (reads the daily price file, not the network file)
NOISY = copy.deepcopy(FULL)
NOISY["ai"] |= {"profile": "diurnal_inference", "noise_share": 0.05}
NOISY["markets"]["bitcoin"] = {"fees": "share"}
BASES = {"flat, daily fees": FULL, "diurnal with noise, fee share": NOISY}

# values for the fields no generic change fits (a catalog name, a time zone)
VALUES: dict[str, Any] = {"miners.model": "Antminer S21 XP", "site.timezone": "America/New_York"}


def excluded(path: str, spec: Any = NOT_READ) -> bool:
    """True when ``model_dump(exclude=spec)`` drops the field at ``path`` (dotted, no indices)."""
    if spec is True:
        return True
    head, _, rest = path.partition(".")
    if isinstance(spec, set):
        return head in spec
    sub = spec.get(head)
    return sub is not None and (sub is True or (bool(rest) and excluded(rest, sub)))


def _field_infos() -> dict[str, FieldInfo]:
    infos: dict[str, FieldInfo] = {}

    def walk(model: type[BaseModel], at: str) -> None:
        for name, info in model.model_fields.items():
            infos[f"{at}{name}"] = info
            for sub in _models(info.annotation):
                walk(sub, f"{at}{name}.")

    walk(Scenario, "")
    return infos


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _literals(annotation: object) -> list[Any]:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [v for arg in typing.get_args(annotation) for v in _literals(arg)]
    return []


def _optional(annotation: object) -> bool:
    return type(None) in typing.get_args(annotation)


def _get(doc: Any, path: str) -> Any:
    for key in path.split("."):
        doc = doc[0] if isinstance(doc, list) else doc
        doc = doc[key]
    return doc


def _with(doc: dict, path: str, value: Any) -> dict:
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = out
    for key in parents:
        node = node[0] if isinstance(node, list) else node
        node = node[key]
    node = node[0] if isinstance(node, list) else node
    node[last] = value
    return out


def candidates(path: str, info: FieldInfo, current: Any) -> list[Any]:
    """Other values for the field, most likely valid first."""
    if path in VALUES:
        return [VALUES[path]]
    literals = [v for v in _literals(info.annotation) if v != current]
    out: list[Any]
    if literals:
        out = literals
    elif isinstance(current, bool):
        out = [not current]
    elif isinstance(current, int):
        out = [current + 1, current * 2, max(current - 1, 0), 1]
    elif isinstance(current, float):
        out = [current * 1.5 + 0.25, current / 2, current + 1.0, 0.5, 0.0, 1.0]
    elif isinstance(current, str):
        out = [f"{current} other", "other"]
    elif isinstance(current, list):
        out = [current[:1], current + current[:1], []] if current else [["x"]]
    else:
        out = []
    return out + ([None] if _optional(info.annotation) and current is not None else [])


def changed_doc(base: dict, path: str, info: FieldInfo) -> dict | None:
    """``base`` with the field at ``path`` changed to the first candidate the schema accepts
    (and keeps changed); None when none does."""
    before = parse_scenario(base).model_dump(mode="json")
    for value in candidates(path, info, _get(before, path)):
        doc = _with(before, path, value)
        try:
            after = parse_scenario(doc).model_dump(mode="json")
        except ScenarioError:
            continue
        if _get(after, path) != _get(before, path):
            return doc
    return None


def _single_valued(info: FieldInfo) -> bool:
    return len(_literals(info.annotation)) == 1 and not _optional(info.annotation)


INFOS = _field_infos()
# the fields NOT_READ leaves out, less those whose type is a single Literal (no other value is
# valid, so no run can differ in one: costs.supply_contract.settlement)
LEFT_OUT = [p for p, _ in schema_fields(Scenario) if excluded(p) and not _single_valued(INFOS[p])]


def test_the_walk_finds_the_left_out_sections_and_fields():
    assert {"name", "miners.dynamics.sleep_s", "battery.power_mw", "control.import_margin_mw",
            "costs.supply_contract.volume_mw", "site.import_limit_mw",
            "markets.export_price_share"} <= set(LEFT_OUT)
    assert not {"site.timezone", "markets.price.source", "run.seed", "ai.pue"} & set(LEFT_OUT)


def _inputs(doc: dict) -> tuple[pd.DataFrame, tuple[str, ...]]:
    built = build_inputs(parse_scenario(doc))
    return built.frame, built.renewable_columns


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("path", LEFT_OUT)
def test_a_field_left_out_of_the_inputs_key_does_not_change_the_inputs(path, base):
    info = INFOS[path]
    doc = BASES[base]
    other = changed_doc(doc, path, info)
    if other is None and _models(info.annotation) and not _optional(info.annotation):
        return  # a section that must be there: its fields are walked one by one
    assert other is not None, f"no valid change of {path}: give it a value in VALUES"
    assert inputs_key(parse_scenario(other), None) == inputs_key(parse_scenario(doc), None)
    frame, renewables = _inputs(doc)
    other_frame, other_renewables = _inputs(other)
    assert other_renewables == renewables
    pd.testing.assert_frame_equal(other_frame, frame, check_exact=True)


@pytest.mark.parametrize(("path", "base"), [("ai.it_load_mw", "flat, daily fees"),
                                            ("site.timezone", "diurnal with noise, fee share"),
                                            ("run.seed", "diurnal with noise, fee share")])
def test_the_walk_sees_a_field_the_builder_reads(path, base):
    # the same change of a field in the key moves the inputs: were it in NOT_READ, the test
    # above would fail for it
    other = changed_doc(BASES[base], path, INFOS[path])
    assert other is not None
    assert not _inputs(other)[0].equals(_inputs(BASES[base])[0])
