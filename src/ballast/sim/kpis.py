"""Key performance indicators of one run, as a table of (name, value, unit).

Money is nominal USD. Energy cost counts imports at the real-time price and pays exports at
``export_price_share`` of it. The margin identity, per interval and in total:
net_margin_usd = lease_revenue_usd + mining_revenue_usd - energy_cost_usd
                 - transmission_cost_usd - supply_contract_usd - fixed_cost_usd
(the last three from the scenario's ``costs:``, ``ballast/costs.py``). CO2 is location-based:
imported MWh x hourly grid intensity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast import physics
from ballast.control import ControllerConfig
from ballast.costs import accrual_usd, cost_frame
from ballast.inputs import SiteInputs, step_hours
from ballast.models.cooling import water_m3
from ballast.scenario import Scenario
from ballast.sim.engine import RunSeries

MARGIN_COMPONENTS = {  # KPI: sign in net_margin_usd
    "lease_revenue_usd": 1.0, "mining_revenue_usd": 1.0, "energy_cost_usd": -1.0,
    "transmission_cost_usd": -1.0, "supply_contract_usd": -1.0, "fixed_cost_usd": -1.0}


def mining_btc(run: RunSeries, inputs: SiteInputs, config: ControllerConfig) -> pd.DataFrame:
    """BTC mined per interval and group (before pool fee)."""
    return run.group_running * btc_per_running_miner(inputs, config)


def btc_per_running_miner(inputs: SiteInputs, config: ControllerConfig) -> np.ndarray:
    """BTC one running miner mines in each interval, per group (before pool fee), shape
    (intervals, groups)."""
    return physics.btc_mined(config.groups.hashrate_th_s,
                             inputs.frame["btc_per_th_day"].to_numpy()[:, None],
                             step_hours(inputs.index))


def mining_revenue_usd(running, inputs: SiteInputs, config: ControllerConfig) -> np.ndarray:
    """Mining revenue [USD] per interval and group, net of pool fee, of ``running`` miners
    (interval means, shape (intervals, groups)); linear in ``running``."""
    btc_net = physics.after_pool_fee(np.asarray(running) * btc_per_running_miner(inputs, config),
                                     config.groups.pool_fee_share)
    return physics.mining_revenue_usd(btc_net, inputs.frame["btc_price_usd"].to_numpy()[:, None])


def energy_cost_usd(import_mw, price_usd_per_mwh, step_h: float,
                    export_price_share: float) -> np.ndarray:
    """Energy cost per interval [USD]: imports [MW, positive] at the real-time price, exports
    (negative) paid ``export_price_share`` of it."""
    return physics.energy_cost_usd(np.asarray(import_mw), np.asarray(price_usd_per_mwh), step_h,
                                   export_price_share)


def interval_money(run: RunSeries, inputs: SiteInputs, config: ControllerConfig,
                   scenario: Scenario) -> pd.DataFrame:
    """Per-interval cash flows [USD] and BTC: energy cost, mining revenue, lease, the scenario's
    costs (transmission, supply contract, fixed) and the margin (``MARGIN_COMPONENTS``).
    ``.attrs["notes"]``: costs left out, estimated or not charged (``costs.fourcp_years``)."""
    dt = step_hours(inputs.index)
    price = inputs.frame["price_usd_per_mwh"].to_numpy()
    imp = run.frame["import_mw"].to_numpy()
    energy_cost = energy_cost_usd(imp, price, dt, scenario.markets.export_price_share)
    btc = mining_btc(run, inputs, config)
    btc_net = physics.after_pool_fee(btc, config.groups.pool_fee_share)
    # = mining_revenue_usd(run.group_running, ...), from the BTC already computed
    mining_rev = physics.mining_revenue_usd(
        btc_net.to_numpy(), inputs.frame["btc_price_usd"].to_numpy()[:, None]).sum(axis=1)
    lease = np.zeros(len(imp))
    if scenario.ai is not None:
        lease = accrual_usd(scenario.ai.lease_usd_per_mw_year * scenario.ai.it_load_mw, len(imp), dt)
    out = pd.DataFrame({
        "energy_cost_usd": energy_cost,
        "mining_revenue_usd": mining_rev,
        "lease_revenue_usd": lease,
        "btc_mined": btc_net.sum(axis=1).to_numpy(),
    }, index=inputs.index)
    costs, notes = cost_frame(run.frame["import_mw"], price, scenario, dt)
    out = pd.concat([out, costs], axis=1)
    out["net_margin_usd"] = sum(sign * out[k] for k, sign in MARGIN_COMPONENTS.items())
    out.attrs["notes"] = notes
    return out


def compute_kpis(run: RunSeries, inputs: SiteInputs, config: ControllerConfig,
                 scenario: Scenario, baseline: RunSeries | None = None, *,
                 money: pd.DataFrame | None = None,
                 base_money: pd.DataFrame | None = None) -> pd.DataFrame:
    """KPI table: index = KPI name, columns value and unit. ``money``/``base_money``: the runs'
    ``interval_money`` when the caller has it already (computed here otherwise)."""
    dt = step_hours(inputs.index)
    f = run.frame
    if money is None:
        money = interval_money(run, inputs, config, scenario)
    rows: list[tuple[str, float, str]] = [
        ("ai_energy_mwh", f["ai_load_mw"].sum() * dt, "MWh"),
        ("miner_energy_mwh", f["miner_mw"].sum() * dt, "MWh"),
    ]
    for name in config.groups.names:
        rows.append((f"miner_energy_mwh[{name}]", run.group_power_mw[name].sum() * dt, "MWh"))
    rows += [
        ("import_energy_mwh", physics.imported_mw(f["import_mw"]).sum() * dt, "MWh"),
        ("peak_import_mw", float(f["import_mw"].max()), "MW"),
        ("import_limit_exceeded_intervals",
         float((f["import_mw"] > config.import_limit_mw + 1e-6).sum()), "intervals"),
        ("renewable_energy_mwh", f["renewable_mw"].sum() * dt, "MWh"),
        ("renewable_absorbed_mwh", f["renewable_used_mw"].sum() * dt, "MWh"),
        ("renewable_exported_mwh", f["export_mw"].sum() * dt, "MWh"),
        ("renewable_curtailed_mwh", f["renewable_curtailed_mw"].sum() * dt, "MWh"),
        ("btc_mined", money["btc_mined"].sum(), "BTC"),
        ("mining_revenue_usd", money["mining_revenue_usd"].sum(), "USD"),
        ("energy_cost_usd", money["energy_cost_usd"].sum(), "USD"),
        ("lease_revenue_usd", money["lease_revenue_usd"].sum(), "USD"),
        ("transmission_cost_usd", money["transmission_cost_usd"].sum(skipna=False), "USD"),
        ("supply_contract_usd", money["supply_contract_usd"].sum(), "USD"),
        ("fixed_cost_usd", money["fixed_cost_usd"].sum(), "USD"),
        ("net_margin_usd", money["net_margin_usd"].sum(skipna=False), "USD"),
    ]
    for plant in scenario.renewables:  # the plant's own factor, after scale and clipping
        out_mw = inputs.frame[f"renewable_{plant.name}_mw"].to_numpy()
        rows.append((f"capacity_factor_pct[{plant.name}]",
                     100.0 * float(out_mw.mean()) / plant.capacity_mw if len(out_mw) else 0.0,
                     "%"))
    hours_total = len(f) * dt
    for i, name in enumerate(config.groups.names):
        share = run.group_running[name].to_numpy() / max(int(config.groups.count[i]), 1)
        rows.append((f"uptime_pct[{name}]", 100.0 * float(share.mean()) if len(share) else 0.0,
                     "%"))
        rows.append((f"hours_curtailed[{name}]", float(((1.0 - share) * dt).sum()), "h"))
    if "carbon_intensity_g_per_kwh" in inputs.frame:
        ci = inputs.frame["carbon_intensity_g_per_kwh"].to_numpy()
        co2_t = (physics.imported_mw(f["import_mw"].to_numpy()) * ci * dt).sum() / 1000.0
        rows.append(("co2_t", float(co2_t), "t"))
    if scenario.ai is not None:
        it_mwh = inputs.frame["ai_it_load_mw"].sum() * dt
        rows.append(("water_m3", float(water_m3(it_mwh, scenario.ai.wue_l_per_kwh)), "m3"))
    full_mw = float(config.groups.full_power_mw.sum())
    curtailed_mwh = float((full_mw - f["miner_mw"]).clip(lower=0).sum() * dt)
    rows.append(("flexibility_curtailed_mwh", curtailed_mwh, "MWh"))
    if baseline is not None:
        if base_money is None:
            base_money = interval_money(baseline, inputs, config, scenario)
        rows.append(("flexibility_value_usd",
                     float(money["net_margin_usd"].sum(skipna=False)
                           - base_money["net_margin_usd"].sum(skipna=False)),
                     "USD"))
    rows.append(("hours", hours_total, "h"))
    return pd.DataFrame(rows, columns=["kpi", "value", "unit"]).set_index("kpi")


def kpi_table(ballast: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Side by side: ballast, baseline, delta (ballast - baseline), unit."""
    out = pd.DataFrame({"ballast": ballast["value"]})
    out["baseline"] = baseline["value"].reindex(out.index)
    out["delta"] = out["ballast"] - out["baseline"]
    out["unit"] = ballast["unit"]
    return out


