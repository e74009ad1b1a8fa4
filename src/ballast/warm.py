"""``python -m ballast.warm`` (``make warm``): compile the numba kernels into numba's on-disk cache.

On a clean clone the cache is empty (``__pycache__/*.nbi``/``*.nbc`` beside each compiled
module, or ``NUMBA_CACHE_DIR``), so the first user of each kernel compiles it: the live runtime
in ``Runtime.warm_up`` before its first tick, a backtest in its first run. This runs every
compiled entry point of those hosts once, through the functions the hosts call, on inputs small
enough to run in a moment:

- live: ``control.step`` (``Runtime.warm_up``'s path; ``step_arrays``) on the training campus's
  controller config at a 1-s tick, as ``live.site_model.scaled_controller_config`` builds it;
- fine backtest (1 s): ``sim.engine.simulate`` of the training campus (smoothing, battery,
  training waveform) over ``FINE_MINUTES`` minutes: ``run_plant_ticks``, the waveform's
  ``training_level_chunk`` (not ``sim.compliance``'s passes: the smoothing study calls them,
  not ``simulate``);
- coarse backtest (15 min): ``simulate`` of the bundled West Texas 2024 campus over one day:
  ``run_ticks_records``;
- studies: ``studies.frequency_study.run_event`` of the bundled ERCOT frequency study's first
  event with its miner fleet (``studies.sfr``'s ``_run``, which the frequency and balancing
  studies and their tests call).

Each kernel is compiled with ``cache=True``, so the machine code lands in the cache; a later
process loads it (``numba_cache.drop_stale`` drops it when a source it inlines changes).
Prints one line per part with its time.

Run with no part named (``make warm``), it first reads its stamp (``ballast.warm_stamp``) and
does nothing when no source of the kernels it warms, no numba or Python version and no cache file
it left has changed since the last full run; after a full run it writes the stamp. Parts named
on the command line always run (and leave the stamp as it was).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from ballast import warm_stamp

# pandas and the hosts are imported inside the parts: a fresh stamp answers in about 0.1 s of
# CPU, before anything heavy loads (importing pandas alone: 0.5-1 s)
FINE_MINUTES = 10  # of the training campus at 1 s: 600 ticks
COARSE_DAYS = 1  # of West Texas 2024 at 15 min: 96 intervals


def warm_live() -> None:
    """``control.step`` once on the training campus's config at a 1-s tick."""
    import pandas as pd

    from ballast.control import ControllerState, Snapshot, step
    from ballast.control.build import controller_config
    from ballast.examples import examples_dir
    from ballast.scenario import load_scenario

    scn = load_scenario(examples_dir() / "training_campus.yaml")
    cfg = controller_config(scn, 1.0, base_dir=examples_dir())
    t0_s = pd.Timestamp(scn.run.start).timestamp()
    state = ControllerState.initial(cfg, t0_s, running=True)
    step(
        cfg,
        state,
        Snapshot(time_s=t0_s, price_usd_per_mwh=30.0, hashprice_usd_per_ph_day=50.0, ai_load_mw=50.0),
    )


def _short(name: str, length_s: float) -> None:
    import pandas as pd

    from ballast.examples import examples_dir
    from ballast.scenario import load_scenario, parse_scenario
    from ballast.sim.engine import simulate

    path = examples_dir() / f"{name}.yaml"
    doc = load_scenario(path).model_dump(mode="json")
    start = pd.Timestamp(doc["run"]["start"])
    doc["run"]["end"] = (start + pd.Timedelta(seconds=length_s)).isoformat()
    simulate(parse_scenario(doc, str(path)), path.parent)


def warm_fine() -> None:
    """The fine engine (1 s): the training campus over ``FINE_MINUTES`` minutes."""
    _short("training_campus", FINE_MINUTES * 60.0)


def warm_coarse() -> None:
    """The 15-min backtest: West Texas 2024 over ``COARSE_DAYS`` days."""
    _short("west_texas_2024", COARSE_DAYS * 86400.0)


def warm_studies() -> None:
    """The frequency study's SFR kernel: the bundled study's first event with the fleet."""
    from ballast.studies.frequency_doc import bundled_study_path, load_study
    from ballast.studies.frequency_study import run_event

    study = load_study(bundled_study_path())
    run_event(study, study.events[0], study.miners.fleet_mw if study.miners is not None else 0.0)


PARTS: dict[str, Callable[[], None]] = {
    "live": warm_live,
    "fine": warm_fine,
    "coarse": warm_coarse,
    "studies": warm_studies,
}


def _write_stamp(stamp: Path) -> bool:
    warmed = warm_stamp.warmed_kernels()
    if warmed is None:
        return False
    sources, cache_files = warmed
    return warm_stamp.write([*sources, str(Path(__file__).resolve())], cache_files, stamp)


def main(argv: list[str] | None = None, stamp: Path = warm_stamp.STAMP_PATH) -> int:
    """Warm every part unless ``stamp`` is fresh (or the parts named, always); prints each part's
    wall and CPU time [s]."""
    named = list(argv if argv is not None else sys.argv[1:])
    names = named or list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        print(f"ballast.warm: unknown part(s) {unknown}; parts: {list(PARTS)}", file=sys.stderr)
        return 2
    if not named and warm_stamp.is_fresh(stamp):
        print(f"warm: up to date ({stamp})", flush=True)
        return 0
    for name in names:
        w0, c0 = time.perf_counter(), time.process_time()
        PARTS[name]()
        print(
            f"warm {name}: {time.perf_counter() - w0:.2f} s wall, {time.process_time() - c0:.2f} s CPU",
            flush=True,
        )
    if not named and not _write_stamp(stamp):
        print("warm: no stamp written (the next run warms again)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
