"""Render the plan reference (docs/plan.md): the method, then every field of the plan document
from its pydantic models (``python -m ballast.plan.docs > docs/plan.md``)."""

from __future__ import annotations

from ballast.documents import DOCUMENT_RULES
from ballast.plan.document import Plan
from ballast.scenario_docs import render_reference

INTRO = """Generated from `src/ballast/plan/` by `python -m ballast.plan.docs`; do not edit by hand.

A plan asks an investor's question about a Bitcoin mining site over its life: keep mining,
convert MW to AI/HPC hosting (when, how much), or convert and keep miners beside the AI tenant?
`ballast plan PLAN [--out DIR] [--paths N] [--seed S] [--json] [--workers N | --scheduler URL]`
compares the strategies of one
plan document under named BTC price cases and over seeded price paths. The bundled example
`conversion_500mw` (`src/ballast/examples/plan/conversion_500mw.yaml`) is the seed's case: a
500 MW mining site, a 12-year lease at about 1.45 M USD per MW of critical IT per year; each of
its numbers carries its source or is marked as an assumption. The second, `hybrid_west_texas`,
carries the `west_texas_2024` campus (a 100 MW AI tenant beside 150 MW of miners on a 280 MW
connection) over ten years, its miners' operations measured by that scenario's backtest.

```
ballast plan conversion_500mw --out out/plan
```

In Python: `from ballast.plan import load_plan, run_plan; result = run_plan(load_plan("conversion_500mw"))`.

## Method {#method}

All money is nominal USD per calendar year; year 0 is `start_year`. A year's cash flow is booked
at its end; NPV is valued at the start of year 0 at `discount_rate`. NPV and IRR come from
numpy-financial; payback (simple and discounted) is counted from the start of year 0, with a
year's cash flow spread evenly over the year, so a payback can end mid-year.

Per strategy and year:

- **Schedule.** `mining_mw` of the site mine. A conversion phase (`year`, `mw` of grid MW)
  stops its miners from the start of `year`; its critical IT is `mw / hosting.pue`; capex
  (`hosting.capex_usd_per_mw` per MW of IT) is spent evenly over `hosting.build_years`; the
  lease starts `build_years` after the phase year and runs `term_years` (no renewal; revenue
  after the plan's last year is not counted; a terminal value only through the salvage below).
- **Mining.** Hash rate [PH/s] = grid MW / mining PUE x 1e6 / (J/TH) / 1000 (the fleet's
  J/TH that year: the new model's after a [repowering](#fleet)); revenue =
  hashprice x hash rate x uptime x 365.25 days; energy = grid MW x uptime x 8,766 h x power
  price. A year whose revenue does not cover its energy is idled (the operator's option to
  switch off): neither counts.
- **Hosting.** Lease = IT MW x `lease_usd_per_kw_month` x 1000 x 12, escalated each year of the
  term. Energy is passed through to the tenant; the landlord pays `hosting.om_usd_per_mw_yr`.
- **Grid programs.** With `operations`, the settled cash of the scenario's programs
  (`program_revenue_usd`, [below](#operations)); none without.
- **O&M.** `mining.om_usd_per_mw_yr` and `mining.sustaining_capex_usd_per_mw_yr` (expensed)
  per grid MW of miners, ballast included, paid in idle years too; `hosting.om_usd_per_mw_yr` per
  MW of critical IT leased.
- **Tax.** EBITDA less depreciation of the conversion capex (MACRS, IRS Publication 946 Table
  A-1, half-year convention, or straight line) and of any repowering capex (MACRS,
  `mining.repower.recovery_years`), times `tax_rate`. A loss gives a tax benefit
  in the same year (the owner has other income to use it against).
- **Cash flow** = EBITDA - tax - capex - repowering capex, plus in the last year the salvage value
  (`hosting.salvage_fraction_of_book_value` x the conversion's undepreciated tax basis; default
  none).

The business-as-usual baseline is the first `keep_mining` strategy (one is added when the plan
has none). `delta_npv_usd`, `irr`, `simple_payback_years` and `discounted_payback_years` are
those of a strategy's cash flows minus the baseline's: the return on converting (REopt reports
the same against its BAU case). The best strategy has the highest NPV in `bitcoin.base_case`.

### Hybrid {#hybrid}

A hybrid strategy converts like `convert` but keeps `ballast_mw` of miners beside the AI load
(at most the MW converted so far, since they run in its headroom under the same grid
connection). Up to the connection's spare MW (`site.interconnect_mw` - `site.mining_mw`) they
hash like the fleet (`mining.uptime`); the rest hash `ballast_uptime` of the year, in the AI
load's headroom. All earn `ballast_value_usd_per_mw_yr` for grid programs and smoothing. The
uptime and the value are assumptions in this version; the backtest engine can measure them for
a site (`ballast simulate`), which a later version will do per configuration.

### Bitcoin futures {#bitcoin-futures}

- **Halvings** every 210,000 blocks (consensus rule). The observed ones come from the bundled
  halving table (block 840,000 at 2024-04-20 00:09:27 UTC, the last); a future one is projected
  from that anchor at `block_interval_s` (600 s, the target). Blocks came about 1.3 % faster (592 s) than
  that between the 2020 and 2024 halvings (2020-05-11 to 2024-04-20), so projected dates may be
  a few weeks late: from the 2020 halving the method puts the 2024 one on 2024-05-09, 19 days
  late. At 600 s the next halvings fall in April 2028 and April 2032. A year's subsidy is the
  time-weighted mean over the year.
- **BTC price cases**: `price = start_price_usd x (1 + growth)^t` for each named case.
- **Price paths**: geometric Brownian motion in log price with annual steps: each year the log
  price moves by a normal draw of mean `log_drift_per_yr` and standard deviation
  `volatility_per_yr`, from a seeded generator (`bitcoin.paths.seed` or `--seed`). Left out,
  both are calibrated on the bundled daily closes (2020-01-01 to 2025-04-07): the mean and
  standard deviation of daily log returns, annualised over 365.25 days (about +0.45 and 0.65
  per year; the drift reflects a bull market, so a plan usually sets its own).
- **Difficulty** = `start_difficulty x (1 + difficulty_growth_per_yr)^t x (price /
  start_price)^difficulty_price_elasticity`. The growth rate is an assumption: the bundled
  history grew 53 % a year from January 2020 to January 2025, and the network's growth is
  expected to slow as the subsidy halves. The elasticity lets hash rate follow price (1:
  hashprice ignores price moves). Instead of the growth a plan may give the network's power
  growth and efficiency change; difficulty then grows by their ratio ([below](#fleet)).
- **Hashprice** [USD/PH/day] = blocks per PH per day x (subsidy + fees) x price, fees a share of
  revenue (docs/sources.md#bitcoin-fees).

### The fleet against the network {#fleet}

Difficulty is proportional to the network's hash rate, which is the network's power over its
average J/TH. A plan states the difficulty's growth one of two ways, never both (the plan is
refused otherwise, so the network's efficiency is counted once):

- `bitcoin.difficulty_growth_per_yr`: the hash rate's growth, the network's efficiency gains
  already inside it; or
- `bitcoin.network_power_growth_per_yr` and `network_efficiency_change_per_yr`: difficulty
  grows `(1 + power growth) / (1 + J/TH change) - 1` a year (power +20 % and J/TH -10 % a year
  give +33 %).

Either way the hashprice (USD per PH/s per day) falls as the network hashes more cheaply, while
a fleet that is not renewed keeps its own J/TH and so its energy per TH: its margin (1 - energy
cost / revenue; `fleet.margin` in the output, base case) shrinks year by year. That is fleet
ageing: the fleet's revenue per TH is the network's hashprice, never scaled a second time for
its efficiency gap. With `network_efficiency_j_per_th` the output also lists the network's
average J/TH per year beside the fleet's. No default rate is asserted: as an illustration, the
newest Bitmain model went from 34.2 J/TH (Antminer S19, 2020) to 13.5 J/TH (S21 XP, 2024;
J/TH from docs/sources.md#miner-catalog, launch years from the press, **secondary**), about
-20 % a year at the frontier; the network's average lags
the frontier, so a rate of about -10 % a year is an assumption a plan may state as its own.

**A mixed fleet** (`mining.models`, instead of `mining.efficiency_j_per_th`): a list of miner
models, each a `name`, its `share` of `site.mining_mw` (the shares sum to 1) or its `mw` (they
sum to `site.mining_mw`), and its `efficiency_j_per_th`. Each model earns the hashprice on its
own hash rate, pays for its own energy and is idled on its own in a year its hashprice does not
cover its energy, so as the network hashes more cheaply the least efficient models idle first
while the newer keep hashing; the fleet's `efficiency_j_per_th` in the output is that of the
miners held (their MW over the sum of MW / J/TH). A conversion takes MW from the least efficient
models first (what an operator retires first: those miners earn least per MW); a hybrid
strategy's ballast miners are the best of the converted MW's miners, and those that hash all
year under the spare interconnect are a like share of each model. `margin_below` of a
repowering reads the whole fleet's margin; a repowering replaces every model at once, and its
new J/TH must beat the best model. The conversion optimiser gives each block of the site its
own coefficients, from the models it removes ([below](#optimizer)); it does not value ballast by
model, so with `mining.models` it needs `optimize.allow_ballast: false`. The tornado has no J/TH
bar for a mixed fleet.

**Repowering** (`mining.repower`, optional): in every strategy (but those with `repower:
false`, which keep the old fleet for comparison), every miner running in the repower year
(mining and ballast) is replaced by a model of `efficiency_j_per_th`, from `year`, or from the first
year whose old-fleet margin in the base price case (at the plan's power price, escalated) is
below `margin_below`; one year for every strategy and price path, decided on the plan's
forecast. Capex = the new hash rate [TH/s] x `capex_usd_per_th_s`, spent in that year; it is
depreciated with MACRS over `recovery_years` (default 5: computers and peripheral equipment,
IRS Pub 946 asset class 00.12) and has no terminal value; miners retired later by a conversion
are not resold. The optimiser's capex budget counts the conversion capex only. With
`operations`, the measured uptime and price ratio are those of the scenario's own miners (a
more efficient fleet would be curtailed less: not captured).

Risk: every strategy's NPV over the price paths, and its NPV minus the baseline's on the same
path: P10, P50, P90, mean, and the probability that each is below zero.

### Operations from the backtest engine {#operations}

With an `operations` section, the miners' year is not assumed but measured. For each site
configuration a strategy meets in some year (grid MW of miners, mining and ballast; MW of
critical IT leased; `site.interconnect_mw`), the scenario named by `operations.scenario` is
backtested over its real year at `operations.resolution` with Ballast's rule controller: its
miner groups scaled (in proportion) to the configuration's MW, its AI load set to the
configuration's IT MW at `hosting.pue`, its import limit to the interconnect. From the run:

- **uptime** = the miners' energy / their full power x the year's hours. It replaces
  `mining.uptime` in that year, and the hybrid `ballast_uptime` and its firm/headroom split
  (the engine already decides when each miner may run beside the AI load under the limit);
- **price ratio** = the mean price of the miners' hashing hours (weighted by their power) over
  the year's mean price: the controller avoids expensive hours. It multiplies the miners' power
  price that year;
- **curtailment** [MWh] of the miners' flexible energy, reported;
- **grid programs**: with programs in the scenario, their settled cash over the year
  (reserves, demand response: `programs_cash_usd` of `ballast simulate`) is the strategy's
  `program_revenue_usd` in every year that configuration holds, as measured (nominal). The
  reserve offers (`responsive_reserve`, `ecrs`, `ers`, `non_spin`: `offer_mw`) are scaled with the miners,
  in proportion to the configuration's miner MW over the scenario's, each capped at the
  configuration's miner MW (`reserve_offer_mw`); demand-response events are the utility's
  requests and stay as the scenario states them;
- **smoothing compliance**: when the scenario has a `smoothing` section and the configuration
  an AI load, the engine's fine path (`ballast simulate` at 1 s or finer) runs the scaled
  scenario over its own window and step (for `training_campus`, one day at 1 s), without its
  programs (the fine engine has none), and reports Ballast's minutes in violation of the spec
  and the all-on baseline's, the largest ramp over the spec's window and the 0.1-20 Hz energy
  share (`smoothing_*`). It is reported, not priced, and only for that window: a 1-s year does
  not fit a per-configuration run (tens of millions of ticks). The year itself is backtested
  at `operations.resolution` without the smoothing section.

Future years keep the model's revenue formula (hashprice x hash rate x uptime), so revenue
scales with each year's hashprice. Each configuration is backtested once per process. The
method's error, per configuration (`revenue_error_pct`): the formula at the backtest year's
mean hashprice and the measured uptime against the backtest's own mining revenue (the pool fee,
which the plan folds into O&M, is most of it; the rest is the correlation of curtailment and
hashprice within the year). Not captured: at a different hashprice the controller would curtail
in other hours, so the uptime is that of the backtest year's hashprice. The optimiser's
coefficients need one uptime for every configuration (linearity): they take the uptime and price
ratio measured on the site as it starts (all mining) and no program cash; the optimal schedule
is then valued in the table with the measured operations like the other strategies.

### CO2 and water {#environment}

Per strategy, price case and year: energy drawn [MWh] = the miners' energy while they hash
(mining and ballast; idled years draw none) + the AI facility's (IT MW leased x
`environment.ai_load_factor` x `hosting.pue` x 8,766 h); CO2 [t] = energy x grid intensity
[gCO2/kWh] / 1000, location-based (the grid's average intensity for every MWh; no market-based
instruments), the intensity starting at `environment.carbon_intensity_g_per_kwh` (default the
mean of the bundled ERCOT series over 2024, about 303) and changing by `carbon_change_per_yr`;
water [m3] = the AI facility's IT energy x `environment.wue_l_per_kwh` (air-cooled miners use
none). `kwh_per_usd_earned` is the energy a strategy draws per USD of mining, lease, ballast and
program revenue over the plan: what the campus's power buys.

### Conversion optimiser {#optimizer}

With an `optimize` section the plan also asks which schedule is best: how many blocks of
`block_mw` grid MW to start converting each year, and whether to keep a converted block's
miners beside the AI tenant as ballast. The optimal schedule joins the strategy table under
`optimize.name`, valued like every other strategy.

- **Scenarios**: the first `optimize.scenarios` GBM price paths of the plan's seed (the same
  generator as the risk figures).
- **Decisions**: per year y, `x_y` blocks start converting (integer), `z_y <= x_y` of them
  keep their miners as ballast (integer; not with `allow_ballast: false`; at most
  `max_ballast_mw` in all), and `f_t` MW of ballast hash all year under the interconnect's
  spare MW (the rest hash `ballast_uptime` of the year in the AI load's headroom).
- **NPV is linear in the decisions**: every line item of a strategy's cash flow is a sum over
  its blocks (a year whose hashprice does not cover the energy idles every MW alike, so the
  operator's option to switch off is already in each scenario's coefficients). The MILP's
  coefficients are the plan's own NPVs of one block started in each year, kept as ballast, or
  hashing firm, less the NPV without it, per scenario: the same arithmetic as the table.
  A mixed fleet (`mining.models`) is converted least efficient first, so blocks differ: block k
  of the site (least efficient first) started in year y is worth the NPV of k + 1 blocks started
  that year less that of k blocks (each model earns and idles on its own, so the value does not
  depend on when the blocks before it start); binary columns `b_ky` carry these coefficients,
  `x_y = sum_k b_ky`, each block starts once and block k + 1 never before block k (the order
  the schedule converts in; it is also the better order, as a less efficient block gives up no
  more mining in any year). Checked against brute force in `tests/plan/test_optimizer.py`.
- **Constraints**: the site's MW (whole blocks); the interconnect (`site.interconnect_mw`: mining
  MW + AI grid MW + firm ballast, so firm ballast at most its spare MW); the capex budget per
  calendar year (`capex_budget_usd_per_yr`, with capex spread over `hosting.build_years` as in
  the table); the build lead time (no block starts before `start_year + lead_time_years`, and
  none whose lease would start after the plan); tenant demand (`tenant_demand_mw_it_per_yr`:
  MW of critical IT entering service each year); and a minimum conversion (`min_convert_mw`
  started by `min_convert_by_year`, e.g. a signed tenant).
- **Objective**: `expected_npv`, the mean NPV over the scenarios, or `cvar`, the mean of the
  worst `cvar_level` share, linearised after Rockafellar and Uryasev (2000, "Optimization of
  conditional value-at-risk", J. Risk 2(3)): maximise `eta - sum_s u_s / (alpha S)` with
  `u_s >= eta - NPV_s`, `u_s >= 0`.
- **Solver**: HiGHS (highspy), sparse matrix passed whole, stopping at `mip_rel_gap`; an optimum
  not proven within `time_limit_s` is an error, not a schedule.
- **Against the best deterministic plan**: the same MILP on the `bitcoin.base_case` price case
  alone gives the plan a point forecast would choose. Both are judged on the scenarios:
  `value_of_stochastic_solution_usd` is the optimum's objective less the deterministic plan's
  (never negative), and `case_npv_given_up_usd` is the base-case NPV the optimum gives up for it.
- **Infeasible**: when no schedule can start `min_convert_mw` in time, the error names the
  constraint whose removal alone would allow it (site MW, lead time, capex budget or tenant
  demand; all of them when only together) and the most MW that can start by then. A capex
  budget or a tenant demand too small for one block in any year is an error too, naming it
  (the optimiser would otherwise keep mining without saying why).

The MILP is small (about 3 columns per year, plus one row and column per scenario for CVaR)
because the recourse (idling) is folded into the coefficients: the 500 MW, 25 MW-block,
10-year, 200-scenario CVaR case has 241 rows and 231 columns and solves in well under a second
(`benchmarks/bench_plan.py`).

## Output {#output}

- `--json` prints `ballast.plan/1`: `schema`, `name`, `plan`, `start_year`, `end_year`, `years`,
  `discount_rate`, `tax_rate`, `baseline`, `best`, `base_case`; `bitcoin` (`halvings` with
  `height`, `subsidy_btc`, `time_utc`, `projected`; `mean_subsidy_btc` per year; per case its
  `growth_per_yr`, `btc_price_usd` and `hashprice_usd_per_ph_day` per year; `paths`: `n`,
  `seed`, `log_drift_per_yr`, `volatility_per_yr`, `calibrated_on`);
  `carbon_intensity_g_per_kwh` per year; `strategies`: `name`, `kind`, `baseline`, `best`,
  `capex_usd`, `repower_capex_usd`, per year `efficiency_j_per_th`, `converted_mw`, `mining_mw`, `ballast_mw`,
  `it_mw`, `environment` (in the base case: per year `energy_mwh`, `co2_t`, `water_m3`, and
  `kwh_per_usd_earned`), per case `npv_usd`, `delta_npv_usd`, `irr`, `simple_payback_years`,
  `discounted_payback_years` (null where undefined), and `risk` (`npv_usd` and `delta_npv_usd`
  percentiles, `prob_npv_negative`, `prob_delta_npv_negative`); `operations` (null without the
  section: `scenario`, `resolution`, and per configuration `mining_mw`, `it_mw`,
  `interconnect_mw`, `uptime`, `price_ratio`, `curtailed_mwh`, `hashprice_usd_per_ph_day`,
  `revenue_error_pct`, `program_revenue_usd`, `reserve_offer_mw`,
  `smoothing_minutes_in_violation`, `smoothing_minutes_in_violation_baseline`,
  `smoothing_max_ramp_mw_per_s`, `smoothing_band_energy_share`, `smoothing_window`: null
  without smoothing); `fleet` (`difficulty_growth_per_yr`, `network_efficiency_j_per_th` per
  year or null, the fleet's `efficiency_j_per_th` and `margin` per year in the base case,
  `repower_year`, `repower_efficiency_j_per_th`, and `models`: per miner model, least
  efficient first (one, `fleet`, without `mining.models`), its `name`, `efficiency_j_per_th`,
  `mw` at the start, `margin` per year in the base case, and per strategy in `strategies` its
  per-year `efficiency_j_per_th`, `mining_mw`, `ballast_mw`, `mining_revenue_usd` (base case)
  and `idle_years`); `optimize` (null without the
  section): `strategy`, `objective`, `cvar_level`, `scenarios`, `block_mw`, per year
  `convert_mw` (started), `converted_mw`, `ballast_mw`, `firm_ballast_mw`, `objective_usd`,
  `npv_usd` over the scenarios (`p10`, `p50`, `p90`, `mean`, `cvar`, `prob_negative`),
  `case_npv_usd`, `deterministic` (the same for the best base-case plan, with `case`),
  `value_of_stochastic_solution_usd`, `case_npv_given_up_usd`, and `milp` (`rows`, `columns`,
  `integer_columns`, `nonzeros`, `status`, `mip_gap`); with `--out`, `files`.
- `--out DIR` writes `plan.json` (the same document), `cashflows.csv` (one row per strategy,
  case and year: MW by use, every line item in USD, and energy, CO2 and water) and
  `paths.parquet` (one row per path and year: BTC price, difficulty, subsidy, hashprice, and
  each strategy's NPV on that path), and `report.html`, self-contained (plotly.js inlined; opens
  offline): the strategy table and the optimal schedule, the cash-flow waterfall (present value
  of each line item in the base case, per strategy), the NPV fan chart (cumulative discounted
  cash flow across the price paths: P10-P90, P25-P75, median), grid MW by use per year, a
  tornado of sensitivities (the ΔNPV of the best converting strategy with BTC price, difficulty
  growth, power price, fleet J/TH, lease rate, conversion capex and discount rate each moved
  -/+20 %, one at a time, the schedules held), CO2 and water per year, and the fleet's J/TH
  and margin per year against the network's ([fleet](#fleet)).

Exit code 2 on bad input (the message names the file and the field), with nothing written.

Not yet in this version: ballast in the conversion optimiser with a mixed fleet
(`mining.models`; refused with a message, since which models serve as ballast changes as blocks
convert), a repowering other than of the whole fleet at once, smoothing compliance priced or
measured over a whole year (it is reported over the scenario's fine window), and
demand-response events scaled with the miners.

## Running on Dask {#dask}

`--workers N` (a local cluster of N worker processes) or `--scheduler tcp://HOST:8786` (a
running one) sends the plan's independent pieces through the sweep engine's Dask path
(`ballast.sweep.engine.open_client` and `stream_batches`): with `operations`, the
configurations the strategies meet, one backtest (and smoothing run) a task; the price paths
in chunks (four per worker), each chunk valuing every strategy on its paths; and the tornado's
inputs, one task each. The configurations backtested travel with the later tasks, so a worker
does not backtest them again. Each piece's arithmetic is the same wherever it runs, so the
document is the same as in-process (tests check it on a two-worker cluster). The optimiser
(one MILP) runs in the calling process. Measured on a shared 2-core machine
(`benchmarks/bench_plan.py`), the cluster does not pay there: the path valuation is vectorised
(about a second for 10,000 paths in-process, about the same on two workers), and the
`hybrid_west_texas` backtests at 1 h (about 2.6 s cold in-process) take longer on two fresh
workers (about 4.7 s: each worker imports the engine and reads the data first). It is meant
for many or long backtests (a smoothing run at 1 s costs about 20 s of CPU per configuration)
and for machines with more cores or a remote cluster.

The fields follow, section by section."""


def render_markdown() -> str:
    return render_reference(Plan, "Plan reference (version 1)", INTRO + "\n\n" + DOCUMENT_RULES)


if __name__ == "__main__":
    print(render_markdown())
