"""What each miner firmware can do for a controller, and the quirks a driver must handle.

One row per firmware (LuxOS, Braiins OS, Vnish, stock Bitmain), one cell per capability. The
cells come from the vendors' documentation and from the pyasic client's backends
(``pyasic/miners/backends/{luxminer,braiins_os,vnish,antminer}.py``, 0.79), never from
Ballast's emulator: see docs/sources.md#firmware-capabilities. Drivers call :func:`require`
before a command the firmware may not have; ``docs/firmware.md`` is rendered from this table
(``python -m ballast.live.drivers.capabilities > docs/firmware.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Firmware = Literal["luxos", "braiins_os", "vnish", "stock"]
Capability = Literal["sleep_wake", "power_target", "profiles", "curtail_state", "autotuning"]
Support = Literal["yes", "no", "varies"]

FIRMWARES: tuple[Firmware, ...] = get_args(Firmware)
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)

# Ramps after a curtail, for verifying by power where the firmware reports no curtail state:
# LuxOS "drops a miner to roughly 25W in under five seconds and restores full power in under
# ten" (Luxor / Hashrate Index, "How LuxOS Powers Down Fast"; docs/sources.md#miner-response).
# No other vendor publishes a figure; the drivers use these for every firmware.
SLEEP_RAMP_S = 5.0
WAKE_RAMP_S = 10.0
SLEEP_RESIDUAL_W = 25.0  # what a sleeping LuxOS miner still draws (same source)
# A miner counts as asleep by power at or below this: 4x the documented residual, and far
# below any hashing ASIC (an S19j Pro draws ~3,000 W at its default profile).
ASLEEP_MAX_W = 4 * SLEEP_RESIDUAL_W


@dataclass(frozen=True)
class Cell:
    """One capability of one firmware: supported or not, and how (the command, the caveat)."""

    support: Support
    how: str


@dataclass(frozen=True)
class FirmwareProfile:
    """A firmware's row of the matrix."""

    name: str
    cells: dict[Capability, Cell]
    source: str


MATRIX: dict[Firmware, FirmwareProfile] = {
    "luxos": FirmwareProfile(
        "LuxOS (Luxor)",
        {
            "sleep_wake": Cell(
                "yes", "`curtail <sid>,sleep` / `curtail <sid>,wakeup` on TCP 4028, one session at a time"
            ),
            "power_target": Cell(
                "yes",
                "through profiles: `profileset` to the highest profile at or "
                "below the target (pyasic `set_power_limit`)",
            ),
            "profiles": Cell("yes", "about 25 built-in profiles in 25 MHz steps (`profiles`)"),
            "curtail_state": Cell(
                "varies",
                "`config` carries `CurtailMode` on recent releases; "
                "without it the driver waits the ramp and judges by power",
            ),
            "autotuning": Cell(
                "yes",
                "ATM (Advanced Thermal Management) moves profiles on its own; "
                "it must be off to change profile (pyasic disables it first). "
                "Ballast switches it off (`atmset enabled=false`) and re-reads "
                "`atm` when a command is refused for it",
            ),
        },
        "docs.luxor.tech/firmware/api (curtail, profileset, atm, atmset); pyasic backends/luxminer.py",
    ),
    "braiins_os": FirmwareProfile(
        "Braiins OS+",
        {
            "sleep_wake": Cell(
                "yes", "gRPC `PauseMining` / `ResumeMining` (cgminer `pause` / `resume` before the gRPC API)"
            ),
            "power_target": Cell("yes", "in watts: gRPC `SetPowerTarget`"),
            "profiles": Cell("no", "no preset profiles: the autotuner follows the power target"),
            "curtail_state": Cell("yes", "gRPC `GetMinerStatus` reports `PAUSED`"),
            "autotuning": Cell(
                "yes",
                "the autotuner and Dynamic Performance Scaling own the "
                "frequencies; a power target is their input, and moves ramp "
                "slowly (`SetQuickRamping`)",
            ),
        },
        "github.com/braiins/bos-plus-api; pyasic backends/braiins_os.py",
    ),
    "vnish": FirmwareProfile(
        "Vnish",
        {
            "sleep_wake": Cell("yes", "web API `stop_mining` / `resume_mining`"),
            "power_target": Cell(
                "yes",
                "through presets: the highest tuned preset at or below the target (pyasic `set_power_limit`)",
            ),
            "profiles": Cell("yes", "presets; only tuned presets are usable"),
            "curtail_state": Cell(
                "yes", "web `summary`: `miner.miner_status.miner_state` (`stopped`, `shutting-down`, ...)"
            ),
            "autotuning": Cell("yes", "a preset must be tuned before it is selected"),
        },
        "pyasic backends/vnish.py",
    ),
    "stock": FirmwareProfile(
        "Stock Bitmain (Antminer)",
        {
            "sleep_wake": Cell(
                "yes",
                "sleep work mode (`bitmain-work-mode` 1) through the "
                "digest-auth web API; not on every older model",
            ),
            "power_target": Cell(
                "no", "no power target and no power telemetry; only the normal and low-power work modes"
            ),
            "profiles": Cell("no", "work modes only (normal, low power, sleep)"),
            "curtail_state": Cell(
                "yes", "`bitmain-work-mode` in the miner config: the commanded mode, not measured power"
            ),
            "autotuning": Cell("no", "none"),
        },
        "pyasic backends/antminer.py; docs/sources.md#luxos-api (client pitfalls)",
    ),
}

