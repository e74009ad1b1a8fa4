"""The sweep document: a base scenario and the scenario fields to vary (version 1).

A sweep varies scenario fields named by path: ``site.import_limit_mw``, ``miners[s21].count``
(a list item by its ``name``) or ``miners[0].count`` (by position). Three ways to vary them:

- ``grid``: every combination of the listed values;
- ``samples``: N seeded random draws from ranges (and/or lists of choices);
- ``cases``: named whole-scenario overrides (alone, or crossed with a grid or samples).

``load_sweep`` validates the document, then builds every run's scenario document and validates
it with the scenario model itself (one validation path), so an unknown field or a wrong type
fails before anything runs, naming the field.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ballast.documents import format_validation_errors, read_yaml
from ballast.examples import examples_dir, find_example
from ballast.scenario import Scenario, ScenarioError, load_scenario

SWEEP_VERSION = 1
MAX_RUNS = 100_000
_SEGMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<sel>[^\[\]]+)\])?$")


class SweepError(ValueError):
    """A sweep document that cannot be run; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """A uniform range to sample from."""

    low: float = Field(description="Lower bound (inclusive), in the field's unit.")
    high: float = Field(description="Upper bound (inclusive for integer ranges), in the field's unit.")
    integer: bool = Field(False, description="Draw whole numbers (counts). Default false.")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be above low ({self.low})")
        return self


class Samples(_Strict):
    """N seeded random samples: each run draws every listed field independently."""

    n: int = Field(gt=0, le=MAX_RUNS, description="Number of samples [-].")
    ranges: dict[str, Range] = Field(default_factory=dict, description="Field path -> uniform range.")
    choices: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=dict, description="Field path -> values drawn with equal probability.")

    @model_validator(mode="after")
    def _something(self) -> Samples:
        if not self.ranges and not self.choices:
            raise ValueError("give at least one field under ranges or choices")
        both = sorted(set(self.ranges) & set(self.choices))
        if both:
            raise ValueError(f"fields both in ranges and choices: {both}")
        return self


class Case(_Strict):
    """A named whole-scenario override."""

    name: str = Field(description="Case name (unique); a column of runs.parquet.")
    set: dict[str, Any] = Field(default_factory=dict, description="Field path -> value.")
    override: dict[str, Any] = Field(default_factory=dict, description="Partial scenario document merged into the base (mappings merge, lists and values replace).")


class ReportSpec(_Strict):
    """What the sweep report plots."""

    kpi: str = Field("net_margin_usd", description="Column for the distribution and the tornado. Default net_margin_usd (Ballast's run).")
    scatter: tuple[str, str] | None = Field(None, description="Two columns for the scatter [x, y]. Default the first varied field against kpi.")


