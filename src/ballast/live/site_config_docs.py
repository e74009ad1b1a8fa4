"""Render the site config reference (docs/site_config.md) from the pydantic models, like the
scenario reference: ``python -m ballast.live.site_config_docs > docs/site_config.md``."""

from __future__ import annotations

from ballast.documents import DOCUMENT_RULES
from ballast.live.site_config import SiteConfig
from ballast.scenario_docs import _walk


def render_markdown() -> str:
    sections: list = []
    _walk(SiteConfig, "", sections)
    out = ["# Site config reference (`ballast serve --config site.yaml`)", "",
           "Generated from `src/ballast/live/site_config.py` by "
           "`python -m ballast.live.site_config_docs`; do not edit by hand. Relative paths "
           "resolve against the config file's folder. Example: "
           "`src/ballast/examples/live/site.yaml`. " + DOCUMENT_RULES, ""]
    for title, doc, rows in sections:
        if title == "(top level)":
            rows = [r for r in rows if not r.startswith("| `base_dir`")]  # set by the loader
        out += [f"## `{title}`", "", " ".join(doc.split()), "",
                "| field | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown())
