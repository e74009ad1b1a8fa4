"""The margin identity and the scenario's costs (issue 16 item 8).

net_margin_usd = lease + mining - energy - transmission (4CP) - supply contract - fixed, for
Ballast and the baseline, in every bundled example; a 4CP charge and a contract settled by hand
on tiny cases; bad ``costs:`` fields name the field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ballast
from ballast.costs import (
    cost_frame,
    fourcp_calendar,
    supply_contract,
    transmission_rate_usd_per_kw_year,
    transmission_usd,
)
from ballast.data.errors import DataError
from ballast.examples import bundled_names
from ballast.scenario import ScenarioError, parse_scenario
from ballast.sim.kpis import MARGIN_COMPONENTS, interval_money

# ---------------------------------------------------------------- every bundled example


def _window(scenario) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A short window of the example's own run: June-September (the 4CP months, local) when it
    settles a transmission charge, else its first day (an hour for runs at 1 s and finer)."""
    start = pd.Timestamp(scenario.run.start).tz_convert("UTC")
    end = pd.Timestamp(scenario.run.end).tz_convert("UTC")
    if transmission_rate_usd_per_kw_year(scenario) is not None:
        tz = scenario.site.timezone
        year = (start + (end - start) / 2).tz_convert(tz).year  # the year most of the run is in
        a = pd.Timestamp(f"{year}-06-01", tz=tz).tz_convert("UTC")
        b = pd.Timestamp(f"{year}-10-01", tz=tz).tz_convert("UTC")
        return max(a, start), min(b, end)
    length = pd.Timedelta("1h") if scenario.run.step < pd.Timedelta("1min") else pd.Timedelta("1D")
    return start, min(start + length, end)


@pytest.mark.parametrize("name", bundled_names())
def test_components_add_up_to_net_margin_in_every_example(name):
    scenario = ballast.load_scenario(name)
    start, end = _window(scenario)
    result = ballast.simulate(scenario, start=start, end=end)
    k = result.kpis
    sim = result.simulation
    for run, column in ((sim.ballast, "ballast"), (sim.baseline, "baseline")):
        parts = sum(sign * k.loc[kpi, column] for kpi, sign in MARGIN_COMPONENTS.items())
        assert np.isfinite(k.loc["net_margin_usd", column]), (name, column, result.notes)
        assert k.loc["net_margin_usd", column] == pytest.approx(parts, rel=1e-9, abs=1e-3)
        # and interval by interval
        money = interval_money(run, sim.inputs, sim.config, sim.scenario)
        each = sum(sign * money[kpi] for kpi, sign in MARGIN_COMPONENTS.items())
        np.testing.assert_allclose(money["net_margin_usd"], each, rtol=1e-12, atol=1e-9)
    # every cost the scenario states is in the margin; every cost it leaves out is said
    if transmission_rate_usd_per_kw_year(scenario) is None:
        assert k.loc["transmission_cost_usd", "ballast"] == 0
        assert any("no transmission (4CP) charge" in n for n in result.notes), result.notes
    else:
        assert k.loc["transmission_cost_usd", "ballast"] > 0
        assert k.loc["transmission_cost_usd", "baseline"] > 0
    if supply_contract(scenario) is None:
        assert k.loc["supply_contract_usd", "ballast"] == 0
    else:  # the contract settles the same for every run (a financial block)
        assert k.loc["supply_contract_usd", "ballast"] != 0
        assert k.loc["supply_contract_usd", "delta"] == 0
    if "net_margin_with_programs_usd" in k.index:
        cash = k.loc["programs_cash_usd"]
        assert k.loc["net_margin_with_programs_usd", "ballast"] == pytest.approx(
            k.loc["net_margin_usd", "ballast"] + cash.ballast
        )


def test_report_headline_margin_includes_the_contract(tmp_path):
    # Uri: the fixed-price contract is the difference between a loss and a profit; the tile
    # shows the margin with it (the row net_margin_usd), and says what it includes
    result = ballast.simulate("uri_2021", start="2021-02-14T06:00:00Z", end="2021-02-17T06:00:00Z")
    k = result.kpis
    assert k.loc["supply_contract_usd", "ballast"] < -1e7  # real time far above 25 USD/MWh
    margin = k.loc["net_margin_usd", "ballast"]
    without = margin + k.loc["supply_contract_usd", "ballast"]
    assert margin > 0 > without
    page = result.report(tmp_path / "r.html").read_text()
    cards = page.split("Key figures", 1)[1].split("</section>", 1)[0]
    assert f"{margin / 1e6:,.2f} M USD" in cards
    assert f"{without / 1e6:,.2f} M USD" not in cards
    assert "supply contract" in cards and "no transmission (4CP) charge" in cards


