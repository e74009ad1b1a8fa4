"""EEA episodes of the live grid programs (``live.grid_programs``): an ERCOT Energy Emergency
Alert from the level being set (0 -> 1, 2 or 3) to it being cleared (-> 0), with an id, the
levels it went through, the miners' cap and the miner power metered before it.

Events recorded (the store's ``events``, with the tick that writes them), each carrying the
episode's ``id`` so ``live/evidence_events`` finds it, as it finds a deployment:

- ``eea`` at every level posted (as before, now with ``id`` and ``cap_mw``);
- ``eea_start`` at the episode's first tick: the campus import and miner power metered by that
  tick (read before its commands, so before the miners were curtailed; None while the meter is
  stale) and the fleet's sleep power;
- ``eea_end`` when the level is cleared (or a restart drops a level the scenario no longer
  takes).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from ballast.live.obligations import utc_iso
from ballast.live.store import EventRecord
from ballast.programs.limits import eea_cap_mw


def level_event(
    now_s: float, level: int, before: int, source: str, curtail_at_level: int, episode_id: str | None
) -> EventRecord:
    """The ``eea`` event of a level posted (``episode_id``: the episode it belongs to)."""
    cap = eea_cap_mw(level, curtail_at_level)
    return EventRecord(
        now_s,
        "eea",
        f"EEA level {level} (was {before}) from {source}: "
        + ("all miners off" if cap == 0 else "no curtailment"),
        {
            "id": episode_id,
            "level": level,
            "was": before,
            "source": source,
            "curtail_at_level": curtail_at_level,
            "cap_mw": cap if math.isfinite(cap) else None,
        },
    )


@dataclass
class EeaEpisode:
    """One EEA from its level set to its level cleared (UNIX seconds, facility MW)."""

    id: str
    start_s: float
    source: str
    curtail_at_level: int
    level: int
    max_level: int
    sleep_floor_mw: float  # the fleet's power with every miner asleep
    started: bool = False  # eea_start recorded
    reference_import_mw: float | None = None
    reference_miners_mw: float | None = None
    latch: bool = True  # False: resumed without its first tick; the evidence reads the store

    @classmethod
    def new(cls, level: int, now_s: float, source: str, curtail_at_level: int, sleep_floor_mw: float):
        return cls(uuid.uuid4().hex[:12], now_s, source, curtail_at_level, level, level, sleep_floor_mw)

    def cap_mw(self) -> float:
        return eea_cap_mw(self.level, self.curtail_at_level)

    def document(self) -> dict[str, Any]:
        cap = self.cap_mw()
        return {
            "kind": "eea",
            "id": self.id,
            "start": utc_iso(self.start_s),
            "level": self.level,
            "max_level": self.max_level,
            "curtail_at_level": self.curtail_at_level,
            "cap_mw": cap if math.isfinite(cap) else None,
            "source": self.source,
            "reference_import_mw": self.reference_import_mw,
            "reference_miners_mw": self.reference_miners_mw,
            "sleep_floor_mw": self.sleep_floor_mw,
        }

    def first_tick(self, now_s: float, metered: tuple[float, float] | None) -> EventRecord:
        """``eea_start`` at the episode's first tick, latching ``metered`` (import, miners)."""
        self.started = True
        if metered is not None and self.latch:
            self.reference_import_mw, self.reference_miners_mw = float(metered[0]), float(metered[1])
        ref = self.reference_miners_mw
        return EventRecord(
            now_s,
            "eea_start",
            f"EEA {self.id} level {self.level} from {self.source}; miners metered "
            + (f"{ref:.3g} MW before it" if ref is not None else "unknown (meter stale)"),
            self.document(),
        )

    def end(self, now_s: float, why: str) -> list[EventRecord]:
        """``eea_end`` (and ``eea_start`` first when no tick saw the episode)."""
        out = [] if self.started else [self.first_tick(now_s, None)]
        out.append(
            EventRecord(
                now_s, "eea_end", f"EEA {self.id} ended: {why}", self.document() | {"end": utc_iso(now_s)}
            )
        )
        return out

    def saved(self) -> dict[str, Any]:
        return vars(self).copy()


def restored_episode(
    doc: dict[str, Any] | None,
    level: int,
    since_s: float | None,
    now_s: float,
    curtail_at_level: int,
    sleep_floor_mw: float,
) -> EeaEpisode:
    """The episode of a saved state: its own document, else (a state written before episodes
    had ids) a new one from the saved level and time that latches nothing (the metered power
    after a restart is no "before"; the evidence then reads the store's ticks before it)."""
    if doc is not None:
        return EeaEpisode(**doc)
    start_s = since_s if since_s is not None else now_s
    ep = EeaEpisode.new(level, start_s, "restart", curtail_at_level, sleep_floor_mw)
    ep.latch = False
    return ep
