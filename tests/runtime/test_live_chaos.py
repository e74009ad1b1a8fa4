"""Randomised fault injection on the real emulated site (issue 9, "the campaign as a test").

One emulated campus on loopback (LuxOS miners over TCP, the pymodbus meter, the DCGM
exporter, site physics; device time x10) and one live site (runtime, SQLite store, API) run
one seeded episode per fault kind of ``ballast.live.emulators.faults`` (seed
``BALLAST_CHAOS_SEED``, default 9; ``BALLAST_CHAOS_EPISODES`` more or fewer). Each episode
draws the fault, a rise or step of the true AI load (and maybe a fall of the wind) during the
fault, and the durations. After each episode the invariants are checked on the true import
from the site physics (not the meter the runtime reads):

- steady-state import <= limit (+ 0.058 MW, ``chaos_check.model_mismatch_mw``: the emulated
  site applies the cooling PUE to sleeping miners' 25 W, the controller's catalog does not).
  It may exceed the limit only for the physical ramp after a rise of the true load
  (``chaos_check.ramp_allowance_s``)::

      allowance = detect + see + rounds * (command + ramp)
      see     = max(meter_poll 0.05, ai_poll 0.1) + physics_dt 0.05        = 0.15 s
      command = tick 0.2 + 2 * fleet_timeout 0.3 * (retries 0 + 1)         = 0.8 s
      ramp    = SLEEP_RAMP_S 5 s (dynamics.py, the miners' sleep time) / time_scale 10 = 0.5 s
      detect  = 0 for NaN/inf/out-of-range values (refused on sight);
                meter_stale 1.0 + meter_timeout 0.5 (+ frozen window 1.0) for a dropped,
                stalled (or frozen) meter
      rounds  = 2 for misbehaving miners (the first command finds them), else 1

  so 1.45 s after a step (2.75 s with misbehaving miners; 2.95 s / 3.95 s meter dropped or
  frozen), plus the rise's own duration for a rise;
- no tick gap over 2 s;
- a hostile request: no 5xx, refused (4xx), no change of policy, modes, DR events or relay;
- a restart mid-event: the DR event survives and, once the new runtime ticks and the ramp
  allowance has passed, the miners stay under the event's cap.

The episodes are deterministic given the seed; the timing is the machine's. This test runs
about 100 s (16 episodes of 3-8 s and the campus start); it is timing sensitive on a loaded
2-core machine (re-run it alone before believing a tick-gap failure). Pending fixes would be
marked per fault kind in ``PENDING`` (xfail, strict); none is pending.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from chaos_helpers import EpisodeResult, run_campaign

from ballast.live.emulators.faults import FAULT_KINDS, draw_episodes

SEED = int(os.environ.get("BALLAST_CHAOS_SEED", "9"))
EPISODES = int(os.environ.get("BALLAST_CHAOS_EPISODES", str(len(FAULT_KINDS))))

# Fault kinds whose fix has not landed on this branch yet (strict: an unexpected pass fails).
PENDING: dict[str, str] = {}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> list[EpisodeResult]:
    episodes = list(draw_episodes(SEED, EPISODES, duration_s=(3.0, 4.0)))
    return asyncio.run(run_campaign(tmp_path_factory.mktemp("chaos"), episodes))


def _kind_param(kind: str) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=PENDING[kind])] if kind in PENDING else []
    return pytest.param(kind, marks=marks, id=kind)


def test_generator_is_deterministic_and_covers_every_kind() -> None:
    a = list(draw_episodes(SEED, len(FAULT_KINDS)))
    b = list(draw_episodes(SEED, len(FAULT_KINDS)))
    assert [repr(e) for e in a] == [repr(e) for e in b]
    assert sorted(e.kind for e in a) == sorted(FAULT_KINDS)
    assert [repr(e) for e in draw_episodes(SEED + 1, 5)] != [repr(e) for e in a[:5]]
    for e in a:  # the load rises during the fault, which ends before the episode does
        assert 0 < e.fault_at_s <= e.ai_change_at_s < e.fault_end_s < e.duration_s
        assert e.ai_share_to > e.ai_share_from and e.renew_cf_to <= e.renew_cf_from


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", [_kind_param(k) for k in FAULT_KINDS])
def test_invariants_hold_under_fault(campaign: list[EpisodeResult], kind: str) -> None:
    mine = [r for r in campaign if r.episode.kind == kind]
    if not mine:
        pytest.skip(f"no {kind} episode among the {EPISODES} drawn from seed {SEED}")
    report = [f"episode {r.episode.index} ({r.episode.kind}, seed {SEED}): {v}"
              for r in mine for v in r.violations]
    assert not report, "\n".join(report)
    # the load did rise into the limit: the episode exercised the controller
    assert all(r.episode.ai_share_to > r.episode.ai_share_from for r in mine)