# ---------------------------------------------------------------- 4CP by hand

PEAKS_UTC = ["2030-06-10 22:00", "2030-07-15 21:00", "2030-08-20 22:00", "2030-09-05 20:00"]
# the site's 15-minute imports [MW] in each peak hour; the charge takes each hour's highest
PEAK_IMPORTS_MW = [[40, 40, 40, 40], [10, 60, 20, 30], [80, 80, 80, 80], [-5, 100, 0, 0]]
RATE = 50.0  # USD/kW-yr
# by hand: mean of 40, 60, 80, 100 = 70 MW = 70,000 kW x 50 USD/kW-yr
CHARGE_USD = 3_500_000.0


def _load_csv(tmp_path) -> str:
    """Hourly ERCOT-like load for June-September 2030 (local) with one peak hour a month."""
    idx = pd.date_range("2030-06-01 05:00", "2030-10-01 05:00", freq="1h", tz="UTC", inclusive="left")
    load = pd.Series(50_000.0, index=idx)
    for i, t in enumerate(PEAKS_UTC):
        load[pd.Timestamp(t, tz="UTC")] = 60_000.0 + 1000 * i
    path = tmp_path / "load.csv"
    pd.DataFrame(
        {"interval_start_utc": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "ercot_load_mw": load.to_numpy()}
    ).to_csv(path, index=False)
    return str(path)


def _scenario(scenario_dict, costs):
    scenario_dict["costs"] = costs
    return parse_scenario(scenario_dict)


def _imports(start: str, end: str, freq: str = "15min") -> pd.Series:
    idx = pd.date_range(start, end, freq=freq, tz="UTC", inclusive="left")
    imp = pd.Series(100.0, index=idx)
    for t, values in zip(PEAKS_UTC, PEAK_IMPORTS_MW, strict=True):
        for q, v in enumerate(values):
            a = pd.Timestamp(t, tz="UTC") + pd.Timedelta(minutes=15 * q)
            imp[a : a + pd.Timedelta("14min")] = v
    return imp


def test_fourcp_charge_by_hand_over_the_local_year(tmp_path, scenario_dict):
    scenario = _scenario(
        scenario_dict, {"transmission_usd_per_kw_year": RATE, "transmission_load_source": _load_csv(tmp_path)}
    )
    cal = fourcp_calendar(scenario)
    assert [f"{t:%Y-%m-%d %H:%M}" for t in cal.peaks["peak_hour_start_utc"]] == PEAKS_UTC
    # the local (CST) year 2030: 8760 h, so the whole annual charge
    imp = _imports("2030-01-01 06:00", "2031-01-01 06:00")
    per_interval, notes = transmission_usd(imp, cal, RATE)
    assert notes == []
    assert per_interval.sum() == pytest.approx(CHARGE_USD)
    assert np.ptp(per_interval) == 0  # accrued evenly


def test_fourcp_demand_is_the_15_minute_mean_on_a_5_minute_run(tmp_path, scenario_dict):
    scenario = _scenario(
        scenario_dict, {"transmission_usd_per_kw_year": RATE, "transmission_load_source": _load_csv(tmp_path)}
    )
    imp = _imports("2030-01-01 06:00", "2031-01-01 06:00", "5min")
    # August's first 15 minutes as 5-minute steps 60, 90, 90: mean 80 (not the 90 peak)
    aug = pd.Timestamp(PEAKS_UTC[2], tz="UTC")
    imp[aug] = 60.0
    imp[aug + pd.Timedelta("5min")] = imp[aug + pd.Timedelta("10min")] = 90.0
    per_interval, _ = transmission_usd(imp, fourcp_calendar(scenario), RATE)
    assert per_interval.sum() == pytest.approx(CHARGE_USD)


