"""Bundled example scenarios (shipped inside the package, mirrored in the repo's examples/)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def examples_dir() -> Path:
    """Folder of bundled examples: the repo's examples/ in a checkout, else the package copy."""
    repo = Path(__file__).resolve().parents[2] / "examples"
    if repo.is_dir():
        return repo
    return Path(str(resources.files("ballast") / "examples"))


def bundled_examples() -> list[Path]:
    return sorted(examples_dir().glob("*.yaml"))


def find_example(name: str) -> Path | None:
    """A bundled example by stem (``west_texas_2024``), or None when ``name`` is a path."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return None
    candidate = examples_dir() / f"{name}.yaml"
    return candidate if candidate.exists() else None
