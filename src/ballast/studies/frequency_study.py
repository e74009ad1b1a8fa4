"""The frequency study: each event with and without the miner fleet, and against fleet size.
The simulations run through the sweep engine (``run_study``): in-process or as Dask tasks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ballast.studies.frequency_doc import Event, FrequencyStudy
from ballast.studies.sfr import LoadGroups, SfrParams, Trace, simulate

SCHEMA = "ballast.study.frequency-results/1"
SETTLE_WINDOW_S = 5.0  # settling frequency: mean of the last 5 s
ROCOF_WINDOW_S = 0.5  # RoCoF over the first 500 ms after the event


def sfr_params(study: FrequencyStudy) -> SfrParams:
    s = study.system
    return SfrParams(s.base_mw, s.inertia_h_s, s.damping_pu, s.droop_pu, s.governor_gain_pu,
                     s.reheat_time_s, s.hp_fraction, s.nominal_hz)


def miner_timing_s(study: FrequencyStudy) -> tuple[float, float]:
    """(relay delay + command latency, sleep ramp) of the fleet [s], defaults from the model."""
    from ballast.models.miner_dynamics import MinerDynamics

    m, d = study.miners, MinerDynamics()
    latency = d.latency_s if m is None or m.command_latency_s is None else m.command_latency_s
    sleep = d.sleep_s if m is None or m.sleep_s is None else m.sleep_s
    relay = 0.0 if m is None else m.relay_delay_s
    return relay + latency, sleep


def load_groups(study: FrequencyStudy, fleet_mw: float) -> LoadGroups:
    """FFR, load resources, UFLS stages and the miner fleet as relay groups."""
    rows: list[tuple[str, float, float, float, float]] = []
    for name, r in (("ffr", study.fast_frequency_response), ("load_resources", study.load_resources)):
        if r is not None:
            rows.append((name, r.mw, r.threshold_hz, r.delay_s, r.ramp_s))
    for i, s in enumerate(study.ufls):
        rows.append((f"ufls_{i + 1}", s.share_of_load_pct / 100 * study.system.base_mw,
                     s.threshold_hz, s.delay_s, 0.0))
    if study.miners is not None and fleet_mw > 0:
        delay, sleep = miner_timing_s(study)
        rows.append(("miners", fleet_mw, study.miners.threshold_hz, delay, sleep))
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return LoadGroups(tuple(cols[0]), *(np.asarray(c, dtype="float64") for c in cols[1:]))


def load_shed_mw(event: Event, t_s: np.ndarray) -> np.ndarray:
    """Operator load shed in effect [MW] (each order ramps linearly over its ``ramp_s``)."""
    out = np.zeros(len(t_s))
    for order in event.load_shed:
        since = t_s - order.at_s
        share = (since >= 0) if order.ramp_s <= 0 else np.clip((since + 1e-9) / order.ramp_s, 0, 1)
        out += order.mw * share
    return out


def disturbance_mw(event: Event, n: int, dt_s: float, forcing_hz: float | None = None) -> np.ndarray:
    """Disturbance per step [MW]: > 0 generation lost, < 0 load lost; oscillation as a sine;
    a replay: its generation-loss profile less the operator's load shed."""
    t = np.arange(n) * dt_s
    if event.kind == "replay":
        times, mw = zip(*event.generation_lost_mw, strict=True)
        return np.interp(t, times, mw) - load_shed_mw(event, t)
    on = t >= event.at_s
    if event.kind == "generation_trip":
        return np.where(on, event.mw, 0.0)
    if event.kind == "load_loss":
        return np.where(on, -event.mw, 0.0)
    return np.where(on, event.mw * np.sin(2 * np.pi * (forcing_hz or 0.0) * (t - event.at_s)), 0.0)


def group_relief_mw(trace: Trace, name_prefix: str) -> float:
    """Relief [MW] of the groups whose name starts with ``name_prefix`` at the end of the run."""
    g, end, dt = trace.groups, trace.t_s[-1], trace.t_s[1] - trace.t_s[0]
    total = 0.0
    for i, name in enumerate(g.name):
        if name.startswith(name_prefix) and trace.trip_time_s[i] >= 0:
            ramp = g.ramp_s[i]
            share = 1.0 if ramp <= 0 else min(1.0, (end - trace.trip_time_s[i] + dt) / ramp)
            total += share * g.mw[i]
    return float(total)


