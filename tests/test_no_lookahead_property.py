"""No look-ahead, as a property (issue 16 item 6): perturb one value of each source series at
a random instant s and check that no input column, and no controller decision, changes before
s plus that series' publication delay (``ballast.inputs.availability``).

The perturbation goes in through the loader's read (``ballast.data.loaders.read_table``), so
every path from file to decision is covered. The same walk with a delay removed
(``decision_delay: none``, ``price_delay_h: 0``) must catch the look-ahead: that shows the test
can fail.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballast.control import ControllerConfig
from ballast.data import loaders
from ballast.inputs import build_inputs
from ballast.inputs.availability import AVAILABILITY
from ballast.programs.fourcp import fourcp_alert_hourly
from ballast.scenario import parse_scenario
from ballast.sim.engine import run_policy

START, END = pd.Timestamp("2024-05-01T00:00Z"), pd.Timestamp("2024-05-05T00:00Z")
BTC_COLUMNS = (
    "btc_price_usd",
    "difficulty",
    "block_subsidy_btc",
    "fees_btc_per_block",
    "btc_per_th_day",
    "hashprice_usd_per_ph_day",
)
REN_COLUMNS = ("renewable_wind_mw", "renewable_mw")
PRICE_FILE = "ercot_rtm_hb_hubavg_15min_2024_2025"
NETWORK_FILE = "bitcoin_daily_network_coinmetrics_2020_2025"
SYSTEM_FILE = "ercot_system_hourly_2023_2024"
CARBON_FILE = "ercot_carbon_intensity_hourly_2021_2024"
INSTALLED_FILE = "ercot_wind_solar_installed_capacity_2023_2025"
SHARE_FILE = "bitcoin_daily_2020_2025"
SETTINGS = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _scenario(scenario_dict, **price):
    doc = scenario_dict
    doc["run"].update({"start": START.isoformat(), "end": END.isoformat()})
    doc["markets"]["price"].update(price)
    doc["markets"]["bitcoin"] = doc["markets"].get("bitcoin", {})
    return parse_scenario(doc)


def _perturbed(monkeypatch, stem: str, column: str, at: pd.Timestamp, change) -> None:
    """Make the loader see ``change(value)`` in ``column`` at the row stamped ``at``."""
    original = loaders.read_table

    def read_table(path):
        frame = original(path)
        if path.stem != stem:
            return frame
        frame = frame.copy()
        stamps = pd.to_datetime(
            frame[next(c for c in ("interval_start_utc", "date_utc") if c in frame)], utc=True
        )
        rows = (stamps == at).to_numpy()
        assert rows.sum() == 1, f"{stem} has no row at {at}"
        frame.loc[rows, column] = change(frame.loc[rows, column])
        return frame

    monkeypatch.setattr(loaders, "read_table", read_table)


def _run(scn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The inputs and the controller's decisions (miners per group, miner MW)."""
    inputs = build_inputs(scn)
    run = run_policy(ControllerConfig.from_scenario(scn), inputs, "ballast")
    decisions = run.group_running.assign(miner_mw=run.frame["miner_mw"])
    return inputs.frame, decisions


def _first_change(a: pd.DataFrame, b: pd.DataFrame) -> pd.Timestamp | None:
    changed = (a.to_numpy() != b.to_numpy()).any(axis=1)
    return a.index[changed.argmax()] if changed.any() else None


def _check(scn, monkeypatch, stem, column, at, change, delays: dict, decide_delay) -> dict:
    """Perturb ``stem.column`` at ``at``; each column in ``delays`` (column -> delay) may change
    only from ``at + delay``, every other column never; decisions only from
    ``at + decide_delay`` (None: never). Returns the first change per column."""
    before, dec_before = _run(scn)
    monkeypatch.undo()
    _perturbed(monkeypatch, stem, column, at, change)
    after, dec_after = _run(scn)
    monkeypatch.undo()
    first = {c: _first_change(before[[c]], after[[c]]) for c in before.columns}
    for c, t in first.items():
        if c not in delays:
            assert t is None, f"{c} changed at {t}, but it does not read {stem}.{column}"
        elif t is not None:
            assert t >= at + delays[c], f"{c} uses the {at} value of {stem} at {t}"
    t = _first_change(dec_before, dec_after)
    if decide_delay is None:
        assert t is None, f"decisions changed at {t} without reading {stem}.{column}"
    elif t is not None:
        assert t >= at + decide_delay, f"a decision at {t} used the {at} value of {stem}"
    return first


