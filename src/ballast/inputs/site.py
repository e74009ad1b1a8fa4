"""Build every per-interval input of a run from the scenario: prices, hashprice, loads, plants.

All series share the run's UTC index (interval starts). Powers in MW (interval averages).
When each value is known, per column: ``ballast.inputs.availability.AVAILABILITY``.

Both hosts read it: the backtest (``sim/``) and the live market replay (``live/``), so neither
imports the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.data.bitcoin_network import read_network
from ballast.data.errors import DataError
from ballast.data.loaders import align, as_published, read_series, tables_read_once
from ballast.inputs.availability import decision_delay
from ballast.inputs.cache import active_cache
from ballast.inputs.coverage import check_coverage
from ballast.models import ai_swings, bitcoin, compute, renewables
from ballast.models.ai_swings import TrainingSwings
from ballast.scenario import Renewable, Scenario

# Bounds that catch unit mistakes, not market extremes: ERCOT's offer cap is 5,000 USD/MWh
# (9,000 in Feb 2021) but locational SPPs with adders exceed it (ERCOT NP6-785-ER, Feb 2021:
# 10,529.75 at LZ_CPS; docs/sources.md#ercot-prices-uri).
PRICE_BOUNDS_USD_PER_MWH = (-10_000.0, 50_000.0)


@dataclass(frozen=True)
class SiteInputs:
    """Per-interval inputs on one UTC index."""

    frame: pd.DataFrame  # columns with units, see build_inputs
    renewable_columns: tuple[str, ...]

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.frame.index


def step_hours(index: pd.DatetimeIndex) -> float:
    """Interval length [h]."""
    return (index[1] - index[0]) / pd.Timedelta("1h") if len(index) > 1 else 0.0


def training_swings(scenario: Scenario, floor: bool = True) -> TrainingSwings:
    """The scenario's training job as model parameters (optionally without the GPU floor)."""
    return TrainingSwings.from_spec(scenario.ai.training, floor)