class Sweep(_Strict):
    """A sweep: the base scenario and what to vary. ``version`` must be 1."""

    version: int = Field(description="Sweep schema version; must be 1.")
    name: str = Field("sweep", description="Sweep name, for reports.")
    description: str = Field("", description="Free text.")
    base: str = Field(description="Base scenario: a bundled example name (west_texas_2024) or a path relative to the sweep file.")
    seed: int = Field(0, ge=0, description="Sweep seed: drives the samples and each run's run.seed. Default 0.")
    seeds: Literal["per_run", "base"] = Field("per_run", description="per_run: each run's run.seed is spawned from the sweep seed and the run's index (numpy SeedSequence); base: every run keeps the base scenario's seed (common random numbers). Default per_run.")
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] | None = Field(None, description="Field path -> list of values; every combination runs.")
    samples: Samples | None = Field(None, description="Seeded random samples from ranges.")
    cases: list[Case] | None = Field(None, description="Whole-scenario overrides; crossed with grid or samples when given.")
    batch_size: int | None = Field(None, gt=0, le=10_000, description="Runs per Dask task (equal batches). Default: batches that shrink towards the end, at most 16 runs each.")
    report: ReportSpec = Field(default_factory=ReportSpec, description="Report settings.")

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != SWEEP_VERSION:
            raise ValueError(f"unsupported sweep version {value}; this Ballast reads version {SWEEP_VERSION}")
        return value

    @model_validator(mode="after")
    def _one_design(self) -> Sweep:
        if self.grid is not None and self.samples is not None:
            raise ValueError("give grid or samples, not both (cases may be combined with either)")
        if self.grid is None and self.samples is None and not self.cases:
            raise ValueError("nothing to vary: give grid, samples or cases")
        if self.grid is not None and not self.grid:
            raise ValueError("grid: give at least one field")
        names = [c.name for c in self.cases or ()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cases: duplicate names {dupes}")
        return self


# --- field paths ------------------------------------------------------------------------------

def _segments(path: str) -> list[tuple[str, str | None]]:
    parts = []
    for seg in path.split("."):
        m = _SEGMENT.match(seg)
        if m is None:
            raise KeyError(f"'{path}': '{seg}' is not a field name (use e.g. site.import_limit_mw "
                           "or miners[s21].count)")
        parts.append((m["key"], m["sel"]))
    return parts


def _select(items: list, sel: str, where: str) -> int:
    if sel.lstrip("-").isdigit():
        i = int(sel)
        if not 0 <= i < len(items):
            raise KeyError(f"'{where}': index {i} out of range ({len(items)} item(s))")
        return i
    names = [it.get("name") if isinstance(it, dict) else None for it in items]
    if sel not in names:
        raise KeyError(f"'{where}': no item named {sel!r}; known: {[n for n in names if n]}")
    return names.index(sel)


def set_path(doc: dict, path: str, value: Any) -> None:
    """Set a field of a scenario document (in place); missing sections are created, so the
    scenario model reports what else they need."""
    node: Any = doc
    segs = _segments(path)
    for depth, (key, sel) in enumerate(segs):
        last = depth == len(segs) - 1
        where = ".".join(f"{k}[{s}]" if s else k for k, s in segs[:depth + 1])
        if not isinstance(node, dict):
            raise KeyError(f"'{path}': '{where.rsplit('.', 1)[0]}' is a value, not a section")
        if sel is None:
            if last:
                node[key] = value
                return
            if node.get(key) is None:
                node[key] = {}
            node = node[key]
            continue
        items = node.get(key)
        if not isinstance(items, list):
            raise KeyError(f"'{path}': '{key}' is not a list in the base scenario")
        i = _select(items, sel, where)
        if last:
            items[i] = value
            return
        node = items[i]


def get_path(doc: dict, path: str) -> Any:
    """Read a field of a (validated, JSON-mode) scenario document."""
    node: Any = doc
    for key, sel in _segments(path):
        node = node[key]
        if sel is not None:
            node = node[_select(node, sel, path)]
    return node


def merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key; lists and values replace."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _flatten(doc: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


# --- the plan ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    """One run: its index in the sweep, the varied values, the full scenario document."""

    index: int
    run_id: str  # hash of the scenario document: resume matches runs by it
    params: dict[str, Any]
    scenario: dict


@dataclass(frozen=True)
class SweepPlan:
    sweep: Sweep
    path: Path
    base_path: Path
    base_dir: Path  # relative data paths of the base scenario resolve from here
    runs: list[RunSpec]
    param_columns: list[str]
    base_doc: dict  # the base scenario document (JSON mode)
    fingerprint: str = field(default="")


def run_seed(sweep_seed: int, index: int) -> int:
    """Run seed: child ``index`` of the sweep seed's run stream (SeedSequence spawn keys)."""
    runs = np.random.SeedSequence(sweep_seed).spawn(2)[1]  # [0]: samples, [1]: runs
    child = np.random.SeedSequence(runs.entropy, spawn_key=(*runs.spawn_key, index))
    return int(child.generate_state(1, dtype=np.uint32)[0])


def _designs(sweep: Sweep) -> list[dict[str, Any]]:
    """The grid points or samples: list of {path: value} (one empty dict when neither)."""
    if sweep.grid is not None:
        keys = list(sweep.grid)
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(sweep.grid[k] for k in keys))]
    if sweep.samples is not None:
        s = sweep.samples
        rng = np.random.default_rng(np.random.SeedSequence(sweep.seed).spawn(2)[0])
        cols: dict[str, list] = {}
        for path, r in s.ranges.items():
            if r.integer:
                cols[path] = [int(v) for v in rng.integers(int(np.ceil(r.low)),
                                                           int(np.floor(r.high)) + 1, s.n)]
            else:
                cols[path] = [float(v) for v in rng.uniform(r.low, r.high, s.n)]
        for path, values in s.choices.items():
            cols[path] = [values[int(i)] for i in rng.integers(0, len(values), s.n)]
        return [{p: cols[p][i] for p in cols} for i in range(s.n)]
    return [{}]


