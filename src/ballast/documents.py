"""Reading validated YAML documents (scenario, site config) with errors that name the file and
the field path."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError


def format_validation_errors(path: str, kind: str, exc: ValidationError) -> str:
    """``PATH: invalid KIND (N problem(s))`` then one ``- field.path: reason`` line each."""
    lines = [f"{path}: invalid {kind} ({exc.error_count()} problem(s))"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        lines.append(f"  - {loc}: {err['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def read_yaml(path: Path, error: type[ValueError]) -> object:
    """Parse a YAML file, raising ``error`` naming the file when it is missing or malformed."""
    if not path.exists():
        raise error(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