def _price(scenario: Scenario, index: pd.DatetimeIndex, base_dir: Path | None,
           window: tuple[pd.Timestamp, pd.Timestamp]) -> tuple[pd.Series, pd.Series]:
    """The settlement price of each interval and the price the controller decides on, each
    price used from its interval's end (``markets.price.decision_delay``,
    ``inputs/availability.py``)."""
    src = scenario.markets.price
    label = f"markets.price ({src.source})"

    def read(win: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
        return read_series(src.source, src.column, time_column=src.time_column,
                           location=src.location, minimum=PRICE_BOUNDS_USD_PER_MWH[0],
                           maximum=PRICE_BOUNDS_USD_PER_MWH[1], base_dir=base_dir, window=win,
                           label=label)

    series = read(window)
    settle = align(series, index, label)
    delay = decision_delay(src.decision_delay, series.attrs["step"], scenario.run.step)
    if delay == pd.Timedelta(0):
        return settle, settle.rename("decision_price_usd_per_mwh")
    first = series.attrs["file_start"]  # no earlier price exists to decide on
    known = read((max(window[0] - delay, first), window[1] - delay))
    known = as_published(known, delay)
    if known.index[0] > index[0]:  # a run from the file's first instant: hold the first
        head = pd.Series([known.iloc[0]], index=pd.DatetimeIndex([index[0]]))  # price until
        known = pd.concat([head, known])  # one is known (inputs/availability.py)
        known.attrs = {"step": series.attrs["step"]}
    return settle, align(known, index, label).rename("decision_price_usd_per_mwh")


def _bitcoin(scenario: Scenario, index: pd.DatetimeIndex, base_dir: Path | None,
             window: tuple[pd.Timestamp, pd.Timestamp]) -> dict[str, np.ndarray]:
    """Revenue per TH/s by ``markets.bitcoin.fees``: ``series`` applies each day's real fees,
    subsidy, hash rate and close once the day is published; ``share`` adds a flat fee share to
    the subsidy of each instant (difficulty is a consensus value known ahead: no delay)."""
    btc = scenario.markets.bitcoin
    delay = pd.Timedelta(hours=btc.price_delay_h)  # each daily row applies once it is known
    if btc.fees == "series":
        label = f"markets.bitcoin.network_source ({btc.network_source})"
        net = {name: align(s, index, label).to_numpy() for name, s in read_network(
            btc.network_source, delay=delay, base_dir=base_dir, window=window,
            label=label).items()}
        price_a = net["btc_price_usd"]
        diff_a = bitcoin.implied_difficulty(net["network_hashrate_th_s"], net["blocks"])
        subsidy = net["subsidy_btc"] / net["blocks"]  # the day's mean per block
        fees = net["fees_btc"] / net["blocks"]
    else:
        label = f"markets.bitcoin ({btc.source})"
        price = as_published(read_series(btc.source, btc.price_column, base_dir=base_dir,
                                         minimum=0.01, maximum=1e8,
                                         window=(window[0] - delay, window[1] - delay),
                                         label=label), delay)
        diff = read_series(btc.source, btc.difficulty_column, base_dir=base_dir, minimum=1.0,
                           window=window, label=label)
        price_a = align(price, index, label).to_numpy()
        diff_a = align(diff, index, label).to_numpy()
        subsidy = bitcoin.block_subsidy_btc_at(index)
        fees = bitcoin.fees_btc_per_block(subsidy, btc.fee_share_of_revenue)
    return {
        "btc_price_usd": price_a,
        "difficulty": diff_a,
        "block_subsidy_btc": subsidy,
        "fees_btc_per_block": fees,
        "btc_per_th_day": bitcoin.btc_per_th_day(diff_a, subsidy, fees),
        "hashprice_usd_per_ph_day": bitcoin.hashprice_usd_per_ph_day(price_a, diff_a, subsidy,
                                                                     fees),
    }


def _ai(scenario: Scenario, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    ai = scenario.ai
    if ai is None:
        zeros = np.zeros(len(index))
        return zeros, zeros
    if ai.profile in ("flat", "training", "replay"):  # fine shapes: sim/fine_ai.py
        it = compute.flat_it_load_mw(index, ai.it_load_mw)
        if draws_noise(scenario):
            rng = np.random.default_rng(scenario.run.seed)
            it = (it + rng.normal(0, ai.noise_share * ai.it_load_mw, len(index))).clip(
                0, ai.it_load_mw)
    else:
        it = compute.diurnal_inference_it_load_mw(
            index, ai.it_load_mw, ai.diurnal_amplitude_share, timezone=scenario.site.timezone,
            noise_share=ai.noise_share, seed=scenario.run.seed)
    if ai.profile == "training":  # coarse runs: the waveform's expected level (sim/fine_ai.py)
        it = it * ai_swings.mean_level_share(training_swings(scenario))
    windows = [(pd.Timestamp(w.start).tz_convert("UTC"), pd.Timestamp(w.end).tz_convert("UTC"),
                w.it_load_share) for w in ai.maintenance]
    it = compute.apply_maintenance_windows(it, windows)
    it_mw = it.to_numpy(dtype="float64")
    return it_mw, compute.facility_load_mw(it_mw, ai.pue)


def _fleet_capacity_factor(plant: Renewable, column: str, base_dir: Path | None,
                           window: tuple[pd.Timestamp, pd.Timestamp], label: str) -> pd.Series:
    """The fleet's capacity factor by the plant's normalisation (models/renewables.py)."""
    if plant.normalisation == "year_max":  # the year's maximum needs the whole year: read all
        fleet = read_series(plant.source, column, base_dir=base_dir, minimum=0.0, label=label)
        return renewables.capacity_factor_by_year_max(fleet)
    fleet = read_series(plant.source, column, base_dir=base_dir, minimum=0.0, window=window,
                        label=label)
    installed = read_series(plant.installed_capacity_source, f"ercot_{plant.kind}_installed_mw",
                            base_dir=base_dir, minimum=1.0, check_step=False,
                            label=f"renewables[{plant.name}].installed_capacity_source "
                                  f"({plant.installed_capacity_source})")
    return renewables.capacity_factor_by_installed(fleet, installed)


# Scenario fields the inputs never read: runs that differ only in these share their inputs
# (``inputs_key``). Everything else is in the key, also any field added later, so a new field
# can cost a cache hit but never give a run another run's inputs. tests/test_inputs_key_fields.py
# walks the schema and checks that changing each field these name, at any depth, leaves the
# built inputs equal (and says why the key is not derived from the fields the builder reads).
NOT_READ: dict = {"name": True, "description": True, "notes": True, "miners": True,
                  "control": True, "battery": True, "costs": True,
                  "site": {"name", "import_limit_mw", "export_limit_mw"},
                  "markets": {"export_price_share"}}


def draws_noise(scenario: Scenario) -> bool:
    """True when the inputs draw random numbers (AI load noise, seeded by ``run.seed``)."""
    return scenario.ai is not None and scenario.ai.noise_share > 0


def inputs_key(scenario: Scenario, base_dir: Path | None) -> str:
    """What ``build_inputs`` depends on, as text: the scenario without ``NOT_READ`` (and
    without ``run.seed`` when nothing is drawn: a sweep gives each run its own seed), and the
    folder relative sources resolve against."""
    doc = scenario.model_dump(mode="json", exclude=NOT_READ)
    if not draws_noise(scenario):
        doc["run"].pop("seed")
    folder = base_dir if base_dir is not None else Path.cwd()
    return json.dumps([str(Path(folder).resolve()), doc], sort_keys=True)


def build_inputs(scenario: Scenario, base_dir: Path | None = None) -> SiteInputs:
    """Load, validate and align every series the run needs (each file read once); from the
    process's inputs cache when a batch worker keeps one (``ballast.inputs.cache``)."""
    cache = active_cache()
    if cache is None:
        return _build_once(scenario, base_dir)

    def build() -> tuple[pd.DataFrame, tuple[str, ...]]:
        built = _build_once(scenario, base_dir)
        return built.frame, built.renewable_columns

    frame, renewable_columns = cache.get(inputs_key(scenario, base_dir), build)
    return SiteInputs(frame=frame, renewable_columns=renewable_columns)


def _build_once(scenario: Scenario, base_dir: Path | None) -> SiteInputs:
    with tables_read_once():
        return _build_inputs(scenario, base_dir)


def _build_inputs(scenario: Scenario, base_dir: Path | None) -> SiteInputs:
    index = scenario.run.index()
    window = (index[0], index[-1] + scenario.run.step)
    check_coverage(scenario, window, base_dir)  # one line naming every series that falls short
    settle, decide = _price(scenario, index, base_dir, window)
    cols: dict[str, np.ndarray] = {"price_usd_per_mwh": settle.to_numpy(),
                                   "decision_price_usd_per_mwh": decide.to_numpy()}
    cols.update(_bitcoin(scenario, index, base_dir, window))
    it_mw, ai_mw = _ai(scenario, index)
    cols["ai_it_load_mw"] = it_mw
    cols["ai_load_mw"] = ai_mw
    ren_cols = []
    total = np.zeros(len(index))
    for plant in scenario.renewables:
        column = plant.column or f"ercot_{plant.kind}_mw"
        label = f"renewables[{plant.name}] ({plant.source})"
        cf = _fleet_capacity_factor(plant, column, base_dir, window, label)
        out = renewables.plant_output_mw(align(cf, index, label).to_numpy(), plant.capacity_mw,
                                         plant.capacity_factor_scale)
        name = f"renewable_{plant.name}_mw"
        cols[name] = out
        ren_cols.append(name)
        total = total + out
    cols["renewable_mw"] = total
    if scenario.markets.carbon is not None:
        src = scenario.markets.carbon
        ci = read_series(src.source, src.column, time_column=src.time_column, base_dir=base_dir,
                         minimum=0.0, maximum=2000.0, window=window,
                         label=f"markets.carbon ({src.source})")
        cols["carbon_intensity_g_per_kwh"] = align(ci, index, f"markets.carbon ({src.source})"
                                                   ).to_numpy()
    frame = pd.DataFrame(cols, index=index)
    if not np.isfinite(frame.to_numpy()).all():
        bad = frame.columns[~np.isfinite(frame.to_numpy()).all(axis=0)][0]
        raise DataError(bad, "non-finite values after building inputs")
    return SiteInputs(frame=frame, renewable_columns=tuple(ren_cols))
