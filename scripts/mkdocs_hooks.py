"""MkDocs hook (mkdocs.yml ``hooks:``): make source citations in generated pages clickable.

Code comments and field descriptions cite ``docs/sources.md#anchor`` (and
``docs/design.md#anchor``) as plain text (they are read
in an editor too); the scenario and site-config references are generated from those
descriptions. On the site each such citation becomes a link, so the strict build also checks
that the anchor exists. Citations inside inline code (a backtick before them) stay as they are.
"""

from __future__ import annotations

import posixpath
import re

CITATION = re.compile(r"(?<![`\[(/\w])docs/(sources|design)\.md#([a-z0-9-]+)")


def on_page_markdown(markdown: str, page, **_) -> str:
    """Replace ``docs/PAGE.md#anchor`` with a relative link to that anchor."""
    here = posixpath.dirname(page.file.src_uri) or "."

    def link(m: re.Match) -> str:
        return f"[{m[1]}#{m[2]}]({posixpath.relpath(m[1] + '.md', here)}#{m[2]})"

    return CITATION.sub(link, markdown)
