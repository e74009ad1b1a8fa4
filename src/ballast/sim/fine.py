"""Fine-resolution backtest (1 s, 100 ms): the controller against the miner plant and a battery.

Coarse inputs (prices, hashprice, renewables) come from ``build_inputs`` at 1 min and hold per
tick; the AI load is generated per chunk (float32); per-group power is recorded every
``record_every`` ticks, so a 1-s year (31.5 M ticks) stays well under 2 GB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.control import ControllerConfig, ControllerState, Snapshot, step
from ballast.control.records import INFO_DTYPE
from ballast.data.errors import DataError
from ballast.inputs import SiteInputs, build_inputs
from ballast.models.miner_dynamics import MinerDynamics, ring_slots, ticks
from ballast.scenario import Scenario, parse_scenario
from ballast.scenario_smoothing import BatterySpec
from ballast.sim.fine_ai import FineAi, fine_ai
from ballast.sim.kernel import Clock, Inputs, Outputs, Plant, run_plant_ticks

COARSE_S = 60.0  # coarse input step [s]: prices are 15-min, hashprice daily, renewables hourly
__all__ = ["COARSE_S", "FineRun", "FineSetup", "fine_setup", "run_fine"]
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class FineRun:
    """One policy at fine resolution. Per tick: float32 [MW]; per block: float64 [MW]."""

    name: str
    start_utc: pd.Timestamp
    dt_s: float
    record_every: int
    group_names: tuple[str, ...]
    ai_mw: np.ndarray
    import_mw: np.ndarray
    miner_mw: np.ndarray | None
    battery_mw: np.ndarray | None
    rule: np.ndarray | None  # binding rule code per tick (int8)
    floor_fill_mwh: float
    floor_fill_cost_usd: float  # the floor's energy at the real-time price
    group_power_mw: np.ndarray  # blocks x groups, mean over each block
    reserve_mw: np.ndarray  # blocks x 2 (up, down)
    rule_ticks: np.ndarray  # ticks per binding rule code

    @property
    def n(self) -> int:
        return int(self.import_mw.shape[0])

    def index(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start_utc, periods=self.n, freq=pd.Timedelta(seconds=self.dt_s),
                             name="interval_start_utc")


def run_fine(config: ControllerConfig, coarse: pd.DataFrame, ai: FineAi, n_ticks: int,
             dynamics: list[MinerDynamics], *, name: str = "ballast",
             battery: BatterySpec | None = None, record_every: int = 1,
             cap_mw: np.ndarray | None = None, floor_mw: np.ndarray | None = None,
             keep_ticks: bool = True, chunk: int = 1 << 20,
             progress: ProgressFn | None = None) -> FineRun:
    """Run the controller and plant over ``n_ticks`` ticks of ``ai.dt_s``. ``coarse`` has one
    row per ``ai.coarse_every`` ticks (price, hashprice, renewable_mw); ``cap_mw``/``floor_mw``
    (grid obligations) are per coarse row."""
    dt_s, every = ai.dt_s, ai.coarse_every
    g = config.groups
    ng = len(g.names)
    nc = len(coarse)
    if nc * every < n_ticks:
        raise ValueError(f"coarse inputs cover {nc * every} ticks, the run needs {n_ticks}")
    price = coarse["decision_price_usd_per_mwh"].to_numpy(dtype="float64")  # sim/availability
    hashprice = coarse["hashprice_usd_per_ph_day"].to_numpy(dtype="float64")
    ren = coarse["renewable_mw"].to_numpy(dtype="float64")
    cap = np.full(nc, np.inf) if cap_mw is None else np.asarray(cap_mw, dtype="float64")
    floor = np.zeros(nc) if floor_mw is None else np.asarray(floor_mw, dtype="float64")
    state = ControllerState.initial(config, ai.t0_s)
    if n_ticks:  # start settled: the plant already at the controller's first decision
        start = state.copy()
        first = step(config, start, Snapshot(
            ai.t0_s, float(price[0]), float(hashprice[0]), float(ai.chunk(0, 1)[0][0]),
            float(ren[0]), float(cap[0]), float(floor[0])))
        state.running[:] = first.running
        state.restore[:] = start.restore  # the ramp's ceiling at that decision
    dyn = dynamics or [MinerDynamics()] * ng
    slots = ring_slots(dyn, dt_s)
    pending = np.zeros((slots, ng))  # slot-major: a tick reads one contiguous row
    rate = np.zeros(ng)
    power = g.power_mw(state.running).astype("float64")
    raw = power.copy()
    lat = np.array([ticks(d.latency_s, dt_s) for d in dyn], dtype=np.int64)
    slp = np.array([max(1, ticks(d.sleep_s, dt_s)) for d in dyn], dtype=np.int64)
    wak = np.array([max(1, ticks(d.wake_s, dt_s)) for d in dyn], dtype=np.int64)
    pos = np.zeros(1, dtype=np.int64)
    if battery is not None:
        eta = float(np.sqrt(battery.round_trip_efficiency))
        batt = np.array([battery.initial_soc_share * battery.energy_mwh, eta])
    else:
        batt = np.array([0.0, 1.0])
    params = config.params
    grp = config.group_arrays
    mem = (state.econ_on, state.last_change_s, state.running, state.smooth, state.ai_buf,
           state.restore)
    plant = Plant(pending, pos, rate, raw, power, lat, slp, wak)
    chunk = max(record_every, chunk // record_every * record_every)
    blocks = -(-n_ticks // record_every)
    group_mw = np.zeros((blocks, ng))
    reserve = np.zeros((blocks, 2))
    rules = np.zeros(16, dtype=np.int64)
    with _small_pages():  # per-tick outputs: see _small_pages
        imp = np.empty(n_ticks, dtype=np.float32)
        ai_all = np.empty(n_ticks, dtype=np.float32)
        miner = np.empty(n_ticks, dtype=np.float32) if keep_ticks else np.empty(chunk, np.float32)
        bat = np.empty(n_ticks, dtype=np.float32) if keep_ticks else np.empty(chunk, np.float32)
        rule = np.empty(n_ticks, dtype=np.int8) if keep_ticks else np.empty(chunk, np.int8)
    info_rec = np.zeros(1, INFO_DTYPE)  # what a tick reports (kept here: see run_plant_ticks)
    fill_mwh = 0.0
    fill_usd = 0.0
    for i0, n, ai_mw, fill in _chunks_ahead(ai, n_ticks, chunk, ai_all):
        if fill.any():  # (a sum of zeros adds nothing: one pass less without a GPU floor)
            fill_mwh += float(fill.sum(dtype="float64")) * dt_s / 3600.0
            tick_price = price[np.arange(i0, i0 + n) // every]
            fill_usd += float((fill * tick_price).sum()) * dt_s / 3600.0
        c0 = i0 // every
        b0 = i0 // record_every
        b1 = -(-(i0 + n) // record_every)
        sl = slice(i0, i0 + n) if keep_ticks else slice(0, n)
        run_plant_ticks(
            Clock(ai.t0_s + i0 * dt_s, dt_s, i0, every),
            # the waveform as float32 (the kernel widens each tick, exactly: no float64 copy)
            Inputs(price[c0:], hashprice[c0:], ren[c0:], cap[c0:], floor[c0:], ai_mw),
            params, grp, mem, plant, batt,
            Outputs(imp[i0:i0 + n], miner[sl], bat[sl], rule[sl], group_mw[b0:b1],
                    reserve[b0:b1], rules, record_every), info_rec)
        if progress is not None:
            progress(i0 + n, n_ticks)
    tail = n_ticks % record_every
    if tail:  # the last block is partial: its sums were divided by record_every
        group_mw[-1] *= record_every / tail
        reserve[-1] *= record_every / tail
    return FineRun(name=name, start_utc=pd.Timestamp(ai.t0_s, unit="s", tz="UTC"), dt_s=dt_s,
                   record_every=record_every, group_names=tuple(g.names), ai_mw=ai_all,
                   import_mw=imp, miner_mw=miner if keep_ticks else None,
                   battery_mw=bat if keep_ticks else None,
                   rule=rule if keep_ticks else None, floor_fill_mwh=fill_mwh,
                   floor_fill_cost_usd=fill_usd,
                   group_power_mw=group_mw, reserve_mw=reserve, rule_ticks=rules)


def _chunks_ahead(ai: FineAi, n_ticks: int, chunk: int,
                  ai_all: np.ndarray) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """(first tick, ticks, AI load [MW], floor fill) per chunk of ``chunk`` ticks, each chunk's
    load also copied into ``ai_all``; the next chunk is generated on a second thread while the
    caller runs this one (the waveform and the kernel release the GIL, and a chunk does not
    depend on the run). The 1-s year's wall time falls by the waveform's share where a
    second core is free; the chunks are the same either way."""
    def make(i0: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        n = min(chunk, n_ticks - i0)
        ai_mw, fill = ai.chunk(i0, n)
        ai_all[i0:i0 + n] = ai_mw
        return i0, n, ai_mw, fill

    starts = range(0, n_ticks, chunk)
    if len(starts) <= 1:  # one chunk or none: nothing to overlap, no thread
        yield from map(make, starts)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ballast-fine-ai") as pool:
        ahead = pool.submit(make, starts[0])
        for following in starts[1:]:
            done = ahead.result()
            ahead = pool.submit(make, following)
            yield done
        yield ahead.result()


def hugepage_setter() -> Callable[[bool], bool] | None:
    """numpy's private switch of its huge-page advice (``_set_madvise_hugepage``: takes the new
    setting, returns the old), from numpy 2's ``numpy._core`` or numpy 1's ``numpy.core``;
    None if neither has it."""
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(import_module(name), "_set_madvise_hugepage", None)
        except ImportError:
            continue
    return None


_HUGEPAGE_SETTER = hugepage_setter()  # looked up once, not per run


@contextmanager
def _small_pages() -> Iterator[None]:
    """numpy allocates without its transparent-huge-page advice inside this block.

    A 1-s year's per-tick outputs are 126 MB each, written once, in order. On this project's
    machines (Firecracker VMs with free page reporting) the first touch of fresh huge pages is
    slow: 126 MB took 0.98-1.01 s of (mostly system) CPU with numpy's advice, 0.05 s without
    (fresh process, best of 3); the 1-s year's system time in ``run_fine`` fell from 1.3-1.8 s
    to 0.2 s.
    Later passes over the array take the same time either way. numpy has no public switch
    besides the ``NUMPY_MADVISE_HUGEPAGE`` environment variable, read once at import: the
    private setter is used when present, and without it nothing changes.
    """
    setter = _HUGEPAGE_SETTER
    if setter is None:
        yield
        return
    was = setter(False)
    try:
        yield
    finally:
        setter(was)


@dataclass(frozen=True)
class FineSetup:
    """Everything a fine run of one scenario needs, built once and shared by all cases."""

    scenario: Scenario
    dt_s: float
    n_ticks: int
    coarse_every: int
    coarse: SiteInputs
    t0_s: float
    base_dir: Path | None

    def ai(self, floor: bool = True, floor_share: float | None = None) -> FineAi:
        scn = self.scenario
        if floor_share is not None and scn.ai is not None:
            data = scn.model_dump(mode="json")
            data["ai"]["training"]["gpu_power_floor_share"] = floor_share
            scn = parse_scenario(data)
        t1 = self.t0_s + self.n_ticks * self.dt_s
        return fine_ai(scn, self.coarse.frame["ai_load_mw"].to_numpy(), self.coarse_every,
                       self.dt_s, self.t0_s, t1, self.base_dir, floor=floor)


def fine_setup(scenario: Scenario, base_dir: Path | None = None) -> FineSetup:
    """Coarse inputs at 1 min (AI without coarse noise) and the tick grid of the run."""
    step_s = scenario.run.step.total_seconds()
    ratio = COARSE_S / step_s
    if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
        raise DataError("scenario run.resolution",
                        f"{scenario.run.resolution} must divide 1 min: smoothing runs at 1 min "
                        "or finer (e.g. 1s, 100ms); remove the smoothing section for coarser runs")
    data = scenario.model_dump(mode="json")
    data["run"]["resolution"] = "1min"
    if data.get("ai"):
        data["ai"]["noise_share"] = 0.0  # the fine generator adds per-tick noise
        if data["ai"]["profile"] in ("training", "replay"):
            data["ai"]["profile"] = "flat"  # full power per minute; the waveform scales it
    coarse_scn = parse_scenario(data, "(coarse inputs)")
    coarse = build_inputs(coarse_scn, base_dir)
    n_ticks = len(scenario.run.index())
    t0_s = pd.Timestamp(scenario.run.start).tz_convert("UTC").timestamp()
    return FineSetup(scenario, step_s, n_ticks, round(ratio), coarse, t0_s, base_dir)