def _fail(where: str, exc: ValidationError | str) -> SweepError:
    if isinstance(exc, ValidationError):
        return SweepError(format_validation_errors(where, "scenario", exc))
    return SweepError(f"{where}: {exc}")


def expand(sweep: Sweep, path: Path, base_doc: dict, base_path: Path) -> SweepPlan:
    """Every run's scenario document, each validated by the scenario model."""
    designs = _designs(sweep)
    cases = sweep.cases or [None]
    total = len(designs) * len(cases)
    if total > MAX_RUNS:
        raise SweepError(f"{path}: {total} runs; at most {MAX_RUNS} per sweep")
    varied = list(designs[0])
    case_paths: list[str] = []
    for case in sweep.cases or ():
        for p in [*case.set, *_flatten(case.override)]:
            if p not in case_paths and p not in varied:
                case_paths.append(p)
    seed_col = [] if "run.seed" in varied + case_paths else ["run.seed"]
    param_columns = (["case"] if sweep.cases else []) + varied + case_paths + seed_col
    runs = []
    for index, (case, design) in enumerate(itertools.product(cases, designs)):
        doc = copy.deepcopy(base_doc)
        if sweep.seeds == "per_run":
            doc["run"]["seed"] = run_seed(sweep.seed, index)
        label = f"{path}: run {index}"
        try:
            if case is not None:
                label += f" (case {case.name!r})"
                doc = merge(doc, case.override)
                for p, v in case.set.items():
                    set_path(doc, p, v)
            for p, v in design.items():
                set_path(doc, p, v)
        except KeyError as exc:
            raise _fail(label, exc.args[0]) from None
        if design:
            label += " [" + ", ".join(f"{p}={v!r}" for p, v in design.items()) + "]"
        try:
            scn = Scenario.model_validate(doc)
        except ValidationError as exc:
            raise _fail(label, exc) from None
        final = scn.model_dump(mode="json")
        params: dict[str, Any] = {"case": case.name} if case is not None else {}
        flat_case = _flatten(case.override) if case is not None else {}
        for p in param_columns[len(params):]:
            if p in design or (case is not None and p in case.set) or p == "run.seed":
                params[p] = get_path(final, p)
            elif p in flat_case:
                params[p] = flat_case[p]
            else:
                params[p] = None
        params = {k: (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in params.items()}
        blob = json.dumps(final, sort_keys=True)
        runs.append(RunSpec(index, hashlib.sha256(blob.encode()).hexdigest()[:16], params, final))
    digest = hashlib.sha256("".join(r.run_id for r in runs).encode()).hexdigest()[:16]
    return SweepPlan(sweep, path, base_path, base_path.parent.resolve(), runs, param_columns,
                     base_doc, digest)


def parse_sweep(data: object, path: str = "<sweep>") -> Sweep:
    if not isinstance(data, dict):
        raise SweepError(f"{path}: the document must be a mapping of fields, got {type(data).__name__}")
    try:
        return Sweep.model_validate(data)
    except ValidationError as exc:
        raise SweepError(format_validation_errors(path, "sweep", exc)) from None


def find_sweep(name: str) -> Path | None:
    """A bundled example sweep by stem (examples/sweeps/NAME.yaml), or None for a path."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return None
    candidate = examples_dir() / "sweeps" / f"{name}.yaml"
    return candidate if candidate.exists() else None


def base_scenario_path(sweep: Sweep, sweep_path: Path) -> Path:
    """A bundled example by name, else a path relative to the sweep file."""
    found = find_example(sweep.base)
    if found is not None:
        return found
    candidate = Path(sweep.base)
    return candidate if candidate.is_absolute() else sweep_path.parent / candidate


def load_sweep(path: str | Path) -> SweepPlan:
    """Read, validate and expand a sweep document; every run's scenario is validated."""
    path = Path(path)
    sweep = parse_sweep(read_yaml(path, SweepError), str(path))
    base_path = base_scenario_path(sweep, path)
    try:
        base = load_scenario(base_path)
    except ScenarioError as exc:
        raise SweepError(f"{path}: base scenario {sweep.base!r}: {exc}") from None
    return expand(sweep, path, base.model_dump(mode="json"), base_path)
