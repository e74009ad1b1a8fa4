"""Measurement checks of the live runtime: finite, physically plausible per channel, not frozen.

Every reading is checked before it may enter a snapshot
(docs/design.md#safety-invariants-of-the-live-host). A reading that fails a check is *stale
data*: the runtime does not refresh its source's last-good time, so
the watchdog (meter) or the worst-case AI load (telemetry) takes over once it is old. Failures are
logged (once per run of failures, and when the source recovers) and counted per channel and
reason (``SensingStats``; ``/metrics`` shows them).

Channels: ``import``, ``ai_feeder``, ``miners_feeder``, ``renewables_feeder`` [MW] and
``frequency`` [Hz] from the site meter; ``ai_telemetry`` [MW] from the DCGM scrape x PUE.
Reasons: ``non_finite`` (NaN, +-inf), ``implausible`` (outside the channel's range),
``frozen`` (the meter's values stay identical while the AI telemetry or the miners change),
``read_error`` (no reading at all).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ballast.live")

METER_CHANNELS: dict[str, str] = {  # channel -> MeterSample attribute
    "import": "campus_import_power_mw",
    "ai_feeder": "ai_feeder_power_mw",
    "miners_feeder": "miners_feeder_power_mw",
    "renewables_feeder": "renewables_feeder_power_mw",
    "frequency": "frequency_hz",
}
AI_CHANNEL = "ai_telemetry"
NON_FINITE, IMPLAUSIBLE, FROZEN, READ_ERROR = "non_finite", "implausible", "frozen", "read_error"


class NonFiniteReading(ValueError):
    """A driver read a NaN or infinite value (raised by the meter and DCGM drivers);
    ``channel`` names the first bad channel when the driver knows it."""

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel


def is_finite(value: Any) -> bool:
    """True for a real, finite number (bools and non-numbers are not readings)."""
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except TypeError:
        return False


@dataclass(frozen=True)
class SiteNameplate:
    """The scenario's sizes the derived ranges scale from [MW, facility]."""

    import_limit_mw: float
    export_limit_mw: float
    ai_full_mw: float  # AI tenant's facility load at full IT load
    miners_full_mw: float  # every miner running
    renewable_capacity_mw: float


def plausible_ranges(plate: SiteNameplate, cfg: Any) -> dict[str, tuple[float, float]]:
    """Range per channel [MW or Hz]: the site config's (``SensingConfig``) where given, else
    derived from the nameplate (see ``SensingConfig.range_factor``)."""
    k, m = cfg.range_factor, cfg.range_margin_mw
    loads_full_mw = plate.ai_full_mw + plate.miners_full_mw
    derived = {
        "import": (-(plate.export_limit_mw + plate.renewable_capacity_mw) - m,
                   k * max(plate.import_limit_mw, loads_full_mw) + m),
        "ai_feeder": (-m, k * plate.ai_full_mw + m),
        "miners_feeder": (-m, k * plate.miners_full_mw + m),
        "renewables_feeder": (-m, k * plate.renewable_capacity_mw + m),
        AI_CHANNEL: (-m, k * plate.ai_full_mw + m),
    }
    given = {"import": cfg.import_range_mw, "ai_feeder": cfg.ai_feeder_range_mw,
             "miners_feeder": cfg.miners_feeder_range_mw,
             "renewables_feeder": cfg.renewables_feeder_range_mw,
             AI_CHANNEL: cfg.ai_telemetry_range_mw}
    out = {ch: tuple(given[ch]) if given[ch] is not None else rng for ch, rng in derived.items()}
    out["frequency"] = tuple(cfg.frequency_range_hz)
    return out  # type: ignore[return-value]


def check_value(value: Any, lo: float, hi: float) -> str | None:
    """Why ``value`` cannot be a reading of a channel with range [lo, hi], or None if it can."""
    if not is_finite(value):
        return NON_FINITE
    if not lo <= value <= hi:
        return IMPLAUSIBLE
    return None


