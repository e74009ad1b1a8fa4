"""Grid obligations and protections of the live runtime as small pure functions of time.

They turn demand-response events, the under-frequency relay and the data watchdog into what the
shared controller understands: a cap on miner power (``Snapshot.cap_mw``) and groups whose
miners are forced asleep. Times are UNIX seconds (UTC); powers facility MW.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DrEvent:
    """A demand-response event: reduce campus import by ``reduction_mw`` or by
    ``reduction_share`` of the import at its start, during [start_s, end_s)."""

    id: str
    start_s: float
    end_s: float
    reduction_mw: float | None = None
    reduction_share: float | None = None
    cancelled_s: float | None = None

    def active(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s and (
            self.cancelled_s is None or now_s < self.cancelled_s)


def dr_reduction_mw(event: DrEvent, baseline_import_mw: float) -> float:
    """Reduction the event asks for [MW], given the campus import latched at its start."""
    if event.reduction_mw is not None:
        return max(0.0, event.reduction_mw)
    return max(0.0, (event.reduction_share or 0.0) * max(baseline_import_mw, 0.0))


def dr_cap_mw(baseline_import_mw: float, baseline_miners_mw: float, reduction_mw: float) -> float:
    """Miner cap that delivers ``reduction_mw`` below the baseline import [MW].

    The AI load is inflexible, so the reduction comes from miners: they may draw at most their
    baseline minus the reduction (never below zero; a shortfall is reported by the caller).
    """
    return max(0.0, baseline_miners_mw - reduction_mw)


def meter_stale(now_s: float, last_ok_s: float | None, stale_s: float) -> bool:
    """Watchdog: no good meter read for ``stale_s`` [s] (or never) -> stale."""
    return last_ok_s is None or now_s - last_ok_s > stale_s


def ufr_should_trip(frequency_hz: float, trip_hz: float) -> bool:
    """Under-frequency relay: trip strictly below the threshold (59.70 Hz, ERCOT NPRR828)."""
    return frequency_hz < trip_hz


def ufr_may_restore(now_s: float, above_since_s: float | None, hold_s: float) -> bool:
    """The relay resets once frequency has stayed above the restore level for ``hold_s``."""
    return above_since_s is not None and now_s - above_since_s >= hold_s