def monthly_table(run: RunSeries, baseline: RunSeries, inputs: SiteInputs,
                  config: ControllerConfig, scenario: Scenario, *,
                  money: pd.DataFrame | None = None,
                  base_money: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per month (UTC): price, energy, BTC, money, and margin against the baseline
    (``money``/``base_money`` as in ``compute_kpis``)."""
    dt = step_hours(inputs.index)
    money = interval_money(run, inputs, config, scenario) if money is None else money
    base = (interval_money(baseline, inputs, config, scenario) if base_money is None
            else base_money)
    # grouped by month number, labelled "YYYY-MM" once per month (strftime over every interval
    # and a groupby on the strings took most of this table's time)
    utc = inputs.index.tz_convert("UTC")
    months, key = np.unique(np.asarray(utc.year * 100 + utc.month), return_inverse=True)
    labels = np.array([f"{m // 100:04d}-{m % 100:02d}" for m in months], dtype=object)
    frame = pd.DataFrame({
        "avg_price_usd_per_mwh": inputs.frame["price_usd_per_mwh"].to_numpy(),
        "avg_hashprice_usd_per_ph_day": inputs.frame["hashprice_usd_per_ph_day"].to_numpy(),
        "import_mwh": physics.imported_mw(run.frame["import_mw"].to_numpy()) * dt,
        "miner_mwh": run.frame["miner_mw"].to_numpy() * dt,
        "btc_mined": money["btc_mined"].to_numpy(),
        "mining_revenue_usd": money["mining_revenue_usd"].to_numpy(),
        "energy_cost_usd": money["energy_cost_usd"].to_numpy(),
        "net_margin_usd": money["net_margin_usd"].to_numpy(),
        "baseline_net_margin_usd": base["net_margin_usd"].to_numpy(),
    }, index=key)
    agg = frame.groupby(level=0).agg({
        "avg_price_usd_per_mwh": "mean", "avg_hashprice_usd_per_ph_day": "mean",
        "import_mwh": "sum", "miner_mwh": "sum", "btc_mined": "sum", "mining_revenue_usd": "sum",
        "energy_cost_usd": "sum", "net_margin_usd": "sum", "baseline_net_margin_usd": "sum"})
    unsettled = frame[["net_margin_usd", "baseline_net_margin_usd"]].isna().groupby(level=0).any()
    agg[unsettled.columns] = agg[unsettled.columns].mask(unsettled)  # NaN stays NaN, never 0
    agg["margin_delta_usd"] = agg["net_margin_usd"] - agg["baseline_net_margin_usd"]
    agg.index = pd.Index(labels[agg.index.to_numpy()], name="month")
    return agg


def program_kpi_rows(program_kpis: pd.DataFrame, kpis: pd.DataFrame) -> pd.DataFrame:
    """Grid-program KPI rows (ballast, baseline, delta, unit) plus the margin with programs."""
    out = program_kpis.copy()
    out["delta"] = out["ballast"] - out["baseline"]
    cash = out.loc["programs_cash_usd"]
    margin = kpis.loc["net_margin_usd"]
    ours = float(margin.ballast + cash.ballast)
    base = float(margin.baseline + cash.baseline)
    row = pd.DataFrame({"ballast": [ours], "baseline": [base], "delta": [ours - base],
                        "unit": ["USD"]}, index=["net_margin_with_programs_usd"])
    out = pd.concat([out.astype({"ballast": float, "baseline": float, "delta": float}), row])
    return out[["ballast", "baseline", "delta", "unit"]]