class FrozenDetector:
    """A meter is frozen when all its values stay identical for ``frozen_after_s`` [s] after a
    witness (AI telemetry, the miners' verified sleep/run states) changed: a live meter would
    show that change. Times are monotonic seconds."""

    def __init__(self, frozen_after_s: float) -> None:
        self.frozen_after_s = frozen_after_s
        self._values: tuple | None = None
        self._witness: Any = None
        self._moved_s: float | None = None  # when a witness first changed since the values did

    def update(self, values: tuple, witness: Any, now_s: float) -> bool:
        """Feed one reading; True while the meter counts as frozen."""
        if values != self._values:
            self._values, self._witness, self._moved_s = values, witness, None
            return False
        if self._moved_s is None and witness != self._witness:
            self._moved_s = now_s
        return self._moved_s is not None and now_s - self._moved_s >= self.frozen_after_s


class SensingStats:
    """Rejected readings per (channel, reason), and a log line when a source starts and stops
    failing (not one per poll)."""

    def __init__(self) -> None:
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.last_reason: dict[str, str] = {}  # source -> why its last reading was refused
        self._failing: dict[str, int] = {}  # source -> rejections in the current run

    def reject(self, source: str, channel: str, reason: str, detail: str) -> None:
        self.rejected[(channel, reason)] += 1
        self.last_reason[source] = f"{channel} {reason}"
        run = self._failing.get(source, 0)
        if run == 0:
            log.warning("%s reading rejected (%s, %s): %s; counted as stale", source, channel,
                        reason, detail)
        else:
            log.debug("%s reading rejected (%s, %s): %s", source, channel, reason, detail)
        self._failing[source] = run + 1

    def accept(self, source: str) -> None:
        run = self._failing.pop(source, 0)
        self.last_reason.pop(source, None)
        if run:
            log.warning("%s readings accepted again after %d rejected", source, run)


class Sensing:
    """The checks the runtime applies to the meter and the AI telemetry."""

    def __init__(self, ranges: dict[str, tuple[float, float]], frozen_after_s: float) -> None:
        self.ranges = ranges
        self.frozen = FrozenDetector(frozen_after_s)
        self.stats = SensingStats()

    def check_meter(self, sample: Any, witness: Any, now_s: float) -> bool:
        """True if the meter sample may enter a snapshot. ``witness``: what a live meter would
        reflect (see ``FrozenDetector``); ``now_s`` monotonic [s]."""
        values = []
        for channel, attr in METER_CHANNELS.items():
            value = getattr(sample, attr, None)
            lo, hi = self.ranges[channel]
            why = check_value(value, lo, hi)
            if why is not None:
                self.stats.reject("meter", channel, why, f"{attr} = {value!r} (plausible "
                                  f"{lo:g}..{hi:g})")
                self.frozen.update((), witness, now_s)  # a bad read is no evidence of freezing
                return False
            values.append(value)
        if self.frozen.update(tuple(values), witness, now_s):
            self.stats.reject("meter", "meter", FROZEN, f"values unchanged for "
                              f"{self.frozen.frozen_after_s:g} s while the AI load or the "
                              f"miners changed: {values}")
            return False
        self.stats.accept("meter")
        return True

    def check_ai(self, power_mw: Any) -> bool:
        """True if the AI facility power reading [MW] may be used."""
        lo, hi = self.ranges[AI_CHANNEL]
        why = check_value(power_mw, lo, hi)
        if why is not None:
            self.stats.reject("AI telemetry", AI_CHANNEL, why, f"{power_mw!r} MW (plausible "
                              f"{lo:g}..{hi:g})")
            return False
        self.stats.accept("AI telemetry")
        return True

    def read_failed(self, source: str, channel: str, error: BaseException) -> None:
        """No reading at all (timeout, protocol error, or a driver's non-finite refusal)."""
        if isinstance(error, NonFiniteReading):
            self.stats.reject(source, error.channel or channel, NON_FINITE, str(error))
        else:
            self.stats.reject(source, channel, READ_ERROR, repr(error))


def worst_case_ai_mw(readings_mw: list[float], full_mw: float) -> float:
    """The AI load the controller must assume [MW]: the largest finite fresh reading, or the
    tenant's full facility load when none is (blind is worst case)."""
    finite = [r for r in readings_mw if is_finite(r)]
    return max(finite) if finite else full_mw
