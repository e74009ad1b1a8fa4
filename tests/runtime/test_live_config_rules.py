"""Site config validation, and the runtime's obligation/protection rules with injected times."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ballast.examples import examples_dir
from ballast.live.obligations import (
    DrBook,
    DrEvent,
    meter_stale,
    ufr_may_restore,
    ufr_should_trip,
)
from ballast.live.runtime import scaled_controller_config
from ballast.live.site_config import SiteConfigError, expand_ips, load_site_config
from ballast.programs.dr import DrRequest, dr_cap, dr_reduction_mw
from ballast.scenario import load_scenario

EXAMPLE = examples_dir() / "live" / "site.yaml"


def test_example_site_config_matches_its_scenario(monkeypatch):
    site = load_site_config(EXAMPLE)
    scen = load_scenario(site.path(site.scenario))
    counts = {m.group: len(m.addresses()) for m in site.miners}
    assert counts == {g.name: g.count for g in scen.miners}
    cfg = scaled_controller_config(scen, site)
    assert list(cfg.groups.count) == [counts[n] for n in cfg.groups.names]
    monkeypatch.setenv("BALLAST_OPERATOR_TOKEN", "s3cret-token")
    assert site.api.tokens[0].secret() == "s3cret-token"
    monkeypatch.delenv("BALLAST_VIEWER_TOKEN", raising=False)
    with pytest.raises(SiteConfigError, match="BALLAST_VIEWER_TOKEN is unset"):
        site.api.tokens[1].secret()


@pytest.mark.parametrize(("content", "reason"), [
    (None, "cannot read token file"),  # missing
    (b"", "is unset or empty"),
    (b"\n", "is unset or empty"),
    (b"short\n", "must have 8-512 characters, it has 5"),
    (b"\xff\xfe-not-utf8-token", "not UTF-8"),
    (b"two tokens\n", "whitespace inside the token"),
    (b"x" * 5000, "larger than 4096 bytes"),
    ("dir", "cannot read token file"),  # a directory
])
def test_token_file_errors_name_the_token_and_the_file(tmp_path, content, reason):
    path = tmp_path / "secrets" / "viewer.token"
    if content == "dir":
        path.mkdir(parents=True)
    elif content is not None:
        path.parent.mkdir()
        path.write_bytes(content)
    (tmp_path / "site.yaml").write_text(yaml.safe_dump({"scenario": "x.yaml", "api": {
        "tokens": [{"name": "wall", "role": "viewer", "token_file": "secrets/viewer.token"}]}}))
    site = load_site_config(tmp_path / "site.yaml")
    with pytest.raises(SiteConfigError) as e:
        site.api_secrets()
    assert reason in str(e.value) and "api.tokens[wall]" in str(e.value)
    assert str(path) in str(e.value)


def test_token_file_is_read_relative_to_the_site_config(tmp_path):
    (tmp_path / "viewer.token").write_text("file-token-123\n")
    (tmp_path / "site.yaml").write_text(yaml.safe_dump({"scenario": "x.yaml", "api": {"tokens": [
        {"name": "wall", "role": "viewer", "token_file": "viewer.token"},
        {"name": "ops", "role": "operator", "token": "inline-token-1"}]}}))
    secrets = load_site_config(tmp_path / "site.yaml").api_secrets()
    assert {s: c.name for s, c in secrets.items()} == {"file-token-123": "wall",
                                                       "inline-token-1": "ops"}
    (tmp_path / "site.yaml").write_text(yaml.safe_dump({"scenario": "x.yaml", "api": {"tokens": [
        {"name": "wall", "role": "viewer", "token_file": "viewer.token"},
        {"name": "ops", "role": "operator", "token": "file-token-123"}]}}))
    with pytest.raises(SiteConfigError, match="wall and ops share one token"):
        load_site_config(tmp_path / "site.yaml").api_secrets()


@pytest.mark.parametrize(("patch", "field", "reason"), [
    ({"tick_s": 0}, "tick_s", "greater than 0"),
    ({"ufr": {"trip_hz": 61}}, "ufr.trip_hz", "less than 60"),
    ({"miners": [{"group": "s21", "ips": ["10.0.0.9-10.0.0.1"]}]}, "miners.0.ips",
     "runs backwards"),
    ({"miners": [{"group": "s21", "ips": ["10.0.0.300"]}]}, "miners.0.ips", "Octet 300"),
    ({"miners": [{"group": "a", "ips": ["10.0.0.1"]}, {"group": "b", "ips": ["10.0.0.1"]}]},
     "(document)", "10.0.0.1 is in both a and b"),
    ({"api": {"tokens": [{"name": "x", "role": "admin", "token": "12345678"}]}},
     "api.tokens.0.role", "'viewer' or 'operator'"),
    ({"api": {"tokens": [{"name": "x", "role": "viewer"}]}}, "api.tokens.0",
     "exactly one of token, token_env or token_file"),
    ({"api": {"tokens": [{"name": "x", "role": "viewer", "token": "12345678",
                          "token_file": "t"}]}}, "api.tokens.0",
     "exactly one of token, token_env or token_file"),
    ({"api": {"tokens": [{"name": "x", "role": "viewer", "token_file": ""}]}},
     "api.tokens.0.token_file", "at least 1"),
    ({"api": {"tokens": [{"name": "x", "role": "viewer", "token_env": "A B"}]}},
     "api.tokens.0.token_env", "pattern"),
    ({"api": {"tokens": [{"name": "x", "role": "viewer", "token_file": 5}]}},
     "api.tokens.0.token_file", "valid string"),
    ({"api": {"docs": "maybe"}}, "api.docs", "valid boolean"),
    ({"api": {"tokens": [{"name": "x", "role": "viewer", "token": "short"}]}},
     "api.tokens.0.token", "at least 8"),
    ({"surprise": 1}, "surprise", "Extra inputs"),
])
def test_bad_site_config_names_file_field_and_reason(tmp_path, patch, field, reason):
    doc = {"scenario": "x.yaml", **patch}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SiteConfigError) as exc:
        load_site_config(path)
    msg = str(exc.value)
    assert str(path) in msg and f"invalid site config: {field}: " in msg and reason in msg, msg
    assert "\n" not in msg  # one problem, one line


def test_unknown_group_is_named(tmp_path):
    site_path = tmp_path / "site.yaml"
    site_path.write_text(yaml.safe_dump({"scenario": str(EXAMPLE.parent.parent /
                                                         "west_texas_2024.yaml"),
                                         "miners": [{"group": "s9", "ips": ["10.0.0.1"]}]}))
    site = load_site_config(site_path)
    with pytest.raises(ValueError, match=r"group\(s\) \['s9'\] are not in the scenario"):
        scaled_controller_config(load_scenario(site.path(site.scenario)), site)


def test_expand_ips():
    assert expand_ips("10.0.0.254-10.0.1.1") == ["10.0.0.254", "10.0.0.255", "10.0.1.0",
                                                  "10.0.1.1"]
    assert expand_ips(" 127.0.0.2 ") == ["127.0.0.2"]


@pytest.mark.parametrize(("now_s", "last_ok_s", "stale"), [
    (100.0, None, True),  # never read
    (100.0, 99.0, False),
    (100.0, 97.0, False),  # exactly the limit is still fresh
    (100.0, 96.9, True),
])
def test_watchdog_staleness(now_s, last_ok_s, stale):
    assert meter_stale(now_s, last_ok_s, 3.0) is stale


@pytest.mark.parametrize(("hz", "trip"), [(59.71, False), (59.70, False), (59.699, True),
                                          (58.0, True), (60.0, False)])
def test_ufr_trips_strictly_below_threshold(hz, trip):
    assert ufr_should_trip(hz, 59.70) is trip


@pytest.mark.parametrize(("now_s", "above_since_s", "ok"), [
    (100.0, None, False), (100.0, 50.0, False), (100.0, 40.0, True)])
def test_ufr_restore_needs_the_hold_time(now_s, above_since_s, ok):
    assert ufr_may_restore(now_s, above_since_s, 60.0) is ok


@pytest.mark.parametrize(("event", "baseline_import", "reduction"), [
    (DrEvent("a", 0, 10, reduction_mw=30.0), 200.0, 30.0),
    (DrEvent("b", 0, 10, reduction_share=0.1), 200.0, 20.0),
    (DrEvent("c", 0, 10, reduction_share=0.1), -50.0, 0.0),  # exporting: nothing to reduce
])
def test_dr_reduction(event, baseline_import, reduction):
    assert dr_reduction_mw(event.request, baseline_import) == pytest.approx(reduction)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "give exactly one of reduction_mw or reduction_share"),
    ({"reduction_mw": 1.0, "reduction_share": 0.5}, "give exactly one"),
    ({"reduction_share": 1.5}, "reduction_share must be in (0, 1]"),
    ({"reduction_mw": -2.0}, "reduction_mw must be > 0"),
])
def test_live_dr_event_is_validated_by_the_one_dr_request(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DrEvent("a", 0.0, 10.0, **kwargs)


def test_live_dr_book_cap_is_the_one_dr_cap():
    """The runtime's DR book latches the metered import and miner power and caps the miners
    exactly as programs/dr.py does for the backtest (same request, same numbers)."""
    book = DrBook()
    book.events["a"] = DrEvent("a", 0.0, 10.0, reduction_share=0.25)
    cap, (doc,), _ = book.cap(1.0, 120.0, 40.0)
    expect = dr_cap(DrRequest(reduction_share=0.25), 120.0, 40.0)
    assert cap == expect.cap_mw == pytest.approx(10.0)  # 120 MW - 30 MW target; AI 80 MW
    assert doc["target_import_mw"] == expect.target_import_mw == pytest.approx(90.0)
    # latched: a later import reading does not move the cap
    assert book.cap(5.0, 200.0, 10.0)[0] == pytest.approx(10.0)


@pytest.mark.parametrize(("now_s", "active"), [(-1, False), (0, True), (5, True), (10, False)])
def test_dr_window_and_cancel(now_s, active):
    ev = DrEvent("a", 0.0, 10.0, reduction_mw=1.0)
    assert ev.active(now_s) is active
    assert not DrEvent("a", 0.0, 10.0, 1.0, cancelled_s=-0.5).active(now_s)


@given(st.floats(0, 1000), st.floats(0, 500), st.floats(0.001, 1000))
def test_dr_cap_delivers_the_reduction_or_all_it_can(import_mw, miners_mw, reduction_mw):
    cap = dr_cap(DrRequest(reduction_mw=reduction_mw), import_mw, miners_mw).cap_mw
    assert 0.0 <= cap <= miners_mw
    # miners held at the cap reduce import by the ask, or by everything they had
    assert miners_mw - cap == pytest.approx(min(reduction_mw, miners_mw))


def test_site_config_reference_is_current_and_complete():
    from ballast.live.site_config_docs import render_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "site_config.md"
    text = render_markdown()
    assert doc.read_text().strip() == text.strip(), (
        "docs/site_config.md is stale: run "
        "`python -m ballast.live.site_config_docs > docs/site_config.md`")
    for line in text.splitlines():
        if line.startswith("| `"):
            assert not line.rstrip().endswith("|  |"), f"undocumented field: {line}"
