"""Bundled example scenarios and the example live site config, shipped inside the package.

Found through ``importlib.resources`` so they work the same from a checkout, an editable
install or a wheel. ``live/site.yaml`` is the example site config of ``ballast serve --config``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ballast.scenario import ScenarioError


def examples_dir() -> Path:
    """The folder of the bundled example scenarios (inside the installed package)."""
    root = resources.files(__name__)
    if not isinstance(root, Path):  # e.g. a zipped install: scenarios need real files
        raise RuntimeError(f"ballast's bundled examples are not on the file system ({root})")
    return root


def bundled_examples() -> list[Path]:
    """Every bundled example scenario, sorted by name."""
    return sorted(examples_dir().glob("*.yaml"))


def bundled_names() -> list[str]:
    """The names ``ballast simulate NAME`` accepts (file stems of the bundled examples)."""
    return [p.stem for p in bundled_examples()]


def find_example(name: str) -> Path | None:
    """A bundled example by stem (``west_texas_2024``), or None when ``name`` is a path."""
    if _looks_like_path(name):
        return None
    candidate = examples_dir() / f"{name}.yaml"
    return candidate if candidate.exists() else None


def scenario_path(name_or_path: str | Path) -> Path:
    """The scenario file for a bundled example name or a YAML path.

    Raises ``ScenarioError`` listing the bundled names when a bare name matches neither a
    bundled example nor a file.
    """
    text = str(name_or_path)
    found = None if isinstance(name_or_path, Path) else find_example(text)
    if found is not None:
        return found
    path = Path(text)
    if not _looks_like_path(text) and not path.exists():
        raise ScenarioError(f"{text!r}: no such scenario file and no bundled example of that "
                            f"name; bundled: {', '.join(bundled_names())}")
    return path


def _looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name