def test_fourcp_hours_of_another_year_accrue_at_the_settled_one_and_say_so(tmp_path, scenario_dict):
    scenario = _scenario(
        scenario_dict, {"transmission_usd_per_kw_year": RATE, "transmission_load_source": _load_csv(tmp_path)}
    )
    imp = _imports("2030-01-01 00:00", "2031-01-01 06:00")  # 6 h of local 2029 first
    per_interval, notes = transmission_usd(imp, fourcp_calendar(scenario), RATE)
    assert per_interval.sum() == pytest.approx(CHARGE_USD * 8766 / 8760)
    assert len(notes) == 1 and "6 h of 2029 accrue at 2030's 4CP charge" in notes[0]


def test_fourcp_charge_from_the_peaks_the_run_holds_and_says_so(tmp_path, scenario_dict):
    scenario = _scenario(
        scenario_dict, {"transmission_usd_per_kw_year": RATE, "transmission_load_source": _load_csv(tmp_path)}
    )
    imp = _imports("2030-01-01 06:00", "2030-09-01 05:00")  # September's peak not in the run
    per_interval, notes = transmission_usd(imp, fourcp_calendar(scenario), RATE)
    # by hand: June, July, August held: mean of 40, 60, 80 = 60 MW = 60,000 kW x 50 USD/kW-yr,
    # accrued over the run's 243 days less 1 h = 5831 h of 8760
    assert per_interval.sum() == pytest.approx(3_000_000.0 * 5831 / 8760)
    assert np.isfinite(per_interval).all()
    assert len(notes) == 1 and "3 of its 4 peak hours" in notes[0] and "2030-09-05 20:00" in notes[0]


def test_a_run_without_4cp_intervals_has_no_transmission_charge_and_says_why(scenario_dict):
    # the conftest week (May 2024) holds none of 2024's peaks: it sets no 4CP charge, and the
    # one billed in May (set by the 2023 peaks) is outside the run: 0, never NaN (issue 17)
    scenario_dict["run"]["end"] = "2024-05-02T00:00:00Z"
    scenario_dict["costs"] = {"transmission_usd_per_kw_year": 60}
    result = ballast.simulate(parse_scenario(scenario_dict))
    for column in ("ballast", "baseline"):
        assert result.kpis.loc["transmission_cost_usd", column] == 0.0
        assert np.isfinite(result.kpis.loc["net_margin_usd", column])
    note = next(n for n in result.notes if n.startswith("transmission_cost_usd is 0"))
    assert "2024-08-20 22:00" in note and "billed monthly through the following year" in note
    assert result.to_json()["kpis"]["net_margin_usd"]["ballast"] is not None
    assert result.to_json()["notes"] == list(result.notes)


def test_a_january_week_of_the_programs_example_has_no_nan_money():
    # issue 17: a short non-summer run with a 4CP rate (costs and the coincident-peak program)
    doc = ballast.load_scenario("west_texas_2024_programs").model_dump(mode="json")
    doc["run"].update(start="2024-01-08T00:00:00Z", end="2024-01-15T00:00:00Z")
    result = ballast.simulate(parse_scenario(doc))
    money = result.kpis[result.kpis["unit"] == "USD"][["ballast", "baseline", "delta"]]
    assert len(money) > 5 and np.isfinite(money.to_numpy(dtype=float)).all(), money
    assert result.kpis.loc["transmission_cost_usd", "ballast"] == 0.0
    assert any(n.startswith("transmission_cost_usd is 0") for n in result.notes)


def test_summer_hours_of_a_year_without_known_peaks_are_refused(tmp_path, scenario_dict):
    scenario = _scenario(
        scenario_dict, {"transmission_usd_per_kw_year": RATE, "transmission_load_source": _load_csv(tmp_path)}
    )
    imp = _imports("2031-06-01 05:00", "2031-07-01 05:00")  # the load file ends in 2030
    with pytest.raises(DataError, match=r"costs.transmission_load_source.*no 4CP peak hours for 2031"):
        transmission_usd(imp, fourcp_calendar(scenario), RATE)


# ---------------------------------------------------------------- contract and fixed by hand


