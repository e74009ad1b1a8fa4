"""Reading validated YAML documents (scenario, site config) with errors that name the file and
the field path, and the pieces every document model shares (strict base model, time zones)."""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

# A scenario or site config is a few kB; 1 MB bounds the memory of parsing it (and with it the
# length of every list and string in it) far above any real document.
MAX_DOCUMENT_BYTES = 1_000_000
# Anchors and aliases (&a / *a) may repeat a subtree; a few lines can expand to billions of
# values ("billion laughs"). A 1 MB document holds well under a million values without them.
MAX_DOCUMENT_VALUES = 1_000_000
DOCUMENT_RULES = ("Every number must be finite (`.inf` and `.nan` are refused), a key may appear "
                  "only once in a mapping, and the file may be at most 1 MB.")


class StrictModel(BaseModel):
    """Base of every document section: unknown fields are refused, values are frozen, and every
    float is finite (``.inf``, ``.nan`` and 1e400 are refused once, here, for the whole schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _known_time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                         "America/Chicago or UTC)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]


def format_validation_errors(path: str, kind: str, exc: ValidationError) -> str:
    """``PATH: invalid KIND: field.path: reason`` for one problem; for several, a header line
    ``PATH: invalid KIND (N problems)`` then one ``- field.path: reason`` line each."""
    items = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        items.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return format_problems(path, kind, items)


def format_problems(path: str, kind: str, items: list[str]) -> str:
    """``PATH: invalid KIND: item`` for one ``field: reason`` item; for several, a header line
    then one ``- item`` line each (the layout of ``format_validation_errors``)."""
    if len(items) == 1:
        return f"{path}: invalid {kind}: {items[0]}"
    return "\n".join([f"{path}: invalid {kind} ({len(items)} problems)",
                      *(f"  - {item}" for item in items)])


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (YAML leaves it to the
    loader; PyYAML keeps the last one silently). Merge keys (``<<``) may still be overridden."""

    def construct_mapping(self, node, deep=False):
        first_line: dict[object, int] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    line = first_line.get(key)
                except TypeError:  # unhashable key: the base constructor reports it
                    continue
                if line is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given on line {line})",
                        key_node.start_mark)
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where (line, column) and what."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return " ".join(str(exc).split())


def _expanded_values(node: object, memo: dict[int, int]) -> int:
    """How many values ``node`` holds once every alias is expanded (shared subtrees counted
    each time they are used, computed once each)."""
    if not isinstance(node, dict | list):
        return 1
    if id(node) not in memo:
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        memo[id(node)] = 1 + sum(_expanded_values(child, memo) for child in children)
    return memo[id(node)]


def read_yaml(path: Path, error: type[ValueError]) -> object:
    """Parse a YAML file, raising ``error`` with one line naming the file and the problem when
    it is missing, not a regular file, too large, not UTF-8 text, malformed or repeats a key."""
    if not path.exists():
        raise error(f"{path}: file not found")
    if not path.is_file():
        raise error(f"{path}: not a file (a {'directory' if path.is_dir() else 'special file'}); "
                    "give a YAML file")
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise error(f"{path}: {size:,} bytes, above the {MAX_DOCUMENT_BYTES:,}-byte limit for a "
                    "YAML document; is this the right file?")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a text file (byte {exc.start} is not UTF-8); "
                    "give a YAML file") from None
    if "\x00" in text:
        raise error(f"{path}: not a text file (contains NUL bytes); give a YAML file")
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
        values = _expanded_values(doc, {})
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML at {_yaml_problem(exc)}") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be a YAML document") from None
    if values > MAX_DOCUMENT_VALUES:
        raise error(f"{path}: its aliases expand to {values:,} values, more than the "
                    f"{MAX_DOCUMENT_VALUES:,} a YAML document may hold")
    return doc