def event_metrics(trace: Trace, at_s: float, thresholds_hz: list[float]) -> dict[str, float]:
    """Nadir, peak, RoCoF, settling frequency, seconds below thresholds, relief by kind."""
    f, t = trace.freq_hz, trace.t_s
    dt = t[1] - t[0]
    k0 = round(at_s / dt)
    k1 = min(len(f) - 1, k0 + round(ROCOF_WINDOW_S / dt))
    out = {"nadir_hz": float(f.min()), "peak_hz": float(f.max()),
           "rocof_hz_per_s": float((f[k1] - f[k0]) / max((k1 - k0) * dt, dt)),
           "settling_hz": float(f[t >= t[-1] - SETTLE_WINDOW_S].mean()),
           "ffr_mw": group_relief_mw(trace, "ffr"),
           "load_resources_mw": group_relief_mw(trace, "load_resources"),
           "ufls_shed_mw": group_relief_mw(trace, "ufls"),
           "miners_tripped_mw": group_relief_mw(trace, "miners")}
    for thr in thresholds_hz:
        out[f"seconds_below_{thr:g}_hz"] = float((f < thr).sum() * dt)
    return out


@dataclass
class FrequencyResults:
    """Per-event metrics with and without miners, traces for plots, and the fleet sweep."""

    study: FrequencyStudy
    rows: list[dict] = field(default_factory=list)
    traces: dict[tuple[str, str], Trace] = field(default_factory=dict)
    sweep: list[dict] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def sweep_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.sweep)

    def to_json(self) -> dict:
        delay, sleep = miner_timing_s(self.study)
        return {"schema": SCHEMA, "study": self.study.name,
                "model": "reduced SFR model, Anderson & Mirheydar (1990)",
                "miner_timing_s": {"relay_plus_command_latency": delay, "sleep_ramp": sleep},
                "events": self.rows, "fleet_sweep": self.sweep}


def _cases(study: FrequencyStudy) -> list[tuple[str, float]]:
    fleet = study.miners.fleet_mw if study.miners is not None else 0.0
    return [("without miners", 0.0)] + ([("with miners", fleet)] if fleet > 0 else [])


def event_study(study: FrequencyStudy, event: Event) -> FrequencyStudy:
    """The study as the event sees it: its hour's ``system`` fields, without the groups that
    had already acted, over its own duration."""
    if not (event.system or event.already_deployed or event.duration_s):
        return study
    update: dict = {name: None for name in event.already_deployed}
    if event.system:
        update["system"] = study.system.model_copy(update=event.system)
    if event.duration_s:
        update["run"] = study.run.model_copy(update={"duration_s": event.duration_s})
    return study.model_copy(update=update)


def run_event(study: FrequencyStudy, event: Event, fleet_mw: float,
              forcing_hz: float | None = None) -> Trace:
    study = event_study(study, event)
    n = round(study.run.duration_s / study.run.step_s) + 1
    dist = disturbance_mw(event, n, study.run.step_s, forcing_hz)
    return simulate(sfr_params(study), dist, study.run.step_s, load_groups(study, fleet_mw))


def replay_metrics(event: Event, trace: Trace) -> dict[str, float]:
    """Firm load shed (before the run and ordered in it) and the published figures beside."""
    out = {"firm_load_shed_mw": event.already_shed_mw + float(load_shed_mw(event, trace.t_s[-1:])[0])}
    pub = event.published
    if pub is not None:
        if pub.nadir_hz is not None:
            out["published_nadir_hz"] = pub.nadir_hz
        for thr, seconds in pub.seconds_below_hz.items():
            out[f"published_seconds_below_{float(thr):g}_hz"] = seconds
        if pub.firm_load_shed_mw is not None:
            out["published_firm_load_shed_mw"] = pub.firm_load_shed_mw
    return out


