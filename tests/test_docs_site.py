"""The docs site: it builds in strict mode, offline; its citations resolve; its worked example runs.

The builds run the real `mkdocs` (Material, mkdocstrings) on the repository's `mkdocs.yml`, as
`make docs` and CI do, into a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ballast.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Folders whose text files may cite a document (code comments, field descriptions, docs).
CITING = ("src", "docs", "tests", "scripts", "benchmarks", "examples", "README.md")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".txt", ".toml", ".js", ".html", ".css"}
# Files that write about the citation format rather than cite (examples of bad anchors, the hook).
NOT_CITING = {"tests/test_docs_site.py", "scripts/mkdocs_hooks.py"}
CITED_ANCHOR = re.compile(r"docs/(sources|design)\.md#([a-z0-9-]+)")


def _mkdocs(config: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site_dir)],
        cwd=config.parent, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


class _Assets(HTMLParser):
    """Every script src and link href of a page (what a browser fetches on load)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.fetched.append(a["src"] or "")
        if tag == "link" and a.get("href") and a.get("rel") not in ("canonical", "alternate"):
            self.fetched.append(a["href"] or "")
        if tag in ("img", "iframe") and a.get("src"):
            self.fetched.append(a["src"] or "")


def _citing_files() -> list[Path]:
    files: list[Path] = []
    for name in CITING:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
                      and "__pycache__" not in p.parts and ".egg-info" not in str(p)]
    return files


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = _mkdocs(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_strict_build_makes_every_page(site: Path) -> None:
    for page in ("index.html", "getting-started.html", "tutorials/own-site.html",
                 "tutorials/live.html", "tutorials/programs.html",
                 "tutorials/compare-policies.html", "scenario.html", "site_config.html",
                 "api.html", "sources.html", "design.html", "plan.html"):
        assert (site / page).is_file(), page
    # README sections included through snippets arrived (not the snippet markers).
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Ballast runs hybrid compute campuses" in index
    assert "--8&lt;--" not in index and "--8<--" not in index


def test_api_reference_is_generated_from_docstrings(site: Path) -> None:
    api = (site / "api.html").read_text(encoding="utf-8")
    import ballast.control
    import ballast.sim

    # Documented where they are defined (ballast.sim.engine.simulate), so that a name the package
    # re-exports has one primary page.
    for package in (ballast.sim, ballast.control):
        for name in package.__all__:
            assert re.search(rf'id="{package.__name__}(\.\w+)?\.{name}"', api), name
    for name in getattr(ballast, "__all__", []):  # the package's public names, when it has them
        if not name.startswith("__"):
            assert f'id="ballast.{name}"' in api, name
    # A docstring's text, not only its heading: hashprice formula of models.bitcoin.
    assert "Backtest Ballast and the baseline" in api


def test_built_site_fetches_nothing_from_the_network(site: Path) -> None:
    offenders = []
    for page in site.rglob("*.html"):
        parser = _Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        offenders += [f"{page.relative_to(site)}: {u}" for u in parser.fetched
                      if re.match(r"^(https?:)?//", u)]
    assert not offenders, "external assets in the built site:\n" + "\n".join(offenders)
    css = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*.css"))
    assert "fonts.googleapis.com" not in css and "fonts.gstatic.com" not in css


def test_every_cited_sources_or_design_anchor_exists(site: Path) -> None:
    ids = {page: set(re.findall(r'id="([^"]+)"', (site / f"{page}.html").read_text(encoding="utf-8")))
           for page in ("sources", "design")}
    cited: dict[tuple[str, str], list[str]] = {}
    for path in _citing_files():
        if str(path.relative_to(ROOT)) in NOT_CITING:
            continue
        for page, anchor in CITED_ANCHOR.findall(path.read_text(encoding="utf-8", errors="replace")):
            cited.setdefault((page, anchor), []).append(str(path.relative_to(ROOT)))
    assert any(page == "sources" for page, _ in cited), "nothing cites docs/sources.md#..."
    missing = {f"{p}#{a}": files for (p, a), files in cited.items() if a not in ids[p]}
    assert not missing, f"cited anchors missing from docs/sources.md or docs/design.md: {missing}"


def test_no_citation_of_a_file_the_repo_does_not_contain() -> None:
    hits = []
    for path in _citing_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for name in re.findall(r"\b(REFERENCE\.md|SOURCES\.md|DESIGN\.md)\b", line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {name}")
    assert not hits, "citations of files not in the repository:\n" + "\n".join(hits)


def test_a_broken_link_or_reference_fails_the_build(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    if (ROOT / "examples").is_dir():  # the example scenarios, wherever they live
        shutil.copytree(ROOT / "examples", project / "examples")
    shutil.copy(ROOT / "README.md", project / "README.md")
    (project / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "mkdocs_hooks.py", project / "scripts" / "mkdocs_hooks.py")
    (project / "docs" / "getting-started.md").write_text(
        "# Getting started\n\n[gone](no-such-page.md), [no anchor](sources.md#no-such-anchor), "
        "[no object][ballast.no_such_function], a field cites docs/sources.md#no-such-source\n",
        encoding="utf-8")
    done = _mkdocs(project / "mkdocs.yml", tmp_path / "site")
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert "no-such-page.md" in log
    assert "no-such-anchor" in log
    assert "ballast.no_such_function" in log
    assert "no-such-source" in log  # a plain-text citation is a checked link on the site


def test_own_site_worked_example_runs_as_the_tutorial_says(tmp_path: Path) -> None:
    scenario = DOCS / "examples" / "own-site" / "my_site.yaml"
    done = CliRunner().invoke(app, ["simulate", str(scenario), "--json"])
    assert done.exit_code == 0, done.output
    kpis = json.loads(done.stdout)["kpis"]
    assert kpis["import_limit_exceeded_intervals"]["ballast"] == 0
    tutorial = (DOCS / "tutorials" / "own-site.md").read_text(encoding="utf-8")
    quoted = re.search(r"\| `net_margin_usd` \| ([\d,]+) \| ([\d,]+) \|", tutorial)
    assert quoted, "the tutorial's KPI table lost its net_margin_usd row"
    assert round(kpis["net_margin_usd"]["ballast"]) == int(quoted[1].replace(",", ""))
    assert round(kpis["net_margin_usd"]["baseline"]) == int(quoted[2].replace(",", ""))


def test_own_site_bad_price_file_errors_as_the_tutorial_quotes(tmp_path: Path) -> None:
    src = DOCS / "examples" / "own-site"
    shutil.copy(src / "my_site.yaml", tmp_path / "my_site.yaml")
    rows = (src / "prices.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "prices.csv").write_text("\n".join(rows[:3] + rows[4:]) + "\n", encoding="utf-8")
    done = CliRunner().invoke(app, ["simulate", str(tmp_path / "my_site.yaml")])
    assert done.exit_code == 2
    message = " ".join(done.stderr.split())
    assert "markets.price (prices.csv) (column 'timestamp', row 3): gap or irregular step" in message


def test_own_site_python_example_writes_results_and_report(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(DOCS / "examples" / "own-site" / "run_my_site.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert "net_margin_usd" in printed and "btc_mined" in printed
    out = tmp_path / "out" / "my_site"
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis  # the KPI document, as the CLI writes it
    assert (out / "timeseries.parquet").stat().st_size > 0
    assert "<html" in (out / "report.html").read_text(encoding="utf-8")[:200].lower()
