"""Render the scenario reference (docs/scenario.md) from the pydantic models: one table of
fields with units and defaults drives both validation and documentation. ``render_reference``
does the same for any document model (the sweep document: ``ballast.sweep.docs``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ballast.documents import DOCUMENT_RULES
from ballast.scenario import Scenario


def _type_name(annotation: object) -> str:
    if get_origin(annotation) is Annotated:
        return _type_name(get_args(annotation)[0])
    if annotation is Any:
        return "any value"
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{a}`" for a in get_args(annotation))
    args = get_args(annotation)
    if args and get_origin(annotation) is not Literal:
        inner = " or ".join(_type_name(a) for a in args if a is not type(None))
        base = getattr(get_origin(annotation), "__name__", "")
        if base == "dict":
            return f"mapping of name to {_type_name(args[1])}"
        if base == "list":
            return f"list of {inner}"
        if base == "tuple":
            return "[" + ", ".join(_type_name(a) for a in args) + "]"
        return f"{inner} (optional)" if type(None) in args else inner
    return getattr(annotation, "__name__", None) or str(annotation)


def _default(field) -> str:
    if field.default is not PydanticUndefined:
        return "" if field.default is None else f"`{field.default}`"
    if field.default_factory is not None:
        value = field.default_factory()
        return {"[]": "`[]`", "{}": "`{}`"}.get(str(value), "defaults below")
    return "**required**"


def _walk(model: type[BaseModel], prefix: str, seen: list) -> None:
    rows = []
    nested = []
    for name, field in model.model_fields.items():
        rows.append(f"| `{prefix}{name}` | {_type_name(field.annotation)} | {_default(field)} | "
                    f"{(field.description or '').replace('|', '/')} |")
        inner = [a for arg in get_args(field.annotation) for a in get_args(arg)]
        for arg in (*get_args(field.annotation), *inner, field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                text = str(field.annotation)
                suffix = "[]" if "list" in text else ".PATH" if "dict" in text else ""
                nested.append((arg, f"{prefix}{name}{suffix}."))
    seen.append((prefix.rstrip(".") or "(top level)", model.__doc__ or "", rows))
    for sub, sub_prefix in nested:
        _walk(sub, sub_prefix, seen)


def render_reference(model: type[BaseModel], title: str, intro: str) -> str:
    """Markdown reference of a document model: one table per section."""
    sections: list = []
    _walk(model, "", sections)
    out = [f"# {title}", "", intro, ""]
    for name, doc, rows in sections:
        out += [f"## `{name}`", "", " ".join(doc.split()), "",
                "| field | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    return "\n".join(out)


def render_markdown() -> str:
    return render_reference(
        Scenario, "Scenario reference (version 1)",
        "Generated from `src/ballast/scenario.py` by `python -m ballast.scenario_docs`; "
        "do not edit by hand. Units are in the field names and descriptions. " + DOCUMENT_RULES)


if __name__ == "__main__":
    print(render_markdown())