@dataclass(frozen=True)
class EventRun:
    """One simulation of a study: event ``event`` (index) in ``case`` with ``fleet_mw`` of
    miners, at ``forcing_hz`` (oscillations); ``case`` "fleet sweep" is a point of the sweep."""

    event: int
    case: str
    fleet_mw: float
    forcing_hz: float | None = None


SWEEP_CASE = "fleet sweep"


def event_runs(study: FrequencyStudy) -> list[EventRun]:
    """Every simulation of the study, in the order of its tables: each event with and without
    the fleet (each forcing frequency of an oscillation), then a generation trip's fleet sweep."""
    runs: list[EventRun] = []
    for i, event in enumerate(study.events):
        for case, fleet in _cases(study):
            forcings = event.frequencies_hz if event.kind == "oscillation" else [None]
            runs += [EventRun(i, case, fleet, fz) for fz in forcings]
        if event.kind == "generation_trip" and study.miners is not None:
            runs += [EventRun(i, SWEEP_CASE, fleet) for fleet in study.miners.fleet_sweep_mw]
    return runs


def run_events(runs: list[EventRun], study: FrequencyStudy) -> list[tuple[dict, Trace | None]]:
    """The sweep engine's batch function: (row, trace) of each run; a sweep point's row goes to
    the fleet sweep table and keeps no trace."""
    thresholds = study.run.report_thresholds_hz
    out: list[tuple[dict, Trace | None]] = []
    for r in runs:
        event = study.events[r.event]
        tr = run_event(study, event, r.fleet_mw, r.forcing_hz)
        metrics = event_metrics(tr, event.at_s, thresholds)
        if r.case == SWEEP_CASE:
            out.append(({"event": event.name, "fleet_mw": r.fleet_mw, **metrics}, None))
        elif r.forcing_hz is not None:
            late = tr.freq_hz[tr.t_s >= tr.t_s[-1] / 2]
            out.append(({"event": event.name, "case": r.case, "fleet_mw": r.fleet_mw,
                         "forcing_hz": r.forcing_hz, "oscillation_mhz_peak_to_peak":
                         float((late.max() - late.min()) * 1000), **metrics}, tr))
        else:
            out.append(({"event": event.name, "case": r.case, "fleet_mw": r.fleet_mw, **metrics,
                         **(replay_metrics(event, tr) if event.kind == "replay" else {})}, tr))
    return out


MAX_RUNS_PER_TASK = 64  # a 60-s event at 10 ms takes about 1 ms warm, the 16-min replay ~20 ms


def run_study(study: FrequencyStudy, client=None, batch_size: int | None = None) -> FrequencyResults:
    """Every event, with and without the miner fleet; generation trips also over the fleet sweep.

    The runs go through the sweep engine: batches as Dask tasks on ``client`` (see
    ``ballast.sweep.engine.open_client``; one retry if a worker is lost, a run's error is
    raised here), or the same batch function in-process (``client=None``). Results are put
    back in the study's order, so the tables do not depend on the batching or the workers."""
    import uuid

    from ballast.sweep.engine import stream_batches, task_groups

    runs = event_runs(study)
    n_workers = len(client.nthreads()) if client is not None else 1
    order = task_groups(list(range(len(runs))), n_workers, batch_size, MAX_RUNS_PER_TASK)
    done: list[tuple[dict, Trace | None] | None] = [None] * len(runs)

    def take(g: int, result: list | BaseException) -> None:
        if isinstance(result, BaseException):
            raise result
        for i, item in zip(order[g], result, strict=True):
            done[i] = item

    if client is None:
        for g, group in enumerate(order):
            take(g, run_events([runs[i] for i in group], study))
    else:  # an error in take cancels the outstanding tasks (stream_batches)
        stream_batches(client, run_events, [[runs[i] for i in group] for group in order], study,
                       key_prefix=f"ballast-frequency-{uuid.uuid4().hex[:8]}", take=take)
    res = FrequencyResults(study)
    for r, (row, tr) in zip(runs, done, strict=True):
        if r.case == SWEEP_CASE:
            res.sweep.append(row)
            continue
        name = study.events[r.event].name
        res.traces[(name if r.forcing_hz is None else f"{name} @ {r.forcing_hz:g} Hz", r.case)] = tr
        res.rows.append(row)
    return res