CAPABILITY_TITLES: dict[Capability, str] = {
    "sleep_wake": "Sleep / wake",
    "power_target": "Power target",
    "profiles": "Profiles",
    "curtail_state": "Curtail state read-back",
    "autotuning": "Autotuning (ATM) interplay",
}


class UnsupportedByFirmware(Exception):
    """A command was asked of a firmware that cannot do it."""

    def __init__(self, firmware: str, capability: str, how: str) -> None:
        super().__init__(
            f"{capability!r} is not supported by firmware {firmware!r}: {how} (see docs/firmware.md)"
        )
        self.firmware = firmware
        self.capability = capability


def cell(firmware: str, capability: str) -> Cell:
    """The matrix cell; raises ValueError naming an unknown firmware or capability."""
    if firmware not in MATRIX:
        raise ValueError(f"unknown firmware {firmware!r}; known: {', '.join(FIRMWARES)}")
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    return MATRIX[firmware].cells[capability]  # type: ignore[index]


def supports(firmware: str, capability: str) -> Support:
    """``yes``, ``no`` or ``varies`` (by release: the driver checks each reading)."""
    return cell(firmware, capability).support


def require(firmware: str, capability: str) -> None:
    """Raise :class:`UnsupportedByFirmware` unless ``firmware`` has ``capability`` at all."""
    c = cell(firmware, capability)
    if c.support == "no":
        raise UnsupportedByFirmware(firmware, capability, c.how)


def render_markdown() -> str:
    """``docs/firmware.md``: the matrix, then the quirks the drivers handle."""
    head = "| capability | " + " | ".join(MATRIX[f].name for f in FIRMWARES) + " |"
    out = [
        "# Firmware capabilities and quirks",
        "",
        "Generated from `src/ballast/live/drivers/capabilities.py` by "
        "`python -m ballast.live.drivers.capabilities > docs/firmware.md`; do not edit by hand.",
        "Drivers call `require(firmware, capability)` before a command; a firmware without the "
        "capability raises `UnsupportedByFirmware` naming both. `varies` means it depends on "
        "the release, and the driver checks every reading. Sources: "
        "docs/sources.md#firmware-capabilities.",
        "",
        head,
        "|---|" + "---|" * len(FIRMWARES),
    ]
    for cap in CAPABILITIES:
        out.append(
            f"| {CAPABILITY_TITLES[cap]} | "
            + " | ".join(MATRIX[f].cells[cap].support for f in FIRMWARES)
            + " |"
        )
    for f in FIRMWARES:
        prof = MATRIX[f]
        out += ["", f"## {prof.name} (`{f}`)", "", f"Sources: {prof.source}.", ""]
        out += [
            f"- **{CAPABILITY_TITLES[c]}** ({prof.cells[c].support}): {prof.cells[c].how}."
            for c in CAPABILITIES
        ]
    out += [
        "",
        "## How the drivers verify a curtail",
        "",
        "- Where the firmware reports its curtail state, a sleep or wake is verified by that "
        "state (`MinerReading.curtail_state_reported` is true).",
        f"- Where it does not, the driver waits out the ramp (sleep {SLEEP_RAMP_S:g} s, wake "
        f"{WAKE_RAMP_S:g} s; docs/sources.md#miner-response) and then judges by power: asleep at "
        f"or below {ASLEEP_MAX_W:g} W (4x the documented {SLEEP_RESIDUAL_W:g} W residual). "
        "A miner is never called non-compliant before its ramp is over.",
        "- The live runtime never holds its command lock across a wake ramp, so a shed never "
        "waits behind a wake's verification: such a miner comes back `ramping`, stays "
        "commandable, and is judged by power after the ramp outside the lock; a sleep sent "
        "meanwhile takes it out of that verification (`ballast.live.commands`).",
        "- A refused command is never sent again blindly: the driver first finds out why "
        "(re-reads `session`; on an ATM refusal, recognised by its message, re-reads `atm` and "
        "switches ATM off, then re-reads `atm` to verify) and sends it once more only when it "
        "fixed the cause. After a timeout it reads the miner back before sending again.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown(), end="")