def _instant(step: str, k: int) -> pd.Timestamp:
    return START + k * pd.Timedelta(step)


@SETTINGS
@given(k=st.integers(0, 4 * 24 * 4 - 2))
def test_price_is_settled_on_its_interval_and_decided_on_after_it(scenario_dict, monkeypatch, k):
    scn = _scenario(scenario_dict)
    at = _instant("15min", k)
    delay = pd.Timedelta("15min")  # a 15-min price is known at its interval's end
    first = _check(
        scn,
        monkeypatch,
        PRICE_FILE,
        "price_usd_per_mwh",
        at,
        lambda v: v + 3000.0,
        {"price_usd_per_mwh": pd.Timedelta(0), "decision_price_usd_per_mwh": delay},
        delay,
    )
    assert first["price_usd_per_mwh"] == at  # the perturbation is seen: the walk is not empty
    assert first["decision_price_usd_per_mwh"] == at + delay


@SETTINGS
@given(
    k=st.integers(-1, 2),
    column=st.sampled_from(["btc_price_usd", "fees_btc", "network_hashrate_th_s", "blocks", "subsidy_btc"]),
)
def test_each_daily_network_value_is_used_from_the_days_end(scenario_dict, monkeypatch, k, column):
    scn = _scenario(scenario_dict)
    at = _instant("1D", k)
    delay = pd.Timedelta(hours=scn.markets.bitcoin.price_delay_h)
    first = _check(
        scn,
        monkeypatch,
        NETWORK_FILE,
        column,
        at,
        lambda v: v * 1.5,
        dict.fromkeys(BTC_COLUMNS, delay),
        delay,
    )
    # the perturbation is seen the moment the row is published (blocks cancel out of the
    # hashprice, so some column, not each, moves)
    assert min(t for t in first.values() if t is not None) == at + delay


@SETTINGS
@given(k=st.integers(-1, 2))
def test_fee_share_mode_price_from_the_days_end_difficulty_at_once(scenario_dict, monkeypatch, k):
    """fees: share: the daily close waits for its day's end; difficulty, a consensus value,
    applies from its own stamp (inputs/availability.py)."""
    scenario_dict["markets"]["bitcoin"] = {"fees": "share"}
    scn = _scenario(scenario_dict)
    at = _instant("1D", k)
    day = pd.Timedelta("1D")
    derived = ("btc_per_th_day", "hashprice_usd_per_ph_day")
    first = _check(
        scn,
        monkeypatch,
        SHARE_FILE,
        "btc_price_usd",
        at,
        lambda v: v * 1.5,
        dict.fromkeys(("btc_price_usd", "hashprice_usd_per_ph_day"), day),
        day,
    )
    assert first["btc_price_usd"] == at + day
    at = _instant("1D", k + 1)  # a row inside the run: difficulty has no delay
    first = _check(
        scn,
        monkeypatch,
        SHARE_FILE,
        "difficulty",
        at,
        lambda v: v * 1.5,
        dict.fromkeys(("difficulty", *derived), pd.Timedelta(0)),
        pd.Timedelta(0),
    )
    assert first["difficulty"] == at


def test_the_table_names_every_input_column(scenario_dict):
    """Every column build_inputs makes has a row in the availability table."""
    frame = build_inputs(_scenario(scenario_dict)).frame
    named = " ".join(a.column for a in AVAILABILITY)
    for column in frame.columns:
        generic = "renewable_<name>_mw" if column.startswith("renewable_") else column
        assert column in named or generic in named, column


@SETTINGS
@given(k=st.integers(0, 4 * 24 - 1))
def test_fleet_output_is_a_measurement_of_its_own_hour(scenario_dict, monkeypatch, k):
    scn = _scenario(scenario_dict)
    at = _instant("1h", k)
    first = _check(
        scn,
        monkeypatch,
        SYSTEM_FILE,
        "ercot_wind_mw",
        at,
        lambda v: v * 0.5,
        dict.fromkeys(REN_COLUMNS, pd.Timedelta(0)),
        pd.Timedelta(0),
    )
    assert first["renewable_mw"] == at