@pytest.mark.parametrize("import_mw", [30.0, 100.0, 170.0])  # below, at and above the block
def test_contract_is_the_block_at_the_fixed_price_and_the_rest_at_real_time(scenario_dict, import_mw):
    scenario = _scenario(scenario_dict, {"supply_contract": {"price_usd_per_mwh": 30, "volume_mw": 100}})
    price = np.array([10.0, 50.0, 1000.0, -20.0])
    imp = pd.Series(import_mw, index=pd.date_range("2024-05-01", periods=4, freq="15min", tz="UTC"))
    costs, notes = cost_frame(imp, price, scenario, 0.25)
    # by hand: 100 MW x 0.25 h at 30 USD/MWh, the rest (bought or sold back) at real time
    by_hand = 100 * 0.25 * 30 + (import_mw - 100) * 0.25 * price
    energy_at_rt = import_mw * 0.25 * price
    np.testing.assert_allclose(energy_at_rt + costs["supply_contract_usd"], by_hand)
    assert costs["supply_contract_usd"].iloc[0] == pytest.approx((30 - 10) * 100 * 0.25)
    assert (costs["transmission_cost_usd"] == 0).all() and costs["fixed_cost_usd"].sum() == 0
    assert notes == [
        "net_margin_usd has no transmission (4CP) charge: costs.transmission_usd_per_kw_year is not set"
    ]


def test_fixed_costs_accrue_per_hour_of_the_year(scenario_dict):
    scenario = _scenario(scenario_dict, {"fixed_usd_per_year": 876_000})
    imp = pd.Series(0.0, index=pd.date_range("2024-05-01", periods=96, freq="15min", tz="UTC"))
    costs, _ = cost_frame(imp, np.zeros(96), scenario, 0.25)
    assert costs["fixed_cost_usd"].sum() == pytest.approx(876_000 * 24 / 8760)  # 2,400 a day


def test_price_response_contract_and_costs_contract_settle_alike(scenario_dict):
    old = dict(
        scenario_dict, programs={"price_response": {"contract_price_usd_per_mwh": 30, "contract_mw": 100}}
    )
    new = dict(
        scenario_dict,
        costs={"supply_contract": {"price_usd_per_mwh": 30, "volume_mw": 100}},
        programs={"price_response": {}},
    )
    assert supply_contract(parse_scenario(old)) == supply_contract(parse_scenario(new))


# ---------------------------------------------------------------- bad cost fields


@pytest.mark.parametrize(
    ("costs", "programs", "message"),
    [
        (
            {"transmission_usd_per_kw_year": -5},
            None,
            r"costs.transmission_usd_per_kw_year: Input should be greater than or equal to 0",
        ),
        (
            {"transmission_usd_per_kw_year": 60_000},
            None,
            r"costs.transmission_usd_per_kw_year: Input should be less than or equal to 10000",
        ),
        (
            {"transmission_usd_per_kw_year": "sixty"},
            None,
            r"costs.transmission_usd_per_kw_year: Input should be a valid number",
        ),
        ({"supply_contract": {"price_usd_per_mwh": 30}}, None, r"costs.supply_contract.volume_mw"),
        (
            {"supply_contract": {"price_usd_per_mwh": 30, "volume_mw": 0}},
            None,
            r"costs.supply_contract.volume_mw: Input should be greater than 0",
        ),
        (
            {"supply_contract": {"price_usd_per_mwh": 30, "volume_mw": 10, "settlement": "cfd"}},
            None,
            r"costs.supply_contract.settlement: Input should be 'fixed_block'",
        ),
        (
            {"fixed_usd_per_year": float("nan")},
            None,
            r"costs.fixed_usd_per_year: Input should be a finite number",
        ),
        ({"transmision_usd_per_kw_year": 60}, None, r"costs.transmision_usd_per_kw_year"),
        (
            {"transmission_usd_per_kw_year": 60},
            {"coincident_peak": {"transmission_rate_usd_per_kw_year": 80}},
            r"programs.coincident_peak.transmission_rate_usd_per_kw_year and "
            r"costs.transmission_usd_per_kw_year both given",
        ),
        (
            {"supply_contract": {"price_usd_per_mwh": 30, "volume_mw": 10}},
            {"price_response": {"contract_price_usd_per_mwh": 30, "contract_mw": 10}},
            r"give the contract once, in costs.supply_contract",
        ),
        (
            {},
            {"price_response": {}},
            r"programs.price_response needs a contract: give "
            r"costs.supply_contract",
        ),
    ],
)
def test_bad_cost_fields_name_the_field(scenario_dict, costs, programs, message):
    scenario_dict["costs"] = costs
    if programs is not None:
        scenario_dict["programs"] = programs
    with pytest.raises(ScenarioError, match=r"campus.yaml: invalid scenario: .*" + message):
        parse_scenario(scenario_dict, "campus.yaml")