@SETTINGS
@given(k=st.integers(0, 4 * 24 - 1))
def test_carbon_intensity_reaches_no_decision(scenario_dict, monkeypatch, k):
    scn = _scenario(scenario_dict)
    at = _instant("1h", k)
    first = _check(
        scn,
        monkeypatch,
        CARBON_FILE,
        "carbon_intensity_g_per_kwh",
        at,
        lambda v: v + 100.0,
        {"carbon_intensity_g_per_kwh": pd.Timedelta(0)},
        None,
    )
    assert first["carbon_intensity_g_per_kwh"] == at


def test_installed_capacity_is_interpolated_from_its_neighbours_only(scenario_dict, monkeypatch):
    """The fleet's capacity between two ERCOT figures is interpolated (a physical estimate,
    sim/availability.py): a figure may move values from the previous figure's stamp on."""
    scn = _scenario(scenario_dict)
    stamps = loaders.read_table(loaders.bundled_path(INSTALLED_FILE))["interval_start_utc"]
    stamps = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True))
    after = stamps[stamps > START][0]  # the next figure after the run starts
    previous = stamps[stamps <= START][-1]
    lead = after - previous
    _check(
        scn,
        monkeypatch,
        INSTALLED_FILE,
        "ercot_wind_installed_mw",
        after,
        lambda v: v * 2.0,
        dict.fromkeys(REN_COLUMNS, -lead),
        -lead,
    )
    _check(
        scn,
        monkeypatch,
        INSTALLED_FILE,
        "ercot_wind_installed_mw",
        stamps[stamps > after][0],
        lambda v: v * 2.0,
        {},
        None,
    )  # two figures ahead: no effect at all


PRICE_DELAYS = {"price_usd_per_mwh": pd.Timedelta(0), "decision_price_usd_per_mwh": pd.Timedelta("15min")}


@pytest.mark.parametrize(
    ("field", "value", "stem", "column", "step", "delays", "caught"),
    [
        (
            "decision_delay",
            "none",
            PRICE_FILE,
            "price_usd_per_mwh",
            "15min",
            PRICE_DELAYS,
            "decision_price_usd_per_mwh",
        ),
        (
            "price_delay_h",
            0,
            NETWORK_FILE,
            "btc_price_usd",
            "1D",
            dict.fromkeys(BTC_COLUMNS, pd.Timedelta("1D")),
            "btc_price_usd",
        ),
    ],
)
def test_the_walk_catches_a_removed_delay(
    scenario_dict, monkeypatch, field, value, stem, column, step, delays, caught
):
    """Remove a delay and the same check fails: the value is used at its own stamp."""
    if field == "decision_delay":
        scn = _scenario(scenario_dict, decision_delay=value)
    else:
        scenario_dict["markets"]["bitcoin"] = {"price_delay_h": value}
        scn = _scenario(scenario_dict)
    at = START + 2 * pd.Timedelta(step)
    with pytest.raises(AssertionError, match=f"{caught} uses the"):
        _check(scn, monkeypatch, stem, column, at, lambda v: v * 1.5 + 3000.0, delays, pd.Timedelta(0))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(hour=st.integers(24 * 2, 24 * 60), spike=st.floats(1.1, 2.0))
def test_fourcp_alert_uses_only_completed_hours(hour, spike):
    """programs/fourcp.py: the alert of hour h reads loads up to h-1, so a change to the load
    of hour s moves no alert, forecast or threshold before s + 1 h."""
    frame = loaders.read_table(loaders.bundled_path(SYSTEM_FILE))
    load = pd.Series(
        frame["ercot_load_mw"].to_numpy(), index=pd.to_datetime(frame["interval_start_utc"], utc=True)
    )
    load = load[(load.index >= "2024-06-01") & (load.index < "2024-09-01")]
    at = load.index[hour]
    changed = load.copy()
    changed.iloc[hour] *= spike
    cols = ["forecast_mw", "threshold_mw", "alert"]  # load_mw is the hour's own (reported)
    a, b = fourcp_alert_hourly(load)[cols], fourcp_alert_hourly(changed)[cols]
    differs = ~((a == b) | (a.isna() & b.isna())).all(axis=1)
    assert differs.index[differs.to_numpy()][0] == at + pd.Timedelta("1h")  # seen, not before
